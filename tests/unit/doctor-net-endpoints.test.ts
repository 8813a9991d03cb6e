// The doctor's endpoints area (#19) against local HTTPS hosts with certificates from a local CA, found through
// a fake DNS server: a healthy deployment passes; an expiring certificate, a wrong name, an untrusted issuer,
// TLS 1.1 only, a webhook that accepts unsigned events or is slow to refuse them, a dashboard served as text,
// plain http that does not redirect and a wildcard origin each fail.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { area, originsCheck } from "../../scripts/doctor/areas/endpoints.ts";
import type { Finding } from "../../scripts/doctor/types.ts";
import { type FakeDns, startFakeDns } from "../fakes/dns.ts";
import { type Ca, type Host, makeCa, makeLeaf, startHost } from "../fakes/tls-hosts.ts";
import { doctorContext } from "../helpers/doctor-context.ts";

type Behaviour = {
  webhook?: "refuses" | "accepts" | "slow";
  dashboard?: "html" | "plain";
  http?: "redirect" | "serve";
};

let ca: Ca;
let caFile: string;
let dns: FakeDns;
const hosts: Host[] = [];
const NAMES = [
  "abc.supabase.test",
  "app.example.test",
  "expiring.example.test",
  "wrong.example.test",
  "old.example.test",
];

async function host(name: string, b: Behaviour = {}, cert: { names?: string[]; days?: number } = {}, tls = {}) {
  const leaf = await makeLeaf(ca, cert.names ?? [name], cert.days ?? 90);
  let port = 0;
  const https = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "https://x").pathname;
      if (req.method === "POST" && /^\/functions\/v1\/stripe-webhook(\/connect)?$/.test(path)) {
        const answer = () =>
          b.webhook === "accepts"
            ? res.writeHead(200, { "content-type": "application/json" }).end('{"received":true}')
            : res.writeHead(400, { "content-type": "application/json" }).end('{"error":"missing Stripe-Signature"}');
        return b.webhook === "slow" ? setTimeout(answer, 3_000) : answer();
      }
      if (req.method === "GET" && path === "/functions/v1/dashboard") {
        return res.writeHead(401, {
          "content-type": b.dashboard === "plain" ? "text/plain; charset=utf-8" : "text/html; charset=utf-8",
        })
          .end("<!doctype html><html><body><form>sign in</form></body></html>");
      }
      res.writeHead(404).end();
    });
  };
  const http = (req: IncomingMessage, res: ServerResponse) =>
    b.http === "serve"
      ? res.writeHead(200, { "content-type": "text/html" }).end("<html></html>")
      : res.writeHead(301, { location: `https://${name}:${port}${req.url}` }).end();
  const h = await startHost(leaf, { https, http }, tls);
  port = h.port;
  hosts.push(h);
  return `${name}:${h.port}`;
}

beforeAll(async () => {
  ca = await makeCa();
  caFile = join(mkdtempSync(join(tmpdir(), "doctor-ca-")), "ca.pem");
  writeFileSync(caFile, ca.pem);
  dns = await startFakeDns(Object.fromEntries(NAMES.map((n) => [n, { A: ["127.0.0.1"] }])));
});
afterAll(async () => {
  await Promise.all(hosts.map((h) => h.close()));
  await dns.close();
});

async function run(functions: string, custom: string, extra: Record<string, string> = {}) {
  const env = {
    SUPABASE_URL: `https://${functions}`,
    DASHBOARD_PUBLIC_URL: `https://${custom}/functions/v1/dashboard`,
    SUPPORT_ALLOWED_ORIGINS: "https://app.example.com",
    CHECKOUT_ALLOWED_ORIGINS: "https://app.example.com,https://shop.example.com",
    STRIPE_CONNECT_WEBHOOK_SECRET: "whsec_test",
    NODE_EXTRA_CA_CERTS: caFile,
    ...extra,
  };
  const findings = await area.run(doctorContext(env, { dnsServers: [dns.server] }));
  const status = (check: string) => findings.filter((f) => f.check === check).map((f) => f.status);
  const failed = findings.filter((f) => f.status !== "PASS");
  return { findings, status, failed };
}
const only = (failed: Finding[]) => failed.map((f) => [f.check, f.status]);

describe("doctor: endpoints", () => {
  test("a healthy deployment passes every check", async () => {
    const { findings, failed } = await run(await host("abc.supabase.test"), await host("app.example.test"));
    expect(failed).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual([
      "endpoints.tls-functions",
      "endpoints.tls-custom-domain",
      "endpoints.webhook-signature",
      "endpoints.connect-webhook-signature",
      "endpoints.dashboard-html",
      "endpoints.http-redirect",
      "endpoints.allowed-origins",
    ]);
    expect(findings[0].saw).toMatch(/abc\.supabase\.test:\d+: valid for the name, \d+ days left, TLSv1\.3/);
  });

  test("a certificate expiring in 5 days fails", async () => {
    const custom = await host("expiring.example.test", {}, { days: 5 });
    const { failed } = await run(await host("abc.supabase.test"), custom);
    expect(only(failed)).toEqual([["endpoints.tls-custom-domain", "FAIL"]]);
    expect(failed[0].saw).toMatch(/expires in [45] day/);
  });

  test("a certificate for another name fails", async () => {
    const functions = await host("wrong.example.test", {}, { names: ["other.example.test"] });
    const { failed, status } = await run(functions, await host("app.example.test"));
    expect(status("endpoints.tls-functions")).toEqual(["FAIL"]);
    expect(failed[0].saw).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    // the requests to that host fail too (as Stripe's deliveries would); the custom domain is fine
    expect(status("endpoints.webhook-signature")).toEqual(["FAIL"]);
    expect(status("endpoints.tls-custom-domain")).toEqual(["PASS"]);
  });

  test("a certificate from an issuer nobody trusts fails", async () => {
    const { failed, status } = await run(await host("abc.supabase.test"), await host("app.example.test"), {
      NODE_EXTRA_CA_CERTS: "",
    });
    expect(status("endpoints.tls-functions")).toEqual(["FAIL"]);
    expect(status("endpoints.tls-custom-domain")).toEqual(["FAIL"]);
    expect(status("endpoints.dashboard-html")).toEqual(["FAIL"]);
    expect(failed[0].saw).toMatch(
      /does not verify \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/,
    );
  });

  test("a host that speaks TLS 1.1 at best fails", async () => {
    const old = await host("old.example.test", {}, {}, {
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "DEFAULT:@SECLEVEL=0",
    });
    const { failed, status } = await run(await host("abc.supabase.test"), old);
    expect(only(failed)).toEqual([["endpoints.tls-custom-domain", "FAIL"], ["endpoints.dashboard-html", "FAIL"]]);
    expect(status("endpoints.tls-functions")).toEqual(["PASS"]);
    expect(failed[0].saw).toMatch(/speaks TLSv1\.1 at best/);
  });

  test("a webhook that takes unsigned events fails", async () => {
    const { failed } = await run(
      await host("abc.supabase.test", { webhook: "accepts" }),
      await host("app.example.test"),
    );
    expect(only(failed)).toEqual([["endpoints.webhook-signature", "FAIL"], [
      "endpoints.connect-webhook-signature",
      "FAIL",
    ]]);
    expect(failed[0].why).toMatch(/signature checking is off/);
  });

  test("a webhook that takes 3 s to refuse fails the one-second check", async () => {
    const { failed } = await run(await host("abc.supabase.test", { webhook: "slow" }), await host("app.example.test"), {
      STRIPE_CONNECT_WEBHOOK_SECRET: "",
    });
    expect(only(failed)).toEqual([["endpoints.webhook-signature", "FAIL"]]);
    expect(failed[0].saw).toMatch(/refused after \d{4,} ms/);
  });

  test("a dashboard served as text and plain http that does not redirect fail", async () => {
    const custom = await host("app.example.test", { dashboard: "plain", http: "serve" });
    const { failed } = await run(await host("abc.supabase.test"), custom);
    expect(only(failed)).toEqual([["endpoints.dashboard-html", "FAIL"], ["endpoints.http-redirect", "FAIL"]]);
  });

  test("no custom domain warns", async () => {
    const functions = await host("abc.supabase.test");
    const { failed } = await run(functions, functions, {});
    expect(only(failed)).toEqual([["endpoints.tls-custom-domain", "WARN"]]);
  });

  test("a host the DNS does not know fails", async () => {
    const { failed } = await run("nowhere.example.test:443", await host("app.example.test"));
    expect(failed.map((f) => f.check)).toContain("endpoints.tls-functions");
    expect(failed.find((f) => f.check === "endpoints.tls-functions")!.saw).toMatch(/ENOTFOUND/);
  });
});

describe("doctor: allowed origins", () => {
  test.each([
    ["SUPPORT_ALLOWED_ORIGINS", "*"],
    ["CHECKOUT_ALLOWED_ORIGINS", "https://*.example.com"],
    ["SELLER_ONBOARDING_ALLOWED_ORIGINS", "https://app.example.com,null"],
  ])("%s=%s fails", (name, value) => {
    const f = originsCheck({ SUPPORT_ALLOWED_ORIGINS: "https://app.example.com", [name]: value }, false);
    expect(f.status).toBe("FAIL");
    expect(f.saw).toContain(name);
  });

  test("exact https origins pass; http ones warn outside the local stack", () => {
    expect(originsCheck({ SUPPORT_ALLOWED_ORIGINS: "https://app.example.com" }, false).status).toBe("PASS");
    expect(originsCheck({ SUPPORT_ALLOWED_ORIGINS: "http://app.example.com" }, false).status).toBe("WARN");
    expect(originsCheck({ SUPPORT_ALLOWED_ORIGINS: "http://localhost:3000" }, true).status).toBe("PASS");
  });
});
