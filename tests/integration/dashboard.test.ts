// The dashboard over HTTP, as a browser uses it: sign-in form -> session cookie, the page, and every
// override as a form post with the session's CSRF token from the page's own origin. Each override
// writes its audit row (before, after, reason, actor); refusals (CSRF, origin, not an admin, bad
// input) are 403/400 and change nothing; an access override expires back to billing's access.
import { randomUUID } from "node:crypto";
import { describe, expect, test } from "vitest";
import { SignJWT } from "jose";
import { config } from "../../scripts/lib/config.ts";
import { newBuyer, paidOrder } from "../helpers/crm.ts";
import {
  auditRow,
  csrfFor,
  DASHBOARD_URL,
  DashboardClient,
  deadEvent,
  deadJob,
  doneId,
  newAdmin,
  newBuyerPerson,
  openIncident,
  openTicket,
  orderInReview,
} from "../helpers/dashboard.ts";
import { expectNarrowSessions, sql } from "../helpers/db.ts";
import { waitFor } from "../helpers/stack.ts";
import "../helpers/require-stack.ts";

async function signedInAdmin() {
  const admin = await newAdmin();
  const client = new DashboardClient();
  const res = await client.signIn(admin.token);
  expect(res.status).toBe(303);
  return { admin, client };
}

async function auditCount(target: string) {
  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ops.audit_log where target = ${target}`;
  return n;
}

async function customer(id: string) {
  const [c] = await sql<{ billing_status: string; access_status: string }[]>`
    select billing_status, access_status from public.customers where id = ${id}`;
  return c;
}

describe("dashboard: sessions and who sees what", () => {
  test("an anonymous visitor gets the sign-in form, no data, and the security headers", async () => {
    const marker = await newBuyer(`anon-marker-${Date.now()}@example.com`);
    const { res, html } = await new DashboardClient().page();
    expect(res.status).toBe(401);
    expect(html).toContain('name="access_token"');
    expect(html).not.toContain(marker.email);
    expect(html).not.toContain("Billing and access");
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("referrer-policy")).toBe("same-origin");
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
  });

  test("an admin's sign-in sets an HttpOnly SameSite=Strict cookie bounded by the token and answers 303 to the page", async () => {
    const admin = await newAdmin();
    const client = new DashboardClient();
    const res = await client.signIn(admin.token);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(DASHBOARD_URL);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(
      /^dashboard_session=[\w.-]+; Path=\/functions\/v1\/dashboard; Max-Age=(\d+); HttpOnly; SameSite=Strict$/,
    );
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThan(3000);
    expect(maxAge).toBeLessThanOrEqual(3600); // the token's own expiry (1 h)
    const { res: page, html } = await client.page();
    expect(page.status).toBe(200);
    expect(html).toContain(admin.email);
    expect(html).toContain("Billing and access");
    expect(html).not.toContain(admin.token); // the token stays in the cookie: never in the page or a URL
  });

  test("a buyer is refused at sign-in (no cookie) and with a cookie of their own token, and sees no data", async () => {
    const buyer = await newBuyerPerson();
    const client = new DashboardClient();
    const res = await client.signIn(buyer.token);
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await res.text()).not.toContain("Billing and access");

    client.cookie = `dashboard_session=${buyer.token}`;
    const { res: page, html } = await client.page();
    expect(page.status).toBe(403);
    expect(html).toContain("Admins only");
    expect(html).not.toContain(buyer.email);
    expect(page.headers.get("set-cookie")).toMatch(/^dashboard_session=; .*Max-Age=0/);
  });

  test("a buyer with a valid CSRF token and the right origin still changes nothing", async () => {
    const buyer = await newBuyerPerson();
    const job = await deadJob(buyer.customerId);
    const client = new DashboardClient();
    client.cookie = `dashboard_session=${buyer.token}`;
    const { res } = await client.post("replay-job", { job_id: job, reason: "buyer tries" }, {
      csrf: csrfFor(buyer.token),
    });
    expect(res.status).toBe(403);
    const [j] = await sql`select status from ops.jobs where id = ${job}`;
    expect(j.status).toBe("dead");
    expect(await auditCount(`job:${job}`)).toBe(0);
  });

  test("an expired, forged or never-expiring token is a signed-out visitor: sign-in form, cookie cleared", async () => {
    const admin = await newAdmin();
    const expired = await new SignJWT({
      sub: admin.id,
      email: admin.email,
      role: "authenticated",
      aud: "authenticated",
      app_metadata: { role: "admin" },
    }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt(1_700_000_000).setExpirationTime(1_700_003_600)
      .sign(new TextEncoder().encode(config.jwtSecret));
    // as GoTrue signs it, but without exp: valid forever, were it accepted
    const endless = await new SignJWT({
      iss: `${config.apiUrl}/auth/v1`,
      sub: admin.id,
      email: admin.email,
      role: "authenticated",
      aud: "authenticated",
      app_metadata: { role: "admin" },
    }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().sign(new TextEncoder().encode(config.jwtSecret));
    for (const token of [expired, admin.token.slice(0, -4) + "AAAA", endless]) {
      const client = new DashboardClient();
      expect((await client.signIn(token)).status).toBe(401);
      client.cookie = `dashboard_session=${token}`;
      const { res, html } = await client.page();
      expect(res.status).toBe(401);
      expect(html).toContain("session ended");
      expect(res.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    }
  });

  test("sign-in from another origin is refused and sets no cookie", async () => {
    const admin = await newAdmin();
    const res = await new DashboardClient().signIn(admin.token, "https://evil.example");
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  test("sign-out needs the CSRF token, then clears the cookie", async () => {
    const { client } = await signedInAdmin();
    const csrf = await client.csrf();
    const post = (fields: Record<string, string>) =>
      fetch(`${DASHBOARD_URL}/signout`, {
        method: "POST",
        redirect: "manual",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: new URL(DASHBOARD_URL).origin,
          cookie: client.cookie!,
        },
        body: new URLSearchParams(fields),
      });
    expect((await post({})).status).toBe(403);
    const res = await post({ csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/^dashboard_session=; .*Max-Age=0/);
  });
});

describe("dashboard: CSRF and origin checks refuse with 403 and change nothing", () => {
  test.each(
    [
      ["no CSRF token", { csrf: null }],
      ["a wrong CSRF token", { csrf: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
      ["another session's CSRF token", { csrf: "other-session" }],
      ["a foreign Origin", { origin: "https://evil.example" }],
      ["no Origin", { origin: null }],
      ["Sec-Fetch-Site: cross-site", { fetchSite: "cross-site" }],
    ] as const,
  )("%s", async (_what, opts) => {
    const { client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const job = await deadJob(buyer.customerId);
    const options = { ...opts } as Record<string, unknown>;
    if (options.csrf === "other-session") {
      const other = await signedInAdmin();
      options.csrf = await other.client.csrf();
    }
    const { res, html } = await client.post("replay-job", { job_id: job, reason: "csrf test" }, options);
    expect(res.status).toBe(403);
    expect(html).toMatch(/refused/);
    expect(html).toContain("Nothing changed");
    const [j] = await sql`select status, attempts from ops.jobs where id = ${job}`;
    expect(j).toEqual({ status: "dead", attempts: 15 });
    expect(await auditCount(`job:${job}`)).toBe(0);
  });

  test("an action outside a form post (GET, JSON) is refused", async () => {
    const { client } = await signedInAdmin();
    const get = await fetch(`${DASHBOARD_URL}/actions/replay-job`, { headers: { cookie: client.cookie! } });
    expect(get.status).toBe(405);
    const json = await fetch(`${DASHBOARD_URL}/actions/replay-job`, {
      method: "POST",
      headers: { cookie: client.cookie!, origin: new URL(DASHBOARD_URL).origin, "content-type": "application/json" },
      body: JSON.stringify({ job_id: "1", reason: "x", csrf: await client.csrf() }),
    });
    expect(json.status).toBe(415);
  });
});

describe("dashboard: every override writes its audit row", () => {
  test("grant and revoke access with an expiry: billing stays, access follows, audit has before and after", async () => {
    const { admin, client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    expect(await customer(buyer.customerId)).toEqual({ billing_status: "lead", access_status: "blocked" });

    const grant = await client.post("set-access", {
      customer_id: buyer.customerId,
      access: "granted",
      hours: "24",
      reason: "beta tester, invoice paid by bank transfer",
    });
    const g = await auditRow(doneId(grant.res));
    expect(g).toMatchObject({
      actor_id: admin.id,
      actor_email: admin.email,
      action: "access.grant",
      target: `customer:${buyer.customerId}`,
      reason: "beta tester, invoice paid by bank transfer",
    });
    expect(g.before.customer).toMatchObject({ billing_status: "lead", access_status: "blocked" });
    expect(g.before.override).toBeNull();
    expect(g.after.customer).toMatchObject({ billing_status: "lead", access_status: "granted" });
    expect(g.after.override).toMatchObject({ access_status: "granted", created_by_email: admin.email });
    const hours = (Date.parse(g.after.override.expires_at) - Date.parse(g.at)) / 3_600_000;
    expect(hours).toBeCloseTo(24, 1);
    expect(await customer(buyer.customerId)).toEqual({ billing_status: "lead", access_status: "granted" });

    const revoke = await client.post("set-access", {
      customer_id: buyer.customerId,
      access: "blocked",
      hours: "1",
      reason: "abuse report 17",
    });
    const r = await auditRow(doneId(revoke.res));
    expect(r.action).toBe("access.revoke");
    expect(r.before.override.access_status).toBe("granted");
    expect(r.after.override.access_status).toBe("blocked");
    expect(await customer(buyer.customerId)).toEqual({ billing_status: "lead", access_status: "blocked" });
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.access_overrides where customer_id = ${buyer.customerId} and ended_reason = 'replaced'`;
    expect(n).toBe(1);

    const clear = await client.post("clear-access", { customer_id: buyer.customerId, reason: "report withdrawn" });
    const c = await auditRow(doneId(clear.res));
    expect(c.action).toBe("access.clear_override");
    expect(c.after.override).toBeNull();

    // the page shows the override rows and the audit rows
    const { html } = await client.page(`?done=${c.id}`);
    expect(html).toContain(`audit row #${c.id}`);
    expect(html).toContain("report withdrawn");
  });

  test("an expired access override falls back to billing's access, with a system audit row", async () => {
    const { client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const grant = await client.post("set-access", {
      customer_id: buyer.customerId,
      access: "granted",
      hours: "1",
      reason: "trial extension",
    });
    doneId(grant.res);
    expect((await customer(buyer.customerId)).access_status).toBe("granted");
    // an hour later (the clock moved: created and expiry shifted back together)
    await sql`update ops.access_overrides set created_at = created_at - interval '2 hours', expires_at = expires_at - interval '2 hours'
               where customer_id = ${buyer.customerId} and ended_at is null`;
    // expired overrides no longer count for any re-derivation, even before the sweep ends them
    await sql`update public.customers set access_status = access_status where id = ${buyer.customerId}`;
    expect((await customer(buyer.customerId)).access_status).toBe("blocked");
    await sql`update public.customers set access_status = 'granted' where id = ${buyer.customerId}`; // a stale row
    const [{ ended }] = await sql<{ ended: number }[]>`select ops.expire_access_overrides() as ended`;
    expect(ended).toBeGreaterThanOrEqual(1);
    expect(await customer(buyer.customerId)).toEqual({ billing_status: "lead", access_status: "blocked" });
    const [a] = await sql`select * from ops.audit_log where target = ${"customer:" + buyer.customerId}
                           and action = 'access.override_expired'`;
    expect(a.actor_id).toBeNull();
    expect(a.before.override.access_status).toBe("granted");
    expect(a.after.override).toBeNull();
    const [o] = await sql`select ended_reason from ops.access_overrides where customer_id = ${buyer.customerId}`;
    expect(o.ended_reason).toBe("expired");
  });

  test("replay a dead job: queued again with a fresh budget, the audit row keeps it without its payload", async () => {
    const { admin, client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const job = await deadJob(buyer.customerId);
    const { res } = await client.post("replay-job", { job_id: job, reason: "HubSpot fixed the property" });
    const a = await auditRow(doneId(res));
    expect(a).toMatchObject({ action: "job.replay", target: `job:${job}`, actor_email: admin.email });
    expect(a.before).toMatchObject({ status: "dead", attempts: 15 });
    expect(a.after).toMatchObject({ status: "queued", attempts: 0 });
    expect(a.before.payload).toBeUndefined();
    const [j] = await sql`select status from ops.jobs where id = ${job}`;
    expect(j.status).not.toBe("dead");
  });

  test("re-apply a dead Stripe event: processed, audited", async () => {
    const { client } = await signedInAdmin();
    const eventId = await deadEvent();
    const { res } = await client.post("replay-event", { event_id: eventId, reason: "lock timeout is gone" });
    const a = await auditRow(doneId(res));
    expect(a).toMatchObject({ action: "stripe_event.reapply", target: `stripe_event:${eventId}` });
    expect(a.before).toMatchObject({ status: "dead", attempts: 5 });
    expect(a.after).toMatchObject({ status: "processed", attempts: 6 });
    expect(a.before.payload).toBeUndefined();
  });

  test("resolve an order in review: the flag clears, the decision names the admin, audited", async () => {
    const { admin, client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const order = await orderInReview(buyer.id);
    const { res } = await client.post("resolve-review", {
      order_id: order,
      accept: "true",
      reason: "checked in Stripe",
    });
    const a = await auditRow(doneId(res));
    expect(a).toMatchObject({ action: "order.accept_review", target: `order:${order}` });
    expect(a.before).toMatchObject({ needs_review: true });
    expect(a.after).toMatchObject({ needs_review: false });
    const [r] = await sql`select decided_by, note from ops.order_reviews where order_id = ${order}`;
    expect(r).toEqual({ decided_by: `${admin.email} (dashboard)`, note: "checked in Stripe" });
  });

  test("escalate then close a ticket, each audited; a closed ticket refuses another close (409)", async () => {
    const { client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const ticket = await openTicket(buyer.id);
    const esc = await client.post("escalate-ticket", {
      ticket_id: ticket.id,
      priority: "urgent",
      queue: "billing",
      reason: "customer cannot pay",
    });
    const e = await auditRow(doneId(esc.res));
    expect(e.action).toBe("ticket.escalate");
    expect(e.target).toBe(`ticket:${ticket.ref}`);
    expect(e.after).toMatchObject({ priority: "urgent", queue: "billing" });
    expect(e.before.priority).not.toBe("urgent");

    const close = await client.post("close-ticket", { ticket_id: ticket.id, reason: "answered by phone" });
    const c = await auditRow(doneId(close.res));
    expect(c.before.status).toBe("open");
    expect(c.after.status).toBe("closed");
    const again = await client.post("close-ticket", { ticket_id: ticket.id, reason: "twice" });
    expect(again.res.status).toBe(409);
    expect(await auditCount(`ticket:${ticket.ref}`)).toBe(2);
  });

  test("bad input is refused with a clear 400 and changes nothing", async () => {
    const { client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    const job = await deadJob(buyer.customerId);
    const noReason = await client.post("replay-job", { job_id: job, reason: "  " });
    expect(noReason.res.status).toBe(400);
    expect(noReason.html).toContain("a reason is required");
    const forever = await client.post("set-access", {
      customer_id: buyer.customerId,
      access: "granted",
      hours: "100000",
      reason: "forever",
    });
    expect(forever.res.status).toBe(400);
    expect(forever.html).toContain("expires within a year");
    const unknown = await client.post("replay-job", { job_id: "999999999", reason: "no such job" });
    expect(unknown.res.status).toBe(404);
    expect(await auditCount(`job:${job}`)).toBe(0);
    expect(await customer(buyer.customerId)).toEqual({ billing_status: "lead", access_status: "blocked" });
  });
});

describe("dashboard: the page", () => {
  test("the function connects as the dashboard role: no superuser, no RLS bypass, nothing but becoming authenticated", async () => {
    const { client } = await signedInAdmin();
    expect((await client.page()).res.status).toBe(200);
    await expectNarrowSessions("dashboard");
    const [p] = await sql`
      select pg_has_role('dashboard', 'authenticated', 'member') as member,
             pg_has_role('dashboard', 'authenticated', 'usage') as inherits,
             has_function_privilege('dashboard', 'ops.dashboard_snapshot()', 'execute') as snapshot_without_set_role`;
    expect(p).toEqual({ member: true, inherits: false, snapshot_without_set_role: false });
  });

  test("shows an open incident with its runbook, exceptions with their next action, and a journey on search", async () => {
    const { client } = await signedInAdmin();
    const incident = await openIncident();
    const buyer = await newBuyerPerson();
    const job = await deadJob(buyer.customerId);
    const { res, html } = await client.page(`?q=${encodeURIComponent(buyer.email)}`);
    expect(res.status).toBe(200);
    expect(html).toContain(incident.summary);
    expect(html).toContain(incident.runbook);
    expect(html).toContain(`select ops.replay_job(${job});`);
    expect(html).toContain(`name="job_id" value="${job}"`);
    expect(html).toMatch(/<h2>Customer journey<\/h2>[\s\S]*customer:/); // the journey table lists the customer
    const bad = await client.page(`?q=${"x".repeat(300)}`);
    expect(bad.res.status).toBe(200);
    expect(bad.html).toContain("at most 200 characters");
  });

  test("today's revenue and counts, the last CRM sync and email, and the support backlog follow the pipeline", async () => {
    const { client } = await signedInAdmin();
    type Today = { revenue: number; paid: number; all_paid: number };
    const today = async () =>
      (await sql<Today[]>`
        select coalesce(sum(revenue) filter (where currency = 'usd'), 0)::int as revenue,
               coalesce(sum(paid) filter (where currency = 'usd'), 0)::int as paid, coalesce(sum(paid), 0)::int as all_paid
          from ops.revenue_today`)[0];
    const last = async () =>
      Object.fromEntries(
        (await sql<{ what: string; at: Date | null }[]>`select what, last_success_at as at from ops.last_successes`)
          .map((r) => [r.what, r.at?.getTime() ?? 0]),
      );
    const backlog = async (queue: string) =>
      (await sql<{ open: number }[]>`select open::int from ops.support_backlog where queue = ${queue}`)[0].open;

    const before = await today();
    const startedAt = (await sql<{ t: Date }[]>`select now() as t`)[0].t.getTime();
    const buyer = await newBuyerPerson();
    const orderId = await paidOrder(buyer.id);
    const [{ charged }] = await sql<{ charged: number }[]>`
      select amount_charged::int as charged from public.orders where id = ${orderId} and currency_charged = 'usd'`;
    const after = await today();
    expect(after.paid).toBe(before.paid + 1);
    expect(after.revenue).toBe(before.revenue + charged);
    // the order's receipt (email) and its deal (CRM, capture adapter) land after the webhook answered
    const latest = await waitFor("the receipt and the CRM deal", async () => {
      const l = await last();
      return l.email_send >= startedAt && l.crm_sync >= startedAt ? l : undefined;
    }, 60_000);
    const ticket = await openTicket(buyer.id);
    const [{ queue }] = await sql<
      { queue: string }[]
    >`select queue from public.support_tickets where id = ${ticket.id}`;
    const open = await backlog(queue);
    expect(open).toBeGreaterThanOrEqual(1);

    // the page shows the same figures as the Studio views
    const { res, html } = await client.page();
    expect(res.status).toBe(200);
    const usd = new Intl.NumberFormat("en", { style: "currency", currency: "USD" }).format(after.revenue / 100);
    expect(html).toContain(`Revenue USD<b>${usd}</b>`);
    expect(html).toContain(`Paid<b>${after.all_paid}</b>`);
    // the last email as the page says it, between what the view said before and after the page (the
    // buyer's welcome or the ticket's notices may be sent meanwhile)
    const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const shown = html.match(/<td data-label="What">email_send<\/td>\s*<td data-label="Last success">([^<]+)<\/td>/)
      ?.[1];
    const afterPage = await last();
    expect(shown && shown >= minute(latest.email_send) && shown <= minute(afterPage.email_send)).toBe(true);
    expect(html).toMatch(new RegExp(`<td data-label="Queue">${queue}</td>\\s*<td data-label="Open">${open}</td>`));
  });
});

describe("dashboard: headings count totals, lists page newest first (#20)", () => {
  test("one reconciliation run of 60 findings: the heading says every open one, page 1 then page 2 in id order", async () => {
    const { client } = await signedInAdmin();
    const run = randomUUID().slice(0, 8);
    // one run: one found_at for all 60 (the newest findings here), so only the id orders them
    const ours = (await sql<{ id: string; object_id: string }[]>`
      insert into ops.reconciliation_findings (kind, object_id, next_action, found_at, last_seen_at)
      select 'payment_without_order', ${"pi_dash_" + run + "_"} || n, 'dashboard paging test', now(), now()
        from generate_series(1, 60) n
      returning id, object_id`).sort((a, b) => Number(b.id) - Number(a.id)).map((f) => f.object_id);
    try {
      const total = async () =>
        (await sql<{ n: number }[]>`select count(*)::int as n from ops.reconciliation_findings where status = 'open'`)[
          0
        ]
          .n;
      const before = await total();
      expect(before).toBeGreaterThan(50);
      const section = (html: string) => html.slice(html.indexOf('<section id="findings">')).split("</section>")[0];
      const objects = (html: string) =>
        [...section(html).matchAll(/<td data-label="Object"><code>([^<]+)<\/code>/g)].map((m) => m[1]);

      const first = await client.page();
      expect(await total()).toBe(before);
      const f1 = section(first.html);
      expect(f1).toContain(`<h2>Reconciliation findings (${before.toLocaleString("en")} open)</h2>`);
      expect(f1).toContain(`Showing 50 of ${before.toLocaleString("en")} (1–50), newest first.`);
      expect(objects(first.html)).toEqual(ours.slice(0, 50));
      const next = /<a href="([^"]+)">Next (\d+) →<\/a>/.exec(f1);
      expect(next?.[1]).toBe(`${DASHBOARD_URL}?findings_page=2#findings`);

      const second = await client.page("?findings_page=2");
      expect(objects(second.html).slice(0, 10)).toEqual(ours.slice(50));
      expect(section(second.html)).toMatch(/Showing \d+ of [\d,]+ \(51–\d+\), newest first\./);
      expect(section(second.html)).toContain(`href="${DASHBOARD_URL}#findings">← Previous</a>`);
      // the same page twice is the same rows (one found_at, the id breaks the tie)
      expect(objects((await client.page("?findings_page=2")).html)).toEqual(objects(second.html));
      // past the last page: it says so rather than showing nothing silently
      expect(section((await client.page("?findings_page=9999")).html)).toContain("is past the last page");
    } finally {
      await sql`update ops.reconciliation_findings set status = 'resolved', resolved_at = now()
                 where object_id like ${"pi_dash_" + run + "_%"}`;
    }
  });

  test("exceptions, open tickets, customers and the audit log count what exists, not what is shown", async () => {
    const { client } = await signedInAdmin();
    const buyer = await newBuyerPerson();
    await openTicket(buyer.id);
    await deadJob(buyer.customerId);
    const [n] = await sql<{ exceptions: number; tickets: number; customers: number; audit: number }[]>`
      select (select count(*)::int from ops.pipeline_exceptions) as exceptions,
             (select count(*)::int from public.support_tickets where status in ('open', 'pending')) as tickets,
             (select count(*)::int from public.customers) as customers,
             (select count(*)::int from ops.audit_log) as audit`;
    const { html } = await client.page();
    const c = (x: number) => x.toLocaleString("en");
    expect(html).toContain(`<h2>Exceptions (${c(n.exceptions)})</h2>`);
    expect(html).toContain(`<h3>Open tickets (${c(n.tickets)})</h3>`);
    expect(html).toContain(`<h2>Billing and access (${c(n.customers)} customers)</h2>`);
    expect(html).toContain(`<h2>Audit log (${c(n.audit)} changes)</h2>`);
  });
});
