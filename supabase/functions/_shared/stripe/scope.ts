// Which Stripe events this deployment takes: its mode (STRIPE_LIVEMODE, test mode unless "true")
// and, for Connect, its platform account (STRIPE_ACCOUNT_ID). The database holds the same in
// ops.settings and refuses deliveries while the two disagree; events of another mode or account
// are recorded there as ignored, never applied. The webhook reads both; reconcile the account.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";

export type Scope = { livemode: boolean; accountId: string | null };

export const stripeAccountId = setting.matching(/^acct_[A-Za-z0-9]+$/, "must be a Stripe account id (acct_...)");

const scopeEnv = z.object({ STRIPE_LIVEMODE: setting.bool(false), STRIPE_ACCOUNT_ID: stripeAccountId });

export function parseScope(env: Env): Scope {
  const e = parseEnv(scopeEnv, env);
  return { livemode: e.STRIPE_LIVEMODE, accountId: e.STRIPE_ACCOUNT_ID ?? null };
}
