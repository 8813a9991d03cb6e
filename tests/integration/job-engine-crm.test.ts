// The job engine and crm-sync end to end: the real stack (Postgres triggers, pg_net (real or stand-in), sweep,
// gateway, Deno worker) against a HubSpot fake that duplicates, rate-limits, fails and hangs.
// The file runs in a world of its own (tests/helpers/world.ts): it sets its kinds' backoff, drops
// pg_net's requests, kills and restarts the gateway, rotates the worker secret, and no other file sees
// any of it or leaves a job or drain loop in its queues.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { apiKeys, config, userToken } from "../../scripts/lib/config.ts";
import { subscriptionEvents } from "../../scripts/lib/scenarios.ts";
import { paths } from "../../scripts/stack/stack.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { jobIds, newBuyer, paidOrder } from "../helpers/crm.ts";
import { closedPort } from "../helpers/closed-port.ts";
import { sql } from "../helpers/db.ts";
import { killGateway, replayCli, restartGateway, settleJobs, sweep, waitFor } from "../helpers/stack.ts";
import { deliver, event, uid } from "../helpers/stripe.ts";

const CRM_URL = config.functionUrl("crm-sync");
/** The vault's secret `name` set to `value`, through vault.update_secret: postgres may not write vault.secrets. */
const setVaultSecret = (name: string, value: string) =>
  sql`select vault.update_secret(id, ${value}) from vault.secrets where name = ${name}`;
const run = uid().slice(0, 8);
let fake: FakeHubSpot;

async function hubspotEnv(f: FakeHubSpot) {
  return {
    HUBSPOT_ACCESS_TOKEN: f.token,
    HUBSPOT_API_BASE: f.url,
    HUBSPOT_TIMEOUT_MS: "1500",
    HUBSPOT_RATE_LIMIT_PER_10S: "5000",
    CRM_ADAPTER: undefined,
  };
}

beforeAll(async () => {
  fake = await startFakeHubSpot({ token: `pat-test-${uid()}`, faults: { retryAfter: 1, slowMs: 3000 } });
  await startWorld(await hubspotEnv(fake));
  // test speed: short backoff and lease (the schedule itself is pinned by pgTAP)
  await sql`update ops.job_kinds set backoff_base_ms = 300, backoff_max_ms = 2000, lease_seconds = 10 where kind like 'crm.%'`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

async function settle(ids: number[], timeoutMs = 180_000) {
  expect(ids.length).toBeGreaterThan(0);
  return settleJobs(ids, timeoutMs, () => sweep());
}

/** What ops.dispatch_job signs its dispatches with: the vault's worker secret. */
async function workerSecret(): Promise<string> {
  const [{ secret }] = await sql<{ secret: string }[]>`
    select decrypted_secret as secret from vault.decrypted_secrets where name = 'worker_secret'`;
  return secret;
}

/** Waits until no worker drains (ops.job_drains): its drain would claim due jobs before any dispatch. */
async function drainsEnded() {
  await waitFor(
    "earlier drains to end",
    async () => (await sql`select count(*)::int as n from ops.job_drains where held_until > now()`)[0].n === 0,
    10_000,
  );
}

/** A dispatch proof as ops.dispatch_job makes it, computed here with node:crypto: crm-sync's, for `jobId`,
 * expiring in 10 minutes unless told. */
function proof(secret: string, jobId: number, options: { fn?: string; expiresAt?: number } = {}) {
  const exp = options.expiresAt ?? Math.floor(Date.now() / 1000) + 600;
  const mac = createHmac("sha256", secret).update(`v1.${options.fn ?? "crm-sync"}.${jobId}.${exp}`).digest("hex");
  return `v1.${jobId}.${exp}.${mac}`;
}

/** Calls crm-sync for `jobId` as the dispatcher does, with a proof signed with `secret`. */
async function signedCall(jobId: number, secret: string) {
  return serviceCall({ job_id: jobId }, proof(secret, jobId));
}

async function serviceCall(body: unknown, key?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(CRM_URL, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

describe("leads and lifecycle", () => {
  test("a new user becomes a lead customer and exactly one CRM contact, keyed by the lower-cased email", async () => {
    const email = `Lead-${run}@Example.com`;
    const { customerId } = await newBuyer(email);
    await settle(await jobIds({ customers: [customerId] }));
    const [c] = await sql`select billing_status, access_status from public.customers where id = ${customerId}`;
    expect(c).toEqual({ billing_status: "lead", access_status: "blocked" });
    const contacts = fake.contacts(email.toLowerCase());
    expect(contacts).toHaveLength(1);
    expect(contacts[0].properties.lifecyclestage).toBe("lead");
    const [m] = await sql`select crm_contact_id, adapter from ops.crm_contacts where customer_id = ${customerId}`;
    expect(m).toEqual({ crm_contact_id: contacts[0].id, adapter: "hubspot" });
  });

  test("a sign-up is a lead only once its email is confirmed, and a lead never renames or demotes an existing contact", async () => {
    const email = `known-${run}@example.com`;
    // someone's contact already: a paying customer the CRM knows by name
    const res = await fetch(`${fake.url}/crm/v3/objects/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.token}`, "content-type": "application/json" },
      body: JSON.stringify({
        properties: {
          email,
          firstname: "Real",
          lastname: "Owner",
          lifecyclestage: "customer",
          backbone_billing_status: "active",
        },
      }),
    });
    expect(res.status).toBe(201);
    const [u] = await sql`insert into auth.users (email, raw_user_meta_data)
      values (${email}, ${sql.json({ display_name: "Mallory Chosen" })}) returning id`;
    expect(await sql`select 1 from public.customers where user_id = ${u.id}`).toHaveLength(0); // unconfirmed: no lead

    await sql`update auth.users set email_confirmed_at = now() where id = ${u.id}`; // the link in the email
    const [c] = await sql`select id, billing_status from public.customers where user_id = ${u.id}`;
    expect(c.billing_status).toBe("lead");
    await settle(await jobIds({ customers: [c.id] }));
    expect(fake.contacts(email)).toHaveLength(1);
    expect(fake.contacts(email)[0].properties).toMatchObject({
      firstname: "Real",
      lastname: "Owner",
      lifecyclestage: "customer",
      backbone_billing_status: "active",
    });
  });

  test("the contact's lifecycle follows billing status: lead, then customer, then churned", async () => {
    const email = `life-${run}@example.com`;
    const { id: userId, customerId } = await newBuyer(email);
    const cus = uid("cus_");
    const sub = uid("sub_");
    const t = Math.floor(Date.now() / 1000);
    await deliver(
      event("customer_updated", { id: cus, email, metadata: { user_id: userId } }, {
        type: "customer.created",
        created: t,
      }),
    );
    const [created, deleted] = [
      subscriptionEvents(cus, sub, ["active"], t)[0],
      subscriptionEvents(cus, sub, ["active", "canceled"], t)[1],
    ];
    await deliver(created);
    await settle(await jobIds({ customers: [customerId] }));
    expect(fake.contacts(email)[0].properties).toMatchObject({
      lifecyclestage: "customer",
      backbone_billing_status: "active",
    });
    await deliver(deleted);
    await settle(await jobIds({ customers: [customerId] }));
    expect(fake.contacts(email)).toHaveLength(1);
    expect(fake.contacts(email)[0].properties).toMatchObject({
      lifecyclestage: "other",
      backbone_billing_status: "canceled",
    });
  });
});

describe("deals", () => {
  test("a paid order upserts one deal, a refund marks it for review, a dispute adds one note even when replayed", async () => {
    const { id: buyer } = await newBuyer(`deal-${run}@example.com`);
    const orderId = await paidOrder(buyer);
    await settle(await jobIds({ orders: [orderId] }));
    expect(fake.deals(orderId)).toHaveLength(1);
    expect(fake.deals(orderId)[0].properties).toMatchObject({ dealstage: "closedwon", amount: "25.00" });
    expect(fake.contacts(`deal-${run}@example.com`)).toHaveLength(1);
    expect(fake.contacts(`deal-${run}@example.com`)[0].properties.lifecyclestage).toBe("customer"); // a buyer who paid
    const [traced] = await sql`select e.type from ops.jobs j join ops.stripe_events e on e.event_id = j.stripe_event_id
      where j.payload ->> 'order_id' = ${orderId}`;
    expect(traced).toEqual({ type: "checkout.session.completed" }); // each job names the event that caused it

    const [{ stripe_payment_intent_id: pi }] =
      await sql`select stripe_payment_intent_id from public.orders where id = ${orderId}`;
    const charge = uid("ch_");
    // two partial refunds: the second changes no status, and still reaches the deal
    for (const refunded of [500, 1200]) {
      await deliver(
        event("charge_refunded", {
          id: charge,
          payment_intent: pi,
          amount: 2500,
          amount_refunded: refunded,
          status: "succeeded",
          refunds: { data: [] },
        }),
      );
      await settle(await jobIds({ orders: [orderId] }));
      expect(fake.deals(orderId)[0].properties).toMatchObject({
        dealstage: "closedwon",
        backbone_refunded_amount: (refunded / 100).toFixed(2),
        backbone_needs_review: "true",
      });
    }
    await deliver(
      event("charge_refunded", {
        id: charge,
        payment_intent: pi,
        amount: 2500,
        amount_refunded: 2500,
        status: "succeeded",
        refunds: { data: [] },
      }),
    );
    await settle(await jobIds({ orders: [orderId] }));
    expect(fake.deals(orderId)).toHaveLength(1);
    expect(fake.deals(orderId)[0].properties).toMatchObject({
      dealstage: "closedlost",
      backbone_needs_review: "true",
      backbone_refunded_amount: "25.00",
    });

    await deliver(
      event("charge_dispute_created", {
        id: uid("dp_"),
        payment_intent: pi,
        charge,
        status: "needs_response",
        amount: 2500,
      }),
    );
    const ids = await jobIds({ orders: [orderId] });
    await settle(ids);
    const noteCount = () => fake.notes().filter((n) => n.properties.hs_note_body?.includes(orderId)).length;
    expect(noteCount()).toBe(1);
    const [{ id: disputeJob }] = await sql`select id from ops.jobs where id = any(${ids}) order by id desc limit 1`;
    expect((await sql`select ops.replay_job(${disputeJob}) as ok`)[0].ok).toBe(true);
    await settle([Number(disputeJob)]);
    expect(noteCount()).toBe(1);
    // the order changes again while the dispute stays open (a review flag: a new version, a new deal
    // job): the note names the dispute, not the order's version, so it is not written again
    await sql`update public.orders set needs_review = true, review_reason = 'checked by hand' where id = ${orderId}`;
    const [{ n: dealJobs }] =
      await sql`select count(*)::int as n from ops.jobs where payload ->> 'order_id' = ${orderId}`;
    expect(dealJobs).toBe(ids.length + 1);
    await settle(await jobIds({ orders: [orderId] }));
    expect(noteCount()).toBe(1);
    expect(fake.deals(orderId)).toHaveLength(1);
    const [m] = await sql`select crm_deal_id, stage from ops.crm_deals where order_id = ${orderId}`;
    expect(m).toEqual({ crm_deal_id: fake.deals(orderId)[0].id, stage: "paid" });
  });

  test(
    "200 paid orders with 30% injected faults end with one contact per email and one deal per order, nothing lost",
    async () => {
      const buyers = await Promise.all(Array.from({ length: 50 }, (_, i) => newBuyer(`Many-${run}-${i}@example.com`)));
      fake.setFaults({
        rate429: 0.06,
        rate500: 0.06,
        rateHang: 0.06,
        rateDrop: 0.06,
        rateSlow: 0.03,
        rateDropAfter: 0.03,
      });
      try {
        const orders: string[] = [];
        for (let i = 0; i < 200; i += 10) {
          orders.push(...await Promise.all(Array.from({ length: 10 }, (_, j) => paidOrder(buyers[(i + j) % 50].id))));
        }
        const ids = await jobIds({ orders, customers: buyers.map((b) => b.customerId) });
        expect(ids.length).toBe(250);
        await settle(ids, 300_000);
        const statuses =
          await sql`select status, count(*)::int as n, count(last_error)::int as with_reason from ops.jobs where id = any(${ids}) group by status`;
        expect(statuses).toEqual([{ status: "succeeded", n: 250, with_reason: 0 }]);
      } finally {
        fake.setFaults({ rate429: 0, rate500: 0, rateHang: 0, rateDrop: 0, rateSlow: 0, rateDropAfter: 0 });
      }
      const snap = fake.snapshot();
      for (let i = 0; i < 50; i++) {
        expect(snap.contactsByEmail[`many-${run}-${i}@example.com`]?.count, `contact ${i}`)
          .toBe(1);
      }
      expect(Object.keys(snap.contactsByEmail).filter((e) => e.startsWith(`many-${run}-`))).toHaveLength(50);
      const [{ n: dealsMapped }] =
        await sql`select count(*)::int as n from ops.crm_deals d join public.orders o on o.id = d.order_id
      where o.buyer_id = any(${buyers.map((b) => b.id)})`;
      expect(dealsMapped).toBe(200);
      const dealCounts =
        (await sql`select o.id from public.orders o where o.buyer_id = any(${buyers.map((b) => b.id)})`)
          .map((o) => snap.dealsByOrderKey[o.id]?.count ?? 0);
      expect(dealCounts).toEqual(Array(200).fill(1));
      expect(snap.requests.filter((r) => r.fault).length).toBeGreaterThan(50); // the faults really happened

      const [health] = await sql`select * from ops.pipeline_health where kind = 'crm.deal'`;
      expect(Number(health.succeeded)).toBeGreaterThanOrEqual(200);
      expect(Number(health.failure_rate_last_hour)).toBeGreaterThan(0);
      expect(health.p95_enqueue_to_success_s).not.toBeNull();
    },
    400_000,
  );
});

describe("rate limits", () => {
  test(
    "the shared budget keeps every worker under HubSpot's per-10-second limit, deferring instead of failing",
    async () => {
      // Tokens are taken when a job starts, its request goes out a moment later: a window of the
      // fake can hold the requests of tokens taken up to that delay before it. Half HubSpot's limit
      // (12 of 25) keeps any 10 s of requests under it for delays up to a whole window; the 90 of
      // 100 default counts on the delay being short, and a 429 is retried after its Retry-After.
      await restartGateway({ ...(await hubspotEnv(fake)), HUBSPOT_RATE_LIMIT_PER_10S: "12" });
      fake.setFaults({ limitPer10s: 25 });
      const since = fake.requests.length;
      try {
        const buyers = await Promise.all(
          Array.from({ length: 30 }, (_, i) => newBuyer(`budget-${run}-${i}@example.com`)),
        );
        const ids = await jobIds({ customers: buyers.map((b) => b.customerId) });
        await settle(ids);
        // deferrals spend no attempt: every job succeeded on its first
        const jobs = await sql`select id, kind, status, attempts, last_error from ops.jobs where id = any(${ids})`;
        expect(jobs.filter((j) => j.status !== "succeeded" || j.attempts !== 1)).toEqual([]);
        const [{ span }] = await sql`select extract(epoch from max(succeeded_at) - min(created_at))::float as span
        from ops.jobs where id = any(${ids})`;
        expect(span).toBeGreaterThan(20); // 30 calls at 12 per 10 s: some waited two windows
        expect(fake.requests.slice(since).filter((r) => r.fault === "rate-limit")).toEqual([]);
      } finally {
        fake.setFaults({ limitPer10s: null });
        await restartGateway(await hubspotEnv(fake));
      }
    },
    120_000,
  );
});

describe("delivery guarantees", () => {
  test("with every dispatch lost (functions_base_url unreachable), the sweep alone delivers every job", async () => {
    // the network is "down" for pg_net, the real one or the stand-in: nothing listens on that port
    const [{ base }] =
      await sql`select decrypted_secret as base from vault.decrypted_secrets where name = 'functions_base_url'`;
    await setVaultSecret("functions_base_url", `http://127.0.0.1:${await closedPort()}/functions/v1`);
    let ids: number[] = [];
    let orders: string[] = [];
    try {
      // Only a dispatch may reach these jobs. A crm-sync drain loop claims any due job of its kinds,
      // dispatched or not, for up to 25 s after its invocation started, and one waiting for a retry's
      // backoff holds nothing in ops.job_drains: the restart ends every loop (the world's start seeds
      // users whose contact jobs start some), and with every request dropped no invocation starts one.
      await restartGateway(await hubspotEnv(fake));
      await drainsEnded(); // the killed loops' holds, or the trigger would not dispatch at all
      const { id: buyer, customerId } = await newBuyer(`dropped-${run}@example.com`);
      orders = await Promise.all(Array.from({ length: 10 }, () => paidOrder(buyer)));
      ids = await jobIds({ orders, customers: [customerId] });
      await new Promise((r) => setTimeout(r, 1500));
      const stuck = await sql`select status, attempts, dispatch_count from ops.jobs where id = any(${ids})`;
      expect(stuck.every((j) => j.status === "queued" && j.attempts === 0 && j.dispatch_count >= 1)).toBe(true);
      expect(fake.deals(orders[0])).toHaveLength(0);
    } finally {
      await setVaultSecret("functions_base_url", base); // never leave the network down for later tests
    }
    // One sweep re-sends every lost dispatch at once (each was lost over 1.5 s ago). A first sweep whose
    // window only the oldest had passed (the buyer's contact job, created before the orders) re-sent
    // that one alone, and the drain its worker then started claimed the deal jobs before any sweep
    // re-sent them: "delivered after one dispatch", in 4 runs of 6 on an idle machine.
    await sweep("1 second");
    const resent = await sql`select min(dispatch_count)::int as min from ops.jobs where id = any(${ids})`;
    expect(resent[0].min).toBeGreaterThanOrEqual(2);
    await settle(ids);
    expect(orders.map((o) => fake.deals(o).length)).toEqual(Array(10).fill(1));
    const dispatches = await sql`select min(dispatch_count)::int as min from ops.jobs where id = any(${ids})`;
    expect(dispatches[0].min).toBeGreaterThanOrEqual(2); // the trigger's dispatch was lost; the sweep's arrived
  });

  test("killing the functions gateway mid-run loses nothing once it is back", async () => {
    const { id: buyer, customerId } = await newBuyer(`killed-${run}@example.com`);
    fake.setFaults({ rateSlow: 0.5, slowMs: 1200 }); // keep requests in flight
    try {
      const orders = await Promise.all(Array.from({ length: 30 }, () => paidOrder(buyer)));
      const ids = await jobIds({ orders, customers: [customerId] });
      await new Promise((r) => setTimeout(r, 300));
      expect(killGateway()).toBeDefined();
      await new Promise((r) => setTimeout(r, 1500));
      const midway =
        await sql`select count(*)::int as n from ops.jobs where id = any(${ids}) and status <> 'succeeded'`;
      expect(midway[0].n).toBeGreaterThan(0);
      await restartGateway(await hubspotEnv(fake));
      await settle(ids);
      const statuses =
        await sql`select status, count(*)::int as n from ops.jobs where id = any(${ids}) group by status`;
      expect(statuses).toEqual([{ status: "succeeded", n: ids.length }]);
      expect(orders.map((o) => fake.deals(o).length)).toEqual(Array(30).fill(1));
    } finally {
      fake.setFaults({ rateSlow: 0, slowMs: 3000 });
    }
  }, 240_000);

  test.each([
    [
      "the worker refuses the vault's secret (a rotation done in the wrong order)",
      "crm-sync",
      /HTTP 403 .*only the database's dispatcher runs jobs/,
    ],
    ["the function is not deployed", "no-such-function", /HTTP 404 .*Function not found/],
  ])(
    "a dispatch that never leads to a claim is re-sent with backoff, then dead-lettered: %s",
    async (_name, fn, answer) => {
      const kind = `test.undeliverable.${uid().slice(0, 8)}`;
      await sql`insert into ops.job_kinds (kind, function_name, timeout_ms) values (${kind}, ${fn}, 2000)`;
      const [{ secret }] =
        await sql`select decrypted_secret as secret from vault.decrypted_secrets where name = 'worker_secret'`;
      try {
        if (fn === "crm-sync") await setVaultSecret("worker_secret", "not-the-worker-secret");
        const [{ id }] = await sql`select ops.enqueue_job(${kind}, '{}', ${`test:undeliverable:${uid()}`}) as id`;
        const started = Date.now();
        // sweeps as pg_cron runs them, with short waits (50 ms after the first dispatch, doubling, at most
        // 400 ms), each once the last dispatch's answer is in: pg_net's worker takes up to a second per batch
        const dead = await waitFor(
          "the job to be dead-lettered",
          async () => {
            const [job] =
              await sql`select status, dispatch_count, unclaimed_dispatches, last_error from ops.jobs where id = ${id}`;
            return job.status === "dead" && job;
          },
          90_000,
          () =>
            sql`select ops.sweep_jobs(500, '50 milliseconds', 8, '400 milliseconds')
                 where exists (select 1 from ops.jobs j join net._http_response r on r.id = j.last_request_id
                                where j.id = ${id})`,
        );
        expect(Date.now() - started).toBeGreaterThan(50 + 100 + 200 + 400 * 5); // it backed off
        expect(dead).toMatchObject({ dispatch_count: 8, unclaimed_dispatches: 8 });
        expect(dead.last_error).toMatch(/^undeliverable: 8 dispatches since its last claim led to no claim/);
        expect(dead.last_error).toMatch(answer);
        expect(dead.last_error).toContain(`that the function ${fn} is deployed`);
        const [exc] = await sql`select exception, next_action from ops.pipeline_exceptions where ref = ${String(id)}`;
        expect(exc.exception).toBe("undeliverable job");
        expect(exc.next_action).toContain("worker_secret");
        expect(exc.next_action).toContain(`ops.replay_job(${id})`);
      } finally {
        await setVaultSecret("worker_secret", secret);
        // the job first, whatever failed above: its kind's row cannot go while it stays
        await sql`delete from ops.jobs where kind = ${kind}`;
        await sql`delete from ops.job_kinds where kind = ${kind}`;
      }
    },
    120_000,
  );

  test("two dispatches of one job run it once", async () => {
    const { customerId } = await newBuyer(`twice-${run}@example.com`);
    await settle(await jobIds({ customers: [customerId] }));
    const [{ id }] = await sql`select ops.enqueue_job('crm.contact', ${
      sql.json({ customer_id: customerId })
    }, ${`test:twice:${run}`}, interval '1 hour') as id`;
    await drainsEnded(); // or a lingering drain would claim the job before either dispatch arrives
    await sql`update ops.jobs set run_at = now() where id = ${id}`;
    const secret = await workerSecret();
    const results = await Promise.all([signedCall(Number(id), secret), signedCall(Number(id), secret)]);
    expect(results.map((r) => r.body.status).sort()).toEqual(["not_claimed", "succeeded"]);
    const [job] = await sql`select status, attempts from ops.jobs where id = ${id}`;
    expect(job).toEqual({ status: "succeeded", attempts: 1 });
  });

  test("pg_cron runs the sweep every minute", async () => {
    const [job] = await sql`select jobid, schedule from cron.job where jobname = 'ops-sweep-jobs'`;
    expect(job.schedule).toBe("* * * * *");
    await waitFor("a pg_cron run of the sweep", async () => {
      const [r] =
        await sql`select status from cron.job_run_details where jobid = ${job.jobid} and status = 'succeeded' limit 1`;
      return r;
    }, 75_000);
  }, 90_000);
});

describe("failures, dead letters and replay", () => {
  test("a HubSpot validation error makes the job dead at once, with a readable reason in pipeline_exceptions", async () => {
    const { customerId } = await newBuyer(`no-dot-${run}@localhost`); // passes our check, HubSpot refuses it
    const ids = await jobIds({ customers: [customerId] });
    await settle(ids);
    const [job] = await sql`select status, attempts, last_error from ops.jobs where id = ${ids[0]}`;
    expect(job.status).toBe("dead");
    expect(job.attempts).toBe(1);
    expect(job.last_error).toMatch(/INVALID_EMAIL|invalid/i);
    const [exc] = await sql`select exception, next_action from ops.pipeline_exceptions where ref = ${String(ids[0])}`;
    expect(exc.exception).toBe("dead job");
    expect(exc.next_action).toContain(`ops.replay_job(${ids[0]})`);
  });

  test("a contact job whose customer row was merged into its user's (or deleted) completes as skipped, not dead", async () => {
    const gone = "00000000-0000-4000-8000-00000000900d";
    const [{ id }] = await sql`select ops.enqueue_job('crm.contact', ${
      sql.json({ customer_id: gone })
    }, ${`test:gone:${run}`},
      interval '1 hour') as id`;
    await sql`update ops.jobs set run_at = now() where id = ${id}`;
    await sql`select ops.dispatch_job(${id})`;
    await settle([Number(id)]);
    const [job] = await sql`select status, result from ops.jobs where id = ${id}`;
    expect(job).toMatchObject({ status: "succeeded", result: { skipped: expect.stringMatching(/no longer exists/) } });
  });

  test("a job dead after its max attempts is replayed by the CLI with its original key", async () => {
    const { customerId } = await newBuyer(`replay-${run}@example.com`);
    await settle(await jobIds({ customers: [customerId] })); // its lead contact, so failNext hits our job
    const [{ id }] = await sql`select ops.enqueue_job('crm.contact', ${
      sql.json({ customer_id: customerId })
    }, ${`test:replay:${run}`}, interval '1 hour') as id`;
    await sql`update ops.jobs set run_at = now(), max_attempts = 2 where id = ${id}`;
    // a lead's contact is a create (leads never update a contact): the fault hits whichever call it makes
    fake.failNext("500", { count: 2, match: "POST /crm/v3/objects/contacts" });
    await sql`select ops.dispatch_job(${id})`;
    await settle([Number(id)]);
    const [dead] = await sql`select status, attempts, dedupe_key from ops.jobs where id = ${id}`;
    expect(dead).toMatchObject({ status: "dead", attempts: 2 });

    const cli = replayCli("jobs", String(id));
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/\[#+\] 1\/1/);
    await settle([Number(id)]);
    const [after] = await sql`select status, dedupe_key from ops.jobs where id = ${id}`;
    expect(after).toEqual({ status: "succeeded", dedupe_key: dead.dedupe_key });
  });
});

describe("the CRM heals itself (#16)", () => {
  test("a contact deleted in HubSpot: the next paid order's deal job finds it again by email in one attempt, remembers the new id, and the journey shows it", async () => {
    const address = `healed-${run}@example.com`;
    const { id: buyer, customerId } = await newBuyer(address);
    await settle(await jobIds({ customers: [customerId] }));
    const first = await paidOrder(buyer);
    await settle(await jobIds({ orders: [first] }));
    const [before] =
      await sql`select crm_contact_id, lifecycle_stage from ops.crm_contacts where customer_id = ${customerId}`;
    expect(before).toEqual({ crm_contact_id: fake.contacts(address)[0].id, lifecycle_stage: "customer" });
    fake.remove("contacts", before.crm_contact_id); // deleted by someone in the portal

    const second = await paidOrder(buyer);
    const ids = await jobIds({ orders: [second] });
    await settle(ids);
    const [job] = await sql`select status, attempts, result from ops.jobs where id = ${ids[0]}`;
    const [renewed] = fake.contacts(address);
    expect(fake.contacts(address)).toHaveLength(1);
    expect(renewed.id).not.toBe(before.crm_contact_id);
    expect(job).toMatchObject({
      status: "succeeded",
      attempts: 1,
      result: {
        contact_ids: [renewed.id],
        healed: `contact ${before.crm_contact_id} was gone in HubSpot; found or created by email as ${renewed.id}`,
      },
    });
    const [deal] = fake.deals(second);
    expect(fake.associations("deals", deal.id, "contacts")).toEqual([renewed.id]);
    const [after] = await sql`select crm_contact_id from ops.crm_contacts where customer_id = ${customerId}`;
    expect(after.crm_contact_id).toBe(renewed.id); // the next job uses it: no 404, nothing to heal
    const journey = await sql`select source, what, detail from ops.journey(${address})`;
    expect(journey).toContainEqual(
      expect.objectContaining({ source: "crm", what: `contact ${renewed.id} (hubspot, customer)` }),
    );
    expect(journey).toContainEqual(
      expect.objectContaining({
        source: "job",
        what: "crm.deal attempt 1: succeeded",
        detail: `contact ${before.crm_contact_id} was gone in HubSpot; found or created by email as ${renewed.id}`,
      }),
    );
  });
});

describe("the worker's door", () => {
  const refusal = /only the database's dispatcher runs jobs/;
  const rotatedSecrets: string[] = [];

  test.each([
    ["no Authorization header", async () => undefined],
    ["the service role key", async () => (await apiKeys()).serviceRole],
    ["the anon key", async () => (await apiKeys()).anon],
    ["a forged JWT claiming the service role", async () => {
      const { SignJWT } = await import("jose");
      return new SignJWT({ role: "service_role" }).setProtectedHeader({ alg: "HS256" })
        .sign(new TextEncoder().encode("not-the-project-secret-but-long-enough-0123456789"));
    }],
    ["a validly signed JWT claiming the service role", async () => userToken("someone", { role: "service_role" })],
    ["the worker secret with a character changed", async () => `${(await workerSecret()).slice(0, -1)}#`],
    // #17: dispatches carry a proof; the bare secret no longer runs a job (outside an upgrade window)
    ["the bare worker secret", async () => workerSecret()],
    ["a genuine proof for another job", async () => proof(await workerSecret(), 2)],
    [
      "a genuine proof for the same job at another function",
      async () => proof(await workerSecret(), 1, { fn: "notify" }),
    ],
    ["an expired proof", async () => proof(await workerSecret(), 1, { expiresAt: Math.floor(Date.now() / 1000) - 1 })],
    ["a proof signed with another key", async () => proof(randomBytes(32).toString("base64url"), 1)],
  ])("refuses a caller with %s: 403 with a clear message", async (_name, key) => {
    const res = await serviceCall({ job_id: 1 }, await key());
    expect(res).toMatchObject({ status: 403, body: { error: expect.stringMatching(refusal) } });
  });

  test("a dispatch waiting in pg_net's queue holds a proof for its job, signed with the vault's secret, never the secret", async () => {
    const [{ id }] =
      await sql`select ops.enqueue_job('crm.contact', '{}', ${`test:queued:${run}`}, interval '1 hour') as id`;
    const secret = await workerSecret();
    // read inside the dispatching transaction, before pg_net (the stand-in worker) may take the row
    const row = await sql.begin(async (tx) => {
      const [{ request }] = await tx`select ops.dispatch_job(${id}) as request`;
      const [queued] = await tx`select to_jsonb(q)::text as whole, headers ->> 'Authorization' as authorization
                                  from net.http_request_queue q where id = ${request}`;
      throw Object.assign(new Error("rollback"), { queued });
    }).catch((err) => (err as { queued?: { whole: string; authorization: string } }).queued);
    expect(row?.whole).not.toContain(secret);
    const exp = Number(row?.authorization.split(".")[2]);
    expect(row?.authorization).toBe(`Bearer ${proof(secret, Number(id), { expiresAt: exp })}`);
    expect(exp * 1000 - Date.now()).toBeGreaterThan(590_000);
    expect(exp * 1000 - Date.now()).toBeLessThan(610_000);
    await sql`delete from ops.jobs where id = ${id}`;
  });

  test("dispatches run with a proof signed with the vault's worker secret, end to end", async () => {
    await drainsEnded(); // a draining worker would claim the job without any dispatch
    const { customerId } = await newBuyer(`door-ok-${run}@example.com`);
    const ids = await jobIds({ customers: [customerId] });
    await settle(ids);
    const [job] = await sql`select status from ops.jobs where id = ${ids[0]}`;
    expect(job).toEqual({ status: "succeeded" });
    const answer = await waitFor(
      "pg_net's record of the dispatch's answer",
      async () =>
        (await sql`select r.status_code from ops.jobs j join net._http_response r on r.id = j.last_request_id
        where j.id = ${ids[0]}`)[0],
      30_000,
    );
    expect(answer.status_code).toBe(200);
  });

  test(
    "a rotation loses nothing: both secrets are accepted while WORKER_SECRET lists them, then only the new one",
    async () => {
      const old = await workerSecret();
      const next = randomBytes(32).toString("base64url");
      rotatedSecrets.push(next);
      try {
        // 1. the functions accept both; 2. the vault sends the new one
        await restartGateway({ WORKER_SECRET: `${next},${old}` });
        await setVaultSecret("worker_secret", next);
        await drainsEnded(); // so the job travels over pg_net with the vault's (new) secret
        const { customerId } = await newBuyer(`rotated-${run}@example.com`);
        const ids = await jobIds({ customers: [customerId] });
        await settle(ids);
        const [job] = await sql`select status, attempts from ops.jobs where id = ${ids[0]}`;
        expect(job).toEqual({ status: "succeeded", attempts: 1 });
        // the worker answers once the job is done; pg_net records the answer a moment later
        const answer = await waitFor(
          "pg_net's record of the dispatch's answer",
          async () =>
            (await sql`select r.status_code from ops.jobs j
            join net._http_response r on r.id = j.last_request_id where j.id = ${ids[0]}`)[0],
          30_000,
        );
        expect(answer.status_code).toBe(200);
        // a dispatch queued before the vault changed was signed with the old secret, and is accepted
        expect((await signedCall(ids[0], old)).body).toEqual({ job_id: ids[0], status: "not_claimed" });
        // 3. once no dispatch carries it, the old secret is dropped from WORKER_SECRET
        await restartGateway({ WORKER_SECRET: next });
        expect((await signedCall(ids[0], old)).status).toBe(403);
        expect((await signedCall(ids[0], next)).status).toBe(200);
        expect((await serviceCall({ job_id: ids[0] }, next)).status).toBe(403); // the bare new secret: no
      } finally {
        await setVaultSecret("worker_secret", old);
        await restartGateway({ WORKER_SECRET: undefined });
      }
      expect(await workerSecret()).toBe(old);
    },
    120_000,
  );

  test("answers 400 to a body that names no job", async () => {
    const res = await serviceCall({ job: "x" }, proof(await workerSecret(), 1));
    expect(res).toMatchObject({ status: 400, body: { error: expect.stringMatching(/job_id/) } });
  });

  test("logs carry job ids, never the CRM token, the worker secret or a whole email", async () => {
    const logs = readFileSync(join(paths.logDir, "gateway.log"), "utf8");
    expect(logs).toMatch(/"job_id"/);
    expect(logs).not.toContain(fake.token);
    expect(logs).not.toContain(await workerSecret());
    expect(logs.toLowerCase()).not.toContain(`many-${run}-1@example.com`);
    expect(logs.toLowerCase()).not.toContain(`lead-${run}@example.com`);
  });

  test.each([
    ["the current worker secret", async () => workerSecret()],
    ["a rotated worker secret", async () => rotatedSecrets[0]],
  ])("%s appears in no log, job row, pipeline view or pg_net answer", async (_name, get) => {
    const secret = await get();
    expect(secret).toMatch(/^.{20,}$/);
    // net-worker.log only where the stand-in runs
    for (
      const file of ["gateway.log", "net-worker.log", "postgres.log"].filter((f) => existsSync(join(paths.logDir, f)))
    ) {
      expect(readFileSync(join(paths.logDir, file), "utf8"), file).not.toContain(secret);
    }
    const where = `%${secret}%`;
    const [found] = await sql`select
      (select count(*)::int from ops.jobs j where to_jsonb(j)::text like ${where}) as jobs,
      (select count(*)::int from ops.job_attempts a where to_jsonb(a)::text like ${where}) as attempts,
      (select count(*)::int from ops.pipeline_exceptions x where to_jsonb(x)::text like ${where}) as exceptions,
      (select count(*)::int from ops.pipeline_health h where to_jsonb(h)::text like ${where}) as health,
      (select count(*)::int from net._http_response r where to_jsonb(r)::text like ${where}) as answers`;
    expect(found).toEqual({ jobs: 0, attempts: 0, exceptions: 0, health: 0, answers: 0 });
  });
});
