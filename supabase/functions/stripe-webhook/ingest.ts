// Hands one verified Stripe event to the database, which records it once and applies it.
import type postgres from "postgres";
import { HttpError } from "../_shared/http/error.ts";
import { log } from "../_shared/log.ts";
import type { Scope } from "../_shared/stripe/scope.ts";
import { SIGNED_PAYLOAD } from "./signature.ts";

export type IngestResult = { event_id: string; status: string; duplicate: boolean; reason?: string };

/** `body`: the raw body of an event verifyStripeEvent accepted (NUL escapes replaced). Postgres parses
 * it once, instead of the function serializing the event it has just parsed (same JSON, Stripe's
 * numbers as sent). `scope`: this deployment's mode and account, which ops.settings must match. */
export async function ingestStripeEvent(
  sql: postgres.Sql,
  body: string,
  scope: Scope & { sanitized: boolean },
): Promise<IngestResult> {
  try {
    // a text parameter: a jsonb one would be serialized by postgres.js, a JSON string of the body
    const [row] = await sql`select ops.ingest_stripe_event(${body}::text::jsonb,
      p_livemode => ${scope.livemode}::boolean, p_account_id => ${scope.accountId}::text,
      p_sanitized => ${scope.sanitized}::boolean) as result`;
    return row.result as IngestResult;
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? "";
    // STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID disagree with ops.settings (or its row is gone): nothing is
    // recorded, and Stripe delivers again once someone fixes the configuration
    if (code === "55000") {
      throw new HttpError(
        503,
        "configuration: this webhook's STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID and the database's ops.settings disagree",
        { cause, reason: "configuration" },
      );
    }
    // any other data exception (22xxx) is the payload's fault: redelivery cannot help. The event was
    // signed: a failure of Stripe's event or of ours (webhook_failure_rate), not a stranger's refusal
    if (/^22/.test(code)) {
      throw new HttpError(400, "event payload cannot be stored (invalid characters or values)", {
        cause,
        ...SIGNED_PAYLOAD,
      });
    }
    // otherwise we could not record it: 503, and Stripe will deliver it again
    throw new HttpError(503, "could not record the event, retry later", { cause, reason: "unavailable" });
  }
}

/** Counts a delivery of an event the ledger already held (ops.duplicate_deliveries: the founder's duplicate
 * deliveries per day, #20). The answer is 2xx whatever happens here: a failed count is only logged. */
export async function countDuplicate(sql: postgres.Sql): Promise<void> {
  try {
    await sql`select ops.record_duplicate_delivery('stripe-webhook')`;
  } catch (cause) {
    log("warn", "stripe-webhook", "could not count a duplicate delivery", { code: (cause as { code?: string }).code });
  }
}
