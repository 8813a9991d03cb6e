// The local stack without Docker: system PostgreSQL 15 + pg_cron, the Supabase compatibility
// layer, migrations through the real Supabase CLI, the pg_net stand-in worker and the functions
// gateway running Deno. Every step is idempotent, so starting twice is harmless.
import { execFileSync, spawn, spawnSync, type StdioOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { apiKeys, config, LOGIN_ROLES, ROOT } from "../lib/config.ts";
import { connect } from "../lib/db.ts";
import { MIGRATIONS_DIR } from "../lib/migrations.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
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

function missingPackages(): string[] {
  const res = spawnSync("dpkg-query", ["-W", "-f=${Package} ${Status}\n", ...DEBIAN_PACKAGES], { encoding: "utf8" });
  const installed = new Set(
    (res.stdout ?? "").split("\n").filter((l) => l.endsWith("install ok installed")).map((l) => l.split(" ")[0]),
  );
  return DEBIAN_PACKAGES.filter((p) => !installed.has(p));
}

export function ensureSystemPackages() {
  const missing = missingPackages();
  if (missing.length === 0) return;
  if (!isRoot) {
    throw new Error(
      `The local stack needs these Debian packages: ${missing.join(", ")}.\n` +
        `Install them as root: apt-get update && apt-get install -y ${missing.join(" ")}`,
    );
  }
  log(`installing ${missing.join(", ")} (apt-get)`);
  run("apt-get", ["update", "-qq"], { quiet: true });
  run("apt-get", ["install", "-y", "-qq", ...missing], {
    quiet: true,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/** The pg_net stand-in is installed as an extension so migrations can `create extension pg_net`. */
function installPgNetStandIn() {
  const shareDir = execFileSync(join(PG_BIN, "pg_config"), ["--sharedir"], { encoding: "utf8" }).trim();
  const extDir = join(shareDir, "extension");
  for (const f of ["pg_net.control", "pg_net--0.0.1.sql"]) {
    const src = join(ROOT, "scripts/stack/sql", f);
    const dst = join(extDir, f);
    if (existsSync(dst) && readFileSync(dst, "utf8") === readFileSync(src, "utf8")) continue;
    try {
      copyFileSync(src, dst);
    } catch (err) {
      throw new Error(
        `Cannot install the pg_net stand-in into ${extDir} (run as root once): ${(err as Error).message}`,
      );
    }
  }
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

function ensureCluster() {
  if (existsSync(join(pgData, "PG_VERSION"))) return;
  // a test file's own world (tests/helpers/world.ts) starts from a copy of a migrated, stopped cluster
  const template = config.env.STACK_TEMPLATE_PGDATA;
  if (template) {
    log(`copying the cluster ${template} to ${pgData}`);
    mkdirSync(config.stackDir, { recursive: true });
    run("cp", ["-a", template, pgData], { quiet: true });
    writeClusterConf();
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
  run(join(PG_BIN, "initdb"), [
    "-D",
    pgData,
    "-U",
    "postgres",
    "--pwfile",
    pwFile,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ], { asPostgres: true, quiet: true });
  rmSync(pwFile);
  writeClusterConf();
}

/** This stack's port and socket directory (a copied cluster keeps its template's otherwise). */
function writeClusterConf() {
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${config.pgPort}`,
    `unix_socket_directories = '${pgRun}'`,
    `shared_preload_libraries = 'pg_cron'`,
    `cron.database_name = 'postgres'`,
    `cron.use_background_workers = on`,
    `max_worker_processes = 32`,
    `max_connections = 300`,
    `shared_buffers = 256MB`,
    `log_min_messages = warning`,
    `log_min_error_statement = panic`,
    `timezone = 'UTC'`,
  ].join("\n");
  writeFileSync(join(pgData, "postgresql.auto.conf"), conf + "\n");
}

function pgIsRunning(): boolean {
  const res = spawnSync(join(PG_BIN, "pg_isready"), ["-h", "127.0.0.1", "-p", String(config.pgPort)]);
  return res.status === 0;
}

function startPostgres() {
  if (existsSync(join(pgData, "postmaster.pid")) && pgIsRunning()) return;
  if (pgIsRunning()) {
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

async function applyCompatLayer() {
  const db = connect();
  try {
    await db.unsafe(readFileSync(join(ROOT, "scripts/stack/sql/compat.sql"), "utf8"));
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
    for (const [name, value] of Object.entries(secrets)) {
      await db`
        with updated as (
          update vault.secrets set secret = ${value}, updated_at = now() where name = ${name} returning id
        )
        select vault.create_secret(${value}, ${name}, 'set by the local stack')
        where not exists (select 1 from updated)`;
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
  } catch {
    try {
      process.kill(pid, "SIGTERM");
    } catch { /* already gone */ }
  }
  rmSync(pidFile(name), { force: true });
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
  installPgNetStandIn();
  ensureCluster();
  startPostgres();
  await applyCompatLayer();
  pushMigrations(opts.migrations);
  await configureDeployment();
}

/** The whole stack in the background; seed data goes in once the workers can take its jobs. */
export async function startStack(opts: { migrations?: string[] } = {}) {
  await startDatabase(opts);
  for (const name of Object.keys(SERVICES) as ServiceName[]) startService(name);
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
  const services = (Object.keys(SERVICES) as ServiceName[]).map((n) => `${n}=${servicePid(n) ? "up" : "down"}`);
  console.log(
    [
      `database: ${up ? "up" : "down"}  ${services.join("  ")}`,
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
