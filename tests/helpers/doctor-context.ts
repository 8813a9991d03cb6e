// A DoctorContext for tests that run one doctor area directly (#19): the env given, not the local stack,
// no database unless `db` is passed.
import type { Sql } from "../../scripts/lib/db.ts";
import type { DoctorContext } from "../../scripts/doctor/types.ts";

export function doctorContext(
  env: Record<string, string>,
  opts: { dnsServers?: string[]; db?: () => Sql | null; local?: boolean } = {},
): DoctorContext {
  return {
    env,
    envFiles: [{ path: "test.env", env }],
    clientDirs: [],
    repoDir: process.cwd(),
    local: opts.local ?? false,
    sendTestAlert: false,
    dnsServers: opts.dnsServers ?? [],
    db: opts.db ?? (() => null),
  };
}

/** A database that answers only the seller count the stripe area asks (a stand-in for the stripe area's
 * one query: tests of the real query run against the stack, see tests/integration). */
export function sellerCountDb(n: number): () => Sql {
  const sql = (strings: TemplateStringsArray) => {
    if (!/count\(\*\).*public\.seller_accounts/.test(strings.join("?"))) throw new Error("unexpected query");
    return Promise.resolve([{ n }]);
  };
  return () => sql as unknown as Sql;
}
