// The dashboard page: the sections of ops.dashboard_snapshot() (and a journey on search) as HTML, with
// a form per override. Each form posts to /actions/<name> with the session's CSRF token and a reason.
import { DURATIONS } from "./actions.ts";
import { type Html, html } from "./html.ts";
import { formatMoney } from "../_shared/providers/money.ts";
import { formatUtc } from "../_shared/notify/layout.ts";

type Row = Record<string, unknown>;
/** The lists shown a page at a time (?<list>_page=N), each with its total (ops.dashboard_lists). */
export const LISTS = ["exceptions", "customers", "tickets", "findings", "audit"] as const;
type List = typeof LISTS[number];
type Page = { page: number; size: number; offset: number };
/** The founder's figures (ops.dashboard_figures; the ops.*_daily views in Studio). */
export type Figures = {
  payments_7d: { succeeded: number; failed_attempts: number; success_rate: number | null };
  duplicates_today: number;
  duplicates_7d: number;
  overrides_this_week: number;
  overrides_last_week: number;
  lag_7d: { grants: number; p95_s: number | null; max_s: number | null; over_5_min: number };
  bounces_7d: { sent: number; bounced: number; bounce_rate: number | null };
};
export type Snapshot = {
  now: string;
  revenue_today: Row[];
  customers_total: number;
  customers: Row[];
  last_successes: Row[];
  incidents: Row[];
  exceptions: Row[];
  queues: Row[];
  support_backlog: Row[];
  tickets: Row[];
  queue_names: string[];
  priorities: string[];
  findings: Row[];
  audit: Row[];
  exceptions_total?: number;
  tickets_total?: number;
  findings_total?: number;
  audit_total?: number;
  pages?: Partial<Record<List, Page>>;
  figures?: Figures;
  /** Sellers whose Stripe account cannot take payments or is asked for information (#18, Connect). */
  blocked_sellers?: Row[];
};
export type View = {
  base: string;
  csrf: string;
  email: string;
  snapshot: Snapshot;
  query?: string;
  journey?: Row[];
  journeyError?: string;
  done?: string;
  /** The pages the URL asked for (?findings_page=2), kept in the links of the other lists. */
  pages?: Record<string, number>;
};

/** 2026-11-22 14:38 UTC (as in the emails), or a dash. */
export function when(value: unknown): string {
  if (!value) return "—";
  const d = new Date(String(value));
  return Number.isNaN(d.getTime()) ? String(value) : formatUtc(d.toISOString());
}

/** An amount in Stripe's minor units, as the emails and the CRM show it (Stripe's exponent per
 * currency: HUF has 2 digits there, where Intl says 0). */
export function money(amount: unknown, currency: unknown): string {
  const code = String(currency ?? "");
  try {
    return formatMoney(Number(amount ?? 0), code);
  } catch {
    return `${amount} ${code.toUpperCase()}`;
  }
}

/** A Postgres interval as text (01:02:03.45, 2 days 03:00:00) without its fractions of a second. */
const age = (v: unknown) => (v ? String(v).replace(/\.\d+$/, "") : "—");

function action(base: string, csrf: string, name: string, hidden: Record<string, string>, body: Html, label: string) {
  return html`<form class="action" method="post" action="${base}/actions/${name}">
<input type="hidden" name="csrf" value="${csrf}">${
    Object.entries(hidden).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)
  }${body}<input type="text" name="reason" required maxlength="1000" placeholder="reason (kept in the audit log)" aria-label="reason">
<button type="submit">${label}</button></form>`;
}

function table(headers: string[], rows: Html[][], empty: string): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`
    <table>
      <thead>
        <tr>${headers.map((x) => html`<th>${x}</th>`)}</tr>
      </thead>
      <tbody>${rows.map((cells) =>
        html`<tr>${cells.map((c, i) => html`<td data-label="${headers[i]}">${c}</td>`)}</tr>`
      )}</tbody>
    </table>
  `;
}
const t = (v: unknown) => html`${v ?? "—"}`;
const count = (n: unknown) => Number(n ?? 0).toLocaleString("en");
const ANCHOR: Record<List, string> = {
  exceptions: "exceptions",
  customers: "customers",
  tickets: "support",
  findings: "findings",
  audit: "audit",
};

/** What a list leaves out and the links to the rest: "Showing 50 of 274 (1–50), newest first. Next 50 →". */
function pager(v: View, list: List, shown: number, total: number, order: string): Html {
  const p = v.snapshot.pages?.[list] ?? { page: 1, size: Math.max(shown, 1), offset: 0 };
  if (p.page === 1 && shown >= total) return html``;
  const link = (page: number, label: string) => {
    const params = new URLSearchParams();
    if (v.query) params.set("q", v.query);
    for (const [k, n] of Object.entries(v.pages ?? {})) if (k !== list && n > 1) params.set(`${k}_page`, String(n));
    if (page > 1) params.set(`${list}_page`, String(page));
    const qs = params.toString();
    return html`<a href="${v.base}${qs ? `?${qs}` : ""}#${ANCHOR[list]}">${label}</a>`;
  };
  const last = p.offset + shown;
  const pages = Math.max(1, Math.ceil(total / p.size));
  const where = shown === 0
    ? html`Page ${p.page} is past the last page (${pages}) of ${count(total)}.`
    : html`Showing ${count(shown)} of ${count(total)} (${count(p.offset + 1)}–${count(last)}), ${order}.`;
  return html`<p class="muted pager">${where} ${p.page > 1 ? link(Math.min(p.page - 1, pages), "← Previous") : ""} ${
    last < total ? link(p.page + 1, `Next ${count(Math.min(p.size, total - last))} →`) : ""
  }</p>`;
}

const percent = (rate: unknown) => rate === null || rate === undefined ? "—" : `${(Number(rate) * 100).toFixed(1)} %`;
const seconds = (s: unknown) => s === null || s === undefined ? "—" : `${Number(s).toLocaleString("en")} s`;

function figures(s: Snapshot): Html {
  const f = s.figures;
  if (!f) return html``;
  const p = f.payments_7d;
  const lag = f.lag_7d;
  const b = f.bounces_7d;
  return html`
    <section id="figures">
      <h2>Figures to watch</h2>
      <div class="cards">
        <div
          class="card">Payment success (7 days)<b>${percent(p.success_rate)}</b><span class="muted">${count(
            p.succeeded,
          )} paid, ${count(p.failed_attempts)} failed attempts</span></div>
        <div
          class="card">Duplicate deliveries today<b>${count(f.duplicates_today)}</b><span class="muted">${count(
            f.duplicates_7d,
          )} in 7 days, none applied twice</span></div>
        <div class="card">Overrides this week<b>${count(f.overrides_this_week)}</b><span class="muted">${count(
          f.overrides_last_week,
        )} last week</span></div>
        <div
          class="card">Payment → access p95 (7 days)<b class="${lag.over_5_min > 0 ? "bad" : ""}">${seconds(
            lag.p95_s,
          )}</b><span class="muted">max ${seconds(lag.max_s)}, ${count(lag.over_5_min)} over 5 min of ${count(
            lag.grants,
          )}</span></div>
        <div
          class="card">Email bounce rate (7 days)<b>${percent(b.bounce_rate)}</b><span class="muted">${count(
            b.bounced,
          )} of ${count(b.sent)} emails</span></div>
      </div>
      <p
        class="muted">Per day in Studio: <code>ops.payment_success_daily</code>, <code>ops.duplicate_deliveries_daily</code>,
    <code>ops.overrides_weekly</code>, <code>ops.payment_access_lag_daily</code>, <code>ops.email_bounce_daily</code>.</p>
    </section>
  `;
}

function today(s: Snapshot): Html {
  const rows = s.revenue_today;
  const sum = (k: string) => rows.reduce((n, r) => n + Number(r[k] ?? 0), 0);
  const revenue = rows.length
    ? rows.map((r) =>
      html`<div class="card">Revenue ${String(r.currency).toUpperCase()}<b>${money(r.revenue, r.currency)}</b>
<span class="muted">net ${money(r.net, r.currency)}</span></div>`
    )
    : html`<div class="card">Revenue<b>0</b></div>`;
  return html`
    <section id="today">
      <h2>Today (${String(s.now).slice(0, 10)})</h2>
      <div class="cards">${revenue}
    <div class="card">Paid<b>${sum("paid")}</b></div><div class="card">Refunded<b>${sum("refunded")}</b></div>
    <div class="card">Disputed<b>${sum("disputed")}</b></div></div>
    </section>
  `;
}

function incidents(s: Snapshot): Html {
  return html`<section id="incidents"><h2>Open incidents (${s.incidents.length})</h2>${
    table(
      ["Rule", "Severity", "Summary", "Open since", "Runbook"],
      s.incidents.map((i) => [
        t(i.rule),
        html`<span class="${i.severity === "critical" ? "bad" : "warn"}">${i.severity}</span>`,
        t(i.summary),
        html`${when(i.opened_at)} <span class="muted">(last seen ${when(i.last_seen_at)})</span>`,
        t(i.runbook),
      ]),
      "No open incident.",
    )
  }</section>`;
}

function exceptionActions(v: View, e: Row): Html {
  const ref = String(e.ref ?? "");
  const kind = String(e.exception ?? "");
  if (["dead job", "undeliverable job", "communication degraded"].includes(kind)) {
    return action(v.base, v.csrf, "replay-job", { job_id: ref }, html``, "Replay job");
  }
  if (kind === "failed Stripe event" && ref.startsWith("evt_")) {
    return action(v.base, v.csrf, "replay-event", { event_id: ref }, html``, "Re-apply event");
  }
  if (kind === "order payment in review" || kind === "order needs review") {
    return html`${action(v.base, v.csrf, "resolve-review", { order_id: ref, accept: "true" }, html``, "Accept")}${
      action(v.base, v.csrf, "resolve-review", { order_id: ref, accept: "false" }, html``, "Refuse")
    }`;
  }
  return html``;
}

function exceptions(v: View): Html {
  const s = v.snapshot;
  const total = s.exceptions_total ?? s.exceptions.length;
  return html`<section id="exceptions"><h2>Exceptions (${count(total)})</h2>${
    pager(v, "exceptions", s.exceptions.length, total, "newest first")
  }${
    table(
      ["What", "Subject", "Ref", "Since", "Error", "Next action"],
      s.exceptions.map((e) => {
        const actions = exceptionActions(v, e);
        return [
          html`<span class="bad">${e.exception}</span>`,
          t(e.subject),
          html`<code>${e.ref}</code>`,
          t(when(e.since)),
          t(e.error),
          html`${e.next_action}${actions.html ? html`<details><summary>Act</summary>${actions}</details>` : ""}`,
        ];
      }),
      "Nothing needs a person.",
    )
  }</section>`;
}

function queues(s: Snapshot): Html {
  return html`<section id="queues"><h2>Queues</h2>${
    table(
      ["Kind", "Queued", "Running", "Retrying", "Dead", "Oldest due", "Failure rate (1 h)", "p95 (s)"],
      s.queues.map((q) => [
        t(q.kind),
        t(q.queued),
        t(q.running),
        t(q.retrying),
        html`<span class="${Number(q.dead) > 0 ? "bad" : ""}">${q.dead}</span>`,
        t(age(q.oldest_due_age)),
        t(q.failure_rate_last_hour),
        t(q.p95_enqueue_to_success_s),
      ]),
      "No queue.",
    )
  }</section>`;
}

function support(v: View): Html {
  const s = v.snapshot;
  const options = (names: string[], empty: string) =>
    html`<option value="">${empty}</option>${names.map((n) => html`<option value="${n}">${n}</option>`)}`;
  const open = s.tickets_total ?? s.tickets.length;
  const ticketsHeading = html`<h3>Open tickets (${count(open)})</h3>${
    pager(v, "tickets", s.tickets.length, open, "most urgent first, then oldest waiting")
  }`;
  return html`<section id="support"><h2>Support backlog</h2>${
    table(
      ["Queue", "Open", "Pending", "High or urgent", "Oldest"],
      s.support_backlog.map((b) => [t(b.queue), t(b.open), t(b.pending), t(b.high_or_urgent), t(age(b.oldest_age))]),
      "No queue.",
    )
  }${ticketsHeading}${
    table(
      ["Ticket", "Subject", "Queue", "Priority", "Status", "Opened", "Act"],
      s.tickets.map((k) => [
        html`<code>${k.ref}</code>`,
        t(k.subject),
        t(k.queue),
        t(k.priority),
        t(k.status),
        t(when(k.created_at)),
        html`<details><summary>Escalate or close</summary>${
          action(
            v.base,
            v.csrf,
            "escalate-ticket",
            { ticket_id: String(k.id) },
            html`<select name="priority" aria-label="priority">${options(s.priorities, "priority: keep")}</select>
<select name="queue" aria-label="queue">${options(s.queue_names, "queue: keep")}</select>`,
            "Escalate",
          )
        }${action(v.base, v.csrf, "close-ticket", { ticket_id: String(k.id) }, html``, "Close")}</details>${
          replyForm(v, k)
        }`,
      ]),
      "No open ticket.",
    )
  }</section>`;
}

function customers(v: View): Html {
  const s = v.snapshot;
  const cls = (a: unknown) => (a === "granted" ? "ok" : a === "grace" ? "warn" : "bad");
  return html`<section id="customers"><h2>Billing and access (${count(s.customers_total)} customers)</h2>
<p class="muted">Billing is Stripe's truth and never changes here; an override changes access only, until it expires.</p>${
    pager(
      v,
      "customers",
      s.customers.length,
      s.customers_total,
      "overrides and blocked access first, then latest change",
    )
  }${
    table(
      ["Customer", "Billing", "Access", "Why blocked / override", "Act"],
      s.customers.map((c) => [
        html`${c.email ?? "(no email)"}<br><code>${c.customer_id}</code>`,
        t(c.billing_status),
        html`<span class="${cls(c.access_status)}">${c.access_status}</span>${
          c.override_access
            ? html`
              <span class="muted">(billing: ${c.billing_access})</span>
            `
            : ""
        }`,
        c.override_access
          ? html`override ${c.override_access} by ${c.override_by ?? "an admin"} until ${
            when(c.override_expires_at)
          }: ${c.override_reason}${c.blocked_reason ? html`<br>${c.blocked_reason}` : ""}`
          : t(c.blocked_reason ?? ""),
        html`<details><summary>Override access</summary>${
          action(
            v.base,
            v.csrf,
            "set-access",
            { customer_id: String(c.customer_id) },
            html`<select name="access" aria-label="access"><option value="granted">grant</option>
<option value="blocked">revoke</option></select><select name="hours" aria-label="expires in">${
              DURATIONS.map(([hours, label]) => html`<option value="${hours}">for ${label}</option>`)
            }</select>`,
            "Apply",
          )
        }${
          c.override_access
            ? action(v.base, v.csrf, "clear-access", { customer_id: String(c.customer_id) }, html``, "End override")
            : ""
        }</details>`,
      ]),
      "No customer yet.",
    )
  }</section>`;
}

function blockedSellers(s: Snapshot): Html {
  const rows = s.blocked_sellers ?? [];
  return html`<section id="sellers"><h2>Blocked sellers (${rows.length})</h2>${
    table(
      ["Seller", "Status", "Why", "Next step", "Deadline"],
      rows.map((b) => [
        html`${b.display_name ?? b.email ?? b.seller_id} <span class="muted">${b.stripe_account_id}</span>`,
        html`<span class="${
          b.status === "action_required" || b.status === "pending" ? "warn" : "bad"
        }">${b.status}</span>`,
        t(b.why_blocked),
        t(b.next_step),
        html`${when(b.current_deadline)}`,
      ]),
      "No seller is blocked.",
    )
  }</section>`;
}

function lastSuccesses(s: Snapshot): Html {
  return html`<section id="last"><h2>Last successes</h2>${
    table(
      ["What", "Last success", "Meaning"],
      s.last_successes.map((l) => [t(l.what), t(when(l.last_success_at)), t(l.detail)]),
      "Nothing yet.",
    )
  }</section>`;
}

function findings(v: View): Html {
  const s = v.snapshot;
  const total = s.findings_total ?? s.findings.length;
  return html`<section id="findings"><h2>Reconciliation findings (${count(total)} open)</h2>${
    pager(v, "findings", s.findings.length, total, "newest first")
  }${
    table(
      ["Kind", "Object", "Found", "Next action"],
      s.findings.map((f) => [t(f.kind), html`<code>${f.object_id}</code>`, t(when(f.found_at)), t(f.next_action)]),
      "No open finding: Stripe and the ledger agree.",
    )
  }</section>`;
}

function journey(v: View): Html {
  return html`<section id="journey"><h2>Customer journey</h2>
<form class="action" method="get" action="${v.base}"><input type="search" name="q" value="${v.query ?? ""}"
 maxlength="200" placeholder="email, order id, evt_..., ticket id, T-000123 or request id" aria-label="search">
<button type="submit">Trace</button></form>${v.journeyError ? html`<p class="error">${v.journeyError}</p>` : ""}${
    v.journey
      ? table(
        ["When", "Source", "Entity", "What", "Detail", "Event or request"],
        v.journey.map((j) => [
          t(when(j.at)),
          t(j.source),
          t(j.entity),
          t(j.what),
          t(j.detail),
          j.correlation_id ? html`<code>${j.correlation_id}</code>` : t(null),
        ]),
        `Nothing found for ${v.query}.`,
      )
      : ""
  }</section>`;
}

function audit(v: View): Html {
  const total = v.snapshot.audit_total ?? v.snapshot.audit.length;
  return html`<section id="audit"><h2>Audit log (${count(total)} changes)</h2>${
    pager(v, "audit", v.snapshot.audit.length, total, "newest first")
  }${
    table(
      ["#", "When", "Who", "Action", "Target", "Reason"],
      v.snapshot.audit.map((a) => [
        html`<span class="${String(a.id) === v.done ? "ok" : ""}">${a.id}</span>`,
        t(when(a.at)),
        t(a.actor_email ?? "system"),
        t(a.action),
        html`<code>${a.target}</code>`,
        t(a.reason),
      ]),
      "No override yet.",
    )
  }</section>`;
}

export function dashboardBody(v: View): Html {
  const doneRow = v.done ? v.snapshot.audit.find((a) => String(a.id) === v.done) : undefined;
  return html`${
    doneRow
      ? html`<p class="notice" role="status">Done: ${doneRow.action} on <code>${doneRow.target}</code>, audit row #${doneRow.id}.</p>`
      : ""
  }<nav><a href="#today">Today</a><a href="#figures">Figures</a><a href="#incidents">Incidents</a><a href="#exceptions">Exceptions</a>
<a href="#queues">Queues</a><a href="#support">Support</a><a href="#customers">Customers</a><a href="#last">Last successes</a>
<a href="#findings">Reconciliation</a><a href="#sellers">Sellers</a><a href="#journey">Journey</a><a href="#audit">Audit</a></nav>
${today(v.snapshot)}${figures(v.snapshot)}${incidents(v.snapshot)}${exceptions(v)}${journey(v)}${queues(v.snapshot)}${
    support(v)
  }${customers(v)}${lastSuccesses(v.snapshot)}${findings(v)}${blockedSellers(v.snapshot)}${audit(v)}`;
}

/** An agent's answer to a ticket (#20): emailed to its requester, threaded, with a reply address back to it. */
function replyForm(v: View, k: Row): Html {
  return html`
    <details>
      <summary>Reply</summary>
      <form class="action" method="post" action="${v.base}/actions/reply-ticket">
    <input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="ticket_id" value="${String(k.id)}">
    <textarea name="body" required maxlength="10000" aria-label="reply to ${String(k.ref)}"
    placeholder="your answer: the requester gets it by email"></textarea>
    <button type="submit">Send reply</button></form>
    </details>
  `;
}
