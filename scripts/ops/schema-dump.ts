// npm run schema:dump: writes supabase/schema.sql, the current schema (public, ops, private) of the
// running local stack, so a reader sees every table, view, function and policy without replaying
// the migrations. tests/schema-dump.test.ts fails when the committed file is stale.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { config, ROOT } from "../lib/config.ts";

// the server's major version: a newer pg_dump writes syntax a 15 server does not know
const PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump";
// private holds the policy helpers every RLS policy calls: the schema is not readable without them
const SCHEMAS = ["public", "ops", "private"];
export const SCHEMA_FILE = join(ROOT, "supabase/schema.sql");

const HEADER = `-- The current schema (public, ops, private), dumped from the local stack by \`npm run schema:dump\`.
-- Generated: change a migration, reset the stack, then dump again (tests/schema-dump.test.ts
-- fails while this file differs from what the migrations build). Read it; nothing applies it.

`;

/** Drops what differs between machines and runs: server/client versions, \restrict's random key. */
export function normalizeDump(dump: string): string {
  const kept = dump
    .split("\n")
    .filter((line) => !/^-- Dumped (from database|by pg_dump) version /.test(line) && !/^\\(un)?restrict /.test(line));
  // a removed line leaves its blank neighbours behind; pg_dump itself never writes more than two
  return HEADER + kept.join("\n").replace(/\n{4,}/g, "\n\n\n");
}

/** The schema-only dump of the database at dbUrl, normalized (deterministic across machines). */
export function dumpSchema(dbUrl: string = config.dbUrl): string {
  const args = ["--schema-only", "--no-owner", ...SCHEMAS.flatMap((s) => ["--schema", s]), "--dbname", dbUrl];
  const res = spawnSync(PG_DUMP, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw new Error(`cannot run ${PG_DUMP}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`pg_dump failed (exit ${res.status}): ${res.stderr.trim()}`);
  return normalizeDump(res.stdout);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  writeFileSync(SCHEMA_FILE, dumpSchema());
  console.log(`wrote ${SCHEMA_FILE}`);
}
