// The reconcile function's configuration, read when it starts: the read-only Stripe key (its prefix
// says the mode), where Stripe's API is (STRIPE_API_BASE, a fake in tests), the windows and the time
// budget. No key means nothing to reconcile with (null); a bad value stops the function at start with
// a message that never holds the key.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { type StripeApi, stripeApi } from "../_shared/stripe/client.ts";
import { stripeAccountId } from "../_shared/stripe/scope.ts";

export type ReconcileSettings = {
  key: string;
  /** The key's mode: rk_live_ / sk_live_ keys read live-mode data, rk_test_ / sk_test_ test-mode data. */
  livemode: boolean;
  /** A Connect platform's account (STRIPE_ACCOUNT_ID, as the webhook reads it), or null. */
  accountId: string | null;
  /** The SDK's host/port/protocol, from STRIPE_API_BASE (default https://api.stripe.com). */
  api: StripeApi;
  /** How far the first pass looks back (days, at most Stripe's 30). */
  lookbackDays: number;
  /** How long after its creation an event may still be on its way to the webhook: newer ones wait for the next run. */
  graceSeconds: number;
  /** How far back payments and orders are cross-checked (hours). */
  checkHours: number;
  /** How long one invocation works before it hands the rest to the next (ms). */
  budgetMs: number;
  /** Objects per list request (Stripe allows 1-100). */
  pageSize: number;
  timeoutMs: number;
  /** Connected accounts whose payouts one run lists (those checked longest ago first). */
  connectAccounts: number;
};

const reconcileEnv = z.object({
  STRIPE_RECONCILE_KEY: setting.matching(
    /^(?:rk|sk)_(?:live|test)_[A-Za-z0-9_]+$/,
    "must be a Stripe restricted key (rk_live_... or rk_test_...)",
  ),
  STRIPE_ACCOUNT_ID: stripeAccountId,
  STRIPE_API_BASE: setting.url("https://api.stripe.com"),
  RECONCILE_LOOKBACK_DAYS: setting.int(3, 1, 30),
  RECONCILE_GRACE_SECONDS: setting.int(300, 0, 86_400),
  RECONCILE_CHECK_HOURS: setting.int(72, 1, 720),
  RECONCILE_BUDGET_MS: setting.int(50_000, 1, 120_000),
  RECONCILE_PAGE_SIZE: setting.int(100, 1, 100),
  STRIPE_TIMEOUT_MS: setting.int(20_000, 1_000, 80_000),
  RECONCILE_CONNECT_ACCOUNTS: setting.int(25, 0, 500),
});

/** The settings, or null when STRIPE_RECONCILE_KEY is not set (a local stack, a project without the key). */
export function reconcileSettings(env: Env): ReconcileSettings | null {
  const e = parseEnv(reconcileEnv, env);
  if (!e.STRIPE_RECONCILE_KEY) return null;
  return {
    key: e.STRIPE_RECONCILE_KEY,
    livemode: e.STRIPE_RECONCILE_KEY.includes("_live_"),
    accountId: e.STRIPE_ACCOUNT_ID ?? null,
    api: stripeApi(e.STRIPE_API_BASE),
    lookbackDays: e.RECONCILE_LOOKBACK_DAYS,
    graceSeconds: e.RECONCILE_GRACE_SECONDS,
    checkHours: e.RECONCILE_CHECK_HOURS,
    budgetMs: e.RECONCILE_BUDGET_MS,
    pageSize: e.RECONCILE_PAGE_SIZE,
    timeoutMs: e.STRIPE_TIMEOUT_MS,
    connectAccounts: e.RECONCILE_CONNECT_ACCOUNTS,
  };
}
