// Section "jobs": jobs/s drained end to end (enqueue -> pg_net dispatch -> crm-sync claim -> complete,
// capture adapter) next to the database alone running the same claim/complete cycle (pgbench).
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { config } from "../../lib/config.ts";
import { type BenchContext, log, type Section } from "../context.ts";
import { cpuSince, cpuSnapshot } from "../cpu.ts";
import { attemptOutcomes, quiesce, requireCaptureAdapter, waitJobs } from "../jobs.ts";
import { parsePgbench, runPgbench, scriptArgs } from "../pgbench.ts";

const workerName = "'bench-db-' || :client_id::text";
const captureContactId = "'capture-contact-' || left(encode(sha256(convert_to(:email::text, 'UTF8')), 'hex'), 24)";

/**
 * DB-only baselines, as pgbench scripts (-M prepared, one job per script run, each statement its own
 * transaction like the worker's): "claim_complete" is ops.claim_job + ops.finish_jobs alone;
 * "job_sql" is every statement crm-sync runs for a crm.contact job with the capture adapter (claim,
 * context, capture row, mapping and completion in ops.finish_crm_job). The worker claims up to
 * JOB_DRAIN_BATCH jobs per ops.claim_jobs statement; here each job is claimed by id (pgbench cannot
 * loop over a batch). The row lookup in bench.jobq hands each run the next job.
 */
const DB_ONLY_SCRIPTS = {
  claim_complete: [
    "select job_id from bench.jobq where n = (select nextval('bench.jobq_seq')) \\gset",
    `select count(*) as claimed from ops.claim_job(:job_id, ${workerName}) \\gset`,
    "\\if :claimed",
    `select ops.finish_jobs(${workerName}, jsonb_build_array(jsonb_build_object('id', :job_id::bigint, 'outcome', 'succeeded',
       'result', jsonb_build_object('bench', 'db-only'))));`.replace(/\n\s*/g, " "),
    "\\endif",
  ],
  job_sql: [
    "select job_id from bench.jobq where n = (select nextval('bench.jobq_seq')) \\gset",
    `select count(*) as claimed from ops.claim_job(:job_id, ${workerName}) \\gset`,
    "\\if :claimed",
    `select c ->> 'email' as email, c ->> 'customer_id' as customer_id, coalesce(c ->> 'version', '0') as version
       from (select ops.crm_job_context(:job_id, ${workerName}) as c) ctx \\gset`.replace(/\n\s*/g, " "),
    `select ops.record_crm_capture('contact', :email, jsonb_build_object('id', ${captureContactId}, 'email', :email::text,
       'lifecycleStage', 'lead', 'billingStatus', 'lead', 'bench', 'db-only'));`.replace(/\n\s*/g, " "),
    `select ops.finish_crm_job(:job_id, ${workerName}, 'capture', jsonb_build_object('contacts', jsonb_build_array(
       jsonb_build_object('customer_id', :customer_id::text, 'email', :email::text, 'crm_id', ${captureContactId},
       'lifecycle_stage', 'lead', 'version', :version::int))),
       jsonb_build_object('adapter', 'capture', 'bench', 'db-only'));`.replace(/\n\s*/g, " "),
    "\\endif",
  ],
} as const;

async function dbOnlyJobs(ctx: BenchContext, script: keyof typeof DB_ONLY_SCRIPTS, customerIds: string[]) {
  const s = ctx.settings;
  const clients = s.jobsDbClients;
  const perClient = Math.floor(customerIds.length / clients);
  const total = perClient * clients;
  const scriptFile = join(config.stackDir, `bench-jobs-${script}.sql`);
  writeFileSync(scriptFile, DB_ONLY_SCRIPTS[script].join("\n") + "\n");
  const prefix = `bench:${ctx.runTag}:db-${script}:`;
  try {
    await ctx.db.unsafe(`drop schema if exists bench cascade;
      create schema bench;
      create table bench.jobq (n integer primary key, job_id bigint not null);
      create sequence bench.jobq_seq;`);
    // enqueued delayed (the insert trigger dispatches only due jobs), then made due with
    // last_dispatched_at = now() so the pg_cron sweep leaves them alone for its 30 s lost-dispatch window
    await ctx.db`
      insert into bench.jobq (n, job_id)
      select row_number() over (), ops.enqueue_job('crm.contact', jsonb_build_object('customer_id', c.id), ${prefix} || c.id::text, interval '1 hour')
        from unnest(${customerIds.slice(0, total)}::uuid[]) as c(id)`;
    await ctx
      .db`update ops.jobs set run_at = now(), last_dispatched_at = now() where id in (select job_id from bench.jobq)`;
    log(`jobs: DB-only ${script}: pgbench ${clients} clients x ${perClient} jobs`);
    const out = parsePgbench(
      await runPgbench(
        [...scriptArgs(scriptFile, clients, s.pgbenchThreads), "-t", String(perClient)],
        (s.jobsMaxSeconds + 30) * 1000,
      ),
    );
    const [done] = await ctx.db`
      select count(*) filter (where status = 'succeeded' and result ->> 'bench' = 'db-only')::int as completed
        from ops.jobs where id in (select job_id from bench.jobq)`;
    return { ...out, jobs: total, completed: done.completed as number, clients };
  } finally {
    // these jobs did nothing real: remove them and their capture rows so ops views only show real work
    await ctx.db`delete from ops.crm_capture where body ->> 'bench' = 'db-only'`.catch(() => {});
    await ctx.db`delete from ops.jobs where id in (select job_id from bench.jobq)`.catch(() => {});
    await ctx.db.unsafe("drop schema if exists bench cascade").catch(() => {});
    rmSync(scriptFile, { force: true });
  }
}

/** ops.jobs' update counters (pg_stat_user_tables): all updates and those that were HOT. */
async function tableUpdates(ctx: BenchContext) {
  await ctx.db`select pg_stat_clear_snapshot()`;
  const [r] = await ctx.db`
    select n_tup_upd::float8 as upd, n_tup_hot_upd::float8 as hot from pg_stat_user_tables
     where schemaname = 'ops' and relname = 'jobs'`;
  return { updates: r.upd as number, hot: r.hot as number };
}

function updatesSince(a: { updates: number; hot: number }, b: { updates: number; hot: number }) {
  const updates = b.updates - a.updates;
  const hot = b.hot - a.hot;
  return { updates, hot, hotRatio: updates > 0 ? hot / updates : null };
}

export const jobsDrain: Section = {
  name: "jobs",
  async run(ctx) {
    requireCaptureAdapter();
    const s = ctx.settings;
    const n = s.jobs;
    const quiet = await quiesce(ctx, "jobs");

    // setup, not timed: n customers with emails. Their insert trigger enqueues one crm.contact job
    // each; draining those is the warm-up (Deno JIT, pools) and shows which adapter the worker runs.
    log(`jobs: creating ${n} customers; their own crm.contact jobs are the warm-up`);
    const customers = await ctx.db`
      insert into public.customers (email, name, billing_status)
      select format('bench-%s-%s@example.com', ${ctx.runTag}::text, i), format('Bench %s', i), 'lead'
        from generate_series(1, ${n}::int) as i
      returning id`;
    const customerIds = customers.map((c) => c.id as string);
    const warmIds = (await ctx.db`
      select id from ops.jobs where kind = 'crm.contact' and payload ->> 'customer_id' = any(${customerIds}::text[])`)
      .map((r) => String(r.id));
    const warm = await waitJobs(ctx, warmIds, s.jobsMaxSeconds);
    const adapters = await ctx.db`
      select coalesce(result ->> 'adapter', '?') as adapter, count(*)::int as n from ops.jobs
       where id = any(${warmIds}::bigint[]) and status = 'succeeded' group by 1`;
    const wrong = adapters.filter((a) => a.adapter !== "capture");
    if (wrong.length) {
      throw new Error(
        `the running crm-sync worker uses ${wrong.map((a) => a.adapter).join(", ")}, not capture: restart the stack`,
      );
    }
    const warmQuiet = await quiesce(ctx, "jobs (after warm-up)");

    // 1. DB-only: the claim/complete cycle, then all of a crm.contact job's SQL, on pre-enqueued jobs
    const claimOnly = await dbOnlyJobs(ctx, "claim_complete", customerIds);
    const jobSql = await dbOnlyJobs(ctx, "job_sql", customerIds);

    // 2. end to end: n jobs committed at once; the insert trigger queues one pg_net request each,
    // pg_net (real or stand-in) sends them to crm-sync, which claims, upserts (capture) and completes
    log(
      `jobs: enqueueing ${n} crm.contact jobs in one transaction, then polling every ${s.jobsPollMs} ms (limit ${s.jobsMaxSeconds}s)`,
    );
    const prefix = `bench:${ctx.runTag}:e2e:`;
    const hotBefore = await tableUpdates(ctx);
    const cpuBefore = cpuSnapshot();
    let ids: string[] = [];
    let commitTs = "";
    const tEnqueue = performance.now();
    await ctx.db.begin(async (tx) => {
      const rows = await tx`
        select ops.enqueue_job('crm.contact', jsonb_build_object('customer_id', c.id), ${prefix} || c.id::text) as id
          from unnest(${customerIds}::uuid[]) as c(id)`;
      ids = rows.map((r) => String(r.id));
      // the last thing before COMMIT: nothing can be dispatched before this instant
      [{ ts: commitTs }] = await tx`select clock_timestamp()::text as ts`;
    });
    const enqueueMs = performance.now() - tEnqueue;
    const drained = await waitJobs(ctx, ids, s.jobsMaxSeconds);
    const cpu = cpuSince(cpuBefore);
    // backends flush their table counters when idle, at the latest 10 s later (PostgreSQL 15)
    await new Promise((r) => setTimeout(r, 11_000));
    const hot = updatesSince(hotBefore, await tableUpdates(ctx));
    const [st] = await ctx.db`
      with j as (
        select status, attempts, dispatch_count, extract(epoch from succeeded_at - ${commitTs}::timestamptz) as done_s
          from ops.jobs where id = any(${ids}::bigint[])
      )
      select count(*) filter (where status = 'succeeded')::int as succeeded,
             count(*) filter (where status = 'dead')::int as dead,
             count(*) filter (where attempts > 1)::int as retried,
             count(*) filter (where dispatch_count > 1)::int as redispatched,
             max(done_s)::float8 as last_s, min(done_s)::float8 as first_s,
             (percentile_cont(0.5) within group (order by done_s))::float8 as p50_s,
             (percentile_cont(0.95) within group (order by done_s))::float8 as p95_s
        from j`;
    const attempts = await attemptOutcomes(ctx, ids);
    // all done: commit -> last success, from the database's clock; else what finished within the limit
    const drainS = drained.done && st.last_s !== null ? (st.last_s as number) : drained.elapsedS;
    const jobsPerS = (st.succeeded as number) / drainS;
    ctx.metrics.set("jobs.per_s", jobsPerS);

    const notAll = drained.done ? undefined : `stopped at the ${s.jobsMaxSeconds}s limit`;
    ctx.report.add({
      section: "jobs",
      figure: `DB-only claim+complete (pgbench c${claimOnly.clients}, ${claimOnly.jobs} jobs)`,
      value: claimOnly.tps,
      unit: "jobs/s",
    });
    ctx.report.add({
      section: "jobs",
      figure: `DB-only all of a job's SQL (pgbench c${jobSql.clients}, ${jobSql.jobs} jobs)`,
      value: jobSql.tps,
      unit: "jobs/s",
    });
    ctx.report.add({
      section: "jobs",
      figure: `jobs/s drained end to end (${n} crm.contact, capture)`,
      value: jobsPerS,
      unit: "jobs/s",
      baseline: { label: "DB-only claim+complete", value: claimOnly.tps, unit: "jobs/s" },
      note: notAll,
    });
    ctx.report.add({
      section: "jobs",
      figure: "jobs/s drained end to end, vs the job's SQL",
      value: jobsPerS,
      unit: "jobs/s",
      baseline: { label: "DB-only all of a job's SQL", value: jobSql.tps, unit: "jobs/s" },
      note: notAll,
    });
    ctx.report.add({
      section: "jobs",
      figure: `enqueue txn (${n} jobs, one transaction)`,
      value: enqueueMs,
      unit: "ms",
    });
    ctx.report.add({
      section: "jobs",
      figure: "commit -> last job succeeded",
      value: st.last_s === null ? null : (st.last_s as number) * 1000,
      unit: "ms",
    });
    // the worker's Postgres backends (login role pipeline_worker): the jobs' bookkeeping, nothing else
    const workerPgMs = (cpu.byComponent["pg: pipeline_worker (crm-sync)"] ?? 0) / Math.max(1, st.succeeded as number);
    ctx.report.add({
      section: "jobs",
      figure: "Postgres CPU per job, crm-sync's backends (end to end)",
      value: workerPgMs,
      unit: "ms",
      note: "10 ms ticks over the whole drain",
    });
    ctx.report.add({
      section: "jobs",
      figure: "ops.jobs updates that were HOT (end to end)",
      value: hot.hotRatio === null ? null : hot.hotRatio * 100,
      unit: "%",
      note: `${hot.hot} of ${hot.updates} updates`,
    });
    ctx.report.add({ section: "jobs", figure: "jobs retried (attempts > 1)", value: st.retried as number, unit: "" });
    ctx.report.add({
      section: "jobs",
      figure: "jobs swept (dispatched more than once)",
      value: st.redispatched as number,
      unit: "",
    });
    ctx.report.add({
      section: "jobs",
      figure: "jobs not succeeded (dead or open at the limit)",
      value: n - (st.succeeded as number),
      unit: "",
    });
    ctx.report.details.jobs = {
      adapter: "capture",
      kind: "crm.contact",
      jobs: n,
      pollMs: s.jobsPollMs,
      maxSeconds: s.jobsMaxSeconds,
      quiesceBefore: quiet,
      quiesceAfterWarmup: warmQuiet,
      warmup: {
        jobs: warmIds.length,
        via: "customers insert trigger",
        ...warm,
        jobsPerS: (warm.counts.succeeded ?? 0) / warm.elapsedS,
        adapters,
      },
      dbOnly: {
        claimComplete: { ...claimOnly, script: DB_ONLY_SCRIPTS.claim_complete },
        jobSql: { ...jobSql, script: DB_ONLY_SCRIPTS.job_sql },
        command: `pgbench -n -M prepared -f <script> -c ${s.jobsDbClients} -j ${s.pgbenchThreads} -t <jobs / clients>`,
      },
      endToEnd: {
        cpuMs: cpu.byComponent,
        workerPgMsPerJob: workerPgMs,
        jobsTableUpdates: hot,
        enqueueMs,
        commitTs,
        drainS,
        jobsPerS,
        timedOut: !drained.done,
        statuses: drained.counts,
        attempts,
        secondsAfterCommit: { first: st.first_s, p50: st.p50_s, p95: st.p95_s, last: st.last_s },
        retried: st.retried,
        redispatched: st.redispatched,
        dead: st.dead,
      },
      pgNet: (await ctx.db`select extversion from pg_extension where extname = 'pg_net'`)[0]?.extversion as string,
    };
  },
};
