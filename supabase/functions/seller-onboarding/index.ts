// seller-onboarding: the signed-in seller's app (supabase.functions.invoke) asks for their Stripe connected
// account (created once) and a link to Stripe's hosted onboarding: { account_id, url, expires_at, ... }.
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
import { onboard } from "./onboarding.ts";
import { onboardingSettings } from "./settings.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const verifyUser = createUserJwtVerifier(userJwtConfig(env));
const settings = onboardingSettings(env);
const stripe = "key" in settings ? stripeClient(settings, "seller-onboarding") : null;
// the narrowest role that works: rate tokens and the ops.seller_onboarding_* doors
const sql = connect("SELLER_ONBOARDING_DB_URL", 4);
const counted = answerCounter(sql, "seller-onboarding", { from: 500 });

Deno.serve(withCors(
  allowedOrigins(env, "SELLER_ONBOARDING_ALLOWED_ORIGINS", "SUPPORT_ALLOWED_ORIGINS"),
  handle(
    "seller-onboarding",
    async (req, body) => {
      const user = await verifyUser(req.headers.get("authorization"));
      if ("missing" in settings || !stripe) {
        const missing = "missing" in settings ? settings.missing : "STRIPE_SECRET_KEY";
        throw new HttpError(503, `seller onboarding is not configured: set ${missing}`, { reason: "configuration" });
      }
      return onboard({ sql, stripe, settings }, body, user);
    },
    {
      maxBodyBytes: 8 * 1024,
      internalMessage: "internal error: call seller-onboarding again",
      // our failures (5xx) count in the failed_runs alert; Stripe's own refusals and outages are a provider's
      onAnswered: countOursOnly(counted),
    },
  ),
));
