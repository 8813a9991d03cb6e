// Doctor area "endpoints" (#19): what Stripe and browsers meet. The TLS certificates of the functions host
// (SUPABASE_URL) and of the custom domain (DASHBOARD_PUBLIC_URL's host, else FUNCTIONS_CUSTOM_DOMAIN) verify
// for the name, last 21 days more and come over TLS 1.2+; the webhook refuses an unsigned POST with 400 within
// a second (signature checking is on); the dashboard is HTML on the custom domain and plain http redirects to
// https; the browser doors' allowed origins hold no wildcard.
import { fetchOnce } from "../net/http.ts";
import { lookupFor } from "../net/resolve.ts";
import { probeTls, trustedCas } from "../net/tls.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

const MIN_DAYS = 21;
/** The webhook's answer to an unsigned request within this: Stripe waits for answers, and a slow one is a
 * cold or overloaded function */
export const WEBHOOK_ANSWER_MS = 1_000;
const ORIGIN_SETTINGS = [
  "SUPPORT_ALLOWED_ORIGINS",
  "CHECKOUT_ALLOWED_ORIGINS",
  "SELLER_ONBOARDING_ALLOWED_ORIGINS",
  "BILLING_PORTAL_ALLOWED_ORIGINS",
];

type Net = { ca?: string[]; lookup: ReturnType<typeof lookupFor> };
const port = (u: URL) => Number(u.port || (u.protocol === "http:" ? 80 : 443));

async function tlsCheck(check: string, u: URL, net: Net): Promise<Finding> {
  const fixTls = "renew or reissue the certificate for this name (Supabase: Project Settings > Custom Domains)";
  const probe = await probeTls(u.hostname, port(u), { ...net, timeoutMs: 10_000 });
  if (!probe.ok) {
    if (probe.protocol) {
      return fail(
        check,
        `${u.host} speaks ${probe.protocol} at best`,
        "Stripe and browsers require TLS 1.2 or newer",
        "enable TLS 1.2 and 1.3 on the host",
      );
    }
    return fail(
      check,
      `${u.host}: no TLS handshake (${probe.error})`,
      "Stripe cannot deliver, browsers see an error",
      fixTls,
    );
  }
  if (!probe.authorized) {
    return fail(
      check,
      `${u.host}: certificate does not verify (${probe.authorizationError}; names ${probe.names})`,
      "Stripe refuses to deliver to a host whose certificate does not verify, browsers show a warning",
      fixTls,
    );
  }
  const days = Math.floor((probe.validTo.getTime() - Date.now()) / 86_400_000);
  if (days < MIN_DAYS) {
    return fail(
      check,
      `${u.host}: certificate expires in ${days} day(s) (${probe.validTo.toISOString().slice(0, 10)})`,
      "when it expires, webhooks and the app stop",
      "renew it now (and check why automatic renewal has not)",
    );
  }
  if (!/^TLSv1\.[23]$/.test(probe.protocol ?? "")) {
    return fail(check, `${u.host}: negotiated ${probe.protocol}`, "TLS 1.2 or newer is required", "enable TLS 1.2+");
  }
  return pass(check, `${u.host}: valid for the name, ${days} days left, ${probe.protocol}`);
}

async function unsignedWebhook(check: string, url: string, net: Net): Promise<Finding> {
  // the fastest of two tries: the first may wake a cold function
  let best: { status: number; ms: number } | null = null;
  let error = "";
  for (let i = 0; i < 2 && !(best && best.ms <= WEBHOOK_ANSWER_MS); i++) {
    try {
      const a = await fetchOnce(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "evt_doctor_unsigned", type: "doctor.check" }),
        ...net,
        timeoutMs: 10_000,
      });
      if (!best || a.ms < best.ms) best = { status: a.status, ms: a.ms };
    } catch (e) {
      error = (e as Error).message;
    }
  }
  if (!best) {
    return fail(check, `${url}: no answer (${error})`, "Stripe cannot deliver events", "deploy stripe-webhook");
  }
  const ms = Math.round(best.ms);
  if (best.status !== 400) {
    return fail(
      check,
      `an unsigned POST to ${url} answered ${best.status}`,
      best.status < 300
        ? "anyone could post fake events: signature checking is off"
        : "the webhook should refuse an unsigned request with 400 (is it deployed, its secret set?)",
      "deploy stripe-webhook as it is in this repository with STRIPE_WEBHOOK_SECRET set",
    );
  }
  if (best.ms > WEBHOOK_ANSWER_MS) {
    return fail(
      check,
      `an unsigned POST to ${url} was refused after ${ms} ms`,
      "a webhook this slow to refuse is cold or overloaded: Stripe times deliveries out and retries",
      "check the function's logs and the region's latency",
    );
  }
  return pass(check, `an unsigned POST to ${url} was refused with 400 in ${ms} ms`);
}

/** The custom domain's URL: DASHBOARD_PUBLIC_URL's origin when it is not the functions host, else
 * FUNCTIONS_CUSTOM_DOMAIN (host[:port]); null when there is none. */
export function customDomain(env: Record<string, string>): URL | null {
  const functions = env.SUPABASE_URL ? new URL(env.SUPABASE_URL).host : "";
  if (env.DASHBOARD_PUBLIC_URL) {
    const u = new URL(env.DASHBOARD_PUBLIC_URL);
    if (u.host !== functions) return new URL(u.origin);
  }
  const d = env.FUNCTIONS_CUSTOM_DOMAIN;
  if (!d || d === "none") return null;
  const u = new URL(/^https?:\/\//.test(d) ? d : `https://${d}`);
  // the local stack's gateway plays a custom domain on the functions host itself
  return env.SUPABASE_URL && u.hostname === new URL(env.SUPABASE_URL).hostname
    ? new URL(new URL(env.SUPABASE_URL).origin)
    : u;
}

async function dashboardChecks(env: Record<string, string>, custom: URL, net: Net, local: boolean): Promise<Finding[]> {
  const out: Finding[] = [];
  const page = env.DASHBOARD_PUBLIC_URL || `${custom.origin}/functions/v1/dashboard`;
  try {
    const a = await fetchOnce(page, { ...net, timeoutMs: 10_000 });
    const type = String(a.headers["content-type"] ?? "");
    if (/^text\/html/i.test(type) && /<html|<!doctype html/i.test(a.body)) {
      out.push(pass("endpoints.dashboard-html", `${page} answered ${a.status} ${type}`));
    } else {
      out.push(fail(
        "endpoints.dashboard-html",
        `${page} answered ${a.status} ${type || "without a content type"}`,
        "without a custom domain Supabase serves a function's HTML as text/plain: the browser shows source",
        "add a custom domain (Supabase add-on) and set DASHBOARD_PUBLIC_URL on it; deploy the dashboard function",
      ));
    }
  } catch (e) {
    out.push(
      fail("endpoints.dashboard-html", `${page}: ${(e as Error).message}`, "the dashboard is unreachable", "deploy it"),
    );
  }
  if (local || custom.protocol === "http:") {
    out.push(warn(
      "endpoints.http-redirect",
      `${custom.host} is served over plain http (local stack)`,
      "a deployment must redirect http to https",
      "nothing to do locally; run the doctor against the deployment",
    ));
    return out;
  }
  const plain = new URL(page);
  plain.protocol = "http:";
  try {
    const a = await fetchOnce(plain.href, { ...net, timeoutMs: 10_000 });
    const location = String(a.headers.location ?? "");
    if ([301, 302, 307, 308].includes(a.status) && location.startsWith("https://")) {
      out.push(pass("endpoints.http-redirect", `${plain.href} redirects (${a.status}) to ${location}`));
    } else {
      out.push(fail(
        "endpoints.http-redirect",
        `${plain.href} answered ${a.status}${location ? ` to ${location}` : ""}`,
        "plain http sends session cookies and tokens readable on the way",
        "redirect http to https on the custom domain (and send HSTS)",
      ));
    }
  } catch (e) {
    out.push(warn(
      "endpoints.http-redirect",
      `${plain.href}: ${(e as Error).message}`,
      "plain http is not answered at all: fine for safety, but typed URLs fail",
      "redirect http to https on the custom domain",
    ));
  }
  return out;
}

export function originsCheck(env: Record<string, string>, local: boolean): Finding {
  const problems: string[] = [];
  const loose: string[] = [];
  const seen: string[] = [];
  for (const name of ORIGIN_SETTINGS) {
    const list = (env[name] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    for (const o of list) {
      seen.push(o);
      if (o.includes("*") || o === "null") problems.push(`${name}=${o}`);
      else if (!local && !o.startsWith("https://")) loose.push(`${name}=${o}`);
    }
  }
  if (problems.length) {
    return fail(
      "endpoints.allowed-origins",
      `wildcard or null origin: ${problems.join(", ")}`,
      "any site (or a sandboxed frame) could call the browser doors with the user's token",
      "list the app's exact origins, comma-separated (https://app.example.com)",
    );
  }
  if (!env.SUPPORT_ALLOWED_ORIGINS) {
    return warn(
      "endpoints.allowed-origins",
      local
        ? "local stack: SUPPORT_ALLOWED_ORIGINS is not set (the gateway allows http://localhost:3000)"
        : "SUPPORT_ALLOWED_ORIGINS is not set",
      "browsers cannot call support-intake, checkout or seller-onboarding",
      "set it to the app's origin(s)",
    );
  }
  if (loose.length) {
    return warn(
      "endpoints.allowed-origins",
      `not https: ${loose.join(", ")}`,
      "a page served over http can be altered on the way and call the doors as the user",
      "list only the app's https origins in a deployment",
    );
  }
  return pass("endpoints.allowed-origins", `exact origins only: ${[...new Set(seen)].join(", ")}`);
}

export const area: Area = {
  name: "endpoints",
  async run(ctx: DoctorContext) {
    const env = ctx.env;
    if (!env.SUPABASE_URL) {
      return [fail("endpoints.functions-url", "SUPABASE_URL is not set", "nothing to check", "set it")];
    }
    const net: Net = { ca: trustedCas(env), lookup: lookupFor(ctx) };
    const functions = new URL(env.SUPABASE_URL);
    const out: Finding[] = [];
    if (functions.protocol === "http:") {
      const saw = `${functions.host} is plain http`;
      out.push(
        ctx.local
          ? warn("endpoints.tls-functions", `${saw} (local stack: no TLS)`, "a deployment is https", "nothing locally")
          : fail("endpoints.tls-functions", saw, "Stripe delivers only to https", "use the project's https URL"),
      );
    } else {
      out.push(await tlsCheck("endpoints.tls-functions", functions, net));
    }
    const custom = customDomain(env);
    if (!custom) {
      out.push(warn(
        "endpoints.tls-custom-domain",
        `no custom domain (DASHBOARD_PUBLIC_URL on the functions host, no FUNCTIONS_CUSTOM_DOMAIN)${
          ctx.local ? ": local stack" : ""
        }`,
        "the dashboard's HTML is served as text/plain without one",
        "add a custom domain and set DASHBOARD_PUBLIC_URL to https://<domain>/functions/v1/dashboard",
      ));
    } else if (custom.protocol === "http:") {
      out.push(warn("endpoints.tls-custom-domain", `${custom.host} is plain http (local stack)`, "", ""));
    } else {
      out.push(await tlsCheck("endpoints.tls-custom-domain", custom, net));
    }
    const hook = `${env.SUPABASE_URL.replace(/\/+$/, "")}/functions/v1/stripe-webhook`;
    out.push(await unsignedWebhook("endpoints.webhook-signature", hook, net));
    if (env.STRIPE_CONNECT_WEBHOOK_SECRET) {
      out.push(await unsignedWebhook("endpoints.connect-webhook-signature", `${hook}/connect`, net));
    }
    if (custom) out.push(...await dashboardChecks(env, custom, net, ctx.local));
    out.push(originsCheck(env, ctx.local));
    return out;
  },
};
