// Which Stripe events this deployment takes: its mode (STRIPE_LIVEMODE, test mode unless "true")
// and, for Connect, its platform account (STRIPE_ACCOUNT_ID). The database holds the same in
// ops.settings and refuses deliveries while the two disagree; events of another mode or account
// are recorded there as ignored, never applied.

export type Scope = { livemode: boolean; accountId: string | null };

export function parseScope(env: { get(name: string): string | undefined }): Scope {
  const mode = (env.get("STRIPE_LIVEMODE") ?? "").trim().toLowerCase();
  if (!["", "false", "true"].includes(mode)) throw new Error("STRIPE_LIVEMODE must be true or false");
  const accountId = (env.get("STRIPE_ACCOUNT_ID") ?? "").trim() || null;
  if (accountId !== null && !/^acct_[A-Za-z0-9]+$/.test(accountId)) {
    throw new Error("STRIPE_ACCOUNT_ID must be a Stripe account id (acct_...)");
  }
  return { livemode: mode === "true", accountId };
}
