// npm start's marketplace demo (#18), run in a world of its own with the Stripe fake, so that what it shows the
// founder stays true: onboarding, checkout's destination charge, the share and the fee, shipping and completion,
// a paid payout, a failed payout's one ticket, one email and one incident; then every event of the journey
// delivered again changes nothing.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { afterAll, beforeAll, expect, test } from "vitest";
import { formatJourneySteps } from "../../scripts/demo/journey.ts";
import { runMarketplace } from "../../scripts/demo/marketplace.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { sql } from "../helpers/db.ts";

let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({ STRIPE_SECRET_KEY: fake.key, STRIPE_API_BASE: fake.url });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

/** What the journey left: counts a replay must not change. */
async function footprint(sellerId: string, orderId: string) {
  const [f] = await sql`
    select (select count(*)::int from public.support_tickets t where t.case_key like 'payout_failed:%') as tickets,
           (select count(*)::int from ops.notifications n
             where n.entity like 'payout:%' or n.entity like ${`order:${orderId}%`}) as emails,
           (select count(*)::int from ops.alert_incidents i where i.rule = 'payout_failed') as incidents,
           (select count(*)::int from public.seller_payouts p where p.seller_id = ${sellerId}) as payouts,
           (select count(*)::int from ops.status_changes s where s.entity = ${`order:${orderId}`}) as moves,
           (select row(s.seller_net, s.platform_net)::text from public.order_shares s where s.order_id = ${orderId})
             as share,
           (select row(a.charges_enabled, a.payouts_enabled)::text from public.seller_accounts a
             where a.seller_id = ${sellerId}) as account`;
  return f;
}

test("the marketplace demo: every step does what it says, and its events again change nothing", async () => {
  const { steps, sellerId, orderId, events } = await runMarketplace(sql, fake);
  expect(steps.map((s) => [s.title, s.ok]), formatJourneySteps(steps)).toEqual(steps.map((s) => [s.title, true]));
  expect(steps).toHaveLength(6);
  expect(formatJourneySteps(steps)).toMatch(/✔ 6\. A failed payout gives one ticket/);
  // Connect is switched on for the run only
  const [settings] = await sql`select connect_enabled from ops.settings`;
  expect(settings.connect_enabled).toBe(false);

  const before = await footprint(sellerId, orderId);
  expect(before).toMatchObject({ tickets: 1, incidents: 1, payouts: 2, share: "(3570,430)", account: "(t,t)" });
  for (const { deliverTo, evt } of events) {
    const again = await deliverTo(evt);
    expect(again.body.duplicate, evt.type).toBe(true);
  }
  await sql`select ops.evaluate_alerts()`;
  expect(await footprint(sellerId, orderId)).toEqual(before);
}, 180_000);
