// The one way functions read settings (_shared/config/env.ts): blank is unset and takes the default,
// numbers and booleans are coerced, and a bad value names its variable and what it expects, never the
// value. Then one function's settings as it reads them at start: support-intake's rate limits.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import {
  ConfigError,
  isLocalStack,
  parseEnv,
  refusePlaceholderSecrets,
  setting,
} from "../../supabase/functions/_shared/config/env.ts";
import { drainSettings } from "../../supabase/functions/_shared/jobs/worker.ts";
import { limitsFrom } from "../../supabase/functions/support-intake/intake.ts";
import { ROOT } from "../../scripts/lib/config.ts";

const schema = z.object({
  RATE: setting.int(5, 1, 100),
  LIVE: setting.bool(false),
  TOKEN: setting.required(),
  BASE: setting.url("https://api.example.com"),
  ORIGINS: setting.list(),
  ADAPTER: setting.oneOf(["hubspot", "capture"]),
  NAME: setting.text("Backbone"),
});
const read = (env: Record<string, string | undefined>) => parseEnv(schema, { TOKEN: "t", ...env });
const failure = (env: Record<string, string | undefined>) => {
  try {
    read(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("settings", () => {
  test.each([{}, { RATE: "", LIVE: "", BASE: "", ORIGINS: "", ADAPTER: "", NAME: "" }, { RATE: "  ", NAME: " " }])(
    "unset and blank take the defaults: %j",
    (env) => {
      expect(read(env)).toEqual({
        RATE: 5,
        LIVE: false,
        TOKEN: "t",
        BASE: "https://api.example.com",
        ORIGINS: [],
        ADAPTER: undefined,
        NAME: "Backbone",
      });
    },
  );

  test("values are trimmed and coerced: integers, true/false in any case, lists, lower-cased choices", () => {
    expect(read({
      RATE: " 42 ",
      LIVE: "TRUE",
      BASE: "http://127.0.0.1:9/",
      ORIGINS: "https://a.example, https://b.example  https://c.example",
      ADAPTER: " Capture ",
      NAME: " Mugshop ",
    })).toEqual({
      RATE: 42,
      LIVE: true,
      TOKEN: "t",
      BASE: "http://127.0.0.1:9",
      ORIGINS: ["https://a.example", "https://b.example", "https://c.example"],
      ADAPTER: "capture",
      NAME: "Mugshop",
    });
  });

  test.each([
    [{ RATE: "abc" }, "RATE must be an integer from 1 to 100"],
    [{ RATE: "-3" }, "RATE must be an integer from 1 to 100"],
    [{ RATE: "1.5" }, "RATE must be an integer from 1 to 100"],
    [{ RATE: "101" }, "RATE must be an integer from 1 to 100"],
    [{ LIVE: "yes" }, "LIVE must be true or false"],
    [{ TOKEN: " " }, "TOKEN is not set"],
    [{ BASE: "api.example.com" }, "BASE must be an http(s) URL"],
    [{ ADAPTER: "salesforce" }, 'ADAPTER must be "hubspot" or "capture"'],
  ])("a bad value names its variable and what it expects: %j", (env, message) => {
    expect(failure(env)).toBe(message);
  });

  test("every bad variable is named at once, and no value is repeated in the message", () => {
    const message = failure({ RATE: "s3cr3t-rate", TOKEN: undefined, BASE: "s3cr3t-base" });
    expect(message).toBe("RATE must be an integer from 1 to 100; TOKEN is not set; BASE must be an http(s) URL");
    expect(message).not.toContain("s3cr3t");
  });
});

describe("placeholder secrets (refused at start outside the local stack)", () => {
  const LOCAL = { SUPABASE_URL: "http://127.0.0.1:54321", LOCAL_STACK: "1" };
  const HOSTED = { SUPABASE_URL: "https://abcdefghijklmnop.supabase.co", SB_REGION: "eu-west-1" };
  /** The ConfigError's message for `env`, or undefined when it is accepted. */
  const refusal = (env: Record<string, string | undefined>) => {
    try {
      refusePlaceholderSecrets(env);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
  };

  // .env.example's and the docs' placeholders, the local stack's defaults and public values
  test.each([
    ["STRIPE_WEBHOOK_SECRET", "whsec_replace_me"],
    ["STRIPE_WEBHOOK_SECRET", "whsec_..."],
    ["STRIPE_WEBHOOK_SECRET", "whsec_…"],
    ["STRIPE_WEBHOOK_SECRET", "whsec_local_current_not_for_production,whsec_local_previous_not_for_production"],
    ["STRIPE_WEBHOOK_SECRET", "whsec_REAL0000000000000000000000,whsec_local_previous_NOT_FOR_PRODUCTION"],
    ["DASHBOARD_SESSION_SECRET", "local-dashboard-session-secret-not-for-production"],
    ["JWT_SECRET", "super-secret-jwt-token-with-at-least-32-characters-long"],
    ["RESEND_WEBHOOK_SECRET", "whsec_bG9jYWwtcmVzZW5kLXdlYmhvb2stc2VjcmV0"],
    ["WORKER_SECRET", "<worker secret>"],
    ["HUBSPOT_ACCESS_TOKEN", "pat-..."],
    ["RESEND_API_KEY", "re_..."],
    ["STRIPE_RECONCILE_KEY", "rk_live_..."],
    ["SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T.../B.../..."],
    ["STRIPE_WEBHOOK_DB_PASSWORD", "replace_me_local_only"],
    ["STRIPE_WEBHOOK_DB_URL", "postgresql://stripe_webhook.<ref>:<password 1>@<pooler host>:6543/postgres"],
    ["PIPELINE_WORKER_DB_URL", "postgresql://pipeline_worker:local-pipeline-worker-password@db:5432/postgres"],
  ])("%s=%s is refused outside the local stack, naming the variable and never the value", (name, value) => {
    const message = refusal({ ...HOSTED, [name]: value });
    expect(message).toBe(
      `${name} holds a placeholder or local-only value, refused outside the local stack: ` +
        `set a real secret with \`supabase secrets set ${name}=<secret>\` (or unset it)`,
    );
    for (const part of value.split(/[,:@/]/).filter((p) => p.length > 6)) expect(message).not.toContain(part);
    expect(refusal({ [name]: value }), "no SUPABASE_URL at all is not local either").toBe(message);
    expect(refusal({ ...LOCAL, [name]: value }), "the local stack's own values").toBeUndefined();
  });

  test("every placeholder secret is named at once", () => {
    expect(refusal({ ...HOSTED, WORKER_SECRET: "replace_me", STRIPE_WEBHOOK_SECRET: "whsec_replace_me" }))
      .toMatch(/^STRIPE_WEBHOOK_SECRET holds .*; WORKER_SECRET holds /);
  });

  test("real secrets, unset or blank ones, and placeholder-looking settings that are not secrets are accepted", () => {
    expect(refusal({
      ...HOSTED,
      STRIPE_WEBHOOK_SECRET: "whsec_3kQ9vF2mX8pL1nR7tY4wZ6bC0dE5gH,whsec_Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
      WORKER_SECRET: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      JWT_SECRET: "",
      RESEND_API_KEY: " ",
      STRIPE_WEBHOOK_DB_URL:
        "postgresql://stripe_webhook.abcdefghijklmnop:Zx81-qP0w@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
      NOTIFY_FROM_EMAIL: "hello@<your domain>",
      SUPABASE_SERVICE_ROLE_KEY: "eyJ...", // the platform's, not the deployer's
    })).toBeUndefined();
  });

  test.each([
    [{ SUPABASE_URL: "http://127.0.0.1:54321", LOCAL_STACK: "1" }, true],
    [{ SUPABASE_URL: "http://localhost:54321/", LOCAL_STACK: "1" }, true],
    [{ SUPABASE_URL: "http://[::1]:54321", LOCAL_STACK: " 1 " }, true],
    [{ SUPABASE_URL: "http://127.0.0.1:54321" }, false],
    [{ SUPABASE_URL: "http://127.0.0.1:54321", LOCAL_STACK: "true" }, false],
    [{ LOCAL_STACK: "1" }, false],
    [{ SUPABASE_URL: "https://abcdefghijklmnop.supabase.co", LOCAL_STACK: "1" }, false],
    [{ SUPABASE_URL: "http://127.0.0.1.example.com", LOCAL_STACK: "1" }, false],
    [{ SUPABASE_URL: "http://kong:8000", LOCAL_STACK: "1" }, false],
    [{ SUPABASE_URL: "not a url", LOCAL_STACK: "1" }, false],
    [{ SUPABASE_URL: "http://127.0.0.1:54321", LOCAL_STACK: "1", SB_REGION: "us-east-1" }, false],
    [{ SUPABASE_URL: "http://127.0.0.1:54321", LOCAL_STACK: "1", DENO_DEPLOYMENT_ID: "ref_fn_3" }, false],
  ])("local stack only with its marker, a loopback SUPABASE_URL and none of hosted's variables: %j", (env, local) => {
    expect(isLocalStack(env)).toBe(local);
  });
});

describe("functions' settings", () => {
  test("an empty SUPPORT_RATE_PER_USER_PER_MIN takes its default, as every other setting does", () => {
    expect(limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "", SUPPORT_RATE_PER_IP_PER_MIN: " " })).toEqual({
      perUserPerMinute: 5,
      perIpPerMinute: 30,
      proxyHops: 1,
    });
    expect(limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "12" })).toEqual({
      perUserPerMinute: 12,
      perIpPerMinute: 30,
      proxyHops: 1,
    });
  });

  test("a negative or non-numeric rate is refused, naming the variable", () => {
    expect(() => limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "-1" })).toThrow(
      /^SUPPORT_RATE_PER_USER_PER_MIN must be an integer from 1 to/,
    );
    expect(() => limitsFrom({ SUPPORT_RATE_PER_IP_PER_MIN: "lots" })).toThrow(/^SUPPORT_RATE_PER_IP_PER_MIN must be/);
  });

  test("the job workers' drain settings: defaults, coercion and named errors", () => {
    expect(drainSettings({})).toEqual({ budgetMs: 25_000, concurrency: 4, idleMs: 500, batch: 4, cpuMs: 1_000 });
    expect(drainSettings({ JOB_DRAIN_BUDGET_MS: "1000", JOB_DRAIN_CONCURRENCY: "", JOB_DRAIN_IDLE_MS: "0" }))
      .toEqual({ budgetMs: 1000, concurrency: 4, idleMs: 0, batch: 4, cpuMs: 1_000 });
    expect(drainSettings({ JOB_DRAIN_BATCH: "16", JOB_DRAIN_CPU_MS: "0" })).toMatchObject({ batch: 16, cpuMs: 0 });
    expect(() => drainSettings({ JOB_DRAIN_BATCH: "0" })).toThrow("JOB_DRAIN_BATCH must be an integer from 1 to 100");
    expect(() => drainSettings({ JOB_DRAIN_CONCURRENCY: "65" })).toThrow(
      "JOB_DRAIN_CONCURRENCY must be an integer from 0 to 64",
    );
  });
});

describe("the scripts' stack config (scripts/lib/config.ts)", () => {
  /** config's ports as a fresh Node process reads them from `env` (the module reads its env once, on import). */
  const ports = (env: Record<string, string>) =>
    spawnSync(
      join(ROOT, "node_modules/.bin/tsx"),
      ["-e", 'import("./scripts/lib/config.ts").then((m) => console.log(m.config.pgPort, m.config.apiPort))'],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, DB_PORT: "", API_PORT: "", ...env } },
    );

  test("ports are coerced, blank takes the default, and a bad port names its variable", () => {
    expect(ports({ DB_PORT: "58322" }).stdout.trim()).toBe("58322 54321");
    const bad = ports({ API_PORT: "http" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("ConfigError: API_PORT must be an integer from 1 to 65535");
  }, 60_000);
});
