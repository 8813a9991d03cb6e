// Money on orders (#8): every payment lands on the right order at the right price, or waits in
// review. Signed events through the real webhook; each test has its own orders and Stripe ids.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, test } from "vitest";
import { order, pendingOrder, sql } from "../helpers/db.ts";
import { settleJobs, sweep } from "../helpers/stack.ts";
import {
  chargeRefunded,
  checkoutCompleted,
  checkoutExpired,
  permutations,
  piCanceled,
  piFailed,
  piSucceeded,
  refundEvent,
} from "../../scripts/lib/scenarios.ts";
import { deliverAll, event, type Evt, uid } from "../helpers/stripe.ts";

afterAll(() => sql.end());
const t0 = () => Math.floor(Date.now() / 1000) - 7 * 86400;
const DAY = 86400;

/** Orders that name any of these Checkout sessions as theirs (a phantom order would). */
async function ordersOfSessions(sessions: string[]) {
  const rows = await sql<{ id: string }[]>`
    select id from public.orders where stripe_checkout_session_id = any(${sessions}) order by id`;
  return rows.map((r) => r.id);
}

async function dealJobs(orderId: string) {
  const [{ n }] = await sql<{ n: number }[]>`
    select count(*)::int as n from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = ${orderId}`;
  return n;
}

/** The last deal the capture CRM adapter was asked to write for the order, once its jobs settled. */
async function capturedDeal(orderId: string) {
  const ids = (await sql<{ id: string }[]>`select id from ops.jobs where payload ->> 'order_id' = ${orderId}`)
    .map((r) => Number(r.id));
  expect(ids.length).toBeGreaterThan(0);
  await settleJobs(ids, 60_000, () => sweep());
  const [row] = await sql<{ body: { amount: number; currency: string; stage: string } }[]>`
    select body from ops.crm_capture where operation = 'deal' and key = ${orderId} order by id desc limit 1`;
  return row?.body;
}

describe("several Checkout sessions per order (Stripe's retry: expire the abandoned one, pay a new one)", () => {
  // A: the abandoned session and its payment intent; B: the new session, paid
  const lives = {
    "A expires, then B is paid": { aExpires: 0, bPaid: 60 },
    "B is paid, then A expires a day later": { aExpires: DAY, bPaid: 0 },
  };
  test.each(Object.entries(lives))(
    "%s: in all 24 delivery orders the real order ends paid by B, with no phantom order and no review",
    async (_, at) => {
      const runs = await Promise.all(
        permutations([0, 1, 2, 3]).map(async (perm) => {
          const id = await pendingOrder();
          const [piA, piB, ch] = [uid("pi_"), uid("pi_"), uid("ch_")];
          const t = t0();
          const a = checkoutExpired(id, piA, t + at.aExpires);
          const b = checkoutCompleted(id, piB, t + at.bPaid);
          const events = [a, piCanceled(piA, t + at.aExpires), b, piSucceeded(piB, ch, t + at.bPaid + 1)];
          return { id, sessions: [a.data.object.id, b.data.object.id], piB, events: perm.map((i) => events[i]) };
        }),
      );
      await Promise.all(runs.map((r) => deliverAll(r.events)));
      for (const r of runs) {
        expect(await order(r.id)).toMatchObject({
          status: "paid",
          payment_confirmed: true,
          needs_review: false,
          review_reason: null,
          stripe_checkout_session_id: r.sessions[1],
          stripe_payment_intent_id: r.piB,
        });
        expect(await ordersOfSessions(r.sessions)).toEqual([r.id]);
        const sessions = await sql`select stripe_checkout_session_id, order_id, status from ops.checkout_sessions
          where stripe_checkout_session_id = any(${r.sessions}) order by stripe_checkout_session_id = ${
          r.sessions[0]
        } desc`;
        expect(sessions).toEqual([
          { stripe_checkout_session_id: r.sessions[0], order_id: r.id, status: "expired" },
          { stripe_checkout_session_id: r.sessions[1], order_id: r.id, status: "complete" },
        ]);
      }
    },
    120_000,
  );

  test("an order whose only session expired is canceled, and a later paid session still pays it", async () => {
    const id = await pendingOrder();
    const a = checkoutExpired(id, null, t0());
    await deliverAll([a]);
    expect(await order(id)).toMatchObject({ status: "canceled", needs_review: false, paid_at: null });
    const b = checkoutCompleted(id, uid("pi_"), t0() + 600);
    await deliverAll([b]);
    expect(await ordersOfSessions([a.data.object.id, b.data.object.id])).toEqual([id]);
    expect(await order(id)).toMatchObject({
      status: "paid",
      payment_confirmed: true,
      needs_review: false,
      stripe_checkout_session_id: b.data.object.id,
    });
  });

  test("an async payment that fails on the old session never overrides the new session's payment", async () => {
    const id = await pendingOrder();
    const [piA, piB] = [uid("pi_"), uid("pi_")];
    const a = checkoutCompleted(id, piA, t0(), { payment_status: "unpaid" });
    const aFailed = event("checkout_session_completed", { ...a.data.object }, {
      type: "checkout.session.async_payment_failed",
      created: t0() + 300,
    });
    const b = checkoutCompleted(id, piB, t0() + 100);
    await deliverAll([b, a, aFailed, piFailed(piA, t0() + 299)]);
    expect(await order(id)).toMatchObject({ status: "paid", needs_review: false, stripe_payment_intent_id: piB });
    expect(await ordersOfSessions([a.data.object.id, b.data.object.id])).toEqual([id]);
    const [s] = await sql`select order_id, payment_status from ops.checkout_sessions
      where stripe_checkout_session_id = ${a.data.object.id}`;
    expect(s).toEqual({ order_id: id, payment_status: "failed" });
  });

  test("an expired session that names no order makes no order", async () => {
    const a = checkoutExpired(null, null, t0());
    await deliverAll([a]);
    expect(await ordersOfSessions([a.data.object.id])).toEqual([]);
    const [s] =
      await sql`select order_id from ops.checkout_sessions where stripe_checkout_session_id = ${a.data.object.id}`;
    expect(s.order_id).toBeNull();
  });

  test("two paid sessions for one order: paid once, the double payment flagged until it is refunded", async () => {
    const id = await pendingOrder();
    const [piA, piB, chB] = [uid("pi_"), uid("pi_"), uid("ch_")];
    const a = checkoutCompleted(id, piA, t0());
    const b = checkoutCompleted(id, piB, t0() + 60);
    await deliverAll([b, a]);
    expect(await order(id)).toMatchObject({
      status: "paid",
      needs_review: true,
      stripe_checkout_session_id: a.data.object.id,
    });
    expect((await order(id)).review_reason).toContain(`${b.data.object.id} also paid this order`);
    const [exc] = await sql`select exception, next_action from ops.pipeline_exceptions where ref = ${id}`;
    expect(exc.exception).toBe("order needs review");
    expect(exc.next_action).toContain(`ops.resolve_order_review('${id}', true,`);
    expect(await ordersOfSessions([a.data.object.id, b.data.object.id])).toEqual([id]);
    // the operator refunds B in Stripe: the flag goes, the order is not touched by B's refund
    await deliverAll([chargeRefunded(piB, chB, 2500, t0() + 120)]);
    expect(await order(id)).toMatchObject({ status: "paid", needs_review: false, amount_refunded: "0" });
  });
});

describe("amount and currency are enforced: a mismatch waits in review and runs nothing downstream", () => {
  const mismatches: [string, (id: string, pi: string, t: number) => Evt, RegExp][] = [
    [
      "the order's price in another currency",
      (id, pi, t) => checkoutCompleted(id, pi, t, { currency: "eur" }),
      /currency mismatch: the order costs 2500 usd, cs_test_\w+ asked 2500 eur/,
    ],
    [
      "a cheaper Payment Link naming the order by client_reference_id",
      (id, pi, t) =>
        checkoutCompleted(id, pi, t, {
          metadata: {},
          payment_link: uid("plink_"),
          amount_subtotal: 500,
          amount_total: 500,
        }),
      /amount mismatch: the order costs 2500 usd, cs_test_\w+ asked 500 usd/,
    ],
    [
      "a payment intent carrying metadata.order_id for less",
      (id, pi, t) => piSucceeded(pi, uid("ch_"), t, { amount: 500, amount_received: 500, metadata: { order_id: id } }),
      /amount mismatch: the order costs 2500 usd, pi_\w+ asked 500 usd/,
    ],
  ];

  test.each(mismatches)("%s is not paid: in_review, no paid_at, no CRM deal job", async (_, build, reason) => {
    const id = await pendingOrder(2500);
    await deliverAll([build(id, uid("pi_"), t0())]);
    const o = await order(id);
    expect(o).toMatchObject({ status: "in_review", payment_confirmed: false, needs_review: true, paid_at: null });
    expect(o.review_reason).toMatch(reason);
    expect(await dealJobs(id)).toBe(0);
    const [exc] = await sql`select exception, error, next_action from ops.pipeline_exceptions where ref = ${id}`;
    expect(exc.exception).toBe("order payment in review");
    expect(exc.error).toMatch(reason);
    expect(exc.next_action).toContain(`ops.resolve_order_review('${id}', true,`);
    expect(exc.next_action).toContain(`ops.resolve_order_review('${id}', false,`);
  });

  test.each([
    ["tax on top", 2750],
    ["a Stripe-applied discount", 2000],
  ])("%s is no mismatch: the order is paid and charged what Checkout charged", async (_, total) => {
    const id = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0(), { amount_subtotal: 2500, amount_total: total })]);
    expect(await order(id)).toMatchObject({
      status: "paid",
      needs_review: false,
      amount_total: "2500",
      amount_charged: String(total),
      currency_charged: "usd",
    });
  });

  test.each([[[0, 1]], [[1, 0]]])(
    "a Checkout payment intent carrying metadata.order_id and tax ends paid whichever arrives first (%j)",
    async (perm) => {
      const id = await pendingOrder(2500);
      const [pi, ch] = [uid("pi_"), uid("ch_")];
      const events = [
        checkoutCompleted(id, pi, t0(), { amount_subtotal: 2500, amount_total: 2750 }),
        piSucceeded(pi, ch, t0() + 1, { amount: 2750, amount_received: 2750, metadata: { order_id: id } }),
      ];
      await deliverAll(perm.map((i) => events[i]));
      expect(await order(id)).toMatchObject({ status: "paid", needs_review: false, amount_charged: "2750" });
      expect(await dealJobs(id)).toBe(1);
    },
  );

  test("an operator accepts a mismatch: the order is paid and its CRM deal runs, once, at the charged amount", async () => {
    const id = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0(), { amount_subtotal: 2000, amount_total: 2000 })]);
    expect((await order(id)).status).toBe("in_review");
    const [{ status }] =
      await sql`select ops.resolve_order_review(${id}, true, 'seller agreed a discount by phone') as status`;
    expect(status).toBe("paid");
    expect(await order(id)).toMatchObject({ status: "paid", payment_confirmed: true, needs_review: false });
    expect((await order(id)).paid_at).not.toBeNull();
    expect(await dealJobs(id)).toBe(1);
    expect(await capturedDeal(id)).toMatchObject({ amount: 2000, currency: "usd", stage: "paid" });
    const [audit] = await sql`select accepted, note, reason, decided_by from ops.order_reviews where order_id = ${id}`;
    expect(audit).toMatchObject({ accepted: true, note: "seller agreed a discount by phone", decided_by: "postgres" });
    expect(audit.reason).toMatch(/amount mismatch/);
    expect(await sql`select 1 from ops.pipeline_exceptions where ref = ${id}`).toHaveLength(0);
    // a late event for the accepted payment changes nothing
    await deliverAll([piSucceeded((await order(id)).stripe_payment_intent_id, uid("ch_"), t0() + 5)]);
    expect(await order(id)).toMatchObject({ status: "paid", needs_review: false });
  });

  test("an operator refuses a mismatch: the order is canceled, nothing downstream ran, a correct payment still pays it", async () => {
    const id = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0(), { currency: "eur" })]);
    const [{ status }] = await sql`select ops.resolve_order_review(${id}, false, 'refunded in Stripe') as status`;
    expect(status).toBe("canceled");
    expect(await order(id)).toMatchObject({ status: "canceled", needs_review: false, paid_at: null });
    expect(await dealJobs(id)).toBe(0);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0() + 600)]);
    expect(await order(id)).toMatchObject({ status: "paid", needs_review: false });
    expect(await dealJobs(id)).toBe(1);
  });

  test("resolving refuses bad input and orders with nothing to review, and changes nothing", async () => {
    const id = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(id, uid("pi_"), t0(), { currency: "eur" })]);
    await expect(sql`select ops.resolve_order_review(${id}, true, '  ')`).rejects.toThrow(/a note saying why/);
    await expect(sql`select ops.resolve_order_review(${id}, null, 'x')`).rejects.toThrow(/accept/);
    expect((await order(id)).status).toBe("in_review");
    const paid = await pendingOrder(2500);
    await deliverAll([checkoutCompleted(paid, uid("pi_"), t0())]);
    await expect(sql`select ops.resolve_order_review(${paid}, true, 'looked')`).rejects.toThrow(/nothing to review/);
    await expect(sql`select ops.resolve_order_review(${randomUUID()}, true, 'x')`).rejects.toThrow(/no order/);
    expect(await sql`select 1 from ops.order_reviews where order_id = any(${[id, paid]})`).toHaveLength(0);
  });
});

describe("the charged amount is kept apart from the list price", () => {
  test("refunds are judged against what was charged (tax included), and the CRM deal is worth it", async () => {
    const id = await pendingOrder(2500);
    const [pi, ch] = [uid("pi_"), uid("ch_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0(), { amount_subtotal: 2500, amount_total: 2750 }),
      piSucceeded(pi, ch, t0() + 1, { amount: 2750, amount_received: 2750 }),
    ]);
    expect(await order(id)).toMatchObject({ status: "paid", amount_total: "2500", amount_charged: "2750" });
    expect(await capturedDeal(id)).toMatchObject({ amount: 2750, currency: "usd" });
    await deliverAll([chargeRefunded(pi, ch, 2500, t0() + 2, { amount: 2750 })]);
    expect(await order(id)).toMatchObject({ status: "partially_refunded", amount_refunded: "2500" });
    await deliverAll([chargeRefunded(pi, ch, 2750, t0() + 3, { amount: 2750 })]);
    expect(await order(id)).toMatchObject({ status: "refunded", amount_refunded: "2750" });
  });
});

describe("refund totals come from the refunds known, with a way back", () => {
  test("a refund that fails after succeeding returns the order to paid, in all 24 delivery orders", async () => {
    const runs = await Promise.all(
      permutations([0, 1, 2, 3]).map(async (perm) => {
        const id = await pendingOrder();
        const [pi, ch, re] = [uid("pi_"), uid("ch_"), uid("re_")];
        const t = t0();
        const events = [
          checkoutCompleted(id, pi, t),
          piSucceeded(pi, ch, t + 1),
          refundEvent(pi, ch, re, 2500, "succeeded", t + 2, "refund.created"),
          refundEvent(pi, ch, re, 2500, "failed", t + 3, "refund.failed"),
        ];
        return { id, events: perm.map((i) => events[i]) };
      }),
    );
    await Promise.all(runs.map((r) => deliverAll(r.events)));
    const rows = await sql`select status, amount_refunded, count(*)::int as n from public.orders
      where id = any(${runs.map((r) => r.id)}) group by 1, 2`;
    expect(rows).toEqual([{ status: "paid", amount_refunded: "0", n: 24 }]);
  });

  test("refunded -> partially_refunded -> paid as refunds are reversed one by one", async () => {
    const id = await pendingOrder();
    const [pi, ch, r1, r2] = [uid("pi_"), uid("ch_"), uid("re_"), uid("re_")];
    const t = t0();
    await deliverAll([
      checkoutCompleted(id, pi, t),
      piSucceeded(pi, ch, t + 1),
      refundEvent(pi, ch, r1, 1000, "succeeded", t + 2, "refund.created"),
      refundEvent(pi, ch, r2, 1500, "succeeded", t + 3, "refund.created"),
    ]);
    expect(await order(id)).toMatchObject({ status: "refunded", amount_refunded: "2500" });
    await deliverAll([refundEvent(pi, ch, r2, 1500, "canceled", t + 4)]);
    expect(await order(id)).toMatchObject({ status: "partially_refunded", amount_refunded: "1000" });
    await deliverAll([refundEvent(pi, ch, r1, 1000, "failed", t + 5, "refund.failed")]);
    expect(await order(id)).toMatchObject({ status: "paid", amount_refunded: "0" });
  });

  test("a charge's refunded total is a point in time: a newer failed refund object wins over it", async () => {
    const id = await pendingOrder();
    const [pi, ch, re] = [uid("pi_"), uid("ch_"), uid("re_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0()),
      refundEvent(pi, ch, re, 2500, "failed", t0() + 3, "refund.failed"),
      chargeRefunded(pi, ch, 2500, t0() + 2), // the charge's total before the refund failed, delivered late
    ]);
    expect(await order(id)).toMatchObject({ status: "paid", amount_refunded: "0" });
  });

  test.each([[[0, 1]], [[1, 0]]])(
    "charge totals without refund objects: the newest wins, not the largest (delivery order %j)",
    async (perm) => {
      const id = await pendingOrder();
      const [pi, ch] = [uid("pi_"), uid("ch_")];
      const totals = [chargeRefunded(pi, ch, 2500, t0() + 2), chargeRefunded(pi, ch, 1000, t0() + 5)];
      await deliverAll([checkoutCompleted(id, pi, t0()), ...perm.map((i) => totals[i])]);
      expect(await order(id)).toMatchObject({ status: "partially_refunded", amount_refunded: "1000" });
    },
  );
});

describe("latest_charge follows recency", () => {
  test("a late payment_failed does not move latest_charge back, so a refund of the paying charge still lands", async () => {
    const id = await pendingOrder();
    const [pi, failedCharge, paidCharge] = [uid("pi_"), uid("ch_"), uid("ch_")];
    await deliverAll([
      checkoutCompleted(id, pi, t0()),
      piSucceeded(pi, paidCharge, t0() + 20),
      piFailed(pi, t0() + 10, { latest_charge: failedCharge }), // the earlier attempt, delivered late
    ]);
    const [p] = await sql`select latest_charge_id from ops.payment_intents where stripe_payment_intent_id = ${pi}`;
    expect(p.latest_charge_id).toBe(paidCharge);
    // a refund known only by its charge
    await deliverAll([refundEvent(null, paidCharge, uid("re_"), 2500, "succeeded", t0() + 30, "refund.created")]);
    expect(await order(id)).toMatchObject({ status: "refunded", amount_refunded: "2500" });
  });
});
