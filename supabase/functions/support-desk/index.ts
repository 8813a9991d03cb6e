// support-desk: runs support.ticket jobs (a dispute's ticket in `disputes`, a failed payment's ticket
// in `billing`) dispatched by the database. The ticket is written by ops.run_support_ticket_job, once
// per case: a later event of the same case is a note on its ticket.
import { serveJobWorker } from "../_shared/jobs/worker.ts";

serveJobWorker({
  name: "support-desk",
  dbEnv: "PIPELINE_WORKER_DB_URL",
  handlers: () => ({
    "support.ticket": async (job, { sql, worker }) => {
      const [{ result }] = await sql`select ops.run_support_ticket_job(${job.id}, ${worker}) as result`;
      return result;
    },
  }),
});
