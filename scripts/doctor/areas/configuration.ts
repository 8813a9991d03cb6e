// Area configuration: the deployment's settings as the functions will read them. Every variable each
// function needs is set (FUNCTION_SETTINGS: the one list, which tests/unit/doctor-configuration.test.ts
// checks against every setting name the functions' code reads), no placeholder or local value outside the
// local stack, Stripe keys in one mode (with STRIPE_LIVEMODE and ops.settings), and two env files (staging
// and production) share no secret and name different projects.
import { isPlaceholderSecret } from "../../../supabase/functions/_shared/config/env.ts";
import { mask, SECRET_NAME } from "../mask.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

/** Per function: what it needs outside the local stack (`needs`) and what it reads with a default or
 * optionally (`reads`). Platform variables (SUPABASE_*, SB_*, DENO_*) are Supabase's. */
export const FUNCTION_SETTINGS: Record<string, { needs: string[]; reads: string[] }> = {
  "health": {
    needs: ["HEALTH_DB_URL"],
    reads: ["HEALTH_CACHE_SECONDS"],
  },
  "stripe-webhook": {
    needs: ["STRIPE_WEBHOOK_DB_URL", "STRIPE_WEBHOOK_SECRET", "STRIPE_LIVEMODE"],
    reads: [
      "STRIPE_CONNECT_WEBHOOK_SECRET",
      "STRIPE_ACCOUNT_ID",
      "STRIPE_WEBHOOK_BATCH_MAX",
      "STRIPE_WEBHOOK_BATCHES_IN_FLIGHT",
    ],
  },
  "notify": {
    needs: [
      "PIPELINE_WORKER_DB_URL",
      "WORKER_SECRET",
      "RESEND_API_KEY",
      "NOTIFY_FROM_EMAIL",
      "FOUNDER_EMAIL",
      "SLACK_WEBHOOK_URL",
    ],
    reads: [
      "NOTIFY_EMAIL_ADAPTER",
      "NOTIFY_SLACK_ADAPTER",
      "APP_NAME",
      "APP_URL",
      "NOTIFY_FROM_NAME",
      "NOTIFY_REPLY_TO",
      "SELLER_ONBOARDING_PAGE_URL",
      "RESEND_BASE_URL",
      "RESEND_TIMEOUT_MS",
      "RESEND_RATE_LIMIT_PER_S",
      "SLACK_TIMEOUT_MS",
      "SUPPORT_INBOUND_DOMAIN",
      "SUPPORT_REPLY_SECRET",
    ],
  },
  "crm-sync": {
    needs: ["PIPELINE_WORKER_DB_URL", "WORKER_SECRET", "HUBSPOT_ACCESS_TOKEN"],
    reads: [
      "CRM_ADAPTER",
      "HUBSPOT_API_BASE",
      "HUBSPOT_TIMEOUT_MS",
      "HUBSPOT_DEAL_PIPELINE",
      "HUBSPOT_DEAL_STAGE_PAID",
      "HUBSPOT_DEAL_STAGE_REFUNDED",
      "HUBSPOT_RATE_LIMIT_PER_10S",
    ],
  },
  "support-desk": { needs: ["PIPELINE_WORKER_DB_URL", "WORKER_SECRET"], reads: [] },
  "reconcile": {
    needs: ["RECONCILER_DB_URL", "WORKER_SECRET", "STRIPE_RECONCILE_KEY"],
    reads: [
      "STRIPE_ACCOUNT_ID",
      "STRIPE_API_BASE",
      "STRIPE_TIMEOUT_MS",
      "RECONCILE_LOOKBACK_DAYS",
      "RECONCILE_GRACE_SECONDS",
      "RECONCILE_CHECK_HOURS",
      "RECONCILE_BUDGET_MS",
      "RECONCILE_PAGE_SIZE",
      "RECONCILE_CONNECT_ACCOUNTS",
    ],
  },
  "support-intake": {
    needs: ["SUPPORT_INTAKE_DB_URL", "SUPPORT_ALLOWED_ORIGINS"],
    reads: [
      "JWT_SECRET",
      "JWT_ISSUER",
      "TRUSTED_PROXY_HOPS",
      "SUPPORT_RATE_PER_USER_PER_MIN",
      "SUPPORT_RATE_PER_IP_PER_MIN",
    ],
  },
  "resend-webhook": {
    needs: ["PROVIDER_WEBHOOK_DB_URL", "RESEND_WEBHOOK_SECRET"],
    // email.received (#20): with the inbound domain and reply secret set, RESEND_API_KEY is needed too
    reads: ["SUPPORT_INBOUND_DOMAIN", "SUPPORT_REPLY_SECRET", "RESEND_API_KEY", "RESEND_BASE_URL", "RESEND_TIMEOUT_MS"],
  },
  "dashboard": {
    needs: ["DASHBOARD_DB_URL", "DASHBOARD_SESSION_SECRET", "DASHBOARD_PUBLIC_URL"],
    reads: ["JWT_SECRET", "JWT_ISSUER"],
  },
  "checkout": {
    needs: ["CHECKOUT_DB_URL", "STRIPE_SECRET_KEY", "CHECKOUT_SUCCESS_URLS", "CHECKOUT_CANCEL_URLS"],
    reads: [
      "STRIPE_ACCOUNT_ID",
      "STRIPE_API_BASE",
      "STRIPE_TIMEOUT_MS",
      "CHECKOUT_ALLOWED_ORIGINS",
      "SUPPORT_ALLOWED_ORIGINS",
      "CHECKOUT_RATE_PER_USER_PER_MIN",
      "JWT_SECRET",
      "JWT_ISSUER",
      "TRUSTED_PROXY_HOPS",
    ],
  },
  "billing-portal": {
    needs: ["BILLING_PORTAL_DB_URL", "STRIPE_SECRET_KEY", "BILLING_PORTAL_RETURN_URLS"],
    reads: [
      "STRIPE_ACCOUNT_ID",
      "STRIPE_API_BASE",
      "STRIPE_TIMEOUT_MS",
      "BILLING_PORTAL_ALLOWED_ORIGINS",
      "SUPPORT_ALLOWED_ORIGINS",
      "BILLING_PORTAL_RATE_PER_USER_PER_MIN",
      "JWT_SECRET",
      "JWT_ISSUER",
      "TRUSTED_PROXY_HOPS",
    ],
  },
  "seller-onboarding": {
    needs: [
      "SELLER_ONBOARDING_DB_URL",
      "STRIPE_SECRET_KEY",
      "SELLER_ONBOARDING_RETURN_URLS",
      "SELLER_ONBOARDING_REFRESH_URLS",
    ],
    reads: [
      "STRIPE_ACCOUNT_ID",
      "STRIPE_API_BASE",
      "STRIPE_TIMEOUT_MS",
      "SELLER_ONBOARDING_ALLOWED_ORIGINS",
      "SUPPORT_ALLOWED_ORIGINS",
      "SELLER_ONBOARDING_RATE_PER_USER_PER_MIN",
      "JWT_SECRET",
      "JWT_ISSUER",
      "TRUSTED_PROXY_HOPS",
    ],
  },
};
/** Read by every job worker (serveJobWorker) and by the workers' shared code. */
export const WORKER_SETTINGS = [
  "JOB_DRAIN_BUDGET_MS",
  "JOB_DRAIN_CONCURRENCY",
  "JOB_DRAIN_IDLE_MS",
  "JOB_DRAIN_BATCH",
  "JOB_DRAIN_CPU_MS",
  "WORKER_BARE_SECRET_UNTIL",
];

/** Values only the local stack may hold: anyone can read them (the functions' placeholder rule). */
const LOCAL_HOST = /@(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/;
export function localOrPlaceholder(name: string, value: string): string | null {
  if (!value.trim()) return null;
  if (SECRET_NAME.test(name) && isPlaceholderSecret(value)) return "a placeholder or local-only value";
  if (/replace[_-]?me|not[_-]for[_-]production/i.test(value)) return "a placeholder";
  if (/_DB_URL$/.test(name) && LOCAL_HOST.test(value)) return "a local database";
  if (/(_URL|_URLS|_ORIGINS)$/.test(name) && /\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?(\/|$|,)/.test(value)) {
    return "a local address";
  }
  return null;
}

/** A Stripe key's mode from its prefix, null when there is no key. */
const keyMode = (v: string | undefined) => v?.match(/^(?:sk|rk)_(live|test)_/)?.[1] ?? null;

/** The project a settings file names: SUPABASE_PROJECT_REF, the ref in SUPABASE_URL, or in a database URL. */
export function projectOf(env: Record<string, string>): string | null {
  if (env.SUPABASE_PROJECT_REF) return env.SUPABASE_PROJECT_REF;
  const fromUrl = /^https:\/\/([a-z0-9]+)\.supabase\.(co|in)/.exec(env.SUPABASE_URL ?? "")?.[1];
  if (fromUrl) return fromUrl;
  if (env.SUPABASE_URL) return env.SUPABASE_URL.replace(/\/+$/, "");
  for (const [k, v] of Object.entries(env)) {
    if (!/_DB_URL$/.test(k)) continue;
    const ref = /\/\/[a-z_]+\.([a-z0-9]{20})[:@]/.exec(v)?.[1] ?? /@db\.([a-z0-9]+)\.supabase\.co/.exec(v)?.[1];
    if (ref) return ref;
  }
  return null;
}

export function requiredFindings(ctx: DoctorContext): Finding[] {
  if (ctx.local) {
    return [pass("configuration.required", "local stack: the gateway gives each function its local settings")];
  }
  const missing = Object.entries(FUNCTION_SETTINGS).flatMap(([fn, s]) =>
    s.needs.filter((n) => !ctx.env[n]?.trim()).map((n) => `${fn}: ${n}`)
  );
  return [
    missing.length
      ? fail(
        "configuration.required",
        `not set: ${missing.join(", ")}`,
        "a function refuses to start or its work fails without them",
        "set each in the env file and run `supabase secrets set --env-file <file>`",
      )
      : pass(
        "configuration.required",
        `every function's ${
          new Set(Object.values(FUNCTION_SETTINGS).flatMap((s) => s.needs)).size
        } needed settings are set`,
      ),
  ];
}

export function placeholderFindings(ctx: DoctorContext): Finding[] {
  if (ctx.local) return [pass("configuration.placeholders", "local stack: its local values are its defaults")];
  const bad = Object.entries(ctx.env).map(([k, v]) => [k, localOrPlaceholder(k, v)] as const).filter(([, why]) => why)
    .map(([k, why]) => `${k} (${why})`);
  return [
    bad.length
      ? fail(
        "configuration.placeholders",
        bad.join(", "),
        "placeholders and local values are public: anyone could sign with them, and functions refuse them",
        "set real values (npm run setup generates passwords and secrets)",
      )
      : pass("configuration.placeholders", `${Object.keys(ctx.env).length} settings, no placeholder or local value`),
  ];
}

export async function stripeModeFindings(ctx: DoctorContext): Promise<Finding[]> {
  const keys = ["STRIPE_SECRET_KEY", "STRIPE_RECONCILE_KEY"].filter((k) => keyMode(ctx.env[k]));
  const livemodeSetting = (ctx.env.STRIPE_LIVEMODE ?? "").trim().toLowerCase() === "true";
  const modes = keys.map((k) => `${k} ${keyMode(ctx.env[k])}`);
  const want = livemodeSetting ? "live" : "test";
  const disagree = keys.filter((k) => keyMode(ctx.env[k]) !== want);
  let dbMode: string | null = null;
  const sql = ctx.db();
  if (sql) {
    try {
      const [row] = await sql<{ stripe_livemode: boolean }[]>`select stripe_livemode from ops.settings`;
      if (row) dbMode = row.stripe_livemode ? "live" : "test";
    } catch { /* the database area says why it is unreachable */ }
  }
  const saw = `STRIPE_LIVEMODE ${want}${modes.length ? `, ${modes.join(", ")}` : ", no Stripe key"}${
    dbMode ? `, ops.settings ${dbMode}` : ""
  }`;
  if (disagree.length || (dbMode && dbMode !== want)) {
    return [
      fail(
        "configuration.stripe_mode",
        saw,
        "a key of the other mode acts on other objects than the webhook records: checkout and reconciliation see nothing of the events, or the webhook refuses every delivery",
        `use ${want}-mode keys (${
          want === "live" ? "rk_live_" : "rk_test_"
        }...), or change STRIPE_LIVEMODE and \`update ops.settings set stripe_livemode = ...\` together`,
      ),
    ];
  }
  if (!ctx.local && !livemodeSetting && ctx.env.STRIPE_LIVEMODE === undefined) {
    return [
      warn(
        "configuration.stripe_mode",
        saw,
        "without STRIPE_LIVEMODE the webhook takes test-mode events only",
        "set STRIPE_LIVEMODE=true for production (false on staging)",
      ),
    ];
  }
  return [pass("configuration.stripe_mode", saw)];
}

export function environmentsFindings(ctx: DoctorContext): Finding[] {
  if (ctx.envFiles.length < 2) return [];
  const [a, b] = ctx.envFiles;
  const findings: Finding[] = [];
  const secretsOf = (env: Record<string, string>) =>
    Object.entries(env).filter(([k, v]) => SECRET_NAME.test(k) && v.trim() && !isPlaceholderSecret(v))
      .flatMap(([k, v]) => v.split(/[\s,]+/).filter(Boolean).map((item) => [k, item] as const));
  const bSecrets = new Map(secretsOf(b.env).map(([k, v]) => [v, k]));
  const shared = secretsOf(a.env).filter(([, v]) => bSecrets.has(v)).map(([k, v]) =>
    k === bSecrets.get(v) ? `${k} (${mask(v)})` : `${k} = ${bSecrets.get(v)} (${mask(v)})`
  );
  findings.push(
    shared.length
      ? fail(
        "configuration.shared_secrets",
        `${a.path} and ${b.path} share ${shared.join(", ")}`,
        "whoever holds staging's secrets then holds production's",
        "generate each environment's secrets apart (npm run setup per env file) and rotate the shared ones",
      )
      : pass("configuration.shared_secrets", `${a.path} and ${b.path} share no secret`),
  );
  const pa = projectOf(a.env);
  const pb = projectOf(b.env);
  findings.push(
    !pa || !pb
      ? warn(
        "configuration.projects",
        `project of ${a.path}: ${pa ?? "unknown"}, of ${b.path}: ${pb ?? "unknown"}`,
        "the doctor cannot tell the two deployments apart",
        "set SUPABASE_URL (https://<ref>.supabase.co) in each env file",
      )
      : pa === pb
      ? fail(
        "configuration.projects",
        `both name project ${pa}`,
        "staging and production in one project share their database and their webhooks",
        "give each its own Supabase project and set SUPABASE_URL accordingly",
      )
      : pass("configuration.projects", `${a.path}: ${pa}, ${b.path}: ${pb}`),
  );
  return findings;
}

export const configuration: Area = {
  name: "configuration",
  async run(ctx) {
    return [
      ...requiredFindings(ctx),
      ...placeholderFindings(ctx),
      ...(await stripeModeFindings(ctx)),
      ...environmentsFindings(ctx),
    ];
  },
};
