// The marketplace's money path (#18) as the founder's demo shows it (npm start), also run by a test so it stays
// true: a seller onboards through seller-onboarding and Stripe's account.updated lets them take payments; a buyer
// checks out through checkout (a destination charge with the founder's fee); the payment lands with the seller's
// share and the fee from Stripe's objects; the seller ships and completes (the buyer gets both emails); a payout
// is paid; then a failed payout gives one ticket in payouts, one seller email and one incident.
// Stripe's API is the tests' fake (npm start runs one when no STRIPE_SECRET_KEY is set): its sessions are read
// back to show what checkout asked Stripe for.
import { randomUUID } from "node:crypto";
import { userToken } from "../lib/config.ts";
import type { Sql } from "../lib/db.ts";
import { accountUpdated, deliverConnect, destinationPayment, payoutEvent } from "../lib/connect-events.ts";

import { deliver, type Evt, uid } from "../lib/stripe-events.ts";
import { waitFor } from "../lib/wait.ts";
import { appClient, invokeFunction as invoke, rpcAs } from "../lib/app.ts";
import type { FakeStripe } from "../../tests/fakes/stripe.ts";
import type { Step } from "./journey.ts";

const until = <T>(what: string, check: () => Promise<T | undefined | false>) => waitFor(`demo: ${what}`, check, 30_000);
const money = (cents: number | string | null, currency = "usd") =>
  cents === null ? "-" : `${(Number(cents) / 100).toFixed(2)} ${currency.toUpperCase()}`;

// deno-lint-ignore no-explicit-any -- whatever JSON the webhook answered
type Delivery = (evt: Evt) => Promise<{ status: number; body: any }>;
export type MarketplaceResult = {
  steps: Step[];
  sellerId: string;
  orderId: string;
  account: string;
  /** every event the journey delivered, and where to (a test delivers them again) */
  events: Array<{ deliverTo: Delivery; evt: Evt }>;
};

/** The whole money path. Switches Connect on (a fee of 10 % + 0.30) for its run and restores the settings. */
export async function runMarketplace(sql: Sql, stripe: FakeStripe): Promise<MarketplaceResult> {
  const steps: Step[] = [];
  const tag = randomUUID().slice(0, 6);
  const [before] = await sql`select connect_enabled, platform_fee_percent, platform_fee_fixed from ops.settings`;
  await sql`update ops.settings set connect_enabled = true, platform_fee_percent = 10, platform_fee_fixed = 30`;
  try {
    return await journey(sql, stripe, tag, steps);
  } finally {
    await sql`update ops.settings set connect_enabled = ${before.connect_enabled},
                     platform_fee_percent = ${before.platform_fee_percent}, platform_fee_fixed = ${before.platform_fee_fixed}`;
  }
}

async function journey(sql: Sql, stripe: FakeStripe, tag: string, steps: Step[]): Promise<MarketplaceResult> {
  // Stripe times of the events: a minute ago, so that none lies ahead of the database clock
  const now = Math.floor(Date.now() / 1000) - 60;
  const events: MarketplaceResult["events"] = [];
  const platform: Delivery = (evt) => deliver(evt);
  const connect: Delivery = (evt) => deliverConnect(evt);
  const send = async (deliverTo: Delivery, evt: Evt) => {
    events.push({ deliverTo, evt });
    const res = await deliverTo(evt);
    if (res.status !== 200 || res.body.status !== "processed") {
      throw new Error(`demo: ${evt.type} answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    return res;
  };
  const person = async (email: string, role: "buyer" | "seller", name: string) => {
    const [u] = await sql<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
      values (${email}, now(), ${sql.json({ role })}, ${sql.json({ display_name: name })}) returning id`;
    return { id: u.id, email, token: await userToken(u.id, { email }) };
  };
  // the emails sent for an entity; a notify job that failed says why at once instead of a timeout
  const mails = async (entityLike: string, n: number) =>
    await until(`${n} email(s) for ${entityLike}`, async () => {
      const [failed] = await sql<{ last_error: string }[]>`
        select last_error from ops.jobs where kind = 'notify.email' and payload ->> 'entity' like ${entityLike}
           and status in ('failed', 'dead') limit 1`;
      if (failed) throw new Error(`demo: the email for ${entityLike} failed: ${failed.last_error}`);
      const rows = await sql<{ template: string; recipient: string; status: string }[]>`
        select template, recipient, status from ops.notifications where entity like ${entityLike} order by id`;
      return rows.length >= n && rows;
    });

  // 1. a seller onboards
  const seller = await person(`seller-${tag}@example.com`, "seller", "Sam Seller");
  await sql`update public.profiles set country = 'US' where id = ${seller.id}`;
  const onboarding = await invoke(await appClient(seller.token), "seller-onboarding", {});
  if (onboarding.status >= 300) throw new Error(`demo: seller-onboarding refused: ${JSON.stringify(onboarding.body)}`);
  const account = String(onboarding.body.account_id);
  const blocked = await sql`select charges_enabled from public.seller_accounts where seller_id = ${seller.id}`;
  await send(connect, accountUpdated(account, {}, { created: now }));
  const [acct] = await sql`select * from public.seller_accounts where seller_id = ${seller.id}`;
  steps.push({
    title: "A seller onboards: a connected account, Stripe's onboarding link, then account.updated enables charges",
    lines: [
      `${seller.email} -> ${account} (charges before onboarding: ${blocked[0]?.charges_enabled})`,
      `Account Link ${String(onboarding.body.url).slice(0, 60)}...`,
      `account.updated: charges ${acct.charges_enabled}, payouts ${acct.payouts_enabled}`,
    ],
    ok: acct.charges_enabled === true && blocked[0]?.charges_enabled === false,
  });

  // 2. a buyer checks out
  const [listing] = await sql<{ id: string }[]>`
    insert into public.listings (seller_id, title, price_amount, currency)
    values (${seller.id}, 'Hand-thrown mug', 4000, 'usd') returning id`;
  const buyer = await person(`buyer-${tag}@example.com`, "buyer", "Bea Buyer");
  const ck = await invoke(await appClient(buyer.token), "checkout", {
    listing_id: listing.id,
    idempotency_key: randomUUID(),
  });
  if (ck.status >= 300) throw new Error(`demo: checkout refused: ${JSON.stringify(ck.body)}`);
  const orderId = String(ck.body.order_id);
  const session = stripe.created("checkout.session").find((s) => s.client_reference_id === orderId)!;
  // deno-lint-ignore no-explicit-any -- the parameters checkout sent Stripe
  const pid = session.params.payment_intent_data as Record<string, any>;
  steps.push({
    title: "A buyer checks out through checkout: a destination charge to the seller with the founder's fee",
    lines: [
      `order ${orderId.slice(0, 8)} pending at ${money(4000)}; session ${session.id}`,
      `destination ${pid?.transfer_data?.destination}, application fee ${money(pid?.application_fee_amount)}`,
    ],
    ok: pid?.transfer_data?.destination === account && Number(pid?.application_fee_amount) === 430,
  });

  // 3. the payment lands: the order is paid, the seller's share and the fee from Stripe's objects
  const payment = destinationPayment(orderId, session, account, 4000, 430, now + 1);
  for (const e of payment.events) await send(platform, e);
  const [share] = await sql`select * from public.order_shares where order_id = ${orderId}`;
  const [paid] = await sql`select status from public.orders where id = ${orderId}`;
  steps.push({
    title: "The payment lands: the order is paid, the seller's share and the fee are recorded from Stripe",
    lines: [
      `order ${paid.status}; charge ${share?.charge_id}, transfer ${share?.transfer_id}`,
      `seller ${money(share?.seller_net)}, platform ${money(share?.platform_net)}`,
    ],
    ok: paid.status === "paid" && Number(share?.seller_net) === 3570 && Number(share?.platform_net) === 430,
  });

  // 4. the seller ships and completes; the buyer hears both
  const shipped = await rpcAs(sql, seller.id, "ship_order", {
    p_order_id: orderId,
    p_carrier: "UPS",
    p_tracking_number: "1Z999AA10123456784",
  });
  const completed = await rpcAs(sql, seller.id, "complete_order", { p_order_id: orderId });
  if (!completed.row) {
    throw new Error(`demo: the seller could not complete the order: ${shipped.message ?? completed.message}`);
  }
  const buyerMails = await until("the shipping and completion emails", async () => {
    const rows = await sql<{ template: string; status: string }[]>`
      select template, status from ops.notifications
       where entity = ${`order:${orderId}`} and template in ('order_shipped', 'order_completed') order by id`;
    return rows.length >= 2 && rows;
  });
  steps.push({
    title: "The seller ships (tracking) and completes; the buyer gets one email for each",
    lines: [
      `order ${shipped.row?.status} (${shipped.row?.tracking_carrier} ${shipped.row?.tracking_number}) -> ${completed.row?.status}`,
      ...buyerMails.map((m) => `email ${m.template}: ${m.status}`),
    ],
    ok: completed.row?.status === "completed" &&
      ["order_shipped", "order_completed"].every((t) => buyerMails.some((m) => m.template === t)),
  });

  // 5. a payout is paid
  const po = uid("po_");
  await send(connect, payoutEvent("payout.paid", account, po, { status: "paid", amount: 3570 }, { created: now + 2 }));
  const [payout] = await sql`select * from public.seller_payouts where id = ${po}`;
  steps.push({
    title: "A payout to the seller's bank is paid and recorded",
    lines: [`${po}: ${money(payout?.amount)} ${payout?.status}, arrival ${payout?.arrival_date?.toISOString?.()}`],
    ok: payout?.status === "paid",
  });

  // 6. a payout fails
  const failedPo = uid("po_");
  const failure = { status: "failed" as const, amount: 1200, failure_code: "account_closed" };
  await send(connect, payoutEvent("payout.failed", account, failedPo, failure, { created: now + 3 }));
  const tickets = await sql`select ref, queue, subject from public.support_tickets
                             where case_key = ${`payout_failed:${failedPo}`}`;
  const sellerMail = await mails(`payout:${failedPo}%`, 1);
  // pg_cron evaluates the alert rules every minute; the demo does not wait for it
  const [evaluation] = await sql`select action, summary from ops.evaluate_alerts() where rule = 'payout_failed'`;
  const incidents =
    await sql`select rule, summary from ops.alert_incidents where rule = 'payout_failed' and status = 'open'`;
  steps.push({
    title: "A failed payout gives one ticket in payouts, one seller email and one incident",
    lines: [
      ...tickets.map((t) => `ticket ${t.ref} in ${t.queue}: ${t.subject}`),
      ...sellerMail.map((m) => `email ${m.template} to the seller: ${m.status}`),
      ...incidents.map((i) => `incident ${i.rule}: ${i.summary}`),
      ...(incidents.length ? [] : [`alert rule payout_failed: ${evaluation?.action} (${evaluation?.summary})`]),
    ],
    ok: tickets.length === 1 && tickets[0].queue === "payouts" && sellerMail.length === 1 && incidents.length === 1,
  });
  return { steps, sellerId: seller.id, orderId, account, events };
}
