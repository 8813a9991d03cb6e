// The functions connect to Postgres as their narrow roles, never as a superuser: each one is made to use
// its pool, then its sessions are read from pg_stat_activity (application_name is the env name of its
// URL). reconcile needs the Stripe fake: reconciliation.test.ts checks its sessions the same way.
import { randomUUID } from "node:crypto";
import { afterAll, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { DashboardClient, newAdmin, newBuyerPerson } from "../helpers/dashboard.ts";
import { expectNarrowSessions, sql } from "../helpers/db.ts";
import { deliver, event } from "../helpers/stripe.ts";
import { signResendWebhook } from "../fakes/resend.ts";

afterAll(() => sql.end());

/** A Stripe customer event: stripe-webhook records it, and crm-sync runs the contact job it enqueues. */
const customerEvent = () =>
  deliver(event("customer_updated", { id: `cus_lp_${Date.now()}`, email: `lp-${Date.now()}@example.com` }));

/** Makes the function run a query through its pool. */
const use: Record<string, () => Promise<unknown>> = {
  "stripe-webhook": customerEvent,
  "crm-sync": customerEvent,
  "support-intake": async () => {
    const buyer = await newBuyerPerson();
    const res = await fetch(config.functionUrl("support-intake"), {
      method: "POST",
      headers: { authorization: `Bearer ${buyer.token}`, "content-type": "application/json" },
      body: JSON.stringify({ category: "other", subject: "least privilege", message: "Which role writes this?" }),
    });
    if (res.status !== 201) throw new Error(`support-intake answered ${res.status}: ${await res.text()}`);
  },
  "resend-webhook": async () => {
    const body = JSON.stringify({
      type: "email.delivered",
      created_at: new Date().toISOString(),
      data: { email_id: randomUUID(), to: [`lp-${Date.now()}@example.com`] },
    });
    const headers = signResendWebhook(body, config.resendWebhookSecret);
    const res = await fetch(config.functionUrl("resend-webhook"), { method: "POST", body, headers });
    if (res.status !== 200) throw new Error(`resend-webhook answered ${res.status}: ${await res.text()}`);
  },
  dashboard: async () => {
    const client = new DashboardClient();
    const signedIn = await client.signIn((await newAdmin()).token);
    if (signedIn.status !== 303) throw new Error(`dashboard sign-in answered ${signedIn.status}`);
    const { res } = await client.page();
    if (res.status !== 200) throw new Error(`dashboard answered ${res.status}`);
  },
};

test.each(
  [
    ["stripe-webhook", "stripe_webhook"],
    ["crm-sync", "pipeline_worker"],
    ["support-intake", "support_intake"],
    ["resend-webhook", "provider_webhook"],
    ["dashboard", "dashboard"],
  ] as const,
)("%s connects to Postgres as %s: no superuser, no RLS bypass, no role creation, no inheritance", async (fn, role) => {
  await use[fn]();
  await expectNarrowSessions(role);
});
