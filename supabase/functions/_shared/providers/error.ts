// One classified attempt at an outside provider (CRM, email, Slack, Stripe's API): the error type
// adapters throw, and how an HTTP answer or a thrown fetch becomes one. Adapters make ONE attempt;
// retries and backoff belong to the database (ops.jobs), which reads retryable and retryAfterMs.
import { redact } from "./redact.ts";

const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;

/** The outcome of one failed attempt: retry later (after retryAfterMs when known), or give up with the message. */
export class ProviderError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly status?: number;
  /** The provider's request rate was exceeded (429, not a used-up quota): the job is deferred by Retry-After
   * without spending an attempt (ops.finish_jobs' deferred outcome). */
  readonly rateLimited: boolean;

  constructor(
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown; rateLimited?: boolean },
  ) {
    super(message, { cause: options.cause });
    this.name = "ProviderError";
    this.retryable = options.retryable;
    this.status = options.status;
    this.rateLimited = options.retryable && (options.rateLimited ?? false);
    if (options.retryAfterMs !== undefined) {
      this.retryAfterMs = Math.min(Math.max(0, Math.round(options.retryAfterMs)), MAX_RETRY_AFTER_MS);
    }
  }
}

/** A failure the same input will hit again (validation, missing configuration): never retried. */
export function permanent(message: string, status?: number): ProviderError {
  return new ProviderError(redact(message), { retryable: false, status });
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * One non-2xx answer: 429, 408, 423, 425 and 5xx are worth another attempt (honouring Retry-After);
 * any other 4xx (validation 400/422, conflict 409, auth 401/403, 404) will fail the same way again.
 * A 429 is rateLimited (deferred, no attempt spent) unless it says a quota is used up (`quota`), which
 * waiting a second does not mend: that one spends attempts and ends dead with its reason.
 */
export function classifyResponse(
  operation: string,
  res: { status: number; retryAfter?: string | null; reason: string; defaultRetryAfterMs?: number; quota?: boolean },
  secrets: readonly string[] = [],
  now = Date.now(),
): ProviderError {
  const { status } = res;
  const message = redact(`${operation}: ${res.reason}`, secrets);
  const retryAfterMs = parseRetryAfter(res.retryAfter, now);
  if (status === 429) {
    return new ProviderError(message, {
      retryable: true,
      status,
      retryAfterMs: retryAfterMs ?? res.defaultRetryAfterMs,
      rateLimited: !res.quota,
    });
  }
  if (status >= 500 || status === 408 || status === 423 || status === 425) {
    return new ProviderError(message, { retryable: true, status, retryAfterMs });
  }
  return new ProviderError(message, { retryable: false, status });
}

/** A request that got no answer: timeouts, resets and refused connections are all worth another attempt. */
export function classifyThrown(
  operation: string,
  err: unknown,
  timeoutMs: number,
  secrets: readonly string[] = [],
): ProviderError {
  if (err instanceof ProviderError) return err;
  const name = (err as { name?: string } | null)?.name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new ProviderError(`${operation}: no answer within ${timeoutMs} ms (timeout)`, {
      retryable: true,
      cause: err,
    });
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new ProviderError(redact(`${operation}: network error (${detail})`, secrets), { retryable: true, cause: err });
}

/** Anything an adapter threw, as a ProviderError (unknown errors are retried; attempts are capped). */
export function toProviderError(err: unknown, provider = "provider"): ProviderError {
  if (err instanceof ProviderError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new ProviderError(`unexpected error in the ${provider} adapter (${name})`, { retryable: true, cause: err });
}
