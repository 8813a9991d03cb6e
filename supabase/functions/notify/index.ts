// notify: runs notify.email / notify.slack jobs dispatched by the database: customer emails through
// Resend, team alerts through a Slack incoming webhook, or the local capture adapters without keys.
import { serveJobWorker } from "../_shared/jobs/worker.ts";
import { createNotifyHandlers } from "./handlers.ts";

serveJobWorker({
  name: "notify",
  // the narrowest role that works: claim/complete/fail jobs, read a held job's context, record sends
  dbEnv: "PIPELINE_WORKER_DB_URL",
  handlers: createNotifyHandlers,
});
