// Section "support": support request -> acknowledgement captured, and dispute event -> ticket, at a
// steady rate through the real functions (support-intake over HTTP as each user, the notify and
// support-desk workers over pg_net). Targets (issue #9): p95 <= 10 s for both. Baseline in the same
// run: the paid -> CRM deal latency of section jobs@rate when it ran, else none.
import { randomUUID } from "node:crypto";
import { apiKeys, config, userToken } from "../../lib/config.ts";
import { fetchFrom, randomLoopback } from "../../lib/loopback-fetch.ts";
import { pendingOrders } from "../../lib/seed.ts";
import { dispute } from "../../lib/scenarios.ts";
import { type BenchContext, log, type Section, sleep } from "../context.ts";
import { benchCheckout } from "../events.ts";
import { quiesce, requireCaptureAdapter } from "../jobs.ts";
import { openLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";
import { waitFor } from "../../lib/wait.ts";

const TARGET_MS = 10_000;

/** Waits for n of something; at the limit it says how far it got and the report counts the missing. */
async function waitCount(what: string, count: () => Promise<number>, n: number, maxS: number) {
  let got = 0;
  try {
    await waitFor(what, async () => (got = await count()) >= n, maxS * 1000);
  } catch {
    log(`support: ${got}/${n} ${what} after ${maxS}s`);
  }
}

async function supportRequests(ctx: BenchContext, n: number, rate: number) {
  const [{ anon }, users] = [
    await apiKeys(),
    await ctx.db<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at)
      select 'bench-support-' || ${ctx.runTag} || '-' || g || '@example.com', now() from generate_series(1, ${n}::int) g
      returning id`,
  ];
  const tokens = await Promise.all(users.map((u) => userToken(u.id)));
  const url = config.functionUrl("support-intake");
  const sentAt = new Map<string, number>();
  const statuses: Record<string, number> = {};
  const t0 = Date.now() + 50;
  await Promise.all(users.map(async (_, i) => {
    await sleep(Math.max(0, t0 + (i * 1000) / rate - Date.now()));
    const started = Date.now();
    // distinct clients, each from its own address: the per-address limit is not what this measures
    const res = await fetchFrom(randomLoopback())(url, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens[i]}`, apikey: anon, "content-type": "application/json" },
      body: JSON.stringify({
        category: "technical",
        subject: "Bench request",
        message: "It does not load.",
        idempotency_key: randomUUID(),
      }),
    });
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.ok) sentAt.set(((await res.json()) as { ticket: { id: string } }).ticket.id, started);
    else await res.body?.cancel();
  }));
  const ids = [...sentAt.keys()];
  const count = async () =>
    (await ctx.db`
      select count(*)::int as n from ops.notifications
       where template = 'support_ack' and entity = any(${ids.map((id) => `ticket:${id}`)}::text[])`)[0].n as number;
  await waitCount("acknowledgements", count, ids.length, 120);
  const rows = await ctx.db`
    select substr(n.entity, 8) as ticket_id, extract(epoch from c.created_at)::float8 * 1000 as captured_ms
      from ops.notifications n join ops.notification_captures c on c.key = n.dedupe_key
     where n.template = 'support_ack' and n.entity = any(${ids.map((id) => `ticket:${id}`)}::text[])`;
  const ms = rows.map((r) => (r.captured_ms as number) - sentAt.get(r.ticket_id as string)!);
  return { ms: summarize(ms), statuses, acknowledged: rows.length, requested: n };
}

async function disputeTickets(ctx: BenchContext, n: number, rate: number) {
  const orders = await pendingOrders(ctx.db, n);
  const created = Math.floor(Date.now() / 1000);
  // benchCheckout's payment intent for tag t is pi_b<t>
  const pis = orders.map((_, i) => `pi_b${ctx.runTag}d${i}`);
  // pay them first (not measured), then dispute them at the rate
  await openLoop(
    ctx,
    await signAll(
      orders.map((o, i) => benchCheckout(`${ctx.runTag}d${i}`, o, { id: `evt_b${ctx.runTag}dp${i}`, created })),
    ),
    rate * 4,
  );
  const disputes = orders.map((_, i) =>
    dispute(pis[i], `ch_b${ctx.runTag}d${i}`, "needs_response", created + 1, `dp_b${ctx.runTag}${i}`)
  );
  const sent = await openLoop(ctx, await signAll(disputes), rate);
  const keys = disputes.map((d) => `dispute:${(d.data.object as { id: string }).id}`);
  const count = async () =>
    (await ctx.db`select count(*)::int as n from public.support_tickets where case_key = any(${keys}::text[])`)[0]
      .n as number;
  await waitCount("dispute tickets", count, n, 120);
  const rows = await ctx.db`
    select extract(epoch from (t.created_at - e.received_at))::float8 * 1000 as ms
      from ops.stripe_events e join public.support_tickets t on t.case_key = 'dispute:' || e.object_id
     where e.event_id = any(${disputes.map((d) => d.id)}::text[])`;
  return { ms: summarize(rows.map((r) => r.ms as number)), tickets: rows.length, disputes: n, http: sent.tally.http };
}

export const supportLatency: Section = {
  name: "support",
  async run(ctx) {
    requireCaptureAdapter();
    const quiet = await quiesce(ctx, "support");
    const { supportRequests: n, supportRate: rate } = ctx.settings;
    log(`support: ${n} requests from ${n} users at ${rate}/s through support-intake, then ${n} disputes at ${rate}/s`);
    const req = await supportRequests(ctx, n, rate);
    const dsp = await disputeTickets(ctx, n, rate);
    const deal = ctx.metrics.get("jobs@rate.deal_p95_ms");
    const baseline = deal === undefined
      ? undefined
      : { label: "paid -> crm.deal job p95 (jobs@rate)", value: deal, unit: "ms" };
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({
        section: "support",
        figure: `support request -> acknowledgement captured ${p} @${rate}/s`,
        value: req.ms[p],
        unit: "ms",
        baseline: p === "p95" ? baseline : undefined,
        note: p === "p95" ? `target <= ${TARGET_MS} ms` : undefined,
      });
    }
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({
        section: "support",
        figure: `dispute event -> ticket ${p} @${rate}/s`,
        value: dsp.ms[p],
        unit: "ms",
        baseline: p === "p95" ? baseline : undefined,
        note: p === "p95" ? `target <= ${TARGET_MS} ms` : undefined,
      });
    }
    ctx.report.add({
      section: "support",
      figure: `requests not acknowledged / disputes without a ticket (of ${n} each)`,
      value: n - req.acknowledged + (n - dsp.tickets),
      unit: "",
    });
    ctx.report.details.support = { quiesceBefore: quiet, requests: req, disputes: dsp };
  },
};
