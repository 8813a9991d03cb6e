// CPU time by component of the local stack (from /proc): where an event's time goes on a machine whose
// cores the load generator, gateway, Deno and Postgres share. Postgres backends are told apart by their
// login role (stripe_webhook: ingestion; pipeline_worker: crm-sync; postgres: net worker, bench, cron).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { config } from "../lib/config.ts";

const TICK_MS = 10; // USER_HZ is 100 on Linux
/** The peer's own database on the same server (sections/peer.ts). */
export const PEER_DATABASE = "stripe_sync_peer";

type Proc = { pid: number; ppid: number; ticks: number; childTicks: number; cmd: string };

function readProcs(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      out.set(Number(name), {
        pid: Number(name),
        ppid: Number(f[1]),
        ticks: Number(f[11]) + Number(f[12]),
        childTicks: Number(f[13]) + Number(f[14]),
        cmd,
      });
    } catch { /* gone meanwhile */ }
  }
  return out;
}

function pidFromFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return pid > 0 ? pid : undefined;
}

function pgGroup(cmd: string): string {
  const [, role, db] = /^postgres: (\S+) (\S+) \d/.exec(cmd) ?? [];
  if (db === PEER_DATABASE) return "pg: peer's database";
  if (role === "stripe_webhook") return "pg: stripe_webhook (ingest)";
  if (role === "pipeline_worker") return "pg: pipeline_worker (crm-sync)";
  if (role === "checkout") return "pg: checkout";
  if (role) return "pg: postgres (net worker, bench, cron)";
  return "pg: background";
}

export type CpuSnapshot = Map<string, number>;

/** Ticks by component now. `extra` names more process trees (e.g. the peer's server). */
export function cpuSnapshot(extra: Record<string, number | undefined> = {}): CpuSnapshot {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const p of procs.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const snap: CpuSnapshot = new Map();
  const add = (group: string, ticks: number) => snap.set(group, (snap.get(group) ?? 0) + ticks);
  const walk = (pid: number | undefined, group: (p: Proc) => string) => {
    if (!pid || !procs.has(pid)) return;
    const stack = [pid];
    while (stack.length) {
      const p = procs.get(stack.pop()!)!;
      if (!p) continue;
      add(group(p), p.ticks);
      stack.push(...(children.get(p.pid) ?? []));
    }
  };
  const pids = join(config.stackDir, "pids");
  walk(
    pidFromFile(join(pids, "gateway.pid")),
    (p) =>
      p.cmd.includes("/stripe-webhook/")
        ? "deno: stripe-webhook"
        : p.cmd.includes("/crm-sync/")
        ? "deno: crm-sync"
        : p.cmd.includes("/checkout/")
        ? "deno: checkout"
        : "gateway (node)",
  );
  walk(pidFromFile(join(pids, "net-worker.pid")), () => "net worker (node)");
  const postmaster = pidFromFile(join(config.stackDir, "pgdata", "postmaster.pid"));
  walk(postmaster, (p) => (p.pid === postmaster ? "pg: background" : pgGroup(p.cmd)));
  // backends that exited meanwhile are reaped by the postmaster: their time is in its children's ticks
  if (postmaster && procs.has(postmaster)) add("pg: exited backends", procs.get(postmaster)!.childTicks);
  for (const [group, pid] of Object.entries(extra)) walk(pid, () => group);
  add("load generator (bench)", procs.get(process.pid)?.ticks ?? 0);
  return snap;
}

/** CPU ms per component between two snapshots, largest first, with the total. */
export function cpuSince(
  before: CpuSnapshot,
  after = cpuSnapshot(),
): { byComponent: Record<string, number>; totalMs: number } {
  const rows = [...after.entries()].map(([g, t]) => [g, (t - (before.get(g) ?? 0)) * TICK_MS] as const).filter((
    [, ms],
  ) => ms > 0);
  rows.sort((a, b) => b[1] - a[1]);
  return { byComponent: Object.fromEntries(rows), totalMs: rows.reduce((n, [, ms]) => n + ms, 0) };
}
