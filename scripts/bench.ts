// npm run bench: how fast the pipeline ingests Stripe events on this machine, next to what the
// same database does for bare single-row inserts (pgbench, measured in the same run).
//
// Sections run in order and append rows to one report (figure, value, baseline, ratio); each
// section is a function of the shared context, so new ones (e.g. the job engine: jobs/s drained,
// p95 commit -> CRM latency) are added by writing one more function and listing it in SECTIONS.
//
// Env: BENCH_EVENTS (2000) BENCH_CONCURRENCY (16) BENCH_RATE (100) BENCH_SECONDS (10)
//      BENCH_PGBENCH_SECONDS (10) BENCH_MAX_SECONDS (60, time limit of the throughput phase)
// Output: the table on stdout and <stackDir>/bench.json.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { config } from "./lib/config.ts";
import { log as stackLog, sql, startStack } from "./lib/stack.ts";
import { event, fixture, signature, type Evt } from "./lib/stripe-events.ts";

const PGBENCH = "/usr/lib/postgresql/15/bin/pgbench";

const intEnv = (key: string, fallback: number, min = 1) => {
  const raw = config.env[key];
  const n = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`${key} must be a number >= ${min} (got ${raw})`);
  return Math.floor(n);
};

const settings = {
  events: intEnv("BENCH_EVENTS", 2000),
  concurrency: intEnv("BENCH_CONCURRENCY", 16),
  rate: intEnv("BENCH_RATE", 100),
  seconds: intEnv("BENCH_SECONDS", 10),
  pgbenchSeconds: intEnv("BENCH_PGBENCH_SECONDS", 10),
  maxSeconds: intEnv("BENCH_MAX_SECONDS", 60),
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
  db: ReturnType<typeof sql>;
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
async function createOrders(ctx: BenchContext, n: number): Promise<string[]> {
  if (n === 0) return [];
  const rows = await ctx.db`
    insert into public.orders (buyer_id, listing_id, amount_total, currency)
    select '00000000-0000-4000-8000-00000000b001', '00000000-0000-4000-8000-0000000011a1', 2500, 'usd'
    from generate_series(1, ${n}::int)
    returning id`;
  return rows.map((r) => r.id as string);
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
        out.push(event("checkout_session_completed", {
          id: `cs_b${t}`, payment_intent: pi, customer: cus, client_reference_id: orderId, metadata: { order_id: orderId },
          amount_total: 2500, amount_subtotal: 2500, currency: "usd", mode: "payment", status: "complete", payment_status: "paid",
        }, opts));
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

const ingestLatency: Section = {
  name: "ingest@rate",
  async run(ctx) {
    const s = ctx.settings;
    const total = s.rate * s.seconds;
    log(`ack latency: building and signing ${total} events`);
    const events = await signAll(await buildEvents(ctx, "r", total));
    log(`ack latency: open loop, ${s.rate} events/s for ${s.seconds}s`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    const tally = new Tally();
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    let inFlight = 0;
    let notSent = 0;
    let maxInFlight = 0;
    const intervalMs = 1000 / s.rate;
    const t0 = performance.now() + 50;
    const sendDeadline = t0 + s.seconds * 1000 + 5_000;
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

// Add sections here (e.g. a job engine section: jobs/s drained, p95 commit -> CRM latency).
const SECTIONS: Section[] = [pgbenchBaseline, ingestThroughput, ingestLatency];

// ---------------------------------------------------------------- main

async function machineInfo(db: ReturnType<typeof sql>) {
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

  stackLog(`bringing the stack up (${config.stackDir})`);
  await startStack();

  const db = sql(config.dbUrl, { max: 2 });
  const ctx: BenchContext = {
    settings, report: new Report(), metrics: new Map(), db, webhookUrl,
    runTag: randomBytes(4).toString("hex"),
  };
  const startedAt = new Date().toISOString();
  const machine = await machineInfo(db);
  const sectionErrors: Record<string, string> = {};
  try {
    for (const section of SECTIONS) {
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
