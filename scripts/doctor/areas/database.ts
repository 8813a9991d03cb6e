// Area database: the deployment's database as the pipeline needs it (ctx.db(): SUPABASE_DB_URL, as postgres).
// Migrations applied up to this checkout, Supabase's advisors clean, every pg_cron job the migrations schedule
// present and its last run succeeded within its interval, the vault secrets the migrations read, login roles
// that can log in, ops.settings agreeing with the env, no open critical incident and no dead job.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseScope } from "../../../supabase/functions/_shared/stripe/scope.ts";
import { advisors } from "../../lib/advisors.ts";
import { LOGIN_ROLES } from "../../lib/config.ts";
import type { Sql } from "../../lib/db.ts";
import { migrationFiles, MIGRATIONS_DIR } from "../../lib/migrations.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

const migrationSql = () => migrationFiles().map((f) => readFileSync(join(MIGRATIONS_DIR, f), "utf8")).join("\n");

/** The pg_cron jobs the migrations schedule (cron.schedule('<name>', ...)). */
export function expectedCronJobs(sql = migrationSql()): string[] {
  return [...new Set([...sql.matchAll(/cron\.schedule\(\s*'([^']+)'/g)].map((m) => m[1]))].sort();
}

/** Vault secrets the migrations read but run without: heartbeat_url (no URL, no ping: the uptime monitor's part,
 * README Launching). Missing, they WARN (outside the local stack) instead of FAIL. */
export const OPTIONAL_VAULT_SECRETS = new Set(["heartbeat_url"]);

/** The vault secrets the migrations read (vault.decrypted_secrets where name = '<name>'). */
export function expectedVaultSecrets(sql = migrationSql()): string[] {
  return [...new Set([...sql.matchAll(/vault\.decrypted_secrets\s+where\s+name\s*=\s*'([^']+)'/g)].map((m) => m[1]))]
    .sort();
}

/** How often a pg_cron schedule runs, in seconds: "10 seconds", or cron's five fields (the coarsest step). */
export function intervalSeconds(schedule: string): number {
  const secs = /^(\d+)\s+seconds?$/.exec(schedule.trim());
  if (secs) return Number(secs[1]);
  const [min, hour, dom, , dow] = schedule.trim().split(/\s+/);
  if (dom !== "*" || dow !== "*") return dow !== "*" ? 7 * 86_400 : 31 * 86_400;
  if (hour !== "*") return 86_400;
  const step = /^\*\/(\d+)$/.exec(min);
  if (min === "*") return 60;
  if (step) return Number(step[1]) * 60;
  return 3_600;
}

type CronRow = {
  jobname: string;
  schedule: string;
  active: boolean;
  status: string | null;
  ended: Date | null;
  age: number | null;
  up: number;
};

async function cronFindings(sql: Sql): Promise<Finding[]> {
  const rows = await sql<CronRow[]>`
    select j.jobname, j.schedule, j.active, d.status, d.end_time as ended,
           extract(epoch from now() - d.end_time)::float8 as age,
           extract(epoch from now() - pg_postmaster_start_time())::float8 as up
      from cron.job j
      left join lateral (select r.status, r.end_time from cron.job_run_details r
                          where r.jobid = j.jobid and r.end_time is not null
                          order by r.end_time desc limit 1) d on true`;
  const byName = new Map(rows.map((r) => [r.jobname, r]));
  const findings: Finding[] = [];
  const missing = expectedCronJobs().filter((n) => !byName.get(n)?.active);
  findings.push(
    missing.length
      ? fail(
        "database.cron_jobs",
        `missing or inactive: ${missing.join(", ")}`,
        "without them jobs are not swept, alerts not evaluated, history not purged",
        "run the migrations again (supabase db push re-schedules nothing already applied: re-run the schedule statement of the migration naming it), or cron.alter_job(..., active => true)",
      )
      : pass("database.cron_jobs", `${expectedCronJobs().length} jobs scheduled and active`),
  );
  const late: string[] = [];
  const failed: string[] = [];
  for (const name of expectedCronJobs()) {
    const r = byName.get(name);
    if (!r?.active) continue;
    const every = intervalSeconds(r.schedule);
    // twice its interval, and two minutes for pg_cron's own start (a DO-block ticker runs 55 s)
    const allowed = 2 * every + 120;
    if (r.status === "failed") failed.push(name);
    else if (r.age === null ? r.up > allowed : r.age > allowed) {
      late.push(`${name} (${r.age === null ? "never ran" : `last run ${Math.round(r.age)} s ago`}, every ${every} s)`);
    }
  }
  findings.push(
    failed.length || late.length
      ? fail(
        "database.cron_runs",
        [failed.length && `last run failed: ${failed.join(", ")}`, late.length && `late: ${late.join(", ")}`].filter(
          Boolean,
        ).join("; "),
        "a cron job that fails or stops leaves retries, alerts and purges undone",
        "select * from cron.job_run_details order by start_time desc limit 20; (return_message says why)",
      )
      : pass("database.cron_runs", "every job's last run succeeded within its interval (or it is not due yet)"),
  );
  return findings;
}

async function run(ctx: DoctorContext, sql: Sql, dbUrl: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const step = async (check: string, f: () => Promise<Finding[]> | Finding[]) => {
    try {
      findings.push(...(await f()));
    } catch (e) {
      findings.push(
        fail(
          check,
          `the check failed: ${(e as Error).message.split("\n")[0].slice(0, 200)}`,
          "this part of the database could not be checked",
          "check that SUPABASE_DB_URL is the postgres role's URL",
        ),
      );
    }
  };
  await step("database.migrations", async () => {
    const applied = new Set(
      (await sql<{ version: string }[]>`select version from supabase_migrations.schema_migrations`)
        .map((r) => r.version),
    );
    const files = migrationFiles().map((f) => f.slice(0, 14));
    const missing = files.filter((v) => !applied.has(v));
    const unknown = [...applied].filter((v) => !files.includes(v)).sort();
    if (missing.length) {
      return [
        fail(
          "database.migrations",
          `${missing.length} not applied: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`,
          "functions of this version expect their tables and functions",
          "supabase db push (then what CHANGELOG.md says for each version)",
        ),
      ];
    }
    if (unknown.length) {
      return [
        warn(
          "database.migrations",
          `applied but not in this checkout: ${unknown.join(", ")}`,
          "the database runs a newer version than this checkout",
          "check out the deployed version before deploying functions",
        ),
      ];
    }
    return [pass("database.migrations", `all ${files.length} migrations applied`)];
  });
  await step("database.advisors", () => {
    const lints = ["security", "performance"].flatMap((t) => advisors(t, "warn", dbUrl));
    const errors = lints.filter((l) => l.level === "ERROR");
    const saw = lints.slice(0, 5).map((l) => `${l.level} ${l.name}`).join(", ");
    const fix = "supabase db advisors --linked (each finding names its remediation)";
    if (errors.length) {
      return [fail("database.advisors", saw, "Supabase's advisors see an exposed object or a missing protection", fix)];
    }
    if (lints.length) return [warn("database.advisors", saw, "Supabase's advisors see a weakness", fix)];
    return [pass("database.advisors", "security and performance advisors: no ERROR or WARN")];
  });
  await step("database.cron_jobs", () => cronFindings(sql));
  await step("database.vault", async () => {
    const names = new Set((await sql<{ name: string }[]>`select name from vault.secrets`).map((r) => r.name));
    const absent = expectedVaultSecrets().filter((n) => !names.has(n));
    const missing = absent.filter((n) => !OPTIONAL_VAULT_SECRETS.has(n));
    const optional = absent.filter((n) => OPTIONAL_VAULT_SECRETS.has(n));
    if (missing.length) {
      return [
        fail(
          "database.vault",
          `missing: ${missing.join(", ")}`,
          "the database cannot dispatch jobs (or ping) without them",
          "select vault.create_secret('<value>', '<name>'); (npm run setup does it)",
        ),
      ];
    }
    if (names.has("service_role_key")) {
      return [
        warn(
          "database.vault",
          "service_role_key is in the vault",
          "nothing needs it since 0.3.0: it is a key to everything left where SQL can read it",
          "delete from vault.secrets where name = 'service_role_key';",
        ),
      ];
    }
    const present = expectedVaultSecrets().filter((n) => names.has(n)).join(", ");
    if (optional.length && !ctx.local) {
      return [
        warn(
          "database.vault",
          `present: ${present}; not set: ${optional.join(", ")}`,
          "no heartbeat: if the database or pg_cron stops, no outside service notices",
          "put a heartbeat check's ping URL in HEARTBEAT_URL and run npm run setup (README, Launching)",
        ),
      ];
    }
    return [
      pass(
        "database.vault",
        `present: ${present}${
          optional.length ? ` (${optional.join(", ")}: optional, not set on the local stack)` : ""
        }`,
      ),
    ];
  });
  await step("database.login_roles", async () => {
    const rows = await sql<{ rolname: string; rolcanlogin: boolean }[]>`
      select rolname, rolcanlogin from pg_roles where rolname = any(${LOGIN_ROLES.map((r) => r.role)})`;
    const can = new Set(rows.filter((r) => r.rolcanlogin).map((r) => r.rolname));
    const cannot = LOGIN_ROLES.map((r) => r.role).filter((r) => !can.has(r));
    return [
      cannot.length
        ? fail(
          "database.login_roles",
          `cannot log in: ${cannot.join(", ")}`,
          "the functions connect as these roles",
          "alter role <role> login password '<strong password>'; (npm run setup does it)",
        )
        : pass("database.login_roles", `${LOGIN_ROLES.length} login roles can log in`),
    ];
  });
  await step("database.settings", async () => {
    const [s] = await sql<{ stripe_livemode: boolean; stripe_account_id: string | null }[]>`
      select stripe_livemode, stripe_account_id from ops.settings`;
    const env = parseScope(ctx.env);
    const saw =
      `ops.settings: ${s.stripe_livemode ? "live" : "test"} mode, account ${s.stripe_account_id ?? "none"}; ` +
      `env: STRIPE_LIVEMODE ${env.livemode}, STRIPE_ACCOUNT_ID ${env.accountId ?? "none"}`;
    return [
      s.stripe_livemode !== env.livemode || (s.stripe_account_id ?? null) !== env.accountId
        ? fail(
          "database.settings",
          saw,
          "while they disagree the webhook answers 503 to every delivery and records nothing",
          "make STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID and ops.settings say the same (update ops.settings set ...)",
        )
        : pass("database.settings", saw),
    ];
  });
  await step("database.incidents", async () => {
    const rows = await sql<{ id: string; rule: string; opened_at: Date }[]>`
      select i.id::text, i.rule, i.opened_at from ops.alert_incidents i join ops.alert_rules r on r.rule = i.rule
       where i.status = 'open' and r.severity = 'critical' order by i.opened_at`;
    return [
      rows.length
        ? fail(
          "database.incidents",
          rows.map((r) => `incident ${r.id} ${r.rule} open since ${r.opened_at.toISOString()}`).join(", "),
          "a critical incident is an outage of the money path",
          "read its runbook: select * from ops.alert_status;",
        )
        : pass("database.incidents", "no open critical incident"),
    ];
  });
  await step("database.dead_jobs", async () => {
    const rows = await sql<{ kind: string; n: number }[]>`
      select kind, count(*)::int as n from ops.jobs where status = 'dead' group by kind order by kind`;
    return [
      rows.length
        ? fail(
          "database.dead_jobs",
          rows.map((r) => `${r.n} ${r.kind}`).join(", "),
          "a dead job is work that will not happen by itself (an email, a CRM sync, a ticket)",
          "select * from ops.pipeline_exceptions; fix the cause, then npm run replay -- jobs --dead",
        )
        : pass("database.dead_jobs", "no dead job"),
    ];
  });
  return findings;
}

export const database: Area = {
  name: "database",
  async run(ctx) {
    const sql = ctx.db();
    const dbUrl = ctx.env.SUPABASE_DB_URL;
    if (!sql || !dbUrl) {
      return [
        fail(
          "database.connect",
          "SUPABASE_DB_URL is not set",
          "the database cannot be checked",
          "set SUPABASE_DB_URL (the postgres role's connection string, Project Settings > Database) in the env file",
        ),
      ];
    }
    try {
      await sql`select 1`;
    } catch (e) {
      return [
        fail(
          "database.connect",
          `cannot connect: ${(e as Error).message.split("\n")[0].slice(0, 200)}`,
          "nothing of the database can be checked, and no alert can fire while it is down",
          "check SUPABASE_DB_URL and that the project is not paused",
        ),
      ];
    }
    return run(ctx, sql, dbUrl);
  },
};
