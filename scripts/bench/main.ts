// npm run bench: how fast the pipeline ingests Stripe events on this machine, next to what the
// same database does for bare single-row inserts (pgbench, measured in the same run).
//
// Sections run in order and append rows to one report (figure, value, baseline, ratio); each
// section is a function of the shared context, so new ones are added by writing one more function
// and listing it in SECTIONS. After ingestion, the job engine: jobs/s drained end to end (enqueue ->
// pg_net dispatch -> crm-sync claim -> complete, capture adapter) next to the database alone running
// the same claim/complete cycle, and paid order -> CRM upsert latency at a steady event rate.
//
// Env: BENCH_EVENTS (2000) BENCH_CONCURRENCY (16) BENCH_RATE (100) BENCH_SECONDS (10)
//      BENCH_PGBENCH_SECONDS (10) BENCH_MAX_SECONDS (60, time limit of the throughput phase)
//      BENCH_JOBS (1000) BENCH_JOBS_MAX_SECONDS (60, time limit of each drain)
//      BENCH_CRM_EVENTS (100) BENCH_CRM_RATE (20, checkouts/s for the commit -> CRM latency)
//      BENCH_ONLY (comma-separated section names, e.g. "jobs,jobs@rate"; default all)
// Output: the table on stdout and <stackDir>/bench.json.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { config } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";
import { pendingOrders } from "../lib/seed.ts";
import { log as stackLog, startStack } from "../stack/stack.ts";
import { event, fixture, signature, type Evt } from "../lib/stripe-events.ts";

const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

const intEnv = (key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) => {
  const raw = config.env[key];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${key} must be a number from ${min} to ${max} (got ${raw})`);
  return Math.floor(n);
};

const settings = {
  events: intEnv("BENCH_EVENTS", 2000),
  concurrency: intEnv("BENCH_CONCURRENCY", 16),
  rate: intEnv("BENCH_RATE", 100),
  seconds: intEnv("BENCH_SECONDS", 10),
  pgbenchSeconds: intEnv("BENCH_PGBENCH_SECONDS", 10),
  maxSeconds: intEnv("BENCH_MAX_SECONDS", 60),
  jobs: intEnv("BENCH_JOBS", 1000, 8, 20_000),
  jobsMaxSeconds: intEnv("BENCH_JOBS_MAX_SECONDS", 60, 1, 600),
  crmEvents: intEnv("BENCH_CRM_EVENTS", 100, 1, 5_000),
  crmRate: intEnv("BENCH_CRM_RATE", 20, 1, 500),
  /** pgbench clients of the DB-only job baseline: crm-sync's Postgres pool (_shared/db.ts connect max 8). */
  jobsDbClients: 8,
  jobsPollMs: 100,
  /** How long a section waits for earlier sections' jobs to finish before it measures anything. */
  quiesceSeconds: 60,
  pgbenchClients: 16,
  pgbenchThreads: 2,
  baselinePayloadBytes: 2048,
  warmupEvents: 50,
  requestTimeoutMs: 15_000,
  /** Open-loop safety cap: requests in flight at once before new ones are counted as not sent. */
  maxInFlight: 2000,
};

function log(msg: string) {
  console.log(`[bench] ${msg}`);
}

// ---------------------------------------------------------------- report

export type Row = {
  section: string;
  figure: string;
  value: number | null;
  unit: string;
  /** The figure this one is compared with; ratio = value / baseline.value. */
  baseline?: { label: string; value: number | null; unit: string };
  note?: string;
};

export class Report {
  rows: Row[] = [];
  /** Raw per-section details for bench.json (samples summaries, outcome counts, commands). */
  details: Record<string, unknown> = {};

  add(row: Row) {
    this.rows.push(row);
  }

  ratio(row: Row): number | null {
    const b = row.baseline?.value;
    if (row.value === null || b === null || b === undefined || b === 0) return null;
    return row.value / b;
  }

  table(): string {
    const fmt = (v: number | null | undefined, unit: string) =>
      v === null || v === undefined || !Number.isFinite(v) ? "n/a" : `${fmtNum(v)} ${unit}`.trim();
    const header = ["section", "figure", "value", "baseline", "ratio"];
    const lines = this.rows.map((r) => [
      r.section,
      r.figure + (r.note ? ` (${r.note})` : ""),
      fmt(r.value, r.unit),
      r.baseline ? `${fmt(r.baseline.value, r.baseline.unit)}  [${r.baseline.label}]` : "",
      r.baseline ? (this.ratio(r) === null ? "n/a" : `${this.ratio(r)!.toFixed(2)}x`) : "",
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(line)].join("\n");
  }

  toJSON() {
    return { rows: this.rows.map((r) => ({ ...r, ratio: this.ratio(r) })), details: this.details };
  }
}

function fmtNum(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

// ---------------------------------------------------------------- context shared by sections

export type BenchContext = {
  settings: typeof settings;
  report: Report;
  /** Named figures a later section may compare against (e.g. "pgbench.insert_tps"). */
  metrics: Map<string, number>;
  db: Sql;
  runTag: string;
  webhookUrl: URL;
};

export type Section = { name: string; run: (ctx: BenchContext) => Promise<void> };

// ---------------------------------------------------------------- small utilities

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function summarize(samplesMs: number[]) {
  const s = [...samplesMs].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
  return {
    count: s.length,
    mean,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1] : null,
  };
}

function assertLocal(what: string, hostname: string) {
  if (!["127.0.0.1", "localhost"].includes(hostname)) {
    throw new Error(`${what} points at ${hostname}: the bench only targets 127.0.0.1`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- pgbench baseline

function pgConn() {
  const url = new URL(config.dbUrl);
  assertLocal("the database URL", url.hostname);
  return {
    args: ["-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username)],
    db: decodeURIComponent(url.pathname.slice(1)) || "postgres",
    env: { ...process.env, PGPASSWORD: decodeURIComponent(url.password), PGAPPNAME: "bench-pgbench" },
  };
}

function runPgbench(args: string[], timeoutMs: number): Promise<string> {
  const conn = pgConn();
  const argv = [...conn.args, ...args, conn.db];
  return new Promise((resolve, reject) => {
    execFile(PGBENCH, argv, { env: conn.env, timeout: timeoutMs, maxBuffer: 16 << 20, cwd: config.stackDir },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`pgbench ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      });
  });
}

function parsePgbench(out: string) {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : null;
  };
  return {
    tps: num(/^tps = ([\d.]+)/m),
    latencyAvgMs: num(/^latency average = ([\d.]+) ms/m),
    latencyStddevMs: num(/^latency stddev = ([\d.]+) ms/m),
    scheduleLagAvgMs: num(/^rate limit schedule lag: avg ([\d.]+)/m),
    transactions: num(/^number of transactions actually processed: (\d+)/m),
    failed: num(/^number of failed transactions: (\d+)/m),
  };
}

/** A SQL literal pgbench passes through untouched: E'' with ':' escaped (pgbench reads :name as a variable). */
function pgbenchLiteral(text: string): string {
  return "E'" + text.replace(/\\/g, "\\\\").replace(/'/g, "''").replace(/:/g, "\\x3a") + "'";
}

/** A real Stripe event, padded to the target size, as the baseline row's payload. */
function baselinePayload(bytes: number): string {
  const evt: Record<string, unknown> = fixture("payment_intent_succeeded");
  const base = JSON.stringify({ ...evt, bench_padding: "" });
  return JSON.stringify({ ...evt, bench_padding: "x".repeat(Math.max(0, bytes - base.length)) });
}

const pgbenchBaseline: Section = {
  name: "baseline",
  async run(ctx) {
    const s = ctx.settings;
    const scriptFile = join(config.stackDir, "bench-insert.sql");
    const logPrefix = join(config.stackDir, `bench-pgbench-${ctx.runTag}`);
    const payload = baselinePayload(s.baselinePayloadBytes);
    writeFileSync(scriptFile, `insert into bench.baseline (payload) values (${pgbenchLiteral(payload)}::jsonb);\n`);
    await ctx.db.unsafe(`drop schema if exists bench cascade;
      create schema bench;
      create table bench.baseline (id bigserial primary key, payload jsonb not null);`);
    const common = ["-n", "-M", "prepared", "-f", scriptFile, "-c", String(s.pgbenchClients), "-j", String(s.pgbenchThreads),
      "-T", String(s.pgbenchSeconds)];
    const timeout = (s.pgbenchSeconds + 60) * 1000;
    try {
      // 1. closed loop, as fast as it goes: the insert ceiling
      log(`pgbench: ${s.pgbenchClients} clients, ${s.pgbenchSeconds}s, one ${payload.length}-byte jsonb row per transaction`);
      const max = parsePgbench(await runPgbench(common, timeout));
      ctx.metrics.set("pgbench.insert_tps", max.tps ?? NaN);
      ctx.metrics.set("pgbench.latency_avg_ms", max.latencyAvgMs ?? NaN);
      ctx.report.add({ section: "baseline", figure: "row payload (jsonb)", value: payload.length, unit: "B" });
      ctx.report.add({ section: "baseline", figure: `pgbench insert tps (c${s.pgbenchClients})`, value: max.tps, unit: "tps" });
      ctx.report.add({ section: "baseline", figure: `pgbench latency avg (c${s.pgbenchClients})`, value: max.latencyAvgMs, unit: "ms" });

      // 2. open loop at the ingestion fixed rate, per-transaction log for percentiles
      log(`pgbench: fixed rate ${s.rate}/s for ${s.pgbenchSeconds}s (per-transaction log)`);
      const fixed = parsePgbench(await runPgbench([...common, "-R", String(s.rate), "--log", `--log-prefix=${logPrefix}`], timeout));
      const samples: number[] = [];
      const logFiles = readdirSync(config.stackDir).filter((f) => f.startsWith(`bench-pgbench-${ctx.runTag}.`));
      for (const f of logFiles) {
        for (const line of readFileSync(join(config.stackDir, f), "utf8").split("\n")) {
          // client_id transaction_no time script_no time_epoch time_us [schedule_lag]; time (us) counts
          // from the scheduled start under -R, like the ingestion figures below
          const fields = line.trim().split(/\s+/);
          if (fields.length >= 6 && /^\d+$/.test(fields[2])) samples.push(Number(fields[2]) / 1000);
        }
        rmSync(join(config.stackDir, f), { force: true });
      }
      const sum = summarize(samples);
      for (const p of ["p50", "p95", "p99", "max"] as const) {
        ctx.metrics.set(`pgbench.rate.${p}_ms`, sum[p] ?? NaN);
        ctx.report.add({ section: "baseline", figure: `pgbench latency ${p} @${s.rate}/s`, value: sum[p], unit: "ms" });
      }
      ctx.report.details.baseline = {
        payloadBytes: payload.length,
        closedLoop: max,
        fixedRate: { ...fixed, rate: s.rate, arrivals: "poisson (pgbench -R)", samples: sum },
        command: `pgbench -n -M prepared -f bench-insert.sql -c ${s.pgbenchClients} -j ${s.pgbenchThreads} -T ${s.pgbenchSeconds} [-R ${s.rate} --log]`,
      };
    } finally {
      await ctx.db.unsafe("drop schema if exists bench cascade").catch(() => {});
      rmSync(scriptFile, { force: true });
    }
  },
};

// ---------------------------------------------------------------- Stripe events

type Signed = { id: string; type: string; body: Buffer; header: string };

/** App-side precondition of a checkout: the order exists as pending_payment (client_reference_id). */
function createOrders(ctx: BenchContext, n: number): Promise<string[]> {
  return pendingOrders(ctx.db, n);
}

/** A paid checkout.session.completed for a pending order (client_reference_id): the order becomes paid. */
function checkoutCompleted(t: string, orderId: string, opts: { id: string; created: number }): Evt {
  return event("checkout_session_completed", {
    id: `cs_b${t}`, payment_intent: `pi_b${t}`, customer: `cus_b${t}`, client_reference_id: orderId, metadata: { order_id: orderId },
    amount_total: 2500, amount_subtotal: 2500, currency: "usd", mode: "payment", status: "complete", payment_status: "paid",
  }, opts);
}

const MIX = ["checkout", "pi_succeeded", "charge_refunded", "sub_updated", "unknown"] as const;

/**
 * n events in a repeating mix of five: a checkout for a fresh order, its payment intent succeeding,
 * a partial refund of its charge, a subscription update for a fresh customer, and a type the
 * pipeline does not handle (payment_intent.created: recorded, ignored). Linked events of one
 * scenario are adjacent, so they arrive concurrently, as Stripe sends them.
 */
async function buildEvents(ctx: BenchContext, label: string, n: number): Promise<Evt[]> {
  const orders = await createOrders(ctx, Math.ceil(n / MIX.length));
  const refundBase = fixture("charge_refunded").data.object.refunds;
  const now = Math.floor(Date.now() / 1000);
  const out: Evt[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / MIX.length);
    const t = `${ctx.runTag}${label}${k}`;
    const [pi, ch, cus, orderId] = [`pi_b${t}`, `ch_b${t}`, `cus_b${t}`, orders[k]];
    const opts = { id: `evt_b${ctx.runTag}${label}${i}`, created: now };
    switch (MIX[i % MIX.length]) {
      case "checkout":
        out.push(checkoutCompleted(t, orderId, opts));
        break;
      case "pi_succeeded":
        out.push(event("payment_intent_succeeded", {
          id: pi, customer: cus, amount: 2500, amount_received: 2500, currency: "usd", status: "succeeded",
          latest_charge: ch, metadata: { order_id: orderId },
        }, opts));
        break;
      case "charge_refunded":
        out.push(event("charge_refunded", {
          id: ch, payment_intent: pi, customer: cus, amount: 2500, amount_captured: 2500, amount_refunded: 1000,
          currency: "usd", status: "succeeded", refunded: false,
          refunds: { ...refundBase, data: [{ ...refundBase.data[0], id: `re_b${t}`, payment_intent: pi, charge: ch, amount: 1000, status: "succeeded" }] },
        }, opts));
        break;
      case "sub_updated":
        out.push(event("subscription_updated", { id: `sub_b${t}`, customer: `cus_bs${t}`, status: "active" }, opts));
        break;
      case "unknown":
        out.push(event("payment_intent_created", { id: `pi_bu${t}` }, opts));
        break;
    }
  }
  return out;
}

/** Serializes and signs every event up front, so signing is not part of any timing. */
async function signAll(events: Evt[]): Promise<Signed[]> {
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
      host: url.hostname, port: url.port, path: url.pathname, method: "POST", agent, timeout: timeoutMs,
      headers: { "content-type": "application/json", "content-length": ev.body.length, "stripe-signature": ev.header },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (e) => resolve({ ok: false, status: res.statusCode ?? 0, error: e.message }));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        let json: any;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch { /* not JSON */ }
        const ok = status >= 200 && status < 300;
        resolve({ ok, status, result: json?.status, duplicate: json?.duplicate,
          error: ok ? undefined : String(json?.error ?? json?.message ?? `HTTP ${status}`) });
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

/** Ledger rows of this run's events by status: the database's side of what the responses claim. */
async function ledgerStatus(ctx: BenchContext, label: string) {
  const rows = await ctx.db`
    select status, count(*)::int as n from ops.stripe_events
    where event_id like ${`evt_b${ctx.runTag}${label}%`} group by status order by status`;
  return Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
}

/** Closed loop: `concurrency` workers, each sending the next unsent event when its last one answered. */
async function closedLoop(ctx: BenchContext, events: Signed[], concurrency: number, maxSeconds: number) {
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

// ---------------------------------------------------------------- ingestion sections

const ingestThroughput: Section = {
  name: "ingest",
  async run(ctx) {
    const s = ctx.settings;
    // warm-up (not measured): Deno JIT, the function's connection pool, keep-alive sockets
    const warm = await signAll(await buildEvents(ctx, "w", s.warmupEvents));
    await closedLoop(ctx, warm, Math.min(4, s.concurrency), 30);

    log(`ingestion: building and signing ${s.events} events`);
    const events = await signAll(await buildEvents(ctx, "t", s.events));
    const meanBody = events.reduce((a, e) => a + e.body.length, 0) / Math.max(1, events.length);
    log(`ingestion: POST ${events.length} events, concurrency ${s.concurrency} (time limit ${s.maxSeconds}s)`);
    const r = await closedLoop(ctx, events, s.concurrency, s.maxSeconds);
    const okCount = r.sent - r.tally.errorCount;
    const eps = okCount / r.elapsedS;
    const lat = summarize(r.latencies);
    ctx.metrics.set("ingest.events_per_s", eps);
    const tps = ctx.metrics.get("pgbench.insert_tps");
    ctx.report.add({ section: "ingest", figure: "event body (mean)", value: Math.round(meanBody), unit: "B" });
    ctx.report.add({
      section: "ingest", figure: `events/s (c${s.concurrency}, ${r.sent} events)`, value: eps, unit: "ev/s",
      baseline: { label: "pgbench insert tps", value: tps ?? null, unit: "tps" },
      note: r.timedOut ? `stopped at the ${s.maxSeconds}s limit` : undefined,
    });
    ctx.report.add({
      section: "ingest", figure: `latency avg (c${s.concurrency})`, value: lat.mean, unit: "ms",
      baseline: { label: "pgbench latency avg", value: ctx.metrics.get("pgbench.latency_avg_ms") ?? null, unit: "ms" },
    });
    ctx.report.add({ section: "ingest", figure: "errors (non-2xx or no answer)", value: r.tally.errorCount, unit: "" });
    ctx.report.add({ section: "ingest", figure: "apply failed (2xx, status failed)", value: r.tally.results.failed ?? 0, unit: "" });
    ctx.report.details.ingest = {
      events: events.length, sent: r.sent, elapsedS: r.elapsedS, meanBodyBytes: Math.round(meanBody),
      concurrency: s.concurrency, mix: MIX, latencyMs: lat, http: r.tally.http, results: r.tally.results,
      errors: r.tally.errors, ledger: await ledgerStatus(ctx, "t"),
    };
  },
};

/**
 * Open loop: event i is sent at t0 + i / rate whether or not earlier ones were answered; latency
 * counts from the scheduled time, so sender lag is included. Bounded: at most maxInFlight requests
 * at once (the rest count as not sent), sending stops 5 s after the schedule ends, and the drain
 * waits one request timeout at most.
 */
async function openLoop(ctx: BenchContext, events: Signed[], rate: number) {
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
      pending.push(post(agent, ctx.webhookUrl, ev, s.requestTimeoutMs).then((o) => {
        inFlight--;
        latencies.push(performance.now() - scheduled);
        tally.add(o);
      }));
    }
    if (i < events.length) await sleep(Math.max(0, t0 + i * intervalMs - performance.now()));
  }
  notSent += events.length - i;
  // bounded drain: every request has its own timeout, this is the backstop
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise((r) => { drainTimer = setTimeout(r, s.requestTimeoutMs + 1000); })]);
  clearTimeout(drainTimer);
  const achievedRate = latencies.length / ((performance.now() - t0) / 1000);
  agent.destroy();
  return { tally, latencies, notSent, maxInFlight, achievedRate };
}

const ingestLatency: Section = {
  name: "ingest@rate",
  async run(ctx) {
    const s = ctx.settings;
    const total = s.rate * s.seconds;
    log(`ack latency: building and signing ${total} events`);
    const events = await signAll(await buildEvents(ctx, "r", total));
    log(`ack latency: open loop, ${s.rate} events/s for ${s.seconds}s`);
    const { tally, latencies, notSent, maxInFlight, achievedRate } = await openLoop(ctx, events, s.rate);
    const lat = summarize(latencies);
    for (const p of ["p50", "p95", "p99", "max"] as const) {
      ctx.report.add({
        section: "ingest@rate", figure: `ack latency ${p} @${s.rate}/s`, value: lat[p], unit: "ms",
        baseline: { label: `pgbench ${p} @${s.rate}/s`, value: ctx.metrics.get(`pgbench.rate.${p}_ms`) ?? null, unit: "ms" },
      });
    }
    ctx.report.add({ section: "ingest@rate", figure: "errors (non-2xx, no answer or not sent)", value: tally.errorCount + notSent, unit: "" });
    ctx.report.details["ingest@rate"] = {
      rate: s.rate, arrivals: "uniform", seconds: s.seconds, scheduled: events.length, answered: latencies.length, notSent, maxInFlight,
      achievedRatePerS: achievedRate, latencyMs: lat, http: tally.http, results: tally.results, errors: tally.errors,
      ledger: await ledgerStatus(ctx, "r"),
    };
  },
};

// ---------------------------------------------------------------- job engine sections

/** The CRM adapter crm-sync picks from this env (the rule of supabase/functions/_shared/crm-config.ts). */
function crmAdapterFromEnv(): { name: "capture" | "hubspot"; apiBase?: string } {
  const env = config.env;
  const forced = env.CRM_ADAPTER?.trim().toLowerCase();
  const hubspot = forced === "hubspot" || (!forced && !!env.HUBSPOT_ACCESS_TOKEN?.trim());
  return hubspot ? { name: "hubspot", apiBase: env.HUBSPOT_API_BASE?.trim() || "https://api.hubapi.com" } : { name: "capture" };
}

function requireCaptureAdapter() {
  if (crmAdapterFromEnv().name !== "capture") {
    throw new Error("the job engine figures are for the capture CRM adapter: unset HUBSPOT_ACCESS_TOKEN or set CRM_ADAPTER=capture");
  }
}

/** Jobs that are due or running now (retries waiting for their backoff are not counted). */
async function openJobs(ctx: BenchContext): Promise<number> {
  const [{ n }] = await ctx.db`
    select count(*)::int as n from ops.jobs
     where status = 'running' or (status in ('queued', 'failed') and run_at <= now())`;
  return n as number;
}

/**
 * Waits (bounded) until earlier sections' jobs are done, so they do not share the machine with a
 * measurement. When nothing moves for 5 s it ticks the sweep as pg_cron would (with a 10 s
 * lost-dispatch window instead of 30 s), e.g. for seed jobs dispatched before the gateway was up.
 */
async function quiesce(ctx: BenchContext, label: string) {
  const started = performance.now();
  const deadline = started + ctx.settings.quiesceSeconds * 1000;
  let open = await openJobs(ctx);
  const initial = open;
  let lastChange = performance.now();
  let sweeps = 0;
  while (open > 0 && performance.now() < deadline) {
    await sleep(250);
    const now = await openJobs(ctx);
    if (now !== open) lastChange = performance.now();
    else if (performance.now() - lastChange > 5000) {
      await ctx.db`select ops.sweep_jobs(500, interval '10 seconds')`;
      sweeps++;
      lastChange = performance.now();
    }
    open = now;
  }
  const waitedS = (performance.now() - started) / 1000;
  if (initial > 0) log(`${label}: waited ${waitedS.toFixed(1)}s for ${initial} earlier jobs (${open} still open, ${sweeps} sweep ticks)`);
  return { initialOpen: initial, waitedS, stillOpen: open, sweepTicks: sweeps };
}

/** Polls ops.jobs every jobsPollMs until every job is succeeded or dead, or the time limit. */
async function waitJobs(ctx: BenchContext, ids: string[], maxSeconds: number) {
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  let counts: Record<string, number> = {};
  for (;;) {
    const rows = await ctx.db`select status, count(*)::int as n from ops.jobs where id = any(${ids}::bigint[]) group by status`;
    counts = Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
    const finished = (counts.succeeded ?? 0) + (counts.dead ?? 0);
    if (finished >= ids.length) return { done: true, counts, elapsedS: (performance.now() - started) / 1000 };
    if (performance.now() >= deadline) return { done: false, counts, elapsedS: (performance.now() - started) / 1000 };
    await sleep(ctx.settings.jobsPollMs);
  }
}

/** Attempt outcomes of these jobs (succeeded, failed, lease_expired, ...): what a drain cost beyond one try each. */
async function attemptOutcomes(ctx: BenchContext, ids: string[]) {
  const rows = await ctx.db`
    select coalesce(outcome, 'unfinished') as outcome, count(*)::int as n from ops.job_attempts
     where job_id = any(${ids}::bigint[]) group by 1 order by 1`;
  return Object.fromEntries(rows.map((r) => [r.outcome as string, r.n as number]));
}

const workerName = "'bench-db-' || :client_id::text";
const captureContactId = "'capture-contact-' || left(encode(sha256(convert_to(:email::text, 'UTF8')), 'hex'), 24)";

/**
 * DB-only baselines, as pgbench scripts (-M prepared, one job per script run, each statement its own
 * transaction like the worker's): "claim_complete" is ops.claim_job + ops.complete_job alone;
 * "job_sql" is every statement crm-sync runs for a crm.contact job with the capture adapter (claim,
 * context, capture row, mapping, complete). The row lookup in bench.jobq hands each run the next job.
 */
const DB_ONLY_SCRIPTS = {
  claim_complete: [
    "select job_id from bench.jobq where n = (select nextval('bench.jobq_seq')) \\gset",
    `select count(*) as claimed from ops.claim_job(:job_id, ${workerName}) \\gset`,
    "\\if :claimed",
    `select ops.complete_job(:job_id, ${workerName}, jsonb_build_object('bench', 'db-only'));`,
    "\\endif",
  ],
  job_sql: [
    "select job_id from bench.jobq where n = (select nextval('bench.jobq_seq')) \\gset",
    `select count(*) as claimed from ops.claim_job(:job_id, ${workerName}) \\gset`,
    "\\if :claimed",
    `select c ->> 'email' as email, c ->> 'customer_id' as customer_id, coalesce(c ->> 'version', '0') as version
       from (select ops.crm_job_context(:job_id, ${workerName}) as c) ctx \\gset`.replace(/\n\s*/g, " "),
    `select ops.record_crm_capture('contact', :email, jsonb_build_object('id', ${captureContactId}, 'email', :email::text,
       'lifecycleStage', 'lead', 'billingStatus', 'lead', 'bench', 'db-only'));`.replace(/\n\s*/g, " "),
    `select ops.record_crm_sync(:job_id, ${workerName}, 'capture', jsonb_build_object('contacts', jsonb_build_array(
       jsonb_build_object('customer_id', :customer_id::text, 'email', :email::text, 'crm_id', ${captureContactId},
       'lifecycle_stage', 'lead', 'version', :version::int))));`.replace(/\n\s*/g, " "),
    `select ops.complete_job(:job_id, ${workerName}, jsonb_build_object('adapter', 'capture', 'bench', 'db-only'));`,
    "\\endif",
  ],
} as const;

async function dbOnlyJobs(ctx: BenchContext, script: keyof typeof DB_ONLY_SCRIPTS, customerIds: string[]) {
  const s = ctx.settings;
  const clients = s.jobsDbClients;
  const perClient = Math.floor(customerIds.length / clients);
  const total = perClient * clients;
  const scriptFile = join(config.stackDir, `bench-jobs-${script}.sql`);
  writeFileSync(scriptFile, DB_ONLY_SCRIPTS[script].join("\n") + "\n");
  const prefix = `bench:${ctx.runTag}:db-${script}:`;
  try {
    await ctx.db.unsafe(`drop schema if exists bench cascade;
      create schema bench;
      create table bench.jobq (n integer primary key, job_id bigint not null);
      create sequence bench.jobq_seq;`);
    // enqueued delayed (the insert trigger dispatches only due jobs), then made due with
    // last_dispatched_at = now() so the pg_cron sweep leaves them alone for its 30 s lost-dispatch window
    await ctx.db`
      insert into bench.jobq (n, job_id)
      select row_number() over (), ops.enqueue_job('crm.contact', jsonb_build_object('customer_id', c.id), ${prefix} || c.id::text, interval '1 hour')
        from unnest(${customerIds.slice(0, total)}::uuid[]) as c(id)`;
    await ctx.db`update ops.jobs set run_at = now(), last_dispatched_at = now() where id in (select job_id from bench.jobq)`;
    log(`jobs: DB-only ${script}: pgbench ${clients} clients x ${perClient} jobs`);
    const out = parsePgbench(await runPgbench(
      ["-n", "-M", "prepared", "-f", scriptFile, "-c", String(clients), "-j", String(s.pgbenchThreads), "-t", String(perClient)],
      (s.jobsMaxSeconds + 30) * 1000));
    const [done] = await ctx.db`
      select count(*) filter (where status = 'succeeded' and result ->> 'bench' = 'db-only')::int as completed
        from ops.jobs where id in (select job_id from bench.jobq)`;
    return { ...out, jobs: total, completed: done.completed as number, clients };
  } finally {
    // these jobs did nothing real: remove them and their capture rows so ops views only show real work
    await ctx.db`delete from ops.crm_capture where body ->> 'bench' = 'db-only'`.catch(() => {});
    await ctx.db`delete from ops.jobs where id in (select job_id from bench.jobq)`.catch(() => {});
    await ctx.db.unsafe("drop schema if exists bench cascade").catch(() => {});
    rmSync(scriptFile, { force: true });
  }
}

const jobsDrain: Section = {
  name: "jobs",
  async run(ctx) {
    requireCaptureAdapter();
    const s = ctx.settings;
    const n = s.jobs;
    const quiet = await quiesce(ctx, "jobs");

    // setup, not timed: n customers with emails. Their insert trigger enqueues one crm.contact job
    // each; draining those is the warm-up (Deno JIT, pools) and shows which adapter the worker runs.
    log(`jobs: creating ${n} customers; their own crm.contact jobs are the warm-up`);
    const customers = await ctx.db`
      insert into public.customers (email, name, billing_status)
      select format('bench-%s-%s@example.com', ${ctx.runTag}::text, i), format('Bench %s', i), 'lead'
        from generate_series(1, ${n}::int) as i
      returning id`;
    const customerIds = customers.map((c) => c.id as string);
    const warmIds = (await ctx.db`
      select id from ops.jobs where kind = 'crm.contact' and payload ->> 'customer_id' = any(${customerIds}::text[])`)
      .map((r) => String(r.id));
    const warm = await waitJobs(ctx, warmIds, s.jobsMaxSeconds);
    const adapters = await ctx.db`
      select coalesce(result ->> 'adapter', '?') as adapter, count(*)::int as n from ops.jobs
       where id = any(${warmIds}::bigint[]) and status = 'succeeded' group by 1`;
    const wrong = adapters.filter((a) => a.adapter !== "capture");
    if (wrong.length) throw new Error(`the running crm-sync worker uses ${wrong.map((a) => a.adapter).join(", ")}, not capture: restart the stack`);
    const warmQuiet = await quiesce(ctx, "jobs (after warm-up)");

    // 1. DB-only: the claim/complete cycle, then all of a crm.contact job's SQL, on pre-enqueued jobs
    const claimOnly = await dbOnlyJobs(ctx, "claim_complete", customerIds);
    const jobSql = await dbOnlyJobs(ctx, "job_sql", customerIds);

    // 2. end to end: n jobs committed at once; the insert trigger queues one pg_net request each,
    // the pg_net stand-in sends them to crm-sync, which claims, upserts (capture) and completes
    log(`jobs: enqueueing ${n} crm.contact jobs in one transaction, then polling every ${s.jobsPollMs} ms (limit ${s.jobsMaxSeconds}s)`);
    const prefix = `bench:${ctx.runTag}:e2e:`;
    let ids: string[] = [];
    let commitTs = "";
    const tEnqueue = performance.now();
    await ctx.db.begin(async (tx) => {
      const rows = await tx`
        select ops.enqueue_job('crm.contact', jsonb_build_object('customer_id', c.id), ${prefix} || c.id::text) as id
          from unnest(${customerIds}::uuid[]) as c(id)`;
      ids = rows.map((r) => String(r.id));
      // the last thing before COMMIT: nothing can be dispatched before this instant
      [{ ts: commitTs }] = await tx`select clock_timestamp()::text as ts`;
    });
    const enqueueMs = performance.now() - tEnqueue;
    const drained = await waitJobs(ctx, ids, s.jobsMaxSeconds);
    const [st] = await ctx.db`
      with j as (
        select status, attempts, dispatch_count, extract(epoch from succeeded_at - ${commitTs}::timestamptz) as done_s
          from ops.jobs where id = any(${ids}::bigint[])
      )
      select count(*) filter (where status = 'succeeded')::int as succeeded,
             count(*) filter (where status = 'dead')::int as dead,
             count(*) filter (where attempts > 1)::int as retried,
             count(*) filter (where dispatch_count > 1)::int as redispatched,
             max(done_s)::float8 as last_s, min(done_s)::float8 as first_s,
             (percentile_cont(0.5) within group (order by done_s))::float8 as p50_s,
             (percentile_cont(0.95) within group (order by done_s))::float8 as p95_s
        from j`;
    const attempts = await attemptOutcomes(ctx, ids);
    // all done: commit -> last success, from the database's clock; else what finished within the limit
    const drainS = drained.done && st.last_s !== null ? (st.last_s as number) : drained.elapsedS;
    const jobsPerS = (st.succeeded as number) / drainS;
    ctx.metrics.set("jobs.per_s", jobsPerS);

    const notAll = drained.done ? undefined : `stopped at the ${s.jobsMaxSeconds}s limit`;
    ctx.report.add({
      section: "jobs", figure: `DB-only claim+complete (pgbench c${claimOnly.clients}, ${claimOnly.jobs} jobs)`,
      value: claimOnly.tps, unit: "jobs/s",
    });
    ctx.report.add({
      section: "jobs", figure: `DB-only all of a job's SQL (pgbench c${jobSql.clients}, ${jobSql.jobs} jobs)`,
      value: jobSql.tps, unit: "jobs/s",
    });
    ctx.report.add({
      section: "jobs", figure: `jobs/s drained end to end (${n} crm.contact, capture)`, value: jobsPerS, unit: "jobs/s",
      baseline: { label: "DB-only claim+complete", value: claimOnly.tps, unit: "jobs/s" }, note: notAll,
    });
    ctx.report.add({
      section: "jobs", figure: "jobs/s drained end to end, vs the job's SQL", value: jobsPerS, unit: "jobs/s",
      baseline: { label: "DB-only all of a job's SQL", value: jobSql.tps, unit: "jobs/s" }, note: notAll,
    });
    ctx.report.add({ section: "jobs", figure: `enqueue txn (${n} jobs, one transaction)`, value: enqueueMs, unit: "ms" });
    ctx.report.add({ section: "jobs", figure: "commit -> last job succeeded", value: st.last_s === null ? null : (st.last_s as number) * 1000, unit: "ms" });
    ctx.report.add({ section: "jobs", figure: "jobs retried (attempts > 1)", value: st.retried as number, unit: "" });
    ctx.report.add({ section: "jobs", figure: "jobs swept (dispatched more than once)", value: st.redispatched as number, unit: "" });
    ctx.report.add({ section: "jobs", figure: "jobs not succeeded (dead or open at the limit)", value: n - (st.succeeded as number), unit: "" });
    ctx.report.details.jobs = {
      adapter: "capture", kind: "crm.contact", jobs: n, pollMs: s.jobsPollMs, maxSeconds: s.jobsMaxSeconds,
      quiesceBefore: quiet, quiesceAfterWarmup: warmQuiet,
      warmup: { jobs: warmIds.length, via: "customers insert trigger", ...warm, jobsPerS: (warm.counts.succeeded ?? 0) / warm.elapsedS, adapters },
      dbOnly: {
        claimComplete: { ...claimOnly, script: DB_ONLY_SCRIPTS.claim_complete },
        jobSql: { ...jobSql, script: DB_ONLY_SCRIPTS.job_sql },
        command: `pgbench -n -M prepared -f <script> -c ${s.jobsDbClients} -j ${s.pgbenchThreads} -t <jobs / clients>`,
      },
      endToEnd: {
        enqueueMs, commitTs, drainS, jobsPerS, timedOut: !drained.done, statuses: drained.counts, attempts,
        secondsAfterCommit: { first: st.first_s, p50: st.p50_s, p95: st.p95_s, last: st.last_s },
        retried: st.retried, redispatched: st.redispatched, dead: st.dead,
      },
      netStandInDropRate: Number((await ctx.db`select drop_rate from net._stand_in_settings`)[0]?.drop_rate ?? 0),
    };
  },
};

const crmLatency: Section = {
  name: "jobs@rate",
  async run(ctx) {
    requireCaptureAdapter();
    const s = ctx.settings;
    const m = s.crmEvents;
    const quiet = await quiesce(ctx, "jobs@rate");
    const orders = await createOrders(ctx, m);
    const created = Math.floor(Date.now() / 1000);
    const events = await signAll(orders.map((orderId, i) =>
      checkoutCompleted(`${ctx.runTag}c${i}`, orderId, { id: `evt_b${ctx.runTag}c${i}`, created })));
    log(`commit -> CRM: ${m} checkout.session.completed at ${s.crmRate}/s, then waiting for their crm.deal jobs (limit ${s.jobsMaxSeconds}s)`);
    const sent = await openLoop(ctx, events, s.crmRate);
    // the deal job is enqueued in the webhook's own transaction, so it exists once the event is acknowledged
    const ids = (await ctx.db`
      select id from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = any(${orders}::text[])`).map((r) => String(r.id));
    const waited = ids.length ? await waitJobs(ctx, ids, s.jobsMaxSeconds) : { done: false, counts: {}, elapsedS: 0 };
    // per order: the deal job's success and the capture adapter's deal upsert, each minus paid_at
    // (now() of the webhook's transaction, which enqueued the job: its commit follows within ms)
    const rows = await ctx.db`
      select extract(epoch from (j.succeeded_at - o.paid_at))::float8 * 1000 as done_ms,
             extract(epoch from (cap.first_at - o.paid_at))::float8 * 1000 as upsert_ms
        from public.orders o
        join lateral (
          select min(succeeded_at) as succeeded_at from ops.jobs
           where id = any(${ids}::bigint[]) and payload ->> 'order_id' = o.id::text and status = 'succeeded'
        ) j on true
        left join lateral (
          select min(created_at) as first_at from ops.crm_capture where operation = 'deal' and key = o.id::text
        ) cap on true
       where o.id = any(${orders}::uuid[]) and o.paid_at is not null and j.succeeded_at is not null`;
    const done = summarize(rows.map((r) => r.done_ms as number));
    const upsert = summarize(rows.filter((r) => r.upsert_ms !== null).map((r) => r.upsert_ms as number));
    const [{ paid }] = await ctx.db`select count(*)::int as paid from public.orders where id = any(${orders}::uuid[]) and paid_at is not null`;
    const adapters = await ctx.db`
      select coalesce(result ->> 'adapter', '?') as adapter, count(*)::int as n from ops.jobs
       where id = any(${ids}::bigint[]) and status = 'succeeded' group by 1`;
    const at = `@${s.crmRate}/s`;
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({ section: "jobs@rate", figure: `paid -> crm.deal job succeeded ${p} ${at}`, value: done[p], unit: "ms" });
    }
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({ section: "jobs@rate", figure: `paid -> CRM deal upsert (capture row) ${p} ${at}`, value: upsert[p], unit: "ms" });
    }
    ctx.report.add({
      section: "jobs@rate", figure: `orders without a synced deal (of ${m})`, value: m - done.count, unit: "",
      note: waited.done ? undefined : `stopped at the ${s.jobsMaxSeconds}s limit`,
    });
    ctx.report.details["jobs@rate"] = {
      events: m, rate: s.crmRate, arrivals: "uniform", quiesceBefore: quiet, ordersPaid: paid, dealJobs: ids.length, adapters,
      from: "orders.paid_at (now() of the webhook transaction that enqueued the job)",
      to: { jobSucceeded: "ops.jobs.succeeded_at", crmUpsert: "min(ops.crm_capture.created_at) for the order's deal key" },
      jobSucceededMs: done, crmUpsertMs: upsert, jobs: { ...waited, attempts: ids.length ? await attemptOutcomes(ctx, ids) : {} },
      ack: { achievedRatePerS: sent.achievedRate, latencyMs: summarize(sent.latencies), notSent: sent.notSent, http: sent.tally.http,
        results: sent.tally.results, errors: sent.tally.errors },
    };
  },
};

// Add sections here. The job engine runs last: ingestion's own CRM jobs are drained before it measures.
const SECTIONS: Section[] = [pgbenchBaseline, ingestThroughput, ingestLatency, jobsDrain, crmLatency];

// ---------------------------------------------------------------- main

async function machineInfo(db: Sql) {
  const nproc = spawnSync("nproc", { encoding: "utf8" }).stdout?.trim();
  const pgbenchVersion = spawnSync(PGBENCH, ["--version"], { encoding: "utf8" }).stdout?.trim();
  const [{ version }] = await db`select current_setting('server_version') as version`;
  return {
    nproc: Number(nproc) || os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavg1m: Math.round(os.loadavg()[0] * 100) / 100,
    node: process.version,
    postgres: version as string,
    pgbench: pgbenchVersion,
    platform: `${os.platform()} ${os.release()}`,
  };
}

async function main() {
  const webhookUrl = new URL(config.functionUrl("stripe-webhook"));
  assertLocal("the functions URL", webhookUrl.hostname);
  assertLocal("the database URL", new URL(config.dbUrl).hostname);
  // ingestion's paid orders enqueue CRM jobs too: a HubSpot adapter must point at a local fake
  const crm = crmAdapterFromEnv();
  if (crm.apiBase) assertLocal("the CRM API (HUBSPOT_API_BASE)", new URL(crm.apiBase).hostname);

  stackLog(`bringing the stack up (${config.stackDir})`);
  await startStack();

  const db = connect(config.dbUrl, { max: 2 });
  const ctx: BenchContext = {
    settings, report: new Report(), metrics: new Map(), db, webhookUrl,
    runTag: randomBytes(4).toString("hex"),
  };
  const startedAt = new Date().toISOString();
  const machine = await machineInfo(db);
  const sectionErrors: Record<string, string> = {};
  try {
    const only = (config.env.BENCH_ONLY ?? "").split(",").map((x) => x.trim()).filter(Boolean);
    const unknown = only.filter((name) => !SECTIONS.some((sec) => sec.name === name));
    if (unknown.length) throw new Error(`BENCH_ONLY names unknown sections: ${unknown.join(", ")} (have ${SECTIONS.map((x) => x.name).join(", ")})`);
    for (const section of SECTIONS.filter((sec) => only.length === 0 || only.includes(sec.name))) {
      const t = performance.now();
      try {
        await section.run(ctx);
      } catch (err) {
        const msg = (err as Error).message;
        sectionErrors[section.name] = msg;
        ctx.report.add({ section: section.name, figure: "section failed", value: null, unit: "", note: msg.split("\n")[0].slice(0, 160) });
        console.error(`[bench] section ${section.name} failed: ${msg}`);
      }
      log(`section ${section.name} done in ${((performance.now() - t) / 1000).toFixed(1)}s`);
    }
  } finally {
    await db.end();
  }

  const out = {
    startedAt, finishedAt: new Date().toISOString(), runTag: ctx.runTag, machine, settings,
    webhookUrl: webhookUrl.href, ...ctx.report.toJSON(), sectionErrors,
  };
  const jsonFile = join(config.stackDir, "bench.json");
  writeFileSync(jsonFile, JSON.stringify(out, null, 2) + "\n");

  console.log("");
  console.log(`machine: nproc ${machine.nproc}, ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ` +
    `PostgreSQL ${machine.postgres}, load ${machine.loadavg1m} at start`);
  console.log(`ratio = value / baseline; the load generator, gateway, Deno and Postgres share these ${machine.nproc} cores\n`);
  console.log(ctx.report.table());
  console.log(`\nresults: ${jsonFile}`);
  const failed = Object.keys(sectionErrors).length;
  process.exitCode = failed ? 1 : 0;
}

try {
  await main();
} catch (err) {
  console.error(`[bench] ${(err as Error).message}`);
  process.exitCode = 1;
}
