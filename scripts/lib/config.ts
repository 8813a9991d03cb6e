// Local stack configuration: defaults, then .env files, then the process environment (which wins),
// parsed the functions' way (_shared/config/env.ts): blank is unset, a bad value names its variable.
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { SignJWT } from "jose";
import { z } from "zod";
import { parseEnv, setting } from "../../supabase/functions/_shared/config/env.ts";
import { parseScope } from "../../supabase/functions/_shared/stripe/scope.ts";

export const ROOT = resolve(import.meta.dirname, "..", "..");

/** A dotenv text as the stack reads it: `KEY=value` lines, `export ` and quotes allowed, `#` comments. */
export function parseEnvText(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 1) continue;
    const key = line.slice(0, eq).trim().replace(/^export\s+/, "");
    let value = line.slice(eq + 1).trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    else value = value.replace(/\s+#.*$/, ""); // an unquoted value ends at an inline comment
    out[key] = value;
  }
  return out;
}

/** A dotenv file as the stack reads it (missing: empty); the doctor reads --env-file with it too. */
export function parseDotenv(path: string): Record<string, string> {
  return existsSync(path) ? parseEnvText(readFileSync(path, "utf8")) : {};
}

/** Later files override earlier ones; the real environment overrides all files. */
export function loadEnv(): Record<string, string> {
  const files = [".env", "supabase/.env", "supabase/functions/.env"].map((f) => resolve(ROOT, f));
  const merged: Record<string, string> = {};
  for (const f of files) Object.assign(merged, parseDotenv(f));
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) merged[k] = v;
  return merged;
}

const env = loadEnv();

/** The functions' login roles (migrations create them nologin; the stack sets their passwords) and the
 * env prefix of their settings: <PREFIX>_DB_PASSWORD here, <PREFIX>_DB_URL in the functions' env, whose
 * pools name their sessions after it (application_name <prefix>_db_url). */
export const LOGIN_ROLES = [
  { role: "stripe_webhook", env: "STRIPE_WEBHOOK" },
  { role: "pipeline_worker", env: "PIPELINE_WORKER" },
  { role: "support_intake", env: "SUPPORT_INTAKE" },
  { role: "provider_webhook", env: "PROVIDER_WEBHOOK" },
  { role: "reconciler", env: "RECONCILER" },
  { role: "dashboard", env: "DASHBOARD" },
  { role: "checkout", env: "CHECKOUT" },
  { role: "seller_onboarding", env: "SELLER_ONBOARDING" },
  { role: "health", env: "HEALTH" },
  { role: "billing_portal", env: "BILLING_PORTAL" },
] as const;
export type LoginRole = (typeof LOGIN_ROLES)[number]["role"];

const port = (fallback: number) => setting.int(fallback, 1, 65_535);
const stack = parseEnv(
  z.object({
    STACK_DIR: setting.text(".stack"),
    DB_PORT: port(54322),
    API_PORT: port(54321),
    FUNCTIONS_PORT_BASE: port(54400),
    POSTGRES_PASSWORD: setting.text("postgres"),
    SUPABASE_DB_URL: setting.text(),
    // Supabase's well-known local JWT secret: local only, never a production value.
    JWT_SECRET: setting.text("super-secret-jwt-token-with-at-least-32-characters-long"),
    DASHBOARD_SESSION_SECRET: setting.text("local-dashboard-session-secret-not-for-production"),
    // Local test secrets (Stripe's whsec_ shape), used when none is configured: two, as during a
    // rotation, so both the current and the previous secret are exercised.
    STRIPE_WEBHOOK_SECRET: setting.text(
      "whsec_local_current_not_for_production,whsec_local_previous_not_for_production",
    ),
    // the Connect endpoint's (stripe-webhook/connect), local and test-only likewise
    STRIPE_CONNECT_WEBHOOK_SECRET: setting.text(
      "whsec_local_connect_current_not_for_production,whsec_local_connect_previous_not_for_production",
    ),
    RESEND_WEBHOOK_SECRET: setting.text("whsec_bG9jYWwtcmVzZW5kLXdlYmhvb2stc2VjcmV0"),
    WORKER_SECRET: setting.text(),
    // hosted Edge Functions' worker limits, enforced by the local gateway (0 turns one off): see
    // docs/architecture.md, Local stack, and https://supabase.com/docs/guides/functions/limits
    FUNCTIONS_CPU_LIMIT_MS: setting.int(2_000, 0, 600_000),
    FUNCTIONS_MEMORY_LIMIT_MB: setting.int(256, 0, 65_536),
    FUNCTIONS_WALL_CLOCK_MS: setting.int(150_000, 0, 3_600_000),
    FUNCTIONS_IDLE_TIMEOUT_MS: setting.int(150_000, 0, 3_600_000),
    // the project's custom domain: without one, hosted rewrites GET answers' text/html to text/plain.
    // The local stack plays a project that has one (the dashboard needs it); "none" plays one without.
    FUNCTIONS_CUSTOM_DOMAIN: setting.text("127.0.0.1"),
    // tests only: a folder of extra functions (<name>/index.ts, verify_jwt off) the gateway also serves
    GATEWAY_EXTRA_FUNCTIONS_DIR: setting.text(),
  }),
  env,
);
const scope = parseScope(env);
/** A login role's own setting (<PREFIX>_DB_PASSWORD, <PREFIX>_DB_URL). */
const roleSetting = (key: string) => parseEnv(z.object({ [key]: setting.text() }), env)[key];

export const config = {
  env,
  stackDir: resolve(ROOT, stack.STACK_DIR),
  pgPort: stack.DB_PORT,
  apiPort: stack.API_PORT,
  /** First port of the range the function processes listen on (behind the gateway). */
  functionsPortBase: stack.FUNCTIONS_PORT_BASE,
  dbPassword: stack.POSTGRES_PASSWORD,
  /** What the gateway enforces on each function's worker, as hosted Edge Functions do (0: off). */
  functionLimits: {
    cpuMs: stack.FUNCTIONS_CPU_LIMIT_MS,
    memoryMb: stack.FUNCTIONS_MEMORY_LIMIT_MB,
    wallClockMs: stack.FUNCTIONS_WALL_CLOCK_MS,
    idleTimeoutMs: stack.FUNCTIONS_IDLE_TIMEOUT_MS,
    /** undefined: no custom domain, so text/html answers to GET become text/plain */
    customDomain: stack.FUNCTIONS_CUSTOM_DOMAIN === "none" ? undefined : stack.FUNCTIONS_CUSTOM_DOMAIN,
  },
  /** Tests only: extra functions the gateway serves (their folders' index.ts, verify_jwt off). */
  extraFunctionsDir: stack.GATEWAY_EXTRA_FUNCTIONS_DIR ? resolve(ROOT, stack.GATEWAY_EXTRA_FUNCTIONS_DIR) : undefined,
  /** A login role's password: <PREFIX>_DB_PASSWORD, else a local one (e.g. local-stripe-webhook-password). */
  roleDbPassword(role: LoginRole): string {
    const prefix = LOGIN_ROLES.find((r) => r.role === role)!.env;
    return roleSetting(`${prefix}_DB_PASSWORD`) ?? `local-${role.replace(/_/g, "-")}-password`;
  },
  /** A login role's connection URL: <PREFIX>_DB_URL, else the local database as that role. */
  roleDbUrl(role: LoginRole): string {
    const prefix = LOGIN_ROLES.find((r) => r.role === role)!.env;
    return roleSetting(`${prefix}_DB_URL`) ??
      `postgresql://${role}:${encodeURIComponent(this.roleDbPassword(role))}@127.0.0.1:${this.pgPort}/postgres`;
  },
  /** The dashboard's HMAC key for CSRF tokens: a local one when none is configured. */
  dashboardSessionSecret: stack.DASHBOARD_SESSION_SECRET,
  jwtSecret: stack.JWT_SECRET,
  stripeWebhookSecret: stack.STRIPE_WEBHOOK_SECRET,
  /** The Connect endpoint's signing secrets (comma list, rotation). */
  stripeConnectWebhookSecret: stack.STRIPE_CONNECT_WEBHOOK_SECRET,
  get stripeConnectWebhookSecrets(): string[] {
    return this.stripeConnectWebhookSecret.split(/[\s,]+/).filter(Boolean);
  },
  /** Resend's webhook signing secret (Svix's whsec_ + base64); a local one when none is configured. */
  resendWebhookSecret: stack.RESEND_WEBHOOK_SECRET,
  get stripeWebhookSecrets(): string[] {
    return this.stripeWebhookSecret.split(/[\s,]+/).filter(Boolean);
  },
  /** The Stripe mode and Connect platform account the webhook takes events from (test mode and no
   * account unless set); the local stack writes them into ops.settings, which must agree. */
  stripeLivemode: scope.livemode,
  stripeAccountId: scope.accountId,
  /** Where the local stack keeps the worker secret it generated on its first start. */
  get workerSecretFile() {
    return join(this.stackDir, "worker-secret");
  },
  /** What the workers accept (WORKER_SECRET, several comma-separated while rotating; the first is
   * the current one, which the vault's worker_secret holds), else the stack's generated secret. */
  get workerSecret(): string | undefined {
    if (stack.WORKER_SECRET) return stack.WORKER_SECRET;
    return existsSync(this.workerSecretFile) ? readFileSync(this.workerSecretFile, "utf8").trim() : undefined;
  },
  /** The database as postgres, which migrations and the SQL editor use: not a superuser, as on hosted. */
  get dbUrl() {
    return stack.SUPABASE_DB_URL ?? `postgresql://postgres:${this.dbPassword}@127.0.0.1:${this.pgPort}/postgres`;
  },
  /** The local cluster's superuser, supabase_admin (hosted keeps it to itself): the stack's own setup
   * (roles, extensions) and the few tests that play the platform. */
  get adminDbUrl() {
    return `postgresql://supabase_admin:${this.dbPassword}@127.0.0.1:${this.pgPort}/postgres`;
  },
  get apiUrl() {
    return `http://127.0.0.1:${this.apiPort}`;
  },
  functionUrl(name: string) {
    return `${this.apiUrl}/functions/v1/${name}`;
  },
};

/** The anon and service_role keys: JWTs signed with the stack's secret, as `supabase start` prints. */
export async function apiKeys(): Promise<{ anon: string; serviceRole: string }> {
  const key = new TextEncoder().encode(config.jwtSecret);
  const sign = (role: string) =>
    new SignJWT({ iss: "supabase-demo", role })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuedAt(1700000000)
      .setExpirationTime(2000000000)
      .sign(key);
  return { anon: await sign("anon"), serviceRole: await sign("service_role") };
}

/** A user's access token as GoTrue would issue it (tests and demos): its issuer is the auth server's
 * public URL, `<SUPABASE_URL>/auth/v1`, which the functions check. */
export async function userToken(sub: string, extra: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: `${config.apiUrl}/auth/v1`, sub, role: "authenticated", aud: "authenticated", ...extra })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(config.jwtSecret));
}
