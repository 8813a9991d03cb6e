// The money of each Connect order (#18), over real HTTP: checkout makes a destination charge to the seller's
// connected account with the founder's fee (or refuses a seller who cannot take payments, creating nothing);
// the signed webhook's charge, transfer and application fee events, in any order, fill the order's share from
// Stripe's objects; a refund reversing the seller's transfer shows in the reversals and the nets; replays change
// nothing; reconciliation finds a paid Connect order without its transfer and a payout Stripe lists that we
// lack; the seller's CRM contact gets their status.
// The file runs in a world of its own (tests/helpers/world.ts): Connect and its fee are switched on there.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userToken } from "../../scripts/lib/config.ts";
import { shuffle } from "../../scripts/lib/scenarios.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { destinationPayment, destinationRefund } from "../../scripts/lib/connect-events.ts";
import { newBuyer } from "../helpers/crm.ts";
import { sql } from "../helpers/db.ts";
import { sweep, waitFor } from "../helpers/stack.ts";
import { deliver, deliverAll, uid } from "../helpers/stripe.ts";

const SUCCESS = "https://app.example.com/paid";
const CANCEL = "https://app.example.com/cart";
let stripe: FakeStripe;
let hubspot: FakeHubSpot;

beforeAll(async () => {
  stripe = await startFakeStripe();
  hubspot = await startFakeHubSpot({ token: `pat-test-${uid()}` });
  await startWorld({
    STRIPE_SECRET_KEY: stripe.key,
    STRIPE_RECONCILE_KEY: stripe.key,
    STRIPE_API_BASE: stripe.url,
    CHECKOUT_SUCCESS_URLS: SUCCESS,
    CHECKOUT_CANCEL_URLS: CANCEL,
    CHECKOUT_ALLOWED_ORIGINS: "https://app.example.com",
    RECONCILE_GRACE_SECONDS: "0",
    HUBSPOT_ACCESS_TOKEN: hubspot.token,
    HUBSPOT_API_BASE: hubspot.url,
    HUBSPOT_RATE_LIMIT_PER_10S: "5000",
    CRM_ADAPTER: undefined,
  });
  // the founder's fee: 2.5 % + 0.30
  await sql`update ops.settings set connect_enabled = true, platform_fee_percent = 2.5, platform_fee_fixed = 30
             where id`;
  await sql`update ops.job_kinds set backoff_base_ms = 300, backoff_max_ms = 1000
             where kind like 'crm.%' or kind = 'reconcile'`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await Promise.all([stripe.close(), hubspot.close()]);
}, 120_000);

type Person = { id: string; email: string; token: string };

async function buyer(): Promise<Person> {
  const b = await newBuyer(`cm-${randomUUID().slice(0, 8)}@example.com`);
  return { ...b, token: await userToken(b.id, { email: b.email }) };
}

/** A seller, with a connected account (charges enabled or not) unless `account` is null, and a listing. */
async function seller(price: number, account: { charges: boolean } | null = { charges: true }) {
  const email = `seller-${randomUUID().slice(0, 8)}@example.com`;
  const [u] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
    values (${email}, now(), '{"role": "seller"}', '{"display_name": "Ada Potter"}') returning id`;
  const acct = uid("acct_");
  if (account) {
    await sql`insert into public.seller_accounts (seller_id, stripe_account_id, charges_enabled, payouts_enabled,
                                                  details_submitted)
              values (${u.id}, ${acct}, ${account.charges}, ${account.charges}, true)`;
  }
  const [l] = await sql<{ id: string }[]>`
    insert into public.listings (seller_id, title, price_amount, currency, active)
    values (${u.id}, 'Walnut bowl', ${price}, 'eur', true) returning id`;
  return { id: u.id, email, account: acct, listing: l.id };
}

type Answer = { status: number; body: { order_id: string; url: string; error: string } };

async function checkout(b: Person, listing: string, quantity = 1, key = randomUUID()): Promise<Answer> {
  const res = await invokeFunction(await appClient(b.token), "checkout", {
    listing_id: listing,
    quantity,
    idempotency_key: key,
  });
  return res as unknown as Answer;
}

const sessionOf = (orderId: unknown) =>
  stripe.created("checkout.session").find((s) => s.client_reference_id === orderId)!;

/** A paid destination charge's events for the session checkout made for `orderId`. */
const paymentEvents = (orderId: string, s: { account: string }, amount: number, fee: number, t: number) =>
  destinationPayment(orderId, sessionOf(orderId), s.account, amount, fee, t);

async function share(orderId: string) {
  const [s] = await sql`
    select seller_id, destination_account_id, charge_id, charge_amount::int, application_fee_id,
           application_fee_amount::int, application_fee_refunded::int, transfer_id, transfer_amount::int,
           transfer_reversed::int, seller_net::int, platform_net::int, updated_at
      from public.order_shares where order_id = ${orderId}`;
  return s;
}

const now = () => Math.floor(Date.now() / 1000);

describe("checkout: destination charges", () => {
  test("with Connect on, the session is a destination charge to the seller's account with the founder's fee", async () => {
    const b = await buyer();
    const s = await seller(1990);
    const key = randomUUID();
    const res = await checkout(b, s.listing, 3, key);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const session = sessionOf(res.body.order_id);
    // 3 x 19.90 = 59.70; 2.5 % = 1.4925 -> 1.49, + 0.30
    expect(session.params.payment_intent_data).toEqual({
      metadata: { order_id: res.body.order_id, user_id: b.id },
      application_fee_amount: "179",
      transfer_data: { destination: s.account },
    });
    expect(session.params).not.toHaveProperty("payment_intent_data.on_behalf_of");
    const [r] = await sql`select session_params from ops.checkout_requests where order_id = ${res.body.order_id}`;
    expect(r.session_params.payment_intent_data).toMatchObject({
      application_fee_amount: 179,
      transfer_data: { destination: s.account },
    });
    // the same key answers the same session without a second call to Stripe
    const sessions = stripe.created("checkout.session").length;
    const again = await checkout(b, s.listing, 3, key);
    expect(again.status).toBe(200);
    expect(again.body.url).toBe(res.body.url);
    expect(stripe.created("checkout.session")).toHaveLength(sessions);
  });

  test("the fee rounds half up to the cent", async () => {
    const b = await buyer();
    const s = await seller(1020); // 2.5 % = 0.255 -> 0.26, + 0.30
    const res = await checkout(b, s.listing);
    expect(res.status).toBe(201);
    expect(sessionOf(res.body.order_id).params.payment_intent_data).toMatchObject({ application_fee_amount: "56" });
  });

  test.each([
    ["whose account cannot accept charges yet", { charges: false }],
    ["without a connected account", null],
  ])("a seller %s is refused (409) and nothing is created", async (_what, account) => {
    const b = await buyer();
    const s = await seller(2500, account);
    const posts = stripe.requests.filter((r) => r.method === "POST").length;
    const res = await checkout(b, s.listing);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatch(/cannot accept payments/);
    const [{ orders, requests }] = await sql`
      select (select count(*)::int from public.orders where buyer_id = ${b.id}) as orders,
             (select count(*)::int from ops.checkout_requests where user_id = ${b.id}) as requests`;
    expect({ orders, requests }).toEqual({ orders: 0, requests: 0 });
    expect(stripe.requests.filter((r) => r.method === "POST").length).toBe(posts);
  });

  test("with Connect off, nothing changes: no destination, no fee, and a seller without an account sells", async () => {
    await sql`update ops.settings set connect_enabled = false where id`;
    try {
      const b = await buyer();
      const s = await seller(2500, null);
      const res = await checkout(b, s.listing);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(sessionOf(res.body.order_id).params.payment_intent_data).toEqual({
        metadata: { order_id: res.body.order_id, user_id: b.id },
      });
    } finally {
      await sql`update ops.settings set connect_enabled = true where id`;
    }
  });
});

describe("the money of each order, from Stripe's objects", () => {
  test.each([1, 2, 3, 4, 5])(
    "a destination charge's events, shuffled (seed %i), fill the order's share",
    async (seed) => {
      const b = await buyer();
      const s = await seller(4000);
      const res = await checkout(b, s.listing);
      const fee = Number(
        (sessionOf(res.body.order_id).params.payment_intent_data as { application_fee_amount: string })
          .application_fee_amount,
      );
      expect(fee).toBe(130); // 2.5 % of 40.00 + 0.30
      const p = paymentEvents(res.body.order_id, s, 4000, fee, now());
      await deliverAll(shuffle(p.events, seed));
      const got = await share(res.body.order_id);
      expect({ ...got, updated_at: undefined }).toEqual({
        seller_id: s.id,
        destination_account_id: s.account,
        charge_id: p.ids.ch,
        charge_amount: 4000,
        application_fee_id: p.ids.fee,
        application_fee_amount: 130,
        application_fee_refunded: 0,
        transfer_id: p.ids.tr,
        transfer_amount: 3870,
        transfer_reversed: 0,
        seller_net: 3870,
        platform_net: 130,
        updated_at: undefined,
      });
      const [o] = await sql`select status from public.orders where id = ${res.body.order_id}`;
      expect(o.status).toBe("paid");
    },
  );

  test("the events of eight payments delivered at once, in any order, converge (no lock waits in a cycle)", async () => {
    const b = await buyer();
    const s = await seller(4000);
    const payments = [];
    for (let i = 0; i < 8; i++) {
      const res = await checkout(b, s.listing);
      payments.push({ order: res.body.order_id, p: paymentEvents(res.body.order_id, s, 4000, 130, now()) });
    }
    const queue = shuffle(payments.flatMap((x) => x.p.events), 11);
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let e = queue.shift(); e; e = queue.shift()) {
        // as Stripe: a 503 (a lock wait given up) is delivered again
        let res = await deliver(e);
        for (let tries = 0; res.status === 503 && tries < 5; tries++) res = await deliver(e);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.status).toBe("processed");
      }
    }));
    for (const { order, p } of payments) {
      expect(await share(order), order).toMatchObject({
        charge_id: p.ids.ch,
        transfer_id: p.ids.tr,
        application_fee_id: p.ids.fee,
        seller_net: 3870,
        platform_net: 130,
      });
    }
  });

  test("a refund reversing the seller's transfer updates the reversals and the nets; replays change nothing", async () => {
    const b = await buyer();
    const s = await seller(4000);
    const res = await checkout(b, s.listing);
    const p = paymentEvents(res.body.order_id, s, 4000, 130, now() - 60);
    const [session, charge, transferCreated, feeCreated] = p.events;
    await deliverAll([session, charge]);
    const refund = destinationRefund(p, now());
    await deliverAll(shuffle(refund, 7));
    // the transfer's and the fee's first events arrive last, older than the refund's: they undo nothing
    await deliverAll([feeCreated, transferCreated]);
    const after = await share(res.body.order_id);
    expect(after).toMatchObject({
      transfer_amount: 3870,
      transfer_reversed: 3870,
      application_fee_refunded: 130,
      seller_net: 0,
      platform_net: 0,
    });
    const reversals = await sql`
      select id, transfer_id, order_id, seller_id, amount::int, refund_id from public.seller_transfer_reversals
       where transfer_id = ${p.ids.tr}`;
    expect(reversals.map((r) => ({ ...r }))).toEqual([{
      id: refund[1].data.object.reversals.data[0].id,
      transfer_id: p.ids.tr,
      order_id: res.body.order_id,
      seller_id: s.id,
      amount: 3870,
      refund_id: refund[0].data.object.refunds.data[0].id,
    }]);
    const [o] = await sql`select status from public.orders where id = ${res.body.order_id}`;
    expect(o.status).toBe("refunded");

    // every event delivered again (Stripe's retries): nothing changes, not even updated_at
    for (const e of [...refund, ...p.events].reverse()) {
      const again = await deliver(e);
      expect(again.status).toBe(200);
    }
    expect(await share(res.body.order_id)).toEqual(after);
    const [{ n }] = await sql`select count(*)::int as n from public.seller_transfer_reversals
                               where transfer_id = ${p.ids.tr}`;
    expect(n).toBe(1);
    const [{ events }] = await sql`select count(*)::int as events from ops.stripe_events
                                    where event_id = any(${[...refund, ...p.events].map((e) => e.id)})`;
    expect(events).toBe(7);
  });
});

describe("reconciliation: Connect cross-checks", () => {
  /** Asks for a run as pg_cron does and waits for it to finish. */
  async function reconcile() {
    const [{ id }] = await sql<{ id: string }[]>`select ops.enqueue_reconcile('test') as id`;
    const job = await waitFor(
      `reconcile job ${id}`,
      async () => {
        const [j] = await sql`select id, status, result, last_error from ops.jobs where id = ${id}`;
        return ["succeeded", "dead"].includes(j.status) ? j : undefined;
      },
      300_000,
      () => sweep(),
    );
    expect(job.status, String(job.last_error)).toBe("succeeded");
    return job;
  }

  test("a paid Connect order without its transfer, and a payout Stripe lists that we lack, are findings", async () => {
    await sql`delete from ops.reconciliation_checkpoints`;
    await sql`insert into ops.reconciliation_checkpoints (scope, not_before) values ('test', now() - interval '1 minute')`;
    const t = now();
    const b = await buyer();
    const s = await seller(4000);
    // order A: paid, but no charge or transfer event ever came, and Stripe lists no transfer of it
    const a = await checkout(b, s.listing);
    const pa = paymentEvents(a.body.order_id, s, 4000, 130, t);
    await deliverAll([pa.events[0]]);
    // order B: its charge came, its transfer.created did not; Stripe lists the transfer
    const bo = await checkout(b, s.listing);
    const pb = paymentEvents(bo.body.order_id, s, 4000, 130, t);
    await deliverAll([pb.events[0], pb.events[1]]);
    stripe.connect.putTransfer({ ...pb.transfer, created: t });
    // order C: complete; its transfer is listed too
    const c = await checkout(b, s.listing);
    const pc = paymentEvents(c.body.order_id, s, 4000, 130, t);
    await deliverAll(pc.events);
    stripe.connect.putTransfer({ ...pc.transfer, created: t });
    // the seller's payouts: one we recorded, one we never heard of
    const known = uid("po_");
    const lost = uid("po_");
    for (const id of [known, lost]) {
      stripe.connect.putPayout(s.account, {
        id,
        object: "payout",
        amount: 3870,
        currency: "eur",
        status: "paid",
        created: t,
        arrival_date: t + 86_400,
        method: "standard",
        type: "bank_account",
      });
    }
    await sql`insert into public.seller_payouts (id, seller_id, stripe_account_id, amount, currency, status)
              values (${known}, ${s.id}, ${s.account}, 3870, 'eur', 'paid')`;
    // a seller whose account left the platform: Stripe answers 403 account_invalid for it, and the run goes on
    const gone = await seller(1000);

    await reconcile();
    const found = await sql`
      select kind, object_id, status, detail, next_action from ops.reconciliation_findings
       where kind in ('connect_transfer_missing', 'seller_payout_missing') and object_id = any(${[
      a.body.order_id,
      bo.body.order_id,
      c.body.order_id,
      known,
      lost,
    ]})
       order by kind, object_id`;
    const byObject = Object.fromEntries(found.map((f) => [f.object_id, f]));
    expect(byObject[a.body.order_id]).toMatchObject({ kind: "connect_transfer_missing", status: "open" });
    expect(byObject[a.body.order_id].next_action).toMatch(/no transfer to the seller's account/);
    expect(byObject[bo.body.order_id]).toMatchObject({
      kind: "connect_transfer_missing",
      status: "open",
      detail: { stripe_transfer: pb.ids.tr, charge: pb.ids.ch },
    });
    expect(byObject[bo.body.order_id].next_action).toMatch(/resend the transfer's events/);
    expect(byObject[c.body.order_id]).toBeUndefined();
    expect(byObject[lost]).toMatchObject({
      kind: "seller_payout_missing",
      status: "open",
      detail: { account: s.account },
    });
    expect(byObject[known]).toBeUndefined();
    // payouts were listed on the seller's connected account (Stripe-Account header)
    expect(stripe.connect.payoutRequests().some((r) => r.account === s.account)).toBe(true);
    expect(stripe.requests.some((r) => r.path === "/v1/payouts" && r.status === 403)).toBe(true);
    expect(stripe.connect.payoutRequests().some((r) => r.account === gone.account)).toBe(true);

    // the repair: the transfer's event delivered, the run again resolves B's finding
    await deliverAll([pb.events[2]]);
    await reconcile();
    const [fb] = await sql`select status from ops.reconciliation_findings
                            where kind = 'connect_transfer_missing' and object_id = ${bo.body.order_id}`;
    expect(fb.status).toBe("resolved");
  });
});

describe("the seller in the CRM", () => {
  test("the seller's contact gets their status: onboarding, then active", async () => {
    const s = await seller(1000, null);
    await sql`insert into public.seller_accounts (seller_id, stripe_account_id) values (${s.id}, ${s.account})`;
    const status = () => hubspot.contacts(s.email)[0]?.properties.backbone_seller_status;
    await waitFor("the seller's contact onboarding", async () => status() === "onboarding", 60_000, () => sweep());
    await sql`update public.seller_accounts set charges_enabled = true, payouts_enabled = true,
                     details_submitted = true where seller_id = ${s.id}`;
    await waitFor("the seller's contact active", async () => status() === "active", 60_000, () => sweep());
    expect(hubspot.contacts(s.email)).toHaveLength(1);
    expect(hubspot.contacts(s.email)[0].properties.firstname).toBe("Ada");
    // HubSpot has the update before the worker records the job's result: wait for the record too
    const jobs = await waitFor(
      "both crm.seller jobs recorded",
      async () => {
        const rows = await sql`select status, result from ops.jobs where kind = 'crm.seller'
                              and payload ->> 'seller_id' = ${s.id} order by id`;
        return rows.length === 2 && rows.every((j) => j.status === "succeeded") && rows;
      },
      60_000,
      () => sweep(),
    );
    expect(jobs.map((j) => [j.status, j.result.seller_status])).toEqual([["succeeded", "onboarding"], [
      "succeeded",
      "active",
    ]]);
  });
});
