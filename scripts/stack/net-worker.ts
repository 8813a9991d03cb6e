// pg_net stand-in worker for a stack without pg_net's source. It behaves as pg_net's background worker
// (0.20, src/worker.c) where tests and timings can tell: woken at commit (net.wake() notifies), one
// transaction per batch of up to 200 requests that deletes them from the queue, sends them all at once,
// records every answer (created = the batch's start, empty content as null, curl's error texts) and
// deletes answers older than pg_net.ttl (6 hours); then it waits up to 1 s before the next batch, woken
// early by the first wake only. net._stand_in_settings.drop_rate makes it drop requests, for tests.
import type { JSONValue } from "postgres";
import { config } from "../lib/config.ts";
import { connect } from "../lib/db.ts";

const BATCH = 200;
// as supabase_admin, which owns pg_net and runs its background worker
const sql = connect(config.adminDbUrl, { connection: { application_name: "pg_net stand-in" } });
let stopping = false;
let shouldWake = true;
let wake: (() => void) | undefined;

type Request = {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string> | null;
  body: Buffer | null;
  timeout_milliseconds: number;
};
type Response = {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: unknown;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
  created: Date;
};

/** curl_easy_strerror's text for what fetch reports. */
function curlError(err: Error): string {
  const code = (err.cause as { code?: string } | undefined)?.code ?? "";
  if (code === "ECONNREFUSED") return "Couldn't connect to server";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "Couldn't resolve host name";
  if (code === "UND_ERR_SOCKET" || code === "ECONNRESET") return "Server returned nothing (no headers, no data)";
  return "Failure when receiving data from the peer";
}

async function send(r: Request, created: Date): Promise<Response> {
  const base = { id: r.id, status_code: null, content_type: null, headers: null, content: null, created };
  const started = performance.now();
  try {
    const res = await fetch(r.url, {
      method: r.method.toUpperCase(),
      headers: r.headers ?? {},
      body: r.method.toUpperCase() === "GET" || !r.body ? undefined : new Uint8Array(r.body),
      signal: AbortSignal.timeout(r.timeout_milliseconds),
    });
    let content: string;
    try {
      content = await res.text();
    } catch (err) {
      if ((err as Error).name === "TimeoutError") throw err;
      return { ...base, timed_out: false, error_msg: "Failure when receiving data from the peer" };
    }
    return {
      ...base,
      status_code: res.status,
      content_type: res.headers.get("content-type"),
      headers: Object.fromEntries(res.headers),
      content: content === "" ? null : content,
      timed_out: false,
      error_msg: null,
    };
  } catch (err) {
    if ((err as Error).name !== "TimeoutError") {
      return { ...base, timed_out: false, error_msg: curlError(err as Error) };
    }
    const total = performance.now() - started;
    return {
      ...base,
      timed_out: true,
      error_msg: `Timeout of ${r.timeout_milliseconds} ms reached. Total time: ${total.toFixed(6)} ms ` +
        `(DNS time: 0.000000 ms, TCP/SSL handshake time: 0.000000 ms, HTTP Request/Response time: ${
          total.toFixed(6)
        } ms)`,
    };
  }
}

/** One batch in one transaction, as pg_net's worker: its answers and the queue's deletes commit together. */
async function batch(): Promise<{ consumed: number; expired: number }> {
  return await sql.begin(async (tx) => {
    const [{ started, drop_rate, ttl }] = await tx<{ started: Date; drop_rate: string; ttl: string }[]>`
      select now() as started, (select drop_rate from net._stand_in_settings) as drop_rate,
             coalesce(nullif(current_setting('pg_net.ttl', true), ''), '6 hours') as ttl`;
    const expired = await tx`
      delete from net._http_response
       where ctid in (select ctid from net._http_response where created < now() - ${ttl}::interval limit ${BATCH})`;
    const requests = await tx<Request[]>`
      delete from net.http_request_queue
       where id in (select id from net.http_request_queue order by id limit ${BATCH} for update skip locked)
      returning id, method, url, headers, body, timeout_milliseconds`;
    const kept = requests.filter(() => Math.random() >= Number(drop_rate));
    const responses = await Promise.all(kept.map((r) => send(r, started)));
    if (responses.length) {
      await tx`insert into net._http_response ${tx(responses.map((r) => ({ ...r, headers: r.headers as JSONValue })))}`;
    }
    return { consumed: requests.length, expired: expired.count };
  });
}

function sleep(ms: number) {
  return new Promise<void>((r) => {
    wake = r;
    setTimeout(r, ms);
  });
}

async function loop() {
  while (!stopping) {
    // idle until a commit wakes us (and every 5 s, should a notification be lost while reconnecting)
    if (!shouldWake) await sleep(5000);
    shouldWake = false;
    let work: { consumed: number; expired: number };
    do {
      try {
        work = await batch();
      } catch (err) {
        console.error(`[net-worker] ${(err as Error).message}`);
        work = { consumed: 0, expired: 0 };
      }
      // "slow down queue processing to avoid using too much CPU": up to 1 s, cut short by the first wake
      await sleep(1000);
    } while (!stopping && (work.consumed > 0 || work.expired > 0));
  }
}

await sql.listen("net_http_request", () => {
  if (shouldWake) return;
  shouldWake = true;
  wake?.();
});
console.log("[net-worker] the pg_net stand-in drains net.http_request_queue");
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    stopping = true;
    wake?.();
    setTimeout(() => process.exit(0), 200);
  });
}
await loop();
await sql.end({ timeout: 1 });
