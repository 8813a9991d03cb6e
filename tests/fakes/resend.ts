// A Resend API fake (node:http on 127.0.0.1) that models what bites: POST /emails with Bearer auth and
// Resend-shaped errors ({ statusCode, message, name }); the Idempotency-Key (the same key and body answer
// the first id and send nothing; the same key with another body is 409 invalid_idempotent_request; a key
// whose first request is still running is 409 concurrent_idempotent_requests); a per-second request limit
// answering 429 with Retry-After and ratelimit-* headers; validation messages that echo the address, as
// some of Resend's do; and faults: failAll (500), rateLimit (429 + Retry-After), slow (the email IS sent,
// the answer comes after slowMs), hang and drop (nothing sent, no answer).
//
// Domains (#19, the doctor): GET /domains lists what setDomains() put ({ object: "list", has_more, data } with
// name, status verified | pending | not_started | failed | temporary_failure, region, created_at); a key made
// with sendingOnlyKey() may send but not list (401 restricted_api_key, as Resend answers "sending access" keys).
//
// Receiving (#20): receive() stores an inbound email as Resend would after its MX took it, and answers the
// email.received event body Resend would post (metadata only); GET /emails/receiving/:id answers the email with its
// text, html and headers (Resend's shape: object "email", to, from, cc, bcc, reply_to, message_id, attachments,
// raw), 404 not_found for an unknown id, 401 restricted_api_key for a sending-only key.
//
// Also signResendWebhook(): signs a webhook body the way Svix signs Resend's deliveries, for tests.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ResendFaultKind = "500" | "429" | "hang" | "drop" | "slow";

export type ResendFaults = {
  /** every request answers 500 internal_server_error; nothing is sent */
  failAll: boolean;
  /** every request answers 429 rate_limit_exceeded with Retry-After; nothing is sent */
  rateLimit: boolean;
  /** Retry-After sent with 429s: seconds, a raw header value (an HTTP date), or null for none */
  retryAfter: number | string | null;
  /** every request is applied (the email is sent), and answered after slowMs */
  slow: boolean;
  slowMs: number;
  /** Resend's team limit: requests per second over it answer 429; null = off */
  limitPerSecond: number | null;
};

export type SentEmail = {
  id: string;
  idempotencyKey: string | null;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  replyTo?: string | string[];
  headers?: Record<string, string>;
  tags: Array<{ name: string; value: string }>;
  at: number;
};

/** An inbound email as the sender wrote it; receive() fills in the rest. */
export type InboundEmail = {
  from: string;
  to: string[];
  subject: string;
  text?: string | null;
  html?: string | null;
  cc?: string[];
  /** headers as Resend lists them (Message-ID, In-Reply-To, Auto-Submitted, ...) */
  headers?: Record<string, string>;
  message_id?: string;
};

export type ResendLoggedRequest = {
  at: number;
  method: string;
  path: string;
  idempotencyKey: string | null;
  status: number | null;
  fault?: ResendFaultKind | "rate-limit" | "unauthorized" | "replayed";
};

export interface FakeResend {
  readonly url: string;
  readonly apiKey: string;
  /** Emails actually sent, once each: a replayed idempotent request adds nothing here. */
  readonly sent: SentEmail[];
  readonly requests: ResendLoggedRequest[];
  setFaults(faults: Partial<ResendFaults>): void;
  /** The account's domains, as GET /domains lists them. */
  setDomains(domains: Array<{ name: string; status: string; region?: string }>): void;
  /** A "sending access" key of the account: POST /emails only. */
  readonly sendingOnlyKey: string;
  /** Stores an inbound email; answers its id and the email.received event's body (what Resend posts). */
  receive(email: InboundEmail): { id: string; event: string };
  /** The next `count` POST /emails get this fault. */
  failNext(kind: ResendFaultKind, count?: number): void;
  reset(): void;
  close(): Promise<void>;
}

const NO_FAULTS: ResendFaults = {
  failAll: false,
  rateLimit: false,
  retryAfter: 1,
  slow: false,
  slowMs: 5_000,
  limitPerSecond: null,
};
const ADDRESS_RE = /^(?:[^<>]*<)?([^\s@<>]+@[^\s@<>.]+(?:\.[^\s@<>.]+)+)>?$/;
const TAG_RE = /^[A-Za-z0-9_-]{1,256}$/;

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

const fail = (status: number, name: string, message: string, headers?: Record<string, string>): Reply => ({
  status,
  body: { statusCode: status, message, name },
  headers,
});

export async function startFakeResend(
  options: { apiKey?: string; faults?: Partial<ResendFaults>; verifiedDomains?: string[] } = {},
): Promise<FakeResend> {
  const apiKey = options.apiKey ?? `re_fake_${randomUUID().replace(/-/g, "")}`;
  let faults: ResendFaults = { ...NO_FAULTS, ...options.faults };
  let queued: ResendFaultKind[] = [];
  let window: number[] = [];
  const sendingOnlyKey = `re_send_${randomUUID().replace(/-/g, "")}`;
  let domains: Array<Record<string, unknown>> = [];
  const received = new Map<string, Record<string, unknown>>();
  /** Idempotency-Key -> the first request's body and answer */
  let keys = new Map<string, { body: string; reply?: Reply }>();
  const sent: SentEmail[] = [];
  const requests: ResendLoggedRequest[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const retryAfter = (): Record<string, string> =>
    faults.retryAfter === null ? {} : { "retry-after": String(faults.retryAfter) };

  /** Resend's checks of a send request; undefined when it is valid. */
  function validate(b: Record<string, unknown>): Reply | undefined {
    for (const field of ["from", "to", "subject"]) {
      if (b[field] === undefined || b[field] === "") {
        return fail(422, "missing_required_field", `Missing \`${field}\` field.`);
      }
    }
    if (b.html === undefined && b.text === undefined && b.template === undefined) {
      return fail(422, "missing_required_field", "Missing `html` or `text` field.");
    }
    const from = ADDRESS_RE.exec(String(b.from));
    if (!from) {
      return fail(
        422,
        "validation_error",
        "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
      );
    }
    const domain = from[1].split("@")[1];
    if (options.verifiedDomains && !options.verifiedDomains.includes(domain)) {
      return fail(
        403,
        "validation_error",
        `The ${domain} domain is not verified. Please, add and verify your domain on https://resend.com/domains`,
      );
    }
    const to = Array.isArray(b.to) ? b.to : [b.to];
    for (const address of to) {
      if (typeof address !== "string" || !ADDRESS_RE.test(address)) {
        // echoes the address, as some of Resend's messages do: the adapter must mask it
        return fail(
          422,
          "validation_error",
          `Invalid \`to\` field: ${
            String(address)
          }. The email address needs to follow the \`email@example.com\` or \`Name <email@example.com>\` format.`,
        );
      }
    }
    for (const tag of Array.isArray(b.tags) ? b.tags as Array<{ name?: string; value?: string }> : []) {
      if (!TAG_RE.test(tag?.name ?? "") || !TAG_RE.test(tag?.value ?? "")) {
        return fail(
          422,
          "validation_error",
          "Tags should only contain ASCII letters, numbers, underscores, or dashes.",
        );
      }
    }
    return undefined;
  }

  function send(b: Record<string, unknown>, key: string | null): Reply {
    const id = randomUUID();
    sent.push({
      id,
      idempotencyKey: key,
      from: String(b.from),
      to: (Array.isArray(b.to) ? b.to : [b.to]).map(String),
      subject: String(b.subject),
      html: b.html as string | undefined,
      text: b.text as string | undefined,
      replyTo: b.reply_to as string | string[] | undefined,
      headers: b.headers as Record<string, string> | undefined,
      tags: Array.isArray(b.tags) ? b.tags as SentEmail["tags"] : [],
      at: Date.now(),
    });
    return { status: 200, body: { id } };
  }

  function reset() {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    faults = { ...NO_FAULTS, ...options.faults };
    queued = [];
    window = [];
    domains = [];
    keys = new Map();
    sent.length = 0;
    requests.length = 0;
    received.clear();
  }

  function write(res: ServerResponse, reply: Reply) {
    if (res.destroyed || res.writableEnded) return;
    const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(payload),
      ...reply.headers,
    });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const key = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : null;
    const entry: ResendLoggedRequest = {
      at: Date.now(),
      method: req.method ?? "GET",
      path: req.url ?? "/",
      idempotencyKey: key,
      status: null,
    };
    requests.push(entry);
    const reply = (r: Reply) => {
      entry.status = r.status;
      write(res, r);
    };

    if (!req.headers.authorization) {
      entry.fault = "unauthorized";
      return reply(
        fail(
          401,
          "missing_api_key",
          "Missing API key in the authorization header. Include the following header Authorization: Bearer YOUR_API_KEY in the request.",
        ),
      );
    }
    const sendingOnly = req.headers.authorization === `Bearer ${sendingOnlyKey}`;
    if (req.headers.authorization !== `Bearer ${apiKey}` && !sendingOnly) {
      entry.fault = "unauthorized";
      return reply(fail(403, "invalid_api_key", "API key is invalid"));
    }
    if (entry.method === "GET" && entry.path.split("?")[0] === "/domains") {
      if (sendingOnly) {
        return reply(fail(401, "restricted_api_key", "This API key is restricted to only send emails"));
      }
      return reply({ status: 200, body: { object: "list", has_more: false, data: domains } });
    }
    const receiving = /^\/emails\/receiving\/([^/?]+)(\?.*)?$/.exec(entry.path);
    if (entry.method === "GET" && receiving) {
      if (sendingOnly) {
        return reply(fail(401, "restricted_api_key", "This API key is restricted to only send emails"));
      }
      const email = received.get(decodeURIComponent(receiving[1]));
      if (!email) return reply(fail(404, "not_found", "Email not found"));
      return reply({ status: 200, body: email });
    }
    if (entry.method !== "POST" || entry.path !== "/emails") {
      return reply(fail(404, "not_found", "The requested endpoint does not exist."));
    }

    const now = Date.now();
    const limitHeaders: Record<string, string> = {};
    if (faults.limitPerSecond !== null) {
      window = window.filter((t) => now - t < 1_000);
      limitHeaders["ratelimit-limit"] = String(faults.limitPerSecond);
      limitHeaders["ratelimit-reset"] = "1";
      if (window.length >= faults.limitPerSecond) {
        entry.fault = "rate-limit";
        return reply(
          fail(
            429,
            "rate_limit_exceeded",
            "Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit.",
            { ...limitHeaders, "ratelimit-remaining": "0", ...retryAfter() },
          ),
        );
      }
      window.push(now);
      limitHeaders["ratelimit-remaining"] = String(faults.limitPerSecond - window.length);
    }

    const fault = queued.shift() ??
      (faults.failAll ? "500" : faults.rateLimit ? "429" : faults.slow ? "slow" : undefined);
    if (fault) entry.fault = fault;
    if (fault === "500") return reply(fail(500, "internal_server_error", "An unexpected error occurred."));
    if (fault === "429") {
      return reply(
        fail(429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second.", {
          ...limitHeaders,
          ...retryAfter(),
        }),
      );
    }
    if (fault === "hang") return; // never answered: the client's timeout (or close()) ends it
    if (fault === "drop") return req.socket.destroy();

    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      return reply(fail(422, "validation_error", "Invalid JSON body."));
    }
    if (key !== null && (key.length < 1 || key.length > 256)) {
      return reply(fail(400, "invalid_idempotency_key", "The key must be between 1-256 chars."));
    }
    const invalid = validate(body);
    if (invalid) return reply(invalid);

    if (key !== null) {
      const seen = keys.get(key);
      if (seen && seen.body !== text) {
        return reply(
          fail(
            409,
            "invalid_idempotent_request",
            "Same idempotency key used with a different request payload. Change your idempotency key or payload.",
          ),
        );
      }
      if (seen && !seen.reply) {
        return reply(
          fail(
            409,
            "concurrent_idempotent_requests",
            "Same idempotency key used while original request is still in progress. Try the request again later.",
          ),
        );
      }
      if (seen?.reply) {
        entry.fault = "replayed";
        return reply(seen.reply);
      }
      keys.set(key, { body: text });
    }
    const result = { ...send(body, key), headers: limitHeaders };
    const settle = () => {
      if (key !== null) keys.set(key, { body: text, reply: result });
      reply(result);
    };
    if (fault === "slow") {
      const t = setTimeout(() => {
        timers.delete(t);
        settle();
      }, faults.slowMs);
      timers.add(t);
      return;
    }
    settle();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) write(res, fail(500, "internal_server_error", "fake crashed"));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    sendingOnlyKey,
    setDomains(list) {
      domains = list.map((d, i) => ({
        id: randomUUID(),
        object: "domain",
        name: d.name,
        status: d.status,
        region: d.region ?? "us-east-1",
        created_at: new Date(Date.now() - i * 1000).toISOString(),
        capabilities: { sending: "enabled", receiving: "disabled" },
      }));
    },
    sent,
    requests,
    receive(email) {
      const id = randomUUID();
      const createdAt = new Date().toISOString();
      const messageId = email.message_id ?? `<${randomUUID()}@mail.example.net>`;
      received.set(id, {
        object: "email",
        id,
        to: email.to,
        from: email.from,
        created_at: createdAt,
        subject: email.subject,
        html: email.html ?? null,
        text: email.text ?? null,
        bcc: [],
        cc: email.cc ?? [],
        reply_to: [],
        received_for: email.to,
        headers: { "message-id": messageId, ...email.headers },
        message_id: messageId,
        raw: null,
        attachments: [],
      });
      const event = JSON.stringify({
        type: "email.received",
        created_at: createdAt,
        data: {
          email_id: id,
          created_at: createdAt,
          from: email.from,
          to: email.to,
          bcc: [],
          cc: email.cc ?? [],
          received_for: email.to,
          message_id: messageId,
          subject: email.subject,
          attachments: [],
        },
      });
      return { id, event };
    },
    setFaults(f) {
      faults = { ...faults, ...f };
    },
    failNext(kind, count = 1) {
      for (let i = 0; i < count; i++) queued.push(kind);
    },
    reset,
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A webhook signing secret as Resend's dashboard shows one: whsec_ + base64 of random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/**
 * The headers Svix sends with a Resend webhook delivery of `body`: svix-id, svix-timestamp (Unix
 * seconds) and svix-signature "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>' under the secret's
 * base64-decoded bytes>". Written from Svix's documented scheme, not with the SDK under test.
 */
export function signResendWebhook(
  body: string,
  secret: string,
  opts: { id?: string; timestamp?: number } = {},
): Record<string, string> {
  const id = opts.id ?? `msg_${randomUUID().replace(/-/g, "")}`;
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": `v1,${signature}` };
}
