// Customer notifications and system tickets over the running stack: signed Stripe events through the
// webhook, jobs dispatched over pg_net to notify and support-desk, sends captured (or sent to the
// Resend fake), once per (template, entity, recipient) whatever is retried, duplicated or replayed.
// The file runs in a world of its own (tests/helpers/world.ts): its last describe points notify at the
// Resend fake and shortens notify.email's retries there, for nobody else.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chargeRefunded, checkoutCompleted, dispute, piFailed } from "../../scripts/lib/scenarios.ts";
import { config } from "../../scripts/lib/config.ts";
import { newBuyer, paidOrder } from "../helpers/crm.ts";
import { order, pendingOrder, sql } from "../helpers/db.ts";
import { restartGateway, waitFor } from "../helpers/stack.ts";
import { deliver, uid } from "../helpers/stripe.ts";
import { type FakeResend, signResendWebhook, startFakeResend } from "../fakes/resend.ts";
import "../helpers/require-stack.ts";

type Sent = { template: string; entity: string; recipient: string; status: string };

async function notifications(where: { entityLike: string }) {
  return await sql<Sent[]>`
    select template, entity, recipient, status from ops.notifications where entity like ${where.entityLike} order by id`;
}

async function settled(entityLike: string, n: number) {
  return await waitFor(`${n} notification(s) for ${entityLike}`, async () => {
    const rows = await notifications({ entityLike });
    return rows.length >= n && rows;
  }, 60_000);
}

const now = () => Math.floor(Date.now() / 1000);

beforeAll(() => startWorld(), 300_000);
afterAll(async () => {
  await sql.end();
  await stopWorld();
}, 120_000);

describe("notifications", () => {
  test("a paid order: one receipt and one welcome, captured; a duplicate webhook changes nothing", async () => {
    const buyer = await newBuyer(`paid-${randomUUID().slice(0, 8)}@example.com`);
    const pi = uid("pi_");
    const id = await pendingOrder(2500, buyer.id);
    const evt = checkoutCompleted(id, pi, now());
    expect((await deliver(evt)).body.status).toBe("processed");
    expect((await deliver(evt)).body.duplicate).toBe(true);
    const receipts = await settled(`order:${id}`, 1);
    const welcome = await settled(`user:${buyer.id}`, 1);
    expect(receipts.map((r) => [r.template, r.status])).toEqual([["payment_receipt", "captured"]]);
    expect(welcome.map((r) => [r.template, r.status])).toEqual([["welcome", "captured"]]);
    const [capture] =
      await sql`select body from ops.notification_captures where key = ${`notify:payment_receipt:order:${id}:user:${buyer.id}`}`;
    expect(capture.body).toMatchObject({ to: buyer.email, subject: expect.stringMatching(/^Receipt for order/) });
    expect(capture.body.text).toMatch(/25\.00/);
  });

  test("a failed payment sends the billing email, no welcome, and grants nothing", async () => {
    const buyer = await newBuyer(`failed-${randomUUID().slice(0, 8)}@example.com`);
    const pi = uid("pi_");
    const id = await pendingOrder(2500, buyer.id);
    // the app created the payment intent for the order (metadata.order_id), and the card was declined
    const evt = piFailed(pi, now(), { metadata: { order_id: id } });
    expect((await deliver(evt)).body.status).toBe("processed");
    expect((await order(id)).status).toBe("payment_failed");
    const sent = await settled(`event:${evt.id}`, 1);
    expect(sent.map((r) => r.template)).toEqual(["payment_failed"]);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where dedupe_key = ${`notify:welcome:user:${buyer.id}:user:${buyer.id}`}`;
    expect(n).toBe(0);
    const [c] = await sql`select access_status from public.customers where user_id = ${buyer.id}`;
    expect(c.access_status).toBe("blocked");
  });

  test("100 deliveries and replays of one refund send one email", async () => {
    const buyer = await newBuyer(`refund-${randomUUID().slice(0, 8)}@example.com`);
    const pi = uid("pi_");
    const id = await paidOrder(buyer.id, pi);
    const evt = chargeRefunded(pi, uid("ch_"), 2500, now() + 1);
    const body = JSON.stringify(evt);
    for (let i = 0; i < 10; i++) await Promise.all(Array.from({ length: 9 }, () => deliver(body)));
    for (let i = 0; i < 10; i++) await sql`select * from ops.reapply_stripe_events(${[evt.id]})`;
    expect((await order(id)).status).toBe("refunded");
    await settled(`order:${id}:refunded:%`, 1);
    await new Promise((r) => setTimeout(r, 1500));
    const refunds = await notifications({ entityLike: `order:${id}:refunded:%` });
    expect(refunds.map((r) => r.template)).toEqual(["refund_confirmation"]);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.notification_captures where key like ${`notify:refund_confirmation:order:${id}:%`}`;
    expect(n).toBe(1);
  });

  test("a dispute opens one ticket in disputes and posts one Slack alert", async () => {
    const buyer = await newBuyer(`dispute-${randomUUID().slice(0, 8)}@example.com`);
    const pi = uid("pi_");
    const id = await paidOrder(buyer.id, pi);
    const dp = uid("dp_");
    const opened = dispute(pi, uid("ch_"), "needs_response", now() + 1, dp);
    expect((await deliver(opened)).body.status).toBe("processed");
    expect((await deliver(opened)).body.duplicate).toBe(true);
    const ticket = await waitFor("the dispute's ticket", async () => {
      const [t] = await sql`select * from public.support_tickets where case_key = ${`dispute:${dp}`}`;
      return t;
    }, 60_000);
    expect(ticket).toMatchObject({
      queue: "disputes",
      priority: "urgent",
      order_id: id,
      requester_id: null,
      source: "system",
    });
    const alerts = await settled(`dispute:${dp}`, 1);
    expect(alerts.map((a) => [a.template, a.status])).toEqual([["slack_dispute_alert", "captured"]]);
    const founder = await settled(`ticket:${ticket.id}`, 1);
    expect(founder.map((f) => f.template)).toEqual(["founder_new_ticket"]);
  });
});

describe("notifications against the Resend fake", () => {
  let resend: FakeResend;
  // the file's last describe: the world's notify keeps the Resend fake from here on
  beforeAll(async () => {
    resend = await startFakeResend();
    await restartGateway({ RESEND_API_KEY: resend.apiKey, RESEND_BASE_URL: resend.url, RESEND_TIMEOUT_MS: "2000" });
    await sql`update ops.job_kinds set max_attempts = 2, backoff_base_ms = 500 where kind = 'notify.email'`;
  }, 120_000);
  afterAll(async () => {
    await resend?.close();
  });

  test("with every email failing, the order is still paid and is marked communication degraded", async () => {
    resend.reset();
    resend.setFaults({ failAll: true });
    try {
      const buyer = await newBuyer(`degraded-${randomUUID().slice(0, 8)}@example.com`);
      const id = await paidOrder(buyer.id);
      expect((await order(id)).status).toBe("paid");
      const degraded = await waitFor("the receipt to go dead", async () => {
        const rows = await sql`select * from ops.degraded_communications where entity = ${`order:${id}`}`;
        return rows.length > 0 && rows;
      }, 90_000);
      expect(degraded[0]).toMatchObject({ template: "payment_receipt" });
      const [exc] = await sql`
        select * from ops.pipeline_exceptions where exception = 'communication degraded' and subject = ${`order:${id}`}`;
      expect(exc.next_action).toMatch(/replay_job/);
      expect((await order(id)).status).toBe("paid");
      expect(resend.sent).toHaveLength(0);
    } finally {
      resend.setFaults({ failAll: false });
    }
  });

  test("Resend's 429 defers the email by its Retry-After without spending an attempt (#20)", async () => {
    resend.reset();
    // every send answers 429 with Retry-After: 1 s; the kind allows 2 attempts (beforeAll)
    resend.setFaults({ rateLimit: true, retryAfter: 1 });
    try {
      const buyer = await newBuyer(`ratelimited-${randomUUID().slice(0, 8)}@example.com`);
      const id = await paidOrder(buyer.id);
      const receipt429s = () =>
        resend.requests.filter((r) => r.status === 429 && r.idempotencyKey?.includes(`order:${id}`)).length;
      // more 429s than the kind has attempts: a spent attempt each would have made it dead after two
      await waitFor("three 429s for the receipt", async () => receipt429s() >= 3, 60_000);
      const [job] = await sql`
        select id, status, attempts from ops.jobs
         where kind = 'notify.email' and payload ->> 'template' = 'payment_receipt'
           and payload ->> 'entity' = ${`order:${id}`}`;
      expect(job.status).not.toBe("dead");
      resend.setFaults({ rateLimit: false });
      const rows = await settled(`order:${id}`, 1);
      expect(rows.map((r) => [r.template, r.status])).toEqual([["payment_receipt", "sent"]]);
      // sent once the limit lifts, on its first spent attempt: none of the 429s kept an attempt
      const [done] = await sql`select status, attempts from ops.jobs where id = ${job.id}`;
      expect(done).toEqual({ status: "succeeded", attempts: 1 });
      expect(await sql`select outcome from ops.job_attempts where job_id = ${job.id}`).toEqual([
        { outcome: "succeeded" },
      ]);
    } finally {
      resend.setFaults({ rateLimit: false });
    }
  }, 150_000);

  test("a bounce reported by Resend's webhook stops later sends, visibly", async () => {
    resend.reset();
    const buyer = await newBuyer(`bounce-${randomUUID().slice(0, 8)}@example.com`);
    const body = JSON.stringify({
      type: "email.bounced",
      created_at: new Date().toISOString(),
      data: {
        email_id: randomUUID(),
        to: [buyer.email],
        bounce: { type: "Permanent", subType: "General", message: "no such user" },
      },
    });
    const headers = signResendWebhook(body, config.resendWebhookSecret);
    const res = await fetch(config.functionUrl("resend-webhook"), { method: "POST", body, headers });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "processed" });
    const again = await fetch(config.functionUrl("resend-webhook"), { method: "POST", body, headers });
    expect(await again.json()).toMatchObject({ outcome: "duplicate" });
    const forged = await fetch(config.functionUrl("resend-webhook"), {
      method: "POST",
      body,
      headers: { ...headers, "svix-signature": "v1,AAAA" },
    });
    expect(forged.status).toBe(400);

    const id = await paidOrder(buyer.id);
    const rows = await settled(`order:${id}`, 1);
    expect(rows.map((r) => [r.template, r.status])).toEqual([["payment_receipt", "suppressed"]]);
    expect(resend.sent.filter((m) => m.to.includes(buyer.email))).toHaveLength(0);
  });
});
