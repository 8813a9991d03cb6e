// Doctor area "stripe" (#19): the webhook endpoints for our URLs exist, are enabled and listen to every event
// type the dispatcher applies (scripts/lib/stripe-event-types.ts: missing FAIL, extra WARN); the Connect
// endpoint once sellers have connected accounts. Reads with STRIPE_DOCTOR_KEY (a restricted key with Read on
// Webhook Endpoints), else STRIPE_SECRET_KEY, through the official SDK at STRIPE_API_BASE.
import Stripe from "stripe";
import { stripeApi } from "../../../supabase/functions/_shared/stripe/client.ts";
import { webhookEndpoints } from "../../lib/stripe-event-types.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

type Endpoint = { id: string; url: string; status: string; enabled_events: string[] };

const norm = (url: string) => url.replace(/\/+$/, "");
const few = (list: string[]) =>
  list.length > 6 ? `${list.slice(0, 6).join(", ")} and ${list.length - 6} more` : list.join(", ");

/** Sellers with a connected account, or null when the database cannot be asked. */
async function sellerAccounts(ctx: DoctorContext): Promise<number | null> {
  try {
    const sql = ctx.db();
    if (!sql) return null;
    const [row] = await sql`select count(*)::int as n from public.seller_accounts`;
    return row.n as number;
  } catch {
    return null;
  }
}

function stripeFailure(e: unknown): string {
  const err = e as { statusCode?: number; code?: string; type?: string };
  if (err.statusCode === 401) return "Stripe refused the key (401)";
  if (err.statusCode === 403) return "the key may not read webhook endpoints (403)";
  return `Stripe's API failed: ${err.statusCode ?? "no answer"} ${err.code ?? err.type ?? ""}`.trim();
}

export function checkEndpoint(
  check: string,
  expected: readonly string[],
  found: Endpoint[],
  url: string,
  missingStatus: "FAIL" | "WARN",
): Finding[] {
  const fix = "run `npm run setup` (creates it with exactly the applied events), or add it in Stripe's dashboard";
  if (found.length === 0) {
    const saw = `no webhook endpoint for ${url}`;
    const why = "Stripe sends nothing there: payments, refunds and payouts would never reach the database";
    return [missingStatus === "FAIL" ? fail(check, saw, why, fix) : warn(check, saw, why, fix)];
  }
  const out: Finding[] = [];
  if (found.length > 1) {
    out.push(warn(
      check,
      `${found.length} endpoints for ${url} (${found.map((e) => e.id).join(", ")})`,
      "each delivers every event again, signed with its own secret, and only one secret is set",
      "delete the extra endpoints in Stripe's dashboard",
    ));
  }
  const enabled = found.filter((e) => e.status === "enabled");
  if (enabled.length === 0) {
    return [
      ...out,
      fail(
        check,
        `${found[0].id} for ${url} is ${found[0].status}`,
        "a disabled endpoint receives nothing",
        "enable it in Stripe's dashboard (Developers > Webhooks)",
      ),
    ];
  }
  const events = new Set(enabled.flatMap((e) => e.enabled_events));
  const all = events.has("*");
  const missing = all ? [] : expected.filter((t) => !events.has(t));
  const extra = all ? ["*"] : [...events].filter((t) => !expected.includes(t));
  if (missing.length) {
    out.push(fail(
      check,
      `${enabled[0].id} misses ${missing.length} applied event type(s): ${few(missing)}`,
      "the database never hears of these events, so its state drifts from Stripe's",
      "run `npm run setup`, or add these events to the endpoint in Stripe's dashboard",
    ));
  }
  if (extra.length) {
    out.push(warn(
      check,
      `${enabled[0].id} also sends ${all ? "every event type (*)" : few(extra)}`,
      "events nothing applies are recorded as ignored: load and storage for nothing",
      "remove them from the endpoint (npm run setup sets exactly the applied list)",
    ));
  }
  if (!missing.length && !extra.length) {
    out.push(pass(check, `${enabled[0].id} enabled, listens to exactly the ${expected.length} applied event types`));
  }
  return out;
}

export const area: Area = {
  name: "stripe",
  async run(ctx) {
    const base = ctx.env.SUPABASE_URL;
    if (!base) {
      return [fail("stripe.endpoints", "SUPABASE_URL is not set", "the endpoints' URLs derive from it", "set it")];
    }
    if (ctx.local) {
      return [warn(
        "stripe.endpoints",
        "local stack: Stripe cannot deliver to a loopback URL",
        "locally `stripe listen` (npm start prints the command) forwards events instead of endpoints",
        "run the doctor against a deployment's env file to check its endpoints",
      )];
    }
    const key = ctx.env.STRIPE_DOCTOR_KEY || ctx.env.STRIPE_SECRET_KEY;
    if (!key) {
      return [fail(
        "stripe.endpoints",
        "neither STRIPE_DOCTOR_KEY nor STRIPE_SECRET_KEY is set",
        "the endpoints cannot be read",
        "set STRIPE_DOCTOR_KEY to a restricted key with Read on Webhook Endpoints",
      )];
    }
    const api = stripeApi(ctx.env.STRIPE_API_BASE || "https://api.stripe.com");
    const stripe = new Stripe(key, {
      host: api.host,
      port: api.port,
      protocol: api.protocol,
      httpClient: Stripe.createFetchHttpClient(),
      maxNetworkRetries: 2,
      timeout: 15_000,
      telemetry: false,
      appInfo: { name: "stripe-supabase-backbone doctor" },
    });
    const all: Endpoint[] = [];
    try {
      for await (const e of stripe.webhookEndpoints.list({ limit: 100 })) all.push(e);
    } catch (e) {
      return [fail(
        "stripe.endpoints",
        stripeFailure(e),
        "the endpoints cannot be checked",
        "give the key Read on Webhook Endpoints (Developers > API keys > restricted key)",
      )];
    }
    const sellers = await sellerAccounts(ctx);
    const out: Finding[] = [];
    for (const ep of webhookEndpoints(base)) {
      const found = all.filter((e) => norm(e.url) === norm(ep.url));
      if (ep.kind === "platform") {
        out.push(...checkEndpoint("stripe.platform-endpoint", ep.events, found, ep.url, "FAIL"));
        continue;
      }
      if (found.length === 0 && sellers === 0) {
        out.push(pass("stripe.connect-endpoint", "no Connect endpoint, and no seller has a connected account yet"));
      } else if (found.length === 0 && sellers === null) {
        out.push(
          ...checkEndpoint("stripe.connect-endpoint", ep.events, found, ep.url, "WARN").map((f) => ({
            ...f,
            saw: `${f.saw} (the database could not say whether sellers have connected accounts)`,
          })),
        );
      } else {
        out.push(...checkEndpoint("stripe.connect-endpoint", ep.events, found, ep.url, "FAIL"));
      }
    }
    return out;
  },
};
