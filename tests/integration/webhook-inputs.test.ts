// What stripe-webhook takes in (#8, Inputs): only this project's Stripe mode and Connect account are
// applied, a NUL or a lone surrogate typed by a customer is stored instead of refused (#16), and
// personal data in the ledger and in captured CRM calls is cleared after its retention.
// The file runs in a world of its own (tests/helpers/world.ts): it turns its deployment live and
// shortens its retention there, last, and restores neither for anyone.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { checkoutCompleted, customerUpdated, subscriptionEvents } from "../../scripts/lib/scenarios.ts";
import { ledger, order, pendingOrder, sql } from "../helpers/db.ts";
import { replayCli, restartGateway } from "../helpers/stack.ts";
import { deliver, type Evt, signature, uid, WEBHOOK_URL } from "../helpers/stripe.ts";

beforeAll(() => startWorld(), 300_000);
afterAll(async () => {
  await sql.end();
  await stopWorld();
}, 120_000);
const t0 = () => Math.floor(Date.now() / 1000) - 3600;
const PLATFORM = "acct_1Platform" + uid().slice(0, 8);

/** What pg_cron runs, as it runs it (outside a transaction). */
async function cron(jobname: string) {
  const [{ command }] = await sql`select command from cron.job where jobname = ${jobname}`;
  return sql.unsafe(command);
}

async function jobsOfOrder(orderId: string) {
  return sql`select id from ops.jobs where payload ->> 'order_id' = ${orderId}`;
}

async function exceptionFor(ref: string) {
  return sql<{ exception: string; error: string; next_action: string }[]>`
    select exception, error, next_action from ops.pipeline_exceptions where ref = ${ref} order by exception`;
}

describe("a NUL typed by a customer", () => {
  /** The JSON text as Stripe sends it, holding a \u0000 escape and, apart, an escaped backslash before u0000. */
  function body(e: Evt): string {
    const text = JSON.stringify(e);
    expect(text).toContain(String.raw`\u0000`);
    expect(text).toContain(String.raw`\\u0000`);
    return text;
  }

  test("in a customer's name: the event is stored with U+FFFD, applied, answered 2xx and listed for review", async () => {
    const cus = uid("cus_");
    const e = customerUpdated(cus, `nul-${uid().slice(0, 8)}@example.com`, t0(), {
      name: "Ada\u0000Lovelace",
      description: String.raw`typed \u0000 as text`,
    });
    const text = body(e);
    const res = await fetch(WEBHOOK_URL, {
      method: "POST",
      body: text,
      headers: { "content-type": "application/json", "stripe-signature": await signature(text) },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: true, event_id: e.id, status: "processed" });
    const [row] = await sql`select status, sanitized, payload -> 'data' -> 'object' ->> 'name' as name,
                                   payload -> 'data' -> 'object' ->> 'description' as description
                              from ops.stripe_events where event_id = ${e.id}`;
    expect(row).toEqual({
      status: "processed",
      sanitized: true,
      name: "Ada\uFFFDLovelace",
      description: String.raw`typed \u0000 as text`,
    });
    const [customer] = await sql`select name from ops.stripe_customers where stripe_customer_id = ${cus}`;
    expect(customer.name).toBe("Ada\uFFFDLovelace");
    const [exc] = await exceptionFor(e.id);
    expect(exc.exception).toBe("sanitized Stripe event");
    expect(exc.next_action).toContain(cus);
    expect(exc.next_action).toContain("reviewed_at");
    await sql`update ops.stripe_events set reviewed_at = now() where event_id = ${e.id}`;
    expect(await exceptionFor(e.id)).toHaveLength(0);
  });

  test("in a Checkout custom field: the payment is still applied", async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), t0(), {
      custom_fields: [{ key: "engraving", type: "text", text: { value: "for\u0000you" } }],
      customer_details: { name: String.raw`a \u0000 b`, email: "buyer@example.com" },
    });
    const res = await deliver(body(e));
    expect(res).toMatchObject({ status: 200, body: { status: "processed" } });
    expect((await order(id)).status).toBe("paid");
    const [row] = await sql`select sanitized, payload #>> '{data,object,custom_fields,0,text,value}' as value
                              from ops.stripe_events where event_id = ${e.id}`;
    expect(row).toEqual({ sanitized: true, value: "for\uFFFDyou" });
  });
});

describe("a lone surrogate escape (half of an emoji)", () => {
  test("in a customer's name: the event is stored with U+FFFD, applied, answered 2xx and listed for review", async () => {
    const cus = uid("cus_");
    const e = customerUpdated(cus, `lone-${uid().slice(0, 8)}@example.com`, t0(), {
      name: "Ada\ud800Lovelace \u{1F600}",
      description: String.raw`typed \ud800 as text`,
    });
    // JSON.stringify writes the lone half as the escape \ud800, as Stripe sends it; the whole emoji stays as is
    const text = JSON.stringify(e);
    expect(text).toContain(String.raw`Ada\ud800Lovelace`);
    expect(text).toContain(String.raw`\\ud800`);
    const res = await fetch(WEBHOOK_URL, {
      method: "POST",
      body: text,
      headers: { "content-type": "application/json", "stripe-signature": await signature(text) },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ received: true, event_id: e.id, status: "processed" });
    const [row] = await sql`select status, sanitized, payload -> 'data' -> 'object' ->> 'name' as name,
                                   payload -> 'data' -> 'object' ->> 'description' as description
                              from ops.stripe_events where event_id = ${e.id}`;
    expect(row).toEqual({
      status: "processed",
      sanitized: true,
      name: "Ada\uFFFDLovelace \u{1F600}",
      description: String.raw`typed \ud800 as text`,
    });
    const [customer] = await sql`select name from ops.stripe_customers where stripe_customer_id = ${cus}`;
    expect(customer.name).toBe("Ada\uFFFDLovelace \u{1F600}");
    const [exc] = await exceptionFor(e.id);
    expect(exc.exception).toBe("sanitized Stripe event");
  });
});

describe("personal data retention", () => {
  async function backdate(eventIds: string[], days: number) {
    await sql`update ops.stripe_events set received_at = now() - make_interval(days => ${days})
               where event_id = any(${eventIds})`;
  }
  async function capture(operation: string, key: string, body: Record<string, unknown>, daysAgo: number) {
    await sql`select ops.record_crm_capture(${operation}, ${key}, ${sql.json(body as never)})`;
    const [{ id }] = await sql`update ops.crm_capture set created_at = now() - make_interval(days => ${daysAgo})
                                where id = (select max(id) from ops.crm_capture where key = ${key}) returning id`;
    return id as string;
  }
  const purge = () => cron("ops-purge-history");

  test(
    "the daily purge clears old payloads and captured calls, keeping ids, types, statuses, amounts, recent rows and dead jobs",
    async () => {
      const email = `old-${uid().slice(0, 8)}@example.com`;
      const [oldId, recentId] = [await pendingOrder(), await pendingOrder()];
      const details = { customer_details: { email, name: "Old Buyer", address: { line1: "1 Private Road" } } };
      const old = checkoutCompleted(oldId, uid("pi_"), t0(), details);
      const recent = checkoutCompleted(recentId, uid("pi_"), t0(), details);
      const [unapplied] = subscriptionEvents(uid("cus_"), uid("sub_"), [`unmapped_${uid().slice(0, 8)}`], t0());
      for (const e of [old, recent, unapplied]) expect((await deliver(e)).status).toBe(200);
      expect((await ledger([unapplied.id]))[0].status).toBe("failed");
      await backdate([old.id, unapplied.id], 91);
      await backdate([recent.id], 89);

      const oldContact = await capture("contact", email, { id: "capture-contact-x", email, firstName: "Old" }, 91);
      const oldDeal = await capture("deal", oldId, {
        id: "capture-deal-x",
        orderKey: oldId,
        name: "Old Buyer's order",
        amount: 2500,
        currency: "usd",
        stage: "paid",
      }, 91);
      const recentContact = await capture("contact", `recent-${email}`, { email: `recent-${email}` }, 1);

      // jobs: a dead one (kept until replayed or resolved) and a succeeded one (purged after 14 days)
      const job = async (status: string) => {
        const [{ id }] = await sql`select ops.enqueue_job('crm.contact', ${sql.json({ customer_id: uid() })},
          ${`test:retention:${status}:${uid()}`}, interval '1 hour') as id`;
        await sql`update ops.jobs set status = ${status}, last_error = 'test', updated_at = now() - interval '200 days',
                    created_at = now() - interval '200 days',
                    succeeded_at = case when ${status} = 'succeeded' then now() - interval '200 days' end
                   where id = ${id}`;
        return id as string;
      };
      const [dead, succeeded] = [await job("dead"), await job("succeeded")];
      const [deadBefore] = await sql`select payload, status from ops.jobs where id = ${dead}`;

      await purge();

      const events = Object.fromEntries(
        (await sql`select event_id, type, status, object_id, payload, payload_cleared_at from ops.stripe_events
                    where event_id = any(${[old.id, recent.id, unapplied.id]})`).map((r) => [r.event_id, r]),
      );
      // old and applied: its ids, type, status and amount stay; the buyer's email, name and address go
      const o = events[old.id];
      expect(o).toMatchObject({
        type: "checkout.session.completed",
        status: "processed",
        object_id: old.data.object.id,
      });
      expect(o.payload_cleared_at).not.toBeNull();
      expect(o.payload).toMatchObject({
        id: old.id,
        type: "checkout.session.completed",
        data: {
          object: {
            id: old.data.object.id,
            object: "checkout.session",
            status: "complete",
            payment_status: "paid",
            amount_total: 2500,
            currency: "usd",
            client_reference_id: oldId,
            payment_intent: old.data.object.payment_intent,
            metadata: { order_id: oldId },
          },
        },
      });
      expect(JSON.stringify(o.payload)).not.toMatch(/Old Buyer|Private Road|@example\.com|customer_details/);
      // recent, and failed (a re-apply needs it): kept whole
      expect(events[recent.id].payload_cleared_at).toBeNull();
      expect(events[recent.id].payload.data.object.customer_details.email).toBe(email);
      expect(events[unapplied.id].payload_cleared_at).toBeNull();
      expect(events[unapplied.id].payload).toEqual(JSON.parse(JSON.stringify(unapplied)));

      const captures = Object.fromEntries(
        (await sql`select id, operation, key, body, cleared_at from ops.crm_capture
                    where id = any(${[oldContact, oldDeal, recentContact]})`).map((r) => [r.id, r]),
      );
      expect(captures[oldContact]).toMatchObject({
        operation: "contact",
        key: null,
        body: { id: "capture-contact-x" },
      });
      expect(captures[oldContact].cleared_at).not.toBeNull();
      expect(captures[oldDeal]).toMatchObject({
        operation: "deal",
        key: oldId,
        body: { id: "capture-deal-x", orderKey: oldId, amount: 2500, currency: "usd", stage: "paid" },
      });
      expect(captures[oldDeal].body.name).toBeUndefined();
      expect(captures[recentContact]).toMatchObject({ key: `recent-${email}`, body: { email: `recent-${email}` } });
      expect(captures[recentContact].cleared_at).toBeNull();

      expect(await sql`select payload, status from ops.jobs where id = ${dead}`).toEqual([deadBefore]);
      expect(await sql`select 1 from ops.jobs where id = ${succeeded}`).toHaveLength(0);

      // clearing is done once: the next run finds nothing more of these
      const [again] = await sql`select ops.clear_personal_data() as r`;
      expect(Object.keys(again.r).sort()).toEqual([
        "crm_captures",
        "dunning_cases",
        "event_payloads",
        "job_payloads",
        "notifications",
      ]);
      const [after] = await sql`select payload_cleared_at from ops.stripe_events where event_id = ${old.id}`;
      expect(after.payload_cleared_at).toEqual(o.payload_cleared_at);
    },
  );

  test("the retention is a setting in ops.settings: at 30 days a 40-day-old payload goes", async () => {
    const e = customerUpdated(uid("cus_"), `forty-${uid().slice(0, 8)}@example.com`, t0());
    expect((await deliver(e)).body.status).toBe("processed");
    await backdate([e.id], 40);
    await purge();
    expect((await sql`select payload_cleared_at from ops.stripe_events where event_id = ${e.id}`)[0].payload_cleared_at)
      .toBeNull();
    await sql`update ops.settings set personal_data_retention_days = 30`;
    await purge();
    const [row] = await sql`select payload, payload_cleared_at from ops.stripe_events where event_id = ${e.id}`;
    expect(row.payload_cleared_at).not.toBeNull();
    expect(row.payload.data.object).toMatchObject({ id: e.data.object.id, object: "customer" });
    expect(JSON.stringify(row.payload)).not.toContain(e.data.object.email);
    expect(JSON.stringify(row.payload)).not.toContain(e.data.object.name);
    await expect(sql`update ops.settings set personal_data_retention_days = 0`).rejects.toThrow(/check constraint/);
  });

  test("a replay of an event whose payload was cleared refuses clearly, from SQL and from npm run replay", async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), t0());
    expect((await deliver(e)).body.status).toBe("processed");
    await backdate([e.id], 100);
    await purge();
    await expect(sql`select * from ops.reapply_stripe_events(${[e.id]})`).rejects.toThrow(
      new RegExp(`Stripe event ${e.id} cannot be re-applied: its payload was cleared on .* \\(personal data retention`),
    );
    const cli = replayCli("events", e.id);
    expect(cli.status).toBe(1);
    expect(cli.stderr).toMatch(/cannot be re-applied: its payload was cleared/);
    expect(cli.stderr).toContain(e.data.object.id);
    const [row] = await sql`select status, attempts from ops.stripe_events where event_id = ${e.id}`;
    expect(row).toEqual({ status: "processed", attempts: 1 });
    expect((await order(id)).status).toBe("paid");
  });
});

describe("test and live do not mix", () => {
  test("without a platform account, an event naming a connected account is ignored", async () => {
    const id = await pendingOrder();
    const before = await order(id);
    const e = { ...checkoutCompleted(id, uid("pi_"), t0()), account: "acct_1Connected" };
    const res = await deliver(e);
    expect(res).toMatchObject({ status: 200, body: { status: "ignored" } });
    expect(res.body.reason).toMatch(/connected account acct_1Connected/);
    expect(await order(id)).toEqual(before);
  });

  describe("a live deployment that is a Connect platform, with a test secret in its rotation list", () => {
    // the file's last describe: it turns the world live for good (everything before it runs in test mode)
    beforeAll(async () => {
      // as a deployment does: the webhook's secrets and ops.settings say the same
      await sql`update ops.settings set stripe_livemode = true, stripe_account_id = ${PLATFORM}`;
      await restartGateway({ STRIPE_LIVEMODE: "true", STRIPE_ACCOUNT_ID: PLATFORM });
    }, 120_000);

    test("a test-mode event signed with a valid secret cannot mark a live order paid, now or by any re-apply", async () => {
      // config.stripeWebhookSecrets[1] stands for the test endpoint's secret left in the live list
      expect(config.stripeWebhookSecrets.length).toBeGreaterThanOrEqual(2);
      const id = await pendingOrder();
      const before = await order(id);
      const testEvent = checkoutCompleted(id, uid("pi_"), t0(), {}, { livemode: false });
      const res = await deliver(testEvent, { secret: config.stripeWebhookSecrets[1] });
      expect(res).toMatchObject({ status: 200, body: { received: true, status: "ignored", duplicate: false } });
      expect(res.body.reason).toMatch(/test-mode event; this project takes live-mode events only/);
      expect(await order(id)).toEqual(before);
      expect(await jobsOfOrder(id)).toHaveLength(0);
      const [row] = await sql`select status, livemode, ignored_reason, payload ->> 'id' as payload_id
                                from ops.stripe_events where event_id = ${testEvent.id}`;
      expect(row).toMatchObject({ status: "ignored", livemode: false, payload_id: testEvent.id });
      expect(row.ignored_reason).toMatch(/test-mode event/);
      const [exc] = await exceptionFor(testEvent.id);
      expect(exc).toMatchObject({ exception: "ignored Stripe event", error: row.ignored_reason });
      expect(exc.next_action).toMatch(/STRIPE_LIVEMODE/);

      // a replay checks the mode again
      expect(await sql`select * from ops.reapply_stripe_events(${[testEvent.id]})`).toEqual([
        { event_id: testEvent.id, status: "ignored" },
      ]);
      // and so does the 15-minute retry, for a test-mode event a test-mode configuration left failed
      await sql`update ops.stripe_events set status = 'failed', ignored_reason = null, last_error = 'test: failed before'
                 where event_id = ${testEvent.id}`;
      await cron("ops-retry-stripe-events");
      expect((await ledger([testEvent.id]))[0]).toMatchObject({ status: "ignored", last_error: null });
      expect(await order(id)).toEqual(before);
      expect(await jobsOfOrder(id)).toHaveLength(0);

      // the live payment for the same order is applied
      const live = checkoutCompleted(id, uid("pi_"), t0() + 1, {}, { livemode: true });
      expect((await deliver(live)).body).toMatchObject({ status: "processed" });
      expect((await order(id)).status).toBe("paid");
    });

    test("an event of another Connect account is ignored; the platform's own (with or without account) apply", async () => {
      const id = await pendingOrder();
      const before = await order(id);
      const other = checkoutCompleted(id, uid("pi_"), t0(), {}, { livemode: true });
      const res = await deliver({ ...other, account: "acct_1SomebodyElse" });
      expect(res).toMatchObject({ status: 200, body: { status: "ignored" } });
      expect(res.body.reason).toMatch(
        /connected account acct_1SomebodyElse, which is not one of our sellers.*platform \(acct_1Platform/,
      );
      expect(await order(id)).toEqual(before);
      expect(await jobsOfOrder(id)).toHaveLength(0);

      const own = checkoutCompleted(id, uid("pi_"), t0() + 1, {}, { livemode: true });
      expect((await deliver({ ...own, account: PLATFORM })).body).toMatchObject({ status: "processed" });
      expect((await order(id)).status).toBe("paid");
    });

    test("while the webhook and ops.settings disagree, deliveries are refused with 503 and nothing is recorded", async () => {
      await sql`update ops.settings set stripe_livemode = false`;
      try {
        const id = await pendingOrder();
        const e = checkoutCompleted(id, uid("pi_"), t0(), {}, { livemode: true });
        const res = await deliver(e);
        expect(res.status).toBe(503);
        expect(res.body.error).toMatch(/STRIPE_LIVEMODE \/ STRIPE_ACCOUNT_ID and the database's ops.settings disagree/);
        expect(await ledger([e.id])).toHaveLength(0);
        expect((await order(id)).status).toBe("pending_payment");

        // once they agree, Stripe's redelivery is applied
        await sql`update ops.settings set stripe_livemode = true`;
        expect((await deliver(e)).body).toMatchObject({ status: "processed", duplicate: false });
        expect((await order(id)).status).toBe("paid");
      } finally {
        await sql`update ops.settings set stripe_livemode = true`;
      }
    });
  });
});
