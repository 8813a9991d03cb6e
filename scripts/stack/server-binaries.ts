// Did PostgreSQL's binaries change under a running cluster? apt-get upgrading postgresql-15 (or the stack
// installing a new pg_net.so) replaces files the running postmaster mapped: its new backends then load
// the new plpgsql.so into the old binary and fail ("undefined symbol: heap_datum_update_type") until
// the cluster is restarted. Two signs, either enough: the server on disk reports another version than
// the running one, or (where /proc lets us look: root, or the server's own user) the postmaster runs
// an executable or library that was deleted from disk, i.e. replaced.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Files a process maps (its executable first) that were replaced or deleted on disk; empty when none,
 * undefined when /proc does not let us look. */
export function replacedFiles(pid: number): string[] | undefined {
  try {
    const out = new Set<string>();
    const exe = readlinkSync(`/proc/${pid}/exe`);
    if (exe.endsWith(" (deleted)")) out.add(exe.slice(0, -" (deleted)".length));
    for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
      const m = /\s(\/\S.*) \(deleted\)$/.exec(line);
      if (m && !m[1].startsWith("/dev/") && !m[1].startsWith("/SYSV")) out.add(m[1]);
    }
    return [...out];
  } catch {
    return undefined;
  }
}

/** "15.14 (Debian 15.14-0+deb12u1)": the version string `postgres --version` prints after its name. */
export function diskServerVersion(): string | undefined {
  try {
    return execFileSync(join(PG_BIN, "postgres"), ["--version"], { encoding: "utf8" }).trim()
      .replace(/^postgres \(PostgreSQL\) /, "");
  } catch {
    return undefined;
  }
}

/** The running server's version, asked over its port (server_version, the same text). */
export function runningServerVersion(dbUrl: string): string | undefined {
  const psql = spawnSync("psql", [dbUrl, "-XAtc", "show server_version"], {
    encoding: "utf8",
    env: { ...process.env, PGCONNECT_TIMEOUT: "5" },
  });
  return psql.status === 0 ? psql.stdout.trim() : undefined;
}

/** What changed, said for a person ("15.14 -> 15.15", "replaced: /usr/lib/postgresql/15/bin/postgres"),
 * or undefined when nothing did (or nothing can be told). */
export function serverBinariesChanged(pid: number | undefined, dbUrl: string): string | undefined {
  const disk = diskServerVersion();
  const running = runningServerVersion(dbUrl);
  if (disk && running && disk !== running) return `running ${running}, on disk ${disk}`;
  const replaced = pid ? replacedFiles(pid) : undefined;
  if (replaced?.length) return `replaced on disk: ${replaced.join(", ")}`;
  return undefined;
}
