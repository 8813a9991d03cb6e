// Arranging dashboard scenarios on the local stack: admins and buyers with access tokens, a cookie-keeping
// client that posts the page's forms, and the rows an override acts on (dead job, dead Stripe event,
// ticket, order in review, open incident).
import { createHmac, randomUUID } from "node:crypto";
import { config, userToken } from "../../scripts/lib/config.ts";
import { connect } from "../../scripts/lib/db.ts";
import { customerUpdated } from "../../scripts/lib/scenarios.ts";
import { newBuyer, paidOrder } from "./crm.ts";
import { sql } from "./db.ts";
import { deliver, uid } from "./stripe.ts";

export const DASHBOARD_URL = config.functionUrl("dashboard");
export const ORIGIN = new URL(config.apiUrl).origin;

export type Person = { id: string; email: string; token: string };

/** An admin (app_metadata.role = admin, set server-side) and their access token. */
export async function newAdmin(): Promise<Person> {
  const email = `admin-${randomUUID().slice(0, 8)}@example.com`;
  const [u] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
    values (${email}, now(), '{"provider": "email", "role": "admin"}') returning id`;
  return {
    id: u.id,
    email,
    token: await userToken(u.id, { email, app_metadata: { provider: "email", role: "admin" } }),
  };
}

/** A buyer (no admin role) and their access token. */
export async function newBuyerPerson(): Promise<Person & { customerId: string }> {
  const b = await newBuyer(`buyer-${randomUUID().slice(0, 8)}@example.com`);
  return { ...b, token: await userToken(b.id, { email: b.email, app_metadata: { provider: "email" } }) };
}

/** What the server would compute as a session's CSRF token (the local stack's secret). */
export function csrfFor(token: string): string {
  return createHmac("sha256", config.dashboardSessionSecret).update(`dashboard-csrf:${token}`).digest("base64url");
}

export type PostOptions = { csrf?: string | null; origin?: string | null; fetchSite?: string; cookie?: string | null };

/** A browser-like client: keeps the session cookie, reads the CSRF token off the page, posts forms. */
export class DashboardClient {
  cookie?: string;

  async signIn(token: string, origin: string | null = ORIGIN) {
    const res = await fetch(`${DASHBOARD_URL}/session`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(origin ? { origin } : {}),
        "sec-fetch-site": "same-origin",
      },
      body: new URLSearchParams({ access_token: token }),
    });
    const set = res.headers.get("set-cookie");
    if (set) this.cookie = set.split(";")[0];
    return res;
  }

  async page(query = "") {
    const res = await fetch(`${DASHBOARD_URL}${query}`, {
      redirect: "manual",
      headers: this.cookie ? { cookie: this.cookie } : {},
    });
    return { res, html: await res.text() };
  }

  async csrf(): Promise<string> {
    const { html } = await this.page();
    const token = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error("no CSRF token on the page");
    return token;
  }

  async post(action: string, fields: Record<string, string>, opts: PostOptions = {}) {
    const csrf = opts.csrf === undefined ? await this.csrf() : opts.csrf;
    const origin = opts.origin === undefined ? ORIGIN : opts.origin;
    const cookie = opts.cookie === undefined ? this.cookie : opts.cookie;
    const res = await fetch(`${DASHBOARD_URL}/actions/${action}`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        ...(origin ? { origin } : {}),
        "sec-fetch-site": opts.fetchSite ?? "same-origin",
        ...(cookie ? { cookie } : {}),
      },
      body: new URLSearchParams({ ...fields, ...(csrf ? { csrf } : {}) }),
    });
    return { res, html: await res.text() };
  }
}

export async function auditRow(id: string | number) {
  const [row] = await sql`select * from ops.audit_log where id = ${id}`;
  return row;
}

/** The audit id a successful override redirected to (303 -> ?done=<id>). */
export function doneId(res: Response): string {
  const location = res.headers.get("location") ?? "";
  const id = /[?&]done=(\d+)/.exec(location)?.[1];
  if (res.status !== 303 || !id) throw new Error(`expected a 303 to ?done=<id>, got ${res.status} ${location}`);
  return id;
}

/** A dead crm.contact job for `customerId` (not due, so nothing dispatches it until replayed). */
export async function deadJob(customerId: string): Promise<string> {
  const [j] = await sql<{ id: string }[]>`
    insert into ops.jobs (kind, payload, dedupe_key, queue_key, max_attempts, status, attempts, run_at, last_error)
    values ('crm.contact', ${sql.json({ customer_id: customerId })}, ${"test:dashboard:" + randomUUID()},
            ${"customer:" + customerId}, 15, 'dead', 15, now() + interval '1 day', 'HubSpot answered 400: test')
    returning id`;
  return String(j.id);
}

/** A Stripe event in the ledger marked dead after its attempts (it applies fine when re-applied). */
export async function deadEvent(): Promise<string> {
  const evt = customerUpdated(uid("cus_"), null, Math.floor(Date.now() / 1000));
  await deliver(evt);
  await sql`update ops.stripe_events set status = 'dead', attempts = 5, last_error = 'test: lock timeout'
             where event_id = ${evt.id}`;
  return evt.id;
}

/** An open ticket requested by `userId`, written as that user through support-intake's login (the
 * database opens app tickets for no other session). */
export async function openTicket(userId: string): Promise<{ id: string; ref: string }> {
  // logged in as support_intake, as the function is (postgres is no superuser: it cannot take another session's name)
  const intake = connect(config.roleDbUrl("support_intake"), { max: 1 });
  try {
    const [t] = await intake.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: userId, role: "authenticated" })}, true),
                      set_config('role', 'authenticated', true)`;
      return await tx<{ ticket_id: string; ref: string }[]>`
        select * from public.submit_support_request('technical', 'The export fails', 'It shows an error.', null, null,
                                                    '{}'::jsonb, null)`;
    });
    return { id: t.ticket_id, ref: t.ref };
  } finally {
    await intake.end();
  }
}

/** A paid order flagged for review by hand (resolving it with either answer clears the flag). */
export async function orderInReview(buyerId: string): Promise<string> {
  const id = await paidOrder(buyerId);
  await sql`update public.orders set needs_review = true, review_reason = 'test: flagged by hand' where id = ${id}`;
  return id;
}

/** An open incident of a rule of its own (the alert evaluator is not needed to show one). */
export async function openIncident(): Promise<{ rule: string; summary: string; runbook: string }> {
  const rule = `dash_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const runbook = `Check the CRM fake, then replay dead jobs (${rule})`;
  const summary = `CRM failing for ${rule}`;
  // disabled: the evaluator (pg_cron's, or another test file's) leaves its incident open
  await sql`insert into ops.alert_rules (rule, description, threshold, runbook, severity, enabled)
            values (${rule}, 'test rule', 1, ${runbook}, 'critical', false)`;
  await sql`insert into ops.alert_incidents (rule, summary) values (${rule}, ${summary})`;
  return { rule, summary, runbook };
}
