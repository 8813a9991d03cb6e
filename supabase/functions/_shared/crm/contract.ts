// The CRM adapter contract: what crm-sync asks of a CRM, and how one attempt's failure is classified.
// Adapters make ONE attempt and throw a CrmError; retries and backoff belong to the database (ops.jobs).

export type LifecycleStage = "lead" | "customer" | "other";

export type ContactInput = {
  email: string;
  firstName?: string;
  lastName?: string;
  /** lead: no paid order yet; customer: paying; other: canceled or churned (see hubspot.ts). */
  lifecycleStage: LifecycleStage;
  billingStatus: string;
};

export type DealInput = {
  /** Our order uuid: the idempotency key of the deal. */
  orderKey: string;
  name: string;
  /** Minor units (cents), as Stripe and public.orders count them. */
  amount: number;
  currency: string;
  /** Our stage name ("paid", "refunded", ...); each adapter maps it to its own pipeline. */
  stage: string;
  contactId?: string;
  refundedAmount?: number;
  needsReview?: boolean;
};

export type NoteInput = {
  /** Idempotency key, e.g. "order:<uuid>:refunded": letters, digits and . _ : - only. */
  key: string;
  dealId?: string;
  contactId?: string;
  body: string;
  /** When the business event happened (ISO 8601); defaults to now. */
  occurredAt?: string;
};

export interface CrmAdapter {
  readonly name: string;
  upsertContact(c: ContactInput): Promise<{ contactId: string }>;
  upsertDeal(d: DealInput): Promise<{ dealId: string }>;
  addNote(n: NoteInput): Promise<{ noteId: string }>;
}

const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1000;
const MAX_REASON_CHARS = 500;

/** The outcome of one failed attempt: retry later (after retryAfterMs when known), or give up with the message. */
export class CrmError extends Error {
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly status?: number;

  constructor(
    message: string,
    options: { retryable: boolean; retryAfterMs?: number; status?: number; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "CrmError";
    this.retryable = options.retryable;
    this.status = options.status;
    if (options.retryAfterMs !== undefined) {
      this.retryAfterMs = Math.min(Math.max(0, Math.round(options.retryAfterMs)), MAX_RETRY_AFTER_MS);
    }
  }
}

export function permanent(message: string, status?: number): CrmError {
  return new CrmError(redact(message), { retryable: false, status });
}

/** Trimmed and lower-cased: the one form used as a key, so "Jane@X.com " and "jane@x.com" are one contact. */
export function normalizeEmail(email: string): string {
  const e = (email ?? "").trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(e)) throw permanent("contact email is missing or not an email address");
  return e;
}

/** "jane@example.com" -> "j***@example.com", for logs and error messages. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 0) return "***";
  return `${email.slice(0, Math.min(1, at))}***${email.slice(at)}`;
}

const EMAIL_RE = /[^\s"'<>()[\]{},;:\\@]+@[^\s"'<>()[\]{},;:\\@]+/g;

/** Removes secrets and masks emails in text that may reach logs or ops.jobs, and bounds its length. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[redacted]");
  out = out.replace(EMAIL_RE, (m) => maskEmail(m)).replace(/\s+/g, " ").trim();
  return out.length > MAX_REASON_CHARS ? `${out.slice(0, MAX_REASON_CHARS - 1)}…` : out;
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
 */
export function classifyResponse(
  operation: string,
  res: { status: number; retryAfter?: string | null; reason: string; defaultRetryAfterMs?: number },
  secrets: readonly string[] = [],
  now = Date.now(),
): CrmError {
  const { status } = res;
  const message = redact(`${operation}: ${res.reason}`, secrets);
  const retryAfterMs = parseRetryAfter(res.retryAfter, now);
  if (status === 429) {
    return new CrmError(message, { retryable: true, status, retryAfterMs: retryAfterMs ?? res.defaultRetryAfterMs });
  }
  if (status >= 500 || status === 408 || status === 423 || status === 425) {
    return new CrmError(message, { retryable: true, status, retryAfterMs });
  }
  return new CrmError(message, { retryable: false, status });
}

/** A request that got no answer: timeouts, resets and refused connections are all worth another attempt. */
export function classifyThrown(
  operation: string,
  err: unknown,
  timeoutMs: number,
  secrets: readonly string[] = [],
): CrmError {
  if (err instanceof CrmError) return err;
  const name = (err as { name?: string } | null)?.name;
  if (name === "TimeoutError" || name === "AbortError") {
    return new CrmError(`${operation}: no answer within ${timeoutMs} ms (timeout)`, { retryable: true, cause: err });
  }
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  const detail = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new CrmError(redact(`${operation}: network error (${detail})`, secrets), { retryable: true, cause: err });
}

/** For the worker: anything an adapter threw, as a CrmError (unknown errors are retried; attempts are capped). */
export function toCrmError(err: unknown): CrmError {
  if (err instanceof CrmError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new CrmError(`unexpected error in the CRM adapter (${name})`, { retryable: true, cause: err });
}

/** Checks every adapter makes before sending: a bad input is a permanent failure, never a retry. */
export function checkDeal(d: DealInput): void {
  if (!d.orderKey?.trim()) throw permanent("upsert deal: orderKey is required");
  if (!d.name?.trim()) throw permanent("upsert deal: name is required");
  if (!Number.isSafeInteger(d.amount) || d.amount < 0) {
    throw permanent("upsert deal: amount must be a non-negative integer in minor units");
  }
  if (d.refundedAmount !== undefined && (!Number.isSafeInteger(d.refundedAmount) || d.refundedAmount < 0)) {
    throw permanent("upsert deal: refundedAmount must be a non-negative integer in minor units");
  }
  if (!/^[a-z]{3}$/i.test(d.currency ?? "")) throw permanent("upsert deal: currency must be a 3-letter ISO code");
}

export const NOTE_KEY_RE = /^[A-Za-z0-9._:-]{1,200}$/;

export function checkNote(n: NoteInput): void {
  if (!NOTE_KEY_RE.test(n.key ?? "")) {
    throw permanent("add note: key must be 1-200 letters, digits or . _ : - characters");
  }
  if (!n.body?.trim()) throw permanent("add note: body is empty");
  if (!n.dealId && !n.contactId) throw permanent("add note: a note needs a dealId or a contactId to attach to");
  if (n.occurredAt !== undefined && Number.isNaN(Date.parse(n.occurredAt))) {
    throw permanent("add note: occurredAt is not an ISO 8601 date");
  }
}
