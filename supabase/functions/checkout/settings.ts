// The checkout function's configuration, read when it starts: the Stripe key that creates customers and
// Checkout Sessions (its prefix says the mode, checked against ops.settings on every request), where
// Stripe's API is (STRIPE_API_BASE, a fake in tests), the return URLs the app may send buyers back to
// (allowlists: the first of each is the default) and the per-user rate. Without a key or return URLs
// checkout is not configured (null): the function answers 503 saying what to set.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { type StripeApi, stripeApi } from "../_shared/stripe/client.ts";
import { stripeAccountId } from "../_shared/stripe/scope.ts";

export type CheckoutSettings = {
  key: string;
  /** The key's mode: rk_live_ / sk_live_ keys create live-mode sessions. */
  livemode: boolean;
  accountId: string | null;
  api: StripeApi;
  timeoutMs: number;
  successUrls: string[];
  cancelUrls: string[];
  perUserPerMinute: number;
};

const returnUrls = () =>
  setting.list({
    item: /^https?:\/\/[^/\s]+\S*$/,
    expected: `must be http(s) URLs separated by commas (the first is the default), e.g. ` +
      `https://app.example.com/paid?session_id={CHECKOUT_SESSION_ID}`,
  });

const checkoutEnv = z.object({
  STRIPE_SECRET_KEY: setting.matching(
    /^(?:rk|sk)_(?:live|test)_[A-Za-z0-9_]+$/,
    "must be a Stripe secret or restricted key (rk_live_..., rk_test_..., sk_live_..., sk_test_...)",
  ),
  STRIPE_ACCOUNT_ID: stripeAccountId,
  STRIPE_API_BASE: setting.url("https://api.stripe.com"),
  STRIPE_TIMEOUT_MS: setting.int(20_000, 1_000, 80_000),
  CHECKOUT_SUCCESS_URLS: returnUrls(),
  CHECKOUT_CANCEL_URLS: returnUrls(),
  CHECKOUT_RATE_PER_USER_PER_MIN: setting.int(10, 1, 100_000),
});

/** The settings, or null with what is missing when checkout is not configured. */
export function checkoutSettings(env: Env): CheckoutSettings | { missing: string } {
  const e = parseEnv(checkoutEnv, env);
  const missing = [
    e.STRIPE_SECRET_KEY ? null : "STRIPE_SECRET_KEY",
    e.CHECKOUT_SUCCESS_URLS.length ? null : "CHECKOUT_SUCCESS_URLS",
    e.CHECKOUT_CANCEL_URLS.length ? null : "CHECKOUT_CANCEL_URLS",
  ].filter(Boolean);
  if (missing.length) return { missing: missing.join(", ") };
  return {
    key: e.STRIPE_SECRET_KEY!,
    livemode: e.STRIPE_SECRET_KEY!.includes("_live_"),
    accountId: e.STRIPE_ACCOUNT_ID ?? null,
    api: stripeApi(e.STRIPE_API_BASE),
    timeoutMs: e.STRIPE_TIMEOUT_MS,
    successUrls: e.CHECKOUT_SUCCESS_URLS,
    cancelUrls: e.CHECKOUT_CANCEL_URLS,
    perUserPerMinute: e.CHECKOUT_RATE_PER_USER_PER_MIN,
  };
}
