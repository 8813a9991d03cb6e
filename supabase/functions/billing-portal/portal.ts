// A customer's Billing Portal session: validated (return_url only from the allowlist), rate limited per user, then
// ops.billing_portal_customer names the user's own Stripe customer (or refuses: no billing account yet, 404), and
// Stripe makes a short-lived portal session for it. Nothing is written: a retry simply makes a new session.
import type postgres from "postgres";
import type Stripe from "stripe";
import { z } from "zod";
import { parseJsonBody } from "../_shared/http/body.ts";
import { HttpError, raisedByUs } from "../_shared/http/error.ts";
import { spendPerMinute } from "../_shared/http/request-fields.ts";
import type { Reply } from "../_shared/http/serve.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { log } from "../_shared/log.ts";
import { stripeFailure } from "../_shared/stripe/failure.ts";
import { pickAllowedUrl } from "../_shared/stripe/secret-key.ts";
import type { PortalSettings } from "./settings.ts";

export const requestSchema = z.object({
  return_url: z.string().max(2000, "return_url is at most 2,000 characters").optional(),
}).strict();
const SHAPE = "{return_url?} (or an empty body)";

const door = z.object({ stripe_customer_id: z.string().regex(/^cus_/) });

/** Our refusals (SQLSTATE BP<status>, raised with a sentence), the Stripe mode check (503); never Postgres's text. */
function refusal(err: unknown): HttpError | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^BP\d{3}$/.test(code)) {
    return new HttpError(Number(code.slice(2)), raisedByUs(err) ?? "the billing portal is refused for this account", {
      cause: err,
      reason: "refused",
    });
  }
  if (code === "55000") {
    log("error", "billing-portal", raisedByUs(err) ?? "Stripe scope mismatch");
    return new HttpError(
      503,
      "the billing portal is not available: the server's Stripe key and this deployment's Stripe mode disagree " +
        "(see the function's log)",
      { cause: err, reason: "configuration" },
    );
  }
  return undefined;
}

export type Portal = { sql: postgres.Sql; stripe: Stripe; settings: PortalSettings };

export async function openPortal(c: Portal, body: string, user: UserClaims): Promise<Reply> {
  if (user.is_anonymous) throw new HttpError(403, "anonymous sessions have no billing: sign up with an email first");
  const input = body.trim() === "" ? {} : parseJsonBody(body, requestSchema, SHAPE);
  const returnUrl = pickAllowedUrl(input.return_url, c.settings.returnUrls);
  if (!returnUrl) {
    throw new HttpError(400, "return_url must be one of the allowed URLs (the deployment's settings), or left out");
  }
  await spendPerMinute(
    c.sql,
    `billing-portal:user:${user.sub}`,
    c.settings.perUserPerMinute,
    (seconds) => `too many billing portal requests from this account: retry in ${seconds} s`,
  );
  let customer: string;
  try {
    const [{ r }] = await c.sql<{ r: unknown }[]>`
      select ops.billing_portal_customer(${user.sub}, ${c.settings.livemode}, ${c.settings.accountId}) as r`;
    customer = door.parse(r).stripe_customer_id;
  } catch (err) {
    throw refusal(err) ?? err;
  }
  let session: Stripe.BillingPortal.Session;
  try {
    session = await c.stripe.billingPortal.sessions.create({ customer, return_url: returnUrl });
  } catch (err) {
    throw stripeFailure("billing-portal", "open your billing portal", err, c.settings.key, "call billing-portal again");
  }
  return {
    status: 200,
    // the portal's URL only: no Stripe ids reach the app
    body: { url: session.url, return_url: returnUrl },
    log: { user: user.sub, session: session.id },
  };
}
