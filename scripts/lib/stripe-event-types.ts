// The Stripe event types each of our webhook endpoints must listen to (#19): exactly the types
// ops.apply_stripe_event routes (tests/integration/stripe-event-types.test.ts holds the two equal), split as
// Stripe sends them: the platform endpoint (stripe-webhook) gets the platform account's events, the Connect
// endpoint (stripe-webhook/connect, "events on connected accounts") our sellers' account and payout events.
// npm run setup creates the endpoints with these lists; the doctor compares the live endpoints with them.

export const PLATFORM_EVENT_TYPES = [
  "application_fee.created",
  "application_fee.refunded",
  "charge.captured",
  "charge.dispute.closed",
  "charge.dispute.created",
  "charge.dispute.funds_reinstated",
  "charge.dispute.funds_withdrawn",
  "charge.dispute.updated",
  "charge.refund.updated",
  "charge.refunded",
  "charge.succeeded",
  "checkout.session.async_payment_failed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.completed",
  "checkout.session.expired",
  "customer.created",
  "customer.deleted",
  "customer.subscription.created",
  "customer.subscription.deleted",
  "customer.subscription.paused",
  "customer.subscription.resumed",
  "customer.subscription.updated",
  "customer.updated",
  "invoice.paid",
  "invoice.payment_failed",
  "invoice.payment_succeeded",
  "payment_intent.canceled",
  "payment_intent.payment_failed",
  "payment_intent.succeeded",
  "refund.created",
  "refund.failed",
  "refund.updated",
  "transfer.created",
  "transfer.reversed",
  "transfer.updated",
] as const;

export const CONNECT_EVENT_TYPES = [
  "account.application.deauthorized",
  "account.updated",
  "payout.canceled",
  "payout.created",
  "payout.failed",
  "payout.paid",
  "payout.updated",
] as const;

/** Every type the dispatcher applies (the two endpoints' lists together). */
export const APPLIED_EVENT_TYPES = [...PLATFORM_EVENT_TYPES, ...CONNECT_EVENT_TYPES].sort();
