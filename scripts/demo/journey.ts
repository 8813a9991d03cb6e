// The founder's demo journey (npm start), also run by a test so it stays true: a lead signs up and
// pays, the CRM and the emails follow, a duplicate delivery changes nothing, a failed payment sends
// the billing email and grants nothing, a refund, a dispute with its ticket and Slack alert, and a
// support request from the app through supabase-js, the agent's answer by email, and a subscription renewal that
// fails and is paid again (dunning). After each step, what the customer's app shows: the status views read as the
// user (#20). Returns what a person reads.
import { randomUUID } from "node:crypto";
import { createClient } from "@supabase/supabase-js";
import { apiKeys, config, userToken } from "../lib/config.ts";
import type { Sql } from "../lib/db.ts";
import { customerView, formatCustomerView } from "../lib/customer-view.ts";
import { failedThenRecovered, renewal } from "../lib/dunning-events.ts";
import { chargeRefunded, checkoutCompleted, dispute, piFailed } from "../lib/scenarios.ts";
import { pendingOrders } from "../lib/seed.ts";
import { deliver, uid } from "../lib/stripe-events.ts";
import { waitFor } from "../lib/wait.ts";

export type Step = { title: string; lines: string[]; ok: boolean };

const until = <T>(what: string, check: () => Promise<T | undefined | false>) => waitFor(`demo: ${what}`, check, 30_000);

export async function runJourney(sql: Sql): Promise<{ steps: Step[]; email: string; orderId: string }> {
  const steps: Step[] = [];
  let sees: () => Promise<string[]> = async () => [];
  const step = async (s: Step) => steps.push({ ...s, lines: [...s.lines, ...await sees()] });
  const now = Math.floor(Date.now() / 1000);
  const email = `lead-${randomUUID().slice(0, 6)}@example.com`;
  const sent = async (entityLike: string, n: number) =>
    await until(`${n} message(s) for ${entityLike}`, async () => {
      const rows = await sql<{ template: string; recipient: string; status: string }[]>`
        select template, recipient, status from ops.notifications where entity like ${entityLike} order by id`;
      return rows.length >= n && rows;
    });
  const orderStatus = async (id: string) => (await sql`select status from public.orders where id = ${id}`)[0].status;

  // 1. a lead signs up (email confirmed) and pays through Checkout
  const [user] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at, raw_user_meta_data)
    values (${email}, now(), ${sql.json({ display_name: "Lee Lead" })}) returning id`;
  // what is new in 0.6.0 (the status views, replies, dunning) runs only where the database has it: the upgrade
  // check runs this journey on the last release first
  const [has] = await sql<{ views: boolean; replies: boolean; dunning: boolean }[]>`
    select to_regclass('public.my_access') is not null as views,
           to_regprocedure('ops.reply_to_ticket(text,text,text,text)') is not null as replies,
           to_regclass('ops.dunning_cases') is not null as dunning`;
  // what the customer's app shows now, indented under the step
  if (has.views) {
    sees = async () => [
      "the customer sees:",
      ...formatCustomerView(await customerView(sql, user.id)).split("\n").map((l) => `  ${l}`),
    ];
  }
  const [orderId] = await pendingOrders(sql, 1, { buyer: user.id });
  const pi = uid("pi_demo_");
  const purchase = checkoutCompleted(orderId, pi, now);
  const first = await deliver(purchase);
  await step({
    title: "A lead signs up and pays: the order becomes paid",
    lines: [`${email} -> order ${orderId.slice(0, 8)}: ${await orderStatus(orderId)} (webhook ${first.status})`],
    ok: (await orderStatus(orderId)) === "paid",
  });

  // 2. the CRM contact and deal, a receipt and a welcome
  const deal = await until(
    "the CRM deal",
    async () => (await sql`select * from ops.crm_deals where order_id = ${orderId}`)[0],
  );
  const contact = await until(
    "the CRM contact",
    async () =>
      (await sql`select c.* from ops.crm_contacts c join public.customers u on u.id = c.customer_id where u.user_id = ${user.id}`)[
        0
      ],
  );
  const mails = [...await sent(`order:${orderId}`, 1), ...await sent(`user:${user.id}`, 1)];
  await step({
    title: "The CRM contact and deal appear; a receipt and a welcome are captured",
    lines: [
      `CRM contact ${contact.crm_contact_id} (${contact.lifecycle_stage}), deal ${deal.crm_deal_id} at stage ${deal.stage}`,
      ...mails.map((m) => `email ${m.template}: ${m.status}`),
    ],
    ok: mails.length === 2,
  });

  // 3. a duplicate delivery
  const again = await deliver(purchase);
  await step({
    title: "The same webhook again changes nothing",
    lines: [`HTTP ${again.status} ${JSON.stringify(again.body)}`],
    ok: again.body.duplicate === true,
  });

  // 4. a failed payment on a second order
  const [failedOrder] = await pendingOrders(sql, 1, { buyer: user.id });
  const pi2 = uid("pi_demo_");
  const failed = piFailed(pi2, now + 1, { metadata: { order_id: failedOrder } });
  await deliver(failed);
  const billing = await sent(`event:${failed.id}`, 1);
  const [{ welcomes }] = await sql<{ welcomes: number }[]>`
    select count(*)::int as welcomes from ops.jobs where payload ->> 'template' = 'welcome' and payload ->> 'entity' = ${`user:${user.id}`}`;
  await step({
    title: "A failed payment sends the billing email and grants no access",
    lines: [
      `order ${failedOrder.slice(0, 8)}: ${await orderStatus(failedOrder)}; email ${billing[0].template}: ${
        billing[0].status
      }`,
      `welcome emails still ${welcomes}`,
    ],
    ok: (await orderStatus(failedOrder)) === "payment_failed" && welcomes === 1,
  });

  // 5. a refund of the paid order
  await deliver(chargeRefunded(pi, uid("ch_demo_"), 2500, now + 2));
  const refund = await sent(`order:${orderId}:refunded:%`, 1);
  const refundedDeal = await until("the deal to show the refund", async () => {
    const [d] = await sql`select stage from ops.crm_deals where order_id = ${orderId} and stage = 'refunded'`;
    return d;
  });
  await step({
    title: "A refund marks the order refunded, updates the CRM and sends an email",
    lines: [
      `order ${orderId.slice(0, 8)}: ${await orderStatus(orderId)}; CRM deal stage ${refundedDeal.stage}; email ${
        refund[0].template
      }: ${refund[0].status}`,
    ],
    ok: (await orderStatus(orderId)) === "refunded",
  });

  // 6. a dispute on another paid order
  const [disputed] = await pendingOrders(sql, 1, { buyer: user.id });
  const pi3 = uid("pi_demo_");
  await deliver(checkoutCompleted(disputed, pi3, now + 3));
  const dp = uid("dp_demo_");
  await deliver(dispute(pi3, uid("ch_demo_"), "needs_response", now + 4, dp));
  const ticket = await until(
    "the dispute ticket",
    async () => (await sql`select * from public.support_tickets where case_key = ${`dispute:${dp}`}`)[0],
  );
  const alert = await sent(`dispute:${dp}`, 1);
  await step({
    title: "A dispute opens a ticket in disputes and posts a Slack alert",
    lines: [
      `ticket ${ticket.ref} in ${ticket.queue} (${ticket.priority}): ${ticket.subject}`,
      `Slack ${alert[0].template}: ${alert[0].status}`,
    ],
    ok: ticket.queue === "disputes",
  });

  // 7. a support request from the app, through supabase-js, as the signed-in user
  const { anon } = await apiKeys();
  const token = await userToken(user.id, { email });
  const app = createClient(config.apiUrl, anon, { accessToken: async () => token });
  const { data, error } = await app.functions.invoke("support-intake", {
    body: {
      category: "billing",
      subject: "Why was I charged twice?",
      message: "I see two charges.",
      order_id: orderId,
    },
    headers: { "x-app-version": "1.0.0-demo", "x-device": "demo terminal" },
  });
  if (error) throw new Error(`demo: support-intake refused the request: ${error.message}`);
  const [t] = await sql`select * from public.support_tickets where id = ${data.ticket.id}`;
  const acks = await sent(`ticket:${t.id}`, 2);
  await step({
    title: "A support request from the app gives an enriched ticket, an acknowledgement and a founder notice",
    lines: [
      `ticket ${t.ref} in ${t.queue} (${t.priority}), tags ${t.tags.join(" ")}`,
      `context: billing ${t.context.billing_status}, order ${t.context.order?.payment_state}, app ${t.client_context.app_version}`,
      ...acks.map((m) =>
        `email ${m.template} to ${m.recipient === "founder" ? "the founder" : "the customer"}: ${m.status}`
      ),
    ],
    ok: acks.length === 2,
  });

  if (!has.replies || !has.dunning || !has.views) return { steps, email, orderId };

  // 8. support answers from Studio: the requester gets the answer by email, with a reply-to back to the ticket
  const [{ reply }] = await sql<{ reply: string }[]>`
    select ops.reply_to_ticket(${t.ref}, 'Only one charge went through: the other is a hold that drops off in days.',
                               'Sam (support)') as reply`;
  const [answer] = await sent(`message:${reply}`, 1);
  await step({
    title: "Support answers from Studio: one email to the customer, threaded, with a reply-to back to the ticket",
    lines: [`ticket ${t.ref}: email ${answer.template} to the customer: ${answer.status}`],
    ok: answer.template === "ticket_reply",
  });

  // 9. a subscription renewal fails, then is paid (dunning)
  const r = renewal(uid("cus_demo_"), { userId: user.id });
  const life = failedThenRecovered(r, now + 10);
  for (const e of [life.created, ...life.failed]) await deliver(e);
  const dunning = await sent(`invoice:${r.invoice}`, 1);
  const access = async () => (await customerView(sql, user.id)).access[0]?.state;
  const during = await until("access in grace", async () => (await access()) === "payment_failed_grace" && "grace");
  const seenDuring = await sees();
  for (const e of life.recovered) await deliver(e);
  const recovered = await sent(`invoice:${r.invoice}`, 2);
  const after = await until("access restored", async () => (await access()) === "active" && "active");
  await step({
    title: "A renewal fails (one email, access in grace), then is paid (access restored, one recovery email)",
    lines: [
      ...recovered.map((m) => `email ${m.template}: ${m.status}`),
      `access while unpaid: ${during}; after payment: ${after}`,
      ...seenDuring.map((l) => l.replace("the customer sees:", "the customer saw while unpaid:")),
    ],
    ok: dunning[0].template === "renewal_failed" && recovered.length === 2,
  });
  return { steps, email, orderId };
}

export function formatJourneySteps(steps: Step[]): string {
  return steps.map((s, i) => `\n${s.ok ? "✔" : "✘"} ${i + 1}. ${s.title}\n${s.lines.map((l) => `    ${l}`).join("\n")}`)
    .join("\n");
}
