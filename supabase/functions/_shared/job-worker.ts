// Runs one dispatched job: authenticates the dispatcher, claims the job by id (atomic, leased),
// runs the kind's handler, then completes, defers or fails it (backoff and dead letters are SQL's).
import type postgres from "postgres";
import { z } from "zod";
import { HttpError } from "./http-error.ts";
import { log } from "./log.ts";

export type Job = {
  id: number; kind: string; payload: Record<string, unknown>; attempts: number;
  correlation_id: string | null; stripe_event_id: string | null;
};

/** What a handler asks for when it cannot run now without it being a failure (rate budget used up). */
export class Deferral extends Error {
  constructor(readonly delayMs: number, reason: string) {
    super(reason);
  }
}

/** A failure no retry can mend (the row is gone, the kind is unknown): the job goes dead at once. */
export class PermanentJobError extends Error {}

/** A failed attempt, already classified: retry (after retryAfterMs when the provider said), or dead. */
export type Failure = { message: string; retryable: boolean; retryAfterMs?: number };

export type JobOutcome =
  | { job_id: number; status: "not_claimed" }
  | { job_id: number; status: "succeeded" | "failed" | "dead" | "deferred" | "lease_lost" };

const bodySchema = z.object({ job_id: z.number().int().positive() });

/** Only the dispatcher may run jobs: it sends the service key the project injects as
 * SUPABASE_SERVICE_ROLE_KEY (compared in constant time, so a JWT that merely claims the role fails). */
export async function requireServiceRole(req: Request, serviceKey: string | undefined) {
  const token = /^Bearer\s+(.+)$/i.exec(req.headers.get("authorization") ?? "")?.[1] ?? "";
  if (!serviceKey || !(await sameSecret(token, serviceKey))) {
    throw new HttpError(403, "jobs are dispatched by the database with the service role key");
  }
}

async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (v: string) => new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

export async function parseJobRequest(req: Request): Promise<number> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new HttpError(400, "body must be JSON: {\"job_id\": <number>}");
  }
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) throw new HttpError(400, "body must be {\"job_id\": <positive integer>}");
  return parsed.data.job_id;
}

export async function runJob(
  sql: postgres.Sql,
  fn: string,
  jobId: number,
  handle: (job: Job, worker: string) => Promise<unknown>,
  classify: (err: unknown) => Failure,
): Promise<JobOutcome> {
  const worker = `${fn}:${crypto.randomUUID()}`;
  const [job] = await sql<Job[]>`select id, kind, payload, attempts, correlation_id, stripe_event_id from ops.claim_job(${jobId}, ${worker})`;
  if (!job) return { job_id: jobId, status: "not_claimed" }; // running elsewhere, done, or not due
  const started = performance.now();
  const fields = {
    job_id: job.id, kind: job.kind, attempt: job.attempts, correlation_id: job.correlation_id, event_id: job.stripe_event_id,
  };
  try {
    const result = await handle(job, worker);
    const [{ ok }] = await sql`select ops.complete_job(${job.id}, ${worker}, ${sql.json((result ?? null) as postgres.JSONValue)}) as ok`;
    log("info", fn, ok ? "job succeeded" : "job finished after its lease was lost", { ...fields, ms: Math.round(performance.now() - started) });
    return { job_id: job.id, status: ok ? "succeeded" : "lease_lost" };
  } catch (err) {
    if (err instanceof Deferral) {
      await sql`select ops.defer_job(${job.id}, ${worker}, ${err.delayMs}, ${err.message})`;
      log("info", fn, "job deferred", { ...fields, delay_ms: err.delayMs, reason: err.message });
      return { job_id: job.id, status: "deferred" };
    }
    const failure = classify(err);
    const [{ status }] = await sql`
      select ops.fail_job(${job.id}, ${worker}, ${failure.message}, ${failure.retryable}, ${failure.retryAfterMs ?? null}) as status`;
    log(status === "dead" ? "error" : "warn", fn, `job ${status ?? "lost its lease"}`, {
      ...fields, error: failure.message, retry_after_ms: failure.retryAfterMs, ms: Math.round(performance.now() - started),
    });
    return { job_id: job.id, status: status ?? "lease_lost" };
  }
}
