// Sellers on Stripe Connect (#18) over real HTTP: seller-onboarding through supabase-js as the app calls it
// (the connected account created once, under races and lost answers, an Account Link from the allowlists,
// every refusal writing nothing and calling Stripe nothing, Stripe's failures as sentences), the Connect
// endpoint (/stripe-webhook/connect: its own secret, foreign accounts ignored, account.updated applied once and
// in order, the seller's emails) and payouts (a failed one: one ticket, one email, one incident; replays nothing).
// The file runs in a world of its own (tests/helpers/world.ts): its functions get the fake's key and URL.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config, userToken } from "../../scripts/lib/config.ts";
import { accountUpdated, deliverConnect, payoutEvent } from "../../scripts/lib/connect-events.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { DashboardClient, newAdmin } from "../helpers/dashboard.ts";
import { expectNarrowSessions, sql } from "../helpers/db.ts";
import { deliver, uid } from "../helpers/stripe.ts";

const FN = "seller-onboarding";
const RETURN = ["https://app.example.com/seller/done", "https://app.example.com/seller/welcome"];
const REFRESH = ["https://app.example.com/seller/onboarding"];
let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({
    STRIPE_SECRET_KEY: fake.key,
    STRIPE_API_BASE: fake.url,
    SELLER_ONBOARDING_RETURN_URLS: RETURN.join(","),
    SELLER_ONBOARDING_REFRESH_URLS: REFRESH.join(","),
    SELLER_ONBOARDING_ALLOWED_ORIGINS: "https://app.example.com",
  });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

type Person = { id: string; email: string; token: string };

/** A user (a seller unless role says otherwise), with a country unless it is null. */
async function person(opts: { role?: "seller" | "buyer"; country?: string | null } = {}): Promise<Person> {
  const email = `sc-${randomUUID().slice(0, 8)}@example.com`;
  const meta = opts.role === "buyer" ? {} : { role: "seller" };
  const [u] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
    values (${email}, now(), ${sql.json(meta)}) returning id`;
  const country = opts.country === undefined ? "FR" : opts.country;
  if (country) await sql`update public.profiles set country = ${country} where id = ${u.id}`;
  return { id: u.id, email, token: await userToken(u.id, { email }) };
}

async function invoke(p: Person, body: unknown = {}, claims: Record<string, unknown> = {}) {
  const token = Object.keys(claims).length ? await userToken(p.id, { email: p.email, ...claims }) : p.token;
  return invokeFunction(await appClient(token), FN, body);
}

const accountsOf = (userId: string) => fake.onboarded("account").filter((a) => a.metadata.user_id === userId);
const recorded = (userId: string) => sql`select * from public.seller_accounts where seller_id = ${userId}`;

describe("seller-onboarding", () => {
  test("a seller gets an Express-controlled account in their country and an onboarding link; once", async () => {
    const s = await person({ country: "FR" });
    const res = await invoke(s);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [account] = accountsOf(s.id);
    expect(account.params).toMatchObject({
      country: "FR",
      email: s.email,
      controller: {
        fees: { payer: "application" },
        losses: { payments: "application" },
        requirement_collection: "stripe",
        stripe_dashboard: { type: "express" },
      },
      capabilities: { card_payments: { requested: "true" }, transfers: { requested: "true" } },
    });
    const link = fake.onboarded("account_link").at(-1)!;
    expect(link.params).toEqual({
      account: account.id,
      type: "account_onboarding",
      return_url: RETURN[0],
      refresh_url: REFRESH[0],
    });
    expect(res.body).toEqual({
      account_id: account.id,
      url: link.url,
      expires_at: new Date(link.expires_at * 1000).toISOString(),
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
    });
    const rows = await recorded(s.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ stripe_account_id: account.id, country: "FR", livemode: false });

    // again (the link expired, or the seller came back): the same account, a new link, another allowed URL
    const again = await invoke(s, { return_url: RETURN[1] });
    expect(again.status).toBe(200);
    expect(again.body.account_id).toBe(account.id);
    expect(again.body.url).not.toBe(res.body.url);
    expect(fake.onboarded("account_link").at(-1)!.params.return_url).toBe(RETURN[1]);
    expect(accountsOf(s.id)).toHaveLength(1);
  });

  test("two calls racing create one account, recorded once, both answered with it", async () => {
    const s = await person();
    const [a, b] = await Promise.all([invoke(s), invoke(s)]);
    expect([a.status, b.status]).toContain(201);
    expect([200, 201]).toContain(a.status);
    expect([200, 201]).toContain(b.status);
    expect(a.body.account_id).toBe(b.body.account_id);
    expect(accountsOf(s.id)).toHaveLength(1);
    expect(await recorded(s.id)).toHaveLength(1);
  });

  test("a lost Stripe answer: 502, then the next call gets the account Stripe made, not a second one", async () => {
    const s = await person();
    // stripe-node retries with the same key; every answer is lost
    fake.failNext("lost", { count: 20, match: "POST /v1/accounts" });
    const lost = await invoke(s);
    expect(lost.status).toBe(502);
    expect(lost.body.error).toMatch(/Stripe did not answer while we tried to create your payout account/);
    expect(await recorded(s.id)).toHaveLength(0);
    fake.clearFaults();
    const res = await invoke(s);
    expect(res.status).toBe(201);
    expect(accountsOf(s.id)).toHaveLength(1);
    expect(res.body.account_id).toBe(accountsOf(s.id)[0].id);
  });

  test("refused with a sentence, nothing written, Stripe not called: not a seller, no country, anonymous", async () => {
    const calls = fake.requests.length;
    const buyer = await person({ role: "buyer" });
    const notSeller = await invoke(buyer);
    expect(notSeller.status).toBe(403);
    expect(notSeller.body.error).toMatch(/only sellers get a payout account/);
    const noCountry = await person({ country: null });
    const missing = await invoke(noCountry);
    expect(missing.status).toBe(409);
    expect(missing.body.error).toMatch(/set your country first/);
    const anonymous = await invoke(await person(), {}, { is_anonymous: true });
    expect(anonymous.status).toBe(403);
    expect(anonymous.body.error).toMatch(/anonymous/);
    const noToken = await fetch(config.functionUrl(FN), { method: "POST", body: "{}" });
    expect(noToken.status).toBe(401);
    expect(fake.requests.length).toBe(calls);
    expect(await sql`select 1 from public.seller_accounts where seller_id in (${buyer.id}, ${noCountry.id})`)
      .toHaveLength(0);
  });

  test("bad input: unknown fields, a return URL not in the allowlist, a body that is not JSON: 400", async () => {
    const s = await person();
    const calls = fake.requests.length;
    const extra = await invoke(s, { country: "US" });
    expect(extra.status).toBe(400);
    const evil = await invoke(s, { return_url: "https://evil.example/steal" });
    expect(evil.status).toBe(400);
    expect(evil.body.error).toBe("return_url must be one of the allowed URLs (the deployment's settings), or left out");
    const refresh = await invoke(s, { refresh_url: RETURN[0] });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toMatch(/^refresh_url must be one of the allowed URLs/);
    const notJson = await fetch(config.functionUrl(FN), {
      method: "POST",
      body: "{not json",
      headers: { authorization: `Bearer ${s.token}`, "content-type": "application/json" },
    });
    expect(notJson.status).toBe(400);
    expect(fake.requests.length).toBe(calls);
    expect(await recorded(s.id)).toHaveLength(0);
  });

  test("over the per-user rate: 429 with Retry-After, before anything is looked at", async () => {
    const buyer = await person({ role: "buyer" });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await invoke(buyer)).status);
    expect(statuses).toEqual(Array(10).fill(403));
    const res = await invoke(buyer);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("Stripe's failures: a refusal (4xx) 502 naming its code, a rate limit 503 with Retry-After", async () => {
    // the fake, as Stripe, refuses a country it does not know
    const s = await person({ country: "XX" });
    const refused = await invoke(s);
    expect(refused.status).toBe(502);
    expect(refused.body.error).toBe(
      "Stripe refused to create your payout account (country_unsupported): call seller-onboarding again",
    );
    expect(await recorded(s.id)).toHaveLength(0);

    const t = await person();
    fake.failNext("429", { match: "POST /v1/accounts", retryAfter: 3 });
    const busy = await invoke(t);
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("3");
    expect(busy.body.error).toMatch(/^Stripe is busy: retry in 3 s/);
    const later = await invoke(t);
    expect(later.status).toBe(201);
    expect(accountsOf(t.id)).toHaveLength(1);
  });

  test("a key whose mode differs from ops.settings: 503, nothing written", async () => {
    const s = await person();
    await sql`update ops.settings set stripe_livemode = true`;
    try {
      const res = await invoke(s);
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/Stripe mode disagree/);
    } finally {
      await sql`update ops.settings set stripe_livemode = false`;
    }
    expect(accountsOf(s.id)).toHaveLength(0);
  });

  test("a seller who disconnected their account is told to contact support (409), Stripe not called", async () => {
    const s = await sellerWithAccount();
    await sql`update public.seller_accounts set deauthorized_at = now() where seller_id = ${s.id}`;
    const calls = fake.requests.length;
    const res = await invoke(s);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/was disconnected from this platform: contact support/);
    expect(fake.requests.length).toBe(calls);
  });

  test("CORS: the allowed origin is answered, another origin refused before anything runs", async () => {
    const pre = await fetch(config.functionUrl(FN), {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const s = await person();
    const res = await fetch(config.functionUrl(FN), {
      method: "POST",
      headers: { origin: "https://evil.example.com", authorization: `Bearer ${s.token}` },
      body: "{}",
    });
    expect(res.status).toBe(403);
    expect(accountsOf(s.id)).toHaveLength(0);
  });

  test("seller-onboarding connects as seller_onboarding: no superuser, RLS bypass, role creation or inheritance", async () => {
    await expectNarrowSessions("seller_onboarding");
  });
});

/** A seller whose connected account is recorded (as seller-onboarding records it). */
async function sellerWithAccount() {
  const s = await person();
  const account = uid("acct_");
  await sql`insert into public.seller_accounts (seller_id, stripe_account_id, country)
            values (${s.id}, ${account}, 'FR')`;
  return { ...s, account };
}

const ledgerRow = async (id: string) =>
  (await sql`select status, ignored_reason from ops.stripe_events where event_id = ${id}`)[0];

describe("the Connect endpoint", () => {
  test("refuses a bad signature and the platform endpoint's secret (400), recording nothing", async () => {
    const s = await sellerWithAccount();
    const evt = accountUpdated(s.account);
    const bad = await deliverConnect(evt, { secret: "whsec_not_the_connect_secret" });
    expect(bad.status).toBe(400);
    const platform = await deliverConnect(evt, { secret: config.stripeWebhookSecrets[0] });
    expect(platform.status).toBe(400);
    expect(platform.body.error).toMatch(/invalid Stripe-Signature/);
    // and the Connect secret is no key to the platform endpoint
    const other = await deliver(evt, { secret: config.stripeConnectWebhookSecrets[0] });
    expect(other.status).toBe(400);
    expect(await ledgerRow(evt.id)).toBeUndefined();
    // the previous Connect secret (rotation) is accepted
    const rotated = await deliverConnect(evt, { secret: config.stripeConnectWebhookSecrets[1] });
    expect(rotated.status).toBe(200);
  });

  test("an event of an account that is not one of our sellers' is recorded as ignored, with the reason", async () => {
    const foreign = uid("acct_");
    const evt = accountUpdated(foreign);
    const res = await deliverConnect(evt);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ignored", duplicate: false });
    const row = await ledgerRow(evt.id);
    expect(row.status).toBe("ignored");
    expect(row.ignored_reason).toMatch(new RegExp(`connected account ${foreign}, which is not one of our sellers`));
    expect(await sql`select 1 from public.seller_accounts where stripe_account_id = ${foreign}`).toHaveLength(0);
    const payout = payoutEvent("payout.failed", foreign, uid("po_"), { status: "failed", failure_code: "no_account" });
    expect((await deliverConnect(payout)).body.status).toBe("ignored");
    expect(await sql`select 1 from public.seller_payouts where stripe_account_id = ${foreign}`).toHaveLength(0);
  });

  test("account.updated of our seller's account is applied once, in order, and emails past-due requirements once", async () => {
    const s = await sellerWithAccount();
    const t0 = Math.floor(Date.now() / 1000) - 600;
    const enabled = accountUpdated(s.account, {}, { created: t0 });
    expect((await deliverConnect(enabled)).body.status).toBe("processed");
    let [st] = await sql`select * from public.seller_account_status where seller_id = ${s.id}`;
    expect(st).toMatchObject({ status: "active", charges_enabled: true, payouts_enabled: true, why_blocked: null });

    const pastDue = accountUpdated(s.account, {
      charges_enabled: false,
      payouts_enabled: false,
      currently_due: ["external_account", "individual.verification.document"],
      past_due: ["external_account"],
      disabled_reason: "requirements.past_due",
    }, { created: t0 + 60 });
    expect((await deliverConnect(pastDue)).status).toBe(200);
    [st] = await sql`select * from public.seller_account_status where seller_id = ${s.id}`;
    expect(st).toMatchObject({
      status: "blocked",
      charges_enabled: false,
      requirements_past_due: ["external_account"],
      disabled_reason: "requirements.past_due",
      why_blocked: "Stripe needs information that is now overdue: external_account.",
      next_step: "Open seller onboarding and complete what Stripe asks for.",
    });
    // a replay is a duplicate; an older state delivered late changes nothing
    expect((await deliverConnect(pastDue)).body.duplicate).toBe(true);
    const late = accountUpdated(s.account, {}, { created: t0 + 30 });
    expect((await deliverConnect(late)).body.status).toBe("processed");
    expect((await recorded(s.id))[0].charges_enabled).toBe(false);
    // still past due a minute later: no second email
    const still = accountUpdated(s.account, {
      charges_enabled: false,
      currently_due: ["external_account"],
      past_due: ["external_account"],
      disabled_reason: "requirements.past_due",
    }, { created: t0 + 120 });
    await deliverConnect(still);
    const emails = await sql`select payload from ops.jobs where kind = 'notify.email'
                               and payload ->> 'recipient' = ${"user:" + s.id}`;
    expect(emails.map((e) => e.payload.template)).toEqual(["seller_requirements_past_due"]);
    expect(emails[0].payload).toMatchObject({
      to: s.email,
      data: { requirements: ["external_account"], charges_enabled: false },
    });
    // blocked sellers show in Studio's view and on the dashboard, with why
    expect(await sql`select status from ops.blocked_sellers where seller_id = ${s.id}`).toEqual([
      { status: "blocked" },
    ]);
    const dashboard = new DashboardClient();
    await dashboard.signIn((await newAdmin()).token);
    const { html } = await dashboard.page();
    const section = /<section id="sellers">[\s\S]*?<\/section>/.exec(html)?.[0] ?? "";
    expect(section).toContain("Blocked sellers");
    expect(section).toContain(s.account);
    expect(section).toContain("Stripe needs information that is now overdue: external_account.");
  });
});

describe("payouts of connected accounts", () => {
  test("a failed payout: one ticket in payouts, one seller email, one incident; replays add nothing", async () => {
    const s = await sellerWithAccount();
    const po = uid("po_");
    const t0 = Math.floor(Date.now() / 1000) - 300;
    await deliverConnect(payoutEvent("payout.created", s.account, po, { status: "pending" }, { created: t0 }));
    const failed = payoutEvent("payout.failed", s.account, po, {
      status: "failed",
      failure_code: "account_closed",
      failure_message: "The bank account has been closed.",
    }, { created: t0 + 60 });
    expect((await deliverConnect(failed)).body.status).toBe("processed");
    // the same failure again: a replay, and the same state under another event id (Stripe's payout.updated)
    expect((await deliverConnect(failed)).body.duplicate).toBe(true);
    const updated = payoutEvent("payout.updated", s.account, po, {
      status: "failed",
      failure_code: "account_closed",
    }, { created: t0 + 61 });
    expect((await deliverConnect(updated)).body.status).toBe("processed");
    // an older event delivered late never overwrites the newer state
    await deliverConnect(payoutEvent("payout.paid", s.account, po, { status: "paid" }, { created: t0 + 30 }));

    const [p] = await sql`select * from public.seller_payouts where id = ${po}`;
    expect(p).toMatchObject({
      seller_id: s.id,
      status: "failed",
      amount: "12050",
      currency: "usd",
      failure_code: "account_closed",
      failure_message: "The bank account has been closed.",
    });
    const tickets = await sql`select queue, priority, source, requester_id, category from public.support_tickets
                               where case_key = ${"payout_failed:" + po}`;
    expect(tickets.map((t) => ({ ...t }))).toEqual([
      { queue: "payouts", priority: "high", source: "system", requester_id: null, category: "payout_failed" },
    ]);
    const emails = await sql`select payload from ops.jobs where kind = 'notify.email'
                               and payload ->> 'template' = 'seller_payout_failed'
                               and payload ->> 'recipient' = ${"user:" + s.id}`;
    expect(emails).toHaveLength(1);
    expect(emails[0].payload.data).toMatchObject({
      payout_id: po,
      failure_code: "account_closed",
      advice: "The bank account is closed: add a new bank account in your Stripe Express dashboard.",
    });

    const opened = await sql`select * from ops.evaluate_alerts() where rule = 'payout_failed'`;
    expect(opened[0]).toMatchObject({ firing: true });
    expect(await sql`select 1 from ops.alert_incidents where rule = 'payout_failed' and resolved_at is null`)
      .toHaveLength(1);
    await sql`select * from ops.evaluate_alerts()`;
    expect(await sql`select 1 from ops.alert_incidents where rule = 'payout_failed'`).toHaveLength(1);
  });

  test("a paid payout is recorded with its arrival date, and opens no ticket", async () => {
    const s = await sellerWithAccount();
    const po = uid("po_");
    const arrival = Math.floor(Date.now() / 1000) + 86400;
    await deliverConnect(payoutEvent("payout.paid", s.account, po, { status: "paid", arrival_date: arrival }));
    const [p] = await sql`select status, arrival_date from public.seller_payouts where id = ${po}`;
    expect(p.status).toBe("paid");
    expect(p.arrival_date.getTime()).toBe(arrival * 1000);
    expect(await sql`select 1 from public.support_tickets where case_key = ${"payout_failed:" + po}`).toHaveLength(0);
  });
});
