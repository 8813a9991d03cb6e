// The doctor's runner (scripts/doctor/main.ts): its arguments, its one line per finding, a check that throws
// turned into a FAIL that names the error without the secret in it, and what the database area expects.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { expectedCronJobs, expectedVaultSecrets, intervalSeconds } from "../../scripts/doctor/areas/database.ts";
import { AREAS } from "../../scripts/doctor/areas/index.ts";
import { buildContext, formatFindings, parseArgs, runAreas, UsageError } from "../../scripts/doctor/main.ts";
import { fail, pass, warn } from "../../scripts/doctor/types.ts";
import { ROOT } from "../../scripts/lib/config.ts";

describe("arguments", () => {
  test("every flag, --client taking several dirs and --env-file repeated", () => {
    expect(
      parseArgs([
        "--env-file",
        "a.env",
        "--client",
        "dist",
        "public",
        "--env-file",
        "b.env",
        "--json",
        "--send-test-alert",
        "--handover",
        "--only",
        "secrets,database",
      ]),
    ).toEqual({
      envFiles: ["a.env", "b.env"],
      clientDirs: ["dist", "public"],
      json: true,
      sendTestAlert: true,
      handover: true,
      only: ["secrets", "database"],
    });
  });

  test.each([
    [["--only", "nope"], /unknown area nope/],
    [["--env-file"], /--env-file needs a value/],
    [["--frobnicate"], /unknown argument/],
    [["--env-file", "a", "--env-file", "b", "--env-file", "c"], /at most twice/],
  ])("%j is refused", (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  test("without --env-file the context is the local stack's", () => {
    const ctx = buildContext(parseArgs([]));
    expect(ctx.local).toBe(true);
    expect(ctx.env.SUPABASE_DB_URL).toMatch(/^postgresql:\/\/postgres:/);
  });

  test("two --env-file: both parsed, the first checked; a loopback SUPABASE_URL is the local stack", () => {
    const dir = mkdtempSync(join(tmpdir(), "doctor-env-"));
    writeFileSync(
      join(dir, "staging.env"),
      "SUPABASE_URL=https://stagingref.supabase.co\nWORKER_SECRET='a b'\nAPP_NAME=Shop # a comment\n",
    );
    writeFileSync(join(dir, "local.env"), "export SUPABASE_URL=http://127.0.0.1:54321\n");
    const two = buildContext(parseArgs(["--env-file", join(dir, "staging.env"), "--env-file", join(dir, "local.env")]));
    expect(two.envFiles.map((f) => f.env)).toEqual([
      { SUPABASE_URL: "https://stagingref.supabase.co", WORKER_SECRET: "a b", APP_NAME: "Shop" },
      { SUPABASE_URL: "http://127.0.0.1:54321" },
    ]);
    expect(two.env).toEqual(two.envFiles[0].env);
    expect(two.local).toBe(false);
    expect(two.db()).toBeNull();
    expect(buildContext(parseArgs(["--env-file", join(dir, "local.env")])).local).toBe(true);
    rmSync(dir, { recursive: true });
  });

  test("npm run doctor -- --env-file <path relative to where npm ran> reaches the doctor, not Node", () => {
    const dir = mkdtempSync(join(tmpdir(), "doctor-npm-"));
    writeFileSync(
      join(dir, "prod.env"),
      "SUPABASE_URL=https://abcdefghijklmnopqrst.supabase.co\nWORKER_SECRET=replace_me\n",
    );
    const res = spawnSync("npm", [
      "--prefix",
      ROOT,
      "run",
      "--silent",
      "doctor",
      "--",
      "--env-file",
      "prod.env",
      "--only",
      "configuration",
      "--json",
    ], { cwd: dir, encoding: "utf8" });
    rmSync(dir, { recursive: true });
    const { local, findings } = JSON.parse(res.stdout) as {
      local: boolean;
      findings: Array<{ check: string; status: string; saw: string }>;
    };
    expect(local).toBe(false);
    expect(findings.find((f) => f.check === "configuration.placeholders")).toMatchObject({
      status: "FAIL",
      saw: "WORKER_SECRET (a placeholder or local-only value)",
    });
    expect(res.status).toBe(1);
  });

  test("a missing --env-file is a usage error", () => {
    expect(() => buildContext(parseArgs(["--env-file", "/nonexistent/.env.production"]))).toThrow(/no such file/);
  });

  test("the areas run in the issue's order", () => {
    const order = ["secrets", "configuration", "stripe", "endpoints", "email", "crm", "database", "monitoring"];
    expect(AREAS.map((a) => a.name)).toEqual(order);
  });
});

test("findings print aligned, the why and the fix only when not PASS, and a summary", () => {
  const out = formatFindings([
    pass("secrets.history", "12 commits"),
    warn("monitoring.channels", "captured", "local", "nothing"),
    fail("db.x", "down", "no alerts", "start it"),
  ]);
  expect(out.split("\n")).toEqual([
    "PASS  secrets.history      12 commits",
    "WARN  monitoring.channels  captured — local. Fix: nothing",
    "FAIL  db.x                 down — no alerts. Fix: start it",
    "3 checks: 1 PASS, 1 WARN, 1 FAIL",
  ]);
  expect(out).not.toContain("\x1b[");
  expect(formatFindings([pass("a", "b")], true)).toContain("\x1b[32mPASS\x1b[0m");
});

test("an area that throws is a FAIL naming the error, its secret masked, and the next area still runs", async () => {
  const key = ["sk", "live", "51SecretSecretSecret9z8y"].join("_");
  const findings = await runAreas(buildContext(parseArgs([])), [
    { name: "boom", run: () => Promise.reject(new Error(`Stripe refused ${key}\n    at stack (file.ts:1)`)) },
    { name: "fine", run: () => Promise.resolve([pass("fine.ok", "ok")]) },
  ]);
  expect(findings).toEqual([
    fail(
      "boom.error",
      "the check threw Error: Stripe refused sk_live_…9z8y",
      "the boom area could not finish",
      "fix what the error names and run the doctor again",
    ),
    pass("fine.ok", "ok"),
  ]);
});

describe("what the database area expects, from the migrations", () => {
  test("every pg_cron job the migrations schedule", () => {
    expect(expectedCronJobs()).toEqual(
      expect.arrayContaining([
        "ops-evaluate-alerts",
        "ops-job-ticker",
        "ops-sweep-jobs",
        "ops-purge-history",
        "ops-reconcile",
      ]),
    );
    expect(expectedCronJobs("select cron.schedule('a', '* * * * *', 'x'); perform cron.schedule( 'b', ...)")).toEqual([
      "a",
      "b",
    ]);
  });

  test("the vault secrets the migrations read", () => {
    expect(expectedVaultSecrets()).toEqual(expect.arrayContaining(["functions_base_url", "worker_secret"]));
  });

  test.each([
    ["10 seconds", 10],
    ["* * * * *", 60],
    ["*/15 * * * *", 900],
    ["7 * * * *", 3_600],
    ["17 3 * * *", 86_400],
  ])("the schedule %s runs every %i s", (schedule, seconds) => {
    expect(intervalSeconds(schedule)).toBe(seconds);
  });
});
