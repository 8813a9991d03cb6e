// npm run setup (#19) in a world of its own (it sets the login roles' passwords and the vault), against the
// Stripe fake's webhook endpoints and a HubSpot fake whose portal lacks the backbone_* properties: the first run
// creates both endpoints with exactly the applied event lists (Connect because ops.settings.connect_enabled),
// writes their signing secrets, the roles' passwords and URLs and a worker secret into the env file, sets them
// in the database and the vault, and prints none of them; the second run changes nothing and says so; an
// endpoint someone changed is put back.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { config, LOGIN_ROLES, ROOT } from "../../scripts/lib/config.ts";
import { connect } from "../../scripts/lib/db.ts";
import { CONNECT_EVENT_TYPES, PLATFORM_EVENT_TYPES } from "../../scripts/lib/stripe-event-types.ts";
import { parseEnvText } from "../../scripts/ops/env-file.ts";
import { HUBSPOT_PROPERTY_DEFINITIONS } from "../../scripts/ops/setup.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

const SUPABASE_URL = "https://abcdefghijklmnopqrst.supabase.co";
let stripe: FakeStripe;
let hubspot: FakeHubSpot;
let dir: string;
let envFile: string;

/** Runs it as a founder does; asynchronously, as the fakes answer from this process. */
function setup(...args: string[]): Promise<{ status: number | null; stdout: string; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(join(ROOT, "node_modules/.bin/tsx"), ["scripts/ops/setup.ts", "--env-file", envFile, ...args], {
      cwd: ROOT,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("error", fail);
    child.on("close", (status) => done({ status, stdout, output: stdout + stderr }));
  });
}
const fileEnv = () => parseEnvText(readFileSync(envFile, "utf8"));
/** Every secret value the env file holds now: none may be in any output. */
const secretValues = () =>
  Object.entries(fileEnv()).filter(([k]) => /SECRET|PASSWORD|_DB_URL|TOKEN|_KEY/.test(k)).map(([, v]) => v);

beforeAll(async () => {
  stripe = await startFakeStripe();
  hubspot = await startFakeHubSpot({
    missingProperties: {
      deals: ["backbone_order_id", "backbone_refunded_amount", "backbone_needs_review"],
      contacts: ["backbone_billing_status", "backbone_seller_status"],
    },
  });
  await startWorld();
  await sql`update ops.settings set connect_enabled = true where id`;
  dir = mkdtempSync(join(tmpdir(), "setup-test-"));
  envFile = join(dir, "prod.env");
  writeFileSync(
    envFile,
    [
      "# production (a test's)",
      `SUPABASE_URL=${SUPABASE_URL}`,
      `SUPABASE_DB_URL=${config.dbUrl}`,
      `STRIPE_SECRET_KEY=${stripe.key}`,
      `STRIPE_API_BASE=${stripe.url}`,
      `HUBSPOT_ACCESS_TOKEN=${hubspot.token}`,
      `HUBSPOT_API_BASE=${hubspot.url}`,
      "HEARTBEAT_URL=https://hc-ping.example.com/setup-test-uuid",
      "CHECKOUT_DB_PASSWORD=replace_me_local_only",
      "",
    ].join("\n"),
  );
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await stripe?.close();
  await hubspot?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 180_000);

test("the first run creates the endpoints, properties, passwords and vault secrets, printing no secret", async () => {
  const run = await setup();
  expect(run.status, run.output).toBe(0);
  const env = fileEnv();

  // Stripe: both endpoints, exactly the lists, their secrets in the file
  const endpoints = stripe.webhookEndpoints.all();
  expect(endpoints.map((e) => [e.url, e.connect])).toEqual([
    [`${SUPABASE_URL}/functions/v1/stripe-webhook`, false],
    [`${SUPABASE_URL}/functions/v1/stripe-webhook/connect`, true],
  ]);
  expect(endpoints[0].enabled_events.sort()).toEqual([...PLATFORM_EVENT_TYPES].sort());
  expect(endpoints[1].enabled_events.sort()).toEqual([...CONNECT_EVENT_TYPES].sort());
  expect(env.STRIPE_WEBHOOK_SECRET).toBe(endpoints[0].secret);
  expect(env.STRIPE_CONNECT_WEBHOOK_SECRET).toBe(endpoints[1].secret);

  // HubSpot: the five properties the CRM code writes
  expect(hubspot.createdProperties().map((p) => p.definition.name).sort()).toEqual(
    HUBSPOT_PROPERTY_DEFINITIONS.map((d) => d.name).sort(),
  );
  expect(hubspot.properties("deals")).toContain("backbone_order_id");

  // login roles: strong passwords (the placeholder replaced), each able to log in with its URL
  for (const { role, env: prefix } of LOGIN_ROLES) {
    const password = env[`${prefix}_DB_PASSWORD`];
    expect(password, role).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const db = connect(env[`${prefix}_DB_URL`], { max: 1 });
    try {
      const [{ who }] = await db`select current_user as who`;
      expect(who).toBe(role);
    } finally {
      await db.end();
    }
  }
  // the vault
  const vault = Object.fromEntries(
    (await sql`select name, decrypted_secret as value from vault.decrypted_secrets
               where name in ('functions_base_url', 'worker_secret', 'heartbeat_url')`).map((r) => [r.name, r.value]),
  );
  expect(vault).toEqual({
    functions_base_url: `${SUPABASE_URL}/functions/v1`,
    worker_secret: env.WORKER_SECRET,
    heartbeat_url: "https://hc-ping.example.com/setup-test-uuid",
  });

  // what it printed: each change, the secrets set line by name, never a value
  expect(run.stdout).toContain(`created the Stripe webhook endpoint ${SUPABASE_URL}/functions/v1/stripe-webhook (`);
  expect(run.stdout).toContain("created the HubSpot deals property backbone_order_id");
  expect(run.stdout).toContain("set the password of the login role health (generated)");
  expect(run.stdout).toContain("created the vault secret heartbeat_url");
  expect(run.stdout).toMatch(/supabase secrets set .*STRIPE_WEBHOOK_SECRET=<STRIPE_WEBHOOK_SECRET from /);
  for (const value of secretValues()) expect(run.output).not.toContain(value);
  expect(run.output).not.toContain("setup-test-uuid");
}, 120_000);

test("the second run changes nothing and says so", async () => {
  const before = readFileSync(envFile, "utf8");
  const requests = { stripe: stripe.webhookEndpoints.all().length, hubspot: hubspot.createdProperties().length };
  const run = await setup();
  expect(run.status, run.output).toBe(0);
  expect(run.stdout).toContain("nothing to change");
  expect(run.stdout).not.toContain("changed:");
  expect(run.stdout).not.toContain("supabase secrets set");
  expect(readFileSync(envFile, "utf8")).toBe(before);
  expect(stripe.webhookEndpoints.all().length).toBe(requests.stripe);
  expect(hubspot.createdProperties().length).toBe(requests.hubspot);
}, 120_000);

test("an endpoint someone disabled or trimmed is put back to the applied list, keeping its secret", async () => {
  const before = fileEnv().STRIPE_WEBHOOK_SECRET;
  // as someone in the dashboard: the platform endpoint loses two events and is disabled
  const platform = stripe.webhookEndpoints.all()[0];
  stripe.webhookEndpoints.reset();
  stripe.webhookEndpoints.put({
    ...platform,
    enabled_events: platform.enabled_events.filter((t) => !t.startsWith("refund.")),
    status: "disabled",
  });
  const run = await setup("--connect");
  expect(run.status, run.output).toBe(0);
  expect(run.stdout).toContain(
    `updated the Stripe webhook endpoint ${SUPABASE_URL}/functions/v1/stripe-webhook: 3 event(s) added, 0 removed, enabled again`,
  );
  // the Connect endpoint was gone: made again, with its new secret in the file
  expect(run.stdout).toContain(
    "created the Stripe webhook endpoint " + `${SUPABASE_URL}/functions/v1/stripe-webhook/connect`,
  );
  const [fixed] = stripe.webhookEndpoints.all();
  expect(fixed.status).toBe("enabled");
  expect(fixed.enabled_events.sort()).toEqual([...PLATFORM_EVENT_TYPES].sort());
  expect(fileEnv().STRIPE_WEBHOOK_SECRET).toBe(before);
  for (const value of secretValues()) expect(run.output).not.toContain(value);
}, 120_000);
