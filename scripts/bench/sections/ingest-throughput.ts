// Section "ingest": events/s through the real webhook, closed loop, next to pgbench's insert tps; then the same
// scenarios one at a time, and whether every scenario ingested concurrently ended in the same state (#21).
import { log, type Section } from "../context.ts";
import { buildEvents, ledgerStatus, MIX, scenarioStates } from "../events.ts";
import { closedLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";

export const ingestThroughput: Section = {
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
      section: "ingest",
      figure: `events/s (c${s.concurrency}, ${r.sent} events)`,
      value: eps,
      unit: "ev/s",
      baseline: { label: "pgbench insert tps", value: tps ?? null, unit: "tps" },
      note: r.timedOut ? `stopped at the ${s.maxSeconds}s limit` : undefined,
    });
    ctx.report.add({
      section: "ingest",
      figure: `latency avg (c${s.concurrency})`,
      value: lat.mean,
      unit: "ms",
      baseline: { label: "pgbench latency avg", value: ctx.metrics.get("pgbench.latency_avg_ms") ?? null, unit: "ms" },
    });
    ctx.report.add({ section: "ingest", figure: "errors (non-2xx or no answer)", value: r.tally.errorCount, unit: "" });
    ctx.report.add({
      section: "ingest",
      figure: "apply failed (2xx, status failed)",
      value: r.tally.results.failed ?? 0,
      unit: "",
    });
    // the same scenarios one at a time (fewer of them): the state concurrency must reach
    const seqEvents = await signAll(await buildEvents(ctx, "s", Math.min(events.length, 50 * MIX.length)));
    log(`ingestion: POST ${seqEvents.length} events one at a time, for the final state to compare with`);
    const seq = await closedLoop(ctx, seqEvents, 1, s.maxSeconds * 2);
    const alone = await scenarioStates(ctx, "s");
    // the scenarios whose five events were all sent (a time limit may stop the run)
    const scenarios = Math.floor(r.sent / MIX.length);
    const concurrent = new Map([...await scenarioStates(ctx, "t")].filter(([k]) => k < scenarios));
    const expected = new Set(alone.values());
    const differ = [...concurrent.values()].filter((st) => !expected.has(st)).length;
    ctx.report.add({
      section: "ingest",
      figure: `scenarios (${MIX.length} events each) whose final state differs from one at a time`,
      value: differ + (scenarios - concurrent.size),
      unit: "",
      note: `${concurrent.size} of ${scenarios} sent compared; one at a time: ${expected.size} distinct state(s), ` +
        `${seq.tally.errorCount} errors`,
    });
    ctx.report.details.ingest = {
      events: events.length,
      sent: r.sent,
      elapsedS: r.elapsedS,
      meanBodyBytes: Math.round(meanBody),
      concurrency: s.concurrency,
      mix: MIX,
      latencyMs: lat,
      http: r.tally.http,
      results: r.tally.results,
      errors: r.tally.errors,
      ledger: await ledgerStatus(ctx, "t"),
      finalState: {
        scenarios,
        compared: concurrent.size,
        differ,
        oneAtATime: [...expected].map((x) => JSON.parse(x)),
      },
    };
  },
};
