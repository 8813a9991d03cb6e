// What a failed Stripe call means to an app's request (checkout, seller-onboarding): our key refused (503,
// counted as our failure), Stripe busy (429: 503 with Retry-After), Stripe refusing the request (4xx: 502 with
// Stripe's code) or not answering (502). Stripe's message is logged with the key redacted, never answered.
import { HttpError } from "../http/error.ts";
import { log } from "../log.ts";
import { redact } from "../providers/redact.ts";
import type { StripeErrorLike } from "./client.ts";

/** `fn`: the function's name (log and the 503's sentence); `retry`: what the caller can do, e.g. "send the same
 * idempotency_key again". */
export function stripeFailure(fn: string, what: string, err: unknown, key: string, retry: string): HttpError {
  const e = (err ?? {}) as StripeErrorLike;
  const status = e.statusCode;
  const detail = redact(e.message ?? String(err), [key]).slice(0, 300);
  log("warn", fn, `Stripe refused or failed to ${what}`, { status, type: e.type, code: e.code, detail });
  if (status === 401 || status === 403) {
    // our configuration, not the caller's request: a failure (5xx) that the failed_runs alert counts
    return new HttpError(503, `${fn} is not available (Stripe refused the server's key): ${retry} later`, {
      cause: err,
      reason: "stripe_key",
    });
  }
  if (status === 429) {
    const seconds = Math.max(1, Number(e.headers?.["retry-after"]) || 2);
    return new HttpError(503, `Stripe is busy: retry in ${seconds} s (${retry})`, {
      cause: err,
      headers: { "retry-after": String(seconds) },
      reason: "stripe_rate_limit",
    });
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return new HttpError(502, `Stripe refused to ${what} (${e.code ?? e.type ?? status}): ${retry}`, {
      cause: err,
      reason: "stripe_refused",
    });
  }
  return new HttpError(502, `Stripe did not answer while we tried to ${what}: ${retry}`, {
    cause: err,
    reason: "stripe_unavailable",
  });
}

/** Stripe's own refusals and outages (stripe_*, a 502 or 503) are a provider's, not our failed_runs, except
 * `stripe_key` (our configuration); the caller's refusals are theirs. For serve()'s onAnswered. */
export function countOursOnly<A extends { reason: string }>(count: (a: A) => Promise<void> | void) {
  return (a: A) => a.reason.startsWith("stripe_") && a.reason !== "stripe_key" ? undefined : count(a);
}
