// Supabase's advisors (`supabase db advisors`, the real CLI's lints) against the local stack, less the one
// finding the local stack makes itself: the real pg_net and its stand-in share one primary control file
// (the stand-in's, default version 0.0.1: scripts/stack/pg-net.ts), so the real 0.20.x reads as
// "outdated". Hosted has no stand-in; every other finding counts.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { config, ROOT } from "./config.ts";

export type Lint = { name: string; level: string; detail: string; title?: string };

const localOnly = (l: Lint) =>
  l.name === "extension_versions_outdated" && /^Extension `pg_net` is using version `[^`]+` but version `0\.0\.1`/
    .test(l.detail);

/** The advisors' findings of one type (security, performance or all), at `level` and above, of the local stack
 * or of the database at dbUrl (the doctor). */
export function advisors(type: string, level = "info", dbUrl = config.dbUrl): Lint[] {
  const res = spawnSync(join(ROOT, "node_modules/.bin/supabase"), [
    "db",
    "advisors",
    `--remote=${dbUrl}`,
    "--type",
    type,
    "--level",
    level,
    "--output-format",
    "json",
  ], { cwd: ROOT, encoding: "utf8", env: { ...process.env, DO_NOT_TRACK: "1" } });
  if (res.status !== 0) throw new Error(`supabase db advisors failed (exit ${res.status}): ${res.stderr}`);
  const { results } = JSON.parse(res.stdout) as { results: Lint[] };
  if (!Array.isArray(results)) throw new Error(`supabase db advisors printed no results: ${res.stdout.slice(0, 200)}`);
  return results.filter((l) => !localOnly(l));
}
