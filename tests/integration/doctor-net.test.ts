// The doctor's network areas (#19) against the local stack: the endpoints area meets the real stripe-webhook
// (an unsigned POST refused with 400 on both paths) and the real dashboard (HTML), and WARNs only where the
// local stack cannot be like production (no TLS); the stripe area asks the real database whether sellers have
// connected accounts (inside a transaction that is rolled back) to decide whether the Connect endpoint is due.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { area as endpoints } from "../../scripts/doctor/areas/endpoints.ts";
import { area as stripeArea } from "../../scripts/doctor/areas/stripe.ts";
import { config } from "../../scripts/lib/config.ts";
import type { Sql } from "../../scripts/lib/db.ts";
import { PLATFORM_EVENT_TYPES } from "../../scripts/lib/stripe-event-types.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { doctorContext } from "../helpers/doctor-context.ts";
import { sql } from "../helpers/db.ts";

describe("doctor: endpoints on the local stack", () => {
  test("the real webhook refuses unsigned requests, the dashboard is HTML, TLS is a local WARN", async () => {
    const findings = await endpoints.run(doctorContext({
      SUPABASE_URL: config.apiUrl,
      DASHBOARD_PUBLIC_URL: config.functionUrl("dashboard"),
      FUNCTIONS_CUSTOM_DOMAIN: "127.0.0.1",
      SUPPORT_ALLOWED_ORIGINS: "http://localhost:3000",
      STRIPE_CONNECT_WEBHOOK_SECRET: "whsec_local",
    }, { local: true }));
    const by = Object.fromEntries(findings.map((f) => [f.check, f]));
    // the signature check is on: 400 (how fast a busy machine answers is not what this test is about)
    expect(by["endpoints.webhook-signature"].saw).toMatch(/was refused (with 400 in|after) \d+ ms/);
    expect(by["endpoints.connect-webhook-signature"].saw).toMatch(/was refused (with 400 in|after) \d+ ms/);
    expect(by["endpoints.dashboard-html"]).toMatchObject({ status: "PASS" });
    expect(by["endpoints.dashboard-html"].saw).toMatch(/text\/html/);
    expect(by["endpoints.allowed-origins"]).toMatchObject({ status: "PASS" });
    for (const check of ["endpoints.tls-functions", "endpoints.tls-custom-domain", "endpoints.http-redirect"]) {
      expect(by[check], check).toMatchObject({ status: "WARN" });
      expect(by[check].saw, check).toMatch(/local stack/);
    }
  });
});

describe("doctor: the Connect endpoint follows the database's sellers", () => {
  let fake: FakeStripe;
  const BASE = "https://abcdefghijklmnop.supabase.co";
  beforeAll(async () => {
    fake = await startFakeStripe();
    fake.webhookEndpoints.put({
      id: "we_platform",
      url: `${BASE}/functions/v1/stripe-webhook`,
      enabled_events: [...PLATFORM_EVENT_TYPES],
    });
  });
  afterAll(() => fake.close());

  /** The stripe area's Connect finding with the database as `arrange` left it, then rolled back. */
  async function connectFinding(arrange: (tx: Sql) => Promise<unknown>) {
    let finding: unknown;
    await sql.begin(async (tx) => {
      await arrange(tx as unknown as Sql);
      const findings = await stripeArea.run(doctorContext(
        { SUPABASE_URL: BASE, STRIPE_SECRET_KEY: fake.key, STRIPE_API_BASE: fake.url },
        { db: () => tx as unknown as Sql },
      ));
      finding = findings.find((f) => f.check === "stripe.connect-endpoint");
      throw new Error("rollback");
    }).catch((e) => {
      if ((e as Error).message !== "rollback") throw e;
    });
    return finding as { status: string; saw: string };
  }

  test("no sellers with accounts: not needed yet", async () => {
    const f = await connectFinding((tx) => tx`delete from public.seller_accounts`);
    expect(f.status).toBe("PASS");
  });

  test("a seller with a connected account and no Connect endpoint fails", async () => {
    const f = await connectFinding(async (tx) => {
      const [u] = await tx<{ id: string }[]>`
        insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
        values (${`doctor-${randomUUID().slice(0, 8)}@example.com`}, now(), ${tx.json({ role: "seller" })})
        returning id`;
      await tx`insert into public.seller_accounts (seller_id, stripe_account_id, country)
               values (${u.id}, ${`acct_doctor${randomUUID().slice(0, 8)}`}, 'FR')`;
    });
    expect(f.status).toBe("FAIL");
    expect(f.saw).toContain("/stripe-webhook/connect");
  });
});
