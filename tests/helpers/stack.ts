// Test control over the running local stack: restart the functions gateway with other env
// (a fake CRM), tick the sweep as pg_cron would, and wait for the pipeline to settle.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../scripts/lib/config.ts";
import { servicePid, stopService } from "../../scripts/stack/stack.ts";

export { restartGateway } from "../../scripts/stack/stack.ts";
export { waitFor } from "../../scripts/lib/wait.ts";
import { sql } from "./db.ts";

export function killGateway() {
  const pid = servicePid("gateway");
  stopService("gateway");
  return pid;
}

/** One pg_cron tick of the delivery sweep, with a short "lost dispatch" window for tests. */
export async function sweep(lostAfter = "2 seconds") {
  await sql`select ops.sweep_jobs(500, ${lostAfter}::interval)`;
}

export async function jobsSettled(ids: number[]) {
  const rows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from ops.jobs where id = any(${ids}) group by status`;
  const open = rows.filter((r) => !["succeeded", "dead"].includes(r.status)).reduce((n, r) => n + r.n, 0);
  return open === 0 ? rows : undefined;
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
