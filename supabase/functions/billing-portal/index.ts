// billing-portal: the signed-in customer's app (supabase.functions.invoke) asks for a Stripe Billing Portal session
// for their own Stripe customer (update the card, pay a failed renewal, see invoices): { url, return_url }.
// verify_jwt is off at the gateway so browsers' CORS preflights reach us; the function verifies the token.
import { stripeClient } from "../_shared/stripe/client.ts";
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { allowedOrigins, withCors } from "../_shared/http/cors.ts";
import { HttpError } from "../_shared/http/error.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { handle } from "../_shared/http/serve.ts";
import { createUserJwtVerifier, userJwtConfig } from "../_shared/http/user-jwt.ts";
import { countOursOnly } from "../_shared/stripe/failure.ts";
import { openPortal } from "./portal.ts";
import { portalSettings } from "./settings.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const verifyUser = createUserJwtVerifier(userJwtConfig(env));
const settings = portalSettings(env);
const stripe = "key" in settings ? stripeClient(settings, "billing-portal") : null;
// the narrowest role that works: rate tokens, its answer counter and ops.billing_portal_customer
const sql = connect("BILLING_PORTAL_DB_URL", 4);
const counted = answerCounter(sql, "billing-portal", { from: 500 });

Deno.serve(withCors(
  allowedOrigins(env, "BILLING_PORTAL_ALLOWED_ORIGINS", "SUPPORT_ALLOWED_ORIGINS"),
  handle(
    "billing-portal",
    async (req, body) => {
      const user = await verifyUser(req.headers.get("authorization"));
      if ("missing" in settings || !stripe) {
        const missing = "missing" in settings ? settings.missing : "STRIPE_SECRET_KEY";
        throw new HttpError(503, `the billing portal is not configured: set ${missing}`, { reason: "configuration" });
      }
      return openPortal({ sql, stripe, settings }, body, user);
    },
    {
      maxBodyBytes: 8 * 1024,
      internalMessage: "internal error: call billing-portal again",
      // our failures (5xx) count in the failed_runs alert; Stripe's own refusals and outages are a provider's
      onAnswered: countOursOnly(counted),
    },
  ),
));
