// Email through Resend with its official SDK (npm resend): one attempt per call, keyed by Resend's
// Idempotency-Key, every failure classified as a ProviderError.
//
// Exactly once: the idempotency key is the job's dedupe key. Resend sends once per key for 24 hours; the
// same key with the same body answers the first email's id without sending again. That covers a retry
// after a lost answer or a timeout, and Deno's fetch silently re-sending a POST whose pooled connection
// closed (the SDK calls the global fetch, which cannot be swapped for noRetryFetch here; the key makes
// a re-send harmless). The same key with a different body is refused (409 invalid_idempotent_request,
// permanent): render templates from the job's payload, which does not change between attempts, never
// from the clock. A key is forgotten after 24 hours: keep a notify job's retries inside that window
// (ops.job_kinds' defaults, 8 attempts with backoff capped at an hour, span well under it).
//
// The SDK answers { data, error, headers } instead of throwing. error.statusCode is the HTTP status, or
// null when no answer came (a network error, or our timeout: told apart by the abort signal), and
// error.name Resend's code:
// - 429 rate_limit_exceeded: retry after Retry-After (else ratelimit-reset, else 1 s); 429
//   daily_quota_exceeded / monthly_quota_exceeded: Retry-After, else an hour (a quota that stays used up
//   ends in a dead job with the reason, visible in pipeline_exceptions);
// - 409 concurrent_idempotent_requests (an earlier attempt with this key is still running): retry in 1 s;
// - 5xx: retryable; any other 4xx (validation_error, missing_required_field, invalid_from_address,
//   invalid_api_key, restricted_api_key, invalid_idempotent_request, ...): permanent.
//
// Rate: Resend allows 2 requests per second per team by default (RESEND_RATE_LIMIT_PER_S when raised);
// the adapter's rateBudget lets every worker share it through ops.take_rate_tokens, counted over a window a
// tenth longer than Resend's second (RATE_WINDOW_MS): tokens are taken in the database a few ms before the
// request reaches Resend, and that delay varies, so a budget of exactly 2 per 1,000 ms drew 429s in bursts.
// A 429 that still comes is deferred by its Retry-After without spending an attempt (jobs/worker.ts).
import { Resend } from "resend";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { maskEmail } from "../providers/email.ts";
import { classifyResponse, classifyThrown, ProviderError } from "../providers/error.ts";
import type { RateBudget } from "../providers/rate-budget.ts";
import { redact } from "../providers/redact.ts";
import { checkEmail, type EmailAdapter, type EmailMessage, formatFrom } from "./contract.ts";

export type ResendConfig = {
  apiKey: string;
  /** https://api.resend.com, or a fake's URL in tests (RESEND_BASE_URL) */
  baseUrl: string;
  timeoutMs: number;
  /** Requests per second all workers together may send (Resend's default team limit is 2). */
  ratePerSecond: number;
};

/** What the SDK hands back for a failed call (ErrorResponse, loosely: a fake or a proxy may omit fields). */
export type ResendError = { name?: string; message?: string; statusCode?: number | null };

const QUOTA_WAIT_MS = 60 * 60 * 1000;
const RATE_LIMIT_WAIT_MS = 1_000;
const CONCURRENT_KEY_WAIT_MS = 1_000;
/** The budget's window: Resend's 1 s plus headroom for the variance between taking a token and arriving. */
export const RATE_WINDOW_MS = 1_100;
/** Resend's codes, for an error body without statusCode. */
const STATUS_BY_NAME: Record<string, number> = {
  missing_required_field: 422,
  validation_error: 422,
  invalid_parameter: 422,
  invalid_attachment: 422,
  invalid_idempotency_key: 400,
  invalid_idempotent_request: 409,
  concurrent_idempotent_requests: 409,
  missing_api_key: 401,
  invalid_api_key: 403,
  restricted_api_key: 401,
  invalid_from_address: 403,
  invalid_access: 403,
  not_found: 404,
  method_not_allowed: 405,
  security_error: 451,
  rate_limit_exceeded: 429,
  daily_quota_exceeded: 429,
  monthly_quota_exceeded: 429,
  internal_server_error: 500,
};

const resendEnv = z.object({
  RESEND_API_KEY: setting.required(),
  RESEND_BASE_URL: setting.url("https://api.resend.com"),
  RESEND_TIMEOUT_MS: setting.int(10_000, 1, 300_000),
  RESEND_RATE_LIMIT_PER_S: setting.int(2, 1, 1_000),
});

/** Reads the adapter's settings from a plain env object (the function's env, a literal in tests). */
export function resendConfig(env: Env): ResendConfig {
  const e = parseEnv(resendEnv, env);
  return {
    apiKey: e.RESEND_API_KEY,
    baseUrl: e.RESEND_BASE_URL,
    timeoutMs: e.RESEND_TIMEOUT_MS,
    ratePerSecond: e.RESEND_RATE_LIMIT_PER_S,
  };
}

/** Seconds in a header as ms, or undefined. */
function seconds(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && value.trim() !== "" && Number.isFinite(n) && n >= 0 ? n * 1000 : undefined;
}

/** One failed SDK answer as a ProviderError. `headers` are the answer's (lower-case names), null without one. */
export function classifyResendError(
  operation: string,
  error: ResendError,
  headers: Record<string, string> | null,
  secrets: readonly string[],
  now = Date.now(),
): ProviderError {
  const name = typeof error?.name === "string" ? error.name : "unknown_error";
  const status = typeof error?.statusCode === "number" ? error.statusCode : STATUS_BY_NAME[name];
  if (!headers) {
    // the SDK's own "Unable to fetch data": no answer (refused, reset, DNS) or an answer it could not read
    return new ProviderError(`${operation}: network error (Resend could not be reached)`, { retryable: true });
  }
  if (status === undefined) {
    const message = redact(`${operation}: Resend answered an error without a status (${name.slice(0, 60)})`, secrets);
    return new ProviderError(message, { retryable: true });
  }
  const reason = `Resend ${status} ${name}: ${(error.message ?? "no message").slice(0, 300)}`;
  if (name === "concurrent_idempotent_requests") {
    return new ProviderError(redact(`${operation}: ${reason}`, secrets), {
      retryable: true,
      status,
      retryAfterMs: CONCURRENT_KEY_WAIT_MS,
    });
  }
  const quota = name === "daily_quota_exceeded" || name === "monthly_quota_exceeded";
  return classifyResponse(
    operation,
    {
      status,
      retryAfter: headers["retry-after"],
      reason,
      defaultRetryAfterMs: quota ? QUOTA_WAIT_MS : seconds(headers["ratelimit-reset"]) ?? RATE_LIMIT_WAIT_MS,
      quota,
    },
    secrets,
    now,
  );
}

export function createResendAdapter(config: ResendConfig, deps: { now?: () => number } = {}): EmailAdapter {
  const now = deps.now ?? Date.now;
  const secrets = [config.apiKey];
  const client = new Resend(config.apiKey, { baseUrl: config.baseUrl });

  return {
    name: "resend",
    rateBudget: {
      bucket: "notify:resend",
      capacity: config.ratePerSecond,
      windowMs: RATE_WINDOW_MS,
    } satisfies RateBudget,

    async send(message: EmailMessage, idempotencyKey: string) {
      const m = checkEmail(message, idempotencyKey);
      const operation = `send email to ${maskEmail(m.to)}`;
      const signal = AbortSignal.timeout(config.timeoutMs);
      let answer: Awaited<ReturnType<typeof client.emails.send>>;
      try {
        answer = await client.emails.send({
          from: formatFrom(m.from),
          to: m.to,
          subject: m.subject,
          html: m.html,
          text: m.text,
          ...(m.replyTo ? { replyTo: m.replyTo } : {}),
          ...(m.headers ? { headers: m.headers } : {}),
          ...(m.tags ? { tags: Object.entries(m.tags).map(([name, value]) => ({ name, value })) } : {}),
        }, { idempotencyKey, signal });
      } catch (err) {
        throw classifyThrown(operation, err, config.timeoutMs, secrets);
      }
      if (answer.error) {
        if (signal.aborted) {
          throw new ProviderError(`${operation}: no answer within ${config.timeoutMs} ms (timeout)`, {
            retryable: true,
          });
        }
        throw classifyResendError(operation, answer.error, answer.headers, secrets, now());
      }
      const id = answer.data?.id;
      if (typeof id !== "string" || !id) {
        // sent or not, a retry with the same key returns the same answer without a second email
        throw new ProviderError(`${operation}: Resend answered without an email id`, { retryable: true });
      }
      return { providerId: id };
    },
  };
}
