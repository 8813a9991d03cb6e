// Section "ingest@rate": the webhook's acknowledgement latency at a fixed arrival rate (open loop),
// next to pgbench's insert latency at the same rate.
import { log, type Section } from "../context.ts";
import { buildEvents, ledgerStatus } from "../events.ts";
import { openLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";

export const ingestLatency: Section = {
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
        section: "ingest@rate",
        figure: `ack latency ${p} @${s.rate}/s`,
        value: lat[p],
        unit: "ms",
        baseline: {
          label: `pgbench ${p} @${s.rate}/s`,
          value: ctx.metrics.get(`pgbench.rate.${p}_ms`) ?? null,
          unit: "ms",
        },
      });
    }
    ctx.report.add({
      section: "ingest@rate",
      figure: "errors (non-2xx, no answer or not sent)",
      value: tally.errorCount + notSent,
      unit: "",
    });
    ctx.report.details["ingest@rate"] = {
      rate: s.rate,
      arrivals: "uniform",
      seconds: s.seconds,
      scheduled: events.length,
      answered: latencies.length,
      notSent,
      maxInFlight,
      achievedRatePerS: achievedRate,
      latencyMs: lat,
      http: tally.http,
      results: tally.results,
      errors: tally.errors,
      ledger: await ledgerStatus(ctx, "r"),
    };
  },
};
