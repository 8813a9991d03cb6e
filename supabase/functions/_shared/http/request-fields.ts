// What the user-facing functions (support-intake, checkout) ask of a request alike: text Postgres can
// store, one idempotency key (the body's field or the Idempotency-Key header, under the same rules), and a
// per-minute budget per caller that answers 429 with Retry-After.
import type postgres from "postgres";
import { z } from "zod";
import { takeRateTokens } from "../providers/rate-budget.ts";
import { HttpError } from "./error.ts";

// Postgres text cannot hold NUL, and JSON's lone surrogate escapes (\ud800) are no character: refused
// with a 400 naming the field, before they reach the database (which answered 500 for a NUL)
// deno-lint-ignore no-control-regex -- NUL is the character refused
const STORABLE = /^[^\u0000\p{Cs}]*$/u;

/** The regex and message a text field passes to zod's `.regex(...)`. */
export const storable = (field: string) =>
  [STORABLE, `${field} must be plain text: no NUL (\\u0000) or lone surrogates`] as const;

export const idempotencyKey = z.string().min(1, "idempotency_key must not be empty")
  .max(200, "idempotency_key is at most 200 characters").regex(...storable("idempotency_key"));

/** The Idempotency-Key header, under the body field's rules; undefined when not sent. */
export function idempotencyKeyHeader(req: Request): string | undefined {
  const header = req.headers.get("idempotency-key");
  if (header === null) return undefined;
  const parsed = idempotencyKey.safeParse(header);
  if (!parsed.success) throw new HttpError(400, `Idempotency-Key header: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/** One request from `bucket`'s budget of `perMinute`, else 429 with Retry-After and `tooMany` (given the
 * seconds to wait) as the message. */
export async function spendPerMinute(
  sql: postgres.Sql,
  bucket: string,
  perMinute: number,
  tooMany: (seconds: number) => string,
) {
  const wait = await takeRateTokens(sql, { bucket, capacity: perMinute, windowMs: 60_000 }, 1);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new HttpError(429, tooMany(seconds), { headers: { "retry-after": String(seconds) } });
  }
}
