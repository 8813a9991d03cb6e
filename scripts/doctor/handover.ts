// npm run doctor -- --handover (#19): HANDOVER.md for the deployment, for whoever takes it over: accounts and
// owners (handover.json, which the founder fills from handover.example.json), endpoints and their events, the DNS
// records checked, every secret by name with where it lives, when it was set and how to rotate it, login roles,
// cron jobs and alert rules (from the database when reachable), backups and restore, the uptime monitor and the
// doctor's latest results. Names and places only: no secret value is ever written here.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOGIN_ROLES } from "../lib/config.ts";
import { CONNECT_EVENT_TYPES, PLATFORM_EVENT_TYPES } from "../lib/stripe-event-types.ts";
import type { DoctorContext, Finding } from "./types.ts";

export type HandoverConfig = {
  project?: string;
  accounts?: Array<{ service: string; account: string; owner: string; backup?: string }>;
  /** when each secret was last set (YYYY-MM-DD), by name; unknown when absent */
  secretsSetAt?: Record<string, string>;
  uptime?: { healthMonitor?: string; heartbeat?: string };
  backups?: string;
};

type Where = "env file" | "Supabase secrets" | "vault" | "env file and Supabase secrets";
type SecretInfo = { name: string; where: Where; rotate: string };

/** Every secret the deployment holds, where it lives and how to rotate it. */
export const SECRETS: SecretInfo[] = [
  {
    name: "STRIPE_SECRET_KEY",
    where: "env file and Supabase secrets",
    rotate: "Stripe dashboard > API keys: roll the restricted key, `supabase secrets set`, then expire the old one",
  },
  {
    name: "STRIPE_RECONCILE_KEY",
    where: "env file and Supabase secrets",
    rotate: "roll the read-only restricted key in Stripe, `supabase secrets set STRIPE_RECONCILE_KEY=...`",
  },
  {
    name: "STRIPE_WEBHOOK_SECRET",
    where: "env file and Supabase secrets",
    rotate: "Stripe > Webhooks > roll secret (keep the old one active 24 h): set `<new>,<old>`, later `<new>`",
  },
  {
    name: "STRIPE_CONNECT_WEBHOOK_SECRET",
    where: "env file and Supabase secrets",
    rotate: "as STRIPE_WEBHOOK_SECRET, on the Connect endpoint",
  },
  {
    name: "WORKER_SECRET",
    where: "env file and Supabase secrets",
    rotate: "set `<new>,<old>`, update the vault's worker_secret to <new>, wait 10 min, set `<new>` (README)",
  },
  {
    name: "DASHBOARD_SESSION_SECRET",
    where: "env file and Supabase secrets",
    rotate: "set a new random value: admins sign in again",
  },
  {
    name: "RESEND_API_KEY",
    where: "env file and Supabase secrets",
    rotate: "Resend > API keys: create, `supabase secrets set`, delete the old",
  },
  {
    name: "RESEND_WEBHOOK_SECRET",
    where: "env file and Supabase secrets",
    rotate: "Resend > Webhooks: roll the signing secret, `supabase secrets set`",
  },
  {
    name: "HUBSPOT_ACCESS_TOKEN",
    where: "env file and Supabase secrets",
    rotate: "HubSpot private app > rotate token, `supabase secrets set` within its grace period",
  },
  {
    name: "SLACK_WEBHOOK_URL",
    where: "env file and Supabase secrets",
    rotate: "Slack app > Incoming webhooks: add a new URL, `supabase secrets set`, remove the old",
  },
  ...LOGIN_ROLES.flatMap(({ role, env }): SecretInfo[] => [
    {
      name: `${env}_DB_PASSWORD`,
      where: "env file",
      rotate: `remove it from the env file and run npm run setup (alter role ${role} password), then deploy`,
    },
    {
      name: `${env}_DB_URL`,
      where: "env file and Supabase secrets",
      rotate: `follows ${env}_DB_PASSWORD (npm run setup writes it; npm run deploy sets it)`,
    },
  ]),
  {
    name: "SUPABASE_DB_URL",
    where: "env file",
    rotate: "Supabase > Database settings: reset the postgres password, update the env file",
  },
  {
    name: "SUPABASE_ACCESS_TOKEN",
    where: "env file",
    rotate: "supabase.com/dashboard/account/tokens: create, update the env file (and CI), revoke the old",
  },
  {
    name: "worker_secret",
    where: "vault",
    rotate: "with WORKER_SECRET (npm run setup sets the vault from the env file)",
  },
  {
    name: "heartbeat_url",
    where: "vault",
    rotate: "make a new check in the uptime service, set HEARTBEAT_URL in the env file, run npm run setup",
  },
];

const cell = (v: unknown) => String(v ?? "").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
const table = (head: string[], rows: unknown[][]) =>
  [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ]
    .join("\n");

function readConfig(ctx: DoctorContext): { config: HandoverConfig; path: string; found: boolean } {
  const path = ctx.env.HANDOVER_CONFIG || join(ctx.repoDir, "handover.json");
  if (!existsSync(path)) return { config: {}, path, found: false };
  return { config: JSON.parse(readFileSync(path, "utf8")) as HandoverConfig, path, found: true };
}

type DbFacts = {
  roles: Array<{ rolname: string; rolcanlogin: boolean }>;
  cron: Array<{ jobname: string; schedule: string; command: string; active: boolean; last_status: string | null }>;
  rules: Array<{ rule: string; severity: string; enabled: boolean; runbook: string }>;
  vault: string[];
};

async function dbFacts(ctx: DoctorContext): Promise<DbFacts | string> {
  const sql = ctx.db();
  if (!sql) return "no database URL (SUPABASE_DB_URL) in the env file";
  try {
    const roles = await sql<DbFacts["roles"]>`
      select rolname, rolcanlogin from pg_roles where rolname = any(${LOGIN_ROLES.map((r) => r.role)}) order by 1`;
    const cron = await sql<DbFacts["cron"]>`
      select j.jobname, j.schedule, j.command, j.active,
             (select d.status from cron.job_run_details d where d.jobid = j.jobid order by d.runid desc limit 1)
               as last_status
        from cron.job j order by j.jobname`;
    const rules = await sql<DbFacts["rules"]>`
      select rule, severity, enabled, runbook from ops.alert_rules order by severity, rule`;
    const vault = (await sql<{ name: string }[]>`select name from vault.secrets order by name`).map((r) => r.name);
    return { roles, cron, rules, vault };
  } catch (err) {
    return `the database did not answer (${(err as { code?: string }).code ?? (err as Error).name})`;
  }
}

export async function renderHandover(ctx: DoctorContext, findings: Finding[], now = new Date()): Promise<string> {
  const { config, path: configPath, found } = readConfig(ctx);
  const base = (ctx.env.SUPABASE_URL ?? "").replace(/\/+$/, "");
  const facts = await dbFacts(ctx);
  const db = typeof facts === "string" ? undefined : facts;
  const counts = (["PASS", "WARN", "FAIL"] as const).map((s) =>
    `${findings.filter((f) => f.status === s).length} ${s}`
  );
  const out: string[] = [];

  out.push(`# Handover: ${config.project ?? (base || "this deployment")}`, "");
  out.push(`Written by \`npm run doctor -- --handover\` on ${now.toISOString()}. Doctor: ${counts.join(", ")}.`);
  out.push("No secret value is in this document: names, places and how to rotate them only.", "");

  out.push("## Accounts and owners", "");
  if (config.accounts?.length) {
    out.push(table(
      ["Service", "Account", "Owner", "Backup"],
      config.accounts.map((a) => [a.service, a.account, a.owner, a.backup ?? ""]),
    ));
  } else {
    out.push(
      found
        ? `${configPath} lists no accounts: add them (see handover.example.json).`
        : `Not filled in yet: copy handover.example.json to ${configPath} and fill it in.`,
    );
  }
  out.push("");

  out.push("## Endpoints and their events", "");
  const health = base ? `${base}/functions/v1/health` : "<SUPABASE_URL>/functions/v1/health";
  out.push(table(["Endpoint", "URL", "Events"], [
    ["Stripe (platform)", `${base}/functions/v1/stripe-webhook`, PLATFORM_EVENT_TYPES.join(", ")],
    ["Stripe (Connect)", `${base}/functions/v1/stripe-webhook/connect`, CONNECT_EVENT_TYPES.join(", ")],
    ["Resend (email events)", `${base}/functions/v1/resend-webhook`, "Resend's delivery, bounce and complaint events"],
    ["Health (uptime monitor)", health, "GET, no auth"],
  ]));
  const endpointFindings = findings.filter((f) => /^(stripe|endpoints)\./.test(f.check));
  if (endpointFindings.length) {
    out.push("", "What the doctor saw:", "", ...endpointFindings.map((f) => `- ${f.status} ${f.check}: ${f.saw}`));
  }
  out.push("");

  out.push("## DNS records checked", "");
  const dns = findings.filter((f) => f.check.startsWith("email.") || /dns|tls/i.test(f.check));
  out.push(
    dns.length
      ? dns.map((f) => `- ${f.status} ${f.check}: ${f.saw}`).join("\n")
      : "None in the doctor's latest results (run `npm run doctor -- --handover` with the email area).",
    "",
  );

  out.push("## Secrets", "");
  const names = new Set(Object.keys(ctx.env));
  out.push(table(
    ["Name", "Lives in", "Set", "Last set", "How to rotate"],
    SECRETS.map((s) => [
      s.name,
      s.where,
      s.where === "vault"
        ? (db ? (db.vault.includes(s.name) ? "yes" : "no") : "unknown")
        : (names.has(s.name) && ctx.env[s.name] !== "" ? "yes" : "no"),
      config.secretsSetAt?.[s.name] ?? "unknown (not recorded)",
      s.rotate,
    ]),
  ));
  out.push("");

  out.push("## Login roles", "");
  out.push(table(
    ["Role", "Used by", "Its settings", "Can log in"],
    LOGIN_ROLES.map(({ role, env }) => [
      role,
      `the ${role.replace(/_/g, "-")} function(s)`,
      `${env}_DB_PASSWORD, ${env}_DB_URL`,
      db ? (db.roles.find((r) => r.rolname === role)?.rolcanlogin ? "yes" : "no") : "unknown",
    ]),
  ));
  out.push("");

  out.push("## Cron jobs", "");
  out.push(
    db
      ? table(
        ["Job", "Schedule", "Command", "Active", "Last run"],
        db.cron.map((j) => [j.jobname, j.schedule, j.command.trim().split("\n")[0], j.active, j.last_status ?? "none"]),
      )
      : `Not read: ${facts as string}.`,
    "",
  );

  out.push("## Alert rules", "");
  const recipients = [
    ctx.env.FOUNDER_EMAIL ? `email ${ctx.env.FOUNDER_EMAIL}` : "no FOUNDER_EMAIL",
    ctx.env.SLACK_WEBHOOK_URL ? "Slack (SLACK_WEBHOOK_URL)" : "no Slack",
  ].join(", ");
  out.push(`Every incident is sent to: ${recipients}.`, "");
  out.push(
    db
      ? table(
        ["Rule", "Severity", "Enabled", "Runbook"],
        db.rules.map((r) => [r.rule, r.severity, r.enabled, r.runbook]),
      )
      : `Not read: ${facts as string}.`,
    "",
  );

  out.push("## Backups and restore", "");
  out.push(config.backups ?? "Not recorded (handover.json: backups).");
  out.push(
    "",
    "Restore from Supabase > Database > Backups (or point in time, with PITR). After a restore, run " +
      "`npm run reconcile -- --env-file <file>` to recover the Stripe events since the backup, and " +
      "`npm run doctor` to check the deployment again.",
    "",
  );

  out.push("## Uptime monitor", "");
  out.push(`- Health URL: ${health} (200 ok or degraded, 503 down; alert on a non-200 or status not "ok")`);
  out.push(`- Health monitor: ${config.uptime?.healthMonitor ?? "not recorded (handover.json: uptime.healthMonitor)"}`);
  const heartbeatSet = db ? (db.vault.includes("heartbeat_url") ? "set in vault" : "NOT set in vault") : "unknown";
  out.push(`- Heartbeat (dead-man's switch, pinged after each alert evaluation): heartbeat_url ${heartbeatSet}`);
  out.push(`- Heartbeat service: ${config.uptime?.heartbeat ?? "not recorded (handover.json: uptime.heartbeat)"}`, "");

  out.push("## The doctor's latest results", "");
  out.push(
    findings.length
      ? table(["Check", "Status", "Saw", "Fix"], findings.map((f) => [f.check, f.status, f.saw, f.fix]))
      : "No results.",
    "",
  );
  return out.join("\n");
}

/** Writes HANDOVER.md (or `path`) for the deployment; findings are the doctor's, already masked. */
export async function writeHandover(ctx: DoctorContext, findings: Finding[], path: string): Promise<void> {
  writeFileSync(path, await renderHandover(ctx, findings), { mode: 0o600 });
}
