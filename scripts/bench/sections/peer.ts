// Section "peer": our webhook next to @supabase/stripe-sync-engine (peer.ts), in the same run, on the
// same signed customer.updated events (fresh customer and event ids): ack events/s at concurrency 16
// (closed loop, rounds in ABBA order so drift favours neither), and ack latency at a fixed rate.
// Ours also records each event in its ledger and enqueues a crm.contact job per new customer; those
// jobs are drained concurrently (pg_net -> crm-sync) and counted. Before each of the peer's runs our
// leftover jobs are drained, so the peer never shares the machine with our CRM work.
import { performance } from "node:perf_hooks";
import { connect } from "../../lib/db.ts";
import { type BenchContext, log, type Section } from "../context.ts";
import { cpuSince, cpuSnapshot } from "../cpu.ts";
import { customerEvents } from "../events.ts";
import { jobsOfEvents, quiesce, waitJobs } from "../jobs.ts";
import { closedLoop, openLoop, signAll } from "../load.ts";
import { type Peer, startPeer } from "../peer.ts";
import { summarize } from "../report.ts";

type Side = "ours" | "peer";
type Totals = {
  ok: number;
  errors: number;
  elapsedS: number;
  latencies: number[];
  cpuMs: number;
  cpu: Record<string, number>;
};

/** One side's closed-loop run of these events, with the CPU every component spent meanwhile. */
async function closedRun(ctx: BenchContext, peer: Peer, side: Side, events: Awaited<ReturnType<typeof signAll>>) {
  const target = side === "ours" ? ctx : { ...ctx, webhookUrl: peer.url };
  const extra = { "peer (node)": peer.pid };
  const before = cpuSnapshot(extra);
  const r = await closedLoop(target, events, ctx.settings.concurrency, ctx.settings.maxSeconds);
  const cpu = cpuSince(before, cpuSnapshot(extra));
  return { ...r, cpu };
}

/** Our events' CRM jobs: how many exist, how many finished while acking, and the wait for the rest. */
async function drainOurJobs(ctx: BenchContext, prefix: string) {
  const during = await jobsOfEvents(ctx, prefix);
  const t = performance.now();
  const waited = during.ids.length
    ? await waitJobs(ctx, during.ids, ctx.settings.jobsMaxSeconds)
    : { done: true, counts: {}, elapsedS: 0 };
  const after = await jobsOfEvents(ctx, prefix);
  return {
    created: during.created,
    drainedWhileAcking: during.succeeded,
    drainedAfter: after.succeeded - during.succeeded,
    drainAfterS: (performance.now() - t) / 1000,
    notDrained: after.created - after.succeeded,
    dead: after.dead,
    done: waited.done,
  };
}

export const peerComparison: Section = {
  name: "peer",
  async run(ctx) {
    const s = ctx.settings;
    await quiesce(ctx, "peer");
    log(`peer: starting @supabase/stripe-sync-engine on its own database`);
    const peer = await startPeer(ctx);
    try {
      // warm-up of both (not measured): JIT, pools, keep-alive sockets
      const warm = await signAll(customerEvents(ctx, "pw", s.warmupEvents));
      await closedRun(ctx, peer, "ours", warm);
      await closedRun(ctx, peer, "peer", warm);
      await quiesce(ctx, "peer (after warm-up)");

      const totals: Record<Side, Totals> = {
        ours: { ok: 0, errors: 0, elapsedS: 0, latencies: [], cpuMs: 0, cpu: {} },
        peer: { ok: 0, errors: 0, elapsedS: 0, latencies: [], cpuMs: 0, cpu: {} },
      };
      const crm: Awaited<ReturnType<typeof drainOurJobs>>[] = [];
      const order: Side[][] = [["ours", "peer"], ["peer", "ours"]];
      for (let round = 0; round < s.peerRounds; round++) {
        const label = `pt${round}`;
        const events = await signAll(customerEvents(ctx, label, s.peerEvents));
        for (const side of order[round % 2]) {
          log(
            `peer: round ${
              round + 1
            }/${s.peerRounds}, ${side}: ${events.length} customer.updated, concurrency ${s.concurrency}`,
          );
          const r = await closedRun(ctx, peer, side, events);
          const t = totals[side];
          t.ok += r.sent - r.tally.errorCount;
          t.errors += r.tally.errorCount + (events.length - r.sent);
          t.elapsedS += r.elapsedS;
          t.latencies.push(...r.latencies);
          t.cpuMs += r.cpu.totalMs;
          for (const [k, v] of Object.entries(r.cpu.byComponent)) t.cpu[k] = (t.cpu[k] ?? 0) + v;
          // our leftover CRM work finishes before anything else is measured
          if (side === "ours") crm.push(await drainOurJobs(ctx, `evt_b${ctx.runTag}${label}`));
        }
      }
      const eps = (side: Side) => totals[side].ok / totals[side].elapsedS;
      ctx.metrics.set("peer.ours_events_per_s", eps("ours"));
      ctx.metrics.set("peer.peer_events_per_s", eps("peer"));
      const n = s.peerEvents * s.peerRounds;
      ctx.report.add({
        section: "peer",
        figure: `peer ack events/s (c${s.concurrency}, ${n} customer.updated)`,
        value: eps("peer"),
        unit: "ev/s",
      });
      ctx.report.add({
        section: "peer",
        figure: `ours ack events/s (c${s.concurrency}, same events)`,
        value: eps("ours"),
        unit: "ev/s",
        baseline: { label: "peer ack events/s", value: eps("peer"), unit: "ev/s" },
        note: "target >= 0.7x (#21)",
      });
      for (const side of ["ours", "peer"] as Side[]) {
        ctx.report.add({
          section: "peer",
          figure: `${side}: CPU per acked event, all processes (c${s.concurrency})`,
          value: totals[side].cpuMs / Math.max(1, totals[side].ok),
          unit: "ms",
        });
      }
      const sum = (k: keyof (typeof crm)[number]) => crm.reduce((a, c) => a + Number(c[k]), 0);
      ctx.report.add({
        section: "peer",
        figure: "ours: crm.contact jobs created by those events",
        value: sum("created"),
        unit: "",
      });
      ctx.report.add({
        section: "peer",
        figure: "ours: jobs drained while acking (concurrently)",
        value: sum("drainedWhileAcking"),
        unit: "",
      });
      ctx.report.add({
        section: "peer",
        figure: "ours: jobs drained after the last ack",
        value: sum("drainedAfter"),
        unit: "",
        note: `within ${Math.max(...crm.map((c) => c.drainAfterS)).toFixed(1)}s`,
      });
      ctx.report.add({
        section: "peer",
        figure: "ours: jobs not drained (open or dead)",
        value: sum("notDrained"),
        unit: "",
      });
      ctx.report.add({
        section: "peer",
        figure: "errors (ours + peer: non-2xx, no answer or not sent)",
        value: totals.ours.errors + totals.peer.errors,
        unit: "",
      });

      // fixed rate: the same events to each side at s.peerRate/s, ours first (its CRM work drains concurrently)
      const rateEvents = await signAll(customerEvents(ctx, "pr", s.peerRate * s.seconds));
      log(`peer: fixed rate ${s.peerRate}/s for ${s.seconds}s, ours then peer`);
      const oursRate = await openLoop(ctx, rateEvents, s.peerRate);
      const rateCrm = await drainOurJobs(ctx, `evt_b${ctx.runTag}pr`);
      const peerRate = await openLoop({ ...ctx, webhookUrl: peer.url }, rateEvents, s.peerRate);
      const lat = { ours: summarize(oursRate.latencies), peer: summarize(peerRate.latencies) };
      for (const p of ["p50", "p95", "p99"] as const) {
        ctx.report.add({
          section: "peer",
          figure: `ours ack latency ${p} @${s.peerRate}/s`,
          value: lat.ours[p],
          unit: "ms",
          baseline: { label: `peer ${p} @${s.peerRate}/s`, value: lat.peer[p], unit: "ms" },
          note: p === "p99" ? "target <= 10 ms" : undefined,
        });
      }
      ctx.report.add({
        section: "peer",
        figure: `ours @${s.peerRate}/s: jobs created / drained while acking / after`,
        value: rateCrm.created,
        unit: "",
        note: `${rateCrm.drainedWhileAcking} / ${rateCrm.drainedAfter} in ${
          rateCrm.drainAfterS.toFixed(1)
        }s, ${rateCrm.notDrained} not`,
      });
      ctx.report.add({
        section: "peer",
        figure: `errors @${s.peerRate}/s (ours + peer)`,
        value: oursRate.tally.errorCount + oursRate.notSent + peerRate.tally.errorCount + peerRate.notSent,
        unit: "",
      });
      const pdb = connect(peer.databaseUrl, { max: 1 });
      const [{ rows }] = await pdb`select count(*)::int as rows from stripe.customers`.finally(() => pdb.end());
      ctx.report.details.peer = {
        peer: "@supabase/stripe-sync-engine 0.48.5, processWebhook behind node:http, its own process and database",
        events: n,
        rounds: s.peerRounds,
        order: "ABBA",
        concurrency: s.concurrency,
        peerCustomerRows: rows,
        closedLoop: Object.fromEntries((["ours", "peer"] as Side[]).map((side) => [side, {
          ok: totals[side].ok,
          errors: totals[side].errors,
          elapsedS: totals[side].elapsedS,
          eventsPerS: eps(side),
          latencyMs: summarize(totals[side].latencies),
          cpuMsPerEvent: Object.fromEntries(
            Object.entries(totals[side].cpu).map(([k, v]) => [k, v / Math.max(1, totals[side].ok)]),
          ),
        }])),
        crmJobs: crm,
        fixedRate: {
          rate: s.peerRate,
          seconds: s.seconds,
          crm: rateCrm,
          ours: {
            latencyMs: lat.ours,
            achieved: oursRate.achievedRate,
            http: oursRate.tally.http,
            errors: oursRate.tally.errors,
            notSent: oursRate.notSent,
          },
          peer: {
            latencyMs: lat.peer,
            achieved: peerRate.achievedRate,
            http: peerRate.tally.http,
            errors: peerRate.tally.errors,
            notSent: peerRate.notSent,
          },
        },
      };
    } finally {
      peer.stop();
    }
  },
};
