// npm run reconcile [-- --timeout <seconds>]: asks for a reconciliation run against Stripe (or joins the
// one already waiting or running), waits for it, and prints its summary: events recovered, findings by
// kind, the checkpoint. Exits 1 when the run went dead or did not finish in time.
import { config } from "../lib/config.ts";
import { connect } from "../lib/db.ts";
import { waitFor } from "../lib/wait.ts";

const args = process.argv.slice(2);
const timeoutArg = args.indexOf("--timeout");
const timeoutS = timeoutArg >= 0 ? Number(args[timeoutArg + 1]) : 600;
if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
  console.error("usage: npm run reconcile [-- --timeout <seconds>]");
  process.exit(2);
}

type Summary = {
  events_listed?: number;
  pages?: number;
  recovered?: number;
  recovered_failed?: number;
  findings_new?: number;
  findings_resolved?: number;
  open_findings?: Record<string, number>;
  checkpoint?: string | null;
  checked?: Record<string, number>;
  unrecoverable_gap?: { from: string; until: string };
};

function formatSummary(jobId: number, s: Summary): string {
  const open = Object.entries(s.open_findings ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return [
    `reconciliation (job ${jobId}) finished`,
    `  events listed:  ${s.events_listed ?? 0} in ${s.pages ?? 0} page(s)`,
    `  recovered:      ${s.recovered ?? 0} missing event(s)` +
    (s.recovered_failed ? ` (${s.recovered_failed} failed to apply: see open missing_event_recovered findings)` : ""),
    `  checked:        ${s.checked?.checkout_sessions ?? 0} Checkout sessions, ${
      s.checked?.payment_intents ?? 0
    } payment intents, ` +
    `${s.checked?.subscriptions ?? 0} subscriptions`,
    `  findings:       ${s.findings_new ?? 0} new, ${s.findings_resolved ?? 0} resolved`,
    `  open by kind:   ${open.length ? open.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`,
    `  checkpoint:     events checked until ${s.checkpoint ?? "(none yet)"}`,
    ...(s.unrecoverable_gap
      ? [
        `  warning:        events from ${s.unrecoverable_gap.from} to ${s.unrecoverable_gap.until} are past Stripe's 30 days`,
      ]
      : []),
    ...(open.length
      ? [
        "  next actions:   select kind, object_id, next_action from ops.reconciliation_findings where status = 'open';",
      ]
      : []),
  ].join("\n");
}

const sql = connect(config.dbUrl, { max: 1 });
try {
  const [{ id }] = await sql<{ id: string }[]>`select ops.enqueue_reconcile('npm run reconcile') as id`;
  const jobId = Number(id);
  console.log(`waiting for reconciliation job ${jobId} (ops.jobs; the reconcile function runs it)`);
  type Job = { status: string; result: Summary | null; last_error: string | null; attempts: number };
  let lastNote = "";
  let job: Job | undefined;
  try {
    job = await waitFor(`reconciliation job ${jobId}`, async () => {
      [job] = await sql<Job[]>`select status, result, last_error, attempts from ops.jobs where id = ${jobId}`;
      if (job.status === "succeeded" || job.status === "dead") return job;
      const note = job.last_error ? `${job.status}: ${job.last_error}` : job.status;
      if (note !== lastNote) console.log(`  ${note}`);
      lastNote = note;
    }, timeoutS * 1000);
  } catch {
    console.error(`reconciliation job ${jobId} did not finish within ${timeoutS} s (still ${job?.status}); it goes on`);
    process.exitCode = 1;
  }
  if (job?.status === "succeeded") {
    const skipped = (job.result as { skipped?: string } | null)?.skipped;
    if (skipped) {
      console.error(`reconciliation (job ${jobId}) skipped: ${skipped}`);
      process.exitCode = 1;
    } else console.log(formatSummary(jobId, job.result ?? {}));
  } else if (job?.status === "dead") {
    console.error(`reconciliation job ${jobId} is dead after ${job.attempts} attempt(s): ${job.last_error}`);
    process.exitCode = 1;
  }
} finally {
  await sql.end();
}
