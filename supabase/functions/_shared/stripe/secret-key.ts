// The settings of a function that calls Stripe with the deployment's secret key (STRIPE_SECRET_KEY): the key
// (its prefix says the mode, checked against ops.settings on every request), the platform account, where
// Stripe's API is (STRIPE_API_BASE, a fake in tests), its timeout; and allowlists of the URLs Stripe may send
// a user back to (the first is the default; never a URL the app made up).
import { z } from "zod";
import { setting } from "../config/env.ts";
import { type StripeApi, stripeApi } from "./client.ts";
import { stripeAccountId } from "./scope.ts";

export type StripeKeySettings = {
  key: string;
  /** The key's mode: rk_live_ / sk_live_ keys act in live mode. */
  livemode: boolean;
  accountId: string | null;
  api: StripeApi;
  timeoutMs: number;
};

export const stripeKeyEnv = {
  STRIPE_SECRET_KEY: setting.matching(
    /^(?:rk|sk)_(?:live|test)_[A-Za-z0-9_]+$/,
    "must be a Stripe secret or restricted key (rk_live_..., rk_test_..., sk_live_..., sk_test_...)",
  ),
  STRIPE_ACCOUNT_ID: stripeAccountId,
  STRIPE_API_BASE: setting.url("https://api.stripe.com"),
  STRIPE_TIMEOUT_MS: setting.int(20_000, 1_000, 80_000),
};

type StripeKeyEnv = z.output<z.ZodObject<typeof stripeKeyEnv>>;

/** The parsed key settings (STRIPE_SECRET_KEY present). */
export function stripeKeySettings(e: StripeKeyEnv & { STRIPE_SECRET_KEY: string }): StripeKeySettings {
  return {
    key: e.STRIPE_SECRET_KEY,
    livemode: e.STRIPE_SECRET_KEY.includes("_live_"),
    accountId: e.STRIPE_ACCOUNT_ID ?? null,
    api: stripeApi(e.STRIPE_API_BASE),
    timeoutMs: e.STRIPE_TIMEOUT_MS,
  };
}

/** A comma list of http(s) URLs; `example` shows one in the error. */
export const urlAllowlist = (example: string) =>
  setting.list({
    item: /^https?:\/\/[^/\s]+\S*$/,
    expected: `must be http(s) URLs separated by commas (the first is the default), e.g. ${example}`,
  });

/** One of the allowed URLs (the first when the app names none), else undefined: never a URL the app made up. */
export function pickAllowedUrl(asked: string | undefined, allowed: string[]): string | undefined {
  if (asked === undefined) return allowed[0];
  return allowed.includes(asked) ? asked : undefined;
}
