// The dashboard's web session: the admin's Supabase access token in an HttpOnly, SameSite=Strict cookie
// scoped to the function's path and bounded by the token's expiry; a CSRF synchronizer token derived
// from the session (HMAC with DASHBOARD_SESSION_SECRET); and the Origin / Sec-Fetch-Site check that
// every POST must pass as well.
import { z } from "zod";
import { ConfigError, type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { HttpError } from "../_shared/http/error.ts";
import { sameSecret } from "../_shared/http/bearer-secret.ts";

export const COOKIE = "dashboard_session";

export type SiteConfig = {
  /** The page's public URL (https://<custom domain>/functions/v1/dashboard). */
  publicUrl: URL;
  /** The HMAC key of CSRF tokens. */
  secret: string;
};

const siteEnv = z.object({
  DASHBOARD_SESSION_SECRET: setting.required(/^.{32,}$/s, "must be a random string of at least 32 characters"),
  DASHBOARD_PUBLIC_URL: setting.url(),
  SUPABASE_URL: setting.url(),
});

export function siteConfig(env: Env): SiteConfig {
  const e = parseEnv(siteEnv, env);
  const secret = e.DASHBOARD_SESSION_SECRET;
  if (!e.DASHBOARD_PUBLIC_URL && !e.SUPABASE_URL) {
    throw new ConfigError("DASHBOARD_PUBLIC_URL (or SUPABASE_URL) must be set");
  }
  const publicUrl = new URL(e.DASHBOARD_PUBLIC_URL ?? `${e.SUPABASE_URL}/functions/v1/dashboard`);
  publicUrl.pathname = publicUrl.pathname.replace(/\/$/, "");
  // the session cookie is Secure over https; plain http only on this machine (the local stack)
  if (publicUrl.protocol !== "https:" && !["127.0.0.1", "localhost", "[::1]"].includes(publicUrl.hostname)) {
    throw new ConfigError(
      `DASHBOARD_PUBLIC_URL must be https (it is ${publicUrl.origin}): the dashboard is served over https`,
    );
  }
  return { publicUrl, secret };
}

/** The session token of the request's cookie, if any. */
export function sessionToken(req: Request): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value || undefined;
    }
  }
  return undefined;
}

function cookieAttributes(site: SiteConfig, maxAge: number): string {
  // Secure wherever the page is served over https (siteConfig allows plain http on loopback only).
  // Chromium keeps a Secure cookie set by http://127.0.0.1 (a loopback origin counts as secure), but not
  // every browser treats loopback http as secure, so the local stack's cookie goes without (checked with
  // Debian's Chromium 156: it sends a Secure cookie back to http://127.0.0.1).
  const secure = site.publicUrl.protocol === "https:" ? "; Secure" : "";
  return `Path=${site.publicUrl.pathname}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
}

/** Sets the session until the token expires (seconds since the epoch). */
export function setSessionCookie(site: SiteConfig, token: string, exp: number): string {
  const maxAge = Math.max(0, Math.floor(exp - Date.now() / 1000));
  return `${COOKIE}=${token}; ${cookieAttributes(site, maxAge)}`;
}

export function clearSessionCookie(site: SiteConfig): string {
  return `${COOKIE}=; ${cookieAttributes(site, 0)}`;
}

async function hmac(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message)));
  return btoa(String.fromCharCode(...mac)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The CSRF token of a session: tied to its access token, so a new sign-in gets a new one and another
 * admin's token is worth nothing here; only the server, holding the secret, can make it. */
export function csrfToken(site: SiteConfig, session: string): Promise<string> {
  return hmac(site.secret, `dashboard-csrf:${session}`);
}

/** Refuses (403) a form post whose CSRF token is missing or not this session's. */
export async function requireCsrf(site: SiteConfig, session: string, form: URLSearchParams) {
  const sent = form.get("csrf") ?? "";
  if (!sent) throw new HttpError(403, "refused: the form carried no CSRF token; reload the dashboard and try again");
  if (!(await sameSecret(sent, await csrfToken(site, session)))) {
    throw new HttpError(
      403,
      "refused: the CSRF token does not belong to this session; reload the dashboard and try again",
    );
  }
}

/** Refuses (403) a POST that a browser says came from another site, or that names no origin at all:
 * forms of this page send Origin (and Sec-Fetch-Site: same-origin in current browsers). */
export function requireSameOrigin(site: SiteConfig, req: Request) {
  const fetchSite = req.headers.get("sec-fetch-site");
  if (fetchSite !== null && fetchSite !== "same-origin") {
    throw new HttpError(403, `refused: a ${fetchSite} request cannot change anything here`);
  }
  const origin = req.headers.get("origin");
  if (origin === null) throw new HttpError(403, "refused: the request names no Origin");
  if (origin !== site.publicUrl.origin) {
    throw new HttpError(403, `refused: requests from ${origin.slice(0, 100)} cannot change anything here`);
  }
}
