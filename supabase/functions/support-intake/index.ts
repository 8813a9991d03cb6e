// support-intake: a signed-in user's support request from the app (supabase.functions.invoke) becomes
// one enriched ticket, written as that user under RLS. verify_jwt is off at the gateway so browsers'
// CORS preflights reach us; the function verifies the user's token itself.
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { allowedOrigins, withCors } from "../_shared/http/cors.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { handle } from "../_shared/http/serve.ts";
import { withRequestId } from "../_shared/http/request-id.ts";
import { createUserJwtVerifier, userJwtConfig } from "../_shared/http/user-jwt.ts";
import { limitsFrom, submit } from "./intake.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const verifyUser = createUserJwtVerifier(userJwtConfig(env));
const limits = limitsFrom(env);
// the narrowest role that works: it can only take rate tokens and become `authenticated`
const sql = connect("SUPPORT_INTAKE_DB_URL", 4);

Deno.serve(withRequestId(withCors(
  allowedOrigins(env, "SUPPORT_ALLOWED_ORIGINS"),
  handle(
    "support-intake",
    async (req, body) => submit(sql, req, body, await verifyUser(req.headers.get("authorization")), limits),
    {
      maxBodyBytes: 64 * 1024,
      internalMessage: "internal error: the request was not recorded, retry later",
      // failures (5xx) count in the failed_runs alert; refusals are the caller's business
      onAnswered: answerCounter(sql, "support-intake", { from: 500 }),
    },
  ),
)));
