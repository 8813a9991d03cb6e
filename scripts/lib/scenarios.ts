// Linked Stripe event scenarios built from the shared real payloads, for the demo, the bench and the
// tests: one order's payment life, one customer's subscription life. Times increase by one second
// per step, as Stripe's would. `extra` overrides fields of the object; `opts.id` names the event and
// `opts.livemode` sets its mode.
import { event, type Evt, uid } from "./stripe-events.ts";

type Fields = Record<string, unknown>;
type EventOpts = { id?: string; livemode?: boolean };

export function checkoutCompleted(
  orderId: string | null,
  pi: string,
  t: number,
  extra: Fields = {},
  opts: EventOpts = {},
) {
  return event("checkout_session_completed", {
    id: uid("cs_test_"),
    client_reference_id: orderId,
    metadata: orderId ? { order_id: orderId } : {},
    payment_intent: pi,
    payment_status: "paid",
    status: "complete",
    amount_subtotal: 2500,
    amount_total: 2500,
    currency: "usd",
    customer: null,
    ...extra,
  }, { created: t, ...opts });
}

/** A session that expired unpaid (Stripe's retry pattern expires the abandoned one). */
export function checkoutExpired(orderId: string | null, pi: string | null, t: number, extra: Fields = {}) {
  return event("checkout_session_completed", {
    id: uid("cs_test_"),
    client_reference_id: orderId,
    metadata: orderId ? { order_id: orderId } : {},
    payment_intent: pi,
    payment_status: "unpaid",
    status: "expired",
    amount_subtotal: 2500,
    amount_total: 2500,
    currency: "usd",
    customer: null,
    ...extra,
  }, { created: t, type: "checkout.session.expired" });
}

export function piSucceeded(pi: string, charge: string, t: number, extra: Fields = {}, opts: EventOpts = {}) {
  return event("payment_intent_succeeded", {
    id: pi,
    amount: 2500,
    amount_received: 2500,
    status: "succeeded",
    currency: "usd",
    latest_charge: charge,
    customer: null,
    metadata: {},
    ...extra,
  }, { created: t, ...opts });
}

export function piFailed(pi: string, t: number, extra: Fields = {}) {
  return event(
    "payment_intent_payment_failed",
    { id: pi, amount: 2500, currency: "usd", customer: null, metadata: {}, ...extra },
    { created: t },
  );
}

export function piCanceled(pi: string, t: number) {
  return event(
    "payment_intent_payment_failed",
    { id: pi, amount: 2500, currency: "usd", status: "canceled", customer: null, metadata: {} },
    { created: t, type: "payment_intent.canceled" },
  );
}

/** A refund object event (refund.created, refund.updated, refund.failed) in its state `status`. */
export function refundEvent(
  pi: string | null,
  charge: string,
  id: string,
  amount: number,
  status: string,
  t: number,
  type = "refund.updated",
) {
  return event("refund_created", { id, payment_intent: pi, charge, amount, status, currency: "usd" }, {
    created: t,
    type,
  });
}

export function chargeRefunded(
  pi: string,
  charge: string,
  amountRefunded: number,
  t: number,
  extra: Fields = {},
  opts: EventOpts = {},
) {
  return event("charge_refunded", {
    id: charge,
    payment_intent: pi,
    amount: 2500,
    amount_refunded: amountRefunded,
    refunded: amountRefunded >= 2500,
    currency: "usd",
    status: "succeeded",
    refunds: { object: "list", data: [] },
    customer: null,
    metadata: {},
    ...extra,
  }, { created: t, ...opts });
}

export function dispute(pi: string, charge: string, status: string, t: number, id: string) {
  const type = ["won", "lost", "warning_closed"].includes(status) ? "charge.dispute.closed" : "charge.dispute.created";
  const name = type === "charge.dispute.closed" ? "charge_dispute_closed" : "charge_dispute_created";
  return event(name, { id, payment_intent: pi, charge, status, amount: 2500, currency: "usd" }, { created: t, type });
}

/** A customer.updated for Stripe customer `customer` (email and name set; null email: a customer the CRM does not see). */
export function customerUpdated(
  customer: string,
  email: string | null,
  t: number,
  extra: Fields = {},
  opts: EventOpts = {},
) {
  return event("customer_updated", { id: customer, email, name: `Customer ${customer}`, metadata: {}, ...extra }, {
    created: t,
    ...opts,
  });
}

/** The five payment lives a marketplace order can have, and the status each must end in. */
export const ORDER_VARIANTS = [
  {
    name: "paid",
    expect: "paid",
    build: (o: string, pi: string, ch: string, t: number) => [checkoutCompleted(o, pi, t), piSucceeded(pi, ch, t + 1)],
  },
  {
    name: "partial refund",
    expect: "partially_refunded",
    build: (
      o: string,
      pi: string,
      ch: string,
      t: number,
    ) => [checkoutCompleted(o, pi, t), piSucceeded(pi, ch, t + 1), chargeRefunded(pi, ch, 1000, t + 2)],
  },
  {
    name: "two refunds",
    expect: "refunded",
    build: (
      o: string,
      pi: string,
      ch: string,
      t: number,
    ) => [
      checkoutCompleted(o, pi, t),
      piSucceeded(pi, ch, t + 1),
      chargeRefunded(pi, ch, 1000, t + 2),
      chargeRefunded(pi, ch, 2500, t + 3),
    ],
  },
  {
    name: "dispute won",
    expect: "paid",
    build: (o: string, pi: string, ch: string, t: number) => {
      const dp = uid("dp_");
      return [
        checkoutCompleted(o, pi, t),
        piSucceeded(pi, ch, t + 1),
        dispute(pi, ch, "needs_response", t + 2, dp),
        dispute(pi, ch, "won", t + 3, dp),
      ];
    },
  },
  {
    name: "failed payment",
    expect: "payment_failed",
    build: (
      o: string,
      pi: string,
      _ch: string,
      t: number,
    ) => [checkoutCompleted(o, pi, t, { payment_status: "unpaid" }), piFailed(pi, t + 1)],
  },
] as const;

/** One subscription's events through `statuses` (created, then updated, deleted for canceled), a second apart;
 * `metadata` (e.g. `{ user_id }`) on each, as the app's checkout sets it. */
export function subscriptionEvents(
  customer: string,
  sub: string,
  statuses: string[],
  t: number,
  metadata: Record<string, string> = {},
): Evt[] {
  return statuses.map((status, i) => {
    const type = i === 0
      ? "customer.subscription.created"
      : status === "canceled"
      ? "customer.subscription.deleted"
      : "customer.subscription.updated";
    const name = i === 0
      ? "subscription_created"
      : status === "canceled"
      ? "subscription_deleted"
      : "subscription_updated";
    return event(name, { id: sub, customer, status, metadata }, { created: t + i, type });
  });
}

export function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((p) => [x, ...p]));
}

/** Fisher-Yates with a seeded generator, so a failing order can be reproduced. */
export function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
