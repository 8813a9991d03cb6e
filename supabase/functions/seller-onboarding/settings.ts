// The seller-onboarding function's configuration, read when it starts: the Stripe key that creates connected
// accounts and Account Links (_shared/stripe/secret-key.ts), the URLs Stripe sends a seller back to after
// onboarding (return) or when a link expired (refresh), both allowlists, and the per-user rate. Without a key or
// those URLs the function is not configured: it answers 503 saying what to set.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { stripeKeyEnv, type StripeKeySettings, stripeKeySettings, urlAllowlist } from "../_shared/stripe/secret-key.ts";

export type OnboardingSettings = StripeKeySettings & {
  returnUrls: string[];
  refreshUrls: string[];
  perUserPerMinute: number;
};

const onboardingEnv = z.object({
  ...stripeKeyEnv,
  SELLER_ONBOARDING_RETURN_URLS: urlAllowlist("https://app.example.com/seller/onboarding/done"),
  SELLER_ONBOARDING_REFRESH_URLS: urlAllowlist("https://app.example.com/seller/onboarding"),
  SELLER_ONBOARDING_RATE_PER_USER_PER_MIN: setting.int(10, 1, 100_000),
});

/** The settings, or what is missing when the function is not configured. */
export function onboardingSettings(env: Env): OnboardingSettings | { missing: string } {
  const e = parseEnv(onboardingEnv, env);
  const missing = [
    e.STRIPE_SECRET_KEY ? null : "STRIPE_SECRET_KEY",
    e.SELLER_ONBOARDING_RETURN_URLS.length ? null : "SELLER_ONBOARDING_RETURN_URLS",
    e.SELLER_ONBOARDING_REFRESH_URLS.length ? null : "SELLER_ONBOARDING_REFRESH_URLS",
  ].filter(Boolean);
  if (missing.length) return { missing: missing.join(", ") };
  return {
    ...stripeKeySettings({ ...e, STRIPE_SECRET_KEY: e.STRIPE_SECRET_KEY! }),
    returnUrls: e.SELLER_ONBOARDING_RETURN_URLS,
    refreshUrls: e.SELLER_ONBOARDING_REFRESH_URLS,
    perUserPerMinute: e.SELLER_ONBOARDING_RATE_PER_USER_PER_MIN,
  };
}
