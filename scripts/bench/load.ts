// Load generators: events signed up front, then POSTed to the webhook in a closed loop (fixed
// concurrency, as fast as answers come) or an open loop (a fixed arrival rate, answered or not).
import http from "node:http";
import { performance } from "node:perf_hooks";
import { type Evt, signature } from "../lib/stripe-events.ts";
import { type BenchContext, sleep } from "./context.ts";

type Signed = { id: string; type: string; body: Buffer; header: string };

/** Serializes and signs every event up front, so signing is not part of any timing. */
export async function signAll(events: Evt[]): Promise<Signed[]> {
  const ts = Math.floor(Date.now() / 1000);
  return Promise.all(events.map(async (e) => {
    const body = JSON.stringify(e);
    return { id: e.id, type: e.type, body: Buffer.from(body), header: await signature(body, undefined, ts) }; // the current secret
  }));
}

type Outcome = { ok: boolean; status: number; result?: string; duplicate?: boolean; error?: string };

function post(agent: http.Agent, url: URL, ev: Signed, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: "POST",
      agent,
      timeout: timeoutMs,
      headers: { "content-type": "application/json", "content-length": ev.body.length, "stripe-signature": ev.header },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => resolve({ ok: false, status: res.statusCode ?? 0, error: e.message }));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        // deno-lint-ignore no-explicit-any -- whatever JSON the endpoint answered
        let json: any;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch { /* not JSON */ }
        const ok = status >= 200 && status < 300;
        resolve({
          ok,
          status,
          result: json?.status,
          duplicate: json?.duplicate,
          error: ok ? undefined : String(json?.error ?? json?.message ?? `HTTP ${status}`),
        });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) => resolve({ ok: false, status: 0, error: e.message }));
    req.end(ev.body);
  });
}

/** Counts of HTTP statuses, pipeline outcomes (processed | ignored | failed) and error messages. */
class Tally {
  http: Record<string, number> = {};
  results: Record<string, number> = {};
  errors: Record<string, number> = {};
  errorCount = 0;
  add(o: Outcome) {
    this.http[o.status] = (this.http[o.status] ?? 0) + 1;
    if (o.ok) {
      const r = o.duplicate ? "duplicate" : o.result ?? "unknown";
      this.results[r] = (this.results[r] ?? 0) + 1;
    } else {
      this.errorCount++;
      const key = (o.error ?? "error").slice(0, 120);
      this.errors[key] = (this.errors[key] ?? 0) + 1;
    }
  }
}

/** Closed loop: `concurrency` workers, each sending the next unsent event when its last one answered. */
export async function closedLoop(ctx: BenchContext, events: Signed[], concurrency: number, maxSeconds: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const tally = new Tally();
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  const worker = async () => {
    while (next < events.length && performance.now() < deadline) {
      const ev = events[next++];
      const t0 = performance.now();
      const o = await post(agent, ctx.webhookUrl, ev, ctx.settings.requestTimeoutMs);
      latencies.push(performance.now() - t0);
      tally.add(o);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, events.length) }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return { tally, latencies, elapsedS, sent: next, timedOut: next < events.length };
}

/**
 * Open loop: event i is sent at t0 + i / rate whether or not earlier ones were answered; latency
 * counts from the scheduled time, so sender lag is included. Bounded: at most maxInFlight requests
 * at once (the rest count as not sent), sending stops 5 s after the schedule ends, and the drain
 * waits one request timeout at most.
 */
export async function openLoop(ctx: BenchContext, events: Signed[], rate: number) {
  const s = ctx.settings;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const tally = new Tally();
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let inFlight = 0;
  let notSent = 0;
  let maxInFlight = 0;
  const intervalMs = 1000 / rate;
  const t0 = performance.now() + 50;
  const sendDeadline = t0 + events.length * intervalMs + 5_000;
  let i = 0;
  while (i < events.length && performance.now() < sendDeadline) {
    const now = performance.now();
    // send everything that is due; latency counts from the scheduled time, so sender lag is included
    while (i < events.length && t0 + i * intervalMs <= now) {
      const scheduled = t0 + i * intervalMs;
      const ev = events[i++];
      if (inFlight >= s.maxInFlight) {
        notSent++;
        continue;
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      pending.push(
        post(agent, ctx.webhookUrl, ev, s.requestTimeoutMs).then((o) => {
          inFlight--;
          latencies.push(performance.now() - scheduled);
          tally.add(o);
        }),
      );
    }
    if (i < events.length) await sleep(Math.max(0, t0 + i * intervalMs - performance.now()));
  }
  notSent += events.length - i;
  // bounded drain: every request has its own timeout, this is the backstop
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(pending),
    new Promise((r) => {
      drainTimer = setTimeout(r, s.requestTimeoutMs + 1000);
    }),
  ]);
  clearTimeout(drainTimer);
  const achievedRate = latencies.length / ((performance.now() - t0) / 1000);
  agent.destroy();
  return { tally, latencies, notSent, maxInFlight, achievedRate };
}
