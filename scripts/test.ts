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

// test databases only: pgTAP lives in extensions, which postgres may use but (as on hosted) not open to
// another role; the files open it to the role they act as, for one transaction
const platform = spawnSync("psql", [
  config.adminDbUrl,
  "-q",
  "-v",
  "ON_ERROR_STOP=1",
  "-c",
  "grant usage on schema extensions to postgres with grant option",
], { cwd: ROOT, encoding: "utf8" });
if (platform.status !== 0) process.stderr.write(`pgTAP's grant to postgres failed:\n${platform.stderr}`);
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
// as postgres (not a superuser, as on hosted), but for the files that act as another login
// (`set session authorization`, which only a superuser's session may): they say so on a line of their own
const asAdmin = (f: string) => /^-- pgTAP runs as supabase_admin/m.test(readFileSync(f, "utf8"));
const prove = (dbUrl: string, list: string[]) => {
  if (list.length === 0) return { status: 0, stdout: "", stderr: "" };
  const url = new URL(dbUrl);
  return spawnSync("pg_prove", [
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
    ...list,
  ], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password) },
  });
};
let proveStatus = 0;
for (
  const run of [prove(config.dbUrl, files.filter((f) => !asAdmin(f))), prove(config.adminDbUrl, files.filter(asAdmin))]
) {
  process.stdout.write(run.stdout ?? "");
  process.stderr.write(run.stderr ?? "");
  const total = Number(/Tests=(\d+)/.exec(run.stdout ?? "")?.[1] ?? 0);
  const failedDb = [...(run.stdout ?? "").matchAll(/Failed (\d+)\/\d+ subtests/g)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
  passed += total - failedDb;
  failed += failedDb + (run.status !== 0 && failedDb === 0 ? 1 : 0);
  if (run.status !== 0) proveStatus = run.status ?? 1;
}
if (helpers.status !== 0 || platform.status !== 0) failed += 1;

log(`stack left running (npm run stack:stop to stop it); logs in ${paths.logDir}`);
log(`integration files ran in the order of vitest --sequence.seed=${seed}`);
console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(vitest.status === 0 && proveStatus === 0 && failed === 0 ? 0 : 1);
