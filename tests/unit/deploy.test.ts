// npm run deploy (#19) with a stand-in `supabase` on PATH that records its calls (argv, the credentials it got
// from its environment, the secrets file it was given) and fails the step named in FAIL_STEP: the calls in
// order, the stop at the first failure with what to do, and no secret value in the output.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { functionSecrets, projectRef } from "../../scripts/ops/env-file.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const SECRETS = {
  STRIPE_SECRET_KEY: ["sk", "live", "deploytest1234567890abcdef"].join(
    "_",
  ), /* made at run time: no live-key shape in the tree */
  STRIPE_WEBHOOK_SECRET: "whsec_deploytest_abcdef123456",
  WORKER_SECRET: "worker-deploytest-0123456789abcdef",
  SUPABASE_ACCESS_TOKEN: "sbp_deploytest0123456789abcdef0123456789ab",
  SUPABASE_DB_PASSWORD: "db-password-deploytest-xyz",
  STRIPE_WEBHOOK_DB_PASSWORD: "role-password-deploytest-xyz",
};
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "deploy-test-"));
  // the stand-in CLI: one JSON line per call; a copy of the secrets file it was given
  writeFileSync(
    join(dir, "supabase"),
    `#!/usr/bin/env node
const fs = require("node:fs");
const args = process.argv.slice(2);
const at = args.indexOf("--env-file");
fs.appendFileSync(process.env.CALLS_FILE, JSON.stringify({
  args,
  token: process.env.SUPABASE_ACCESS_TOKEN ?? null,
  dbPassword: process.env.SUPABASE_DB_PASSWORD ?? null,
  secrets: at >= 0 ? fs.readFileSync(args[at + 1], "utf8") : null,
}) + "\\n");
const step = args[0] === "db" || args[0] === "functions" || args[0] === "secrets" ? args[0] + " " + args[1] : args[0];
if (process.env.FAIL_STEP === step) { console.error("stand-in: " + step + " failed"); process.exit(3); }
`,
  );
  chmodSync(join(dir, "supabase"), 0o755);
  // and a stand-in npm, so the doctor (npm run doctor) it ends with is recorded, not run against nowhere
  writeFileSync(
    join(dir, "npm"),
    `#!/usr/bin/env node
require("node:fs").writeFileSync(process.env.CALLS_FILE + ".npm", JSON.stringify(process.argv.slice(2)));
`,
  );
  chmodSync(join(dir, "npm"), 0o755);
  writeFileSync(
    join(dir, "prod.env"),
    [
      "# production",
      "SUPABASE_URL=https://abcdefghijklmnopqrst.supabase.co",
      ...Object.entries(SECRETS).map(([k, v]) => `${k}=${v}`),
      "STRIPE_LIVEMODE=true",
      "DB_PORT=5432",
      "HEARTBEAT_URL=https://hc-ping.com/deploytest-uuid",
      "",
    ].join("\n"),
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function deploy(failStep?: string) {
  const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [
    "scripts/ops/deploy.ts",
    "--env-file",
    join(dir, "prod.env"),
  ], {
    cwd: ROOT,
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${dir}:${process.env.PATH}`,
      CALLS_FILE: join(dir, "calls.jsonl"),
      FAIL_STEP: failStep ?? "",
    },
  });
  const calls = existsSync(join(dir, "calls.jsonl"))
    ? readFileSync(join(dir, "calls.jsonl"), "utf8").trim().split("\n").map((l) =>
      JSON.parse(l) as { args: string[]; token: string | null; dbPassword: string | null; secrets: string | null }
    )
    : [];
  return { ...run, calls, output: run.stdout + run.stderr };
}

function expectNoSecret(output: string) {
  for (const value of Object.values(SECRETS)) expect(output).not.toContain(value);
  expect(output).not.toContain("deploytest-uuid");
}

describe("npm run deploy", () => {
  test("runs link, db push, secrets set and functions deploy in that order, credentials by environment", () => {
    const run = deploy();
    expect(run.status, run.output).toBe(0);
    expect(run.calls.map((c) => c.args.slice(0, 2).join(" "))).toEqual([
      "link --project-ref",
      "db push",
      "secrets set",
      "functions deploy",
    ]);
    expect(run.calls[0].args).toEqual(["link", "--project-ref", "abcdefghijklmnopqrst"]);
    expect(run.calls.every((c) => c.token === SECRETS.SUPABASE_ACCESS_TOKEN)).toBe(true);
    expect(run.calls[1].dbPassword).toBe(SECRETS.SUPABASE_DB_PASSWORD);
    // the function secrets only: no SUPABASE_*, no role passwords, no tool or vault settings
    const sent = run.calls[2].secrets!.trim().split("\n").sort();
    expect(sent).toEqual([
      `STRIPE_LIVEMODE=true`,
      `STRIPE_SECRET_KEY=${SECRETS.STRIPE_SECRET_KEY}`,
      `STRIPE_WEBHOOK_SECRET=${SECRETS.STRIPE_WEBHOOK_SECRET}`,
      `WORKER_SECRET=${SECRETS.WORKER_SECRET}`,
    ]);
    // argv never holds a value
    expectNoSecret(JSON.stringify(run.calls.map((c) => c.args)));
    expectNoSecret(run.output);
    expect(run.output).toContain("function secrets: STRIPE_LIVEMODE, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET");
    // the temporary secrets file is gone
    expect(existsSync(run.calls[2].args[3])).toBe(false);
    // then the doctor (absent from a checkout without scripts/doctor/main.ts: said so)
    expect(run.output).toContain("npm run doctor -- --env-file");
    if (existsSync(join(ROOT, "scripts/doctor/main.ts"))) {
      expect(JSON.parse(readFileSync(join(dir, "calls.jsonl.npm"), "utf8"))).toEqual([
        "run",
        "doctor",
        "--",
        "--env-file",
        join(dir, "prod.env"),
      ]);
    } else {
      expect(run.output).toContain("the doctor is not in this checkout");
    }
  });

  test.each([
    ["link", 1, "SUPABASE_ACCESS_TOKEN"],
    ["db push", 2, "failing migration"],
    ["secrets set", 3, "env file's variables"],
    ["functions deploy", 4, "bundling error"],
  ])("a failing %s stops the deploy there and says what to do", (step, n, fix) => {
    const run = deploy(step);
    expect(run.status).toBe(1);
    expect(run.calls).toHaveLength(n);
    expect(run.output).toContain(`deploy stopped at step ${n}/4 (${step}): exited with 3`);
    expect(run.output).toMatch(new RegExp(`what to do: .*${fix}`));
    expect(run.output).not.toContain("npm run doctor -- --env-file");
    expectNoSecret(run.output);
  });

  test("without an env file, or one that names no project, it stops before any call", () => {
    const none = spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/ops/deploy.ts"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(none.status).toBe(2);
    expect(none.stderr).toContain("usage: npm run deploy -- --env-file <file>");
    writeFileSync(join(dir, "prod.env"), "SUPABASE_URL=http://127.0.0.1:54321\n");
    const run = deploy();
    expect(run.status).toBe(2);
    expect(run.calls).toEqual([]);
    expect(run.stderr).toContain("cannot tell the project ref");
  });
});

describe("the env file's function secrets and project", () => {
  test("function secrets leave out the platform's, the role passwords and the tools' settings", () => {
    expect(Object.keys(functionSecrets({
      SUPABASE_URL: "x",
      SUPABASE_SERVICE_ROLE_KEY: "x",
      CHECKOUT_DB_PASSWORD: "x",
      CHECKOUT_DB_URL: "postgresql://checkout:x@h/postgres",
      HEARTBEAT_URL: "x",
      DB_PORT: "1",
      EMPTY: "",
      RESEND_API_KEY: "re_x",
    }))).toEqual(["CHECKOUT_DB_URL", "RESEND_API_KEY"]);
  });
  test("the project ref comes from SUPABASE_URL, or SUPABASE_PROJECT_REF", () => {
    expect(projectRef({ SUPABASE_URL: "https://abcdefghijklmnopqrst.supabase.co" })).toBe("abcdefghijklmnopqrst");
    expect(projectRef({ SUPABASE_URL: "https://api.example.com", SUPABASE_PROJECT_REF: "zyx" })).toBe("zyx");
    expect(() => projectRef({ SUPABASE_URL: "https://api.example.com" })).toThrow(/SUPABASE_PROJECT_REF/);
  });
});
