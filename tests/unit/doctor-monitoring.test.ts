// The doctor's monitoring area without a database: founder email and Slack set outside the local stack,
// and the health endpoint (when the checkout ships a health function) read as an uptime monitor would.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { healthFindings, monitoring } from "../../scripts/doctor/areas/monitoring.ts";
import type { DoctorContext } from "../../scripts/doctor/types.ts";
import { closedPort } from "../helpers/closed-port.ts";

const ctx = (env: Record<string, string>, repoDir = ".", local = false): DoctorContext => ({
  env,
  envFiles: [],
  clientDirs: [],
  repoDir,
  local,
  sendTestAlert: false,
  dnsServers: [],
  db: () => null,
});

describe("channels", () => {
  const all = { FOUNDER_EMAIL: "f@example.com", RESEND_API_KEY: "x", SLACK_WEBHOOK_URL: "y" };
  test("all set outside the local stack passes", async () => {
    const [f] = await monitoring.run(ctx(all));
    expect(f).toMatchObject({ check: "monitoring.channels", status: "PASS" });
  });

  test("Slack unset outside the local stack fails naming it", async () => {
    const [f] = await monitoring.run(ctx({ ...all, SLACK_WEBHOOK_URL: "" }));
    expect(f).toMatchObject({ check: "monitoring.channels", status: "FAIL", saw: "not set: SLACK_WEBHOOK_URL" });
  });

  test("the local stack WARNs that it captures, and says why", async () => {
    const [f] = await monitoring.run(ctx({}, ".", true));
    expect(f.status).toBe("WARN");
    expect(f.why).toContain("the local stack cannot be like production");
  });
});

describe("the health endpoint", () => {
  let server: Server;
  let base: string;
  let answer: { status: number; body: unknown } = { status: 200, body: { status: "ok" } };
  const repo = mkdtempSync(join(tmpdir(), "doctor-health-"));
  beforeAll(async () => {
    mkdirSync(join(repo, "supabase/functions/health"), { recursive: true });
    writeFileSync(join(repo, "supabase/functions/health/index.ts"), "// stand-in\n");
    server = createServer((req, res) => {
      res.writeHead(req.url === "/functions/v1/health" ? answer.status : 404, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.close();
    rmSync(repo, { recursive: true });
  });

  test.each([
    [200, { status: "ok", checks: {} }, "PASS"],
    [200, { status: "degraded", checks: { dead_jobs: 2 } }, "WARN"],
    [503, { status: "down", checks: { database: "unreachable" } }, "FAIL"],
    [500, { error: "boom" }, "FAIL"],
  ])("an answer %i %j is %s", async (status, body, verdict) => {
    answer = { status, body };
    const [f] = await healthFindings(ctx({ SUPABASE_URL: base }, repo));
    expect(f).toMatchObject({ check: "monitoring.health", status: verdict });
    expect(f.saw).toContain(`${base}/functions/v1/health answered ${status}`);
  });

  test("no answer fails", async () => {
    const [f] = await healthFindings(ctx({ SUPABASE_URL: `http://127.0.0.1:${await closedPort()}` }, repo));
    expect(f).toMatchObject({ check: "monitoring.health", status: "FAIL" });
  });

  test("a checkout without a health function has nothing to check", async () => {
    expect(await healthFindings(ctx({ SUPABASE_URL: base }, join(repo, "nowhere")))).toEqual([]);
  });
});
