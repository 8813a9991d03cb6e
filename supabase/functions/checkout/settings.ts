// The checkout function's configuration, read when it starts: the Stripe key that creates customers and
// Checkout Sessions (its prefix says the mode, checked against ops.settings on every request), where
// Stripe's API is (STRIPE_API_BASE, a fake in tests), the return URLs the app may send buyers back to
// (allowlists: the first of each is the default) and the per-user rate. Without a key or return URLs
// checkout is not configured (null): the function answers 503 saying what to set.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { stripeKeyEnv, type StripeKeySettings, stripeKeySettings, urlAllowlist } from "../_shared/stripe/secret-key.ts";

export type CheckoutSettings = StripeKeySettings & {
  successUrls: string[];
  cancelUrls: string[];
  perUserPerMinute: number;
};

const returnUrls = () => urlAllowlist("https://app.example.com/paid?session_id={CHECKOUT_SESSION_ID}");

const checkoutEnv = z.object({
  ...stripeKeyEnv,
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
    ...stripeKeySettings({ ...e, STRIPE_SECRET_KEY: e.STRIPE_SECRET_KEY! }),
    successUrls: e.CHECKOUT_SUCCESS_URLS,
    cancelUrls: e.CHECKOUT_CANCEL_URLS,
    perUserPerMinute: e.CHECKOUT_RATE_PER_USER_PER_MIN,
  };
}
