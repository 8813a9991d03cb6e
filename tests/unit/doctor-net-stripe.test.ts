// The doctor's stripe area (#19) against the Stripe fake's webhook endpoints: a healthy account passes, and
// each way an endpoint goes wrong (missing, disabled, missing events, extra events, no Connect endpoint while
// sellers have accounts) is named.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import Stripe from "stripe";
import { area } from "../../scripts/doctor/areas/stripe.ts";
import { CONNECT_EVENT_TYPES, PLATFORM_EVENT_TYPES } from "../../scripts/lib/stripe-event-types.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { doctorContext, sellerCountDb } from "../helpers/doctor-context.ts";

const BASE = "https://abcdefghijklmnop.supabase.co";
const HOOK = `${BASE}/functions/v1/stripe-webhook`;
let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const env = () => ({ SUPABASE_URL: BASE, STRIPE_SECRET_KEY: fake.key, STRIPE_API_BASE: fake.url });
const healthy = () => {
  fake.webhookEndpoints.put({ id: "we_platform", url: HOOK, enabled_events: [...PLATFORM_EVENT_TYPES] });
  fake.webhookEndpoints.put({
    id: "we_connect",
    url: `${HOOK}/connect`,
    enabled_events: [...CONNECT_EVENT_TYPES],
    connect: true,
  });
};
const byStatus = async (ctx = doctorContext(env(), { db: sellerCountDb(2) })) => {
  const findings = await area.run(ctx);
  return {
    findings,
    fails: findings.filter((f) => f.status === "FAIL"),
    warns: findings.filter((f) => f.status === "WARN"),
  };
};

describe("doctor: stripe", () => {
  test("both endpoints with exactly the applied events pass", async () => {
    healthy();
    const { findings } = await byStatus();
    expect(findings.map((f) => [f.check, f.status])).toEqual([
      ["stripe.platform-endpoint", "PASS"],
      ["stripe.connect-endpoint", "PASS"],
    ]);
  });

  test("endpoints found on a later page of the list count", async () => {
    for (let i = 0; i < 120; i++) {
      fake.webhookEndpoints.put({ id: `we_other${i}`, url: `https://other.example/${i}`, enabled_events: ["*"] });
    }
    healthy();
    for (let i = 0; i < 5; i++) {
      fake.webhookEndpoints.put({ id: `we_new${i}`, url: `https://newer.example/${i}`, enabled_events: ["*"] });
    }
    const { fails } = await byStatus();
    expect(fails).toEqual([]);
    expect(fake.requests.filter((r) => r.path === "/v1/webhook_endpoints").length).toBeGreaterThan(1);
  });

  test("no platform endpoint fails", async () => {
    const { fails } = await byStatus(doctorContext(env(), { db: sellerCountDb(0) }));
    expect(fails.map((f) => f.check)).toEqual(["stripe.platform-endpoint"]);
    expect(fails[0].saw).toContain(HOOK);
  });

  test("a disabled endpoint fails", async () => {
    healthy();
    fake.webhookEndpoints.put({
      id: "we_platform",
      url: HOOK,
      enabled_events: [...PLATFORM_EVENT_TYPES],
      status: "disabled",
    });
    const { fails } = await byStatus();
    expect(fails.map((f) => f.check)).toEqual(["stripe.platform-endpoint"]);
    expect(fails[0].saw).toMatch(/disabled/);
  });

  test("a missing applied event fails, an extra one warns", async () => {
    healthy();
    const events = PLATFORM_EVENT_TYPES.filter((t) => t !== "charge.refunded");
    fake.webhookEndpoints.put({ id: "we_platform", url: HOOK, enabled_events: [...events, "product.created"] });
    const { fails, warns } = await byStatus();
    expect(fails).toHaveLength(1);
    expect(fails[0].saw).toContain("charge.refunded");
    expect(warns).toHaveLength(1);
    expect(warns[0].saw).toContain("product.created");
  });

  test("a Connect endpoint without payout events fails", async () => {
    healthy();
    fake.webhookEndpoints.put({ id: "we_connect", url: `${HOOK}/connect`, enabled_events: ["account.updated"] });
    const { fails } = await byStatus();
    expect(fails.map((f) => f.check)).toEqual(["stripe.connect-endpoint"]);
    expect(fails[0].saw).toContain("payout.paid");
  });

  test("the Connect endpoint: needed once sellers have accounts, unknown without the database", async () => {
    fake.webhookEndpoints.put({ id: "we_platform", url: HOOK, enabled_events: [...PLATFORM_EVENT_TYPES] });
    const none = await byStatus(doctorContext(env(), { db: sellerCountDb(0) }));
    expect(none.findings.map((f) => f.status)).toEqual(["PASS", "PASS"]);
    const some = await byStatus(doctorContext(env(), { db: sellerCountDb(3) }));
    expect(some.fails.map((f) => f.check)).toEqual(["stripe.connect-endpoint"]);
    const unknown = await byStatus(doctorContext(env()));
    expect(unknown.fails).toEqual([]);
    expect(unknown.warns.map((f) => f.check)).toEqual(["stripe.connect-endpoint"]);
  });

  test("a refused key fails without printing it", async () => {
    const { fails } = await byStatus(doctorContext({ ...env(), STRIPE_SECRET_KEY: "rk_test_notthekey12345678" }));
    expect(fails).toHaveLength(1);
    expect(fails[0].saw).toContain("401");
    expect(JSON.stringify(fails)).not.toContain("notthekey");
  });
});

test("a restricted key without Read on Webhook Endpoints fails, naming the permission to add", async () => {
  healthy();
  fake.failNext("403", { match: /^GET \/v1\/webhook_endpoints/ });
  const { fails } = await byStatus();
  expect(fails).toHaveLength(1);
  expect(fails[0]).toMatchObject({ check: "stripe.endpoints", saw: "the key may not read webhook endpoints (403)" });
  expect(fails[0].fix).toMatch(/Read on Webhook Endpoints/);
});

describe("the fake's webhook endpoints behave as Stripe's", () => {
  test("create answers the secret once; update changes events and status; bad input is refused", async () => {
    const stripe = new Stripe(fake.key, {
      host: "127.0.0.1",
      port: Number(new URL(fake.url).port),
      protocol: "http",
      httpClient: Stripe.createFetchHttpClient(),
    });
    const created = await stripe.webhookEndpoints.create({
      url: `${HOOK}/connect`,
      enabled_events: ["account.updated"],
      connect: true,
    });
    expect(created.secret).toMatch(/^whsec_/);
    expect((await stripe.webhookEndpoints.retrieve(created.id)).secret).toBeUndefined();
    const updated = await stripe.webhookEndpoints.update(created.id, {
      enabled_events: ["account.updated", "payout.paid"],
      disabled: true,
    });
    expect(updated).toMatchObject({ status: "disabled", enabled_events: ["account.updated", "payout.paid"] });
    expect(fake.webhookEndpoints.all()[0]).toMatchObject({ connect: true, secret: created.secret });
    await expect(stripe.webhookEndpoints.create({ url: HOOK, enabled_events: [] as never })).rejects.toMatchObject({
      statusCode: 400,
    });
    await expect(stripe.webhookEndpoints.retrieve("we_nope")).rejects.toMatchObject({ code: "resource_missing" });
  });
});

describe("doctor: stripe on the local stack", () => {
  test("warns that Stripe cannot deliver to loopback, and asks Stripe nothing", async () => {
    const before = fake.requests.length;
    const findings = await area.run(doctorContext(env(), { local: true }));
    expect(findings.map((f) => [f.check, f.status])).toEqual([["stripe.endpoints", "WARN"]]);
    expect(findings[0].saw).toMatch(/local stack/);
    expect(fake.requests.length).toBe(before);
  });
});
