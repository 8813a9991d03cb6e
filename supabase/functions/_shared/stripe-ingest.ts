// Hands one verified Stripe event to the database, which records it once and applies it.
import type postgres from "postgres";
import type { StripeEvent } from "./stripe-signature.ts";

export type IngestResult = { event_id: string; status: string; duplicate: boolean };

export async function ingestStripeEvent(sql: postgres.Sql, event: StripeEvent): Promise<IngestResult> {
  const [row] = await sql`select ops.ingest_stripe_event(${sql.json(event as postgres.JSONValue)}) as result`;
  return row.result as IngestResult;
}
