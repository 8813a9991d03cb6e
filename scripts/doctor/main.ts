// npm run doctor (#19): read-only checks of one deployment, or of the local stack without --env-file.
//   npm run doctor -- [--env-file <file> [--env-file <file>]] [--client <dir>...] [--only <area,...>]
//                     [--json] [--send-test-alert] [--handover]
// package.json runs it as `tsx scripts/doctor/main.ts --`: Node (22.23) takes an `--env-file` anywhere in its
// arguments, even after the script, as its own flag (it loads the file into process.env, or exits 9 when the
// path is not relative to the package folder), unless a `--` comes first.
// Two --env-file: staging and production, compared (the first is the one checked). Prints each finding as
// `STATUS  check  saw — why. Fix: fix`, then a summary; exits 1 on any FAIL (2 on bad arguments).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { config, parseDotenv, ROOT } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";
import { AREAS } from "./areas/index.ts";
import { writeHandover } from "./handover.ts";
import { maskText } from "./mask.ts";
import { type Area, type DoctorContext, fail, type Finding } from "./types.ts";

export type Options = {
  envFiles: string[];
  clientDirs: string[];
  json: boolean;
  sendTestAlert: boolean;
  handover: boolean;
  only: string[] | null;
};

export class UsageError extends Error {}

export function parseArgs(argv: string[]): Options {
  const o: Options = { envFiles: [], clientDirs: [], json: false, sendTestAlert: false, handover: false, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") continue; // package.json's: Node reads a --env-file anywhere before a "--" as its own
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === "--env-file") o.envFiles.push(value());
    else if (a === "--client") {
      o.clientDirs.push(value());
      while (argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) o.clientDirs.push(argv[++i]);
    } else if (a === "--json") o.json = true;
    else if (a === "--send-test-alert") o.sendTestAlert = true;
    else if (a === "--handover") o.handover = true;
    else if (a === "--only") o.only = value().split(",").map((s) => s.trim()).filter(Boolean);
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (o.envFiles.length > 2) throw new UsageError("--env-file at most twice (staging and production)");
  const names = AREAS.map((x) => x.name);
  const unknown = (o.only ?? []).filter((n) => !names.includes(n));
  if (unknown.length) throw new UsageError(`unknown area ${unknown.join(", ")} (areas: ${names.join(", ")})`);
  return o;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const isLoopback = (url: string | undefined) => {
  try {
    return LOOPBACK.test(new URL(url ?? "").hostname);
  } catch {
    return false;
  }
};

/** The context of one run: the env file's settings (or the local stack's), and a database opened on first use. */
export function buildContext(o: Options, repoDir = ROOT): DoctorContext & { close(): Promise<void> } {
  // paths as the user typed them: npm runs scripts in the package's folder, INIT_CWD is where npm was run
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const envFiles = o.envFiles.map((p) => {
    const path = resolve(cwd, p);
    if (!existsSync(path)) throw new UsageError(`--env-file ${p}: no such file`);
    return { path: p, env: parseDotenv(path) };
  });
  const env: Record<string, string> = envFiles.length
    ? { ...envFiles[0].env }
    : { ...config.env, SUPABASE_URL: config.apiUrl, SUPABASE_DB_URL: config.dbUrl };
  const local = !envFiles.length || isLoopback(env.SUPABASE_URL);
  let sql: Sql | null | undefined;
  const dns = process.env.DNS_SERVERS ?? env.DNS_SERVERS ?? "";
  return {
    env,
    envFiles,
    clientDirs: o.clientDirs.map((d) => resolve(cwd, d)),
    repoDir,
    local,
    sendTestAlert: o.sendTestAlert,
    dnsServers: dns.split(/[\s,]+/).filter(Boolean),
    db() {
      if (sql === undefined) {
        sql = env.SUPABASE_DB_URL
          ? connect(env.SUPABASE_DB_URL, { max: 2, connect_timeout: 10, idle_timeout: 5 })
          : null;
      }
      return sql;
    },
    async close() {
      if (sql) await sql.end({ timeout: 5 });
    },
  };
}

/** Runs the areas in order; a check that throws is a FAIL naming the error (masked, first line only). */
export async function runAreas(ctx: DoctorContext, areas: Area[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const area of areas) {
    try {
      out.push(...(await area.run(ctx)));
    } catch (e) {
      const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      out.push(
        fail(
          `${area.name}.error`,
          `the check threw ${message.split("\n")[0].slice(0, 300)}`,
          `the ${area.name} area could not finish`,
          "fix what the error names and run the doctor again",
        ),
      );
    }
  }
  // the last guard: whatever an area wrote, no secret-shaped token leaves the doctor
  return out.map((f) => ({ ...f, saw: maskText(f.saw), why: maskText(f.why), fix: maskText(f.fix) }));
}

const COLOURS = { PASS: "\x1b[32m", WARN: "\x1b[33m", FAIL: "\x1b[31m" } as const;

/** One line per finding, columns aligned; colour only when asked (a TTY). */
export function formatFindings(findings: Finding[], colour = false): string {
  const width = Math.max(0, ...findings.map((f) => f.check.length));
  const lines = findings.map((f) => {
    const status = colour ? `${COLOURS[f.status]}${f.status}\x1b[0m` : f.status;
    const tail = f.status === "PASS" ? "" : `${f.why ? ` — ${f.why}` : ""}.${f.fix ? ` Fix: ${f.fix}` : ""}`;
    return `${status}  ${f.check.padEnd(width)}  ${f.saw}${tail}`;
  });
  return [...lines, summary(findings)].join("\n");
}

export function summary(findings: Finding[]): string {
  const n = (s: string) => findings.filter((f) => f.status === s).length;
  return `${findings.length} checks: ${n("PASS")} PASS, ${n("WARN")} WARN, ${n("FAIL")} FAIL`;
}

export async function main(argv: string[]): Promise<number> {
  let o: Options;
  let ctx: ReturnType<typeof buildContext>;
  try {
    o = parseArgs(argv);
    ctx = buildContext(o);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`doctor: ${e.message}`);
    return 2;
  }
  try {
    const areas = AREAS.filter((a) => !o.only || o.only.includes(a.name));
    const findings = await runAreas(ctx, areas);
    if (o.json) {
      console.log(JSON.stringify({ local: ctx.local, findings, summary: summary(findings) }, null, 2));
    } else {
      if (ctx.local) console.log("doctor: the local stack (WARN marks what it cannot be like production)");
      console.log(formatFindings(findings, process.stdout.isTTY && !process.env.NO_COLOR));
    }
    if (o.handover) {
      // where npm was run, as the other paths
      const path = resolve(process.env.INIT_CWD ?? process.cwd(), "HANDOVER.md");
      await writeHandover(ctx, findings, path);
      if (!o.json) console.log(`wrote ${path}`);
    }
    return findings.some((f) => f.status === "FAIL") ? 1 : 0;
  } finally {
    await ctx.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
