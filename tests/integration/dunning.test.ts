// Dunning (#20) over the running stack: signed invoice and subscription events (built from the real invoice.paid
// payload by scripts/lib/dunning-events.ts) through the webhook, emails through the notify jobs (captured), the
// sweep driven by its clock argument (never by sleeping days), and the billing-portal function through
// supabase-js against the Stripe fake. The file runs in a world of its own (tests/helpers/world.ts): it changes
// ops.settings there for nobody else.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config, userToken } from "../../scripts/lib/config.ts";
import {
  invoiceFailed,
  invoicePaid,
  type Renewal,
  renewal,
  subscriptionStatus,
} from "../../scripts/lib/dunning-events.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { newBuyer } from "../helpers/crm.ts";
import { expectNarrowSessions, sql } from "../helpers/db.ts";
import { waitFor } from "../helpers/stack.ts";
import { deliver } from "../helpers/stripe.ts";

const RETURN = ["http://localhost:3000/billing", "https://app.example.com/account"];
let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({
    STRIPE_SECRET_KEY: fake.key,
    STRIPE_API_BASE: fake.url,
    BILLING_PORTAL_RETURN_URLS: RETURN.join(","),
  });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

const now = () => Math.floor(Date.now() / 1000);

type Subscriber = { id: string; email: string; customerRow: string; r: Renewal };

/** A user whose Stripe customer (made in the fake, as checkout makes it) has an active subscription. */
async function subscriber(): Promise<Subscriber> {
  const user = await newBuyer(`dun-${randomUUID().slice(0, 8)}@example.com`);
  const res = await fetch(`${fake.url}/v1/customers`, {
    method: "POST",
    headers: { authorization: `Bearer ${fake.key}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ email: user.email, "metadata[user_id]": user.id }).toString(),
  });
  const cus = (await res.json()) as { id: string };
  const r = renewal(cus.id, { userId: user.id });
  expect((await deliver(subscriptionStatus(r, "active", now() - 60, "customer.subscription.created"))).status)
    .toBe(200);
  const c = await customer(user.id);
  expect(c).toMatchObject({ billing_status: "active", access_status: "granted" });
  return { id: user.id, email: user.email, customerRow: user.customerId, r };
}

async function customer(userId: string) {
  const [c] = await sql<{ billing_status: string; access_status: string }[]>`
    select billing_status, access_status from public.customers where user_id = ${userId}`;
  return { ...c };
}

async function notifications(entityLike: string) {
  return await sql<{ template: string; entity: string; status: string }[]>`
    select template, entity, status from ops.notifications where entity like ${entityLike} order by id`;
}

async function settled(entityLike: string, n: number) {
  return await waitFor(`${n} notification(s) for ${entityLike}`, async () => {
    const rows = await notifications(entityLike);
    return rows.length >= n && rows;
  }, 60_000);
}

/** The sweep at a clock `days` after now (it counts from the failure's Stripe time, which is about now), then
 * what it left on the invoice's case (the sweep serves every open case of the world: assert on one's own). */
async function sweepAt(days: number, invoice: string): Promise<{ reminders_sent: number; grace_ended: boolean }> {
  await sql`select ops.sweep_dunning(now() + make_interval(secs => ${days * 86_400 + 60}))`;
  const [c] = await sql<{ reminders_sent: number; grace_ended: boolean }[]>`
    select reminders_sent, grace_ended_at is not null as grace_ended from ops.dunning_cases
     where stripe_invoice_id = ${invoice}`;
  return { ...c };
}

/** Jobs not finished yet for the invoice's emails (none in flight before counting what was sent). */
async function emailJobsSettled(invoice: string) {
  await waitFor(`the emails of ${invoice} done`, async () => {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where dedupe_key like ${`notify:%:invoice:${invoice}%`}
         and status not in ('succeeded', 'dead')`;
    return n === 0;
  }, 60_000);
}

describe("a failed renewal", () => {
  test("one renewal_failed email with Stripe's hosted invoice page; access in grace; replays change nothing", async () => {
    const s = await subscriber();
    const t = now();
    const failed = invoiceFailed(s.r, t);
    expect((await deliver(failed)).body.status).toBe("processed");
    expect((await deliver(subscriptionStatus(s.r, "past_due", t))).body.status).toBe("processed");
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "grace" });
    // the same delivery again, a replay, and Stripe's second attempt failing too
    expect((await deliver(failed)).body.duplicate).toBe(true);
    await sql`select * from ops.reapply_stripe_events(${[failed.id]})`;
    expect((await deliver(invoiceFailed(s.r, t + 3600, 2))).body.status).toBe("processed");
    await emailJobsSettled(s.r.invoice);
    const sent = await settled(`invoice:${s.r.invoice}%`, 1);
    expect(sent).toEqual([{ template: "renewal_failed", entity: `invoice:${s.r.invoice}`, status: "captured" }]);
    const [capture] = await sql`
      select body from ops.notification_captures where key = ${`notify:renewal_failed:invoice:${s.r.invoice}:user:${s.id}`}`;
    expect(capture.body).toMatchObject({ to: s.email, subject: expect.stringMatching(/renewal of .* did not go/) });
    expect(capture.body.html).toContain(`https://invoice.stripe.com/i/acct_fake/test_${s.r.invoice}`);
    const [c] = await sql`select attempt_count, reminders_sent, grace_ended_at from ops.dunning_cases
                           where stripe_invoice_id = ${s.r.invoice}`;
    expect({ ...c }).toEqual({ attempt_count: 2, reminders_sent: 0, grace_ended_at: null });
  });

  test("reminders fall due on days 3 and 7 of the sweep's clock, each once; paid: access back, one recovery email", async () => {
    const s = await subscriber();
    await deliver(invoiceFailed(s.r, now()));
    await deliver(subscriptionStatus(s.r, "past_due", now()));
    const inv = s.r.invoice;
    expect(await sweepAt(1, inv)).toEqual({ reminders_sent: 0, grace_ended: false });
    expect(await sweepAt(3, inv)).toEqual({ reminders_sent: 1, grace_ended: false });
    expect(await sweepAt(3, inv)).toEqual({ reminders_sent: 1, grace_ended: false });
    await settled(`invoice:${s.r.invoice}:reminder:%`, 1);
    expect(await sweepAt(7, inv)).toEqual({ reminders_sent: 2, grace_ended: false });
    await emailJobsSettled(s.r.invoice);
    expect((await notifications(`invoice:${s.r.invoice}:reminder:%`)).map((n) => n.entity)).toEqual([
      `invoice:${s.r.invoice}:reminder:1`,
      `invoice:${s.r.invoice}:reminder:2`,
    ]);
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "grace" });

    const paid = invoicePaid(s.r, now() + 5);
    expect((await deliver(paid)).body.status).toBe("processed");
    // the invoice is paid: access is back before Stripe's subscription update arrives
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "granted" });
    await deliver(subscriptionStatus(s.r, "active", now() + 5));
    expect(await customer(s.id)).toEqual({ billing_status: "active", access_status: "granted" });
    await sql`select * from ops.reapply_stripe_events(${[paid.id]})`;
    expect((await deliver(invoicePaid(s.r, now() + 6))).body.status).toBe("processed");
    // later sweeps find nothing open: no reminder, no block
    expect(await sweepAt(30, inv)).toEqual({ reminders_sent: 2, grace_ended: false });
    await emailJobsSettled(s.r.invoice);
    // the notify worker sends in any order: what counts is each once
    expect((await notifications(`invoice:${s.r.invoice}%`)).map((n) => n.template).sort()).toEqual([
      "payment_recovered",
      "renewal_failed",
      "renewal_reminder",
      "renewal_reminder",
    ]);
    expect(await customer(s.id)).toEqual({ billing_status: "active", access_status: "granted" });
  });

  test("the grace period's end blocks access (an override still wins); invoice.paid cancels a queued reminder", async () => {
    const s = await subscriber();
    await deliver(invoiceFailed(s.r, now()));
    await deliver(subscriptionStatus(s.r, "past_due", now()));
    // the day-7 reminder is enqueued, but its provider is down: the job waits for its retry in an hour
    await sql.begin(async (tx) => {
      await tx`select ops.sweep_dunning(now() + interval '7 days 1 minute')`;
      await tx`update ops.jobs set status = 'failed', run_at = now() + interval '1 hour', last_error = 'Resend 503'
                where dedupe_key like ${`notify:renewal_reminder:invoice:${s.r.invoice}:%`}`;
    });
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "grace" });
    expect(await sweepAt(10, s.r.invoice)).toEqual({ reminders_sent: 2, grace_ended: true });
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "blocked" });
    expect(await sweepAt(11, s.r.invoice)).toEqual({ reminders_sent: 2, grace_ended: true });

    // the founder grants access by hand: the override wins over the ended grace, then ends
    const [o] = await sql<{ id: number }[]>`
      insert into ops.access_overrides (customer_id, access_status, reason, expires_at)
      values (${s.customerRow}, 'granted', 'called the customer', now() + interval '1 day') returning id`;
    await sql`update public.customers set access_status = access_status where id = ${s.customerRow}`;
    expect((await customer(s.id)).access_status).toBe("granted");
    await sql`update ops.access_overrides set ended_at = now(), ended_reason = 'cleared' where id = ${o.id}`;
    await sql`update public.customers set access_status = access_status where id = ${s.customerRow}`;
    expect((await customer(s.id)).access_status).toBe("blocked");

    expect((await deliver(invoicePaid(s.r, now() + 5))).body.status).toBe("processed");
    expect((await customer(s.id)).access_status).toBe("granted");
    const [job] = await sql`select status, result from ops.jobs
                             where dedupe_key like ${`notify:renewal_reminder:invoice:${s.r.invoice}:%`}`;
    expect(job).toMatchObject({ status: "succeeded", result: { canceled: "the invoice was paid" } });
    await emailJobsSettled(s.r.invoice);
    expect((await notifications(`invoice:${s.r.invoice}%`)).map((n) => n.template).sort()).toEqual([
      "payment_recovered",
      "renewal_failed",
    ]);
  });

  test("out of order: a failure heard after its invoice was paid opens nothing and sends nothing", async () => {
    const s = await subscriber();
    const t = now();
    await deliver(invoicePaid(s.r, t + 10));
    expect((await deliver(invoiceFailed(s.r, t))).body.status).toBe("processed");
    await deliver(subscriptionStatus(s.r, "past_due", t));
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.dunning_cases where stripe_invoice_id = ${s.r.invoice}`;
    expect(n).toBe(0);
    const [{ jobs }] = await sql<{ jobs: number }[]>`
      select count(*)::int as jobs from ops.jobs where dedupe_key like ${`notify:%:invoice:${s.r.invoice}%`}`;
    expect(jobs).toBe(0);
    // the newest subscription event (active at t - 60 < past_due at t) says past_due: grace, as before dunning
    expect(await customer(s.id)).toEqual({ billing_status: "past_due", access_status: "grace" });
  });

  test("a renewal policy of ticket opens one billing ticket for the customer and emails nothing", async () => {
    await sql`update ops.settings set renewal_failed_policy = 'ticket'`;
    try {
      const s = await subscriber();
      const failed = invoiceFailed(s.r, now());
      await deliver(failed);
      await deliver(invoiceFailed(s.r, now() + 60, 2));
      await sql`select * from ops.reapply_stripe_events(${[failed.id]})`;
      const tickets = await sql`select category, queue, requester_id, source, status from public.support_tickets
                                 where case_key = ${`renewal_failed:${s.r.invoice}`}`;
      expect(tickets.map((t) => ({ ...t }))).toEqual([
        { category: "payment_failed", queue: "billing", requester_id: s.id, source: "system", status: "open" },
      ]);
      await deliver(invoicePaid(s.r, now() + 120));
      const [{ notes }] = await sql<{ notes: string[] }[]>`
        select array_agg(m.body order by m.created_at) as notes from public.ticket_messages m
          join public.support_tickets t on t.id = m.ticket_id where t.case_key = ${`renewal_failed:${s.r.invoice}`}`;
      expect(notes).toHaveLength(2);
      expect(notes[1]).toMatch(/was paid: access is restored/);
      const [{ jobs }] = await sql<{ jobs: number }[]>`
        select count(*)::int as jobs from ops.jobs where dedupe_key like ${`notify:%:invoice:${s.r.invoice}%`}`;
      expect(jobs).toBe(0);
    } finally {
      await sql`update ops.settings set renewal_failed_policy = 'email'`;
    }
  });
});

describe("billing-portal", () => {
  const FN = "billing-portal";
  async function invoke(userId: string, email: string, body: unknown = {}) {
    return invokeFunction(await appClient(await userToken(userId, { email })), FN, body);
  }

  test("a subscriber gets a portal session for their own Stripe customer, returning to an allowed URL", async () => {
    const s = await subscriber();
    const res = await invoke(s.id, s.email);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const made = fake.portalSessions().at(-1)!;
    expect(made.params).toEqual({ customer: s.r.customer, return_url: RETURN[0] });
    expect(res.body).toEqual({ url: made.url, return_url: RETURN[0] });
    expect(String(res.body.url)).toMatch(/^https:\/\/billing\.stripe\.com\/p\/session\//);
    const again = await invoke(s.id, s.email, { return_url: RETURN[1] });
    expect(again.status).toBe(200);
    expect(fake.portalSessions().at(-1)!.params).toEqual({ customer: s.r.customer, return_url: RETURN[1] });
  });

  test("refusals call Stripe nothing: no token 401, no Stripe customer 404, a return URL not allowed 400", async () => {
    const before = fake.portalSessions().length;
    const anonymous = await fetch(config.functionUrl(FN), { method: "POST", body: "{}" });
    expect(anonymous.status).toBe(401);
    const user = await newBuyer(`nocus-${randomUUID().slice(0, 8)}@example.com`);
    const none = await invoke(user.id, user.email);
    expect(none).toMatchObject({
      status: 404,
      body: { error: "you have no billing account yet: subscribe to a plan first" },
    });
    const s = await subscriber();
    const bad = await invoke(s.id, s.email, { return_url: "https://evil.example/steal" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/return_url must be one of the allowed URLs/);
    const extra = await invoke(s.id, s.email, { customer: "cus_someone_else" });
    expect(extra.status).toBe(400);
    expect(fake.portalSessions().length).toBe(before);
  });

  test("a portal Stripe refuses (settings never saved in this mode) is a 502 that says what happened", async () => {
    const s = await subscriber();
    fake.portalConfigured = false;
    try {
      const res = await invoke(s.id, s.email);
      expect(res.status).toBe(502);
      expect(res.body.error).toMatch(/^Stripe refused to open your billing portal/);
    } finally {
      fake.portalConfigured = true;
    }
  });

  test("billing-portal connects to Postgres as billing_portal: no superuser, no RLS bypass, no inheritance", async () => {
    await expectNarrowSessions("billing_portal");
  });
});
