// npm run erase -- <email | user id> [reason...]
// Erases one person on request (ops.erase_person): scrubs or deletes their personal data everywhere the
// database holds it, keeps ids, amounts and statuses, queues the CRM's GDPR delete and writes one audit row.
// Running it again finds nothing and says so (exit 0): erasure is idempotent.
import { config } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";

export type ErasureSummary = {
  status: "erased" | "nothing_to_erase";
  erasure_id?: string;
  audit_id?: number;
  subject?: string;
  counts?: Record<string, number>;
  crm_job_id?: number | null;
  auth_user: string;
};

export async function erase(sql: Sql, who: string, reason: string): Promise<ErasureSummary> {
  // as the service role (the grant the function names), not as the connection's superuser
  return await sql.begin(async (tx) => {
    await tx`set local role service_role`;
    const [{ summary }] = await tx<
      { summary: ErasureSummary }[]
    >`select ops.erase_person(${who}, ${reason}) as summary`;
    return summary;
  });
}

export function formatErasure(who: string, s: ErasureSummary): string {
  const lines: string[] = [];
  if (s.status === "nothing_to_erase") {
    lines.push(`nothing to erase for ${who}: no personal data of theirs is held (erased already, or never known)`);
  } else {
    lines.push(`erased ${s.subject} (erasure ${s.erasure_id}, audit row ${s.audit_id})`);
    for (const [table, n] of Object.entries(s.counts ?? {})) lines.push(`  ${table.padEnd(28)} ${n}`);
    lines.push(
      s.crm_job_id ? `  CRM GDPR delete queued as job ${s.crm_job_id}` : "  no CRM contact to delete",
    );
  }
  if (s.auth_user.startsWith("left")) lines.push(`  app user ${s.auth_user}`);
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [who, ...rest] = process.argv.slice(2);
  if (!who?.trim()) {
    console.error("usage: npm run erase -- <email | user id> [reason]");
    process.exit(2);
  }
  const reason = rest.join(" ").trim() || "erasure on request (npm run erase)";
  const sql = connect(config.dbUrl, { max: 1 });
  try {
    console.log(formatErasure(who, await erase(sql, who.trim(), reason)));
  } catch (err) {
    console.error(`erase: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await sql.end();
  }
}
