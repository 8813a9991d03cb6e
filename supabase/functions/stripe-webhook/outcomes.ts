// Counts the webhook's refused (4xx) and failed (5xx) answers per minute and reason in Postgres
// (ops.record_endpoint_outcome), for the webhook failure rate alert: a bad signature writes nothing
// to the ledger, so without this it would be invisible. 2xx answers are ledger rows and cost nothing
// here. Only the status and a reason code leave the function: never the body, a header or a secret.
import type postgres from "postgres";
import type { Answer } from "../_shared/http/serve.ts";

export function answerCounter(sql: postgres.Sql, endpoint: string) {
  return async ({ status, reason }: Answer) => {
    if (status < 400) return;
    await sql`select ops.record_endpoint_outcome(${endpoint}, ${status}::int, ${reason})`;
  };
}
