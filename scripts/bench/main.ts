// npm run bench: how fast the pipeline ingests Stripe events on this machine, next to what the
// same database does for bare single-row inserts (pgbench) and next to the peer
// @supabase/stripe-sync-engine, all measured in the same run.
//
// Sections run in order and append rows to one report (figure, value, baseline, ratio): the pgbench
// baseline; ingestion closed loop and at a fixed rate; the profile of an ingested event (SQL alone,
// HTTP straight to the function and through the gateway, CPU per process); the peer side by side
// (same signed customer.updated events, ack events/s and latency, our CRM jobs counted as they
// drain); the job engine: jobs/s drained end to end next to the database alone running the same
// claim/complete cycle; paid order -> CRM deal latency at a steady rate, with the capture adapter and
// against a faulty, rate-limited HubSpot fake.
//
// Each section is a file in sections/ exporting a function of the shared context (context.ts), so
// a new one is one more file listed in SECTIONS below. Around them: report.ts (the table and
// bench.json), load.ts (signing, closed and open loop), events.ts (the Stripe events), pgbench.ts,
// jobs.ts (the adapter check, waiting for jobs), cpu.ts (CPU time per process), peer.ts and
// peer-server.ts (the peer's database and endpoint).
//
// Env: BENCH_EVENTS (2000) BENCH_CONCURRENCY (16) BENCH_RATE (100) BENCH_SECONDS (10)
//      BENCH_PGBENCH_SECONDS (10) BENCH_MAX_SECONDS (60, time limit of the throughput phase)
//      BENCH_PROFILE_EVENTS (1000, per step of the profile)
//      BENCH_PEER_EVENTS (1500 per round and side) BENCH_PEER_ROUNDS (2) BENCH_PEER_RATE (200)
//      BENCH_JOBS (1000) BENCH_JOBS_MAX_SECONDS (60, time limit of each drain)
//      BENCH_CRM_EVENTS (100) BENCH_CRM_RATE (20, checkouts/s for the commit -> CRM latency)
//      BENCH_CRM_FAULTS_MAX_SECONDS (180, wait for the deal jobs against the faulty CRM)
//      BENCH_BURST_ORDERS (30, orders paid at once: receipt latency at Resend's 2 requests/s, section notify@burst)
//      BENCH_SUPPORT_REQUESTS (50) BENCH_SUPPORT_RATE (5/s): support request -> acknowledgement, dispute -> ticket
//      BENCH_CHECKOUTS (200) BENCH_CHECKOUT_RATE (20/s) BENCH_CHECKOUT_STRIPE_MS (40, the Stripe fake's answer time):
//      our own time per checkout through the checkout function
//      BENCH_DUNNING_SUBSCRIBERS (30) BENCH_DUNNING_RATE (5/s): invoice.paid of blocked subscribers -> access restored
//      BENCH_ONLY (comma-separated section names, e.g. "peer,jobs@faults"; default all)
// Output: the table on stdout and <stackDir>/bench.json.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { config } from "../lib/config.ts";
import { connect, type Sql } from "../lib/db.ts";
import { log as stackLog, startStack } from "../stack/stack.ts";
import { assertLocal, type BenchContext, log, type Section, settings } from "./context.ts";
import { crmApiBase } from "./jobs.ts";
import { PGBENCH } from "./pgbench.ts";
import { Report } from "./report.ts";
import { pgbenchBaseline } from "./sections/baseline.ts";
import { bootTimes } from "./sections/boot.ts";
import { crmLatency } from "./sections/crm-latency.ts";
import { crmLatencyFaults } from "./sections/crm-latency-faults.ts";
import { notifyBurst } from "./sections/notify-burst.ts";
import { crmBacklog } from "./sections/crm-backlog.ts";
import { supportLatency } from "./sections/support.ts";
import { checkoutLatency } from "./sections/checkout.ts";
import { dunningLatency } from "./sections/dunning.ts";
import { operations } from "./sections/operations.ts";
import { ingestLatency } from "./sections/ingest-latency.ts";
import { ingestThroughput } from "./sections/ingest-throughput.ts";
import { jobsDrain } from "./sections/jobs-drain.ts";
import { peerComparison } from "./sections/peer.ts";
import { ingestProfile } from "./sections/profile.ts";

// Add sections here. The job engine runs last: ingestion's own CRM jobs are drained before it measures.
const SECTIONS: Section[] = [
  pgbenchBaseline,
  ingestThroughput,
  ingestLatency,
  ingestProfile,
  peerComparison,
  jobsDrain,
  crmLatency,
  supportLatency,
  checkoutLatency,
  dunningLatency,
  crmLatencyFaults,
  crmBacklog,
  notifyBurst,
  operations,
  // last: it restarts the gateway
  bootTimes,
];

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
  const crmApi = crmApiBase();
  if (crmApi) assertLocal("the CRM API (HUBSPOT_API_BASE)", new URL(crmApi).hostname);

  stackLog(`bringing the stack up (${config.stackDir})`);
  await startStack();

  const db = connect(config.dbUrl, { max: 2 });
  const ctx: BenchContext = {
    settings,
    report: new Report(),
    metrics: new Map(),
    db,
    webhookUrl,
    runTag: randomBytes(4).toString("hex"),
  };
  const startedAt = new Date().toISOString();
  const machine = await machineInfo(db);
  const sectionErrors: Record<string, string> = {};
  try {
    const only = (config.env.BENCH_ONLY ?? "").split(",").map((x) => x.trim()).filter(Boolean);
    const unknown = only.filter((name) => !SECTIONS.some((sec) => sec.name === name));
    if (unknown.length) {
      throw new Error(
        `BENCH_ONLY names unknown sections: ${unknown.join(", ")} (have ${SECTIONS.map((x) => x.name).join(", ")})`,
      );
    }
    for (const section of SECTIONS.filter((sec) => only.length === 0 || only.includes(sec.name))) {
      const t = performance.now();
      try {
        await section.run(ctx);
      } catch (err) {
        const msg = (err as Error).message;
        sectionErrors[section.name] = msg;
        ctx.report.add({
          section: section.name,
          figure: "section failed",
          value: null,
          unit: "",
          note: msg.split("\n")[0].slice(0, 160),
        });
        console.error(`[bench] section ${section.name} failed: ${msg}`);
      }
      log(`section ${section.name} done in ${((performance.now() - t) / 1000).toFixed(1)}s`);
    }
  } finally {
    await db.end();
  }

  const out = {
    startedAt,
    finishedAt: new Date().toISOString(),
    runTag: ctx.runTag,
    machine,
    settings,
    webhookUrl: webhookUrl.href,
    ...ctx.report.toJSON(),
    sectionErrors,
  };
  const jsonFile = join(config.stackDir, "bench.json");
  writeFileSync(jsonFile, JSON.stringify(out, null, 2) + "\n");

  console.log("");
  console.log(
    `machine: nproc ${machine.nproc}, ${machine.cpu}, ${machine.memGiB} GiB, node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}, load ${machine.loadavg1m} at start`,
  );
  console.log(
    `ratio = value / baseline; the load generator, gateway, Deno and Postgres share these ${machine.nproc} cores\n`,
  );
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
