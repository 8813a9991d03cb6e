// Test control over the running local stack: restart the functions gateway of a file's own world
// with other env (a fake CRM), tick the sweep as pg_cron would, and wait for the pipeline to settle.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { config, ROOT } from "../../scripts/lib/config.ts";
import { restartGateway as restart, servicePid, stopService } from "../../scripts/stack/stack.ts";
import { waitFor } from "../../scripts/lib/wait.ts";
export { waitFor };
import { sql } from "./db.ts";

/** The shared stack's gateway is every file's: only a file's own world may restart or kill its gateway. */
function requireWorld(what: string) {
  if (!config.env.STACK_TEMPLATE_PGDATA) {
    throw new Error(
      `${what} changes the stack every file shares: run the file in a world of its own (tests/helpers/world.ts)`,
    );
  }
}

/** Restarts this file's world's gateway (and so its functions) with these variables set, or unset where undefined. */
export async function restartGateway(env: Record<string, string | undefined>) {
  requireWorld("restarting the gateway");
  await restart(env);
}

export function killGateway() {
  requireWorld("killing the gateway");
  const pid = servicePid("gateway");
  stopService("gateway");
  return pid;
}

/** One pg_cron tick of the delivery sweep, with a short "lost dispatch" window for tests. */
export async function sweep(lostAfter = "2 seconds") {
  await sql`select ops.sweep_jobs(500, ${lostAfter}::interval)`;
}

async function jobsSettled(ids: number[]) {
  const rows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from ops.jobs where id = any(${ids}) group by status`;
  const open = rows.filter((r) => !["succeeded", "dead"].includes(r.status)).reduce((n, r) => n + r.n, 0);
  return open === 0 ? rows : undefined;
}

/** Waits until none of the jobs is open (each succeeded or dead), running `tick` between polls. On
 * timeout the error lists the jobs still open (kind, status, attempts, due, last error), so a CI
 * failure says which job hung and why. */
export async function settleJobs(ids: number[], timeoutMs: number, tick?: () => Promise<unknown>) {
  try {
    return await waitFor(`${ids.length} jobs to settle`, () => jobsSettled(ids), timeoutMs, tick);
  } catch (err) {
    const open = await sql`
      select id, kind, status, attempts, run_at, left(last_error, 200) as last_error from ops.jobs
       where id = any(${ids}) and status not in ('succeeded', 'dead') order by id limit 20`;
    throw new Error(`${(err as Error).message}; still open: ${JSON.stringify(open)}`);
  }
}

/** `npm run replay -- <args>` as an operator runs it. */
export function replayCli(...args: string[]) {
  return spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/ops/replay.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
  });
}

/** `npm run stack:<command>` as a developer runs it. */
export function stackCli(command: string) {
  return spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/stack/cli.ts", command], {
    cwd: ROOT,
    encoding: "utf8",
  });
}
