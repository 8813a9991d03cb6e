// The billing-portal function's configuration, read when it starts: the Stripe key that creates Billing Portal
// sessions (_shared/stripe/secret-key.ts), the URLs Stripe may send a customer back to from the portal (an
// allowlist, the first the default) and the per-user rate. Without a key or those URLs the function is not
// configured: it answers 503 saying what to set.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { stripeKeyEnv, type StripeKeySettings, stripeKeySettings, urlAllowlist } from "../_shared/stripe/secret-key.ts";

export type PortalSettings = StripeKeySettings & { returnUrls: string[]; perUserPerMinute: number };

const portalEnv = z.object({
  ...stripeKeyEnv,
  BILLING_PORTAL_RETURN_URLS: urlAllowlist("https://app.example.com/billing"),
  BILLING_PORTAL_RATE_PER_USER_PER_MIN: setting.int(10, 1, 100_000),
});

/** The settings, or what is missing when the function is not configured. */
export function portalSettings(env: Env): PortalSettings | { missing: string } {
  const e = parseEnv(portalEnv, env);
  const missing = [
    e.STRIPE_SECRET_KEY ? null : "STRIPE_SECRET_KEY",
    e.BILLING_PORTAL_RETURN_URLS.length ? null : "BILLING_PORTAL_RETURN_URLS",
  ].filter(Boolean);
  if (missing.length) return { missing: missing.join(", ") };
  return {
    ...stripeKeySettings({ ...e, STRIPE_SECRET_KEY: e.STRIPE_SECRET_KEY! }),
    returnUrls: e.BILLING_PORTAL_RETURN_URLS,
    perUserPerMinute: e.BILLING_PORTAL_RATE_PER_USER_PER_MIN,
  };
}
