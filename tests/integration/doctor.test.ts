// npm run doctor against a local stack of its own (tests/helpers/world.ts): healthy, it passes or WARNs only
// where a local stack cannot be like production, and says so; --send-test-alert sends one email and one
// Slack message through the real notify path; then the database is broken as a deployment can be (a dropped
// cron job, an open critical incident, a dead job, a role that cannot log in, ops.settings in the other mode,
// a vault secret gone) and each check FAILs naming what it saw. The world is this file's: nothing it breaks
// reaches another file.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { database } from "../../scripts/doctor/areas/database.ts";
import { buildContext, parseArgs, runAreas } from "../../scripts/doctor/main.ts";
import type { Finding } from "../../scripts/doctor/types.ts";
import { config, ROOT } from "../../scripts/lib/config.ts";
import { connect } from "../../scripts/lib/db.ts";
import { sql } from "../helpers/db.ts";

beforeAll(async () => {
  await startWorld();
});
afterAll(async () => {
  await sql.end();
  await stopWorld();
});

function doctor(...args: string[]) {
  return doctorIn({}, ...args);
}
function doctorIn(env: Record<string, string>, ...args: string[]) {
  const res = spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/doctor/main.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  return { code: res.status, out: res.stdout, err: res.stderr };
}
const by = (findings: Finding[], check: string) => findings.find((f) => f.check === check)!;

describe("the local stack, healthy", () => {
  test("npm run doctor passes, WARNs only what a local stack cannot be, says so, and exits 0", () => {
    const { code, out, err } = doctor();
    expect(err).toBe("");
    expect(out).toMatch(/^doctor: the local stack \(WARN marks what it cannot be like production\)$/m);
    expect(out).not.toMatch(/^FAIL/m);
    // every WARN says it is one because this is a local stack
    const warns = out.split("\n").filter((l) => l.startsWith("WARN"));
    expect(warns.length).toBeGreaterThan(0);
    for (const w of warns) expect(w).toMatch(/local stack/);
    expect(warns).toContainEqual(
      expect.stringMatching(/^WARN {2}monitoring\.channels +local stack: .*the local stack cannot be like production/),
    );
    for (
      const check of [
        "secrets.repository",
        "secrets.history",
        "configuration.stripe_mode",
        "database.migrations",
        "database.advisors",
        "database.cron_jobs",
        "database.cron_runs",
        "database.vault",
        "database.login_roles",
        "database.settings",
        "database.incidents",
        "database.dead_jobs",
      ]
    ) expect(out).toMatch(new RegExp(`^PASS {2}${check.replace(".", "\\.")} `, "m"));
    expect(out).toMatch(/^\d+ checks: \d+ PASS, \d+ WARN, 0 FAIL$/m);
    expect(code).toBe(0);
  });

  test("--send-test-alert sends one email and one Slack message through notify (captured locally)", async () => {
    const { code, out } = doctor("--json", "--only", "monitoring", "--send-test-alert");
    const { findings } = JSON.parse(out) as { findings: Finding[] };
    expect(by(findings, "monitoring.test_alert")).toMatchObject({ status: "WARN" });
    expect(by(findings, "monitoring.test_alert").saw).toMatch(
      /^email captured via capture, slack captured via capture/,
    );
    const rows = await sql<{ template: string; recipient: string; status: string }[]>`
      select template, recipient, status from ops.notifications where entity like 'doctor:%' order by template`;
    expect(rows).toEqual([
      { template: "founder_alert_opened", recipient: "founder@example.com", status: "captured" },
      { template: "slack_alert_opened", recipient: "slack", status: "captured" },
    ]);
    const [capture] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.notification_captures where body::text like '%doctor_test_alert%'`;
    expect(capture.n).toBe(2);
    expect(code).toBe(0);
  });
});

describe("the local stack, broken", () => {
  test("each database check fails naming what it saw, and npm run doctor exits 1", async () => {
    await sql`select cron.unschedule('ops-evaluate-alerts')`; // the evaluator: no one resolves the incident below
    const [incident] = await sql<{ id: string }[]>`
      insert into ops.alert_incidents (rule, summary) values ('webhook_failure_rate', 'doctor test: broken')
      returning id::text`;
    const [dead] = await sql<{ id: string }[]>`
      select ops.enqueue_job('crm.contact', '{}'::jsonb, 'doctor-test-dead', p_delay => '1 day')::text as id`;
    await sql`update ops.jobs set status = 'dead', last_error = 'doctor test' where id = ${dead.id}`;
    await sql`alter role checkout nologin`;
    await sql`update ops.settings set stripe_livemode = true`;
    await sql`delete from vault.secrets where name = 'functions_base_url'`;
    await sql`delete from supabase_migrations.schema_migrations
               where version = (select max(version) from supabase_migrations.schema_migrations)`;

    const ctx = buildContext(parseArgs([]));
    const findings = await runAreas(ctx, [database]);
    await ctx.close();
    expect(by(findings, "database.cron_jobs")).toMatchObject({
      status: "FAIL",
      saw: "missing or inactive: ops-evaluate-alerts",
    });
    expect(by(findings, "database.incidents").status).toBe("FAIL");
    expect(by(findings, "database.incidents").saw).toMatch(
      new RegExp(`^incident ${incident.id} webhook_failure_rate open since `),
    );
    expect(by(findings, "database.dead_jobs")).toMatchObject({ status: "FAIL", saw: "1 crm.contact" });
    expect(by(findings, "database.login_roles")).toMatchObject({ status: "FAIL", saw: "cannot log in: checkout" });
    expect(by(findings, "database.settings").status).toBe("FAIL");
    expect(by(findings, "database.settings").saw).toMatch(/^ops\.settings: live mode.*env: STRIPE_LIVEMODE false/);
    expect(by(findings, "database.vault")).toMatchObject({ status: "FAIL", saw: "missing: functions_base_url" });
    expect(by(findings, "database.migrations")).toMatchObject({ status: "FAIL" });
    expect(by(findings, "database.migrations").saw).toMatch(/^1 not applied: \d{14}$/);

    const { code, out } = doctor("--only", "database");
    expect(out).toMatch(/^FAIL {2}database\.cron_jobs +missing or inactive: ops-evaluate-alerts — .+\. Fix: /m);
    expect(code).toBe(1);
  });

  test("a cron job whose last run failed fails database.cron_runs", async () => {
    const [job] = await sql<{ jobid: string }[]>`select jobid::text from cron.job where jobname = 'ops-purge-history'`;
    const admin = connect(config.adminDbUrl, { max: 1 }); // pg_cron's run log is its owner's to write
    await admin`insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                                return_message, start_time, end_time)
              values (${job.jobid}, nextval('cron.runid_seq'), 0, 'postgres', 'postgres', 'x', 'failed',
                      'doctor test', now(), now())`;
    await admin.end();
    const ctx = buildContext(parseArgs([]));
    const findings = await runAreas(ctx, [database]);
    await ctx.close();
    expect(by(findings, "database.cron_runs")).toMatchObject({ status: "FAIL" });
    expect(by(findings, "database.cron_runs").saw).toContain("last run failed: ops-purge-history");
  });

  test("an unreachable database is one FAIL naming it, never a stack trace", async () => {
    const ctx = buildContext(parseArgs([]));
    ctx.env.SUPABASE_DB_URL = "postgresql://postgres:doctor-test-password@127.0.0.1:1/postgres";
    const findings = await runAreas(ctx, [database]);
    await ctx.close();
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ check: "database.connect", status: "FAIL" });
    expect(JSON.stringify(findings)).not.toContain("doctor-test-password");
    expect(findings[0].saw).not.toMatch(/\n|at .*\.ts:/);
  });
});

test("--handover writes HANDOVER.md where npm was run, with the doctor's results and no secret", () => {
  const dir = mkdtempSync(join(tmpdir(), "handover-"));
  try {
    // secrets only: the tests above leave this world's database broken on purpose
    const { code, out } = doctorIn({ INIT_CWD: dir }, "--only", "secrets", "--handover");
    expect(code, out).toBe(0);
    expect(out).toContain(`wrote ${join(dir, "HANDOVER.md")}`);
    const text = readFileSync(join(dir, "HANDOVER.md"), "utf8");
    expect(text).toMatch(/secrets\.repository/);
    expect(text).toMatch(/STRIPE_WEBHOOK_SECRET/);
    expect(text).not.toContain(config.dbPassword === "postgres" ? "postgres:postgres@" : config.dbPassword);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
