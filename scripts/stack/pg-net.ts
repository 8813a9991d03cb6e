// Which pg_net a stack runs, and installing it. The real one (hosted Supabase's background worker in C)
// is built from ../shared/vendor/pg_net whenever that source is there; a clone without it gets the
// stand-in (scripts/stack/sql/pg_net*, drained by net-worker.ts). Both live in the system PostgreSQL's
// directories, shared by every stack on the machine, and neither shadows the other: the stand-in owns
// pg_net.control (default version 0.0.1); the real one is installed as its version's own files
// (pg_net--<v>.sql, a secondary control file pg_net--<v>.control naming $libdir/pg_net, and pg_net.so),
// which only `create extension pg_net version '<v>'` picks. A stack chooses when its cluster is made:
// the real one is preloaded (shared_preload_libraries) and created at that version.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { config, ROOT } from "../lib/config.ts";

export const PG_BIN = "/usr/lib/postgresql/15/bin";
export const STAND_IN_VERSION = "0.0.2";
/** Debian's packages the real pg_net builds with (PGXS, libcurl). */
export const BUILD_PACKAGES = ["postgresql-server-dev-15", "libcurl4-openssl-dev", "build-essential"];

export type PgNet = { kind: "real"; version: string; source: string } | { kind: "stand-in"; version: string };

/** pg_net's source: PG_NET_SOURCE, else the shared folder beside the repository. */
export function pgNetSource(): string {
  return resolve(ROOT, config.env.PG_NET_SOURCE || "../shared/vendor/pg_net");
}

/** The pg_net this stack wants: PG_NET=stand-in forces the stand-in, PG_NET=real fails without the
 * source, and by default (auto) the real one whenever its source is there. */
export function wantedPgNet(): PgNet {
  const mode = config.env.PG_NET || "auto";
  if (!["auto", "real", "stand-in"].includes(mode)) {
    throw new Error(`PG_NET must be auto, real or stand-in (got ${JSON.stringify(mode)})`);
  }
  const source = pgNetSource();
  const makefile = join(source, "Makefile");
  if (mode === "stand-in" || (mode === "auto" && !existsSync(makefile))) {
    return { kind: "stand-in", version: STAND_IN_VERSION };
  }
  if (!existsSync(makefile)) throw new Error(`PG_NET=real but pg_net's source is not at ${source} (PG_NET_SOURCE)`);
  const version = /^EXTVERSION\s*=\s*(\S+)/m.exec(readFileSync(makefile, "utf8"))?.[1];
  if (!version) throw new Error(`no EXTVERSION in ${makefile}`);
  return { kind: "real", version, source };
}

function dirs() {
  const pgConfig = (flag: string) => execFileSync(join(PG_BIN, "pg_config"), [flag], { encoding: "utf8" }).trim();
  return { ext: join(pgConfig("--sharedir"), "extension"), lib: pgConfig("--pkglibdir") };
}

/** Writes through a temporary file and a rename: a running server that mapped the old pg_net.so keeps
 * its copy, where copying over it in place would change the code under it. */
function installFile(content: Buffer, dst: string) {
  if (existsSync(dst) && readFileSync(dst).equals(content)) return;
  const tmp = `${dst}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, content, { mode: 0o644 });
    renameSync(tmp, dst);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(
      `Cannot install ${dst} (the stack installs pg_net into the system PostgreSQL as root; ` +
        `run it once as root, or PG_NET=stand-in): ${(err as Error).message}`,
    );
  }
}

function sourceHash(dir: string): string {
  const hash = createHash("sha256");
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) hash.update(p.slice(dir.length)).update(readFileSync(p));
    }
  };
  walk(dir);
  return hash.digest("hex");
}

function missingBuildPackages(): string[] {
  const res = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\n", ...BUILD_PACKAGES], { encoding: "utf8" });
  const ok = new Set(
    (res.stdout ?? "").split("\n").filter((l) => l.endsWith("install ok installed")).map((l) => l.split(" ")[0]),
  );
  return BUILD_PACKAGES.filter((p) => !ok.has(p));
}

/** Builds the real pg_net in <stack dir>/pg_net-build (the source folder is read-only) and installs
 * its version's files, unless the installed ones were built from this very source. */
function installReal(net: Extract<PgNet, { kind: "real" }>, log: (m: string) => void) {
  const { ext, lib } = dirs();
  const stamp = `# built by scripts/stack from pg_net source sha256 ${sourceHash(net.source)}`;
  const controlPath = join(ext, `pg_net--${net.version}.control`);
  if (
    existsSync(controlPath) && readFileSync(controlPath, "utf8").includes(stamp) &&
    existsSync(join(lib, "pg_net.so")) && existsSync(join(ext, `pg_net--${net.version}.sql`))
  ) return;
  const missing = missingBuildPackages();
  if (missing.length) {
    throw new Error(
      `Building pg_net needs these Debian packages: ${missing.join(", ")} (apt-get install -y ${missing.join(" ")}); ` +
        "or PG_NET=stand-in for the stand-in",
    );
  }
  const build = join(config.stackDir, "pg_net-build");
  log(`building pg_net ${net.version} from ${net.source} in ${build}`);
  rmSync(build, { recursive: true, force: true });
  mkdirSync(build, { recursive: true });
  cpSync(net.source, build, { recursive: true });
  spawnSync("chmod", ["-R", "u+w", build]);
  const make = spawnSync("make", ["-s", `PG_CONFIG=${join(PG_BIN, "pg_config")}`], { cwd: build, encoding: "utf8" });
  if (make.status !== 0) {
    throw new Error(`make of pg_net failed (exit ${make.status}):\n${`${make.stdout}${make.stderr}`.trim()}`);
  }
  installFile(readFileSync(join(build, "pg_net.so")), join(lib, "pg_net.so"));
  installFile(readFileSync(join(build, "sql", `pg_net--${net.version}.sql`)), join(ext, `pg_net--${net.version}.sql`));
  // a secondary control file: what this version needs that the primary (the stand-in's) does not say
  installFile(
    Buffer.from(
      [
        stamp,
        "comment = 'Async HTTP'",
        "module_pathname = '$libdir/pg_net'",
        "relocatable = false",
        "superuser = true",
        "",
      ].join("\n"),
    ),
    controlPath,
  );
  log(`installed pg_net ${net.version} (${lib}/pg_net.so, ${controlPath})`);
}

/** The stand-in, installed as the extension named pg_net (its primary control file and 0.0.1 script). */
function installStandIn() {
  const { ext } = dirs();
  for (const f of ["pg_net.control", `pg_net--${STAND_IN_VERSION}.sql`]) {
    installFile(readFileSync(join(ROOT, "scripts/stack/sql", f)), join(ext, f));
  }
}

/** Installs what `net` needs; the stand-in always (it is the extension's primary control file, which a
 * real version's secondary control file builds on). */
export function installPgNet(net: PgNet, log: (m: string) => void) {
  installStandIn();
  if (net.kind === "real") installReal(net, log);
}
