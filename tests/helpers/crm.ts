// Arranging CRM scenarios on the local stack: app users (confirmed: lead customers), paid orders, and the jobs
// they enqueued.
import { expect } from "vitest";
import { pendingOrder, sql } from "./db.ts";
import { checkoutCompleted } from "../../scripts/lib/scenarios.ts";
import { deliver, uid } from "./stripe.ts";

/** A new app user who confirmed their email: a lead customer, and so a crm.contact job. */
export async function newBuyer(email: string): Promise<{ id: string; customerId: string; email: string }> {
  const [u] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at) values (${email}, now()) returning id`;
  const [c] = await sql<{ id: string }[]>`select id from public.customers where user_id = ${u.id}`;
  return { id: u.id, customerId: c.id, email };
}

/** A pending order paid through Checkout (one signed checkout.session.completed). */
export async function paidOrder(buyerId: string, pi = uid("pi_")): Promise<string> {
  const id = await pendingOrder(2500, buyerId);
  const res = await deliver(checkoutCompleted(id, pi, Math.floor(Date.now() / 1000)));
  expect(res.body.status).toBe("processed");
  return id;
}

export async function jobIds(where: { orders?: string[]; customers?: string[] }): Promise<number[]> {
  const rows = await sql<{ id: string }[]>`
    select id from ops.jobs
     where payload ->> 'order_id' = any(${where.orders ?? []}) or payload ->> 'customer_id' = any(${
    where.customers ?? []
  })`;
  return rows.map((r) => Number(r.id));
}
