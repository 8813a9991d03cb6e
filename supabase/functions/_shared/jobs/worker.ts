// The one skeleton of every job worker: authenticates the dispatcher, claims the job by id (atomic,
// leased), runs the handler of its kind, then completes, defers or fails it; drains due jobs in batches
// (ops.claim_jobs, ops.finish_jobs: several jobs per statement). Backoff and dead letters are SQL's
// (ops.finish_jobs); the worker only classifies what went wrong.
import process from "node:process";
import type postgres from "postgres";
import { z } from "zod";
import { ConfigError, denoEnv, type Env, parseEnv, setting } from "../config/env.ts";
import { connect } from "../db.ts";
import { parseJsonBody } from "../http/body.ts";
import { serve } from "../http/serve.ts";
import { HttpError } from "../http/error.ts";
import { describeIssues } from "../issues.ts";
import { log } from "../log.ts";
import { toProviderError } from "../providers/error.ts";
import { type DispatchDoor, dispatchDoor } from "./dispatch-proof.ts";

export type Job = {
  id: number;
  kind: string;
  /** ops.job_priorities' rank, set at enqueue: higher goes first (and may use a rate budget's reserve) */
  priority: number;
  payload: Record<string, unknown>;
  attempts: number;
  correlation_id: string | null;
  stripe_event_id: string | null;
};

/** What a handler gets besides its job: the worker's pool and its lease name (held-job SQL needs both). */
export type JobContext = { sql: postgres.Sql; worker: string };
export type JobHandler = (job: Job, ctx: JobContext) => Promise<unknown>;

/** What a handler throws when it cannot run now without that being a failure (rate budget used up). */
export class Deferral extends Error {
  constructor(readonly delayMs: number, reason: string) {
    super(reason);
  }
}

/** A failure no retry can mend (the row is gone, the kind is unknown): the job goes dead at once. */
export class PermanentJobError extends Error {}

/** What a handler returns when it finished its job itself, in one statement with its own writes
 * (crm-sync: ops.finish_crm_job records the mappings and completes). `ok` false: the lease was lost. */
export class Finished {
  constructor(readonly result: unknown, readonly ok: boolean) {}
}

/** What the database hands a handler (ops.<kind>_job_context), checked against what the handler reads:
 * another shape is a bug no retry mends, so the job goes dead at once, naming the fields, not their values. */
export function parseJobContext<S extends z.ZodType>(source: string, schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new PermanentJobError(`${source} handed an unexpected context: ${describeIssues(parsed.error.issues)}`);
}

/** A failed attempt, classified: retry (after retryAfterMs when the provider said so), or dead;
 * rateLimited (a provider's 429): deferred by its Retry-After without spending an attempt. */
export type Failure = { message: string; retryable: boolean; retryAfterMs?: number; rateLimited?: boolean };

export type JobOutcome =
  | { job_id: number; status: "not_claimed" }
  | { job_id: number; status: "succeeded" | "failed" | "dead" | "deferred" | "lease_lost" };

const bodySchema = z.object({
  job_id: z.number({ error: "must be a positive integer" }).int("must be a positive integer")
    .positive("must be a positive integer"),
});

export function parseJobRequest(body: string): number {
  return parseJsonBody(body, bodySchema, '{"job_id": <positive integer>}').job_id;
}

export function classifyFailure(err: unknown): Failure {
  if (err instanceof PermanentJobError) return { message: err.message, retryable: false };
  const e = toProviderError(err);
  return { message: e.message, retryable: e.retryable, retryAfterMs: e.retryAfterMs, rateLimited: e.rateLimited };
}

const JOB_COLUMNS = "id, kind, priority, payload, attempts, correlation_id, stripe_event_id";

/** A provider's 429 without Retry-After is looked at again after this long. */
const RATE_LIMITED_WAIT_MS = 1_000;

/** Whether the database lacks a function this code calls (SQLSTATE 42883): a database of 0.5.0, before its
 * migrations are pushed. The worker then takes 0.5.0's one-job path (claim_next_job, complete/fail/defer_job). */
export function missingFunction(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "42883";
}

/** 0.5.0's one-job finish: ops.complete_job / fail_job / defer_job, without hand-on (this worker drains). */
async function finishOne(sql: postgres.Sql, worker: string, o: FinishOutcome): Promise<string | null> {
  if (o.outcome === "succeeded") {
    const [{ ok }] = await sql<{ ok: boolean }[]>`select ops.complete_job(${o.id}, ${worker}, ${
      sql.json((o.result ?? null) as postgres.JSONValue)
    }, p_hand_on => false) as ok`;
    return ok ? "succeeded" : null;
  }
  if (o.outcome === "deferred") {
    const [{ ok }] = await sql<{ ok: boolean }[]>`
      select ops.defer_job(${o.id}, ${worker}, ${o.delay_ms}, ${o.error}, p_hand_on => false) as ok`;
    return ok ? "queued" : null;
  }
  const [{ status }] = await sql<{ status: string | null }[]>`
    select ops.fail_job(${o.id}, ${worker}, ${o.error}, ${o.retryable}, ${o.retry_after_ms},
                        p_hand_on => false) as status`;
  return status;
}

/** One job's outcome as ops.finish_jobs takes it. */
export type FinishOutcome =
  | { id: number; outcome: "succeeded"; result: unknown }
  | { id: number; outcome: "failed"; error: string; retryable: boolean; retry_after_ms: number | null }
  | { id: number; outcome: "deferred"; error: string; delay_ms: number };

/** Finishes a job, answering its new status (succeeded | failed | dead | queued), null when the lease was lost. */
export type Finish = (worker: string, outcome: FinishOutcome) => Promise<string | null>;

/** Finishes jobs in batches: outcomes of one worker id reported in the same turn of the event loop (a claimed
 * batch whose jobs end together) go to the database in one ops.finish_jobs statement. */
export function createFinisher(sql: postgres.Sql): Finish {
  type Waiter = { outcome: FinishOutcome; resolve: (s: string | null) => void; reject: (e: unknown) => void };
  const batches = new Map<string, Waiter[]>();
  const flush = (worker: string) => {
    const batch = batches.get(worker) ?? [];
    batches.delete(worker);
    const outcomes = batch.map((w) => w.outcome) as unknown as postgres.JSONValue;
    sql<{ job_id: string; status: string }[]>`
      select job_id, status from ops.finish_jobs(${worker}, ${sql.json(outcomes)})`
      .then((rows) => {
        // bigint ids come back as strings (and a claimed job's id is one too): compare them as text
        const status = new Map(rows.map((r) => [String(r.job_id), r.status]));
        for (const w of batch) w.resolve(status.get(String(w.outcome.id)) ?? null);
      }, (err) => {
        if (!missingFunction(err)) {
          for (const w of batch) w.reject(err);
          return;
        }
        for (const w of batch) finishOne(sql, worker, w.outcome).then(w.resolve, w.reject);
      });
  };
  return (worker, outcome) =>
    new Promise((resolve, reject) => {
      let batch = batches.get(worker);
      if (!batch) {
        batches.set(worker, batch = []);
        setTimeout(() => flush(worker), 0);
      }
      batch.push({ outcome, resolve, reject });
    });
}

/** Runs a claimed job's handler, then completes, defers or fails it (ops.finish_jobs, batched). Nothing is
 * handed on over pg_net: this invocation drains the queue itself (createDrainer). */
async function execute(
  fn: string,
  worker: string,
  job: Job,
  handlers: Record<string, JobHandler>,
  ctx: { sql: postgres.Sql; finish: Finish },
): Promise<JobOutcome> {
  const started = performance.now();
  const fields = {
    job_id: job.id,
    kind: job.kind,
    attempt: job.attempts,
    correlation_id: job.correlation_id,
    event_id: job.stripe_event_id,
  };
  let outcome: FinishOutcome;
  let failure: Failure | undefined;
  try {
    const handler = Object.hasOwn(handlers, job.kind) ? handlers[job.kind] : undefined;
    if (!handler) throw new PermanentJobError(`${fn} does not run jobs of kind ${job.kind}`);
    const result = await handler(job, { sql: ctx.sql, worker });
    if (result instanceof Finished) {
      log("info", fn, result.ok ? "job succeeded" : "job finished after its lease was lost", {
        ...fields,
        ms: Math.round(performance.now() - started),
      });
      return { job_id: job.id, status: result.ok ? "succeeded" : "lease_lost" };
    }
    outcome = { id: job.id, outcome: "succeeded", result: result ?? null };
  } catch (err) {
    if (err instanceof Deferral) {
      outcome = { id: job.id, outcome: "deferred", error: err.message, delay_ms: err.delayMs };
    } else {
      failure = classifyFailure(err);
      outcome = failure.rateLimited
        // the provider said "not now": that costs no attempt (a burst must not walk a receipt towards dead)
        ? {
          id: job.id,
          outcome: "deferred",
          error: `${failure.message} (rate limited: deferred, no attempt spent)`,
          delay_ms: failure.retryAfterMs ?? RATE_LIMITED_WAIT_MS,
        }
        : {
          id: job.id,
          outcome: "failed",
          error: failure.message,
          retryable: failure.retryable,
          retry_after_ms: failure.retryAfterMs ?? null,
        };
    }
  }
  const status = await ctx.finish(worker, outcome);
  const ms = Math.round(performance.now() - started);
  if (outcome.outcome === "succeeded") {
    log("info", fn, status ? "job succeeded" : "job finished after its lease was lost", { ...fields, ms });
    return { job_id: job.id, status: status ? "succeeded" : "lease_lost" };
  }
  if (outcome.outcome === "deferred" && !failure) {
    log("info", fn, "job deferred", { ...fields, delay_ms: outcome.delay_ms, reason: outcome.error });
    return { job_id: job.id, status: status ? "deferred" : "lease_lost" };
  }
  const shown = status === "queued" ? "deferred" : status;
  log(status === "dead" ? "error" : "warn", fn, `job ${shown ?? "lost its lease"}`, {
    ...fields,
    error: failure?.message,
    retry_after_ms: failure?.retryAfterMs,
    ms,
  });
  return { job_id: job.id, status: (shown as JobOutcome["status"] | null) ?? "lease_lost" };
}

/** Runs the dispatched job (claimed by id; another run may hold it, or it may not be due). */
export async function runJob(
  sql: postgres.Sql,
  fn: string,
  jobId: number,
  handlers: Record<string, JobHandler>,
  finish: Finish = createFinisher(sql),
): Promise<JobOutcome> {
  const worker = `${fn}:${crypto.randomUUID()}`;
  const [job] = await sql<Job[]>`select ${sql.unsafe(JOB_COLUMNS)} from ops.claim_job(${jobId}, ${worker})`;
  if (!job) return { job_id: jobId, status: "not_claimed" };
  return execute(fn, worker, job, handlers, { sql, finish });
}

export type DrainSettings = {
  /** How long one invocation keeps claiming due jobs after its own: well under the platform's
   * wall-clock limit (150 s on Supabase's free plan). */
  budgetMs: number;
  /** Drain loops per function instance; a loop that claims a job starts another while there are fewer. */
  concurrency: number;
  /** How long a loop that claimed jobs keeps polling once nothing is due, while its claims hold its
   * kinds (ops.job_drains), so jobs enqueued meanwhile are claimed here instead of dispatched over HTTP. */
  idleMs: number;
  /** Jobs one loop claims per statement (ops.claim_jobs) and runs side by side. */
  batch: number;
  /** Process CPU a loop may use before it hands the rest on (hosted ends a request past 2 s of CPU, its
   * drain included, and leased jobs then wait for their lease); 0: no limit. */
  cpuMs: number;
};

const drainEnv = z.object({
  JOB_DRAIN_BUDGET_MS: setting.int(25_000, 0, 120_000),
  JOB_DRAIN_CONCURRENCY: setting.int(4, 0, 64),
  JOB_DRAIN_IDLE_MS: setting.int(500, 0, 10_000),
  JOB_DRAIN_BATCH: setting.int(4, 1, 100),
  JOB_DRAIN_CPU_MS: setting.int(1_000, 0, 60_000),
});

const secretsEnv = z.object({ WORKER_SECRET: setting.list(), WORKER_BARE_SECRET_UNTIL: setting.text() });

/** The secrets the dispatcher signs with: WORKER_SECRET, several separated by commas while rotating. */
export function workerSecrets(env: Env): string[] {
  return parseEnv(secretsEnv, env).WORKER_SECRET;
}

/** The longest upgrade window WORKER_BARE_SECRET_UNTIL may open, from the function's start. */
export const BARE_SECRET_WINDOW_MAX_MS = 24 * 3600_000;

/** WORKER_BARE_SECRET_UNTIL: until when the bare worker secret is still accepted (an upgrade from 0.2.0,
 * whose dispatcher sent it; README, CHANGELOG 0.3.0), as epoch ms; undefined when unset or past. An
 * unreadable time, or one more than 24 h after `nowMs`, stops the function at start: the window closes
 * by itself. */
export function bareSecretUntil(env: Env, nowMs = Date.now()): number | undefined {
  const value = parseEnv(secretsEnv, env).WORKER_BARE_SECRET_UNTIL;
  if (value === undefined) return undefined;
  const until = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ? Date.parse(value)
    : NaN;
  if (Number.isNaN(until)) {
    throw new ConfigError("WORKER_BARE_SECRET_UNTIL must be a time with its offset, e.g. 2026-12-20T15:00:00Z");
  }
  if (until > nowMs + BARE_SECRET_WINDOW_MAX_MS) {
    throw new ConfigError("WORKER_BARE_SECRET_UNTIL must be at most 24 hours ahead: it opens an upgrade window");
  }
  return until > nowMs ? until : undefined;
}

/** The job worker `fn`'s door: a dispatch proof signed with one of WORKER_SECRET (the bare secret too,
 * during an upgrade window). */
export function workerDoor(env: Env, fn: string, nowMs = Date.now()): DispatchDoor {
  return dispatchDoor(workerSecrets(env), fn, bareSecretUntil(env, nowMs));
}

const REFUSAL = "refused: only the database's dispatcher runs jobs (Authorization: Bearer <a proof signed with the " +
  "vault's worker_secret>)";

/** Lets in the dispatcher's request for job `jobId` (403 otherwise), or answers 500 while WORKER_SECRET
 * holds no secret, since then every dispatch is refused. */
export async function admitDispatch(door: DispatchDoor, secrets: number, req: Request, body: string): Promise<number> {
  if (secrets === 0) throw new HttpError(500, "WORKER_SECRET is not configured: every request is refused");
  const verdict = await door.verify(req.headers.get("authorization"));
  if (!verdict.ok) throw new HttpError(403, verdict.reason ? `${REFUSAL}: ${verdict.reason}` : REFUSAL);
  const jobId = parseJobRequest(body);
  if (verdict.jobId !== undefined && verdict.jobId !== jobId) {
    throw new HttpError(403, `${REFUSAL}: this dispatch's proof is for another job`);
  }
  return jobId;
}

export function drainSettings(env: Env): DrainSettings {
  const e = parseEnv(drainEnv, env);
  return {
    budgetMs: e.JOB_DRAIN_BUDGET_MS,
    concurrency: e.JOB_DRAIN_CONCURRENCY,
    idleMs: e.JOB_DRAIN_IDLE_MS,
    batch: e.JOB_DRAIN_BATCH,
    cpuMs: e.JOB_DRAIN_CPU_MS,
  };
}

/** This process's CPU time in ms (user + system), undefined where the runtime does not tell. */
function processCpuMs(): number | undefined {
  try {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  } catch {
    return undefined;
  }
}

const IDLE_POLL_MS = 20;

/**
 * Claims and runs due jobs of this worker's kinds until none is due or the budget is spent. A loop
 * that claims a job starts another (up to `concurrency`) to share the work. When nothing is due, one
 * loop per instance waits for the next job that falls due within the budget (a retry's backoff, a
 * rate-budget deferral), or polls for `idleMs` while new jobs arrive undispatched (ops.job_drains).
 * Leftover due work is handed to a fresh invocation; the last loop to stop ends the drain.
 */
export function createDrainer(
  sql: postgres.Sql,
  fn: string,
  handlers: Record<string, JobHandler>,
  settings: DrainSettings,
  /** Runs a further loop in the background (EdgeRuntime.waitUntil on hosted). */
  spawn: (loop: Promise<number>) => void,
  finish: Finish = createFinisher(sql),
) {
  const kinds = Object.keys(handlers);
  let loops = 0;
  let waiting = false;

  async function drain(): Promise<number> {
    if (loops >= settings.concurrency) return 0;
    loops++;
    const deadline = performance.now() + settings.budgetMs;
    const cpuStart = processCpuMs();
    // the process's CPU since this loop began (other loops' included: the request is charged for all of it)
    const cpuSpent = () => {
      const now = settings.cpuMs > 0 && cpuStart !== undefined ? processCpuMs() : undefined;
      return now !== undefined && now - cpuStart! >= settings.cpuMs;
    };
    let ran = 0;
    let idleSince: number | undefined;
    try {
      while (performance.now() < deadline && !cpuSpent()) {
        const worker = `${fn}:${crypto.randomUUID()}`;
        const jobs = await sql<Job[]>`
          select ${sql.unsafe(JOB_COLUMNS)} from ops.claim_jobs(${kinds}, ${worker}, ${settings.batch})`
          .catch((err) => {
            if (!missingFunction(err)) throw err;
            return sql<Job[]>`select ${sql.unsafe(JOB_COLUMNS)} from ops.claim_next_job(${kinds}, ${worker})`;
          });
        if (jobs.length) {
          idleSince = undefined;
          if (loops < settings.concurrency) spawn(drain()); // more may be due: share them
          await Promise.all(jobs.map((job) => execute(fn, worker, job, handlers, { sql, finish })));
          ran += jobs.length;
          continue;
        }
        if (waiting) break; // another loop of this instance already waits for the next due job
        const [{ ms }] = await sql<{ ms: number | null }[]>`select ops.next_job_due_in_ms(${kinds}) as ms`;
        let wait = ms;
        if (ms === null || performance.now() + ms >= deadline) {
          // only a loop that claimed lingers: its claims hold the kinds (ops.job_drains), so new jobs
          // come to it undispatched; any other loop would poll for jobs that are dispatched anyway
          idleSince ??= performance.now();
          if (ran === 0 || performance.now() - idleSince >= settings.idleMs) break;
          wait = IDLE_POLL_MS;
        }
        waiting = true;
        try {
          // 0: a job is due but could not be claimed (its queue key is busy): look again shortly
          await new Promise((r) => setTimeout(r, wait === 0 ? 250 : Math.max(wait ?? 0, IDLE_POLL_MS)));
        } finally {
          waiting = false;
        }
      }
      // the budget (time or CPU) ran out with work still due: a new invocation (pg_net) carries on
      if (performance.now() >= deadline || cpuSpent()) await sql`select ops.dispatch_due_job(${kinds})`;
      return ran;
    } finally {
      loops--;
      // the last loop: new jobs of these kinds are dispatched again (if this fails, the hold expires in 2 s)
      if (loops === 0) await sql`select ops.end_job_drain(${kinds})`.catch(() => {});
    }
  }
  return drain;
}

export type WorkerOptions = {
  name: string;
  /** The env variable holding the worker's database URL (its narrow login role). */
  dbEnv: string;
  /** One handler per job kind, built once per instance from the worker's pool and env. */
  handlers: (sql: postgres.Sql, env: Env) => Record<string, JobHandler>;
};

type EdgeRuntimeGlobal = { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } };

function background(fn: string, task: Promise<unknown>) {
  const guarded = task.catch((err) =>
    log("error", fn, "drain stopped by an error", { cause: err instanceof Error ? err.name : typeof err })
  );
  (globalThis as EdgeRuntimeGlobal).EdgeRuntime?.waitUntil(guarded);
}

/** A whole job-worker function: `serveJobWorker({ name, dbEnv, handlers })` is its index.ts. Its
 * settings (drain, adapters) are parsed here, at start: a bad one stops the function before it serves. */
export function serveJobWorker(options: WorkerOptions) {
  const env = denoEnv();
  const settings = drainSettings(env);
  const secrets = workerSecrets(env);
  const door = workerDoor(env, options.name);
  const sql = connect(options.dbEnv);
  const handlers = options.handlers(sql, env);
  const finish = createFinisher(sql);
  const drain = createDrainer(
    sql,
    options.name,
    handlers,
    settings,
    (loop) => background(options.name, loop),
    finish,
  );
  serve(options.name, async (req, body) => {
    // only the dispatcher may run jobs: it signs each dispatch with the vault's worker_secret, one of WORKER_SECRET
    const jobId = await admitDispatch(door, secrets.length, req, body);
    const outcome = await runJob(sql, options.name, jobId, handlers, finish);
    // answer now, keep draining due jobs in the background (EdgeRuntime.waitUntil on hosted Supabase)
    background(options.name, drain());
    return { body: outcome, log: { job_id: outcome.job_id, outcome: outcome.status } };
  }, { internalMessage: "internal error: the job was not run, the sweep will dispatch it again" });
}
