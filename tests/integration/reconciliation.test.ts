// Reconciliation against Stripe (#10): the reconcile function, run as a job against the Stripe fake,
// recovers events the webhook never got through the same ingest path (source 'reconciliation'),
// idempotently, resumably and within Stripe's rate limits, and records each kind of drift once, with
// its next action, resolving it when the drift is gone.
// The file runs in a world of its own (tests/helpers/world.ts): reconcile's Stripe fake, its kind's
// backoff and, last, its time budget are set there, for nobody else.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { pendingOrders, SEED } from "../../scripts/lib/seed.ts";
import {
  checkoutCompleted,
  customerUpdated,
  ORDER_VARIANTS,
  piSucceeded,
  shuffle,
  subscriptionEvents,
} from "../../scripts/lib/scenarios.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { expectNarrowSessions, pendingOrder, sql } from "../helpers/db.ts";
import { restartGateway, sweep, waitFor } from "../helpers/stack.ts";
import { deliver, type Evt, uid } from "../helpers/stripe.ts";

let fake: FakeStripe;

type Summary = {
  recovered: number;
  recovered_failed: number;
  events_listed: number;
  pages: number;
  findings_new: number;
  findings_resolved: number;
  open_findings: Record<string, number>;
  checkpoint: string | null;
};

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({
    STRIPE_RECONCILE_KEY: fake.key,
    STRIPE_API_BASE: fake.url,
    // the tests' events are seconds old: none is still on its way to the webhook
    RECONCILE_GRACE_SECONDS: "0",
    RECONCILE_PAGE_SIZE: "25",
  });
  // test speed: a failed attempt is retried within a second (the schedule itself is pinned by pgTAP)
  await sql`update ops.job_kinds set backoff_base_ms = 300, backoff_max_ms = 1000 where kind = 'reconcile'`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

/** A clean slate for one test: the fake emptied, the checkpoint and findings gone, and nothing created before now
 * reconciled (ops.reconciliation_checkpoints.not_before), so other test files' orders stay out of it.
 * Returns the database's now, in epoch seconds: the tests' Stripe objects are created from then on. */
async function freshScope(): Promise<number> {
  fake.reset();
  const [{ now }] = await sql<{ now: number }[]>`select extract(epoch from now())::bigint::int as now`;
  await sql`delete from ops.reconciliation_checkpoints`;
  // findings are counted in the summaries: those of earlier tests (their fake objects are gone) go too
  await sql`delete from ops.reconciliation_findings`;
  await sql`insert into ops.reconciliation_checkpoints (scope, not_before) values ('test', to_timestamp(${now}))`;
  return now;
}

/** Waits until the database's clock passed `t` (epoch seconds): Stripe only lists what it created already. */
async function clockPast(t: number) {
  await waitFor(`the clock to pass ${t}`, async () => {
    const [{ now }] = await sql<{ now: number }[]>`select extract(epoch from now())::float8 as now`;
    return now > t + 1;
  }, 30_000);
}

/** Asks for a run as pg_cron does and waits for it to finish; the job row at the end. */
async function reconcile(): Promise<
  { id: number; status: string; result: Summary; last_error: string | null; attempts: number }
> {
  const [{ id }] = await sql<{ id: string }[]>`select ops.enqueue_reconcile('test') as id`;
  const job = await waitFor(
    `reconcile job ${id}`,
    async () => {
      const [j] = await sql`select id, status, result, last_error, attempts from ops.jobs where id = ${id}`;
      return ["succeeded", "dead"].includes(j.status) ? j : undefined;
    },
    300_000,
    () => sweep(),
  );
  expect(job.status, String(job.last_error)).toBe("succeeded");
  return { ...job, id: Number(job.id) } as never;
}

/** Stripe objects carry their own creation time; the fixtures' are years old. */
function createdAt(e: Evt, t: number): Evt {
  if (["checkout.session", "payment_intent", "subscription"].includes(e.data.object.object)) {
    e.data.object.created = t;
  }
  return e;
}

async function deliverAll(events: Evt[], concurrency = 6) {
  const queue = [...events];
  const statuses: string[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      const res = await deliver(e);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      statuses.push(res.body.status);
    }
  }));
  return statuses;
}

async function findings(objectIds: string[]) {
  return sql<
    { kind: string; object_id: string; status: string; next_action: string; detail: Record<string, unknown> }[]
  >`
    select kind, object_id, status, next_action, detail from ops.reconciliation_findings
     where object_id = any(${objectIds}) order by kind, object_id`;
}

describe("recovering events the webhook never got", () => {
  test(
    "of 500 events in Stripe, 37 never delivered: one run recovers all 37 with no duplicate effects, a second recovers none and adds no finding",
    async () => {
      const t0 = await freshScope();
      const t = t0 + 1;
      // 140 orders through the five payment lives (420 events) and 20 subscription lives (80 events)
      const orderIds = await pendingOrders(sql, 140, { buyer: SEED.buyer });
      const lives: { order?: string; sub?: string; expect: string; events: Evt[] }[] = [];
      orderIds.forEach((o, i) => {
        const v = ORDER_VARIANTS[i % ORDER_VARIANTS.length];
        lives.push({
          order: o,
          expect: v.expect,
          events: v.build(o, uid("pi_"), uid("ch_"), t).map((e) => createdAt(e, t)),
        });
      });
      for (let i = 0; i < 20; i++) {
        const cus = uid("cus_");
        const sub = uid("sub_");
        lives.push({
          sub,
          expect: "active",
          events: [
            customerUpdated(cus, `recon-${uid()}@example.com`, t),
            ...subscriptionEvents(cus, sub, ["active", "past_due", "active"], t + 1).map((e) => createdAt(e, t)),
          ],
        });
      }
      const all = lives.flatMap((l) => l.events);
      expect(all).toHaveLength(500);
      fake.addEvents(all as never);
      const withheld = new Set(shuffle(all.map((e) => e.id), 10).slice(0, 37));
      const delivered = all.filter((e) => !withheld.has(e.id));
      expect(delivered).toHaveLength(463);
      // delivered in Stripe's order (creation time), several at a time
      await deliverAll([...delivered].sort((a, b) => a.created - b.created));
      await clockPast(t + 4);
      const jobsBefore = await sql<{ n: number }[]>`select count(*)::int as n from ops.jobs where kind <> 'reconcile'`;

      const first = await reconcile();
      expect(first.result.recovered).toBe(37);
      expect(first.result.recovered_failed).toBe(0);
      expect(first.result.events_listed).toBe(500);
      expect(first.result.pages).toBe(20); // 500 events, 25 a page, each page once
      // the run used the reconciler role's pool (least-privilege.test.ts checks the other functions')
      await expectNarrowSessions("reconciler");

      const rows = await sql<{ event_id: string; source: string; status: string }[]>`
        select event_id, source, status from ops.stripe_events where event_id = any(${all.map((e) => e.id)})`;
      expect(rows).toHaveLength(500);
      expect(rows.filter((r) => r.source === "reconciliation").map((r) => r.event_id).sort()).toEqual(
        [...withheld].sort(),
      );
      expect(rows.filter((r) => r.source === "webhook")).toHaveLength(463);
      expect(rows.every((r) => r.status === "processed")).toBe(true);
      // each recovered event is a finding, resolved on recovery (it was repaired), so no drift alert
      const recovered = await findings([...withheld]);
      expect(recovered.map((f) => [f.kind, f.status])).toEqual(
        [...withheld].map(() => ["missing_event_recovered", "resolved"]),
      );
      expect(recovered[0].next_action).toMatch(/^Nothing to repair: event evt_/);

      // effects: every order and subscription ends where its whole life leads, each status change once
      const orders = await sql<
        { id: string; status: string }[]
      >`select id, status from public.orders where id = any(${orderIds})`;
      const expected = new Map(lives.filter((l) => l.order).map((l) => [l.order!, l.expect]));
      expect(orders.filter((o) => o.status !== expected.get(o.id))).toEqual([]);
      const subs = await sql<{ status: string }[]>`
        select status from public.subscriptions where stripe_subscription_id = any(${
        lives.flatMap((l) => l.sub ?? [])
      })`;
      expect(subs.map((s) => s.status)).toEqual(Array(20).fill("active"));
      const repeated = await sql`
        select entity, from_status, to_status, count(*)::int as n from ops.status_changes
         where entity = any(${orderIds.map((o) => `order:${o}`)}) group by 1, 2, 3 having count(*) > 1`;
      expect(repeated).toEqual([]);
      // the recovered events had their effects (jobs carry the event that enqueued them), once each
      const [{ n: recoveredJobs }] = await sql<{ n: number }[]>`
        select count(*)::int as n from ops.jobs where stripe_event_id = any(${[...withheld]})`;
      expect(recoveredJobs).toBeGreaterThan(0);
      // no false drift: Stripe and the database agree on every order, payment and subscription
      const drift = await sql`
        select kind, object_id from ops.reconciliation_findings
         where status = 'open' and (order_id = any(${orderIds}) or object_id = any(${
        lives.flatMap((l) => l.sub ?? [])
      }))`;
      expect(drift).toEqual([]);
      // the paid orders' CRM deals: one per order, whatever the recovery did
      await waitFor(
        "the CRM deals of the paid orders",
        async () => {
          const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from public.orders o
           where o.id = any(${orderIds}) and o.payment_confirmed and not exists (select 1 from ops.crm_deals d where d.order_id = o.id)`;
          return n === 0;
        },
        180_000,
        () => sweep(),
      );

      const [{ n: findingsBefore }] = await sql<
        { n: number }[]
      >`select count(*)::int as n from ops.reconciliation_findings`;
      const jobsAfterFirst = await sql<
        { n: number }[]
      >`select count(*)::int as n from ops.jobs where kind <> 'reconcile'`;
      expect(jobsAfterFirst[0].n).toBeGreaterThan(jobsBefore[0].n);
      const second = await reconcile();
      expect(second.result.recovered).toBe(0);
      expect(second.result.findings_new).toBe(0);
      const [{ n: findingsAfter }] = await sql<
        { n: number }[]
      >`select count(*)::int as n from ops.reconciliation_findings`;
      expect(findingsAfter).toBe(findingsBefore);
      const jobsAfterSecond = await sql<
        { n: number }[]
      >`select count(*)::int as n from ops.jobs where kind <> 'reconcile'`;
      expect(jobsAfterSecond[0].n).toBe(jobsAfterFirst[0].n);
      // the checkpoint moved past the events: the second pass listed only what it had to
      expect(second.result.events_listed).toBeLessThan(500);
    },
    900_000,
  );

  test("a 429 in the middle of paging is waited out as Retry-After says, and the run completes", async () => {
    const t = (await freshScope()) + 1;
    const events = await orderLives(20, t); // 40 events: 2 pages of 25
    fake.addEvents(events as never);
    await clockPast(t + 2);
    fake.failNext("429", { match: "starting_after", retryAfter: 1 });
    const run = await reconcile();
    expect(run.attempts).toBe(1); // waited in place: no failed attempt
    expect(run.result.recovered).toBe(40);
    const list = fake.eventListRequests();
    const limited = list.findIndex((r) => r.status === 429);
    expect(limited).toBeGreaterThan(0); // not the first page: mid-paging
    const retried = list[limited + 1];
    expect(retried.query).toBe(list[limited].query); // the same page again
    expect(retried.status).toBe(200);
    expect(retried.at - list[limited].at).toBeGreaterThanOrEqual(1000); // not before Retry-After
  }, 300_000);

  test(
    "a run cut off mid-way resumes from its checkpoint: no page is listed twice and no event is recovered twice",
    async () => {
      const t = (await freshScope()) + 1;
      const events = await orderLives(40, t); // 80 events: 4 pages of 25
      fake.addEvents(events as never);
      await clockPast(t + 2);
      // the second page fails without a retry from the SDK (Stripe-Should-Retry: false): the attempt fails
      fake.failNext("503", { match: "starting_after" });
      const run = await reconcile();
      expect(run.attempts).toBe(2);
      expect(run.result.recovered).toBe(80);
      const list = fake.eventListRequests();
      const failed = list.findIndex((r) => r.status === 503);
      expect(failed).toBeGreaterThan(0);
      // the next attempt's first request resumes at the failed page's cursor, not the first page
      expect(list[failed + 1].params.get("starting_after")).toBe(list[failed].params.get("starting_after"));
      const answered = list.filter((r) => r.status === 200).map((r) => r.params.get("starting_after") ?? "first");
      expect(new Set(answered).size).toBe(answered.length);
      expect(answered).toHaveLength(4);
      const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.stripe_events where event_id = any(${
        events.map((e) => e.id)
      }) and source = 'reconciliation'`;
      expect(n).toBe(80);
    },
    300_000,
  );
});

/** n pending orders paid through Checkout (session + payment intent), in Stripe only. */
async function orderLives(n: number, t: number): Promise<Evt[]> {
  const ids = await pendingOrders(sql, n, { buyer: SEED.buyer });
  return ids.flatMap((o) => {
    const pi = uid("pi_");
    return [checkoutCompleted(o, pi, t, { created: t }), piSucceeded(pi, uid("ch_"), t + 1, { created: t })];
  });
}

describe("cross-checks against Stripe", () => {
  test(
    "each kind of drift is one open finding with its next action; npm run reconcile reports them, and a finding resolves once its drift is gone",
    async () => {
      const t = (await freshScope()) + 1;
      // three orders paid through the webhook (Stripe holds their events), and an active subscription
      const [mismatched, unpaid, dealless] = await pendingOrders(sql, 3, { buyer: SEED.buyer });
      const paid = [mismatched, unpaid, dealless].map((o) => {
        const pi = uid("pi_");
        const cs = checkoutCompleted(o, pi, t, { created: t });
        return { order: o, pi, cs, events: [cs, piSucceeded(pi, uid("ch_"), t + 1, { created: t })] };
      });
      const cus = uid("cus_");
      const sub = uid("sub_");
      const subEvents = [
        customerUpdated(cus, `recon-${uid()}@example.com`, t),
        ...subscriptionEvents(cus, sub, ["active"], t).map((e) => createdAt(e, t)),
      ];
      const all = [...paid.flatMap((p) => p.events), ...subEvents];
      fake.addEvents(all as never);
      await deliverAll(all);
      await waitFor(
        "the third order's CRM deal",
        async () => {
          const [d] = await sql`select order_id from ops.crm_deals where order_id = ${dealless}`;
          return d;
        },
        120_000,
        () => sweep(),
      );

      // drift, one of each kind
      const session = (p: (typeof paid)[number]) =>
        p.cs.data.object as never as { id: string } & Record<string, unknown>;
      // Stripe charged another amount than the order records
      fake.putObject("checkout.session", { ...session(paid[0]), amount_total: 3100, created: t });
      // an order we hold paid, and Stripe has neither its session nor its payment intent
      fake.removeObject("checkout.session", session(paid[1]).id);
      fake.removeObject("payment_intent", paid[1].pi);
      // payments Stripe has and we never heard of: one names a pending order of ours, one no order
      const pending = await pendingOrder();
      const paidSession = (id: string, orderId: string | null) => ({
        id,
        object: "checkout.session",
        mode: "payment",
        status: "complete",
        payment_status: "paid",
        amount_subtotal: 2500,
        amount_total: 2500,
        currency: "usd",
        client_reference_id: orderId,
        metadata: orderId ? { order_id: orderId } : {},
        payment_intent: uid("pi_"),
        created: t,
      });
      const csPending = uid("cs_test_");
      const csStranger = uid("cs_test_");
      fake.putObject("checkout.session", paidSession(csPending, pending));
      fake.putObject("checkout.session", paidSession(csStranger, null));
      // the paid order's CRM deal job went dead and its deal is gone
      await sql`delete from ops.crm_deals where order_id = ${dealless}`;
      const [dead] = await sql<{ id: string }[]>`
        update ops.jobs set status = 'dead', last_error = 'HubSpot answered 403 (simulated)'
         where id = (select max(id) from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = ${dealless})
        returning id`;
      // Stripe moved the subscription to past_due, and that event never reached anyone
      const subObject = subEvents.at(-1)!.data.object;
      fake.putObject("subscription", { ...subObject, status: "past_due", created: t } as never);
      await clockPast(t + 2);

      // npm run reconcile: enqueues a run, waits for it, prints its summary
      // (not spawnSync: the fake Stripe answers from this process)
      const cli = await promisify(execFile)(join(ROOT, "node_modules/.bin/tsx"), [
        "scripts/ops/reconcile.ts",
        "--timeout",
        "300",
      ], { cwd: ROOT, encoding: "utf8" });
      expect(cli.stdout).toMatch(/recovered: +0 missing event/);
      expect(cli.stdout).toMatch(/findings: +6 new, 0 resolved/);
      expect(cli.stdout).toMatch(
        /open by kind: .*amount_mismatch 1.*billing_status_drift 1.*crm_deal_missing 1.*order_without_payment 1.*payment_without_order 2/,
      );
      expect(cli.stdout).toMatch(/checkpoint: +events checked until \d{4}-/);

      const ids = [session(paid[0]).id, sub, dealless, unpaid, csPending, csStranger];
      const found = await findings(ids);
      const expected = [
        ["amount_mismatch", session(paid[0]).id],
        ["billing_status_drift", sub],
        ["crm_deal_missing", dealless],
        ["order_without_payment", unpaid],
        ...[csPending, csStranger].sort().map((id) => ["payment_without_order", id]),
      ];
      expect(found.map((f) => [f.kind, f.object_id])).toEqual(expected);
      expect(found.every((f) => f.status === "open")).toBe(true);
      const action = (kind: string, id: string) =>
        found.find((f) => f.kind === kind && f.object_id === id)!.next_action;
      expect(action("amount_mismatch", session(paid[0]).id)).toMatch(
        new RegExp(`^Stripe charged 3100 USD for order ${mismatched} .* but the order records 2500 USD`),
      );
      expect(action("order_without_payment", unpaid)).toMatch(
        new RegExp(`^Order ${unpaid} is paid but Stripe has no succeeded payment .*not found`),
      );
      expect(action("payment_without_order", csPending)).toMatch(
        new RegExp(`paid order ${pending} .* but the order is pending_payment: re-send`),
      );
      expect(action("payment_without_order", csStranger)).toMatch(
        /no order of ours accounts for \(it names no order\)/,
      );
      expect(action("crm_deal_missing", dealless)).toContain(`select ops.replay_job(${dead.id});`);
      expect(action("billing_status_drift", sub)).toMatch(
        new RegExp(`^Stripe says subscription ${sub} \\(customer ${cus}\\) is past_due; we have it active`),
      );

      // drift opens an alert: the evaluator (pg_cron's, every minute) sees the open findings
      const evaluation = await sql<{ rule: string; firing: boolean; action: string; incident_id: string | null }[]>`
        select rule, firing, action, incident_id from ops.evaluate_alerts() where rule = 'reconciliation_drift'`;
      expect(evaluation[0]).toMatchObject({ firing: true });
      expect(["opened", "seen"]).toContain(evaluation[0].action);
      const [incident] = await sql`select status, summary from ops.alert_incidents where id = ${
        evaluation[0].incident_id
      }`;
      expect(incident.status).toBe("open");

      // the drift is repaired: Stripe's amount agrees again, and the unpaid order's payment is found
      fake.putObject("checkout.session", { ...session(paid[0]), created: t });
      fake.putObject("checkout.session", { ...session(paid[1]), created: t });
      const again = await reconcile();
      expect(again.result.findings_new).toBe(0);
      expect(again.result.findings_resolved).toBe(2);
      const after = await findings(ids);
      expect(after.filter((f) => f.status === "resolved").map((f) => f.kind)).toEqual([
        "amount_mismatch",
        "order_without_payment",
      ]);
      expect(after).toHaveLength(6); // one row per (kind, object), never a second
    },
    600_000,
  );
});

// the file's last describe: the world's reconcile keeps the 1 ms budget from here on
describe("the time budget", () => {
  test(
    "out of its time budget a run defers itself and carries on from its checkpoint, one page per invocation, each page listed once",
    async () => {
      await restartGateway({
        STRIPE_RECONCILE_KEY: fake.key,
        STRIPE_API_BASE: fake.url,
        RECONCILE_GRACE_SECONDS: "0",
        RECONCILE_PAGE_SIZE: "25",
        RECONCILE_BUDGET_MS: "1", // every invocation is out of time after its first page
      });
      const t = (await freshScope()) + 1;
      const events = await orderLives(40, t); // 80 events: 4 pages of 25
      fake.addEvents(events as never);
      await clockPast(t + 2);
      const run = await reconcile();
      expect(run.attempts).toBe(1); // deferrals spend no attempt
      expect(run.result.recovered).toBe(80);
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from ops.stripe_events where event_id = any(${
        events.map((e) => e.id)
      }) and source = 'reconciliation'`;
      expect(n).toBe(80);
      const pages = fake.eventListRequests().filter((r) => r.status === 200)
        .map((r) => `${r.params.get("created[gte]")}/${r.params.get("starting_after") ?? "first"}`);
      expect(new Set(pages).size).toBe(pages.length); // no page of a pass listed twice
      expect(pages.length).toBeGreaterThanOrEqual(4);
      // the cross-checks never fit in 1 ms: deferred once, then the run ends without them, saying so
      expect((run.result as unknown as { checks_incomplete?: string }).checks_incomplete).toMatch(
        /RECONCILE_BUDGET_MS/,
      );
    },
    300_000,
  );
});
