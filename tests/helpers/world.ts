// A test file's own world: a PostgreSQL cluster of its own (a copy of a migrated template cluster) with
// its own pg_cron (ticker, sweep, alert evaluator), pg_net (the real one, or the stand-in and its worker) and functions gateway, on ports of
// its own. A file that changes job kinds, settings, alert rules, cron jobs or the functions' env (a
// fake CRM, a Stripe key) does it in its world: nothing it changes or leaves running (a drain loop, a
// job in backoff, a gateway with other env) reaches another file, so it restores nothing and the suite
// passes in any file order.
//
// Import this module FIRST in the test file: scripts/lib/config.ts reads the stack's ports and
// directory once, on import, and every helper (sql, deliver, restartGateway, paths.logDir) then talks
// to the world. startWorld() in beforeAll, stopWorld() last in afterAll.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..", "..");
const mainStackDir = resolve(ROOT, process.env.STACK_DIR ?? ".stack");
const portBase = Number(process.env.FUNCTIONS_PORT_BASE ?? 54400);

/** Within the main stack's function port range (its functions use the first ports), one world at a
 * time (vitest.config.ts: no file parallelism); stopStack() stops a world an interrupted run left. */
export const WORLD = {
  dir: join(mainStackDir, "world"),
  apiPort: portBase + 50,
  dbPort: portBase + 51,
  functionsPortBase: portBase + 60,
  template: { dir: join(mainStackDir, "world-template"), dbPort: portBase + 52 },
};

process.env.STACK_DIR = WORLD.dir;
process.env.DB_PORT = String(WORLD.dbPort);
process.env.API_PORT = String(WORLD.apiPort);
process.env.FUNCTIONS_PORT_BASE = String(WORLD.functionsPortBase);
process.env.STACK_TEMPLATE_PGDATA = join(WORLD.template.dir, "pgdata");
// database URLs given for the main stack would point the world's functions at the main database
for (const key of Object.keys(process.env)) if (key.endsWith("_DB_URL")) delete process.env[key];

/** What the template is built from: a change to any of these builds it again. */
function templateSource(): string {
  const hash = createHash("sha256");
  // which pg_net the template's cluster runs (scripts/stack/pg-net.ts: the real one when its source is there)
  const pgNetSource = resolve(ROOT, process.env.PG_NET_SOURCE || "../shared/vendor/pg_net");
  hash.update(`pg_net ${process.env.PG_NET || "auto"} ${existsSync(join(pgNetSource, "Makefile"))}\n`);
  for (const f of ["scripts/stack/stack.ts", "scripts/stack/pg-net.ts"]) hash.update(readFileSync(join(ROOT, f)));
  for (const dir of ["supabase/migrations", "scripts/stack/sql"]) {
    for (const f of readdirSync(join(ROOT, dir)).sort()) {
      hash.update(`${dir}/${f}\n`).update(readFileSync(join(ROOT, dir, f)));
    }
  }
  return hash.digest("hex");
}

function stackCli(command: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(join(ROOT, "node_modules/.bin/tsx"), ["scripts/stack/cli.ts", command], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", fail);
    child.on("exit", (code) => code === 0 ? ok() : fail(new Error(`stack ${command} exited with ${code}`)));
  });
}

/** The migrated cluster worlds copy, built once per migration set (about as long as a first stack start). */
async function ensureTemplate() {
  const stamp = join(WORLD.template.dir, "source.sha256");
  const source = templateSource();
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === source) return;
  rmSync(WORLD.template.dir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STACK_DIR: WORLD.template.dir,
    DB_PORT: String(WORLD.template.dbPort),
  };
  delete env.STACK_TEMPLATE_PGDATA;
  await stackCli("template", env);
  writeFileSync(stamp, source);
}

/** Starts this file's world with these variables set for its functions (or unset where undefined):
 * a fresh copy of the template, migrated, configured and seeded as `npm run stack:start` leaves it. */
export async function startWorld(env: Record<string, string | undefined> = {}) {
  const { config, LOGIN_ROLES } = await import("../../scripts/lib/config.ts");
  if (config.pgPort !== WORLD.dbPort || config.stackDir !== WORLD.dir) {
    throw new Error(
      "tests/helpers/world.ts must be the test file's first import (the stack config was read before it)",
    );
  }
  // a URL set in a .env file (read by config.ts, not here) would point the world at another database
  for (const url of [config.dbUrl, ...LOGIN_ROLES.map((r) => config.roleDbUrl(r.role))]) {
    if (new URL(url).port !== String(WORLD.dbPort)) {
      throw new Error(
        `a test world's database is on port ${WORLD.dbPort}, not ${new URL(url).host}: unset *_DB_URL in .env`,
      );
    }
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const stack = await import("../../scripts/stack/stack.ts");
  stack.stopStack(); // a world an interrupted run left
  rmSync(WORLD.dir, { recursive: true, force: true });
  await ensureTemplate();
  await stack.startStack();
}

/** Stops this file's world and deletes its cluster (its logs stay in <stack dir>/world/logs until the next world). */
export async function stopWorld() {
  const stack = await import("../../scripts/stack/stack.ts");
  stack.stopStack();
  rmSync(join(WORLD.dir, "pgdata"), { recursive: true, force: true });
}
