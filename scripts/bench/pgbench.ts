// pgbench against the local stack's database: the baselines the pipeline's figures are compared with.
import { execFile } from "node:child_process";
import { config } from "../lib/config.ts";
import { assertLocal } from "./context.ts";

export const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

function pgConn(dbUrl: string) {
  const url = new URL(dbUrl);
  assertLocal("the database URL", url.hostname);
  return {
    args: ["-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username)],
    db: decodeURIComponent(url.pathname.slice(1)) || "postgres",
    env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password), PGAPPNAME: "bench-pgbench" },
  };
}

/** `dbUrl`: the stack's postgres by default; the admin URL where a run sets a superuser parameter
 * (track_functions), which postgres may not set, as on hosted. */
export function runPgbench(
  args: string[],
  timeoutMs: number,
  env: Record<string, string> = {},
  dbUrl = config.dbUrl,
): Promise<string> {
  const conn = pgConn(dbUrl);
  const argv = [...conn.args, ...args, conn.db];
  return new Promise((resolve, reject) => {
    execFile(PGBENCH, argv, {
      env: { ...conn.env, ...env },
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
      cwd: config.stackDir,
    }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pgbench ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

/** A custom script run by `clients` connections over `threads` threads, prepared statements, no vacuum. */
export function scriptArgs(file: string, clients: number, threads = 1): string[] {
  return ["-n", "-M", "prepared", "-f", file, "-c", String(clients), "-j", String(threads)];
}

export function parsePgbench(out: string) {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return {
    tps: num(/^tps = ([\d.]+)/m),
    latencyAvgMs: num(/^latency average = ([\d.]+) ms/m),
    latencyStddevMs: num(/^latency stddev = ([\d.]+) ms/m),
    scheduleLagAvgMs: num(/^rate limit schedule lag: avg ([\d.]+)/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
  };
}

/** A SQL literal pgbench passes through untouched: E'' with ':' escaped (pgbench reads :name as a variable). */
export function pgbenchLiteral(text: string): string {
  return "E'" + text.replace(/\\/g, "\\\\").replace(/'/g, "''").replace(/:/g, "\\x3a") + "'";
}
