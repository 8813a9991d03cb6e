// Retries and deferrals run when due, without the test (or pg_cron's minute) sweeping: workers drain
// due jobs and wait for ones falling due within their budget, the ticker sweeps every second between.
// Against a HubSpot fake that behaves like the real one on a bad day.
// What is asserted is that everything arrives exactly once and nothing dies, with no sweep from the
// test; how fast is the bench's business (`npm run bench`, sections jobs@rate and jobs@faults, with
// the same faults and the real backoff). A deadline here failed whenever one job's backoff chain ran
// long, a matter of luck at these fault rates (a deal job's attempt makes 2 to 6 calls, 14% of which
// fault: a streak of four or five failed attempts for one of ~160 jobs is common, and the real
// backoff of 5 s doubling makes that 40-155 s; a 120 s deadline failed one fresh clone in three). The faulty run therefore caps the backoff at 8 s (the schedule
// itself is pinned by pgTAP), so even a job that spends all 15 attempts waits under 100 s between
// them in all: the drain limit (300 s) only detects hangs.
// The file runs in a world of its own (tests/helpers/world.ts): its functions use the fake, its kinds
// the capped backoff, and no other file's jobs or drains share its queues.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { summarize } from "../../scripts/bench/report.ts";
import { FAULTS } from "../../scripts/bench/sections/crm-latency-faults.ts";
import { jobIds, newBuyer, paidOrder } from "../helpers/crm.ts";
import { sql } from "../helpers/db.ts";
import { chargeRefunded, dispute } from "../../scripts/lib/scenarios.ts";
import { settleJobs } from "../helpers/stack.ts";
import { deliver, uid } from "../helpers/stripe.ts";

const run = uid().slice(0, 8);
let fake: FakeHubSpot;

beforeAll(async () => {
  fake = await startFakeHubSpot({ token: `pat-test-${uid()}`, faults: { slowMs: 30_000 } });
  await startWorld({
    HUBSPOT_ACCESS_TOKEN: fake.token,
    HUBSPOT_API_BASE: fake.url,
    HUBSPOT_TIMEOUT_MS: "5000",
    HUBSPOT_RATE_LIMIT_PER_10S: undefined, // the adapter's default budget (90 of HubSpot's 100)
    CRM_ADAPTER: undefined,
  });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

/** Waits for the jobs to finish WITHOUT ticking the sweep: the engine has to do it on its own. The
 * limit is a hang detector, well above the longest chain of attempts a job can have. */
async function drained(ids: number[], timeoutMs = 300_000) {
  expect(ids.length).toBeGreaterThan(0);
  return settleJobs(ids, timeoutMs);
}

/** Seconds from each order's first checkout delivery to its deal's creation in the CRM. */
function paidToDeal(paidAt: Map<string, number>): number[] {
  return [...paidAt].map(([order, at]) => {
    const deals = fake.deals(order);
    expect(deals, `deal of order ${order}`).toHaveLength(1);
    return (Date.parse(deals[0].createdAt) - at) / 1000;
  });
}

describe("jobs run when due", () => {
  test("with no faults, every paid order's deal reaches the CRM once, with no sweep from the test", async () => {
    const buyers = await Promise.all(Array.from({ length: 10 }, (_, i) => newBuyer(`swift-${run}-${i}@example.com`)));
    await drained(await jobIds({ customers: buyers.map((b) => b.customerId) }));
    const paidAt = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const started = Date.now();
      const order = await paidOrder(buyers[i % 10].id);
      paidAt.set(order, started);
      await new Promise((r) => setTimeout(r, 200)); // 5 orders/s, inside the CRM budget
    }
    const ids = await jobIds({ orders: [...paidAt.keys()] });
    await drained(ids);
    expect(await sql`select status, count(*)::int as n from ops.jobs where id = any(${ids}) group by status`)
      .toEqual([{ status: "succeeded", n: ids.length }]);
    const { p50, p95 } = summarize(paidToDeal(paidAt)); // one deal per order, each
    console.log(`no faults: paid -> deal p50 ${p50} s, p95 ${p95} s`);
  }, 700_000);

  test(
    "60 paid orders delivered twice, 15 refunds and 10 disputes against a faulty, rate-limited CRM: everything exactly once, nothing dead, with no sweep from the test",
    async () => {
      const buyers = await Promise.all(Array.from({ length: 60 }, (_, i) => newBuyer(`busy-${run}-${i}@example.com`)));
      // the bench's jobs@faults: HubSpot's rolling 100 per 10 s with Retry-After, 8% 502s, 2% hangs
      // past the client timeout, 4% answers lost after the write was applied
      fake.setFaults(FAULTS);
      await sql`update ops.job_kinds set backoff_base_ms = 1000, backoff_max_ms = 8000 where kind like 'crm.%'`;
      const start = Date.now();
      try {
        const paidAt = new Map<string, number>();
        const payments = new Map<string, { pi: string; charge: string }>();
        for (let i = 0; i < 60; i += 10) {
          await Promise.all(
            buyers.slice(i, i + 10).map(async (b) => {
              const pi = uid("pi_");
              const at = Date.now();
              const order = await paidOrder(b.id, pi);
              paidAt.set(order, at);
              payments.set(order, { pi, charge: uid("ch_") });
            }),
          );
        }
        const orders = [...paidAt.keys()];
        // each paid order delivered twice: the second copy is a duplicate and changes nothing
        const [{ n: before }] =
          await sql`select count(*)::int as n from ops.jobs where payload ->> 'order_id' = any(${orders})`;
        const t = Math.floor(Date.now() / 1000);
        for (const order of orders) {
          const [{ payload }] = await sql`select e.payload from ops.stripe_events e
          where e.type = 'checkout.session.completed' and e.payload -> 'data' -> 'object' ->> 'client_reference_id' = ${order}`;
          expect((await deliver(payload)).body.duplicate).toBe(true);
        }
        const [{ n: after }] =
          await sql`select count(*)::int as n from ops.jobs where payload ->> 'order_id' = any(${orders})`;
        expect(after).toBe(before);
        for (const order of orders.slice(0, 15)) {
          const { pi, charge } = payments.get(order)!;
          expect((await deliver(chargeRefunded(pi, charge, 1000, t + 1))).status).toBe(200);
        }
        for (const order of orders.slice(15, 25)) {
          const { pi, charge } = payments.get(order)!;
          expect((await deliver(dispute(pi, charge, "needs_response", t + 1, uid("dp_")))).status).toBe(200);
        }

        const ids = await jobIds({ orders, customers: buyers.map((b) => b.customerId) });
        await drained(ids);
        const drainedInS = (Date.now() - start) / 1000;
        const statuses =
          await sql`select status, count(*)::int as n from ops.jobs where id = any(${ids}) group by status`;
        expect(statuses).toEqual([{ status: "succeeded", n: ids.length }]);

        const snap = fake.snapshot();
        expect(snap.requests.filter((r) => r.fault).length).toBeGreaterThan(10); // the faults really happened
        for (const b of buyers.map((_, i) => `busy-${run}-${i}@example.com`)) {
          expect(snap.contactsByEmail[b]?.count, b).toBe(1);
        }
        for (const order of orders) {
          expect(snap.dealsByOrderKey[order]?.count, `deals of ${order}`).toBe(1);
          const dealId = snap.dealsByOrderKey[order].ids[0];
          expect(fake.associations("deals", dealId, "contacts"), `association of ${order}`).toHaveLength(1);
        }
        for (const order of orders.slice(15, 25)) {
          const dealId = snap.dealsByOrderKey[order].ids[0];
          expect(snap.notes.filter((n) => n.deals.includes(dealId)), `dispute note of ${order}`).toHaveLength(1);
        }
        for (const order of orders.slice(0, 15)) {
          expect(fake.deals(order)[0].properties.backbone_refunded_amount).toBe("10.00");
        }
        const { p50, p95 } = summarize(paidToDeal(paidAt));
        console.log(
          `paid -> deal p50 ${p50} s, p95 ${p95} s; drained in ${drainedInS} s; ${snap.requests.length} CRM requests, ${
            snap.requests.filter((r) => r.fault).length
          } faulted`,
        );
      } finally {
        fake.setFaults({ limitPer10s: null, limitRetryAfter: false, rate502: 0, rateHang: 0, rateDropAfter: 0 });
      }
    },
    400_000,
  );
});
