// A signed-in user's access token, verified here (not only by the gateway): signature, expiry (exp is
// required: a token without one would be valid forever), audience, role, user (sub) and issuer (this
// project's auth server, as GoTrue signs it). HS256 tokens are checked with the project's JWT secret;
// asymmetric ones (Supabase's signing keys) against the project's JWKS.
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { z } from "zod";
import { ConfigError, type Env, parseEnv, setting } from "../config/env.ts";
import { HttpError } from "./error.ts";

export type UserClaims = JWTPayload & {
  sub: string;
  role: string;
  email?: string;
  is_anonymous?: boolean;
  app_metadata?: Record<string, unknown>;
};

/** `issuer`: the `iss` every accepted token carries, GoTrue's `<SUPABASE_URL>/auth/v1`. */
export type UserJwtConfig = { secret?: string; jwksUrl?: string; issuer: string };

const jwtEnv = z.object({
  // hosted refuses secrets named SUPABASE_*: a legacy HS256 project sets JWT_SECRET
  JWT_SECRET: setting.text(),
  SUPABASE_JWKS_URL: setting.url(),
  SUPABASE_URL: setting.url(),
  // only where the auth server's public URL is not SUPABASE_URL (`supabase start`: the functions see
  // http://kong:8000, GoTrue signs http://127.0.0.1:54321/auth/v1)
  JWT_ISSUER: setting.url(),
});

export function userJwtConfig(env: Env): UserJwtConfig {
  const e = parseEnv(jwtEnv, env);
  const issuer = e.JWT_ISSUER ?? (e.SUPABASE_URL ? `${e.SUPABASE_URL}/auth/v1` : undefined);
  if (!issuer) {
    throw new ConfigError("SUPABASE_URL (or JWT_ISSUER) must be set: users' tokens are checked against their issuer");
  }
  return {
    secret: e.JWT_SECRET,
    jwksUrl: e.SUPABASE_JWKS_URL ?? (e.SUPABASE_URL ? `${e.SUPABASE_URL}/auth/v1/.well-known/jwks.json` : undefined),
    issuer,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createUserJwtVerifier(cfg: UserJwtConfig) {
  const secret = cfg.secret ? new TextEncoder().encode(cfg.secret) : undefined;
  const jwks = cfg.jwksUrl ? createRemoteJWKSet(new URL(cfg.jwksUrl)) : undefined;
  return async function verifyUser(authorization: string | null): Promise<UserClaims> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
    if (!token) {
      throw new HttpError(401, "sign in first: send the user's access token as Authorization: Bearer <token>");
    }
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new HttpError(401, "the access token is not a JWT: sign in again");
    }
    let payload: JWTPayload;
    try {
      // exp is required of every token, API keys included (theirs is years away); iss is checked below,
      // after the role, so that an API key (iss "supabase") is told it is one
      const options = { requiredClaims: ["exp"] };
      if (alg === "HS256") {
        if (!secret) throw new HttpError(500, "server misconfigured: no JWT secret");
        ({ payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], ...options }));
      } else {
        if (!jwks) throw new HttpError(500, "server misconfigured: no JWKS URL");
        ({ payload } = await jwtVerify(token, jwks, { algorithms: ["ES256", "RS256"], ...options }));
      }
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof errors.JWTExpired) {
        throw new HttpError(401, "the access token has expired: refresh the session");
      }
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === "exp") {
        throw new HttpError(401, "the access token has no valid expiry (exp): sign in again");
      }
      throw new HttpError(401, "the access token is invalid: sign in again");
    }
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (
      payload.role !== "authenticated" || !audiences.includes("authenticated") || typeof payload.sub !== "string" ||
      !UUID.test(payload.sub)
    ) {
      throw new HttpError(403, "this needs a signed-in user's access token, not an API key");
    }
    if (payload.iss !== cfg.issuer) {
      throw new HttpError(401, "the access token was not issued by this project's auth server: sign in again");
    }
    return payload as UserClaims;
  };
}
