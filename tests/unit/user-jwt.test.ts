// Users' access tokens as support-intake and the dashboard verify them (_shared/http/user-jwt.ts): a
// token must expire (exp), name its user (sub) and come from this project's auth server (iss, as
// GoTrue signs it: <SUPABASE_URL>/auth/v1); the issuer is a setting read when the function starts.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { createUserJwtVerifier, userJwtConfig } from "../../supabase/functions/_shared/http/user-jwt.ts";

const SECRET = "unit-test-jwt-secret-with-at-least-32-characters";
const SUPABASE_URL = "https://abcdefghijklmnop.supabase.co";
const ISSUER = `${SUPABASE_URL}/auth/v1`;
const verify = createUserJwtVerifier(userJwtConfig({ JWT_SECRET: SECRET, SUPABASE_URL }));

type Claims = Record<string, unknown>;

/** A token as GoTrue issues it (one hour), with `claims` changed; a claim set to undefined is left out. */
function token(claims: Claims = {}, { exp = true }: { exp?: boolean } = {}) {
  const all: Claims = { iss: ISSUER, sub: randomUUID(), role: "authenticated", aud: "authenticated", ...claims };
  const jwt = new SignJWT(Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)))
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt();
  if (exp) jwt.setExpirationTime("1h");
  return jwt.sign(new TextEncoder().encode(SECRET));
}

/** The refusal's status and message, or "accepted". */
async function outcome(jwt: string) {
  try {
    await verify(`Bearer ${jwt}`);
    return "accepted";
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return { status: err.status, error: err.message };
  }
}

describe("a user's access token", () => {
  test("as GoTrue issues it is accepted, with its claims", async () => {
    const sub = randomUUID();
    const claims = await verify(`Bearer ${await token({ sub, email: "ada@example.com" })}`);
    expect(claims).toMatchObject({ sub, role: "authenticated", email: "ada@example.com", iss: ISSUER });
  });

  test("without exp is refused: it would be valid forever", async () => {
    expect(await outcome(await token({}, { exp: false }))).toEqual({
      status: 401,
      error: "the access token has no valid expiry (exp): sign in again",
    });
  });

  test("without sub is refused", async () => {
    expect(await outcome(await token({ sub: undefined }))).toMatchObject({ status: 403 });
  });

  test.each([
    ["another project's auth server", "https://otherprojectref.supabase.co/auth/v1"],
    ["the project's URL without /auth/v1", SUPABASE_URL],
    ["no issuer at all", undefined],
  ])("issued by %s is refused", async (_what, iss) => {
    expect(await outcome(await token({ iss }))).toEqual({
      status: 401,
      error: "the access token was not issued by this project's auth server: sign in again",
    });
  });

  test("an API key (iss supabase, no sub) is told it is one", async () => {
    expect(await outcome(await token({ iss: "supabase", role: "anon", sub: undefined, aud: undefined })))
      .toMatchObject({ status: 403, error: expect.stringMatching(/not an API key/) });
  });
});

describe("userJwtConfig", () => {
  test("the issuer is SUPABASE_URL's auth server, unless JWT_ISSUER names another", () => {
    expect(userJwtConfig({ SUPABASE_URL: `${SUPABASE_URL}/` }).issuer).toBe(ISSUER);
    expect(
      userJwtConfig({ SUPABASE_URL: "http://kong:8000", JWT_ISSUER: "http://127.0.0.1:54321/auth/v1" }).issuer,
    ).toBe("http://127.0.0.1:54321/auth/v1");
  });

  test("without SUPABASE_URL or JWT_ISSUER the function does not start", () => {
    expect(() => userJwtConfig({ JWT_SECRET: SECRET })).toThrow(/SUPABASE_URL \(or JWT_ISSUER\) must be set/);
  });
});
