// dashboard: the founder's one page (admins only), server-rendered HTML with a form per manual override.
// verify_jwt is off at the gateway (a browser's navigation carries no Authorization header): the function
// verifies the admin's access token itself, at sign-in and on every request, from its session cookie.
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { createUserJwtVerifier, userJwtConfig } from "../_shared/http/user-jwt.ts";
import { withRequestId } from "../_shared/http/request-id.ts";
import { dashboard } from "./app.ts";
import { siteConfig } from "./session.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();

Deno.serve(withRequestId(dashboard({
  site: siteConfig(env),
  verifyUser: createUserJwtVerifier(userJwtConfig(env)),
  // the narrowest role that works: it can only become `authenticated` as the signed-in admin
  sql: connect("DASHBOARD_DB_URL", 4),
})));
