// stripe-webhook over HTTP: each event recorded once, applied to orders, customers and
// subscriptions, converging whatever the delivery order.
import { afterAll, describe, expect, test } from "vitest";
import { SEED } from "../../scripts/lib/seed.ts";
import { customerOf, ledger, order, pendingOrder, sql } from "../helpers/db.ts";
import {
  chargeRefunded,
  checkoutCompleted,
  dispute,
  ORDER_VARIANTS,
  permutations,
  piFailed,
  piSucceeded,
  shuffle,
  subscriptionEvents,
} from "../../scripts/lib/scenarios.ts";
import { replayCli } from "../helpers/stack.ts";
import { deliver, event, type Evt, fixture, uid } from "../helpers/stripe.ts";

afterAll(() => sql.end());
const t0 = () => Math.floor(Date.now() / 1000) - 3600;

async function deliverAll(events: Evt[]) {
  for (const e of events) expect((await deliver(e)).status).toBe(200);
}

async function customerState(stripeCustomerId: string) {
  const c = await customerOf(stripeCustomerId);
  return c && { billing_status: c.billing_status, access_status: c.access_status };
}

describe("each event is recorded once", () => {
  test("a redelivered event answers 2xx, is marked duplicate and changes nothing", async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), t0());
    const first = await deliver(e);
    const before = await order(id);
    const second = await deliver(e);
    expect(first).toMatchObject({ status: 200, body: { duplicate: false, status: "processed" } });
    expect(second).toMatchObject({ status: 200, body: { duplicate: true, status: "processed" } });
    expect(await order(id)).toEqual(before);
    expect(await ledger([e.id])).toHaveLength(1);
  });

  test("eight copies arriving at the same moment make one ledger row and one order change", async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), t0());
    const results = await Promise.all(Array.from({ length: 8 }, () => deliver(e)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => !r.body.duplicate)).toHaveLength(1);
    expect(await ledger([e.id])).toEqual([{ event_id: e.id, status: "processed", last_error: null }]);
    expect((await order(id)).status).toBe("paid");
  });

  test.each(["balance.available", "payout.paid", "product.created"])(
    "an unhandled type (%s) is stored as ignored and answered 2xx",
    async (type) => {
      const e = event("customer_updated", {}, { type });
      const res = await deliver(e);
      expect(res).toMatchObject({ status: 200, body: { status: "ignored", duplicate: false } });
      expect(await ledger([e.id])).toEqual([{ event_id: e.id, status: "ignored", last_error: null }]);
    },
  );
});

describe("real Stripe payloads from ../shared/stripe-events are accepted and recorded", () => {
  const names = [
    "charge_dispute_closed",
    "charge_dispute_created",
    "charge_refunded",
    "checkout_session_completed",
    "customer_updated",
    "invoice_paid",
    "payment_intent_created",
    "payment_intent_payment_failed",
    "payment_intent_succeeded",
    "refund_created",
    "subscription_created",
    "subscription_deleted",
    "subscription_updated",
  ];
  test.each(names)("%s", async (name) => {
    const e = { ...fixture(name), id: uid("evt_") };
    const res = await deliver(e);
    expect(res.status).toBe(200);
    expect(["processed", "ignored"]).toContain(res.body.status);
  });
});

describe("checkout sessions yield exactly one order", () => {
  test("a completed session updates the pending order named by client_reference_id", async () => {
    const id = await pendingOrder();
    const pi = uid("pi_");
    const e = checkoutCompleted(id, pi, t0());
    await deliverAll([e]);
    expect(await order(id)).toMatchObject({
      status: "paid",
      stripe_checkout_session_id: e.data.object.id,
      stripe_payment_intent_id: pi,
      needs_review: false,
    });
  });

  test("a session naming no order creates one flagged for review, once, whatever events follow", async () => {
    const pi = uid("pi_");
    const e = checkoutCompleted(null, pi, t0(), { customer_details: { email: "buyer@example.com" } });
    const later = event("checkout_session_completed", { ...e.data.object }, {
      type: "checkout.session.async_payment_succeeded",
      created: t0() + 5,
    });
    await deliverAll([e, later]);
    const rows = await sql`select * from public.orders where stripe_checkout_session_id = ${e.data.object.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: "paid", needs_review: true, amount_total: "2500" });
    expect(rows[0].review_reason).toMatch(/without client_reference_id/);
    expect(rows[0].buyer_id).toBe(SEED.buyer);
  });

  test("a session naming an order that does not exist creates a flagged order", async () => {
    const ghost = "11111111-2222-4333-8444-555555555555";
    const e = checkoutCompleted(ghost, uid("pi_"), t0());
    await deliverAll([e]);
    const [row] = await sql`select * from public.orders where stripe_checkout_session_id = ${e.data.object.id}`;
    expect(row).toMatchObject({ needs_review: true, status: "paid" });
    expect(row.review_reason).toMatch(/does not exist/);
  });

  test("an amount that differs from the order's price waits in review, not paid", async () => {
    const id = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0(), { amount_subtotal: 100, amount_total: 100 })]);
    expect(await order(id)).toMatchObject({ status: "in_review", needs_review: true, amount_total: "2500" });
    expect((await order(id)).review_reason).toMatch(/amount mismatch/);
  });

  test("an expired session cancels the pending order", async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), t0(), { status: "expired", payment_status: "unpaid" });
    await deliverAll([{ ...e, type: "checkout.session.expired" }]);
    expect((await order(id)).status).toBe("canceled");
  });
});

describe("failed payments grant nothing", () => {
  test("an unpaid session, a failed intent and a failed async payment end in payment_failed with no paid_at", async () => {
    const id = await pendingOrder();
    const pi = uid("pi_");
    const s = checkoutCompleted(id, pi, t0(), { payment_status: "unpaid" });
    const asyncFailed = event("checkout_session_completed", { ...s.data.object }, {
      type: "checkout.session.async_payment_failed",
      created: t0() + 2,
    });
    await deliverAll([s, piFailed(pi, t0() + 1), asyncFailed]);
    const o = await order(id);
    expect(o.status).toBe("payment_failed");
    expect(o.paid_at).toBeNull();
  });

  test("an incomplete subscription with a failed invoice leaves the customer a lead with access blocked", async () => {
    const cus = uid("cus_");
    const sub = uid("sub_");
    const invoice = event("invoice_paid", {
      id: uid("in_"),
      customer: cus,
      subscription: sub,
      status: "open",
      paid: false,
    }, { type: "invoice.payment_failed" });
    await deliverAll([...subscriptionEvents(cus, sub, ["incomplete"], t0()), invoice]);
    expect(await customerState(cus)).toEqual({ billing_status: "lead", access_status: "blocked" });
    expect((await customerOf(cus)).last_payment_failed_at).not.toBeNull();
  });

  test("a past_due subscription gives grace, then unpaid blocks access", async () => {
    const cus = uid("cus_");
    const sub = uid("sub_");
    const evs = subscriptionEvents(cus, sub, ["active", "past_due", "unpaid"], t0());
    await deliverAll(evs.slice(0, 2));
    expect(await customerState(cus)).toEqual({ billing_status: "past_due", access_status: "grace" });
    await deliverAll(evs.slice(2));
    expect(await customerState(cus)).toEqual({ billing_status: "unpaid", access_status: "blocked" });
  });
});

describe("out-of-order delivery converges", () => {
  test("a late payment_intent.succeeded never turns a refunded order back to paid", async () => {
    const id = await pendingOrder();
    const [pi, ch] = [uid("pi_"), uid("ch_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0()),
      chargeRefunded(pi, ch, 2500, t0() + 5),
      piSucceeded(pi, ch, t0() + 1),
    ]);
    expect(await order(id)).toMatchObject({ status: "refunded", amount_refunded: "2500" });
  });

  test("a late payment_intent.succeeded never turns a disputed order back to paid", async () => {
    const id = await pendingOrder();
    const [pi, ch] = [uid("pi_"), uid("ch_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0()),
      dispute(pi, ch, "needs_response", t0() + 5, uid("dp_")),
      piSucceeded(pi, ch, t0() + 1),
    ]);
    expect((await order(id)).status).toBe("disputed");
  });

  const orderCases = [
    {
      name: "checkout, payment, partial refund, dispute",
      expect: "disputed",
      build: (
        o: string,
        pi: string,
        ch: string,
        t: number,
      ) => [
        checkoutCompleted(o, pi, t),
        piSucceeded(pi, ch, t + 1),
        chargeRefunded(pi, ch, 1000, t + 2),
        dispute(pi, ch, "needs_response", t + 3, uid("dp_")),
      ],
    },
    // checkout, payment, partial refund, full refund
    ORDER_VARIANTS.find((v) => v.name === "two refunds")!,
  ];
  test.each(orderCases)("every permutation of $name ends $expect", async ({ build, expect: final }) => {
    const base = build("x", "pi_x", "ch_x", 0);
    const orders = await Promise.all(
      permutations(base.map((_, i) => i)).map(async (perm) => {
        const id = await pendingOrder();
        const [pi, ch] = [uid("pi_"), uid("ch_")];
        const events = build(id, pi, ch, t0());
        return { id, events: perm.map((i) => events[i]) };
      }),
    );
    expect(orders).toHaveLength(24);
    await Promise.all(orders.map(({ events }) => deliverAll(events)));
    const statuses = await sql`select status, count(*)::int as n from public.orders where id = any(${
      orders.map((o) => o.id)
    }) group by status`;
    expect(statuses).toEqual([{ status: final, n: 24 }]);
  });

  test.each([
    [["trialing", "active", "past_due", "canceled"], "canceled", "blocked"],
    [["trialing", "active", "past_due"], "past_due", "grace"],
    [["incomplete", "active", "past_due", "active"], "active", "granted"],
  ])("every permutation of subscription statuses %j ends %s / %s", async (statuses, billing, access) => {
    const lives = permutations(statuses.map((_, i) => i)).map((perm) => {
      const [cus, sub] = [uid("cus_"), uid("sub_")];
      const events = subscriptionEvents(cus, sub, statuses, t0());
      return { cus, sub, events: perm.map((i) => events[i]) };
    });
    await Promise.all(lives.map(({ events }) => deliverAll(events)));
    for (const { cus, sub } of lives) {
      expect(await customerState(cus)).toEqual({ billing_status: billing, access_status: access });
      const [s] = await sql`select status from public.subscriptions where stripe_subscription_id = ${sub}`;
      expect(s.status).toBe(statuses.at(-1));
    }
  });
});

describe("1,000 deliveries of 200 distinct events", () => {
  test("shuffled, with duplicates sent concurrently, leave exactly 200 ledger rows and the in-order state", async () => {
    // Two identical worlds: A delivered in order, once; B shuffled, each event 5 times, copies concurrent.
    async function world() {
      const orders: { id: string; expect: string; events: Evt[] }[] = [];
      const subs: { cus: string; events: Evt[] }[] = [];
      const events: Evt[] = [];
      for (let i = 0; events.length < 190; i++) {
        const v = ORDER_VARIANTS[i % ORDER_VARIANTS.length];
        const id = await pendingOrder();
        const evs = v.build(id, uid("pi_"), uid("ch_"), t0() + i * 10) as Evt[];
        if (events.length + evs.length > 190) break;
        orders.push({ id, expect: v.expect, events: evs });
        events.push(...evs);
      }
      while (events.length < 198) {
        const cus = uid("cus_");
        const evs = subscriptionEvents(cus, uid("sub_"), ["trialing", "active"], t0());
        subs.push({ cus, events: evs });
        events.push(...evs);
      }
      while (events.length < 200) events.push(event("customer_updated", {}, { type: "balance.available" }));
      return { orders, subs, events };
    }
    const a = await world();
    const b = await world();
    expect(a.events).toHaveLength(200);
    expect(b.events).toHaveLength(200);

    await deliverAll(a.events);

    // B: 1,000 deliveries; all five copies of an event go out together, 8 events at a time.
    const copies = shuffle(b.events, 20261122).map((e) => Array.from({ length: 5 }, () => e));
    let statuses: number[] = [];
    for (let i = 0; i < copies.length; i += 8) {
      const wave = copies.slice(i, i + 8).flat();
      statuses = statuses.concat((await Promise.all(wave.map((e) => deliver(e)))).map((r) => r.status));
    }
    expect(statuses).toHaveLength(1000);
    expect(statuses.every((s) => s === 200)).toBe(true);

    const rows = await ledger(b.events.map((e) => e.id));
    expect(rows).toHaveLength(200);
    expect(rows.filter((r) => r.status === "failed")).toEqual([]);

    const stateOf = async (w: typeof a) => ({
      orders: await Promise.all(w.orders.map(async (o) => {
        const row = await order(o.id);
        return [row.status, row.amount_refunded, row.needs_review];
      })),
      customers: await Promise.all(w.subs.map(async (s) => customerState(s.cus))),
    });
    const [stateA, stateB] = [await stateOf(a), await stateOf(b)];
    expect(stateB).toEqual(stateA);
    expect(stateA.orders.map((o) => o[0])).toEqual(a.orders.map((o) => o.expect));
    expect(stateA.customers.every((c) => c.billing_status === "active" && c.access_status === "granted")).toBe(true);
  });
});

describe("a failed apply keeps the event and can be re-applied", () => {
  test("an event that cannot be applied is kept as failed with its error, answered 2xx, and re-applied after the fix", async () => {
    const status = `future_${uid().slice(0, 8)}`;
    const [e] = subscriptionEvents(uid("cus_"), uid("sub_"), [status], t0());
    const res = await deliver(e);
    expect(res).toMatchObject({ status: 200, body: { status: "failed", duplicate: false } });
    const [row] = await ledger([e.id]);
    expect(row.status).toBe("failed");
    expect(row.last_error).toMatch(/unknown subscription status/);
    expect(await sql`select 1 from public.subscriptions where stripe_subscription_id = ${e.data.object.id}`)
      .toHaveLength(0);

    // the operator maps the new status, then re-applies from SQL (npm run replay does the same)
    await sql`insert into ops.stripe_subscription_statuses values (${status}, 'active', 55, 35)`;
    try {
      const out = await sql`select * from ops.reapply_stripe_events(${[e.id]})`;
      expect(out).toEqual([{ event_id: e.id, status: "processed" }]);
      expect(await customerState(e.data.object.customer)).toEqual({
        billing_status: "active",
        access_status: "granted",
      });
    } finally {
      await sql`delete from public.subscriptions where stripe_subscription_id = ${e.data.object.id}`;
      await sql`delete from ops.stripe_subscription_statuses where stripe_status = ${status}`;
    }
  });
});

describe("failed events heal or go dead", () => {
  /** What pg_cron's ops-retry-stripe-events runs, as it runs it (outside a transaction). */
  async function cronRetry() {
    const [{ command }] = await sql`select command from cron.job where jobname = 'ops-retry-stripe-events'`;
    await sql.unsafe(command);
  }

  /** A failed event in the ledger, as a failed delivery leaves it after `attempts` tries. */
  async function failedEvent(e: Evt, attempts: number, created: Date) {
    await sql`insert into ops.stripe_events (event_id, type, object_id, event_created, payload, status, attempts, last_error)
      values (${e.id}, ${e.type}, ${e.data.object.id}, ${created}, ${
      sql.json(e as never)
    }, 'failed', ${attempts}, 'test: failed before')`;
  }

  test("pg_cron's retry re-applies a failed event, and after its attempts it is dead and listed as an exception", async () => {
    const [e] = subscriptionEvents(uid("cus_"), uid("sub_"), [`unmapped_${uid().slice(0, 8)}`], t0());
    expect((await deliver(e)).body.status).toBe("failed");
    await cronRetry();
    expect((await sql`select status, attempts from ops.stripe_events where event_id = ${e.id}`)[0]).toEqual({
      status: "failed",
      attempts: 2,
    });
    await sql`update ops.stripe_events set attempts = 4 where event_id = ${e.id}`; // two more runs later
    await cronRetry();
    const [row] = await sql`select status, attempts from ops.stripe_events where event_id = ${e.id}`;
    expect(row).toEqual({ status: "dead", attempts: 5 });
    const [exc] = await sql`select exception, next_action from ops.pipeline_exceptions where ref = ${e.id}`;
    expect(exc.exception).toBe("failed Stripe event");
    expect(exc.next_action).toContain("reapply_stripe_events");
    const [job] = await sql`select schedule from cron.job where jobname = 'ops-retry-stripe-events'`;
    expect(job.schedule).toBe("*/15 * * * *");
  });

  test(
    "the retry commits per event: one event's lock timeout leaves the others' outcomes and the dead-marking in place",
    async () => {
      const orderId = await pendingOrder();
      const base = new Date("2001-01-01T00:00:00Z").getTime() + Math.floor(Math.random() * 1e9); // first in the run's order
      const locked = checkoutCompleted(orderId, uid("pi_"), t0());
      const heals = event("customer_updated", { id: uid("cus_"), email: `heals-${uid().slice(0, 8)}@example.com` });
      const [lastTry] = subscriptionEvents(uid("cus_"), uid("sub_"), [`unmapped_${uid().slice(0, 8)}`], t0());
      const outOfTries = event("customer_updated", { id: uid("cus_"), email: null });
      await failedEvent(locked, 1, new Date(base));
      await failedEvent(heals, 1, new Date(base + 1000));
      await failedEvent(lastTry, 4, new Date(base + 2000));
      await failedEvent(outOfTries, 5, new Date(base + 3000));
      const ids = [locked.id, heals.id, lastTry.id, outOfTries.id];
      const state = async () =>
        Object.fromEntries(
          (await sql`select event_id, status, attempts from ops.stripe_events where event_id = any(${ids})`)
            .map((r) => [r.event_id, `${r.status}/${r.attempts}`]),
        );

      let took = 0;
      await sql.begin(async (tx) => {
        await tx`select 1 from public.orders where id = ${orderId} for update`; // held past the retry's 3 s lock timeout
        const started = Date.now();
        await cronRetry();
        took = Date.now() - started;
      });
      expect(took).toBeGreaterThanOrEqual(2900);
      expect(await state()).toEqual({
        [locked.id]: "failed/1", // left as it was, for the next run
        [heals.id]: "processed/2",
        [lastTry.id]: "dead/5",
        [outOfTries.id]: "dead/5",
      });
      expect((await order(orderId)).status).toBe("pending_payment");

      await cronRetry(); // the next run, with the lock gone
      expect((await state())[locked.id]).toBe("processed/2");
      expect((await order(orderId)).status).toBe("paid");
    },
    30_000,
  );
});

describe("customers are linked to app users safely", () => {
  test("an email never links a Stripe customer, confirmed or not (review instead); metadata.user_id links", async () => {
    const email = `lookalike-${uid().slice(0, 8)}@example.com`;
    const [squatter] = await sql`insert into auth.users (email) values (${email}) returning id`; // never confirmed
    const cus = uid("cus_");
    await deliverAll([event("customer_updated", { id: cus, email, metadata: {} }, { type: "customer.created" })]);
    expect(await customerOf(cus)).toMatchObject({ user_id: null, needs_review: true });
    expect(await sql`select 1 from public.customers where user_id = ${squatter.id}`).toHaveLength(0); // no lead either

    const confirmedEmail = `confirmed-${uid().slice(0, 8)}@example.com`;
    const [owner] =
      await sql`insert into auth.users (email, email_confirmed_at) values (${confirmedEmail}, now()) returning id`;
    const cus2 = uid("cus_");
    await deliverAll([
      event("customer_updated", { id: cus2, email: confirmedEmail, metadata: {} }, { type: "customer.created" }),
    ]);
    expect(await customerOf(cus2)).toMatchObject({ user_id: null, needs_review: true });

    const cus3 = uid("cus_");
    await deliverAll([
      event("customer_updated", { id: cus3, email: confirmedEmail, metadata: { user_id: owner.id } }, {
        type: "customer.created",
      }),
    ]);
    expect(await customerOf(cus3)).toMatchObject({ user_id: owner.id, needs_review: false });
  });

  test("a deleted Stripe customer ends canceled with access blocked, and an older update does not revive it", async () => {
    const cus = uid("cus_");
    const t = t0();
    await deliverAll([
      ...subscriptionEvents(cus, uid("sub_"), ["active"], t),
      event("customer_updated", { id: cus, email: null, name: "Final Name" }, {
        type: "customer.deleted",
        created: t + 5,
      }),
      event("customer_updated", { id: cus, email: null, name: "Old Name" }, {
        type: "customer.updated",
        created: t + 1,
      }),
    ]);
    expect(await customerState(cus)).toEqual({ billing_status: "canceled", access_status: "blocked" });
    const c = await customerOf(cus);
    expect(c.deleted_at).not.toBeNull();
    expect(c.name).toBe("Final Name");
  });
});

describe("refunds known only by their charge", () => {
  test("refund.created without a payment_intent reaches the order through the charge", async () => {
    const id = await pendingOrder();
    const [pi, ch] = [uid("pi_"), uid("ch_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0()),
      piSucceeded(pi, ch, t0() + 1),
      event("refund_created", {
        id: uid("re_"),
        payment_intent: null,
        charge: ch,
        amount: 2500,
        status: "succeeded",
        currency: "usd",
      }, { created: t0() + 2 }),
    ]);
    expect(await order(id)).toMatchObject({ status: "refunded", amount_refunded: "2500" });
  });
});

describe("npm run replay -- events", () => {
  test("re-applies the named ledger events and shows progress", async () => {
    const status = `future_${uid().slice(0, 8)}`;
    const [e] = subscriptionEvents(uid("cus_"), uid("sub_"), [status], t0());
    expect((await deliver(e)).body.status).toBe("failed");
    await sql`insert into ops.stripe_subscription_statuses values (${status}, 'trialing', 45, 25)`;
    try {
      const cli = replayCli("events", e.id);
      expect(cli.status, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/\[#+\] 1\/1/);
      expect(cli.stdout).toMatch(/"processed":1/);
      expect(await ledger([e.id])).toEqual([{ event_id: e.id, status: "processed", last_error: null }]);
    } finally {
      await sql`delete from public.subscriptions where stripe_subscription_id = ${e.data.object.id}`;
      await sql`delete from ops.stripe_subscription_statuses where stripe_status = ${status}`;
    }
  });

  test("names an unknown event clearly and exits non-zero", () => {
    const cli = replayCli("events", "evt_does_not_exist");
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/no Stripe event evt_does_not_exist/);
  });
});
