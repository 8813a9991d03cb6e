// A failed renewal and its recovery as Stripe sends them (#20), built from the real invoice.paid payload
// (tests/fixtures/stripe-events/invoice_paid.json): invoice.payment_failed (billing_reason subscription_cycle,
// attempt n, the hosted invoice page), the subscription's move to past_due and back to active, and invoice.paid.
// For the tests, the bench and the demo's dunning step: deliver them with stripe-events.ts's deliver().
import { event, type Evt, uid } from "./stripe-events.ts";

export type Renewal = {
  /** the Stripe customer and subscription (the subscription's metadata.user_id links the customer to the app user) */
  customer: string;
  subscription: string;
  invoice: string;
  userId?: string;
  amount?: number;
  currency?: string;
};

/** A renewal of `customer`'s subscription, with fresh invoice and (unless given) subscription ids. */
export function renewal(customer: string, opts: Partial<Renewal> = {}): Required<Omit<Renewal, "userId">> & Renewal {
  return {
    customer,
    subscription: opts.subscription ?? uid("sub_"),
    invoice: opts.invoice ?? uid("in_"),
    amount: opts.amount ?? 2900,
    currency: opts.currency ?? "usd",
    userId: opts.userId,
  };
}

function invoiceObject(r: Renewal, paid: boolean, attempt: number) {
  const amount = r.amount ?? 2900;
  return {
    id: r.invoice,
    customer: r.customer,
    subscription: r.subscription,
    billing_reason: "subscription_cycle",
    status: paid ? "paid" : "open",
    paid,
    amount_due: amount,
    amount_paid: paid ? amount : 0,
    amount_remaining: paid ? 0 : amount,
    currency: r.currency ?? "usd",
    attempt_count: attempt,
    attempted: true,
    number: `${r.invoice.slice(3, 11).toUpperCase()}-0002`,
    hosted_invoice_url: `https://invoice.stripe.com/i/acct_fake/test_${r.invoice}`,
    subscription_details: { metadata: r.userId ? { user_id: r.userId } : {} },
  };
}

/** invoice.payment_failed for attempt `attempt` (1: the renewal's first failure) at Stripe time `t`. */
export function invoiceFailed(r: Renewal, t: number, attempt = 1, id?: string): Evt {
  return event("invoice_paid", invoiceObject(r, false, attempt), { type: "invoice.payment_failed", created: t, id });
}

/** invoice.paid (the card updated, or a retry that went through) at Stripe time `t`. */
export function invoicePaid(r: Renewal, t: number, id?: string): Evt {
  return event("invoice_paid", invoiceObject(r, true, 1), { type: "invoice.paid", created: t, id });
}

/** customer.subscription.updated to `status` (active, past_due, unpaid) at Stripe time `t`. */
export function subscriptionStatus(r: Renewal, status: string, t: number, type = "customer.subscription.updated"): Evt {
  return event(
    type === "customer.subscription.created" ? "subscription_created" : "subscription_updated",
    { id: r.subscription, customer: r.customer, status, metadata: r.userId ? { user_id: r.userId } : {} },
    { created: t, type },
  );
}

/** The life the demo shows: a subscription that is active, a renewal that fails (the subscription goes past_due),
 * then the invoice paid and the subscription active again; `t` is the first event's Stripe time. */
export function failedThenRecovered(r: Renewal, t: number): { failed: Evt[]; recovered: Evt[]; created: Evt } {
  return {
    created: subscriptionStatus(r, "active", t, "customer.subscription.created"),
    failed: [invoiceFailed(r, t + 1), subscriptionStatus(r, "past_due", t + 1)],
    recovered: [invoicePaid(r, t + 2), subscriptionStatus(r, "active", t + 2)],
  };
}
