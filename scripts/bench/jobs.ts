// Job engine helpers of the bench: which CRM adapter crm-sync runs, and waiting for jobs (earlier
// sections' to finish before measuring, a section's own to succeed or die).
import { performance } from "node:perf_hooks";
import { hubspotConfig } from "../../supabase/functions/_shared/crm/hubspot.ts";
import { crmAdapterName } from "../../supabase/functions/_shared/crm/select.ts";
import { config } from "../lib/config.ts";
import { type BenchContext, log, sleep } from "./context.ts";

/** The CRM API crm-sync calls with this env (the rule of _shared/crm/select.ts), or null for capture. */
export function crmApiBase(): string | null {
  return crmAdapterName(config.env) === "hubspot" ? hubspotConfig(config.env).apiBase : null;
}

export function requireCaptureAdapter() {
  if (crmAdapterName(config.env) !== "capture") {
    throw new Error(
      "the job engine figures are for the capture CRM adapter: unset HUBSPOT_ACCESS_TOKEN or set CRM_ADAPTER=capture",
    );
  }
}

/** Jobs that are due or running now (retries waiting for their backoff are not counted). */
async function openJobs(ctx: BenchContext): Promise<number> {
  const [{ n }] = await ctx.db`
    select count(*)::int as n from ops.jobs
     where status = 'running' or (status in ('queued', 'failed') and run_at <= now())`;
  return n as number;
}

/**
 * Waits (bounded) until earlier sections' jobs are done, so they do not share the machine with a
 * measurement. When nothing moves for 5 s it ticks the sweep as pg_cron would (with a 10 s
 * lost-dispatch window instead of 30 s), e.g. for seed jobs dispatched before the gateway was up.
 */
export async function quiesce(ctx: BenchContext, label: string) {
  const started = performance.now();
  const deadline = started + ctx.settings.quiesceSeconds * 1000;
  let open = await openJobs(ctx);
  const initial = open;
  let lastChange = performance.now();
  let sweeps = 0;
  while (open > 0 && performance.now() < deadline) {
    await sleep(250);
    const now = await openJobs(ctx);
    if (now !== open) lastChange = performance.now();
    else if (performance.now() - lastChange > 5000) {
      await ctx.db`select ops.sweep_jobs(500, interval '10 seconds')`;
      sweeps++;
      lastChange = performance.now();
    }
    open = now;
  }
  const waitedS = (performance.now() - started) / 1000;
  if (initial > 0) {
    log(
      `${label}: waited ${waitedS.toFixed(1)}s for ${initial} earlier jobs (${open} still open, ${sweeps} sweep ticks)`,
    );
  }
  return { initialOpen: initial, waitedS, stillOpen: open, sweepTicks: sweeps };
}

/** Polls ops.jobs every jobsPollMs until every job is succeeded or dead, or the time limit. */
export async function waitJobs(ctx: BenchContext, ids: string[], maxSeconds: number) {
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  let counts: Record<string, number> = {};
  for (;;) {
    const rows = await ctx
      .db`select status, count(*)::int as n from ops.jobs where id = any(${ids}::bigint[]) group by status`;
    counts = Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
    const finished = (counts.succeeded ?? 0) + (counts.dead ?? 0);
    if (finished >= ids.length) return { done: true, counts, elapsedS: (performance.now() - started) / 1000 };
    if (performance.now() >= deadline) return { done: false, counts, elapsedS: (performance.now() - started) / 1000 };
    await sleep(ctx.settings.jobsPollMs);
  }
}

/** Attempt outcomes of these jobs (succeeded, failed, lease_expired, ...): what a drain cost beyond one try each. */
export async function attemptOutcomes(ctx: BenchContext, ids: string[]) {
  const rows = await ctx.db`
    select coalesce(outcome, 'unfinished') as outcome, count(*)::int as n from ops.job_attempts
     where job_id = any(${ids}::bigint[]) group by 1 order by 1`;
  return Object.fromEntries(rows.map((r) => [r.outcome as string, r.n as number]));
}

/** Jobs that events with this id prefix enqueued (ops.jobs.stripe_event_id), by status. */
export async function jobsOfEvents(ctx: BenchContext, eventPrefix: string) {
  const rows = await ctx.db`
    select status, count(*)::int as n, array_agg(id) as ids from ops.jobs
     where stripe_event_id like ${eventPrefix + "%"} group by status`;
  const counts: Record<string, number> = Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
  const ids = rows.flatMap((r) => (r.ids as string[]).map(String));
  return { created: ids.length, succeeded: counts.succeeded ?? 0, dead: counts.dead ?? 0, counts, ids };
}
