// Events of sellers' connected accounts (#18, Connect) as Stripe sends them to the Connect endpoint: the
// event names the account (`account`), account.updated carries the account object, payout.* the payout.
// Shapes follow Stripe's API reference (Accounts v1, Payouts); signed with the Connect endpoint's secret and
// delivered to /stripe-webhook/connect, for the demo and the tests.
import { config } from "./config.ts";
import { deliver, type Evt, uid } from "./stripe-events.ts";

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
