// pg_net stand-in worker for the local stack. Like pg_net's background worker it deletes each
// queued request before sending it, sends it once (no retries), and records the answer in
// net._http_response. net._stand_in_settings.drop_rate makes it drop requests, for tests.
import type { JSONValue } from "postgres";
import { connect } from "../lib/db.ts";

const BATCH = 200;
const sql = connect();
let stopping = false;
let wake: (() => void) | undefined;

type Request = {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
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
};

async function send(r: Request): Promise<Response> {
  const base = {
    id: r.id,
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out: false,
    error_msg: null,
  };
  try {
    const res = await fetch(r.url, {
      method: r.method,
      headers: r.headers,
      body: r.method === "GET" || !r.body ? undefined : new Uint8Array(r.body),
      signal: AbortSignal.timeout(r.timeout_milliseconds),
    });
    const content = await res.text();
    return {
      ...base,
      status_code: res.status,
      content_type: res.headers.get("content-type"),
      headers: Object.fromEntries(res.headers),
      content,
    };
  } catch (err) {
    const timedOut = (err as Error).name === "TimeoutError";
    return {
      ...base,
      timed_out: timedOut,
      error_msg: timedOut ? `Timeout of ${r.timeout_milliseconds} ms reached` : (err as Error).message,
    };
  }
}

async function drainOnce(): Promise<number> {
  const [{ drop_rate }] = await sql<{ drop_rate: string }[]>`select drop_rate from net._stand_in_settings`;
  const batch = await sql<Request[]>`
    delete from net.http_request_queue
     where id in (select id from net.http_request_queue order by id limit ${BATCH} for update skip locked)
    returning id, method, url, headers, body, timeout_milliseconds`;
  if (batch.length === 0) return 0;
  const kept = batch.filter(() => Math.random() >= Number(drop_rate));
  const responses = await Promise.all(kept.map(send));
  if (responses.length) {
    await sql`insert into net._http_response ${sql(responses.map((r) => ({ ...r, headers: r.headers as JSONValue })))}`;
  }
  return batch.length;
}

async function loop() {
  while (!stopping) {
    let n = 0;
    try {
      n = await drainOnce();
    } catch (err) {
      console.error(`[net-worker] ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (n === 0) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 250);
      });
    }
  }
}

await sql.listen("net_http_request", () => wake?.());
console.log("[net-worker] draining net.http_request_queue");
process.on("SIGTERM", () => {
  stopping = true;
  wake?.();
  setTimeout(() => process.exit(0), 200);
});
process.on("SIGINT", () => {
  stopping = true;
  wake?.();
  setTimeout(() => process.exit(0), 200);
});
await loop();
await sql.end({ timeout: 1 });
