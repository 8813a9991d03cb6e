// Counts an endpoint's refused (4xx) and failed (5xx) answers per minute and reason in Postgres
// (ops.record_endpoint_outcome), for the alerts: a refused Stripe delivery writes nothing to the ledger,
// and a function that fails writes nothing at all, so without this they would be invisible. Passed as
// serve()'s onAnswered. Only the status and a reason code leave the function: never the body, a header
// or a secret.
import type postgres from "postgres";
import type { Answer } from "./serve.ts";

/** Records answers with a status from `from` (400: refusals and failures, the webhook's two rules;
 * 500: failures only, the failed_runs rule) up; successes cost nothing. */
export function answerCounter(sql: postgres.Sql, endpoint: string, { from = 400 }: { from?: 400 | 500 } = {}) {
  return async ({ status, reason }: Answer) => {
    if (status < from) return;
    await sql`select ops.record_endpoint_outcome(${endpoint}, ${status}::int, ${reason})`;
  };
}
