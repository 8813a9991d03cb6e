// checkout (#18) through @supabase/supabase-js, as the app calls it, against the Stripe fake: the pending
// order at the listing's price written as the buyer, the buyer's Stripe customer found or created and
// registered, one Checkout Session per order under an idempotency key (double taps, lost answers), every
// refusal writing nothing and calling Stripe nothing, subscriptions to plans (one live per plan), and the
// completed session's real webhook event paying the order through the pipeline.
// The file runs in a world of its own (tests/helpers/world.ts): its functions get the fake's key and URL.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config, userToken } from "../../scripts/lib/config.ts";
import { checkoutCompleted, subscriptionEvents } from "../../scripts/lib/scenarios.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { newBuyer } from "../helpers/crm.ts";
import { expectNarrowSessions, sql } from "../helpers/db.ts";
import { deliver, deliverAll, uid } from "../helpers/stripe.ts";

const FN = "checkout";
const SUCCESS = ["https://app.example.com/paid?session_id={CHECKOUT_SESSION_ID}", "https://app.example.com/thanks"];
const CANCEL = ["https://app.example.com/cart"];
let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({
    STRIPE_SECRET_KEY: fake.key,
    STRIPE_API_BASE: fake.url,
    CHECKOUT_SUCCESS_URLS: SUCCESS.join(","),
    CHECKOUT_CANCEL_URLS: CANCEL.join(","),
    CHECKOUT_ALLOWED_ORIGINS: "https://app.example.com",
  });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

type Person = { id: string; email: string; token: string };

async function buyer(): Promise<Person> {
  const b = await newBuyer(`ck-${randomUUID().slice(0, 8)}@example.com`);
  return { ...b, token: await userToken(b.id, { email: b.email }) };
}

/** A seller with an active listing (price in cents). */
async function listing(price = 4200, opts: { active?: boolean; chargesEnabled?: boolean; seller?: string } = {}) {
  let seller = opts.seller;
  if (!seller) {
    const [u] = await sql<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
      values (${`seller-${randomUUID().slice(0, 8)}@example.com`}, now(), '{"role": "seller"}') returning id`;
    seller = u.id;
  }
  if (opts.chargesEnabled === false) await sql`update public.profiles set charges_enabled = false where id = ${seller}`;
  const [l] = await sql<{ id: string }[]>`
    insert into public.listings (seller_id, title, price_amount, currency, active)
    values (${seller}, 'Hand-thrown mug', ${price}, 'eur', ${opts.active ?? true}) returning id`;
  return { id: l.id, seller };
}

async function app(person: Person, claims: Record<string, unknown> = {}) {
  const token = Object.keys(claims).length
    ? await userToken(person.id, { email: person.email, ...claims })
    : person.token;
  return appClient(token);
}

/** supabase.functions.invoke, with the status and body of refusals too. */
async function invoke(person: Person, body: unknown, headers: Record<string, string> = {}, claims = {}) {
  return invokeFunction(await app(person, claims), FN, body, headers);
}

async function ordersOf(userId: string) {
  return sql<{ id: string; status: string; amount_total: string; currency: string; quantity: number }[]>`
    select id, status, amount_total, currency, quantity from public.orders where buyer_id = ${userId}`;
}

const sessionsFor = (orderId: unknown) =>
  fake.created("checkout.session").filter((s) => s.client_reference_id === orderId);

describe("checkout: orders", () => {
  test("a buyer gets a session for a pending order at the listing's price, under their registered customer", async () => {
    const b = await buyer();
    const l = await listing(4200);
    const res = await invoke(b, { listing_id: l.id, quantity: 2, idempotency_key: randomUUID() });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const orders = await ordersOf(b.id);
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ id: res.body.order_id, status: "pending_payment", currency: "eur", quantity: 2 });
    expect(Number(orders[0].amount_total)).toBe(8400);
    const [session] = sessionsFor(res.body.order_id);
    expect(res.body.url).toBe(session.url);
    expect(session).toMatchObject({
      mode: "payment",
      metadata: { order_id: res.body.order_id, user_id: b.id },
      success_url: SUCCESS[0],
      cancel_url: CANCEL[0],
      amount_subtotal: 8400,
      currency: "eur",
    });
    expect(session.params.payment_intent_data).toEqual({ metadata: { order_id: res.body.order_id, user_id: b.id } });
    // the customer was created for the user and registered by the linking rules (linked_by server)
    const customer = fake.created("customer").find((c) => c.id === session.customer)!;
    expect(customer).toMatchObject({ email: b.email, metadata: { user_id: b.id } });
    const [link] = await sql`
      select m.linked_by, c.user_id from ops.stripe_customers m join public.customers c on c.id = m.customer_id
       where m.stripe_customer_id = ${customer.id}`;
    expect({ ...link }).toEqual({ linked_by: "server", user_id: b.id });
    expect(res.headers.get("server-timing")).toMatch(/^stripe;dur=\d+(\.\d)?$/);

    // a second checkout of the same buyer reuses that customer
    const again = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID(), success_url: SUCCESS[1] });
    expect(again.status).toBe(201);
    const [second] = sessionsFor(again.body.order_id);
    expect(second).toMatchObject({ customer: customer.id, success_url: SUCCESS[1] });
    expect(fake.created("customer").filter((c) => c.metadata.user_id === b.id)).toHaveLength(1);
  });

  test("the completed session's real webhook event pays the order through the pipeline", async () => {
    const b = await buyer();
    const l = await listing(1999);
    const res = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() });
    const [session] = sessionsFor(res.body.order_id);
    // the fixture's real payload, carrying what the fake's session carries
    await deliverAll([checkoutCompleted(res.body.order_id as string, uid("pi_"), Math.floor(Date.now() / 1000), {
      id: session.id,
      customer: session.customer,
      amount_subtotal: session.amount_subtotal,
      amount_total: session.amount_total,
      currency: session.currency,
    })]);
    const [o] = await sql`select status, payment_confirmed, stripe_checkout_session_id, amount_charged
                            from public.orders where id = ${res.body.order_id as string}`;
    expect({ ...o }).toEqual({
      status: "paid",
      payment_confirmed: true,
      stripe_checkout_session_id: session.id,
      amount_charged: "1999",
    });
  });

  test("a double tap is one order and one session, whether the key is in the body or the header", async () => {
    const b = await buyer();
    const l = await listing();
    const key = randomUUID();
    const [x, y, z] = await Promise.all([
      invoke(b, { listing_id: l.id, idempotency_key: key }),
      invoke(b, { listing_id: l.id, idempotency_key: key }),
      invoke(b, { listing_id: l.id }, { "idempotency-key": key }),
    ]);
    expect([x.status, y.status, z.status].sort()).toEqual([200, 200, 201]);
    expect(new Set([x.body.order_id, y.body.order_id, z.body.order_id]).size).toBe(1);
    expect(new Set([x.body.url, y.body.url, z.body.url]).size).toBe(1);
    expect(await ordersOf(b.id)).toHaveLength(1);
    expect(sessionsFor(x.body.order_id)).toHaveLength(1);
  });

  test("the same key after its session expired: 410, start again with a new key", async () => {
    const b = await buyer();
    const l = await listing();
    const key = randomUUID();
    const first = await invoke(b, { listing_id: l.id, idempotency_key: key });
    await sql`update ops.checkout_requests set expires_at = now() - interval '1 second'
               where order_id = ${first.body.order_id as string}`;
    const calls = fake.requests.length;
    const res = await invoke(b, { listing_id: l.id, idempotency_key: key });
    expect(res.status).toBe(410);
    expect(res.body.error).toMatch(/has expired: start a new one with a new idempotency_key/);
    expect(fake.requests.length).toBe(calls);
    expect((await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() })).status).toBe(201);
  });

  test("the same key for another checkout is refused (422), and changes nothing", async () => {
    const b = await buyer();
    const [l1, l2] = [await listing(), await listing()];
    const key = randomUUID();
    expect((await invoke(b, { listing_id: l1.id, idempotency_key: key })).status).toBe(201);
    const calls = fake.requests.length;
    const res = await invoke(b, { listing_id: l2.id, idempotency_key: key });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/was used for another checkout/);
    expect(await ordersOf(b.id)).toHaveLength(1);
    expect(fake.requests.length).toBe(calls);
  });

  test("a lost Stripe answer: 502, then the same key gets the session Stripe made, not a second one", async () => {
    const b = await buyer();
    const l = await listing();
    const key = randomUUID();
    // the SDK's first try and its retries (same Idempotency-Key) lose their answers
    fake.failNext("lost", { count: 20, match: "POST /v1/checkout/sessions" });
    const lost = await invoke(b, { listing_id: l.id, idempotency_key: key });
    fake.clearFaults();
    const tries = fake.requests.filter((r) => r.fault === "lost").length;
    expect(lost.status, `after ${tries} lost answers`).toBe(502);
    // 3 or more: Deno's fetch itself may resend once on a pooled connection closed under it
    expect(tries).toBeGreaterThanOrEqual(3);
    expect(lost.body.error).toMatch(/Stripe did not answer.*same idempotency_key/);
    const [pending] = await ordersOf(b.id);
    expect(pending.status).toBe("pending_payment");
    const res = await invoke(b, { listing_id: l.id, idempotency_key: key });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.order_id).toBe(pending.id);
    const sessions = sessionsFor(pending.id);
    expect(sessions).toHaveLength(1);
    expect(res.body.url).toBe(sessions[0].url);
    // a 500 is retried by the SDK with the same key: one session, one answer
    fake.failNext("500", { count: 1, match: "POST /v1/checkout/sessions" });
    const retried = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() });
    expect(retried.status).toBe(201);
    expect(sessionsFor(retried.body.order_id)).toHaveLength(1);
  });

  test("Stripe's rate limit: 503 with its Retry-After (stripe-node does not retry a 429), then the key resumes", async () => {
    const b = await buyer();
    const l = await listing();
    const key = randomUUID();
    fake.failNext("429", { match: "POST /v1/checkout/sessions", retryAfter: 3 });
    const limited = await invoke(b, { listing_id: l.id, idempotency_key: key });
    expect(limited.status).toBe(503);
    expect(limited.headers.get("retry-after")).toBe("3");
    expect(limited.body.error).toMatch(/^Stripe is busy: retry in 3 s/);
    const res = await invoke(b, { listing_id: l.id, idempotency_key: key });
    expect(res.status).toBe(200);
    expect(sessionsFor(res.body.order_id)).toHaveLength(1);
  });

  test("a Stripe refusal (4xx) answers 502 with a sentence and keeps the order for the same key", async () => {
    const b = await buyer();
    const l = await listing();
    // a customer linked to the buyer that Stripe does not know: Stripe refuses the session
    await sql`select ops.register_stripe_customer(${uid("cus_gone")}, ${b.id}::uuid)`;
    const res = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() });
    expect(res.status).toBe(502);
    expect(res.body.error).toMatch(/^Stripe refused to create the Checkout Session \(resource_missing\): nothing was/);
    const [r] = await sql`select stripe_checkout_session_id, last_error from ops.checkout_requests
                           where order_id = ${(await ordersOf(b.id))[0].id}`;
    expect(r.stripe_checkout_session_id).toBeNull();
    expect(r.last_error).toMatch(/Stripe refused/);
    // Stripe's refusals are not our failures: failed_runs does not count them
    const [{ n }] = await sql`select coalesce(sum(count), 0)::int as n from ops.endpoint_outcomes
                               where endpoint = 'checkout' and status_class = '5xx'`;
    expect(n).toBe(0);
  });
});

describe("checkout: refusals write nothing and call Stripe nothing", () => {
  test.each([
    ["an unknown listing", 404, /is not for sale/, async () => ({ listing_id: randomUUID() })],
    [
      "an inactive listing",
      404,
      /is not for sale/,
      async () => ({ listing_id: (await listing(100, { active: false })).id }),
    ],
    ["a seller who cannot accept charges", 409, /cannot accept payments yet/, async () => ({
      listing_id: (await listing(100, { chargesEnabled: false })).id,
    })],
    [
      "a quantity of 0",
      400,
      /quantity must be at least 1/,
      async () => ({ listing_id: (await listing()).id, quantity: 0 }),
    ],
    ["a listing_id that is no uuid", 400, /listing_id must be a listing's id/, async () => ({ listing_id: "mug" })],
    ["a listing and a plan", 400, /listing_id .* or plan_id .* not both/, async () => ({
      listing_id: randomUUID(),
      plan_id: randomUUID(),
    })],
    ["a success_url of the app's own", 400, /success_url must be one of the allowed/, async () => ({
      listing_id: (await listing()).id,
      success_url: "https://evil.example.com/",
    })],
    ["an unknown field", 400, /Unrecognized key/i, async () => ({ listing_id: (await listing()).id, price: 1 })],
  ])("%s: %i", async (_what, status, message, body) => {
    const b = await buyer();
    const input = { idempotency_key: randomUUID(), ...(await body()) };
    const calls = fake.requests.length;
    const res = await invoke(b, input);
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.error).toMatch(message);
    expect(await ordersOf(b.id)).toHaveLength(0);
    expect((await sql`select 1 from ops.checkout_requests where user_id = ${b.id}`).length).toBe(0);
    expect(fake.requests.length).toBe(calls);
  });

  test("buying one's own listing, without a key, anonymously or without a token", async () => {
    const seller = await buyer();
    await sql`update public.profiles set role = 'seller' where id = ${seller.id}`;
    const own = await listing(100, { seller: seller.id });
    const calls = fake.requests.length;
    const mine = await invoke(seller, { listing_id: own.id, idempotency_key: randomUUID() });
    expect(mine.status).toBe(403);
    expect(mine.body.error).toBe("you cannot buy your own listing");
    const noKey = await invoke(seller, { listing_id: own.id });
    expect(noKey.status).toBe(400);
    expect(noKey.body.error).toMatch(/idempotency_key is required/);
    const anonymous = await invoke(seller, { listing_id: own.id, idempotency_key: randomUUID() }, {}, {
      is_anonymous: true,
    });
    expect(anonymous.status).toBe(403);
    const res = await fetch(config.functionUrl(FN), { method: "POST", body: "{}" });
    expect(res.status).toBe(401);
    expect(await ordersOf(seller.id)).toHaveLength(0);
    expect(fake.requests.length).toBe(calls);
  });

  test("over the per-user rate: 429 with Retry-After, before anything is looked at", async () => {
    const b = await buyer();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await invoke(b, { listing_id: randomUUID(), idempotency_key: `k${i}` })).status);
    }
    expect(statuses).toEqual(Array(10).fill(404));
    const l = await listing();
    const calls = fake.requests.length;
    const res = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await ordersOf(b.id)).toHaveLength(0);
    expect(fake.requests.length).toBe(calls);
  });

  test("a key whose mode differs from ops.settings: 503, nothing written", async () => {
    const b = await buyer();
    const l = await listing();
    await sql`update ops.settings set stripe_livemode = true`;
    try {
      const res = await invoke(b, { listing_id: l.id, idempotency_key: randomUUID() });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/Stripe mode disagree/);
    } finally {
      await sql`update ops.settings set stripe_livemode = false`;
    }
    expect(await ordersOf(b.id)).toHaveLength(0);
  });

  test("CORS: the allowed origin is answered, another origin refused before anything runs", async () => {
    const pre = await fetch(config.functionUrl(FN), {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const b = await buyer();
    const res = await fetch(config.functionUrl(FN), {
      method: "POST",
      headers: { origin: "https://evil.example.com", authorization: `Bearer ${b.token}` },
      body: JSON.stringify({ listing_id: (await listing()).id, idempotency_key: randomUUID() }),
    });
    expect(res.status).toBe(403);
    expect(await ordersOf(b.id)).toHaveLength(0);
  });
});

describe("checkout: plans", () => {
  async function plan(active = true) {
    const price = uid("price_");
    const [p] = await sql<{ id: string }[]>`
      insert into public.plans (name, stripe_price_id, active) values ('Pro', ${price}, ${active}) returning id`;
    return { id: p.id, price };
  }

  test("a subscription checkout for a plan, and none while the customer has a live one", async () => {
    const b = await buyer();
    const p = await plan();
    const res = await invoke(b, { plan_id: p.id, idempotency_key: randomUUID() });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.plan_id).toBe(p.id);
    const session = fake.created("checkout.session").find((s) => s.url === res.body.url)!;
    expect(session).toMatchObject({ mode: "subscription", client_reference_id: b.id, metadata: { user_id: b.id } });
    expect(session.params.line_items).toEqual([{ price: p.price, quantity: "1" }]);
    expect(session.params.subscription_data).toEqual({ metadata: { user_id: b.id, plan_id: p.id } });
    // Stripe's subscription events for that customer and price (real payloads)
    const [created] = subscriptionEvents(session.customer, uid("sub_"), ["active"], Math.floor(Date.now() / 1000));
    created.data.object.items = { object: "list", data: [{ price: { id: p.price }, quantity: 1 }] };
    created.data.object.metadata = { user_id: b.id };
    expect((await deliver(created)).body.status).toBe("processed");
    const calls = fake.requests.length;
    const again = await invoke(b, { plan_id: p.id, idempotency_key: randomUUID() });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already have a live subscription to plan Pro/);
    expect(fake.requests.length).toBe(calls);
  });

  test("an inactive plan is refused (404), and nothing is written", async () => {
    const b = await buyer();
    const p = await plan(false);
    const calls = fake.requests.length;
    const res = await invoke(b, { plan_id: p.id, idempotency_key: randomUUID() });
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/is not offered/);
    expect((await sql`select 1 from ops.checkout_requests where user_id = ${b.id}`).length).toBe(0);
    expect(fake.requests.length).toBe(calls);
  });
});

test("checkout connects to Postgres as checkout: no superuser, no RLS bypass, no role creation, no inheritance", async () => {
  await expectNarrowSessions("checkout");
});
