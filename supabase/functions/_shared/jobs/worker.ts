// The one skeleton of every job worker: authenticates the dispatcher, claims the job by id (atomic,
// leased), runs the handler of its kind, then completes, defers or fails it. Backoff and dead
// letters are SQL's (ops.fail_job); the worker only classifies what went wrong.
import type postgres from "postgres";
import { z } from "zod";
import { connect } from "../db.ts";
import { HttpError } from "../http/error.ts";
import { serve } from "../http/serve.ts";
import { requireBearerSecret } from "../http/service-key.ts";
import { log } from "../log.ts";
import { ProviderError, toProviderError } from "../providers/error.ts";

export type Job = {
  id: number;
  kind: string;
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

/** A failed attempt, classified: retry (after retryAfterMs when the provider said so), or dead. */
export type Failure = { message: string; retryable: boolean; retryAfterMs?: number };

export type JobOutcome =
  | { job_id: number; status: "not_claimed" }
  | { job_id: number; status: "succeeded" | "failed" | "dead" | "deferred" | "lease_lost" };

const bodySchema = z.object({ job_id: z.number().int().positive() });

export function parseJobRequest(body: string): number {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'body must be JSON: {"job_id": <number>}');
  }
  const parsed = bodySchema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, 'body must be {"job_id": <positive integer>}');
  return parsed.data.job_id;
}

export function classifyFailure(err: unknown): Failure {
  if (err instanceof PermanentJobError) return { message: err.message, retryable: false };
  const e = err instanceof ProviderError ? err : toProviderError(err);
  return { message: e.message, retryable: e.retryable, retryAfterMs: e.retryAfterMs };
}

export async function runJob(
  sql: postgres.Sql,
  fn: string,
  jobId: number,
  handlers: Record<string, JobHandler>,
): Promise<JobOutcome> {
  const worker = `${fn}:${crypto.randomUUID()}`;
  const [job] = await sql<Job[]>`
    select id, kind, payload, attempts, correlation_id, stripe_event_id from ops.claim_job(${jobId}, ${worker})`;
  if (!job) return { job_id: jobId, status: "not_claimed" }; // running elsewhere, done, or not due
  const started = performance.now();
  const fields = {
    job_id: job.id,
    kind: job.kind,
    attempt: job.attempts,
    correlation_id: job.correlation_id,
    event_id: job.stripe_event_id,
  };
  try {
    const handler = Object.hasOwn(handlers, job.kind) ? handlers[job.kind] : undefined;
    if (!handler) throw new PermanentJobError(`${fn} does not run jobs of kind ${job.kind}`);
    const result = await handler(job, { sql, worker });
    const [{ ok }] = await sql`
      select ops.complete_job(${job.id}, ${worker}, ${sql.json((result ?? null) as postgres.JSONValue)}) as ok`;
    log("info", fn, ok ? "job succeeded" : "job finished after its lease was lost", {
      ...fields,
      ms: Math.round(performance.now() - started),
    });
    return { job_id: job.id, status: ok ? "succeeded" : "lease_lost" };
  } catch (err) {
    if (err instanceof Deferral) {
      await sql`select ops.defer_job(${job.id}, ${worker}, ${err.delayMs}, ${err.message})`;
      log("info", fn, "job deferred", { ...fields, delay_ms: err.delayMs, reason: err.message });
      return { job_id: job.id, status: "deferred" };
    }
    const failure = classifyFailure(err);
    const [{ status }] = await sql`
      select ops.fail_job(${job.id}, ${worker}, ${failure.message}, ${failure.retryable},
                          ${failure.retryAfterMs ?? null}) as status`;
    log(status === "dead" ? "error" : "warn", fn, `job ${status ?? "lost its lease"}`, {
      ...fields,
      error: failure.message,
      retry_after_ms: failure.retryAfterMs,
      ms: Math.round(performance.now() - started),
    });
    return { job_id: job.id, status: status ?? "lease_lost" };
  }
}

export type WorkerOptions = {
  name: string;
  /** The env variable holding the worker's database URL (its narrow login role). */
  dbEnv: string;
  /** One handler per job kind, built once per instance from the worker's pool and env. */
  handlers: (sql: postgres.Sql, env: Record<string, string | undefined>) => Record<string, JobHandler>;
};

/** A whole job-worker function: `serveJobWorker({ name, dbEnv, handlers })` is its index.ts. */
export function serveJobWorker(options: WorkerOptions) {
  const env = Deno.env.toObject();
  const sql = connect(options.dbEnv);
  const handlers = options.handlers(sql, env);
  serve(options.name, async (req, body) => {
    // only the dispatcher may run jobs: it sends the vault's worker_secret, one of WORKER_SECRET
    await requireBearerSecret(
      req,
      env.WORKER_SECRET,
      "refused: only the database's dispatcher runs jobs (Authorization: Bearer <the vault's worker_secret>)",
      "WORKER_SECRET",
    );
    const outcome = await runJob(sql, options.name, parseJobRequest(body), handlers);
    return { body: outcome, log: { job_id: outcome.job_id, outcome: outcome.status } };
  }, { internalMessage: "internal error: the job was not run, the sweep will dispatch it again" });
}
