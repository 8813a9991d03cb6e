// The functions connect to Postgres as their narrow roles, never as a superuser.
import { afterAll, expect, test } from "vitest";
import { sql } from "../helpers/db.ts";
import { deliver, event } from "../helpers/stripe.ts";

afterAll(() => sql.end());

test.each([
  ["stripe-webhook", "stripe_webhook", "stripe_webhook_db_url"],
  ["crm-sync", "pipeline_worker", "pipeline_worker_db_url"],
])("%s connects to Postgres as %s: no superuser, no RLS bypass, no role creation", async (_fn, role, app) => {
  // make both functions use their pools: an event, and the contact job it enqueues
  await deliver(event("customer_updated", { id: `cus_lp_${Date.now()}`, email: `lp-${Date.now()}@example.com` }));
  await new Promise((r) => setTimeout(r, 500));
  const sessions = await sql`
    select a.usename, r.rolsuper, r.rolbypassrls, r.rolcreaterole
      from pg_stat_activity a join pg_roles r on r.rolname = a.usename
     where a.application_name = ${app}`;
  expect(sessions.length).toBeGreaterThan(0);
  expect(sessions.every((s) => s.usename === role && !s.rolsuper && !s.rolbypassrls && !s.rolcreaterole)).toBe(true);
});
