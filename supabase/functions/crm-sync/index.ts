// crm-sync: runs crm.contact / crm.deal / crm.seller / crm.gdpr_delete jobs dispatched by the database (pg_net or the sweep).
import { serveJobWorker } from "../_shared/jobs/worker.ts";
import { crmHandlers } from "./handlers.ts";

serveJobWorker({
  name: "crm-sync",
  // the narrowest role that works: claim/complete/fail jobs, read a held job's context, store mappings
  dbEnv: "PIPELINE_WORKER_DB_URL",
  handlers: crmHandlers,
});
