// checkout: the signed-in buyer's app (supabase.functions.invoke) asks for a Checkout Session for a listing
// (an order at the listing's price) or a plan (a subscription) and gets { order_id | plan_id, url }. The
// order is written as the buyer under RLS; Stripe is called with this deployment's key, never the app's.
// verify_jwt is off at the gateway so browsers' CORS preflights reach us; the function verifies the token.
import { stripeClient } from "../_shared/stripe/client.ts";
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { allowedOrigins, withCors } from "../_shared/http/cors.ts";
import { HttpError } from "../_shared/http/error.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { handle } from "../_shared/http/serve.ts";
import { withRequestId } from "../_shared/http/request-id.ts";
import { countOursOnly } from "../_shared/stripe/failure.ts";
import { createUserJwtVerifier, userJwtConfig } from "../_shared/http/user-jwt.ts";
import { checkout } from "./checkout.ts";
import { checkoutSettings } from "./settings.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const verifyUser = createUserJwtVerifier(userJwtConfig(env));
const settings = checkoutSettings(env);
const stripe = "key" in settings ? stripeClient(settings, "checkout") : null;
// the narrowest role that works: rate tokens, becoming authenticated, and the ops.checkout_* doors
const sql = connect("CHECKOUT_DB_URL", 8);
const counted = answerCounter(sql, "checkout", { from: 500 });

Deno.serve(withRequestId(withCors(
  allowedOrigins(env, "CHECKOUT_ALLOWED_ORIGINS", "SUPPORT_ALLOWED_ORIGINS"),
  handle(
    "checkout",
    async (req, body) => {
      const user = await verifyUser(req.headers.get("authorization"));
      if ("missing" in settings || !stripe) {
        const missing = "missing" in settings ? settings.missing : "STRIPE_SECRET_KEY";
        throw new HttpError(503, `checkout is not configured: set ${missing}`, { reason: "configuration" });
      }
      return checkout({ sql, stripe, settings }, req, body, user);
    },
    {
      maxBodyBytes: 16 * 1024,
      internalMessage: "internal error: nothing was charged; send the same idempotency_key again",
      // our failures (5xx) count in the failed_runs alert; Stripe's own refusals and outages (stripe_*,
      // a 502 or 503) are a provider's, and the buyer's refusals are theirs
      onAnswered: countOursOnly(counted),
    },
  ),
)));
