// What every bench section shares: the settings (from the environment, see main.ts), the context a
// section runs in, and small helpers.
import { z } from "zod";
import { parseEnv, setting } from "../../supabase/functions/_shared/config/env.ts";
import { config } from "../lib/config.ts";
import type { Sql } from "../lib/db.ts";
import type { Report } from "./report.ts";

const intEnv = (key: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) =>
  parseEnv(z.object({ [key]: setting.int(fallback, min, max) }), config.env)[key];

export const settings = {
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
  /** how long the faulty-CRM variant waits for its deal jobs (retries, Retry-After, 5 s hangs) */
  crmFaultsMaxSeconds: intEnv("BENCH_CRM_FAULTS_MAX_SECONDS", 180, 10, 900),
  /** orders of as many new buyers paid at once in section "notify@burst" (receipts at Resend's 2 requests/s) */
  burstOrders: intEnv("BENCH_BURST_ORDERS", 30, 1, 500),
  /** support requests (from as many users) and disputes of section "support", and their rate per second */
  supportRequests: intEnv("BENCH_SUPPORT_REQUESTS", 50, 1, 2_000),
  supportRate: intEnv("BENCH_SUPPORT_RATE", 5, 1, 200),
  dunningSubscribers: intEnv("BENCH_DUNNING_SUBSCRIBERS", 30, 1, 2_000),
  dunningRate: intEnv("BENCH_DUNNING_RATE", 5, 1, 200),
  /** checkouts of section "checkout" (4 per buyer), their rate per second, and the Stripe fake's answer time */
  checkouts: intEnv("BENCH_CHECKOUTS", 200, 1, 5_000),
  checkoutRate: intEnv("BENCH_CHECKOUT_RATE", 20, 1, 500),
  checkoutStripeMs: intEnv("BENCH_CHECKOUT_STRIPE_MS", 40, 0, 5_000),
  /** customer.updated events per round and side of the peer comparison; rounds alternate who goes first. */
  peerEvents: intEnv("BENCH_PEER_EVENTS", 1500, 50, 50_000),
  peerRounds: intEnv("BENCH_PEER_ROUNDS", 2, 1, 10),
  peerRate: intEnv("BENCH_PEER_RATE", 200, 1, 2000),
  /** events per step of the ingestion profile (SQL variants, HTTP one at a time uses half). */
  profileEvents: intEnv("BENCH_PROFILE_EVENTS", 1000, 50, 20_000),
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

export function log(msg: string) {
  console.log(`[bench] ${msg}`);
}

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

export function assertLocal(what: string, hostname: string) {
  if (!["127.0.0.1", "localhost"].includes(hostname)) {
    throw new Error(`${what} points at ${hostname}: the bench only targets 127.0.0.1`);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
