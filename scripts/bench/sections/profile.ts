// Section "profile": where an ingested customer.updated spends its time, layer by layer, in one run.
// SQL: ops.ingest_stripe_event alone (pgbench, prepared), for a ledger-only event, an applied event
// that causes no CRM work, and the full event (+ crm.contact enqueue + pg_net dispatch), then 16 of them per
// ops.ingest_stripe_events call (the webhook's group commit, #21), with the functions' own times
// (track_functions) and the backend's CPU per event. HTTP: one at a time and at concurrency 16, straight to the
// function's port and through the gateway. CPU: every process's time per event at concurrency 16,
// and the dispatch storm (pg_net requests per job).
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { config } from "../../lib/config.ts";
import { functionNames } from "../../lib/function-config.ts";
import { event } from "../../lib/stripe-events.ts";
import { customerUpdated } from "../../lib/scenarios.ts";
import { type BenchContext, log, type Section } from "../context.ts";
import { cpuSince, cpuSnapshot } from "../cpu.ts";
import { customerEvents } from "../events.ts";
import { jobsOfEvents, quiesce, waitJobs } from "../jobs.ts";
import { closedLoop, signAll } from "../load.ts";
import { parsePgbench, pgbenchLiteral, runPgbench, scriptArgs } from "../pgbench.ts";
import { summarize } from "../report.ts";

type Variant = "ledger" | "apply" | "full" | "drained" | "batch";
/** Events per transaction of the "batch" variant: what the webhook's group commit sends at concurrency 16. */
const BATCH = 16;
const VARIANTS: Record<Variant, string> = {
  ledger: "ledger only (an ignored type)",
  apply: "+ apply (customer, no CRM job)",
  full: "+ crm.contact enqueue + pg_net dispatch",
  drained: "+ crm.contact enqueue, kind being drained (no dispatch)",
  batch: `the same, ${BATCH} per transaction (ops.ingest_stripe_events, group commit)`,
};
/** Events per pgbench transaction of a variant. */
const perTx = (v: Variant) => (v === "batch" ? BATCH : 1);

/** A pgbench script ingesting one event per run with fresh ids (evt_/cus_ + prefix + a sequence). */
function ingestScript(variant: Variant, prefix: string): string {
  const template = variant === "ledger"
    ? event("payment_intent_created", { id: "pi_x" }, { id: "evt_x" })
    : customerUpdated("cus_x", null, Math.floor(Date.now() / 1000), {}, { id: "evt_x" });
  let ev =
    `jsonb_set(jsonb_set(${
      pgbenchLiteral(JSON.stringify(template))
    }::jsonb, '{id}', to_jsonb('evt_${prefix}' || n)), ` +
    `'{data,object,id}', to_jsonb('cus_${prefix}' || n))`;
  if (variant === "full" || variant === "drained" || variant === "batch") {
    ev = `jsonb_set(${ev}, '{data,object,email}', to_jsonb('${prefix}' || n || '@example.com'))`;
  }
  if (variant === "batch") {
    return `select ops.ingest_stripe_events(array(select (${ev})::text from ` +
      `(select nextval('bench.profile_seq') as n from generate_series(1, ${BATCH})) s));\n`;
  }
  return `select ops.ingest_stripe_event(${ev}) from (select nextval('bench.profile_seq') as n) s;\n`;
}

/** pgbench's figures per event, where each transaction ingests k events (tps: events per second). */
function perEventFigures(r: ReturnType<typeof parsePgbench>, k: number) {
  return {
    ...r,
    tps: r.tps === null ? null : r.tps * k,
    latencyAvgMs: r.latencyAvgMs === null ? null : r.latencyAvgMs / k,
  };
}

async function functionTimes(ctx: BenchContext) {
  await ctx.db`select pg_stat_clear_snapshot()`;
  const rows = await ctx
    .db`select schemaname || '.' || funcname as f, calls::float8 as calls, total_time, self_time from pg_stat_user_functions`;
  return new Map(
    rows.map((
      r,
    ) => [r.f as string, { calls: r.calls as number, total: r.total_time as number, self: r.self_time as number }]),
  );
}

/** ms per event of each function between two snapshots (total includes callees, self does not). */
function perEvent(before: Awaited<ReturnType<typeof functionTimes>>, after: typeof before, events: number) {
  const out: Record<string, { calls: number; totalMs: number; selfMs: number }> = {};
  for (const [f, a] of after) {
    const b = before.get(f) ?? { calls: 0, total: 0, self: 0 };
    if (a.calls > b.calls) {
      out[f] = {
        calls: (a.calls - b.calls) / events,
        totalMs: (a.total - b.total) / events,
        selfMs: (a.self - b.self) / events,
      };
    }
  }
  return Object.fromEntries(Object.entries(out).sort((x, y) => y[1].selfMs - x[1].selfMs));
}

async function sqlProfile(ctx: BenchContext) {
  const s = ctx.settings;
  const out: Record<string, unknown> = {};
  const file = join(config.stackDir, "bench-profile.sql");
  await ctx.db.unsafe("drop schema if exists bench cascade; create schema bench; create sequence bench.profile_seq;");
  // no worker may drain meanwhile (its claims would share the machine): wait for a lingering drain to
  // end; the dispatches these jobs queue go to a closed port (the vault's functions_base_url, for pg_net
  // real or stand-in), so none starts; the jobs are deleted after each variant
  for (let i = 0; i < 50; i++) {
    const [{ n }] = await ctx.db`select count(*)::int as n from ops.job_drains where held_until > now()`;
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const [{ base }] = await ctx
    .db`select decrypted_secret as base from vault.decrypted_secrets where name = 'functions_base_url'`;
  const setBase = (url: string) =>
    ctx.db`select vault.update_secret(id, ${url}) from vault.secrets where name = 'functions_base_url'`;
  await setBase("http://127.0.0.1:1/functions/v1"); // refused (curl), or a "bad port" (the stand-in's fetch)
  const env = { PGOPTIONS: "-c track_functions=pl" };
  try {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const prefix = `q${ctx.runTag}${variant[0]}`;
      writeFileSync(file, ingestScript(variant, prefix));
      // "drained": a drain holds crm.contact (as ops.claim_next_job does), so the insert trigger does not
      // dispatch; no worker actually drains, the jobs wait and are deleted
      if (variant === "drained" || variant === "batch") {
        await ctx.db`insert into ops.job_drains (kind, held_until) values ('crm.contact', now() + interval '1 hour')
                     on conflict (kind) do update set held_until = excluded.held_until`;
      }
      const before = await functionTimes(ctx);
      const k = perTx(variant);
      const txs = Math.ceil(s.profileEvents / k);
      // track_functions is a superuser's setting: this run connects as the admin
      // the backend's own CPU: pgbench's session ends with the run, and an exited backend's time is the
      // postmaster's children's (less sensitive to other sessions' load than latency)
      const cpuBefore = cpuSnapshot();
      const one = perEventFigures(
        parsePgbench(
          await runPgbench([...scriptArgs(file, 1), "-t", String(txs)], 120_000, env, config.adminDbUrl),
        ),
        k,
      );
      // the session's function stats reach the collector at exit, and its backend is reaped
      await new Promise((r) => setTimeout(r, 600));
      const backendCpuMs = (cpuSince(cpuBefore).byComponent["pg: exited backends"] ?? 0) / (txs * k);
      const fns = perEvent(before, await functionTimes(ctx), txs * k);
      const many = perEventFigures(
        parsePgbench(
          await runPgbench([
            ...scriptArgs(file, s.pgbenchClients, s.pgbenchThreads),
            "-t",
            String(Math.ceil(txs * 2 / s.pgbenchClients)),
          ], 120_000),
        ),
        k,
      );
      out[variant] = { c1: one, c16: many, functionsMsPerEvent: fns, backendCpuMs };
      await ctx.db`delete from ops.job_drains where held_until > now() + interval '2 seconds'`;
      await ctx.db`delete from ops.jobs where stripe_event_id like ${"evt_" + prefix + "%"}`;
    }
  } finally {
    await ctx.db`delete from ops.job_drains where held_until > now() + interval '2 seconds'`.catch(() => {});
    await setBase(base);
    await ctx.db.unsafe("drop schema if exists bench cascade").catch(() => {});
    rmSync(file, { force: true });
  }
  return out as Record<
    Variant,
    {
      c1: ReturnType<typeof perEventFigures>;
      c16: ReturnType<typeof perEventFigures>;
      functionsMsPerEvent: ReturnType<typeof perEvent>;
      backendCpuMs: number;
    }
  >;
}

/** The URL of the webhook's own process, behind the gateway (its port: FUNCTIONS_PORT_BASE + its index). */
function directUrl(): URL {
  const index = functionNames().indexOf("stripe-webhook");
  return new URL(`http://127.0.0.1:${config.functionsPortBase + index}/stripe-webhook`);
}

async function httpRun(ctx: BenchContext, url: URL, label: string, n: number, concurrency: number, email = true) {
  const events = await signAll(customerEvents(ctx, label, n, { email }));
  const before = cpuSnapshot();
  const r = await closedLoop({ ...ctx, webhookUrl: url }, events, concurrency, ctx.settings.maxSeconds);
  const cpu = cpuSince(before);
  const ok = r.sent - r.tally.errorCount;
  const jobs = await jobsOfEvents(ctx, `evt_b${ctx.runTag}${label}`);
  const drained = jobs.ids.length ? await waitJobs(ctx, jobs.ids, ctx.settings.jobsMaxSeconds) : undefined;
  const [{ requests }] = jobs.ids.length
    ? await ctx
      .db`select coalesce(sum(dispatch_count), 0)::int as requests from ops.jobs where id = any(${jobs.ids}::bigint[])`
    : [{ requests: 0 }];
  return {
    eventsPerS: ok / r.elapsedS,
    latency: summarize(r.latencies),
    errors: r.tally.errorCount,
    ok,
    cpuMsPerEvent: Object.fromEntries(Object.entries(cpu.byComponent).map(([k, v]) => [k, v / Math.max(1, ok)])),
    cpuTotalMsPerEvent: cpu.totalMs / Math.max(1, ok),
    jobs: jobs.created,
    pgNetRequestsPerJob: jobs.created ? (requests as number) / jobs.created : null,
    drained: drained?.done ?? true,
  };
}

export const ingestProfile: Section = {
  name: "profile",
  async run(ctx) {
    const s = ctx.settings;
    await quiesce(ctx, "profile");
    log(`profile: SQL per event (pgbench, ${s.profileEvents} events per variant)`);
    const sql = await sqlProfile(ctx);
    const add = (
      figure: string,
      value: number | null,
      unit: string,
      baseline?: { label: string; value: number | null; unit: string },
    ) => ctx.report.add({ section: "profile", figure, value, unit, baseline });
    for (const v of Object.keys(VARIANTS) as Variant[]) {
      add(`SQL c1 per event: ${VARIANTS[v]}`, sql[v].c1.latencyAvgMs, "ms");
    }
    for (const v of Object.keys(VARIANTS) as Variant[]) {
      add(`Postgres CPU per event (backend, c1): ${VARIANTS[v]}`, sql[v].backendCpuMs, "ms");
    }
    for (const v of ["full", "drained", "batch"] as Variant[]) {
      add(`SQL c${s.pgbenchClients} events/s: ${VARIANTS[v]}`, sql[v].c16.tps, "ev/s");
    }
    add(
      `SQL: ops.ingest_stripe_events per event, ${BATCH} per call (function time)`,
      sql.batch.functionsMsPerEvent["ops.ingest_stripe_events"]?.totalMs ?? null,
      "ms",
      {
        label: "one per call",
        value: sql.drained.functionsMsPerEvent["ops.ingest_stripe_event"]?.totalMs ?? null,
        unit: "ms",
      },
    );
    const fn = sql.full.functionsMsPerEvent;
    add("SQL: ops.ingest_stripe_event itself (function time)", fn["ops.ingest_stripe_event"]?.totalMs ?? null, "ms");
    add(
      "SQL: of which CRM enqueue (ops.enqueue_crm_sync, with dispatch)",
      fn["ops.enqueue_crm_sync"]?.totalMs ?? 0,
      "ms",
    );
    add("SQL: of which pg_net dispatch (ops.dispatch_job)", fn["ops.dispatch_job"]?.totalMs ?? 0, "ms", {
      label: "dispatches per event",
      value: fn["ops.dispatch_job"]?.calls ?? 0,
      unit: "",
    });
    add(
      "SQL: of which CRM enqueue, kind being drained",
      sql.drained.functionsMsPerEvent["ops.enqueue_crm_sync"]?.totalMs ?? 0,
      "ms",
    );

    log("profile: HTTP one at a time and at concurrency 16, direct to the function and through the gateway");
    const direct = directUrl();
    await closedLoop({ ...ctx, webhookUrl: direct }, await signAll(customerEvents(ctx, "qw", s.warmupEvents)), 4, 30);
    // the hops without CRM work (customers without email): what HTTP, Deno and the gateway add to the SQL
    const seq = s.profileEvents / 2;
    const d1 = await httpRun(ctx, direct, "qd1", seq, 1, false);
    const g1 = await httpRun(ctx, ctx.webhookUrl, "qg1", seq, 1, false);
    add("HTTP c1 latency, direct to the function (no CRM job)", d1.latency.mean, "ms");
    add("HTTP c1 latency, through the gateway (no CRM job)", g1.latency.mean, "ms", {
      label: "direct",
      value: d1.latency.mean,
      unit: "ms",
    });
    add("gateway hop (c1, through - direct)", (g1.latency.mean ?? 0) - (d1.latency.mean ?? 0), "ms");
    add("Deno + HTTP (c1, direct - SQL c1 apply)", (d1.latency.mean ?? 0) - (sql.apply.c1.latencyAvgMs ?? 0), "ms");
    const n = s.profileEvents;
    const c = s.concurrency;
    const dN = await httpRun(ctx, direct, "qdn", n, c, false);
    const gNoCrm = await httpRun(ctx, ctx.webhookUrl, "qgx", n, c, false);
    const gN = await httpRun(ctx, ctx.webhookUrl, "qgn", n, c);
    add(`HTTP c${c} ev/s, direct to the function (no CRM job)`, dN.eventsPerS, "ev/s");
    add(`HTTP c${c} ev/s, through the gateway (no CRM job)`, gNoCrm.eventsPerS, "ev/s", {
      label: "direct",
      value: dN.eventsPerS,
      unit: "ev/s",
    });
    add(`HTTP c${c} ev/s, through the gateway, CRM job drained concurrently`, gN.eventsPerS, "ev/s", {
      label: "no CRM job",
      value: gNoCrm.eventsPerS,
      unit: "ev/s",
    });
    add(`CPU per event, all processes (c${c}, gateway, no CRM job)`, gNoCrm.cpuTotalMsPerEvent, "ms");
    add(`CPU per event, all processes (c${c}, gateway, CRM job)`, gN.cpuTotalMsPerEvent, "ms", {
      label: "no CRM job",
      value: gNoCrm.cpuTotalMsPerEvent,
      unit: "ms",
    });
    for (const [k, v] of Object.entries(gN.cpuMsPerEvent).slice(0, 8)) add(`  CPU per event (CRM job): ${k}`, v, "ms");
    add("pg_net requests per CRM job (dispatch storm)", gN.pgNetRequestsPerJob, "");
    ctx.report.details.profile = {
      sql,
      http: {
        direct: direct.href,
        c1NoCrm: { direct: d1, gateway: g1 },
        cN: { directNoCrm: dN, gatewayNoCrm: gNoCrm, gateway: gN },
      },
    };
  },
};
