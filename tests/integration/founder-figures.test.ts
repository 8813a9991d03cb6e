// The founder's figures (#20) reached from real data, in a world of its own (the figures count the whole
// database): payments paid and declined through the webhook -> payment success rate; the same event delivered
// three times -> duplicate deliveries; overrides made on the dashboard -> overrides this week; a payment Stripe
// created 10 minutes before we got it -> payment -> access lag and its alert rule; Resend bounces against
// emails sent -> bounce rate and its alert rule. The dashboard shows what the Studio views say.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { checkoutCompleted, piFailed } from "../../scripts/lib/scenarios.ts";
import { signResendWebhook } from "../fakes/resend.ts";
import { newBuyer } from "../helpers/crm.ts";
import { DashboardClient, doneId, newAdmin, newBuyerPerson } from "../helpers/dashboard.ts";
import { pendingOrder, sql } from "../helpers/db.ts";
import { settleJobs } from "../helpers/stack.ts";
import { deliver, uid } from "../helpers/stripe.ts";

beforeAll(async () => {
  await startWorld({});
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
}, 120_000);

const now = () => Math.floor(Date.now() / 1000);

/** An order paid by a checkout session Stripe created `ageSeconds` ago; the event's id. */
async function pay(ageSeconds = 0) {
  const buyer = await newBuyer(`fig-${randomUUID().slice(0, 8)}@example.com`);
  const orderId = await pendingOrder(2500, buyer.id);
  const evt = checkoutCompleted(orderId, uid("pi_"), now() - ageSeconds);
  const res = await deliver(evt);
  expect(res.body).toMatchObject({ status: "processed", duplicate: false });
  return { evt, orderId, buyer };
}

async function figure<T>(view: string): Promise<T> {
  const [row] = await sql.unsafe(`select * from ops.${view} where day = current_date`);
  return row as T;
}

async function allJobsSettled() {
  const ids = (await sql<{ id: string }[]>`select id from ops.jobs where status not in ('succeeded', 'dead')`)
    .map((r) => Number(r.id));
  if (ids.length) await settleJobs(ids, 120_000);
}

describe("founder figures from real data", () => {
  test("payments, duplicates, overrides, lag and bounces, in the views, the alert rules and on the dashboard", async () => {
    // three payments succeed (one of them delivered three times), one attempt is declined
    const first = await pay();
    await pay();
    const late = await pay(600); // Stripe created it 10 minutes before it reached us
    expect((await deliver(first.evt)).body).toMatchObject({ duplicate: true });
    expect((await deliver(first.evt)).body).toMatchObject({ duplicate: true });
    expect((await deliver(piFailed(uid("pi_"), now()))).body).toMatchObject({ status: "processed" });

    const pay7 = await figure<{ succeeded: string; failed_attempts: string; success_rate: string }>(
      "payment_success_daily",
    );
    expect({ ...pay7 }).toEqual({
      day: expect.any(Date),
      succeeded: "3",
      failed_attempts: "1",
      success_rate: "0.7500",
    });

    const dup = await figure<{ duplicates: string; first_deliveries: string }>("duplicate_deliveries_daily");
    expect(dup.duplicates).toBe("2");
    expect(dup.first_deliveries).toBe("4");

    // lag: each grant with the event that paid; the late one over 5 minutes
    const lags = await sql<{ event_id: string; lag_s: number }[]>`
      select event_id, extract(epoch from lag)::float as lag_s from ops.payment_access_lag`;
    expect(lags).toHaveLength(3);
    const lateLag = lags.find((l) => l.event_id === late.evt.id)!.lag_s;
    expect(lateLag).toBeGreaterThanOrEqual(600);
    expect(lags.filter((l) => l.lag_s > 300)).toHaveLength(1);
    const daily = await figure<{ grants: string; over_5_min: string }>("payment_access_lag_daily");
    expect({ grants: daily.grants, over_5_min: daily.over_5_min }).toEqual({ grants: "3", over_5_min: "1" });
    const [lagRule] = await sql<{ firing: boolean; value: string; detail: { slowest_event: string } }[]>`
      select (ops.check_alert_rule(r, now(), now() - r.window_interval)).* from ops.alert_rules r
       where r.rule = 'payment_access_lag'`;
    expect(lagRule.firing).toBe(true);
    expect(Number(lagRule.value)).toBeGreaterThanOrEqual(600);
    expect(lagRule.detail.slowest_event).toBe(late.evt.id);

    // overrides: two changes made on the dashboard this week
    const admin = await newAdmin();
    const client = new DashboardClient();
    expect((await client.signIn(admin.token)).status).toBe(303);
    const buyer = await newBuyerPerson();
    doneId(
      (await client.post("set-access", {
        customer_id: buyer.customerId,
        access: "granted",
        hours: "24",
        reason: "bank transfer",
      })).res,
    );
    doneId((await client.post("clear-access", { customer_id: buyer.customerId, reason: "paid by card" })).res);
    const [week] = await sql<{ overrides: string; by_action: Record<string, number> }[]>`
      select overrides::text, by_action from ops.overrides_weekly where week = date_trunc('week', now())::date`;
    expect({ ...week }).toEqual({ overrides: "2", by_action: { "access.clear_override": 1, "access.grant": 1 } });

    // bounces: the receipts and welcomes went out (the capture adapter), then Resend reports three bounces
    await allJobsSettled();
    const [{ sent }] = await sql<{ sent: number }[]>`
      select count(*)::int as sent from ops.notifications where channel = 'email' and status in ('sent', 'captured')`;
    expect(sent).toBeGreaterThanOrEqual(6); // a receipt and a welcome per paid order
    for (let i = 0; i < 3; i++) {
      const body = JSON.stringify({
        type: "email.bounced",
        created_at: new Date().toISOString(),
        data: { email_id: randomUUID(), to: [first.buyer.email], bounce: { type: "Permanent", message: "no user" } },
      });
      const res = await fetch(config.functionUrl("resend-webhook"), {
        method: "POST",
        body,
        headers: signResendWebhook(body, config.resendWebhookSecret),
      });
      expect(res.status).toBe(200);
    }
    const bounce = await figure<{ sent: string; bounced: string; bounce_rate: string }>("email_bounce_daily");
    expect({ sent: Number(bounce.sent), bounced: Number(bounce.bounced) }).toEqual({ sent, bounced: 3 });
    expect(Number(bounce.bounce_rate)).toBeCloseTo(3 / sent, 4);
    const [bounceRule] = await sql<{ firing: boolean; value: string }[]>`
      select (ops.check_alert_rule(r, now(), now() - r.window_interval)).* from ops.alert_rules r
       where r.rule = 'email_bounce_rate'`;
    expect(bounceRule.firing).toBe(true);
    expect(Number(bounceRule.value)).toBeCloseTo(3 / sent, 4);

    // the dashboard says what the views say
    const { res, html } = await client.page();
    expect(res.status).toBe(200);
    const card = (title: string) =>
      new RegExp(`${title.replace(/[()]/g, "\\$&")}<b[^>]*>([^<]+)</b>\\s*<span class="muted">([^<]+)</span>`).exec(
        html,
      )?.slice(1);
    expect(card("Payment success (7 days)")).toEqual(["75.0 %", "3 paid, 1 failed attempts"]);
    expect(card("Duplicate deliveries today")).toEqual(["2", "2 in 7 days, none applied twice"]);
    expect(card("Overrides this week")).toEqual(["2", "0 last week"]);
    expect(card("Payment → access p95 (7 days)")?.[1]).toMatch(/^max [\d,.]+ s, 1 over 5 min of 3$/);
    expect(card("Email bounce rate (7 days)")).toEqual([`${((3 / sent) * 100).toFixed(1)} %`, `3 of ${sent} emails`]);
  });
});
