// npm test: brings the local stack up (reusing a running one), then runs vitest's two projects
// (tests/unit, tests/integration over HTTP and SQL; see vitest.config.ts) and the pgTAP suite
// (pg_prove), and ends with one summary line.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { config, ROOT } from "./lib/config.ts";
import { log, paths, startStack } from "./stack/stack.ts";

await startStack();

const vitestReport = join(config.stackDir, "vitest.json");
// the integration files run shuffled (vitest.config.ts): say which order, so a failure can be repeated
const args = process.argv.slice(2);
const seed = args.find((a) => a.startsWith("--sequence.seed"))?.split("=")[1] ?? String(Date.now() % 1_000_000);
if (!args.some((a) => a.startsWith("--sequence.seed"))) args.push(`--sequence.seed=${seed}`);
log(`vitest --sequence.seed=${seed} (npm test -- --sequence.seed=${seed} runs the files in this order again)`);
const vitest = spawnSync(join(ROOT, "node_modules/.bin/vitest"), [
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile=${vitestReport}`,
  ...args,
], { cwd: ROOT, stdio: "inherit" });
let passed = 0;
let failed = 0;
if (existsSync(vitestReport)) {
  const r = JSON.parse(readFileSync(vitestReport, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
}
if (vitest.status !== 0 && failed === 0) failed += 1; // a file that failed to load, or no report

// the helpers every pgTAP file shares (a `tests` schema: users, acting as one, Stripe events,
// rows-or-error), installed first; test databases only, never a migration
const helpers = spawnSync("psql", [
  config.dbUrl,
  "-q",
  "-v",
  "ON_ERROR_STOP=1",
  "-f",
  join(ROOT, "supabase/tests/helpers.sql"),
], {
  cwd: ROOT,
  encoding: "utf8",
});
if (helpers.status !== 0) process.stderr.write(`pgTAP helpers (supabase/tests/helpers.sql) failed:\n${helpers.stderr}`);
const testDir = join(ROOT, "supabase/tests/database");
const files = readdirSync(testDir).filter((f) => f.endsWith(".test.sql")).sort().map((f) => join(testDir, f));
const url = new URL(config.dbUrl);
const prove = spawnSync("pg_prove", [
  "--ext",
  ".sql",
  "-h",
  url.hostname,
  "-p",
  url.port,
  "-U",
  url.username,
  "-d",
  url.pathname.slice(1),
  ...files,
], {
  cwd: ROOT,
  encoding: "utf8",
  env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) },
});
process.stdout.write(prove.stdout ?? "");
process.stderr.write(prove.stderr ?? "");
const total = Number(/Tests=(\d+)/.exec(prove.stdout ?? "")?.[1] ?? 0);
const failedDb = [...(prove.stdout ?? "").matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce(
  (n, m) => n + Number(m[1]),
  0,
);
const dbBroken = (prove.status !== 0 && failedDb === 0) || helpers.status !== 0 ? 1 : 0;
passed += total - failedDb;
failed += failedDb + dbBroken;

log(`stack left running (npm run stack:stop to stop it); logs in ${paths.logDir}`);
log(`integration files ran in the order of vitest --sequence.seed=${seed}`);
console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(vitest.status === 0 && prove.status === 0 && failed === 0 ? 0 : 1);
