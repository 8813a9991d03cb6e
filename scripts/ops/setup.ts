// npm run setup -- --env-file <file> [--connect] (#19): what a deployment needs once, idempotent, printing
// only what it changed: the Stripe webhook endpoints (platform, and Connect when ops.settings.connect_enabled or
// --connect) with exactly the applied event lists, their signing secrets written into the env file; the HubSpot
// custom properties the CRM code uses; a strong password for each login role that has none (set with
// `alter role ... login password`, kept in the env file with the role's *_DB_URL); the vault secrets
// (functions_base_url, worker_secret, heartbeat_url). Secrets are never printed: they go to the env file, and
// the `supabase secrets set` line names them only. Run twice, the second run changes nothing and says so.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import Stripe from "stripe";
import { LOGIN_ROLES } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";
import { CONNECT_EVENT_TYPES, PLATFORM_EVENT_TYPES } from "../lib/stripe-event-types.ts";
import { HUBSPOT_PROPERTIES } from "../../supabase/functions/_shared/crm/hubspot.ts";
import { isPlaceholderSecret } from "../../supabase/functions/_shared/config/env.ts";
import { stripeApi } from "../../supabase/functions/_shared/stripe/client.ts";
import { readEnvFile, writeEnvValues } from "./env-file.ts";

type Env = Record<string, string>;
/** What one run did: lines printed, values for the env file, names of function secrets it changed. */
type Run = { changed: string[]; notes: string[]; toFile: Env; functionSecrets: Set<string> };

/** The custom properties the CRM adapter writes (HUBSPOT_PROPERTIES), as HubSpot's properties API takes them. */
export const HUBSPOT_PROPERTY_DEFINITIONS = [
  {
    objectType: "deals",
    name: HUBSPOT_PROPERTIES.dealOrderId,
    label: "Backbone order id",
    type: "string",
    fieldType: "text",
    hasUniqueValue: true,
  },
  {
    objectType: "deals",
    name: HUBSPOT_PROPERTIES.dealRefundedAmount,
    label: "Refunded amount",
    type: "number",
    fieldType: "number",
  },
  {
    objectType: "deals",
    name: HUBSPOT_PROPERTIES.dealNeedsReview,
    label: "Needs review",
    type: "bool",
    fieldType: "booleancheckbox",
    options: [{ label: "Yes", value: "true" }, { label: "No", value: "false" }],
  },
  {
    objectType: "contacts",
    name: HUBSPOT_PROPERTIES.contactBillingStatus,
    label: "Billing status",
    type: "string",
    fieldType: "text",
  },
  {
    objectType: "contacts",
    name: HUBSPOT_PROPERTIES.contactSellerStatus,
    label: "Seller status",
    type: "string",
    fieldType: "text",
  },
] as const;

const strongSecret = () => randomBytes(32).toString("base64url");
const set = (env: Env, key: string) => !!env[key]?.trim() && !isPlaceholderSecret(env[key]);

// ---------------------------------------------------------------- Stripe
async function stripeEndpoints(env: Env, run: Run, wantConnect: boolean) {
  if (!set(env, "STRIPE_SECRET_KEY")) {
    run.notes.push("Stripe: STRIPE_SECRET_KEY is not set, no endpoint checked");
    return;
  }
  const api = stripeApi(env.STRIPE_API_BASE || "https://api.stripe.com");
  const stripe = new Stripe(env.STRIPE_SECRET_KEY, { ...api, maxNetworkRetries: 2, telemetry: false });
  const base = `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/stripe-webhook`;
  const wanted = [
    { url: base, events: [...PLATFORM_EVENT_TYPES], connect: false, secretVar: "STRIPE_WEBHOOK_SECRET" },
    ...(wantConnect
      ? [{
        url: `${base}/connect`,
        events: [...CONNECT_EVENT_TYPES],
        connect: true,
        secretVar: "STRIPE_CONNECT_WEBHOOK_SECRET",
      }]
      : []),
  ];
  const existing = (await stripe.webhookEndpoints.list({ limit: 100 })).data;
  for (const w of wanted) {
    const mine = existing.filter((e) => e.url === w.url);
    if (mine.length === 0) {
      const made = await stripe.webhookEndpoints.create({
        url: w.url,
        enabled_events: w.events as Stripe.WebhookEndpointCreateParams.EnabledEvent[],
        ...(w.connect ? { connect: true } : {}),
        description: "stripe-supabase-backbone (npm run setup)",
      });
      run.toFile[w.secretVar] = made.secret!;
      run.functionSecrets.add(w.secretVar);
      run.changed.push(
        `created the Stripe webhook endpoint ${w.url} (${w.events.length} events); its signing secret is in the ` +
          `env file as ${w.secretVar}`,
      );
      continue;
    }
    if (mine.length > 1) {
      run.notes.push(`Stripe: ${mine.length} endpoints for ${w.url}: delete all but one in the dashboard`);
    }
    const e = mine[0];
    const have = new Set(e.enabled_events);
    const missing = w.events.filter((t) => !have.has(t));
    const extra = e.enabled_events.filter((t) => !(w.events as string[]).includes(t));
    if (missing.length || extra.length || e.status !== "enabled") {
      await stripe.webhookEndpoints.update(e.id, {
        enabled_events: w.events as Stripe.WebhookEndpointUpdateParams.EnabledEvent[],
        disabled: false,
      });
      run.changed.push(
        `updated the Stripe webhook endpoint ${w.url}: ${missing.length} event(s) added, ${extra.length} removed` +
          (e.status !== "enabled" ? ", enabled again" : ""),
      );
    }
    if (!set(env, w.secretVar)) {
      run.notes.push(
        `Stripe: ${w.url} exists but ${w.secretVar} is not in the env file: Stripe shows a signing secret only ` +
          `when the endpoint is made; roll it in the dashboard (Developers > Webhooks) and put it in the env file`,
      );
    }
  }
}

// ---------------------------------------------------------------- HubSpot
async function hubspotProperties(env: Env, run: Run) {
  if (!set(env, "HUBSPOT_ACCESS_TOKEN")) {
    run.notes.push("HubSpot: HUBSPOT_ACCESS_TOKEN is not set, no property checked");
    return;
  }
  const base = (env.HUBSPOT_API_BASE || "https://api.hubapi.com").replace(/\/+$/, "");
  const headers = { authorization: `Bearer ${env.HUBSPOT_ACCESS_TOKEN}`, "content-type": "application/json" };
  for (const { objectType, ...definition } of HUBSPOT_PROPERTY_DEFINITIONS) {
    const path = `${base}/crm/v3/properties/${objectType}`;
    const got = await fetch(`${path}/${definition.name}`, { headers });
    await got.body?.cancel();
    if (got.ok) continue;
    if (got.status !== 404) throw new Error(`HubSpot answered ${got.status} reading the property ${definition.name}`);
    const made = await fetch(path, {
      method: "POST",
      headers,
      body: JSON.stringify({
        ...definition,
        groupName: objectType === "deals" ? "dealinformation" : "contactinformation",
      }),
    });
    await made.body?.cancel();
    if (made.status === 409) continue; // made meanwhile
    if (!made.ok) throw new Error(`HubSpot answered ${made.status} creating the property ${definition.name}`);
    run.changed.push(`created the HubSpot ${objectType} property ${definition.name}`);
  }
}

// ---------------------------------------------------------------- database: login roles and vault
/** SUPABASE_DB_URL as `role` with `password` (a pooler's user is <role>.<project-ref>). */
function roleUrl(dbUrl: string, role: string, password: string): string {
  const u = new URL(dbUrl);
  u.username = u.username.replace(/^postgres(?=\.|$)/, role);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function canLogIn(url: string): Promise<boolean> {
  const db = connect(url, { max: 1, connect_timeout: 10 });
  try {
    await db`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await db.end({ timeout: 1 });
  }
}

async function loginRoles(sql: Sql, env: Env, run: Run) {
  const existing = new Set((await sql`select rolname from pg_roles`).map((r) => r.rolname as string));
  for (const { role, env: prefix } of LOGIN_ROLES) {
    if (!existing.has(role)) {
      run.notes.push(`database: no role ${role} yet (run npm run deploy first: db push creates it)`);
      continue;
    }
    const pwVar = `${prefix}_DB_PASSWORD`;
    const urlVar = `${prefix}_DB_URL`;
    let password = set(env, pwVar) ? env[pwVar] : undefined;
    const url = () => roleUrl(env.SUPABASE_DB_URL, role, password!);
    if (password && await canLogIn(url())) {
      if (env[urlVar] !== url()) {
        run.toFile[urlVar] = url();
        run.functionSecrets.add(urlVar);
        run.changed.push(`wrote ${urlVar} (the ${role} login, for its function) into the env file`);
      }
      continue;
    }
    const generated = !password;
    password ??= strongSecret();
    await sql.unsafe(`alter role ${role} with login password '${password.replace(/'/g, "''")}'`);
    run.toFile[pwVar] = password;
    run.toFile[urlVar] = url();
    run.functionSecrets.add(urlVar);
    run.changed.push(
      `set the password of the login role ${role} (${generated ? "generated" : "the env file's"}); ${pwVar} and ` +
        `${urlVar} are in the env file`,
    );
  }
}

async function vaultSecrets(sql: Sql, env: Env, run: Run) {
  let worker = env.WORKER_SECRET?.split(",").map((s) => s.trim()).find(Boolean);
  if (!worker || isPlaceholderSecret(worker)) {
    worker = strongSecret();
    run.toFile.WORKER_SECRET = worker;
    run.functionSecrets.add("WORKER_SECRET");
    run.changed.push("generated WORKER_SECRET into the env file");
  }
  const wanted: Env = {
    functions_base_url: `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1`,
    worker_secret: worker,
    ...(env.HEARTBEAT_URL?.trim() ? { heartbeat_url: env.HEARTBEAT_URL.trim() } : {}),
  };
  for (const [name, value] of Object.entries(wanted)) {
    const [row] = await sql<{ id: string; value: string }[]>`
      select id, decrypted_secret as value from vault.decrypted_secrets where name = ${name}`;
    if (row?.value === value) continue;
    if (row) await sql`select vault.update_secret(${row.id}, ${value})`;
    else await sql`select vault.create_secret(${value}, ${name}, 'set by npm run setup')`;
    run.changed.push(`${row ? "updated" : "created"} the vault secret ${name}`);
  }
}

export async function setup(envFile: string, opts: { connect?: boolean } = {}): Promise<Run> {
  const env = readEnvFile(envFile);
  for (const key of ["SUPABASE_URL", "SUPABASE_DB_URL"]) {
    if (!env[key]) throw new Error(`${key} is not set in ${envFile}: setup needs the project's URL and database`);
  }
  const run: Run = { changed: [], notes: [], toFile: {}, functionSecrets: new Set() };
  const sql = connect(env.SUPABASE_DB_URL, { max: 1 });
  try {
    const [s] = await sql<{ connect_enabled: boolean }[]>`select connect_enabled from ops.settings where id`;
    await stripeEndpoints(env, run, !!opts.connect || !!s?.connect_enabled);
    await hubspotProperties(env, run);
    await loginRoles(sql, env, run);
    await vaultSecrets(sql, env, run);
  } finally {
    // what was made is kept even when a later step fails: the next run finds it and does not make it twice
    if (Object.keys(run.toFile).length) writeEnvValues(envFile, run.toFile);
    await sql.end({ timeout: 5 });
  }
  return run;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("scripts/ops/setup.ts")) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf("--env-file");
  const envPath = at >= 0 ? argv[at + 1] : undefined;
  if (!envPath) {
    console.error("usage: npm run setup -- --env-file <file> [--connect]");
    process.exit(2);
  }
  try {
    const run = await setup(resolve(envPath), { connect: argv.includes("--connect") });
    for (const line of run.changed) console.log(`changed: ${line}`);
    for (const line of run.notes) console.log(`note: ${line}`);
    if (!run.changed.length) console.log("nothing to change: everything setup does was already in place");
    if (run.functionSecrets.size) {
      const names = [...run.functionSecrets].sort();
      console.log(`\nnext: give the functions their new secrets (values are in ${envPath}, never printed):`);
      console.log(`  supabase secrets set ${names.map((n) => `${n}=<${n} from ${envPath}>`).join(" ")}`);
      console.log(`  (npm run deploy -- --env-file ${envPath} sets every function secret of the file)`);
    }
  } catch (err) {
    console.error(`setup stopped: ${(err as Error).message}`);
    console.error("what it made before stopping is kept (and in the env file); run it again once fixed");
    process.exit(1);
  }
}
