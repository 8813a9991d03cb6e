// Section "jobs@rate": paid order -> CRM deal upsert latency, checkouts sent at a steady rate, with
// the capture adapter (no faults). sections/crm-latency-faults.ts measures the same against a faulty,
// rate-limited HubSpot fake.
import { pendingOrders } from "../../lib/seed.ts";
import { type BenchContext, log, type Section } from "../context.ts";
import { benchCheckout } from "../events.ts";
import { attemptOutcomes, quiesce, requireCaptureAdapter, waitJobs } from "../jobs.ts";
import { openLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";

type Variant = {
  /** the report's section name */
  section: string;
  /** the CRM adapter the jobs must have run with (checked, reported) */
  adapter: "capture" | "hubspot";
  /** how long to wait for the deal jobs */
  maxSeconds: number;
  /** label of the event and order ids */
  tag: string;
  /** orders and their rate per second, when not BENCH_CRM_EVENTS / BENCH_CRM_RATE */
  events?: number;
  rate?: number;
  /** false: measure with earlier work still queued (a backlog is the point) */
  quiesce?: boolean;
};

/** Sends m paid checkouts at crmRate/s, waits for their crm.deal jobs, reports paid -> CRM latency. */
export async function measureCrmLatency(ctx: BenchContext, v: Variant) {
  const s = { ...ctx.settings, crmRate: v.rate ?? ctx.settings.crmRate };
  const m = v.events ?? s.crmEvents;
  const quiet = v.quiesce === false ? undefined : await quiesce(ctx, v.section);
  const orders = await pendingOrders(ctx.db, m);
  const created = Math.floor(Date.now() / 1000);
  const eventIds = orders.map((_, i) => `evt_b${ctx.runTag}${v.tag}${i}`);
  const events = await signAll(
    orders.map((orderId, i) => benchCheckout(`${ctx.runTag}${v.tag}${i}`, orderId, { id: eventIds[i], created })),
  );
  log(
    `commit -> CRM (${v.adapter}): ${m} checkout.session.completed at ${s.crmRate}/s, then waiting for their crm.deal jobs (limit ${v.maxSeconds}s)`,
  );
  const sent = await openLoop(ctx, events, s.crmRate);
  // the deal job is enqueued in the webhook's own transaction, so it exists once the event is acknowledged
  const ids = (await ctx.db`
    select id from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = any(${orders}::text[])`).map((r) =>
    String(r.id)
  );
  const waited = ids.length ? await waitJobs(ctx, ids, v.maxSeconds) : { done: false, counts: {}, elapsedS: 0 };
  // per order: when the webhook took its checkout event (the ledger row's received_at, now() of the
  // transaction that enqueued the job: its commit follows within ms). Not orders.paid_at: since #8 that
  // is Stripe's time of the payment (the event's created, whole seconds, set once for the whole run).
  const received = new Map(
    (await ctx.db<{ order_id: string; ms: number }[]>`
      select x.order_id::text as order_id, extract(epoch from e.received_at)::float8 * 1000 as ms
        from unnest(${orders}::uuid[], ${eventIds}::text[]) as x(order_id, event_id)
        join ops.stripe_events e on e.event_id = x.event_id`).map((r) => [r.order_id, r.ms]),
  );
  // the deal job's success and the capture adapter's deal upsert, each minus that
  const rows = await ctx.db`
    select extract(epoch from (j.succeeded_at - e.received_at))::float8 * 1000 as done_ms,
           extract(epoch from (cap.first_at - e.received_at))::float8 * 1000 as upsert_ms
      from unnest(${orders}::uuid[], ${eventIds}::text[]) as x(order_id, event_id)
      join ops.stripe_events e on e.event_id = x.event_id
      join public.orders o on o.id = x.order_id
      join lateral (
        select min(succeeded_at) as succeeded_at from ops.jobs
         where id = any(${ids}::bigint[]) and payload ->> 'order_id' = o.id::text and status = 'succeeded'
      ) j on true
      left join lateral (
        select min(created_at) as first_at from ops.crm_capture where operation = 'deal' and key = o.id::text
      ) cap on true
     where o.paid_at is not null and j.succeeded_at is not null`;
  const done = summarize(rows.map((r) => r.done_ms as number));
  const upsert = summarize(rows.filter((r) => r.upsert_ms !== null).map((r) => r.upsert_ms as number));
  const [{ paid }] = await ctx
    .db`select count(*)::int as paid from public.orders where id = any(${orders}::uuid[]) and paid_at is not null`;
  const adapters = await ctx.db`
    select coalesce(result ->> 'adapter', '?') as adapter, count(*)::int as n from ops.jobs
     where id = any(${ids}::bigint[]) and status = 'succeeded' group by 1`;
  const wrong = adapters.filter((a) => a.adapter !== v.adapter);
  if (wrong.length) {
    throw new Error(`the deal jobs ran with ${wrong.map((a) => a.adapter).join(", ")}, not ${v.adapter}`);
  }
  const at = `@${s.crmRate}/s`;
  const section = v.section;
  if (done.p95 !== null) ctx.metrics.set(`${section}.deal_p95_ms`, done.p95);
  for (const p of ["p50", "p95", "max"] as const) {
    ctx.report.add({ section, figure: `paid -> crm.deal job succeeded ${p} ${at}`, value: done[p], unit: "ms" });
  }
  if (v.adapter === "capture") {
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({
        section,
        figure: `paid -> CRM deal upsert (capture row) ${p} ${at}`,
        value: upsert[p],
        unit: "ms",
      });
    }
  }
  ctx.report.add({
    section,
    figure: `orders without a synced deal (of ${m})`,
    value: m - done.count,
    unit: "",
    note: waited.done ? undefined : `stopped at the ${v.maxSeconds}s limit`,
  });
  const attempts = ids.length ? await attemptOutcomes(ctx, ids) : {};
  ctx.report.details[section] = {
    events: m,
    rate: s.crmRate,
    arrivals: "uniform",
    quiesceBefore: quiet,
    ordersPaid: paid,
    dealJobs: ids.length,
    adapters,
    from:
      "ops.stripe_events.received_at of the order's checkout event (now() of the webhook transaction that enqueued the job)",
    to: {
      jobSucceeded: "ops.jobs.succeeded_at",
      crmUpsert: "min(ops.crm_capture.created_at) for the order's deal key",
    },
    jobSucceededMs: done,
    crmUpsertMs: v.adapter === "capture" ? upsert : undefined,
    jobs: { ...waited, attempts },
    ack: {
      achievedRatePerS: sent.achievedRate,
      latencyMs: summarize(sent.latencies),
      notSent: sent.notSent,
      http: sent.tally.http,
      results: sent.tally.results,
      errors: sent.tally.errors,
    },
  };
  return { orders, received, done, attempts, waited };
}

export const crmLatency: Section = {
  name: "jobs@rate",
  async run(ctx) {
    requireCaptureAdapter();
    await measureCrmLatency(ctx, {
      section: "jobs@rate",
      adapter: "capture",
      maxSeconds: ctx.settings.jobsMaxSeconds,
      tag: "c",
    });
  },
};
