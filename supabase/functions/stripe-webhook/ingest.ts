// Hands one verified Stripe event to the database, which records it once and applies it.
import type postgres from "postgres";
import { HttpError } from "../_shared/http/error.ts";
import type { StripeEvent } from "./signature.ts";

export type IngestResult = { event_id: string; status: string; duplicate: boolean };

export async function ingestStripeEvent(sql: postgres.Sql, event: StripeEvent): Promise<IngestResult> {
  try {
    const [row] = await sql`select ops.ingest_stripe_event(${sql.json(event as postgres.JSONValue)}) as result`;
    return row.result as IngestResult;
  } catch (cause) {
    // a data exception (22xxx, e.g. \u0000 in a string) is the payload's fault: redelivery cannot help
    if (/^22/.test((cause as { code?: string }).code ?? "")) {
      throw new HttpError(400, "event payload cannot be stored (invalid characters or values)", { cause });
    }
    // otherwise we could not record it: 503, and Stripe will deliver it again
    throw new HttpError(503, "could not record the event, retry later", { cause });
  }
}
