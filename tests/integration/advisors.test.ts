// Supabase's own security advisors (the real CLI's lints) against the local stack's schema.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { config, ROOT } from "../../scripts/lib/config.ts";
import { sql } from "../helpers/db.ts";

afterAll(() => sql.end());

type Lint = { name: string; level: string; detail: string; metadata?: { schema?: string; name?: string } };

/**
 * Procedures that COMMIT between steps (pg_cron's ticker) cannot carry a SET search_path clause:
 * Postgres forbids transaction control in them. They set search_path to '' as their first statement
 * instead, which the lint cannot see. Only such procedures are excused, each checked here.
 */
async function committingProcedures(): Promise<Set<string>> {
  const rows = await sql<{ name: string }[]>`
    select n.nspname || '.' || p.proname as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where p.prokind = 'p' and p.proconfig is null and n.nspname in ('public', 'ops', 'private')
       and p.prosrc ~ '^\\s*declare[\\s\\S]*?begin\\s+perform pg_catalog\\.set_config\\(''search_path'', '''', false\\);'
       and p.prosrc ~ '\\mcommit\\M'`;
  return new Set(rows.map((r) => r.name));
}

test("supabase db advisors --type security reports no ERROR and no WARN", async () => {
  const res = spawnSync(
    join(ROOT, "node_modules/.bin/supabase"),
    ["db", "advisors", `--remote=${config.dbUrl}`, "--type", "security", "--level", "info", "--output-format", "json"],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, DO_NOT_TRACK: "1" } },
  );
  expect(res.status, res.stderr).toBe(0);
  const { results: lints } = JSON.parse(res.stdout) as { results: Lint[] };
  expect(Array.isArray(lints)).toBe(true);
  const excused = await committingProcedures();
  expect([...excused].sort()).toEqual(["ops.tick_jobs"]);
  const serious = lints
    .filter((l) => l.level === "ERROR" || l.level === "WARN")
    .filter((l) =>
      !(l.name === "function_search_path_mutable" && excused.has(`${l.metadata?.schema}.${l.metadata?.name}`))
    )
    .map((l) => `${l.level} ${l.name}: ${l.detail}`);
  expect(serious).toEqual([]);
});
