// The one way functions read settings (_shared/config/env.ts): blank is unset and takes the default,
// numbers and booleans are coerced, and a bad value names its variable and what it expects, never the
// value. Then one function's settings as it reads them at start: support-intake's rate limits.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { ConfigError, parseEnv, setting } from "../../supabase/functions/_shared/config/env.ts";
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

describe("functions' settings", () => {
  test("an empty SUPPORT_RATE_PER_USER_PER_MIN takes its default, as every other setting does", () => {
    expect(limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "", SUPPORT_RATE_PER_IP_PER_MIN: " " })).toEqual({
      perUserPerMinute: 5,
      perIpPerMinute: 30,
    });
    expect(limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "12" })).toEqual({ perUserPerMinute: 12, perIpPerMinute: 30 });
  });

  test("a negative or non-numeric rate is refused, naming the variable", () => {
    expect(() => limitsFrom({ SUPPORT_RATE_PER_USER_PER_MIN: "-1" })).toThrow(
      /^SUPPORT_RATE_PER_USER_PER_MIN must be an integer from 1 to/,
    );
    expect(() => limitsFrom({ SUPPORT_RATE_PER_IP_PER_MIN: "lots" })).toThrow(/^SUPPORT_RATE_PER_IP_PER_MIN must be/);
  });

  test("the job workers' drain settings: defaults, coercion and named errors", () => {
    expect(drainSettings({})).toEqual({ budgetMs: 25_000, concurrency: 4, idleMs: 500 });
    expect(drainSettings({ JOB_DRAIN_BUDGET_MS: "1000", JOB_DRAIN_CONCURRENCY: "", JOB_DRAIN_IDLE_MS: "0" }))
      .toEqual({ budgetMs: 1000, concurrency: 4, idleMs: 0 });
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
