// Section "baseline": what the database does for bare single-row inserts of a Stripe-sized jsonb
// payload (pgbench), closed loop and at the ingestion rate: the figures ingestion is compared with.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { config } from "../../lib/config.ts";
import { fixture } from "../../lib/stripe-events.ts";
import { log, type Section } from "../context.ts";
import { parsePgbench, pgbenchLiteral, runPgbench, scriptArgs } from "../pgbench.ts";
import { summarize } from "../report.ts";

/** A real Stripe event, padded to the target size, as the baseline row's payload. */
function baselinePayload(bytes: number): string {
  const evt: Record<string, unknown> = fixture("payment_intent_succeeded");
  const base = JSON.stringify({ ...evt, bench_padding: "" });
  return JSON.stringify({ ...evt, bench_padding: "x".repeat(Math.max(0, bytes - base.length)) });
}

export const pgbenchBaseline: Section = {
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
    const common = [...scriptArgs(scriptFile, s.pgbenchClients, s.pgbenchThreads), "-T", String(s.pgbenchSeconds)];
    const timeout = (s.pgbenchSeconds + 60) * 1000;
    try {
      // 1. closed loop, as fast as it goes: the insert ceiling
      log(
        `pgbench: ${s.pgbenchClients} clients, ${s.pgbenchSeconds}s, one ${payload.length}-byte jsonb row per transaction`,
      );
      const max = parsePgbench(await runPgbench(common, timeout));
      ctx.metrics.set("pgbench.insert_tps", max.tps ?? NaN);
      ctx.metrics.set("pgbench.latency_avg_ms", max.latencyAvgMs ?? NaN);
      ctx.report.add({ section: "baseline", figure: "row payload (jsonb)", value: payload.length, unit: "B" });
      ctx.report.add({
        section: "baseline",
        figure: `pgbench insert tps (c${s.pgbenchClients})`,
        value: max.tps,
        unit: "tps",
      });
      ctx.report.add({
        section: "baseline",
        figure: `pgbench latency avg (c${s.pgbenchClients})`,
        value: max.latencyAvgMs,
        unit: "ms",
      });

      // 2. open loop at the ingestion fixed rate, per-transaction log for percentiles
      log(`pgbench: fixed rate ${s.rate}/s for ${s.pgbenchSeconds}s (per-transaction log)`);
      const fixed = parsePgbench(
        await runPgbench([...common, "-R", String(s.rate), "--log", `--log-prefix=${logPrefix}`], timeout),
      );
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
        command:
          `pgbench -n -M prepared -f bench-insert.sql -c ${s.pgbenchClients} -j ${s.pgbenchThreads} -T ${s.pgbenchSeconds} [-R ${s.rate} --log]`,
      };
    } finally {
      await ctx.db.unsafe("drop schema if exists bench cascade").catch(() => {});
      rmSync(scriptFile, { force: true });
    }
  },
};
