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
// Standalone: `tsx tests/fakes/stripe.ts` listens on FAKE_STRIPE_PORT (default random) and accepts
// STRIPE_RECONCILE_KEY (default a random rk_test_ key, printed).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

export type StripeObjectKind = "checkout.session" | "payment_intent" | "subscription";
export type FaultKind = "429" | "500" | "503";
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
  /** Requests to /v1/events, in order, with their query (decoded). */
  eventListRequests(): Array<LoggedRequest & { params: URLSearchParams }>;
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

export async function startFakeStripe(options: { key?: string; port?: number } = {}): Promise<FakeStripe> {
  const key = options.key ?? `rk_test_fake${randomUUID().replace(/-/g, "")}`;
  let events: Array<FakeEvent & { seq: number }> = [];
  let objects = new Map<string, StripeObject & { seq: number }>(); // "kind:id"
  let seq = 0;
  let faults: Array<{ kind: FaultKind; match?: RegExp | string; retryAfter: number | null }> = [];
  const requests: LoggedRequest[] = [];

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

  function route(method: string, url: URL): Reply {
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
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = req.method ?? "GET";
    const log = (status: number, fault?: string) =>
      requests.push({ at: Date.now(), method, path: url.pathname, query: url.search, status, fault });
    req.resume();
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
    if (fault?.kind === "500" || fault?.kind === "503") {
      log(Number(fault.kind), fault.kind);
      return send(res, {
        ...stripeError(Number(fault.kind), "api_error", "An unknown error occurred"),
        // a 503 that Stripe says not to retry: the SDK gives up at once and the job fails
        headers: fault.kind === "503" ? { "stripe-should-retry": "false" } : {},
      });
    }
    const reply = route(method, url);
    log(reply.status);
    send(res, reply);
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    key,
    requests,
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
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const fake = await startFakeStripe({
    key: process.env.STRIPE_RECONCILE_KEY,
    port: process.env.FAKE_STRIPE_PORT ? Number(process.env.FAKE_STRIPE_PORT) : undefined,
  });
  console.log(JSON.stringify({ msg: "fake Stripe listening", url: fake.url, key: fake.key }));
}
