// Stripe's read API for reconciliation, through the official SDK (the client: _shared/stripe/client.ts):
// one page of a list at a time, and the compact shapes the database compares. stripe-node 23 retries
// connection errors, 409 and 5xx (maxNetworkRetries) but neither retries a 429 nor reads Retry-After
// (RequestSender._shouldRetry / _getSleepTimeInMS), so 429s are handled here: wait what Retry-After
// says when the time budget allows it, else defer the job.
import Stripe from "stripe";
import { type StripeErrorLike } from "../_shared/stripe/client.ts";
import { Deferral } from "../_shared/jobs/worker.ts";
import { parseRetryAfter, permanent, ProviderError } from "../_shared/providers/error.ts";
import { redact } from "../_shared/providers/redact.ts";

const MAX_RATE_LIMIT_WAITS = 5;

/** A call to Stripe that waits out 429s within the deadline (Retry-After, else 1 s doubling), else defers
 * the job; any other failure becomes a ProviderError (401/403 permanent, naming what to fix). */
export async function callStripe<T>(
  operation: string,
  call: () => Promise<T>,
  opts: { key: string; deadline: number; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let waits = 0;; waits++) {
    try {
      return await call();
    } catch (err) {
      const e = err as StripeErrorLike;
      if (e?.statusCode !== 429) throw stripeFailure(operation, err, opts.key);
      const wait = parseRetryAfter(e.headers?.["retry-after"]) ?? Math.min(1000 * 2 ** waits, 30_000);
      if (waits >= MAX_RATE_LIMIT_WAITS || performance.now() + wait > opts.deadline) {
        throw new Deferral(Math.max(wait, 1000), `Stripe rate limit on ${operation}: resuming from the checkpoint`);
      }
      await sleep(wait);
    }
  }
}

/** A failed Stripe call, classified for the job engine; the key never appears in the message. */
export function stripeFailure(operation: string, err: unknown, key: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as StripeErrorLike;
  const status = e?.statusCode;
  const detail = redact(e?.message ?? String(err), [key]);
  if (status === 401) {
    return permanent(`${operation}: Stripe refused STRIPE_RECONCILE_KEY (401): set a valid restricted key`, 401);
  }
  if (status === 403) {
    return permanent(
      `${operation}: the restricted key lacks a read permission (403: ${detail}); grant it read access to ` +
        "events, Checkout sessions, payment intents and subscriptions (with Connect: transfers, and payouts of " +
        "connected accounts)",
      403,
    );
  }
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 409) {
    return permanent(`${operation}: Stripe answered ${status} (${detail})`, status);
  }
  return new ProviderError(`${operation}: ${status ? `Stripe answered ${status}` : "no answer"} (${detail})`, {
    retryable: true,
    status,
    cause: err,
  });
}

const idOf = (v: unknown): string | null =>
  typeof v === "string" ? v : v && typeof v === "object" && "id" in v ? String((v as { id: unknown }).id) : null;

export type CompactSession = {
  id: string;
  status: string | null;
  payment_status: string | null;
  mode: string | null;
  amount_total: number | null;
  currency: string | null;
  payment_intent: string | null;
  order_ref: string | null;
  created: number;
  missing?: boolean;
};
export type CompactPaymentIntent = {
  id: string;
  status: string | null;
  amount: number | null;
  amount_received: number | null;
  currency: string | null;
  order_ref: string | null;
  created: number;
  missing?: boolean;
};
export type CompactSubscription = { id: string; status: string; customer: string | null; created: number };

export function compactSession(s: Stripe.Checkout.Session): CompactSession {
  return {
    id: s.id,
    status: s.status ?? null,
    payment_status: s.payment_status ?? null,
    mode: s.mode ?? null,
    amount_total: s.amount_total ?? null,
    currency: s.currency ?? null,
    payment_intent: idOf(s.payment_intent),
    // the app names its order in metadata.order_id, or client_reference_id (as ops.apply_checkout_session reads it)
    order_ref: s.metadata?.order_id ?? s.client_reference_id ?? null,
    created: s.created,
  };
}

export function compactPaymentIntent(p: Stripe.PaymentIntent): CompactPaymentIntent {
  return {
    id: p.id,
    status: p.status ?? null,
    amount: p.amount ?? null,
    amount_received: p.amount_received ?? null,
    currency: p.currency ?? null,
    order_ref: p.metadata?.order_id ?? null,
    created: p.created,
  };
}

export function compactSubscription(s: Stripe.Subscription): CompactSubscription {
  return { id: s.id, status: s.status, customer: idOf(s.customer), created: s.created };
}

/** A transfer to a seller's connected account, by the charge it was made from (source_transaction). */
export type CompactTransfer = {
  id: string;
  charge: string | null;
  destination: string | null;
  amount: number;
  created: number;
};
/** A payout of a connected account (listed with the Stripe-Account header). */
export type CompactPayout = {
  id: string;
  account: string;
  amount: number;
  currency: string;
  status: string;
  created: number;
  arrival_date: number | null;
};

export function compactTransfer(t: Stripe.Transfer): CompactTransfer {
  return {
    id: t.id,
    charge: idOf(t.source_transaction),
    destination: idOf(t.destination),
    amount: t.amount,
    created: t.created,
  };
}

export function compactPayout(p: Stripe.Payout, account: string): CompactPayout {
  return {
    id: p.id,
    account,
    amount: p.amount,
    currency: p.currency,
    status: p.status,
    created: p.created,
    arrival_date: p.arrival_date ?? null,
  };
}
