// A Stripe API fake (node:http on 127.0.0.1) for what reconciliation reads, modelling what bites:
// lists newest first with cursor paging (limit, starting_after, has_more) and created[gte|gt|lte|lt]
// filters, a cursor that names an unknown object (404 resource_missing), Bearer auth that refuses
// another key (401, as Stripe: the key masked in the message), and injected faults (429 with or without
// Retry-After, 500, 503 with Stripe-Should-Retry: false) on the next matching requests.
//
// It holds events (addEvents); the objects it lists (Checkout sessions, payment intents, subscriptions)
// are the newest state its events carry, as in Stripe, unless a test puts or removes one (putObject,
// removeObject) to seed drift. GET /v1/events, /v1/checkout/sessions[/id], /v1/payment_intents[/id],
// /v1/subscriptions[/id] (status: default "not canceled", "all", or one status).
//
// What checkout creates (#18): POST /v1/customers, GET /v1/customers/:id, POST /v1/checkout/sessions
// (payment and subscription modes; form-encoded bodies as stripe-node sends them), with Stripe's
// Idempotency-Key semantics: the same key and parameters replay the first answer (Idempotent-Replayed:
// true), the same key with other parameters is a 400 idempotency_error, a fault injected before the
// request runs saves nothing. A "lost" fault runs the request, then drops the connection before the
// answer. `latencyMs` delays every answer (the bench's Stripe time); `timings` says how long each took.
//
// What seller-onboarding creates (#18, Connect): POST /v1/accounts (country and controller or type required,
// idempotency keys as above), GET /v1/accounts/:id, POST /v1/account_links (an existing account, type, https
// or http return and refresh URLs; a single-use url expiring in 5 minutes). `accounts()` lists those created.
//
// What billing-portal creates (#20): POST /v1/billing_portal/sessions (customer required and known, else 400
// parameter_missing / resource_missing; return_url an http(s) URL; no saved portal configuration in this mode, as a
// new account has: 400 as Stripe words it, see `portalConfigured`), answering a short-lived session
// (bps_..., url on billing.stripe.com). Sessions cannot be listed or retrieved in Stripe; `portalSessions()` lists
// those made, with their parameters.
//
// Webhook endpoints (#19: the doctor reads them, setup creates them): see the block at the end of this file;
// `webhookEndpoints` puts and reads them.
//
// Standalone: `tsx tests/fakes/stripe.ts` listens on FAKE_STRIPE_PORT (default random) and accepts
// STRIPE_RECONCILE_KEY (default a random rk_test_ key, printed).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

export type StripeObjectKind = "checkout.session" | "payment_intent" | "subscription";
/** "403": a restricted key without the permission the request needs (Stripe's answer names the permission) */
export type FaultKind = "429" | "500" | "503" | "lost" | "403";
// deno-lint-ignore no-explicit-any -- Stripe objects of every type
export type StripeObject = Record<string, any> & { id: string; created: number };
export type FakeEvent =
  & { id: string; type: string; created: number; data: { object: StripeObject } }
  & Record<
    string,
    unknown
  >;

export type LoggedRequest = { at: number; method: string; path: string; query: string; status: number; fault?: string };

export interface FakeStripe {
  readonly url: string;
  readonly key: string;
  readonly requests: LoggedRequest[];
  /** Adds events (any order); objects they carry become listable in their newest state. */
  addEvents(events: FakeEvent[]): void;
  /** Sets an object as Stripe would now return it (drift a test seeds). */
  putObject(kind: StripeObjectKind, object: StripeObject): void;
  removeObject(kind: StripeObjectKind, id: string): void;
  /** The next `count` requests whose "METHOD /path?query" matches `match` get this fault. */
  failNext(kind: FaultKind, opts?: { count?: number; match?: RegExp | string; retryAfter?: number | null }): void;
  /** Drops the faults not used yet. */
  clearFaults(): void;
  /** Requests to /v1/events, in order, with their query (decoded). */
  eventListRequests(): Array<LoggedRequest & { params: URLSearchParams }>;
  /** Customers and Checkout Sessions created (not replays), in order, with the parameters sent. */
  created(kind: "customer" | "checkout.session"): Array<StripeObject & { params: Record<string, unknown> }>;
  /** Connected accounts created (not replays) and Account Links made, in order, with the parameters sent. */
  onboarded(kind: "account" | "account_link"): Array<StripeObject & { params: Record<string, unknown> }>;
  /** Billing Portal sessions made (#20), in order, with the parameters sent. */
  portalSessions(): Array<StripeObject & { params: Record<string, unknown> }>;
  /** Whether the account saved its customer portal settings (default true); false: sessions are refused. */
  portalConfigured: boolean;
  /** Connect money (#18): transfers, application fees and connected accounts' payouts it lists. */
  readonly connect: FakeConnectMoney;
  /** Webhook endpoints (#19, npm run setup): the account's endpoints, as Stripe keeps them. */
  readonly webhookEndpoints: FakeWebhookEndpoints;
  /** Milliseconds each request spent in the fake, from its arrival to its answer (latency included). */
  readonly timings: number[];
  latencyMs: number;
  reset(): void;
  close(): Promise<void>;
}

const LIST_PATHS: Record<string, StripeObjectKind> = {
  "/v1/checkout/sessions": "checkout.session",
  "/v1/payment_intents": "payment_intent",
  "/v1/subscriptions": "subscription",
};

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

function stripeError(status: number, type: string, message: string, code?: string): Reply {
  return {
    status,
    body: { error: { type, message, ...(code ? { code } : {}), request_log_url: "https://dashboard.stripe.com/logs" } },
  };
}

/** A form body as stripe-node encodes it (a[b][0][c]=v) back into objects and arrays. */
export function parseForm(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    const path = k.replace(/\]/g, "").split("[");
    // deno-lint-ignore no-explicit-any -- a tree of plain objects and arrays
    let node: any = out;
    path.forEach((part, i) => {
      if (i === path.length - 1) node[part] = v;
      else node = node[part] ??= /^\d+$/.test(path[i + 1]) ? [] : {};
    });
  }
  return out;
}

/** The same parameters in any key order: what Stripe compares an idempotent retry against. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${
      Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
        .join(",")
    }}`;
  }
  return JSON.stringify(value);
}

export async function startFakeStripe(
  options: { key?: string; port?: number; latencyMs?: number } = {},
): Promise<FakeStripe> {
  const key = options.key ?? `rk_test_fake${randomUUID().replace(/-/g, "")}`;
  let events: Array<FakeEvent & { seq: number }> = [];
  let objects = new Map<string, StripeObject & { seq: number }>(); // "kind:id"
  let seq = 0;
  let faults: Array<{ kind: FaultKind; match?: RegExp | string; retryAfter: number | null }> = [];
  const requests: LoggedRequest[] = [];
  const timings: number[] = [];
  let idempotent = new Map<string, { request: string; params: string; reply: Reply }>();
  let created: Record<string, Array<StripeObject & { params: Record<string, unknown> }>> = {
    customer: [],
    "checkout.session": [],
  };

  const connect = connectMoney(key, (all, q, url, noun) => page(all, q, url, noun), () => ++seq);
  const endpoints = webhookEndpoints();
  const newestFirst = <T extends { created: number; seq: number }>(a: T, b: T) =>
    b.created - a.created || b.seq - a.seq;

  function addEvents(list: FakeEvent[]) {
    for (const e of list) {
      const stored = { ...structuredClone(e), seq: ++seq };
      events.push(stored);
      const obj = e.data.object;
      const kind = obj.object as StripeObjectKind;
      if (!Object.values(LIST_PATHS).includes(kind)) continue;
      const k = `${kind}:${obj.id}`;
      const current = objects.get(k);
      // the newest event's object is the object's state now
      if (!current || e.created >= (current as unknown as { eventCreated: number }).eventCreated) {
        objects.set(
          k,
          { ...structuredClone(obj), seq: stored.seq, eventCreated: e.created } as StripeObject & { seq: number },
        );
      }
    }
  }

  function page<T extends { id: string; created: number; seq: number }>(
    all: T[],
    q: URLSearchParams,
    url: string,
    noun: string,
  ): Reply {
    const limitRaw = q.get("limit");
    const limit = limitRaw === null ? 10 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return stripeError(
        400,
        "invalid_request_error",
        "Invalid integer: limit must be between 1 and 100",
        "parameter_invalid_integer",
      );
    }
    const num = (name: string) => (q.has(name) ? Number(q.get(name)) : undefined);
    const gte = num("created[gte]");
    const gt = num("created[gt]");
    const lte = num("created[lte]");
    const lt = num("created[lt]");
    const exact = num("created");
    let rows = all.filter((o) =>
      (gte === undefined || o.created >= gte) && (gt === undefined || o.created > gt) &&
      (lte === undefined || o.created <= lte) && (lt === undefined || o.created < lt) &&
      (exact === undefined || o.created === exact)
    ).sort(newestFirst);
    const after = q.get("starting_after");
    if (after) {
      const i = rows.findIndex((o) => o.id === after);
      if (i < 0) return stripeError(404, "invalid_request_error", `No such ${noun}: '${after}'`, "resource_missing");
      rows = rows.slice(i + 1);
    }
    const data = rows.slice(0, limit).map(({ seq: _s, eventCreated: _e, ...o }: T & { eventCreated?: number }) => o);
    return { status: 200, body: { object: "list", url, has_more: rows.length > limit, data } };
  }

  const rid = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 24)}`;
  const now = () => Math.floor(Date.now() / 1000);
  const missing = (param: string) =>
    stripeError(400, "invalid_request_error", `Missing required param: ${param}.`, "parameter_missing");

  // deno-lint-ignore no-explicit-any -- parsed form parameters
  function createCustomer(p: Record<string, any>): Reply {
    const customer = {
      id: rid("cus_"),
      object: "customer",
      created: now(),
      email: p.email ?? null,
      name: p.name ?? null,
      metadata: p.metadata ?? {},
      livemode: key.includes("_live_"),
    };
    objects.set(`customer:${customer.id}`, { ...customer, seq: ++seq });
    created.customer.push({ ...customer, params: p });
    return { status: 200, body: customer };
  }

  // deno-lint-ignore no-explicit-any -- parsed form parameters
  function createSession(p: Record<string, any>): Reply {
    if (!["payment", "subscription", "setup"].includes(p.mode)) return missing("mode");
    if (!p.success_url) return missing("success_url");
    if (p.customer && !objects.has(`customer:${p.customer}`)) {
      return stripeError(400, "invalid_request_error", `No such customer: '${p.customer}'`, "resource_missing");
    }
    // deno-lint-ignore no-explicit-any -- parsed form parameters
    const items: Array<Record<string, any>> = p.line_items ?? [];
    if (items.length === 0) return missing("line_items");
    let subtotal = 0;
    let currency: string | null = null;
    for (const [i, item] of items.entries()) {
      const quantity = Number(item.quantity ?? 1);
      if (item.price_data) {
        if (p.mode === "subscription" && !item.price_data.recurring) {
          return stripeError(
            400,
            "invalid_request_error",
            "You must provide at least one recurring price in " +
              "`subscription` mode when using prices.",
            "parameter_invalid_empty",
          );
        }
        if (!item.price_data.currency) return missing(`line_items[${i}][price_data][currency]`);
        if (!item.price_data.product_data?.name && !item.price_data.product) {
          return missing(`line_items[${i}][price_data][product_data][name]`);
        }
        subtotal += Number(item.price_data.unit_amount) * quantity;
        currency = item.price_data.currency;
      } else if (typeof item.price === "string" && /^price_/.test(item.price)) {
        currency ??= "usd";
      } else {
        return stripeError(400, "invalid_request_error", `No such price: '${item.price}'`, "resource_missing");
      }
    }
    if (p.mode === "payment") {
      const refused = checkPaymentIntentData(p.payment_intent_data, subtotal);
      if (refused) return refused;
    }
    const id = rid(key.includes("_live_") ? "cs_live_" : "cs_test_");
    const session = {
      id,
      object: "checkout.session",
      created: now(),
      expires_at: now() + 24 * 3600,
      livemode: key.includes("_live_"),
      mode: p.mode,
      status: "open",
      payment_status: "unpaid",
      url: `https://checkout.stripe.com/c/pay/${id}`,
      client_reference_id: p.client_reference_id ?? null,
      customer: p.customer ?? null,
      metadata: p.metadata ?? {},
      amount_subtotal: p.mode === "payment" ? subtotal : null,
      amount_total: p.mode === "payment" ? subtotal : null,
      currency,
      success_url: p.success_url,
      cancel_url: p.cancel_url ?? null,
      payment_intent: null,
      subscription: null,
    };
    objects.set(`checkout.session:${id}`, { ...session, seq: ++seq });
    created["checkout.session"].push({ ...session, params: p });
    return { status: 200, body: session };
  }

  // ---------------------------------------------------------------- Connect: accounts and account links
  let connectCreated: Record<"account" | "account_link", Array<StripeObject & { params: Record<string, unknown> }>> = {
    account: [],
    account_link: [],
  };
  // ISO 3166's user-assigned codes (AA, QM-QZ, XA-XZ, ZZ) name no country: Stripe refuses them
  const COUNTRY = /^(?!AA|Q[M-Z]|X[A-Z]|ZZ)[A-Z]{2}$/;

  // deno-lint-ignore no-explicit-any -- parsed form parameters
  function createAccount(p: Record<string, any>): Reply {
    if (p.type && p.controller) {
      return stripeError(
        400,
        "invalid_request_error",
        "You cannot specify `type` and `controller` at the same time.",
        "parameter_invalid",
      );
    }
    if (!p.type && !p.controller) return missing("type");
    if (p.country !== undefined && !COUNTRY.test(String(p.country))) {
      return stripeError(400, "invalid_request_error", `Country '${p.country}' is unknown.`, "country_unsupported");
    }
    const express = p.type === "express" || p.controller?.stripe_dashboard?.type === "express";
    const account = {
      id: rid("acct_"),
      object: "account",
      created: now(),
      type: express ? "express" : (p.type ?? "none"),
      country: p.country ?? "US",
      email: p.email ?? null,
      charges_enabled: false,
      payouts_enabled: false,
      details_submitted: false,
      capabilities: Object.fromEntries(Object.keys(p.capabilities ?? {}).map((c) => [c, "inactive"])),
      controller: p.controller ?? null,
      requirements: {
        currently_due: ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"],
        eventually_due: ["business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"],
        past_due: [],
        current_deadline: null,
        disabled_reason: "requirements.past_due",
      },
      metadata: p.metadata ?? {},
      livemode: key.includes("_live_"),
    };
    objects.set(`account:${account.id}`, { ...account, seq: ++seq });
    connectCreated.account.push({ ...account, params: p });
    // the account's own API (Stripe-Account: acct_...) knows it from now on
    connect.api.addAccount(account.id);
    return { status: 200, body: account };
  }

  // deno-lint-ignore no-explicit-any -- parsed form parameters
  function createAccountLink(p: Record<string, any>): Reply {
    if (!p.account) return missing("account");
    if (!p.type) return missing("type");
    if (!["account_onboarding", "account_update"].includes(p.type)) {
      return stripeError(400, "invalid_request_error", `Invalid type: ${p.type}`, "parameter_invalid");
    }
    if (!objects.has(`account:${p.account}`)) {
      return stripeError(
        400,
        "invalid_request_error",
        `The provided key does not have access to account '${p.account}' (or that account does not exist). ` +
          "Application access may have been revoked.",
        "account_invalid",
      );
    }
    for (const field of ["return_url", "refresh_url"]) {
      if (p[field] !== undefined && !/^https?:\/\//.test(String(p[field]))) {
        return stripeError(400, "invalid_request_error", `Not a valid URL`, "url_invalid");
      }
    }
    const link = {
      object: "account_link",
      id: rid("acctlink_"),
      created: now(),
      expires_at: now() + 300,
      url: `https://connect.stripe.com/setup/e/${p.account}/${rid("")}`,
    };
    connectCreated.account_link.push({ ...link, params: p });
    const { id: _id, ...answer } = link;
    return { status: 200, body: answer };
  }

  function getAccount(id: string): Reply {
    const o = objects.get(`account:${id}`);
    if (!o) {
      return stripeError(
        403,
        "invalid_request_error",
        `The provided key does not have access to account '${id}' (or that account does not exist).`,
        "account_invalid",
      );
    }
    const { seq: _s, ...rest } = o;
    return { status: 200, body: rest };
  }
  // ---------------------------------------------------------------- end of Connect

  // ---------------------------------------------------------------- Billing Portal (#20)
  let portalSessions: Array<StripeObject & { params: Record<string, unknown> }> = [];
  // deno-lint-ignore no-explicit-any -- parsed form parameters
  function createPortalSession(p: Record<string, any>): Reply {
    if (!p.customer) return missing("customer");
    if (!objects.has(`customer:${p.customer}`)) {
      return stripeError(400, "invalid_request_error", `No such customer: '${p.customer}'`, "resource_missing");
    }
    if (p.return_url !== undefined && !/^https?:\/\/\S+$/.test(String(p.return_url))) {
      return stripeError(400, "invalid_request_error", "Not a valid URL", "url_invalid");
    }
    const mode = key.includes("_live_") ? "live" : "test";
    if (!fake.portalConfigured) {
      return stripeError(
        400,
        "invalid_request_error",
        `You can’t create a portal session in ${mode} mode until you save your customer portal settings in ${mode} ` +
          `mode at https://dashboard.stripe.com/${mode === "test" ? "test/" : ""}settings/billing/portal.`,
      );
    }
    const id = rid("bps_");
    const session = {
      id,
      object: "billing_portal.session",
      configuration: "bpc_fakedefault",
      created: now(),
      customer: p.customer,
      flow: null,
      livemode: mode === "live",
      locale: p.locale ?? null,
      on_behalf_of: null,
      return_url: p.return_url ?? null,
      url: `https://billing.stripe.com/p/session/${mode}_${rid("")}`,
    };
    portalSessions.push({ ...session, params: p });
    return { status: 200, body: session };
  }

  /** Runs a POST under Stripe's idempotency rules: a key's first answer is kept and replayed. */
  function post(path: string, body: string, idempotencyKey: string | undefined): Reply {
    const p = parseForm(body);
    const run = () =>
      path === "/v1/customers"
        ? createCustomer(p)
        : path === "/v1/checkout/sessions"
        ? createSession(p)
        : path === "/v1/accounts"
        ? createAccount(p)
        : path === "/v1/account_links"
        ? createAccountLink(p)
        : path === "/v1/billing_portal/sessions"
        ? createPortalSession(p)
        : stripeError(404, "invalid_request_error", `Unrecognized request URL (POST: ${path})`);
    if (!idempotencyKey) return run();
    const seen = idempotent.get(idempotencyKey);
    const params = canonical(p);
    if (seen) {
      if (seen.request !== path || seen.params !== params) {
        return stripeError(
          400,
          "idempotency_error",
          `Keys for idempotent requests can only be used with the same parameters they were first used with. ` +
            `Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
        );
      }
      return { ...seen.reply, headers: { ...seen.reply.headers, "idempotent-replayed": "true" } };
    }
    const reply = run();
    // Stripe saves a result once the endpoint ran; a request that failed validation is not saved
    if (reply.status < 400) idempotent.set(idempotencyKey, { request: path, params, reply });
    return reply;
  }

  function route(method: string, url: URL, body = "", idempotencyKey?: string, account?: string): Reply {
    const endpointReply = endpoints.route(method, url, body);
    if (endpointReply) return endpointReply;
    if (method === "POST") return post(url.pathname, body, idempotencyKey);
    const connectReply = connect.route(method, url, account);
    if (connectReply) return connectReply;
    if (method !== "GET") {
      return stripeError(405, "invalid_request_error", `Unrecognized request URL (${method}: ${url.pathname})`);
    }
    const q = url.searchParams;
    if (url.pathname === "/v1/events") {
      const types = [...q.getAll("types[]"), ...q.getAll("types"), ...(q.get("type") ? [q.get("type")!] : [])];
      const rows = types.length ? events.filter((e) => types.includes(e.type)) : events;
      return page(rows, q, "/v1/events", "event");
    }
    const kind = LIST_PATHS[url.pathname];
    if (kind) {
      let rows = [...objects.entries()].filter(([k]) => k.startsWith(`${kind}:`)).map(([, o]) => o);
      if (kind === "subscription") {
        const status = q.get("status");
        rows = rows.filter((o) => status === "all" || (status ? o.status === status : o.status !== "canceled"));
      }
      return page(rows, q, url.pathname, kind === "checkout.session" ? "checkout.session" : kind);
    }
    const acct = /^\/v1\/accounts\/([^/]+)$/.exec(url.pathname);
    if (acct) return getAccount(decodeURIComponent(acct[1]));
    const cus = /^\/v1\/customers\/([^/]+)$/.exec(url.pathname);
    if (cus) {
      const o = objects.get(`customer:${decodeURIComponent(cus[1])}`);
      if (!o) return stripeError(404, "invalid_request_error", `No such customer: '${cus[1]}'`, "resource_missing");
      const { seq: _s, ...rest } = o;
      return { status: 200, body: rest };
    }
    const one = /^(\/v1\/(?:checkout\/sessions|payment_intents|subscriptions))\/([^/]+)$/.exec(url.pathname);
    if (one && LIST_PATHS[one[1]]) {
      const o = objects.get(`${LIST_PATHS[one[1]]}:${decodeURIComponent(one[2])}`);
      if (!o) {
        return stripeError(
          404,
          "invalid_request_error",
          `No such ${LIST_PATHS[one[1]]}: '${one[2]}'`,
          "resource_missing",
        );
      }
      const { seq: _s, eventCreated: _e, ...rest } = o as StripeObject & { seq: number; eventCreated?: number };
      return { status: 200, body: rest };
    }
    return stripeError(404, "invalid_request_error", `Unrecognized request URL (GET: ${url.pathname})`);
  }

  function send(res: ServerResponse, reply: Reply) {
    res.writeHead(reply.status, {
      "content-type": "application/json",
      "request-id": `req_${randomUUID().slice(0, 14)}`,
      ...reply.headers,
    });
    res.end(JSON.stringify(reply.body));
  }

  function takeFault(request: string) {
    const i = faults.findIndex((f) =>
      !f.match || (typeof f.match === "string" ? request.includes(f.match) : f.match.test(request))
    );
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const answer = (res2: ServerResponse, reply: Reply) => {
        const done = () => {
          send(res2, reply);
          timings.push(performance.now() - started);
        };
        if (fake.latencyMs > 0) setTimeout(done, fake.latencyMs);
        else done();
      };
      handleRequest(req, res, body, answer);
    });
  }

  function handleRequest(
    req: IncomingMessage,
    res: ServerResponse,
    body: string,
    send: (res: ServerResponse, reply: Reply) => void,
  ) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const log = (status: number, fault?: string) =>
      requests.push({ at: Date.now(), method, path: url.pathname, query: url.search, status, fault });
    const auth = req.headers.authorization ?? "";
    if (auth !== `Bearer ${key}`) {
      const given = /^Bearer\s+(.+)$/.exec(auth)?.[1] ?? "";
      const masked = given ? `${given.slice(0, 8)}${"*".repeat(8)}${given.slice(-4)}` : "";
      log(401, "unauthorized");
      return send(
        res,
        stripeError(
          401,
          "invalid_request_error",
          given ? `Invalid API Key provided: ${masked}` : "You did not provide an API key.",
        ),
      );
    }
    const fault = takeFault(`${method} ${url.pathname}${url.search}`);
    if (fault?.kind === "429") {
      log(429, "429");
      return send(res, {
        ...stripeError(
          429,
          "invalid_request_error",
          "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
          "rate_limit",
        ),
        headers: fault.retryAfter === null ? {} : { "retry-after": String(fault.retryAfter) },
      });
    }
    if (fault?.kind === "403") {
      log(403, "403");
      const masked = `${key.slice(0, 8)}${"*".repeat(8)}${key.slice(-4)}`;
      return send(
        res,
        stripeError(
          403,
          "invalid_request_error",
          `The provided key '${masked}' does not have the required permissions for this endpoint on account ` +
            "'acct_fakeplatform'. Having the 'rak_webhook_read' permission would allow this request to continue.",
        ),
      );
    }
    if (fault?.kind === "500" || fault?.kind === "503") {
      log(Number(fault.kind), fault.kind);
      return send(res, {
        ...stripeError(Number(fault.kind), "api_error", "An unknown error occurred"),
        // a 503 that Stripe says not to retry: the SDK gives up at once and the job fails
        headers: fault.kind === "503" ? { "stripe-should-retry": "false" } : {},
      });
    }
    const header = req.headers["idempotency-key"];
    const account = req.headers["stripe-account"];
    const reply = route(
      method,
      url,
      body,
      Array.isArray(header) ? header[0] : header,
      Array.isArray(account) ? account[0] : account,
    );
    if (fault?.kind === "lost") {
      // it ran (and its idempotency key kept the answer), but the answer never arrives
      log(reply.status, "lost");
      res.socket?.destroy();
      return;
    }
    log(reply.status);
    send(res, reply);
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;

  const fake: FakeStripe = {
    url: `http://127.0.0.1:${port}`,
    key,
    requests,
    timings,
    latencyMs: options.latencyMs ?? 0,
    connect: connect.api,
    webhookEndpoints: endpoints.api,
    created(kind) {
      return created[kind];
    },
    onboarded(kind) {
      return connectCreated[kind];
    },
    portalSessions() {
      return portalSessions;
    },
    portalConfigured: true,
    addEvents,
    putObject(kind, object) {
      objects.set(`${kind}:${object.id}`, { ...structuredClone(object), object: kind, seq: ++seq });
    },
    removeObject(kind, id) {
      objects.delete(`${kind}:${id}`);
    },
    failNext(kind, opts = {}) {
      for (let i = 0; i < (opts.count ?? 1); i++) {
        faults.push({ kind, match: opts.match, retryAfter: opts.retryAfter === undefined ? 1 : opts.retryAfter });
      }
    },
    clearFaults() {
      faults = [];
    },
    eventListRequests() {
      return requests.filter((r) => r.path === "/v1/events").map((r) => ({
        ...r,
        params: new URLSearchParams(r.query),
      }));
    },
    reset() {
      events = [];
      objects = new Map();
      faults = [];
      requests.length = 0;
      timings.length = 0;
      idempotent = new Map();
      created = { customer: [], "checkout.session": [] };
      connectCreated = { account: [], account_link: [] };
      portalSessions = [];
      fake.portalConfigured = true;
      connect.api.reset();
      endpoints.api.reset();
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

// ---------------------------------------------------------------- Connect money (#18)
// Destination charges' objects as Stripe lists them: GET /v1/transfers[/id] (created, destination,
// transfer_group filters), GET /v1/application_fees[/id] (charge, created filters), GET /v1/payouts[/id] of a
// connected account named by the Stripe-Account header (created, status filters; an account the platform does
// not have answers 403 as Stripe does; without the header, the platform's own payouts). Tests put the objects
// (putTransfer, putApplicationFee, putPayout); addAccount makes an account known without payouts.

export type FakeConnectMoney = {
  putTransfer(t: StripeObject): void;
  putApplicationFee(f: StripeObject): void;
  /** A payout of `account` (a connected account), or of the platform when account is null. */
  putPayout(account: string | null, p: StripeObject): void;
  addAccount(account: string): void;
  /** GET requests to /v1/payouts, with the Stripe-Account they named. */
  payoutRequests(): Array<{ account: string | null; query: string }>;
  reset(): void;
};

type Paged = StripeObject & { seq: number };
type Pager = (all: Paged[], q: URLSearchParams, url: string, noun: string) => Reply;

/** What Stripe refuses in a payment session's payment_intent_data (Connect fields), or undefined. */
// deno-lint-ignore no-explicit-any -- parsed form parameters
function checkPaymentIntentData(pid: Record<string, any> | undefined, amount: number): Reply | undefined {
  if (!pid) return undefined;
  const destination = pid.transfer_data?.destination;
  if (pid.transfer_data && !destination) return missingParam("payment_intent_data[transfer_data][destination]");
  for (const value of [destination, pid.on_behalf_of]) {
    if (value !== undefined && !/^acct_[A-Za-z0-9]+$/.test(value)) {
      return stripeError(400, "invalid_request_error", `No such destination: '${value}'`, "resource_missing");
    }
  }
  if (pid.application_fee_amount !== undefined) {
    const fee = Number(pid.application_fee_amount);
    if (!Number.isInteger(fee) || fee < 0) {
      return stripeError(
        400,
        "invalid_request_error",
        "Invalid integer: payment_intent_data[application_fee_amount]",
        "parameter_invalid_integer",
      );
    }
    if (!destination && !pid.on_behalf_of) {
      return stripeError(
        400,
        "invalid_request_error",
        "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment " +
          "(using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).",
      );
    }
    if (fee > amount) {
      return stripeError(
        400,
        "invalid_request_error",
        "The application fee amount must be less than or equal to the total amount.",
        "parameter_invalid_integer",
      );
    }
  }
  return undefined;
}

function missingParam(param: string): Reply {
  return stripeError(400, "invalid_request_error", `Missing required param: ${param}.`, "parameter_missing");
}

function connectMoney(key: string, page: Pager, nextSeq: () => number) {
  let transfers = new Map<string, Paged>();
  let fees = new Map<string, Paged>();
  let payouts = new Map<string, Map<string, Paged>>(); // account ("" the platform) -> payouts
  let payoutRequests: Array<{ account: string | null; query: string }> = [];
  const strip = ({ seq: _s, ...o }: Paged) => o;
  const one = (map: Map<string, Paged>, id: string, noun: string): Reply => {
    const o = map.get(id);
    return o
      ? { status: 200, body: strip(o) }
      : stripeError(404, "invalid_request_error", `No such ${noun}: '${id}'`, "resource_missing");
  };
  const account = (id: string) => payouts.get(id) ?? payouts.set(id, new Map()).get(id)!;

  function route(method: string, url: URL, stripeAccount: string | undefined): Reply | undefined {
    const path = url.pathname;
    if (method !== "GET" || !/^\/v1\/(transfers|application_fees|payouts)(\/|$)/.test(path)) return undefined;
    const q = url.searchParams;
    if (path.startsWith("/v1/payouts")) {
      payoutRequests.push({ account: stripeAccount ?? null, query: url.search });
      if (stripeAccount && !payouts.has(stripeAccount)) {
        const masked = `${key.slice(0, 8)}${"*".repeat(8)}${key.slice(-4)}`;
        return stripeError(
          403,
          "invalid_request_error",
          `The provided key '${masked}' does not have access to account '${stripeAccount}' (or that account does ` +
            "not exist). Application access may have been revoked.",
          "account_invalid",
        );
      }
      const mine = account(stripeAccount ?? "");
      const id = /^\/v1\/payouts\/([^/]+)$/.exec(path)?.[1];
      if (id) return one(mine, decodeURIComponent(id), "payout");
      const status = q.get("status");
      return page([...mine.values()].filter((p) => !status || p.status === status), q, "/v1/payouts", "payout");
    }
    if (path.startsWith("/v1/transfers")) {
      const id = /^\/v1\/transfers\/([^/]+)$/.exec(path)?.[1];
      if (id) return one(transfers, decodeURIComponent(id), "transfer");
      const dest = q.get("destination");
      const group = q.get("transfer_group");
      const rows = [...transfers.values()].filter((t) =>
        (!dest || t.destination === dest) && (!group || t.transfer_group === group)
      );
      return page(rows, q, "/v1/transfers", "transfer");
    }
    const id = /^\/v1\/application_fees\/([^/]+)$/.exec(path)?.[1];
    if (id) return one(fees, decodeURIComponent(id), "application fee");
    const charge = q.get("charge");
    const rows = [...fees.values()].filter((f) =>
      !charge || f.charge === charge || f.originating_transaction === charge
    );
    return page(rows, q, "/v1/application_fees", "application fee");
  }

  const api: FakeConnectMoney = {
    putTransfer(t) {
      transfers.set(t.id, { ...structuredClone(t), object: "transfer", seq: nextSeq() });
    },
    putApplicationFee(f) {
      fees.set(f.id, { ...structuredClone(f), object: "application_fee", seq: nextSeq() });
    },
    putPayout(acct, p) {
      account(acct ?? "").set(p.id, { ...structuredClone(p), object: "payout", seq: nextSeq() });
    },
    addAccount(acct) {
      account(acct);
    },
    payoutRequests() {
      return payoutRequests;
    },
    reset() {
      transfers = new Map();
      fees = new Map();
      payouts = new Map();
      payoutRequests = [];
    },
  };
  return { route, api };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const fake = await startFakeStripe({
    key: process.env.STRIPE_RECONCILE_KEY,
    port: process.env.FAKE_STRIPE_PORT ? Number(process.env.FAKE_STRIPE_PORT) : undefined,
  });
  console.log(JSON.stringify({ msg: "fake Stripe listening", url: fake.url, key: fake.key }));
}

// ---------------------------------------------------------------- Webhook endpoints (#19)
// What npm run setup creates and the doctor reads: POST /v1/webhook_endpoints (url and enabled_events required;
// connect=true for events on connected accounts; the answer alone carries the signing secret), GET
// /v1/webhook_endpoints (newest first, no secret), GET and POST /v1/webhook_endpoints/:id (update
// enabled_events, url, disabled: the secret stays), DELETE. As Stripe, a second create of the same URL makes a
// second endpoint (with its own secret), and an account holds at most 16 endpoints.

export type FakeWebhookEndpoint = {
  id: string;
  object: "webhook_endpoint";
  url: string;
  enabled_events: string[];
  status: "enabled" | "disabled";
  application: null;
  api_version: string | null;
  created: number;
  livemode: boolean;
  description: string | null;
  metadata: Record<string, string>;
  /** Connect endpoints (connect=true on create): Stripe's object does not show it, the fake keeps it for tests */
  connect: boolean;
  secret: string;
};

export type FakeWebhookEndpoints = {
  /** every endpoint, oldest first, with its secret and whether it is a Connect one */
  all(): FakeWebhookEndpoint[];
  /** puts one as a test wants it (another process made it, a founder disabled it); the same id replaces it */
  put(e: Partial<FakeWebhookEndpoint> & { url: string; enabled_events: string[] }): FakeWebhookEndpoint;
  reset(): void;
};

function webhookEndpoints() {
  let list: FakeWebhookEndpoint[] = [];
  let n = 0;
  const shown = (e: FakeWebhookEndpoint) => {
    const { secret: _s, connect: _c, ...rest } = e;
    return rest;
  };
  const events = (v: unknown) =>
    (Array.isArray(v) ? v : v && typeof v === "object" ? Object.values(v) : []) as string[];
  const make = (p: Partial<FakeWebhookEndpoint> & { url: string; enabled_events: string[] }): FakeWebhookEndpoint => ({
    id: `we_${(++n).toString().padStart(4, "0")}${randomUUID().replace(/-/g, "").slice(0, 20)}`,
    object: "webhook_endpoint",
    status: "enabled",
    application: null,
    api_version: null,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    description: null,
    metadata: {},
    connect: false,
    secret: `whsec_${randomUUID().replace(/-/g, "")}`,
    ...p,
  });

  function route(method: string, url: URL, body: string): Reply | undefined {
    if (url.pathname === "/v1/webhook_endpoints") {
      if (method === "GET") {
        // newest first, pages by starting_after (Stripe's cursor: the last id of the previous page)
        const limit = Math.min(Number(url.searchParams.get("limit") ?? 10), 100);
        const rows = [...list].reverse();
        const after = url.searchParams.get("starting_after");
        const start = after ? rows.findIndex((e) => e.id === after) + 1 : 0;
        if (after && start === 0) {
          return stripeError(404, "invalid_request_error", `No such webhook endpoint: '${after}'`, "resource_missing");
        }
        return {
          status: 200,
          body: {
            object: "list",
            url: "/v1/webhook_endpoints",
            has_more: start + limit < rows.length,
            data: rows.slice(start, start + limit).map(shown),
          },
        };
      }
      if (method !== "POST") return undefined;
      const p = parseForm(body);
      if (typeof p.url !== "string" || !/^https?:\/\//.test(p.url)) {
        return stripeError(400, "invalid_request_error", "Missing required param: url.", "parameter_missing");
      }
      const enabled = events(p.enabled_events);
      if (!enabled.length) {
        return stripeError(
          400,
          "invalid_request_error",
          "Missing required param: enabled_events.",
          "parameter_missing",
        );
      }
      if (list.length >= 16) {
        return stripeError(400, "invalid_request_error", "You have reached the maximum of 16 test webhook endpoints.");
      }
      const e = make({
        url: p.url,
        enabled_events: enabled,
        connect: p.connect === "true",
        description: typeof p.description === "string" ? p.description : null,
        api_version: typeof p.api_version === "string" ? p.api_version : null,
      });
      list.push(e);
      return { status: 200, body: { ...shown(e), secret: e.secret } };
    }
    const one = /^\/v1\/webhook_endpoints\/([^/]+)$/.exec(url.pathname);
    if (!one) return undefined;
    const e = list.find((x) => x.id === decodeURIComponent(one[1]));
    if (!e) {
      return stripeError(404, "invalid_request_error", `No such webhook endpoint: '${one[1]}'`, "resource_missing");
    }
    if (method === "GET") return { status: 200, body: shown(e) };
    if (method === "DELETE") {
      list = list.filter((x) => x !== e);
      return { status: 200, body: { id: e.id, object: "webhook_endpoint", deleted: true } };
    }
    if (method !== "POST") return undefined;
    const p = parseForm(body);
    if (p.enabled_events !== undefined) e.enabled_events = events(p.enabled_events);
    if (typeof p.url === "string") e.url = p.url;
    if (p.disabled !== undefined) e.status = p.disabled === "true" ? "disabled" : "enabled";
    return { status: 200, body: shown(e) };
  }

  const api: FakeWebhookEndpoints = {
    all: () => list.map((e) => ({ ...e })),
    put(p) {
      // an id already held is replaced in place (a test changing an endpoint), else it is a new one
      const e = make(p);
      const at = p.id ? list.findIndex((x) => x.id === p.id) : -1;
      if (at >= 0) list[at] = e;
      else list.push(e);
      return { ...e };
    },
    reset() {
      list = [];
    },
  };
  return { route, api };
}
