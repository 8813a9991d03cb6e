// The Stripe side of checkout, through the official SDK (the client: _shared/stripe/client.ts): the two
// calls (a customer for a buyer without one, a Checkout Session) and what their failures mean to the app.
// The time spent waiting for Stripe is summed, so the answer can say how much of it was ours.
import Stripe from "stripe";
import type { HttpError } from "../_shared/http/error.ts";
import { stripeFailure as sharedStripeFailure } from "../_shared/stripe/failure.ts";

/** Stripe's time, per request: what the bench subtracts to get ours (Server-Timing: stripe;dur=). */
export class StripeClock {
  ms = 0;
  async time<T>(call: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await call();
    } finally {
      this.ms += performance.now() - t;
    }
  }
}

/** A failed Stripe call as the app reads it; the order and request stay, and the same idempotency_key retries. */
export function stripeFailure(what: string, err: unknown, key: string): HttpError {
  return sharedStripeFailure(
    "checkout",
    what,
    err,
    key,
    "nothing was charged; send the same idempotency_key again to resume",
  );
}

export type SessionAnswer = { id: string; url: string; expiresAt: string | null };

export async function createCustomer(
  stripe: Stripe,
  clock: StripeClock,
  key: string,
  userId: string,
  email: string | null,
): Promise<string> {
  try {
    const customer = await clock.time(() =>
      stripe.customers.create(
        { ...(email ? { email } : {}), metadata: { user_id: userId } },
        // one customer per user, however many checkouts race to create it (Stripe keeps keys 24 h)
        { idempotencyKey: `backbone-customer:${userId}` },
      )
    );
    return customer.id;
  } catch (err) {
    throw stripeFailure("create the buyer's Stripe customer", err, key);
  }
}

export async function createSession(
  stripe: Stripe,
  clock: StripeClock,
  key: string,
  params: Stripe.Checkout.SessionCreateParams,
  idempotencyKey: string,
): Promise<SessionAnswer> {
  try {
    const s = await clock.time(() => stripe.checkout.sessions.create(params, { idempotencyKey }));
    if (!s.url) throw new Error("the session has no url");
    return { id: s.id, url: s.url, expiresAt: s.expires_at ? new Date(s.expires_at * 1000).toISOString() : null };
  } catch (err) {
    throw stripeFailure("create the Checkout Session", err, key);
  }
}
