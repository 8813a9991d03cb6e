// The doctor's configuration area: one list of the functions' settings that covers every name their code
// reads, placeholders and local values refused outside the local stack, Stripe modes that must agree, and
// two env files (staging, production) that share no secret and name different projects.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  configuration,
  FUNCTION_SETTINGS,
  projectOf,
  WORKER_SETTINGS,
} from "../../scripts/doctor/areas/configuration.ts";
import type { DoctorContext, Finding } from "../../scripts/doctor/types.ts";

const FUNCTIONS = join(import.meta.dirname, "..", "..", "supabase", "functions");
const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") && !p.includes(".test.") ? [p] : [];
  });

test("FUNCTION_SETTINGS names every setting the functions' code reads", () => {
  const read = new Set<string>();
  for (const file of sources(FUNCTIONS)) {
    const text = readFileSync(file, "utf8");
    // zod settings schemas (NAME: setting.x(...) / configEmail / stripeAccountId), connect("X_DB_URL"),
    // dbEnv: "X_DB_URL", allowedOrigins(env, "A", "B"), chooseAdapter(env, "X", ...)
    for (const m of text.matchAll(/\b([A-Z][A-Z0-9_]{2,}):\s*(?:setting\.|configEmail|stripeAccountId)/g)) {
      read.add(m[1]);
    }
    for (const m of text.matchAll(/"([A-Z][A-Z0-9_]+_(?:DB_URL|ALLOWED_ORIGINS))"/g)) read.add(m[1]);
    for (const m of text.matchAll(/chooseAdapter\(env, "([A-Z_]+)"/g)) read.add(m[1]);
  }
  expect(read.size).toBeGreaterThan(50);
  const listed = new Set([
    ...Object.values(FUNCTION_SETTINGS).flatMap((s) => [...s.needs, ...s.reads]),
    ...WORKER_SETTINGS,
  ]);
  const platform = (n: string) => /^(SUPABASE|SB|DENO)_/.test(n);
  expect([...read].filter((n) => !listed.has(n) && !platform(n)).sort()).toEqual([]);
  // and every function folder has its entry
  const folders = readdirSync(FUNCTIONS).filter((f) =>
    !f.startsWith("_") && statSync(join(FUNCTIONS, f)).isDirectory()
  );
  expect(Object.keys(FUNCTION_SETTINGS).sort()).toEqual(folders.sort());
});

const ctx = (files: Array<Record<string, string>>, local = false): DoctorContext => ({
  env: files[0] ?? {},
  envFiles: files.map((env, i) => ({ path: `env${i}`, env })),
  clientDirs: [],
  repoDir: ".",
  local,
  sendTestAlert: false,
  dnsServers: [],
  db: () => null,
});
const by = (findings: Finding[], check: string) => findings.find((f) => f.check === check)!;

/** A complete production env: every needed variable with a real-looking value (built, not literal). */
function production(ref: string, salt: string): Record<string, string> {
  const env: Record<string, string> = { SUPABASE_URL: `https://${ref}.supabase.co`, STRIPE_LIVEMODE: "true" };
  for (const name of new Set(Object.values(FUNCTION_SETTINGS).flatMap((s) => s.needs))) {
    env[name] = `${name.toLowerCase()}-${salt}-Qx7`;
  }
  for (const [role, name] of [["checkout", "CHECKOUT_DB_URL"], ["reconciler", "RECONCILER_DB_URL"]]) {
    env[name] = `postgresql://${role}.${ref}:pw${salt}Zq9@aws-0-eu-west-1.pooler.supabase.com:6543/postgres`;
  }
  env.STRIPE_SECRET_KEY = ["rk", "live", `51Abc${salt}Def`].join("_");
  env.STRIPE_RECONCILE_KEY = ["rk", "live", `51Ghi${salt}Jkl`].join("_");
  env.STRIPE_LIVEMODE = "true";
  env.FOUNDER_EMAIL = "founder@example.com";
  env.SUPPORT_ALLOWED_ORIGINS = "https://app.example.com";
  return env;
}

describe("one deployment", () => {
  test("a complete production env passes", async () => {
    const findings = await configuration.run(ctx([production("abcdefghijklmnopqrst", "a1")]));
    expect(findings.filter((f) => f.status !== "PASS")).toEqual([]);
  });

  test("a missing setting fails naming the function and the variable", async () => {
    const env = production("abcdefghijklmnopqrst", "a1");
    delete env.DASHBOARD_SESSION_SECRET;
    const f = by(await configuration.run(ctx([env])), "configuration.required");
    expect(f.status).toBe("FAIL");
    expect(f.saw).toBe("not set: dashboard: DASHBOARD_SESSION_SECRET");
  });

  test.each([
    ["replace_me", "WORKER_SECRET", "replace_me"],
    ["a local-only secret", "STRIPE_WEBHOOK_SECRET", "whsec_local_current_not_for_production"],
    ["Supabase's local JWT secret", "JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"],
    [
      "a local role password",
      "CHECKOUT_DB_URL",
      "postgresql://checkout:local-checkout-password@db.example.com:5432/postgres",
    ],
    ["a local database", "PIPELINE_WORKER_DB_URL", "postgresql://pipeline_worker:Zq81Long@127.0.0.1:54322/postgres"],
  ])("%s outside the local stack fails", async (_name, key, value) => {
    const f = by(
      await configuration.run(ctx([{ ...production("abcdefghijklmnopqrst", "a1"), [key]: value }])),
      "configuration.placeholders",
    );
    expect(f.status).toBe("FAIL");
    expect(f.saw).toContain(key);
    expect(f.saw).not.toContain(value);
  });

  test("the local stack's own values pass on the local stack", async () => {
    const findings = await configuration.run(ctx([{ WORKER_SECRET: "replace_me" }], true));
    expect(findings.map((f) => f.status)).toEqual(["PASS", "PASS", "PASS"]);
  });

  test.each([
    ["a test key with a live key", { STRIPE_RECONCILE_KEY: ["rk", "test", "51Abcdef"].join("_") }],
    ["live keys with STRIPE_LIVEMODE false", { STRIPE_LIVEMODE: "false" }],
  ])("Stripe modes that disagree fail: %s", async (_name, change: Record<string, string>) => {
    const env: Record<string, string> = { ...production("abcdefghijklmnopqrst", "a1"), ...change };
    const f = by(await configuration.run(ctx([env])), "configuration.stripe_mode");
    expect(f.status).toBe("FAIL");
    expect(f.saw).not.toContain(env.STRIPE_SECRET_KEY);
  });
});

describe("staging and production", () => {
  const staging = () => ({
    ...production("stagingstagingstagin", "s2"),
    STRIPE_LIVEMODE: "false",
    STRIPE_SECRET_KEY: ["rk", "test", "51StagingKeyOne"].join("_"),
    STRIPE_RECONCILE_KEY: ["rk", "test", "51StagingKeyTwo"].join("_"),
  });

  test("apart, they pass", async () => {
    const findings = await configuration.run(ctx([staging(), production("abcdefghijklmnopqrst", "a1")]));
    expect(by(findings, "configuration.shared_secrets").status).toBe("PASS");
    expect(by(findings, "configuration.projects")).toMatchObject({
      status: "PASS",
      saw: "env0: stagingstagingstagin, env1: abcdefghijklmnopqrst",
    });
  });

  test("a shared secret fails, masked", async () => {
    const prod = production("abcdefghijklmnopqrst", "a1");
    const f = by(
      await configuration.run(ctx([{ ...staging(), WORKER_SECRET: prod.WORKER_SECRET }, prod])),
      "configuration.shared_secrets",
    );
    expect(f.status).toBe("FAIL");
    expect(f.saw).toContain("WORKER_SECRET");
    expect(f.saw).not.toContain(prod.WORKER_SECRET);
  });

  test("one project for both fails", async () => {
    const findings = await configuration.run(
      ctx([
        { ...staging(), SUPABASE_URL: "https://abcdefghijklmnopqrst.supabase.co" },
        production("abcdefghijklmnopqrst", "a1"),
      ]),
    );
    expect(by(findings, "configuration.projects").status).toBe("FAIL");
  });

  test("the project comes from SUPABASE_URL, else a pooler URL's user", () => {
    expect(projectOf({ SUPABASE_URL: "https://abcdefghijklmnopqrst.supabase.co" })).toBe("abcdefghijklmnopqrst");
    expect(
      projectOf({
        CHECKOUT_DB_URL: "postgresql://checkout.zyxwvutsrqponmlkjihg:pw@aws-0.pooler.supabase.com:6543/postgres",
      }),
    )
      .toBe("zyxwvutsrqponmlkjihg");
    expect(projectOf({})).toBeNull();
  });
});
