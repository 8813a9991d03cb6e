// A seller's onboarding: validated, rate limited per user, then ops.seller_onboarding_begin says who they are
// (a seller with a country and an email, or a refusal) and which account is recorded. A seller without one gets
// a connected account created ONCE (Stripe idempotency key from the user id, so a double tap or a retry after a
// lost answer gets the same account) and recorded (first write wins); then a fresh Account Link to Stripe's
// hosted onboarding, with return and refresh URLs from the deployment's allowlists.
import type postgres from "postgres";
import type Stripe from "stripe";
import { z } from "zod";
import { HttpError, raisedByUs } from "../_shared/http/error.ts";
import { parseJsonBody } from "../_shared/http/body.ts";
import { spendPerMinute } from "../_shared/http/request-fields.ts";
import type { Reply } from "../_shared/http/serve.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { log } from "../_shared/log.ts";
import { stripeFailure } from "../_shared/stripe/failure.ts";
import { pickAllowedUrl } from "../_shared/stripe/secret-key.ts";
import type { OnboardingSettings } from "./settings.ts";

const url = (field: string) => z.string().max(2000, `${field} is at most 2,000 characters`);
export const requestSchema = z.object({
  return_url: url("return_url").optional(),
  refresh_url: url("refresh_url").optional(),
}).strict();
const SHAPE = "{return_url?, refresh_url?} (or an empty body)";

const begun = z.object({
  email: z.string().nullable(),
  country: z.string().nullable(),
  stripe_account_id: z.string().nullable(),
  charges_enabled: z.boolean(),
  payouts_enabled: z.boolean(),
  details_submitted: z.boolean(),
});
const recorded = begun.pick({ charges_enabled: true, payouts_enabled: true, details_submitted: true })
  .extend({ stripe_account_id: z.string() });

const RETRY = "call seller-onboarding again";

/** Our refusals (SQLSTATE SO<status>, raised with a sentence), the Stripe mode check (503); never Postgres's text. */
function refusal(err: unknown): HttpError | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^SO\d{3}$/.test(code)) {
    return new HttpError(Number(code.slice(2)), raisedByUs(err) ?? "onboarding is refused for this account", {
      cause: err,
      reason: "refused",
    });
  }
  if (code === "55000") {
    log("error", "seller-onboarding", raisedByUs(err) ?? "Stripe scope mismatch");
    return new HttpError(
      503,
      "seller onboarding is not available: the server's Stripe key and this deployment's Stripe mode disagree " +
        "(see the function's log)",
      { cause: err, reason: "configuration" },
    );
  }
  return undefined;
}

/** What Stripe is asked for a new seller: Express as controller properties (Stripe hosts onboarding and the
 * Express dashboard, the platform pays Stripe's fees and carries losses), card payments and transfers (the
 * destination charges of checkout). The same parameters on every retry, as the idempotency key requires. */
export function accountParams(user: string, email: string | null, country: string): Stripe.AccountCreateParams {
  return {
    country,
    ...(email ? { email } : {}),
    controller: {
      fees: { payer: "application" },
      losses: { payments: "application" },
      requirement_collection: "stripe",
      stripe_dashboard: { type: "express" },
    },
    capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
    metadata: { user_id: user },
  };
}

export type Onboarding = { sql: postgres.Sql; stripe: Stripe; settings: OnboardingSettings };

export async function onboard(c: Onboarding, body: string, user: UserClaims): Promise<Reply> {
  if (user.is_anonymous) {
    throw new HttpError(403, "anonymous sessions cannot sell: sign up with an email first");
  }
  const input = body.trim() === "" ? {} : parseJsonBody(body, requestSchema, SHAPE);
  const s = c.settings;
  const returnUrl = pickAllowedUrl(input.return_url, s.returnUrls);
  const refreshUrl = pickAllowedUrl(input.refresh_url, s.refreshUrls);
  if (!returnUrl || !refreshUrl) {
    const field = returnUrl ? "refresh_url" : "return_url";
    throw new HttpError(400, `${field} must be one of the allowed URLs (the deployment's settings), or left out`);
  }
  await spendPerMinute(
    c.sql,
    `seller-onboarding:user:${user.sub}`,
    s.perUserPerMinute,
    (seconds) => `too many onboarding requests from this account: retry in ${seconds} s`,
  );

  let b: z.output<typeof begun>;
  try {
    const [{ r }] = await c.sql<{ r: unknown }[]>`
      select ops.seller_onboarding_begin(${user.sub}, ${s.livemode}, ${s.accountId}) as r`;
    b = begun.parse(r);
  } catch (err) {
    throw refusal(err) ?? err;
  }

  const created = b.stripe_account_id === null;
  let account: z.output<typeof recorded>;
  if (b.stripe_account_id !== null) {
    account = { ...b, stripe_account_id: b.stripe_account_id };
  } else {
    let made: Stripe.Account;
    try {
      // one account per seller, however many calls race to create it (Stripe keeps keys 24 h; after that the
      // recorded row answers and Stripe is not asked again)
      made = await c.stripe.accounts.create(accountParams(user.sub, b.email, b.country!), {
        idempotencyKey: `backbone-seller-account:${user.sub}`,
      });
    } catch (err) {
      throw stripeFailure("seller-onboarding", "create your payout account", err, s.key, RETRY);
    }
    try {
      const [{ r }] = await c.sql<{ r: unknown }[]>`
        select ops.seller_onboarding_record(${user.sub}, ${c.sql.json(made as never)}) as r`;
      account = recorded.parse(r);
    } catch (err) {
      throw refusal(err) ?? err;
    }
  }

  let link: Stripe.AccountLink;
  try {
    // a link is single-use and expires within minutes: a new one each call (refresh_url brings the seller back)
    link = await c.stripe.accountLinks.create({
      account: account.stripe_account_id,
      type: "account_onboarding",
      return_url: returnUrl,
      refresh_url: refreshUrl,
    });
  } catch (err) {
    throw stripeFailure("seller-onboarding", "create your onboarding link", err, s.key, RETRY);
  }
  return {
    status: created ? 201 : 200,
    body: {
      account_id: account.stripe_account_id,
      url: link.url,
      expires_at: new Date(link.expires_at * 1000).toISOString(),
      charges_enabled: account.charges_enabled,
      payouts_enabled: account.payouts_enabled,
      details_submitted: account.details_submitted,
    },
    log: { user: user.sub, account: account.stripe_account_id, created },
  };
}
