// crm-sync: runs one crm.contact / crm.deal job dispatched by the database (pg_net or the sweep).
import { syncCrm, classifyCrmFailure } from "../_shared/crm-sync.ts";
import { selectCrmAdapter } from "../_shared/crm/select.ts";
import { connect } from "../_shared/db.ts";
import { errorResponse, HttpError, json } from "../_shared/http-error.ts";
import { parseJobRequest, requireServiceRole, runJob } from "../_shared/job-worker.ts";

const FN = "crm-sync";
const env = Deno.env.toObject();
// The narrowest role that works: claim/complete/fail jobs, read a job's context, store mappings.
const sql = connect("PIPELINE_WORKER_DB_URL");
const adapter = selectCrmAdapter(env, {
  recorder: async (r) => {
    await sql`select ops.record_crm_capture(${r.kind}, ${r.key}, ${sql.json({ id: r.externalId, ...r.payload })})`;
  },
});
// HubSpot allows 100 requests per 10 s for private apps; stay under it across every instance.
const budget = adapter.name === "hubspot"
  ? { capacity: Number(env.HUBSPOT_RATE_LIMIT_PER_10S ?? 90), windowMs: 10_000 }
  : null;

Deno.serve(async (req) => {
  try {
    if (req.method !== "POST") throw new HttpError(405, "method not allowed: use POST", { headers: { allow: "POST" } });
    await requireServiceRole(req, env.SUPABASE_SERVICE_ROLE_KEY);
    const jobId = await parseJobRequest(req);
    const outcome = await runJob(sql, FN, jobId, (job, worker) => syncCrm(sql, adapter, job, worker, budget), classifyCrmFailure);
    return json(200, outcome);
  } catch (err) {
    return errorResponse(FN, err);
  }
});
