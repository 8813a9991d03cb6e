// A signed-in user's access token, verified here (not only by the gateway): signature, expiry,
// audience and role. HS256 tokens are checked with the project's JWT secret; asymmetric ones
// (Supabase's signing keys) against the project's JWKS.
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { HttpError } from "./error.ts";

export type UserClaims = JWTPayload & {
  sub: string;
  role: string;
  email?: string;
  is_anonymous?: boolean;
  app_metadata?: Record<string, unknown>;
};

export type UserJwtConfig = { secret?: string; jwksUrl?: string };

const jwtEnv = z.object({
  // hosted refuses secrets named SUPABASE_*: a legacy HS256 project sets JWT_SECRET
  JWT_SECRET: setting.text(),
  SUPABASE_JWKS_URL: setting.url(),
  SUPABASE_URL: setting.url(),
});

export function userJwtConfig(env: Env): UserJwtConfig {
  const e = parseEnv(jwtEnv, env);
  return {
    secret: e.JWT_SECRET,
    jwksUrl: e.SUPABASE_JWKS_URL ?? (e.SUPABASE_URL ? `${e.SUPABASE_URL}/auth/v1/.well-known/jwks.json` : undefined),
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
      if (alg === "HS256") {
        if (!secret) throw new HttpError(500, "server misconfigured: no JWT secret");
        ({ payload } = await jwtVerify(token, secret, { algorithms: ["HS256"] }));
      } else {
        if (!jwks) throw new HttpError(500, "server misconfigured: no JWKS URL");
        ({ payload } = await jwtVerify(token, jwks, { algorithms: ["ES256", "RS256"] }));
      }
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof errors.JWTExpired) {
        throw new HttpError(401, "the access token has expired: refresh the session");
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
    return payload as UserClaims;
  };
}
