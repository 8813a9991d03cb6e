// The reconcile function's Stripe side without the stack: its settings, the official SDK against the
// Stripe fake (paging, filters, the key refused), 429 handling (Retry-After within the time budget, else
// a deferral) and JSON the database can store.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Deferral } from "../../supabase/functions/_shared/jobs/worker.ts";
import { ConfigError } from "../../supabase/functions/_shared/config/env.ts";
import { ProviderError } from "../../supabase/functions/_shared/providers/error.ts";
import { storableJson } from "../../supabase/functions/reconcile/run.ts";
import { reconcileSettings } from "../../supabase/functions/reconcile/settings.ts";
import { stripeClient } from "../../supabase/functions/_shared/stripe/client.ts";
import { callStripe, compactSession } from "../../supabase/functions/reconcile/stripe.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";

let fake: FakeStripe;
beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(() => fake.close());

const settingsFor = (key: string, base = fake.url) =>
  reconcileSettings({ STRIPE_RECONCILE_KEY: key, STRIPE_API_BASE: base, RECONCILE_PAGE_SIZE: "2" })!;
const evt = (
  id: string,
  created: number,
  object: Record<string, unknown> = { id: `cus_${id}`, object: "customer" },
) => ({
  id,
  object: "event",
  type: "customer.updated",
  created,
  livemode: false,
  data: { object: object as { id: string; created: number } },
});
const far = () => performance.now() + 60_000;

describe("settings", () => {
  test("the key's prefix gives the mode, and STRIPE_API_BASE maps to the SDK's host, port and protocol", () => {
    const live = reconcileSettings({ STRIPE_RECONCILE_KEY: "rk_live_abc123" })!;
    expect([live.livemode, live.api]).toEqual([true, { host: "api.stripe.com", port: 443, protocol: "https" }]);
    const local = reconcileSettings({
      STRIPE_RECONCILE_KEY: "rk_test_abc",
      STRIPE_API_BASE: "http://127.0.0.1:12111",
    })!;
    expect([local.livemode, local.api]).toEqual([false, { host: "127.0.0.1", port: 12111, protocol: "http" }]);
    expect([local.lookbackDays, local.graceSeconds, local.checkHours, local.budgetMs]).toEqual([3, 300, 72, 50_000]);
    // no key: nothing to reconcile with, which is no failure (the job is skipped)
    expect(reconcileSettings({ STRIPE_RECONCILE_KEY: " " })).toBeNull();
  });

  test.each([
    [{ STRIPE_RECONCILE_KEY: "pk_test_abc" }, /restricted key/],
    [{ STRIPE_RECONCILE_KEY: "whsec_abc" }, /restricted key/],
    [{ STRIPE_RECONCILE_KEY: "rk_test_abc", STRIPE_API_BASE: "ftp://x" }, /STRIPE_API_BASE must be an http\(s\)/],
    [{ STRIPE_RECONCILE_KEY: "rk_test_abc", STRIPE_API_BASE: "https://api.stripe.com/v1" }, /without a path/],
    [{ STRIPE_RECONCILE_KEY: "rk_test_abc", RECONCILE_LOOKBACK_DAYS: "31" }, /RECONCILE_LOOKBACK_DAYS.*1 to 30/],
    [{ STRIPE_RECONCILE_KEY: "rk_test_abc", STRIPE_ACCOUNT_ID: "acct-1" }, /STRIPE_ACCOUNT_ID/],
  ])("bad settings stop the function at start with a message that never holds the key: %j", (env, message) => {
    let err: unknown;
    try {
      reconcileSettings(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("rk_test_abc");
  });
});

describe("the SDK against the Stripe fake", () => {
  test("events come newest first within created[gte|lte], two a page, has_more until the last", async () => {
    fake.reset();
    fake.addEvents([evt("evt_1", 100), evt("evt_2", 200), evt("evt_3", 300), evt("evt_4", 400), evt("evt_5", 500)]);
    const stripe = stripeClient(settingsFor(fake.key), "reconcile");
    const first = await stripe.events.list({ limit: 2, created: { gte: 200, lte: 500 } });
    expect([first.data.map((e) => e.id), first.has_more]).toEqual([["evt_5", "evt_4"], true]);
    const second = await stripe.events.list({ limit: 2, created: { gte: 200, lte: 500 }, starting_after: "evt_4" });
    expect([second.data.map((e) => e.id), second.has_more]).toEqual([["evt_3", "evt_2"], false]);
  });

  test("a list's objects are the newest state their events carry; a missing one is 404", async () => {
    fake.reset();
    const session = { id: "cs_1", object: "checkout.session", created: 10, payment_status: "unpaid", metadata: {} };
    fake.addEvents([evt("evt_a", 10, session), evt("evt_b", 20, { ...session, payment_status: "paid" })]);
    const stripe = stripeClient(settingsFor(fake.key), "reconcile");
    const list = await stripe.checkout.sessions.list({ limit: 10 });
    expect(list.data.map(compactSession)).toMatchObject([{ id: "cs_1", payment_status: "paid", order_ref: null }]);
    await expect(stripe.checkout.sessions.retrieve("cs_nope")).rejects.toMatchObject({ statusCode: 404 });
  });

  test("a wrong key is refused with 401, and the failure is permanent without the key in it", async () => {
    const wrong = "rk_test_wrongkey0123456789";
    const stripe = stripeClient(settingsFor(wrong), "reconcile");
    let err: unknown;
    try {
      await callStripe("list events", () => stripe.events.list({ limit: 1 }), { key: wrong, deadline: far() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderError);
    expect([(err as ProviderError).status, (err as ProviderError).retryable]).toEqual([401, false]);
    expect((err as Error).message).not.toContain(wrong);
    expect(fake.requests.at(-1)).toMatchObject({ status: 401, fault: "unauthorized" });
  });

  test("a 429 is waited out for what Retry-After says, then the same request succeeds", async () => {
    fake.reset();
    fake.addEvents([evt("evt_1", 100)]);
    fake.failNext("429", { retryAfter: 3 });
    const waits: number[] = [];
    const stripe = stripeClient(settingsFor(fake.key), "reconcile");
    const list = await callStripe("list events", () => stripe.events.list({ limit: 1 }), {
      key: fake.key,
      deadline: far(),
      sleep: async (ms) => void waits.push(ms),
    });
    expect(list.data.map((e) => e.id)).toEqual(["evt_1"]);
    expect(waits).toEqual([3000]);
    expect(fake.requests.slice(-2).map((r) => r.status)).toEqual([429, 200]);
  });

  test("a 429 without Retry-After backs off from 1 s; one whose wait passes the budget defers the job", async () => {
    fake.reset();
    fake.failNext("429", { retryAfter: null });
    const stripe = stripeClient(settingsFor(fake.key), "reconcile");
    const waits: number[] = [];
    await callStripe("list events", () => stripe.events.list({ limit: 1 }), {
      key: fake.key,
      deadline: far(),
      sleep: async (ms) => void waits.push(ms),
    });
    expect(waits).toEqual([1000]);
    fake.failNext("429", { retryAfter: 120 });
    const deferred = await callStripe("list events", () => stripe.events.list({ limit: 1 }), {
      key: fake.key,
      deadline: performance.now() + 5_000,
      sleep: () => Promise.reject(new Error("must not wait past the budget")),
    }).catch((e) => e);
    expect(deferred).toBeInstanceOf(Deferral);
    expect((deferred as Deferral).delayMs).toBe(120_000);
  });
});

test("strings with a NUL or a lone surrogate become storable (U+FFFD) and say so; others are left alone", () => {
  const nul = storableJson({ a: "x\u0000y", b: ["\u0000"], "k\u0000": 1 });
  expect(nul.sanitized).toBe(true);
  expect(nul.text).not.toContain("\\u0000");
  expect(JSON.parse(nul.text)).toEqual({ a: "x\uFFFDy", b: ["\uFFFD"], "k\uFFFD": 1 });
  const lone = storableJson({ name: "Ada\ud800", emoji: "\u{1F600}" });
  expect(lone.sanitized).toBe(true);
  expect(JSON.parse(lone.text)).toEqual({ name: "Ada\uFFFD", emoji: "\u{1F600}" });
  expect(storableJson({ a: "plain" })).toEqual({ text: '{"a":"plain"}', sanitized: false });
});
