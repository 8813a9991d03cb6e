// Events of sellers' connected accounts (#18, Connect) as Stripe sends them to the Connect endpoint: the
// event names the account (`account`), account.updated carries the account object, payout.* the payout.
// Shapes follow Stripe's API reference (Accounts v1, Payouts); signed with the Connect endpoint's secret and
// delivered to /stripe-webhook/connect, for the demo and the tests. Then the platform's own events of a
// destination charge (the charge, the transfer to the seller, the application fee) and of its refund.
import { config } from "./config.ts";
import { checkoutCompleted } from "./scenarios.ts";
import { deliver, event, type Evt, uid } from "./stripe-events.ts";

// deno-lint-ignore no-explicit-any -- a Stripe object as its API answers it
type StripeObject = Record<string, any> & { id: string };

export const CONNECT_WEBHOOK_URL = `${config.functionUrl("stripe-webhook")}/connect`;

type Opts = { created?: number; id?: string };
const envelope = (type: string, account: string, object: Record<string, unknown>, o: Opts): Evt => ({
  id: o.id ?? uid("evt_"),
  object: "event",
  api_version: "2025-10-29.clover",
  account,
  created: o.created ?? Math.floor(Date.now() / 1000),
  livemode: config.stripeLivemode,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  type,
  data: { object },
});

export type AccountState = {
  charges_enabled?: boolean;
  payouts_enabled?: boolean;
  details_submitted?: boolean;
  currently_due?: string[];
  past_due?: string[];
  eventually_due?: string[];
  current_deadline?: number | null;
  disabled_reason?: string | null;
};

/** account.updated of `account` with the given state (an enabled, fully onboarded account by default). */
export function accountUpdated(account: string, s: AccountState = {}, o: Opts = {}): Evt {
  const currently = s.currently_due ?? [];
  return envelope("account.updated", account, {
    id: account,
    object: "account",
    type: "express",
    country: "US",
    default_currency: "usd",
    charges_enabled: s.charges_enabled ?? true,
    payouts_enabled: s.payouts_enabled ?? true,
    details_submitted: s.details_submitted ?? true,
    controller: { type: "application", stripe_dashboard: { type: "express" } },
    capabilities: { card_payments: "active", transfers: "active" },
    requirements: {
      alternatives: [],
      current_deadline: s.current_deadline ?? null,
      currently_due: currently,
      disabled_reason: s.disabled_reason ?? null,
      errors: [],
      eventually_due: s.eventually_due ?? currently,
      past_due: s.past_due ?? [],
      pending_verification: [],
    },
    metadata: {},
  }, o);
}

/** account.application.deauthorized: the seller disconnected `account` from the platform. */
export function accountDeauthorized(account: string, o: Opts = {}): Evt {
  return envelope("account.application.deauthorized", account, {
    id: uid("ca_"),
    object: "application",
    name: "Backbone marketplace",
  }, o);
}

export type PayoutState = {
  status: "pending" | "in_transit" | "paid" | "failed" | "canceled";
  amount?: number;
  currency?: string;
  failure_code?: string | null;
  failure_message?: string | null;
  arrival_date?: number;
};

/** payout.<type> of a payout on `account`. */
export function payoutEvent(type: string, account: string, payout: string, s: PayoutState, o: Opts = {}): Evt {
  const created = o.created ?? Math.floor(Date.now() / 1000);
  return envelope(type, account, {
    id: payout,
    object: "payout",
    amount: s.amount ?? 12050,
    arrival_date: s.arrival_date ?? created + 2 * 86400,
    automatic: true,
    currency: s.currency ?? "usd",
    destination: uid("ba_"),
    failure_balance_transaction: s.status === "failed" ? uid("txn_") : null,
    failure_code: s.failure_code ?? null,
    failure_message: s.failure_message ?? null,
    method: "standard",
    status: s.status,
    type: "bank_account",
    livemode: config.stripeLivemode,
    created,
  }, { ...o, created });
}

/** POSTs a signed event to the Connect endpoint (its first secret unless `secret` says otherwise). */
export function deliverConnect(evt: Evt | string, opts: { secret?: string } = {}) {
  return deliver(evt, { secret: opts.secret ?? config.stripeConnectWebhookSecrets[0], url: CONNECT_WEBHOOK_URL });
}

// ---------------------------------------------------------------- a destination charge's platform events
/** An event of any object, in a real envelope (a fixture's), as Stripe sends it. */
export function connectEvent(type: string, object: StripeObject, created: number): Evt {
  const e = event("charge_refunded", {}, { type, created });
  return { ...e, data: { object } };
}

/** A paid destination charge's events, as Stripe documents them: the session, the charge (transfer_data,
 * transfer, application_fee), the transfer (source_transaction = the charge) and the application fee
 * (originating_transaction = the platform's charge). */
export function destinationPayment(
  orderId: string,
  session: StripeObject,
  account: string,
  amount: number,
  fee: number,
  t: number,
) {
  const s = { account };
  const currency = String(session.currency ?? "usd");
  const ids = { pi: uid("pi_"), ch: uid("ch_"), tr: uid("tr_"), fee: uid("fee_"), py: uid("py_") };
  const charge = {
    id: ids.ch,
    object: "charge",
    amount,
    amount_captured: amount,
    amount_refunded: 0,
    captured: true,
    paid: true,
    refunded: false,
    status: "succeeded",
    currency,
    payment_intent: ids.pi,
    customer: session.customer,
    metadata: {},
    application_fee: ids.fee,
    application_fee_amount: fee,
    destination: s.account,
    on_behalf_of: null,
    transfer: ids.tr,
    transfer_data: { amount: null, destination: s.account },
    transfer_group: `group_${ids.pi}`,
    refunds: { object: "list", data: [], has_more: false, url: `/v1/charges/${ids.ch}/refunds` },
    created: t,
  };
  const transfer = {
    id: ids.tr,
    object: "transfer",
    amount: amount - fee,
    amount_reversed: 0,
    currency,
    created: t,
    description: null,
    destination: s.account,
    destination_payment: ids.py,
    livemode: config.stripeLivemode,
    metadata: {},
    reversals: { object: "list", data: [], has_more: false, url: `/v1/transfers/${ids.tr}/reversals` },
    reversed: false,
    source_transaction: ids.ch,
    source_type: "card",
    transfer_group: `group_${ids.pi}`,
  };
  const applicationFee = {
    id: ids.fee,
    object: "application_fee",
    account: s.account,
    amount: fee,
    amount_refunded: 0,
    application: "ca_backbone",
    balance_transaction: uid("txn_"),
    charge: ids.py,
    created: t,
    currency,
    livemode: config.stripeLivemode,
    originating_transaction: ids.ch,
    refunded: false,
    refunds: { object: "list", data: [], has_more: false, url: `/v1/application_fees/${ids.fee}/refunds` },
  };
  const events = [
    checkoutCompleted(orderId, ids.pi, t, {
      id: session.id,
      customer: session.customer,
      amount_subtotal: session.amount_subtotal,
      amount_total: session.amount_total,
      currency: session.currency,
    }),
    connectEvent("charge.succeeded", charge, t + 1),
    connectEvent("transfer.created", transfer, t + 1),
    connectEvent("application_fee.created", applicationFee, t + 2),
  ];
  return { ids, charge, transfer, applicationFee, events };
}

/** The refund of the whole destination charge with reverse_transfer and refund_application_fee, as Stripe reports it. */
export function destinationRefund(p: ReturnType<typeof destinationPayment>, t: number) {
  const re = uid("re_");
  const trr = uid("trr_");
  const amount = p.charge.amount;
  const currency = p.charge.currency;
  const reversed = p.transfer.amount;
  return [
    connectEvent("charge.refunded", {
      ...p.charge,
      amount_refunded: amount,
      refunded: true,
      refunds: {
        ...p.charge.refunds,
        data: [{
          id: re,
          object: "refund",
          amount,
          charge: p.ids.ch,
          payment_intent: p.ids.pi,
          currency,
          status: "succeeded",
          transfer_reversal: trr,
          created: t,
        }],
      },
    }, t),
    connectEvent("transfer.reversed", {
      ...p.transfer,
      amount_reversed: reversed,
      reversed: true,
      reversals: {
        ...p.transfer.reversals,
        data: [{
          id: trr,
          object: "transfer_reversal",
          amount: reversed,
          currency,
          created: t,
          destination_payment_refund: uid("pyr_"),
          source_refund: re,
          transfer: p.ids.tr,
          metadata: {},
        }],
      },
    }, t),
    connectEvent("application_fee.refunded", {
      ...p.applicationFee,
      amount_refunded: p.applicationFee.amount,
      refunded: true,
    }, t + 1),
  ];
}
