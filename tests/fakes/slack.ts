// A Slack incoming-webhook fake (node:http on 127.0.0.1): POST <webhook path> with JSON { text, blocks? }
// answers "ok" in plain text and records the post; Slack's plain-text errors (400 invalid_payload /
// no_text, 404 no_service for any other path); faults: failAll (500 rollup_error), pace (429 with
// Retry-After when posts come faster than one per second, as Slack paces a webhook), hang and drop.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type SlackFaultKind = "500" | "429" | "hang" | "drop";

export type SlackFaults = {
  failAll: boolean;
  /** posts less than 1 s after the previous accepted one answer 429 with Retry-After */
  pace: boolean;
  /** Retry-After sent with 429s: seconds, "auto" (until the pace allows the next post), or null for none */
  retryAfter: number | "auto" | null;
};

export type SlackPost = { text: string; blocks?: unknown[]; at: number };

export interface FakeSlack {
  /** The webhook URL to configure (SLACK_WEBHOOK_URL): its path holds the secret, as Slack's does. */
  readonly webhookUrl: string;
  readonly posts: SlackPost[];
  readonly requests: Array<{ at: number; path: string; status: number | null; fault?: string }>;
  setFaults(faults: Partial<SlackFaults>): void;
  failNext(kind: SlackFaultKind, count?: number): void;
  reset(): void;
  close(): Promise<void>;
}

const NO_FAULTS: SlackFaults = { failAll: false, pace: false, retryAfter: "auto" };

export async function startFakeSlack(
  options: { faults?: Partial<SlackFaults>; /** the pace's clock (tests step it) */ now?: () => number } = {},
): Promise<FakeSlack> {
  const clock = options.now ?? Date.now;
  const path = `/services/T${randomBytes(4).toString("hex").toUpperCase()}/B${
    randomBytes(4).toString("hex").toUpperCase()
  }/${randomBytes(12).toString("hex")}`;
  let faults: SlackFaults = { ...NO_FAULTS, ...options.faults };
  let queued: SlackFaultKind[] = [];
  let lastAccepted: number | null = null;
  const posts: SlackPost[] = [];
  const requests: FakeSlack["requests"] = [];

  function write(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const entry: FakeSlack["requests"][number] = { at: clock(), path: req.url ?? "/", status: null };
    requests.push(entry);
    const reply = (status: number, text: string, headers?: Record<string, string>) => {
      entry.status = status;
      write(res, status, text, headers);
    };
    if (req.method !== "POST" || req.url !== path) return reply(404, "no_service");

    const now = clock();
    const tooSoon = faults.pace && lastAccepted !== null && now - lastAccepted < 1_000;
    const fault = queued.shift() ?? (faults.failAll ? "500" : tooSoon ? "429" : undefined);
    if (fault) entry.fault = fault;
    if (fault === "500") return reply(500, "rollup_error");
    if (fault === "429") {
      const wait = Math.max(1, Math.ceil(((lastAccepted ?? now) + 1_000 - now) / 1000));
      const retryAfter = faults.retryAfter === "auto" ? wait : faults.retryAfter;
      return reply(429, "rate_limited", retryAfter === null ? {} : { "retry-after": String(retryAfter) });
    }
    if (fault === "hang") return;
    if (fault === "drop") return req.socket.destroy();

    let body: { text?: unknown; blocks?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return reply(400, "invalid_payload");
    }
    if ((typeof body.text !== "string" || !body.text.trim()) && !Array.isArray(body.blocks)) {
      return reply(400, "no_text");
    }
    lastAccepted = now;
    posts.push({ text: String(body.text ?? ""), blocks: body.blocks as unknown[] | undefined, at: now });
    reply(200, "ok");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => write(res, 500, "fake crashed"));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    webhookUrl: `http://127.0.0.1:${port}${path}`,
    posts,
    requests,
    setFaults(f) {
      faults = { ...faults, ...f };
    },
    failNext(kind, count = 1) {
      for (let i = 0; i < count; i++) queued.push(kind);
    },
    reset() {
      faults = { ...NO_FAULTS, ...options.faults };
      queued = [];
      lastAccepted = null;
      posts.length = 0;
      requests.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
