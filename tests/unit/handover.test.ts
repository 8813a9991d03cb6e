// HANDOVER.md (#19) from fixture findings, a fixture handover.json and a stand-in database: every section a
// successor needs, names and places of secrets but never a value, and what it says when the config is not
// filled in or the database cannot be read.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { Sql } from "../../scripts/lib/db.ts";
import { renderHandover, writeHandover } from "../../scripts/doctor/handover.ts";
import { type DoctorContext, fail, type Finding, pass, warn } from "../../scripts/doctor/types.ts";

const ENV = {
  SUPABASE_URL: "https://abcdefghijklmnopqrst.supabase.co",
  SUPABASE_DB_URL: `postgresql://postgres:${"db-pass-handover-xyz"}@db.abcdefghijklmnopqrst.supabase.co:5432/postgres`,
  STRIPE_SECRET_KEY: ["rk", "live", "handover0123456789abcdef"].join(
    "_",
  ), /* made at run time: no live-key shape in the tree */
  STRIPE_WEBHOOK_SECRET: "whsec_handover0123456789",
  WORKER_SECRET: "worker-handover-0123456789",
  HEALTH_DB_PASSWORD: "health-pass-handover",
  SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T000/B000/handoverxyz",
  FOUNDER_EMAIL: "founder@acme.example",
};
const FINDINGS: Finding[] = [
  pass("email.spf", "acme.example: v=spf1 include:amazonses.com ~all"),
  warn("email.dmarc", "acme.example: p=none", "spoofed mail is delivered", "set p=quarantine"),
  fail("stripe.endpoint_events", "platform endpoint lacks refund.failed", "refunds go unseen", "npm run setup"),
  pass("database.cron", "9 jobs, last runs succeeded | all"),
];

/** A stand-in for the deployment's database: answers by the query's text. */
function fakeDb(opts: { failing?: boolean } = {}): Sql {
  const answer = (text: string) => {
    if (opts.failing) return Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    if (text.includes("pg_roles")) {
      return Promise.resolve([{ rolname: "health", rolcanlogin: true }, { rolname: "checkout", rolcanlogin: false }]);
    }
    if (text.includes("cron.job")) {
      return Promise.resolve([
        {
          jobname: "ops-evaluate-alerts",
          schedule: "* * * * *",
          command: "select ops.run_alert_evaluation()",
          active: true,
          last_status: "succeeded",
        },
      ]);
    }
    if (text.includes("alert_rules")) {
      return Promise.resolve([
        { rule: "dead_jobs", severity: "critical", enabled: true, runbook: "Replay dead jobs: npm run replay" },
      ]);
    }
    if (text.includes("vault.secrets")) return Promise.resolve([{ name: "heartbeat_url" }, { name: "worker_secret" }]);
    return Promise.resolve([]);
  };
  return ((strings: TemplateStringsArray) => answer(strings.join("?"))) as unknown as Sql;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "handover-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function ctx(db: Sql | null, env: Record<string, string> = ENV): DoctorContext {
  return {
    env,
    envFiles: [{ path: join(dir, "prod.env"), env }],
    clientDirs: [],
    repoDir: dir,
    local: false,
    sendTestAlert: false,
    dnsServers: [],
    db: () => db,
  };
}

describe("HANDOVER.md", () => {
  test("holds every section from the config, the database and the findings, and no secret value", async () => {
    writeFileSync(
      join(dir, "handover.json"),
      JSON.stringify({
        project: "Acme Shop",
        accounts: [{ service: "Stripe", account: "acct_123 (Acme Ltd)", owner: "Ana", backup: "Ben" }],
        secretsSetAt: { STRIPE_SECRET_KEY: "2026-12-01" },
        uptime: { healthMonitor: "Better Stack 'acme'", heartbeat: "Healthchecks.io 'acme alerts'" },
        backups: "Daily, kept 7 days.",
      }),
    );
    const md = await renderHandover(ctx(fakeDb()), FINDINGS, new Date("2026-12-07T12:00:00Z"));
    expect(md).toContain("# Handover: Acme Shop");
    expect(md).toContain("Doctor: 2 PASS, 1 WARN, 1 FAIL.");
    expect(md).toContain("| Stripe | acct_123 (Acme Ltd) | Ana | Ben |");
    expect(md).toMatch(
      /\| Stripe \(platform\) \| https:\/\/abcdefghijklmnopqrst\.supabase\.co\/functions\/v1\/stripe-webhook \| .*checkout\.session\.completed/,
    );
    expect(md).toMatch(/\| Stripe \(Connect\) \| .*\/stripe-webhook\/connect \| .*payout\.paid/);
    expect(md).toContain("- FAIL stripe.endpoint_events: platform endpoint lacks refund.failed");
    expect(md).toContain("- WARN email.dmarc: acme.example: p=none");
    expect(md).toMatch(
      /\| STRIPE_SECRET_KEY \| env file and Supabase secrets \| yes \| 2026-12-01 \| Stripe dashboard/,
    );
    expect(md).toMatch(
      /\| STRIPE_WEBHOOK_SECRET \| env file and Supabase secrets \| yes \| unknown \(not recorded\) \|/,
    );
    expect(md).toMatch(/\| RESEND_API_KEY \| env file and Supabase secrets \| no \|/);
    expect(md).toMatch(/\| heartbeat_url \| vault \| yes \|/);
    expect(md).toMatch(/\| HEALTH_DB_PASSWORD \| env file \| yes \|/);
    expect(md).toContain("| health | the health function(s) | HEALTH_DB_PASSWORD, HEALTH_DB_URL | yes |");
    expect(md).toContain("| checkout | the checkout function(s) | CHECKOUT_DB_PASSWORD, CHECKOUT_DB_URL | no |");
    expect(md).toContain("| ops-evaluate-alerts | * * * * * | select ops.run_alert_evaluation() | true | succeeded |");
    expect(md).toContain("Every incident is sent to: email founder@acme.example, Slack (SLACK_WEBHOOK_URL).");
    expect(md).toContain("| dead_jobs | critical | true | Replay dead jobs: npm run replay |");
    expect(md).toContain("Daily, kept 7 days.");
    expect(md).toContain("- Health URL: https://abcdefghijklmnopqrst.supabase.co/functions/v1/health");
    expect(md).toContain("heartbeat_url set in vault");
    expect(md).toContain("- Heartbeat service: Healthchecks.io 'acme alerts'");
    // the doctor's results, a pipe in what it saw escaped
    expect(md).toContain("| database.cron | PASS | 9 jobs, last runs succeeded \\| all |");
    for (const [k, v] of Object.entries(ENV)) {
      if (k !== "SUPABASE_URL" && k !== "FOUNDER_EMAIL") expect(md).not.toContain(v);
    }
  });

  test("without handover.json or a database it says what is missing instead of guessing", async () => {
    const md = await renderHandover(ctx(null, { SUPABASE_URL: ENV.SUPABASE_URL }), []);
    expect(md).toContain(`Not filled in yet: copy handover.example.json to ${join(dir, "handover.json")}`);
    expect(md).toContain("Not read: no database URL (SUPABASE_DB_URL) in the env file.");
    expect(md).toContain("heartbeat_url unknown");
    expect(md).toMatch(/\| heartbeat_url \| vault \| unknown \|/);
    expect(md).toContain("Every incident is sent to: no FOUNDER_EMAIL, no Slack.");
    expect(md).toContain("No results.");
  });

  test("a database that does not answer is named by its error code, and the rest is still written", async () => {
    const md = await renderHandover(ctx(fakeDb({ failing: true })), FINDINGS);
    expect(md).toContain("Not read: the database did not answer (ECONNREFUSED).");
    expect(md).toContain("## The doctor's latest results");
  });

  test("writeHandover writes the file, readable by its owner only", async () => {
    const path = join(dir, "HANDOVER.md");
    await writeHandover(ctx(fakeDb()), FINDINGS, path);
    expect(readFileSync(path, "utf8")).toContain("## Backups and restore");
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});
