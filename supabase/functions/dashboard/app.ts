// The dashboard's routes (paths below /dashboard):
//   GET  /                 the page (admins), the sign-in form (no session: 401), a refusal (not an admin: 403)
//   POST /session          sign in: the form carries an access token; an admin's becomes the session cookie, 303
//   POST /signout          ends the session (CSRF token), 303
//   POST /actions/<name>   one override (CSRF token + same origin), 303 to the page showing its audit row
// Every POST must come from the page's own origin; every answer carries the security headers.
import type postgres from "postgres";
import { asUser } from "../_shared/auth/as-user.ts";
import { readBody } from "../_shared/http/body.ts";
import { HttpError } from "../_shared/http/error.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { log } from "../_shared/log.ts";
import { isAction, refusal, runAction } from "./actions.ts";
import { type Html, html, page, seeOther } from "./html.ts";
import { dashboardBody, LISTS, type Snapshot } from "./page.ts";
import {
  clearSessionCookie,
  csrfToken,
  requireCsrf,
  requireSameOrigin,
  sessionToken,
  setSessionCookie,
  type SiteConfig,
} from "./session.ts";

const FN = "dashboard";
const TITLE = "Backbone dashboard";
const MAX_FORM_BYTES = 16 * 1024;

export type Deps = {
  sql: postgres.Sql;
  site: SiteConfig;
  verifyUser: (authorization: string | null) => Promise<UserClaims>;
};

const isAdmin = (u: UserClaims) => u.app_metadata?.role === "admin";

function message(status: number, heading: string, text: string | Html, base: string, headers?: HeadersInit) {
  return page({
    title: TITLE,
    status,
    headers,
    body: html`
      <section>
        <h2>${heading}</h2>
        <p class="${status >= 400 ? "error" : ""}">${text}</p>
        <p><a href="${base}">Back to the dashboard</a></p>
      </section>
    `,
  });
}

function signIn(base: string, status: number, note?: string, headers?: HeadersInit) {
  return page({
    title: TITLE,
    status,
    headers,
    body: html`<section><h2>Sign in</h2>${note ? html`<p class="error">${note}</p>` : ""}
<p>Paste the access token of an admin account (<code>app_metadata.role = admin</code>). It stays in an
HttpOnly cookie of this page until it expires, and never appears in a URL.</p>
<p class="muted">In your app, signed in as the admin, run in the browser console:
<code>(await supabase.auth.getSession()).data.session.access_token</code>. On the local stack:
<code>npm run dashboard:token -- you@example.com</code>.</p>
<form method="post" action="${base}/session"><textarea name="access_token" required autocomplete="off"
 spellcheck="false" aria-label="access token" placeholder="eyJ..."></textarea>
<p><button type="submit">Sign in</button></p></form></section>`,
  });
}

async function readForm(req: Request): Promise<URLSearchParams> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw new HttpError(415, "send the page's form (application/x-www-form-urlencoded)");
  }
  return new URLSearchParams(await readBody(req, MAX_FORM_BYTES));
}

/** The page of each list the URL asks for (?findings_page=2): numbers from 1, anything else is page 1. */
function pagesOf(url: URL): Record<string, number> {
  const pages: Record<string, number> = {};
  for (const list of LISTS) {
    const n = Number(/^\d{1,6}$/.exec(url.searchParams.get(`${list}_page`) ?? "")?.[0] ?? 1);
    if (n > 1) pages[list] = n;
  }
  return pages;
}

/** The signed-in admin, or the answer to give instead (sign-in page, refusal). */
async function session(deps: Deps, req: Request): Promise<{ user: UserClaims; token: string } | Response> {
  const base = deps.site.publicUrl.href;
  const token = sessionToken(req);
  if (!token) return signIn(base, 401);
  let user: UserClaims;
  try {
    user = await deps.verifyUser(`Bearer ${token}`);
  } catch (err) {
    if (err instanceof HttpError && err.status < 500) {
      return signIn(base, 401, "Your session ended (the token expired or is not valid): sign in again.", {
        "set-cookie": clearSessionCookie(deps.site),
      });
    }
    throw err;
  }
  if (!isAdmin(user)) {
    return message(403, "Admins only", "This account is not an admin: the dashboard shows it nothing.", base, {
      "set-cookie": clearSessionCookie(deps.site),
    });
  }
  return { user, token };
}

async function showPage(deps: Deps, req: Request, url: URL): Promise<Response> {
  const s = await session(deps, req);
  if (s instanceof Response) return s;
  const query = url.searchParams.get("q")?.trim() || undefined;
  const done = /^\d{1,18}$/.exec(url.searchParams.get("done") ?? "")?.[0];
  const pages = pagesOf(url);
  const { snapshot, journey, journeyError } = await asUser(deps.sql, s.user, async (tx) => {
    // the lists (with their totals and the pages asked for) replace the snapshot's first rows of each
    const [{ snapshot }] = await tx<{ snapshot: Snapshot }[]>`
      select ops.dashboard_snapshot() || jsonb_build_object('blocked_sellers', ops.dashboard_blocked_sellers())
        || ops.dashboard_lists(${tx.json(pages)}) || jsonb_build_object('figures', ops.dashboard_figures())
        as snapshot`
      .catch(refusal);
    if (!query) return { snapshot };
    try {
      // a refused search (too long) shows its reason beside the page instead of failing it
      const journey = await tx.savepoint((sp) =>
        sp<Record<string, unknown>[]>`select * from ops.dashboard_journey(${query})`
      );
      return { snapshot, journey };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code !== "22023") throw err;
      return { snapshot, journeyError: e.message };
    }
  });
  const email = String(s.user.email ?? s.user.sub);
  const base = deps.site.publicUrl.href;
  const csrf = await csrfToken(deps.site, s.token);
  return page({
    title: TITLE,
    header: html`<span>${email}</span><form method="post" action="${base}/signout">
<input type="hidden" name="csrf" value="${csrf}"><button type="submit">Sign out</button></form>`,
    body: dashboardBody({
      base,
      csrf,
      email,
      snapshot,
      query,
      journey,
      journeyError,
      done,
      pages,
    }),
  });
}

async function signInPost(deps: Deps, req: Request): Promise<Response> {
  const base = deps.site.publicUrl.href;
  requireSameOrigin(deps.site, req);
  const token = (await readForm(req)).get("access_token")?.trim() ?? "";
  if (!token) return signIn(base, 400, "Paste an access token.");
  let user: UserClaims;
  try {
    user = await deps.verifyUser(`Bearer ${token}`);
  } catch (err) {
    if (err instanceof HttpError && err.status < 500) return signIn(base, 401, `Not signed in: ${err.message}.`);
    throw err;
  }
  if (!isAdmin(user)) {
    return message(403, "Admins only", "This account is not an admin: the dashboard shows it nothing.", base);
  }
  log("info", FN, "signed in", { user: user.sub });
  return seeOther(base, { "set-cookie": setSessionCookie(deps.site, token, Number(user.exp ?? 0)) });
}

async function signOut(deps: Deps, req: Request): Promise<Response> {
  requireSameOrigin(deps.site, req);
  const form = await readForm(req);
  const token = sessionToken(req);
  if (token) await requireCsrf(deps.site, token, form);
  return seeOther(deps.site.publicUrl.href, { "set-cookie": clearSessionCookie(deps.site) });
}

async function act(deps: Deps, req: Request, name: string): Promise<Response> {
  requireSameOrigin(deps.site, req);
  if (!isAction(name)) throw new HttpError(404, `no action ${name.slice(0, 50)}`);
  const form = await readForm(req);
  const s = await session(deps, req);
  if (s instanceof Response) return s;
  await requireCsrf(deps.site, s.token, form);
  const auditId = await runAction(deps.sql, s.user, name, form);
  log("info", FN, "override", { action: name, audit_id: auditId, user: s.user.sub });
  return seeOther(`${deps.site.publicUrl.href}?done=${auditId}#audit`);
}

export function dashboard(deps: Deps) {
  const base = deps.site.publicUrl.href;
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/^(\/functions\/v1)?\/dashboard/, "").replace(/\/$/, "");
    const started = performance.now();
    try {
      let res: Response;
      const action = /^\/actions\/([a-z-]+)$/.exec(path)?.[1];
      if (path === "" && req.method === "GET") res = await showPage(deps, req, url);
      else if (path === "/session" && req.method === "POST") res = await signInPost(deps, req);
      else if (path === "/signout" && req.method === "POST") res = await signOut(deps, req);
      else if (action && req.method === "POST") res = await act(deps, req, action);
      else if (path === "" || path === "/session" || path === "/signout" || action) {
        throw new HttpError(405, path === "" ? "use GET" : "use POST (the page's forms)");
      } else throw new HttpError(404, "no such page");
      log("info", FN, "request handled", { status: res.status, path, ms: Math.round(performance.now() - started) });
      return res;
    } catch (err) {
      if (err instanceof HttpError && err.status < 500) {
        log("warn", FN, err.message, { status: err.status, path });
        return message(err.status, "Not done", html`${err.message}. Nothing changed.`, base);
      }
      const status = err instanceof HttpError ? err.status : 500;
      const cause = err instanceof HttpError ? err.options.cause : err;
      log("error", FN, err instanceof HttpError ? err.message : "unhandled error", {
        status,
        path,
        cause: cause instanceof Error ? cause.name : typeof cause,
        code: (cause as { code?: string } | undefined)?.code,
      });
      const text = err instanceof HttpError ? err.message : "internal error: nothing was changed, retry later";
      return message(status, "Not done", text, base);
    }
  };
}
