// reconcile: runs `reconcile` jobs (pg_cron hourly, `npm run reconcile`): recovers Stripe events the
// webhook never got and cross-checks payments, orders, CRM deals and subscriptions against Stripe.
import { serveJobWorker } from "../_shared/jobs/worker.ts";
import { reconcileHandlers } from "./run.ts";

serveJobWorker({
  name: "reconcile",
  // its own narrow role: its jobs, and the reconciliation doors (ingest only while holding a reconcile job)
  dbEnv: "RECONCILER_DB_URL",
  handlers: reconcileHandlers,
});
