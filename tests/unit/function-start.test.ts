// A bad setting stops a function when it starts, as the local gateway runs it (deno run with the
// function's import map and permissions): the process exits before serving, and its log names the
// variable and what it expects, never the value.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { DENO_RUN_PERMISSIONS, denoResolutionArgs, functionConfig } from "../../scripts/lib/function-config.ts";

async function start(name: string, env: Record<string, string>) {
  const fn = functionConfig(name);
  const run = promisify(execFile)(
    join(ROOT, "node_modules/.bin/deno"),
    ["run", "--quiet", ...DENO_RUN_PERMISSIONS, ...denoResolutionArgs(fn), fn.entrypoint],
    {
      cwd: ROOT,
      // a port nothing else uses, in case the function did start (the test then fails on the timeout)
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DENO_SERVE_ADDRESS: "tcp:127.0.0.1:0",
        NO_COLOR: "1",
        ...env,
      },
      timeout: 60_000,
    },
  );
  return await run.then(() => ({ code: 0, stderr: "" }), (err) => ({ code: err.code, stderr: String(err.stderr) }));
}

test.each([
  [
    "support-intake",
    { SUPPORT_RATE_PER_USER_PER_MIN: "-5" },
    "SUPPORT_RATE_PER_USER_PER_MIN must be an integer from 1 to",
  ],
  ["crm-sync", { JOB_DRAIN_CONCURRENCY: "lots" }, "JOB_DRAIN_CONCURRENCY must be an integer from 0 to 64"],
  // the upgrade window for 0.2.0's bare-secret dispatches (#17) closes by itself: never more than a day
  [
    "notify",
    { WORKER_SECRET: "s3cr3t-worker", WORKER_BARE_SECRET_UNTIL: "2999-01-01T00:00:00Z" },
    "WORKER_BARE_SECRET_UNTIL must be at most 24 hours ahead",
  ],
  [
    "crm-sync",
    { CRM_ADAPTER: "hubspot", HUBSPOT_ACCESS_TOKEN: "pat-s3cr3t", HUBSPOT_TIMEOUT_MS: "soon" },
    "HUBSPOT_TIMEOUT_MS must be",
  ],
  [
    "stripe-webhook",
    { STRIPE_WEBHOOK_SECRET: "whsec_s3cr3t", STRIPE_LIVEMODE: "yes" },
    "STRIPE_LIVEMODE must be true or false",
  ],
  [
    "stripe-webhook",
    { STRIPE_WEBHOOK_SECRET: "whsec_replace_me", SUPABASE_URL: "https://abcdefghijklmnop.supabase.co" },
    "STRIPE_WEBHOOK_SECRET holds a placeholder or local-only value, refused outside the local stack: " +
    "set a real secret with `supabase secrets set STRIPE_WEBHOOK_SECRET=<secret>`",
  ],
  [
    "stripe-webhook",
    // the marker alone does not make a deployment local: SUPABASE_URL must be the stack's loopback one
    {
      STRIPE_WEBHOOK_SECRET: "whsec_local_current_not_for_production",
      LOCAL_STACK: "1",
      SUPABASE_URL: "https://abcdefghijklmnop.supabase.co",
    },
    "STRIPE_WEBHOOK_SECRET holds a placeholder",
  ],
  ["checkout", { STRIPE_SECRET_KEY: "pk_live_s3cr3t" }, "STRIPE_SECRET_KEY must be a Stripe secret or restricted key"],
  ["checkout", { STRIPE_SECRET_KEY: "rk_live_..." }, "STRIPE_SECRET_KEY holds a placeholder"],
  [
    "checkout",
    { CHECKOUT_SUCCESS_URLS: "https://app.example.com/ok,/relative" },
    "CHECKOUT_SUCCESS_URLS must be http(s) URLs",
  ],
  [
    "seller-onboarding",
    { SELLER_ONBOARDING_RETURN_URLS: "https://app.example.com/done,javascript:alert(1)" },
    "SELLER_ONBOARDING_RETURN_URLS must be http(s) URLs",
  ],
  ["seller-onboarding", { STRIPE_SECRET_KEY: "pk_test_s3cr3t" }, "STRIPE_SECRET_KEY must be a Stripe secret"],
  [
    "billing-portal",
    { BILLING_PORTAL_RETURN_URLS: "https://app.example.com/billing,javascript:alert(1)" },
    "BILLING_PORTAL_RETURN_URLS must be http(s) URLs",
  ],
  ["billing-portal", { BILLING_PORTAL_RATE_PER_USER_PER_MIN: "0" }, "BILLING_PORTAL_RATE_PER_USER_PER_MIN must be"],
  [
    "stripe-webhook",
    { STRIPE_WEBHOOK_SECRET: "whsec_s3cr3t", STRIPE_CONNECT_WEBHOOK_SECRET: "whsec_replace_me" },
    "STRIPE_CONNECT_WEBHOOK_SECRET holds a placeholder",
  ],
  ["health", { HEALTH_CACHE_SECONDS: "600" }, "HEALTH_CACHE_SECONDS must be an integer from 0 to 60"],
  // users' tokens are checked against their issuer, <SUPABASE_URL>/auth/v1 (hosted always sets it)
  ["support-intake", { SUPABASE_URL: "", JWT_SECRET: "s3cr3t" }, "SUPABASE_URL (or JWT_ISSUER) must be set"],
])("%s with %j stops at start, naming the variable", async (name, env, message) => {
  const { code, stderr } = await start(name, {
    PIPELINE_WORKER_DB_URL: "postgresql://pipeline_worker:pw@127.0.0.1:1/postgres",
    SUPPORT_INTAKE_DB_URL: "postgresql://support_intake:pw@127.0.0.1:1/postgres",
    STRIPE_WEBHOOK_DB_URL: "postgresql://stripe_webhook:pw@127.0.0.1:1/postgres",
    CHECKOUT_DB_URL: "postgresql://checkout:pw@127.0.0.1:1/postgres",
    SELLER_ONBOARDING_DB_URL: "postgresql://seller_onboarding:pw@127.0.0.1:1/postgres",
    HEALTH_DB_URL: "postgresql://health:pw@127.0.0.1:1/postgres",
    BILLING_PORTAL_DB_URL: "postgresql://billing_portal:pw@127.0.0.1:1/postgres",
    SUPABASE_URL: "http://127.0.0.1:1",
    ...env,
  });
  expect(code).not.toBe(0);
  expect(stderr).toContain(`ConfigError: ${message}`);
  expect(stderr).not.toContain("s3cr3t");
  expect(stderr).not.toContain("replace_me");
  expect(stderr).not.toContain("not_for_production");
}, 90_000);
