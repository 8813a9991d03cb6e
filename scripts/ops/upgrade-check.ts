// npm run upgrade:check: what a deployed project goes through on an upgrade, on a stack of its own.
// 1. a database built from the released migrations only (supabase/released-migrations.json, each
//    file's sha256 checked), as a project deployed at the last release has it;
// 2. real data written through the real paths: npm start's demo journey (signed webhooks, workers,
//    support-intake), until the pipeline is idle;
// 3. `supabase db push` of the newer migrations on top, as README's Upgrading says;
// 4. the data holds (no table lost a row, the customer's journey reads the same) and so does the
//    behaviour (the journey runs again, every step as it says).
// The functions are this checkout's in both halves: a deployer pushes the migrations first, then
// deploys the functions. For 0.3.0 it deploys them first, with the upgrade window open
// (WORKER_BARE_SECRET_UNTIL, CHANGELOG): 0.2.0's dispatcher sends the bare worker secret, 0.3.0's a
// proof, and the workers take both until the window closes by itself. Its stack is <stack dir>/upgrade on the ports of this one + 10 (functions
// + 100), built anew and removed at the end (KEEP_STACK=1 keeps it running).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { runJourney, type Step } from "../demo/journey.ts";
import { config, ROOT } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";
import { freezeProblems, migrationFiles, releasedMigrations, unreleasedMigrations } from "../lib/migrations.ts";
import { waitFor } from "../lib/wait.ts";
import { pushMigrations, resetStack, startStack } from "../stack/stack.ts";
import { journey } from "./trace.ts";

if (process.env.UPGRADE_CHECK_STACK !== "1") {
  // the settings are read at start: run again with the upgrade stack's, never the caller's stack
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UPGRADE_CHECK_STACK: "1",
    STACK_DIR: join(config.stackDir, "upgrade"),
    DB_PORT: String(config.pgPort + 10),
    API_PORT: String(config.apiPort + 10),
    FUNCTIONS_PORT_BASE: String(config.functionsPortBase + 100),
    // the released dispatcher sends the bare worker secret: the workers take it for the next hour
    WORKER_BARE_SECRET_UNTIL: new Date(Date.now() + 3600_000).toISOString(),
  };
  for (const key of Object.keys(env)) if (key.endsWith("_DB_URL")) delete env[key];
  const child = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [import.meta.filename], { env, stdio: "inherit" });
  process.exit(child.status ?? 1);
}

const problems: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) problems.push(what);
};

/** Rows that are meant to go by themselves: a drain's hold on its kinds lasts 2 s. */
const TRANSIENT = new Set(["ops.job_drains"]);

/** Every table of ours and its row count. */
async function rowCounts(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ name: string; n: number }[]>`
    select format('%I.%I', schemaname, tablename) as name,
           (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I.%I', schemaname, tablename),
                                                false, true, '')))[1]::text::int as n
      from pg_tables where schemaname in ('public', 'ops', 'private') order by 1`;
  return new Map(rows.map((r) => [r.name, r.n]));
}

async function idle(sql: Sql) {
  await waitFor("the pipeline to be idle", async () => {
    const [{ n }] = await sql`select count(*)::int as n from ops.jobs where status in ('queued', 'running')`;
    return n === 0;
  }, 120_000);
}

const journeyLines = async (sql: Sql, email: string) =>
  (await journey(sql, email)).map((r) => `${r.at.toISOString()} ${r.source} ${r.entity} ${r.what}`);

const failedSteps = (steps: Step[]) => steps.filter((s) => !s.ok).map((s) => s.title);

const released = releasedMigrations().map((m) => m.file);
const newer = unreleasedMigrations();
const frozen = freezeProblems();
if (frozen.length) {
  console.error(`upgrade check: the released migrations are not as released:\n  ${frozen.join("\n  ")}`);
  process.exit(1);
}
console.log(`upgrade check: ${released.length} released migration(s), then ${newer.length} newer`);

resetStack();
let sql: Sql | undefined;
try {
  await startStack({ migrations: released });
  sql = connect(config.dbUrl, { max: 2 });
  const before = await runJourney(sql);
  check(failedSteps(before.steps).length === 0, `before the upgrade, steps failed: ${failedSteps(before.steps)}`);
  await idle(sql);
  const countsBefore = await rowCounts(sql);
  const linesBefore = await journeyLines(sql, before.email);

  const [{ pushedAt }] = await sql<{ pushedAt: Date }[]>`select now() as "pushedAt"`;
  pushMigrations();
  const [{ n: applied }] = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`;
  check(applied === migrationFiles().length, `${applied} migrations recorded, ${migrationFiles().length} exist`);

  const countsAfter = await rowCounts(sql);
  for (const [table, n] of countsBefore) {
    if (TRANSIENT.has(table)) continue;
    const after = countsAfter.get(table);
    check(after !== undefined && after >= n, `${table}: ${n} row(s) before the upgrade, ${after ?? "no table"} after`);
  }
  const linesAfter = await journeyLines(sql, before.email);
  const lost = linesBefore.filter((l) => !linesAfter.includes(l));
  check(lost.length === 0, `the journey of ${before.email} lost: ${lost.join("; ")}`);

  const again = await runJourney(sql);
  check(failedSteps(again.steps).length === 0, `after the upgrade, steps failed: ${failedSteps(again.steps)}`);
  await idle(sql);
  const [{ n: dead }] = await sql`select count(*)::int as n from ops.jobs where status = 'dead'`;
  check(dead === 0, `${dead} dead job(s) after the upgrade`);
  // the new dispatcher's proofs are what the workers took: none of its dispatches was refused
  const [{ n: refused }] = await sql`
    select count(*)::int as n from net._http_response where created > ${pushedAt} and status_code = 403`;
  check(refused === 0, `${refused} dispatch(es) refused (403) after the upgrade`);
  console.log(
    `upgrade check: ${countsBefore.size} tables kept their rows, ${linesBefore.length} journey entries held, ` +
      `${again.steps.length} journey steps passed after ${newer.length} newer migration(s)`,
  );
} catch (err) {
  problems.push((err as Error).message);
} finally {
  await sql?.end();
  if (process.env.KEEP_STACK === "1") console.log(`upgrade check: stack left running in ${config.stackDir}`);
  else resetStack();
}
if (problems.length) {
  console.error(`upgrade check failed:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("upgrade check: ok");
