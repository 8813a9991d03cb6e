// The Stripe event types the dispatcher (ops.apply_stripe_event, SQL) applies, as the two webhook endpoints
// must subscribe to them: the one list the doctor checks endpoints against and setup creates them with.
// tests/unit/stripe-event-types.test.ts parses the latest migration defining the dispatcher and fails when
// this list and its routes differ (Stripe subscribes to exact types: its `charge.dispute.%` route is spelled
// out here as the five dispute types Stripe sends).

/** Events of the platform's own account: POST <SUPABASE_URL>/functions/v1/stripe-webhook */
export const PLATFORM_EVENT_TYPES = [
  "checkout.session.completed",
  "checkout.session.async_payment_succeeded",
  "checkout.session.async_payment_failed",
  "checkout.session.expired",
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_intent.canceled",
  "charge.refunded",
  "charge.succeeded",
  "charge.captured",
  "refund.created",
  "refund.updated",
  "refund.failed",
  "charge.refund.updated",
  "charge.dispute.created",
  "charge.dispute.updated",
  "charge.dispute.closed",
  "charge.dispute.funds_withdrawn",
  "charge.dispute.funds_reinstated",
  "invoice.paid",
  "invoice.payment_succeeded",
  "invoice.payment_failed",
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "customer.subscription.paused",
  "customer.subscription.resumed",
  "customer.created",
  "customer.updated",
  "customer.deleted",
  "transfer.created",
  "transfer.updated",
  "transfer.reversed",
  "application_fee.created",
  "application_fee.refunded",
] as const;

/** Events on sellers' connected accounts (#18): POST <SUPABASE_URL>/functions/v1/stripe-webhook/connect */
export const CONNECT_EVENT_TYPES = [
  "account.updated",
  "account.application.deauthorized",
  "payout.created",
  "payout.updated",
  "payout.paid",
  "payout.failed",
  "payout.canceled",
] as const;

export type WebhookEndpointKind = "platform" | "connect";

/** Our two endpoints' URLs for a deployment's SUPABASE_URL, with the event types each must listen to. */
export function webhookEndpoints(supabaseUrl: string): Array<
  { kind: WebhookEndpointKind; url: string; events: readonly string[] }
> {
  const base = `${supabaseUrl.replace(/\/+$/, "")}/functions/v1/stripe-webhook`;
  return [
    { kind: "platform", url: base, events: PLATFORM_EVENT_TYPES },
    { kind: "connect", url: `${base}/connect`, events: CONNECT_EVENT_TYPES },
  ];
}
