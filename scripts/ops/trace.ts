// npm run trace -- <email | order id | evt_... | ticket id | T-000123 | request id>
// One customer's timeline (ops.journey): Stripe events, status changes, jobs and their attempts,
// CRM, tickets, emails and Slack posts, checkout requests and dashboard changes, oldest first; the request id
// (x-request-id) of what an HTTP request caused shows in [...] as a Stripe event does, and finds all of it.
import { config } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";

export type JourneyRow = {
  at: Date;
  source: string;
  entity: string | null;
  what: string;
  detail: string | null;
  /** the Stripe event behind the row, else the request id (x-request-id) that caused it */
  correlation_id: string | null;
};

export async function journey(sql: Sql, query: string): Promise<JourneyRow[]> {
  return await sql<JourneyRow[]>`select * from ops.journey(${query})`;
}

export function formatJourney(query: string, rows: JourneyRow[]): string {
  if (rows.length === 0) return `nothing known about ${query}`;
  const short = (s: string | null) => s?.replace(/([0-9a-f]{8})-[0-9a-f-]{27}/g, "$1") ?? "";
  const lines = rows.map((r) => {
    const time = r.at.toISOString().replace("T", " ").slice(0, 23);
    const extra = [
      r.detail && `  ${short(r.detail).replace(/\s+/g, " ").slice(0, 160)}`,
      r.correlation_id && `  [${r.correlation_id}]`,
    ]
      .filter(Boolean).join("");
    return `${time}  ${r.source.padEnd(6)}  ${short(r.entity).padEnd(17)}  ${short(r.what)}${extra}`;
  });
  return [`journey of ${query} (${rows.length} entries)`, ...lines].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const query = process.argv.slice(2).join(" ").trim();
  if (!query) {
    console.error("usage: npm run trace -- <email | order id | evt_... | ticket id | T-000123 | request id>");
    process.exit(2);
  }
  const sql = connect(config.dbUrl, { max: 1 });
  try {
    console.log(formatJourney(query, await journey(sql, query)));
  } catch (err) {
    console.error(`trace: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await sql.end();
  }
}
