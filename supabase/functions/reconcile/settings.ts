// The reconcile function's configuration, read at the start of each run (hourly, so a rotated key is
// picked up without a restart): the read-only Stripe key (its prefix says the mode), where Stripe's API
// is (STRIPE_API_BASE, a fake in tests), the windows and the time budget. Bad values fail the job
// permanently with a message that never holds the key.
import { permanent } from "../_shared/providers/error.ts";

export type ReconcileSettings = {
  key: string;
  /** The key's mode: rk_live_ / sk_live_ keys read live-mode data, rk_test_ / sk_test_ test-mode data. */
  livemode: boolean;
  /** A Connect platform's account (STRIPE_ACCOUNT_ID, as the webhook reads it), or null. */
  accountId: string | null;
  /** The SDK's host/port/protocol, from STRIPE_API_BASE (default https://api.stripe.com). */
  api: { host: string; port: number; protocol: "http" | "https" };
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
};

function int(env: Record<string, string | undefined>, key: string, fallback: number, min: number, max: number) {
  const raw = env[key]?.trim();
  const v = raw ? Number(raw) : fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw permanent(`${key} must be an integer from ${min} to ${max}`);
  return v;
}

export function reconcileSettings(env: Record<string, string | undefined>): ReconcileSettings {
  const key = env.STRIPE_RECONCILE_KEY?.trim() ?? "";
  if (!key) {
    throw permanent(
      "STRIPE_RECONCILE_KEY is not set: create a restricted key with read access to events, Checkout sessions, " +
        "payment intents and subscriptions, and set it with `supabase secrets set`",
    );
  }
  const mode = /^(?:rk|sk)_(live|test)_[A-Za-z0-9_]+$/.exec(key)?.[1];
  if (!mode) throw permanent("STRIPE_RECONCILE_KEY must be a Stripe restricted key (rk_live_... or rk_test_...)");
  const accountId = env.STRIPE_ACCOUNT_ID?.trim() || null;
  if (accountId !== null && !/^acct_[A-Za-z0-9]+$/.test(accountId)) {
    throw permanent("STRIPE_ACCOUNT_ID must be a Stripe account id (acct_...)");
  }
  let base: URL;
  try {
    base = new URL(env.STRIPE_API_BASE?.trim() || "https://api.stripe.com");
  } catch {
    throw permanent("STRIPE_API_BASE must be a URL such as https://api.stripe.com");
  }
  if (!["http:", "https:"].includes(base.protocol) || (base.pathname !== "/" && base.pathname !== "")) {
    throw permanent("STRIPE_API_BASE must be an http(s) origin without a path, such as https://api.stripe.com");
  }
  const protocol = base.protocol === "http:" ? "http" : "https";
  return {
    key,
    livemode: mode === "live",
    accountId,
    api: { host: base.hostname, port: Number(base.port || (protocol === "http" ? 80 : 443)), protocol },
    lookbackDays: int(env, "RECONCILE_LOOKBACK_DAYS", 3, 1, 30),
    graceSeconds: int(env, "RECONCILE_GRACE_SECONDS", 300, 0, 86_400),
    checkHours: int(env, "RECONCILE_CHECK_HOURS", 72, 1, 720),
    budgetMs: int(env, "RECONCILE_BUDGET_MS", 50_000, 1, 120_000),
    pageSize: int(env, "RECONCILE_PAGE_SIZE", 100, 1, 100),
    timeoutMs: int(env, "STRIPE_TIMEOUT_MS", 20_000, 1_000, 80_000),
  };
}
