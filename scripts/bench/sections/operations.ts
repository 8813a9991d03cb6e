// Section "operations": what the alert evaluator costs each minute (issue #10) on the tables the run
// has filled by then (ledger, jobs, attempts), each evaluation rolled back so it opens no incident and
// sends nothing. Baseline in the same run: one read of ops.pipeline_health, the view Studio already
// polls over the same tables.
import { performance } from "node:perf_hooks";
import { log, type Section } from "../context.ts";
import { summarize } from "../report.ts";

const RUNS = 30;

export const operations: Section = {
  name: "operations",
  async run(ctx) {
    const [sizes] = await ctx.db`
      select (select count(*) from ops.stripe_events)::int as events, (select count(*) from ops.jobs)::int as jobs,
             (select count(*) from ops.job_attempts)::int as attempts,
             (select count(*) from ops.alert_rules where enabled)::int as rules`;
    const time = async (query: string) => {
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        await ctx.db.begin(async (tx) => {
          const t0 = performance.now();
          await tx.unsafe(query);
          ms.push(performance.now() - t0);
          // rolled back: the measure opens no incident and enqueues no notice
          throw new RollBack();
        }).catch((e) => {
          if (!(e instanceof RollBack)) throw e;
        });
      }
      return summarize(ms);
    };
    const health = await time("select * from ops.pipeline_health");
    const evaluate = await time("select * from ops.evaluate_alerts()");
    const note = `${sizes.rules} rules over ${sizes.events} events, ${sizes.jobs} jobs, ${sizes.attempts} attempts`;
    log(`operations: evaluate_alerts p50 ${evaluate.p50?.toFixed(1)} ms (${note})`);
    const baseline = { label: "ops.pipeline_health read, p50", value: health.p50, unit: "ms" };
    ctx.report.add({
      section: "operations",
      figure: "alert evaluation p50",
      value: evaluate.p50,
      unit: "ms",
      baseline,
      note,
    });
    ctx.report.add({
      section: "operations",
      figure: "alert evaluation p95",
      value: evaluate.p95,
      unit: "ms",
      baseline: { ...baseline, label: "ops.pipeline_health read, p95", value: health.p95 },
    });
    ctx.report.details.operations = { sizes, evaluate, health };
  },
};

class RollBack extends Error {}
