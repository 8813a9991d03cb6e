// The local stack without Docker: system PostgreSQL 15 + pg_cron + pg_net (the real one built from
// ../shared/vendor/pg_net, else a stand-in and its worker), the Supabase compatibility layer (as the
// cluster's superuser supabase_admin), migrations through the real Supabase CLI as postgres, which is
// not a superuser, and the functions gateway running Deno. Every step is idempotent, so starting
// twice is harmless.
import { execFileSync, spawn, spawnSync, type StdioOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { apiKeys, config, LOGIN_ROLES, ROOT } from "../lib/config.ts";
import { connect } from "../lib/db.ts";
import { MIGRATIONS_DIR } from "../lib/migrations.ts";
import { BUILD_PACKAGES, installPgNet, PG_BIN, type PgNet, wantedPgNet } from "./pg-net.ts";
import { serverBinariesChanged } from "./server-binaries.ts";
const DEBIAN_PACKAGES = [
  "postgresql-15",
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "postgresql-15-plpgsql-check",
  "libtap-parser-sourcehandler-pgtap-perl",
];
const isRoot = process.getuid?.() === 0;
const pgData = join(config.stackDir, "pgdata");
const pgRun = join(config.stackDir, "run");
const logDir = join(config.stackDir, "logs");
const pidDir = join(config.stackDir, "pids");

export function log(msg: string) {
  console.log(`[stack] ${msg}`);
}

function run(
  cmd: string,
  args: string[],
  opts: { asPostgres?: boolean; quiet?: boolean; env?: NodeJS.ProcessEnv } = {},
) {
  const [file, argv] = opts.asPostgres && isRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  const res = spawnSync(file, argv, { cwd: ROOT, encoding: "utf8", env: opts.env ?? process.env });
  if (res.status !== 0) {
    const out = `${res.stdout ?? ""}${res.stderr ?? ""}`.trim();
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${res.status}):\n${out}`);
  }
  if (!opts.quiet && res.stdout.trim()) console.log(res.stdout.trim());
  return res.stdout;
}

/** Debian's packages this stack needs: the real pg_net's build packages too where it runs the real one. */
function missingPackages(): string[] {
  const wanted = [...DEBIAN_PACKAGES, ...(wantedPgNet().kind === "real" ? BUILD_PACKAGES : [])];
  const res = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\n", ...wanted], { encoding: "utf8" });
  const installed = new Set(
    (res.stdout ?? "").split("\n").filter((l) => l.endsWith("install ok installed")).map((l) => l.split(" ")[0]),
  );
  return wanted.filter((p) => !installed.has(p));
}

export function ensureSystemPackages() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  if (!isRoot) {
    throw new Error(
      `The local stack needs these Debian packages: ${missing.join(", ")}.\n` +
        `Install them as root: apt-get update && apt-get install -y ${missing.join(" ")}` +
        (missing.some((p) => BUILD_PACKAGES.includes(p))
          ? "\n(or PG_NET=stand-in: pg_net's stand-in needs no build)"
          : ""),
    );
  }
  log(`installing ${missing.join(", ")} (apt-get)`);
  run("apt-get", ["update", "-qq"], { quiet: true });
  run("apt-get", ["install", "-y", "-qq", ...missing], {
    quiet: true,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

function ensureDirs() {
  for (const d of [config.stackDir, pgRun, logDir, pidDir]) mkdirSync(d, { recursive: true });
  if (isRoot) chownSync(pgRun, uid("postgres"), gid("postgres"));
}

function uid(user: string) {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}
function gid(user: string) {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

function ensureCluster(net: PgNet) {
  if (existsSync(join(pgData, "PG_VERSION"))) return;
  // a test file's own world (tests/helpers/world.ts) starts from a copy of a migrated, stopped cluster
  const template = config.env.STACK_TEMPLATE_PGDATA;
  if (template) {
    log(`copying the cluster ${template} to ${pgData}`);
    mkdirSync(config.stackDir, { recursive: true });
    run("cp", ["-a", template, pgData], { quiet: true });
    writeClusterConf(net);
    return;
  }
  log(`initdb ${pgData}`);
  mkdirSync(pgData, { recursive: true });
  const pwFile = join(config.stackDir, "pwfile");
  writeFileSync(pwFile, config.dbPassword + "\n", { mode: 0o600 });
  if (isRoot) {
    chownSync(pgData, uid("postgres"), gid("postgres"));
    chownSync(pwFile, uid("postgres"), gid("postgres"));
  }
  // the bootstrap superuser is supabase_admin, as on hosted; compat.sql makes postgres a plain login role
  run(join(PG_BIN, "initdb"), [
    "-D",
    pgData,
    "-U",
    "supabase_admin",
    "--pwfile",
    pwFile,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ], { asPostgres: true, quiet: true });
  rmSync(pwFile);
  writeClusterConf(net);
}

/** This stack's port and socket directory (a copied cluster keeps its template's otherwise), and its
 * pg_net: the real one is preloaded (its background worker serves the database `postgres`, as
 * pg_net.database_name's default says), the stand-in is not a library. `wal_level = logical`, as hosted
 * has it for Realtime (#20): the tests read the supabase_realtime publication through logical decoding.
 * Written on every start, so an existing cluster takes a setting added later (startPostgres restarts a
 * running one whose wal_level differs). */
const WAL_LEVEL = "logical";

function writeClusterConf(net: PgNet) {
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${config.pgPort}`,
    `unix_socket_directories = '${pgRun}'`,
    `shared_preload_libraries = '${net.kind === "real" ? "pg_cron,pg_net" : "pg_cron"}'`,
    `cron.database_name = 'postgres'`,
    `cron.use_background_workers = on`,
    `max_worker_processes = 32`,
    `max_connections = 300`,
    `wal_level = ${WAL_LEVEL}`,
    `shared_buffers = 256MB`,
    `log_min_messages = warning`,
    `log_min_error_statement = panic`,
    `timezone = 'UTC'`,
  ].join("\n");
  writeFileSync(join(pgData, "postgresql.auto.conf"), conf + "\n");
}

/** The running server's wal_level (a setting that takes a restart), or undefined when it cannot be read. */
function walLevel(): string | undefined {
  const res = spawnSync(
    join(PG_BIN, "psql"),
    [config.adminDbUrl, "-XAtc", "show wal_level"],
    { encoding: "utf8" },
  );
  return res.status === 0 ? res.stdout.trim() : undefined;
}

function pgIsRunning(): boolean {
  const res = spawnSync(join(PG_BIN, "pg_isready"), ["-h", "127.0.0.1", "-p", String(config.pgPort)]);
  return res.status === 0;
}

function pgCtl(args: string[]) {
  run(join(PG_BIN, "pg_ctl"), ["-D", pgData, ...args], { asPostgres: true, quiet: true });
}

function postmasterPid(): number | undefined {
  const file = join(pgData, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return pid > 0 ? pid : undefined;
}

function startPostgres() {
  const running = existsSync(join(pgData, "postmaster.pid")) && pgIsRunning();
  if (running) {
    // apt-get may have upgraded postgresql-15 (or the stack pg_net.so) under the running server: its
    // new backends would load new libraries into the old binary (plpgsql: "undefined symbol")
    const level = walLevel();
    const changed = serverBinariesChanged(postmasterPid(), config.adminDbUrl) ??
      (level && level !== WAL_LEVEL ? `wal_level is ${level}, the configuration says ${WAL_LEVEL}` : undefined);
    if (!changed) return;
    log(`the running cluster differs from what it should run (${changed}): restarting it`);
    try {
      pgCtl(["-m", "fast", "-w", "-t", "60", "stop"]);
    } catch (err) {
      throw new Error(
        `the cluster in ${pgData} runs binaries that changed on disk (${changed}) and could not be stopped: ` +
          `restart it (npm run stack:stop && npm run stack:start) before using it. ${(err as Error).message}`,
      );
    }
  }
  if (!running && pgIsRunning()) {
    throw new Error(`another PostgreSQL already listens on 127.0.0.1:${config.pgPort}: stop it, or set DB_PORT`);
  }
  log(`starting PostgreSQL 15 on 127.0.0.1:${config.pgPort}`);
  const logFile = join(logDir, "postgres.log");
  if (isRoot && !existsSync(logFile)) {
    writeFileSync(logFile, "");
    chownSync(logFile, uid("postgres"), gid("postgres"));
  }
  run(join(PG_BIN, "pg_ctl"), ["-D", pgData, "-l", logFile, "-w", "-t", "60", "start"], {
    asPostgres: true,
    quiet: true,
  });
}

/** The compat layer and pg_net, as the cluster's superuser; then postgres's password. A cluster made
 * before #17 (postgres its superuser, no supabase_admin) cannot be turned into one: it is rebuilt. */
async function applyCompatLayer(net: PgNet) {
  const db = connect(config.adminDbUrl, { max: 1 });
  try {
    try {
      await db`select 1`;
    } catch (err) {
      throw new Error(
        `cannot connect to ${pgData} as its superuser supabase_admin (${(err as Error).message}). ` +
          "A cluster made before 0.3.0 has postgres as its superuser; migrations now run as a postgres that is " +
          `not one, as on hosted: npm run stack:reset rebuilds this stack (its data is lost), or set STACK_DIR`,
      );
    }
    await db.unsafe(readFileSync(join(ROOT, "scripts/stack/sql/compat.sql"), "utf8"));
    const [installed] = await db<
      { extversion: string }[]
    >`select extversion from pg_extension where extname = 'pg_net'`;
    if (!installed) {
      await db.unsafe(`create extension pg_net with schema extensions version '${net.version}'`);
    } else if (installed.extversion !== net.version) {
      throw new Error(
        `this stack's database has pg_net ${installed.extversion}, and the stack now wants ${net.kind} pg_net ` +
          `${net.version} (${net.kind === "real" ? "its source is there" : "PG_NET=stand-in, or no source"}): ` +
          "npm run stack:reset rebuilds the stack with it (its data is lost), or set PG_NET to keep the one it has",
      );
    }
    await db.unsafe(`alter role postgres with login password '${config.dbPassword.replace(/'/g, "''")}'`);
  } finally {
    await db.end();
  }
}

function supabaseCli(args: string[]) {
  const bin = join(ROOT, "node_modules/.bin/supabase");
  return run(bin, args, { quiet: true, env: { ...process.env, SUPABASE_YES: "1", DO_NOT_TRACK: "1" } });
}

/** `supabase db push` of supabase/migrations, or of only the files named (as a project deployed at
 * an earlier release has them: the upgrade check), from a copy of the supabase folder. */
export function pushMigrations(only?: string[]) {
  log(`applying ${only ? `${only.length} of the ` : ""}migrations (supabase db push)`);
  const args = ["db", "push", `--remote=${config.dbUrl}`, "--yes", "--include-all"];
  if (only) {
    const workdir = join(config.stackDir, "migrations-subset");
    rmSync(workdir, { recursive: true, force: true });
    mkdirSync(join(workdir, "supabase/migrations"), { recursive: true });
    copyFileSync(join(ROOT, "supabase/config.toml"), join(workdir, "supabase/config.toml"));
    for (const f of only) copyFileSync(join(MIGRATIONS_DIR, f), join(workdir, "supabase/migrations", f));
    args.push(`--workdir=${workdir}`);
  }
  const out = supabaseCli(args);
  const applied = out.split("\n").filter((l) => /Applying migration/i.test(l));
  if (applied.length) log(`applied ${applied.length} migration(s)`);
}

/** The workers' secret: WORKER_SECRET when set, else one generated on the stack's first start and
 * kept in its directory (as an operator keeps it between `vault.create_secret` and `secrets set`).
 * Returns the current one (the first of a comma-separated rotation list). */
function ensureWorkerSecret(): string {
  if (!config.workerSecret) {
    writeFileSync(config.workerSecretFile, randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
  }
  const current = config.workerSecret?.split(",").map((s) => s.trim()).find(Boolean);
  if (!current) throw new Error("WORKER_SECRET is set but holds no secret");
  return current;
}

/** Things hosted Supabase configures outside migrations: login passwords and vault secrets. */
async function configureDeployment() {
  const db = connect();
  try {
    // the roles the applied migrations created (a stack at an earlier release lacks later ones)
    const created = new Set((await db`select rolname from pg_roles`).map((r) => r.rolname as string));
    for (const { role } of LOGIN_ROLES.filter((r) => created.has(r.role))) {
      await db.unsafe(`alter role ${role} with login password '${config.roleDbPassword(role).replace(/'/g, "''")}'`);
    }
    const secrets: Record<string, string> = {
      functions_base_url: `${config.apiUrl}/functions/v1`,
      worker_secret: ensureWorkerSecret(),
    };
    // as a deployment sets them next to the webhook's STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID
    await db`update ops.settings
                set stripe_livemode = ${config.stripeLivemode}, stripe_account_id = ${config.stripeAccountId}`;
    // dispatches no longer carry the service role key: nothing may keep it in vault
    await db`delete from vault.secrets where name = 'service_role_key'`;
    // through the vault's functions, as postgres may on hosted (it cannot update vault.secrets)
    for (const [name, value] of Object.entries(secrets)) {
      const [existing] = await db`select id from vault.secrets where name = ${name}`;
      if (existing) await db`select vault.update_secret(${existing.id}, ${value})`;
      else await db`select vault.create_secret(${value}, ${name}, 'set by the local stack')`;
    }
  } finally {
    await db.end();
  }
}

export async function seed() {
  const db = connect();
  try {
    const file = join(ROOT, "supabase/seed.sql");
    if (existsSync(file)) await db.unsafe(readFileSync(file, "utf8"));
  } finally {
    await db.end();
  }
}

// ---------- long-running services: the pg_net worker and the functions gateway ----------

export const SERVICES = {
  "net-worker": ["scripts/stack/net-worker.ts"],
  gateway: ["scripts/stack/gateway.ts"],
} as const;
export type ServiceName = keyof typeof SERVICES;

/** Which pg_net this stack's cluster runs, as its configuration says (chosen when it was made). */
export function clusterPgNet(): "real" | "stand-in" | undefined {
  const conf = join(pgData, "postgresql.auto.conf");
  if (!existsSync(conf)) return undefined;
  return /^shared_preload_libraries = '[^']*\bpg_net\b/m.test(readFileSync(conf, "utf8")) ? "real" : "stand-in";
}

/** The services this stack runs: the stand-in's worker only where pg_net is the stand-in. */
export function stackServices(): ServiceName[] {
  return (Object.keys(SERVICES) as ServiceName[]).filter((n) => n !== "net-worker" || clusterPgNet() === "stand-in");
}

function pidFile(name: string) {
  return join(pidDir, `${name}.pid`);
}

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function servicePid(name: ServiceName): number | undefined {
  if (!existsSync(pidFile(name))) return undefined;
  const pid = Number(readFileSync(pidFile(name), "utf8"));
  return pid && alive(pid) ? pid : undefined;
}

/** Starts a service detached, logging to .stack/logs/<name>.log, or attached with inherited output. */
export function startService(name: ServiceName, attached = false) {
  if (servicePid(name)) return;
  const tsx = join(ROOT, "node_modules/.bin/tsx");
  let stdio: StdioOptions = "inherit";
  let fd: number | undefined;
  if (!attached) {
    fd = openSync(join(logDir, `${name}.log`), "a");
    stdio = ["ignore", fd, fd];
  }
  const child = spawn(tsx, [...SERVICES[name]], { cwd: ROOT, stdio, detached: !attached, env: process.env });
  writeFileSync(pidFile(name), String(child.pid));
  if (fd !== undefined) closeSync(fd);
  if (!attached) child.unref();
  return child;
}

export function stopService(name: ServiceName) {
  const pid = servicePid(name);
  if (!pid) return;
  try {
    process.kill(-pid, "SIGTERM"); // the whole group: the gateway's Deno children too
    // and wait until the group is gone (then SIGKILL what is left): a child still exiting holds its port,
    // and the next stack on these ports (a test world's) would fail to bind it (AddrInUse)
    const deadline = Date.now() + 5_000;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (groupAlive(pid)) {
      if (Date.now() >= deadline) {
        process.kill(-pid, "SIGKILL");
        break;
      }
      Atomics.wait(pause, 0, 0, 50);
    }
  } catch {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  rmSync(pidFile(name), { force: true });
}

/** Whether a process of the group still runs (a zombie holds no port: the gateway we spawned stays one
 * until our event loop reaps it, which this synchronous wait holds up). */
function groupAlive(pgid: number): boolean {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ")"
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") return true;
  }
  return false;
}

export async function waitHealthy(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${config.apiUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = await res.text();
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`functions gateway not healthy after ${timeoutMs / 1000}s: ${last} (see ${logDir})`);
}

/** Restarts the gateway (and so the functions) with these variables set, or unset where undefined. */
export async function restartGateway(env: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  stopService("gateway");
  await new Promise((r) => setTimeout(r, 300));
  startService("gateway");
  await waitHealthy(60_000);
}

/** The stack's ports lie in Linux's ephemeral range (32768-60999): a client socket the kernel gives one
 * of them as its source port (a pooled database connection, say) makes a function's bind fail with
 * AddrInUse for as long as it stays open (seen in CI: a test world's resend-webhook down for minutes).
 * As root, the stack reserves its ports: the API and database (with the upgrade check's, + 10) and the
 * functions' range with the test worlds' (+ 50..79) and the upgrade check's (+ 100..). */
function reservePorts() {
  const file = "/proc/sys/net/ipv4/ip_local_reserved_ports";
  if (!isRoot || !existsSync(file)) return;
  const low = Math.min(config.apiPort, config.pgPort);
  const ranges = [
    `${low}-${Math.max(config.apiPort, config.pgPort) + 10}`,
    `${config.functionsPortBase}-${config.functionsPortBase + 199}`,
  ];
  const current = readFileSync(file, "utf8").trim();
  const wanted = [current, ...ranges].filter(Boolean).join(",");
  try {
    writeFileSync(file, wanted);
  } catch (err) {
    log(`could not reserve the stack's ports (${(err as Error).message}): a busy machine may take one`);
  }
}

/** Database side of the stack: packages, cluster, compat layer, migrations, deployment settings. */
export async function startDatabase(opts: { migrations?: string[] } = {}) {
  ensureSystemPackages();
  reservePorts();
  ensureDirs();
  const net = wantedPgNet();
  installPgNet(net, log);
  ensureCluster(net);
  if (clusterPgNet() !== net.kind) {
    throw new Error(
      `this stack's cluster runs the ${clusterPgNet()} pg_net, and the stack now wants the ${net.kind} one: ` +
        "npm run stack:reset rebuilds it (its data is lost), or set PG_NET to keep the one it has",
    );
  }
  // an existing cluster takes settings added since it was made (a running one is restarted for them)
  writeClusterConf(net);
  startPostgres();
  await applyCompatLayer(net);
  pushMigrations(opts.migrations);
  await configureDeployment();
}

/** The whole stack in the background; seed data goes in once the workers can take its jobs. */
export async function startStack(opts: { migrations?: string[] } = {}) {
  await startDatabase(opts);
  for (const name of stackServices()) startService(name);
  await waitHealthy();
  await seed();
}

export function stopStack() {
  // a test file's own world (tests/helpers/world.ts keeps it in <stack dir>/world) left by an interrupted run
  const world = join(config.stackDir, "world");
  if (existsSync(world)) {
    spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/stack/cli.ts", "stop"], {
      cwd: ROOT,
      stdio: "inherit",
      env: { ...process.env, STACK_DIR: world },
    });
  }
  for (const name of Object.keys(SERVICES) as ServiceName[]) stopService(name);
  // our cluster, not whatever else listens on the port
  if (existsSync(join(pgData, "postmaster.pid"))) {
    log("stopping PostgreSQL");
    run(join(PG_BIN, "pg_ctl"), ["-D", pgData, "-m", "fast", "-w", "stop"], { asPostgres: true, quiet: true });
  }
}

export function resetStack() {
  stopStack();
  rmSync(config.stackDir, { recursive: true, force: true });
}

export async function printStatus() {
  const keys = await apiKeys();
  const up = pgIsRunning();
  const services = stackServices().map((n) => `${n}=${servicePid(n) ? "up" : "down"}`);
  console.log(
    [
      `database: ${up ? "up" : "down"}  pg_net=${clusterPgNet() ?? "none"}  ${services.join("  ")}`,
      `         API URL: ${config.apiUrl}`,
      `   Functions URL: ${config.apiUrl}/functions/v1/<name>`,
      `  Stripe webhook: ${config.functionUrl("stripe-webhook")}`,
      `          DB URL: ${config.dbUrl}`,
      `      JWT secret: ${config.jwtSecret}`,
      `        anon key: ${keys.anon}`,
      `service_role key: ${keys.serviceRole}`,
      `            logs: ${logDir}`,
    ].join("\n"),
  );
}

export const paths = { logDir };
