// npm run replay -- events [--failed | <event_id> ...]   re-apply ledger events (originals kept)
// npm run replay -- jobs [--dead | --failed | <job_id> ...] re-run jobs with their original keys
import { config } from "../lib/config.ts";
import { connect } from "../lib/db.ts";

const [what, ...rest] = process.argv.slice(2);
const ids = rest.filter((a) => !a.startsWith("--"));
const flags = new Set(rest.filter((a) => a.startsWith("--")));
const usage = "usage: npm run replay -- events [--failed | <event_id> ...] | jobs [--dead | --failed | <job_id> ...]";

function bar(done: number, total: number, width = 30) {
  const filled = total ? Math.round((done / total) * width) : width;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`;
}

const sql = connect(config.dbUrl, { max: 2 });
try {
  if (what === "events") {
    const targets = ids.length ? ids : flags.has("--failed")
      ? (await sql<
        { event_id: string }[]
      >`select event_id from ops.stripe_events where status = 'failed' order by event_created`).map((r) => r.event_id)
      : null;
    if (!targets) throw new Error(usage);
    const outcomes: Record<string, number> = {};
    for (const [i, id] of targets.entries()) {
      const [row] = await sql<{ status: string }[]>`select status from ops.reapply_stripe_events(${[id]})`;
      if (!row) throw new Error(`no Stripe event ${id} in the ledger`);
      outcomes[row.status] = (outcomes[row.status] ?? 0) + 1;
      process.stdout.write(`\r${bar(i + 1, targets.length)} `);
    }
    console.log(`\nre-applied ${targets.length} event(s): ${JSON.stringify(outcomes)}`);
  } else if (what === "jobs") {
    const status = flags.has("--dead") ? "dead" : flags.has("--failed") ? "failed" : null;
    const targets = ids.length
      ? ids.map(Number)
      : status
      ? (await sql<{ id: string }[]>`select id from ops.jobs where status = ${status} order by id`).map((r) =>
        Number(r.id)
      )
      : null;
    if (!targets) throw new Error(usage);
    for (const [i, id] of targets.entries()) {
      const [row] = await sql`select ops.replay_job(${id}) as ok`;
      if (!row.ok) throw new Error(`job ${id} does not exist or is running`);
      process.stdout.write(`\r${bar(i + 1, targets.length)} `);
    }
    console.log(`\nre-queued ${targets.length} job(s) with their original idempotency keys`);
  } else {
    throw new Error(usage);
  }
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 1;
} finally {
  await sql.end();
}
