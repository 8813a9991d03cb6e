// What the signed-in user's app shows (#20): the status views read as that user, under RLS, as
// supabase-js would (`.from("my_orders").select()`). For the demo (the customer's view after each step),
// the tests and anyone checking a customer's screen from a terminal.
import { asAppUser } from "./app.ts";
import type { Sql } from "./db.ts";

export type CustomerState = {
  state: string;
  title: string | null;
  explanation: string | null;
  next_step: string | null;
  action: string | null;
};
export type CustomerView = {
  access: (CustomerState & { has_access: boolean; plan: string | null })[];
  orders: (CustomerState & { id: string })[];
  sales: (CustomerState & { id: string })[];
  tickets: (CustomerState & { id: string; ref: string })[];
};

const VIEWS = { access: "my_access", orders: "my_orders", sales: "my_sales", tickets: "my_tickets" } as const;

/** The user's access, orders (as buyer), sales (as seller) and tickets, newest first, as their app reads them. */
export async function customerView(sql: Sql, userId: string): Promise<CustomerView> {
  const view = {} as Record<keyof typeof VIEWS, unknown[]>;
  for (const [key, name] of Object.entries(VIEWS) as [keyof typeof VIEWS, string][]) {
    const order = name === "my_access" ? "" : " order by created_at desc, id";
    const a = await asAppUser(sql, userId, `select * from public.${name}${order}`);
    if (a.code) throw new Error(`reading ${name} as ${userId}: ${a.code} ${a.message}`);
    view[key] = a.rows;
  }
  return view as unknown as CustomerView;
}

/** One line per row: "order 1a2b3c4d  refund_pending  Refund pending: Your refund is on its way ...". */
export function formatCustomerView(v: CustomerView): string {
  const line = (what: string, id: string, s: CustomerState) =>
    `${what.padEnd(7)} ${id.padEnd(10)} ${s.state.padEnd(22)} ${s.title ?? ""}: ${s.explanation ?? ""}` +
    (s.next_step ? ` -> ${s.next_step}` : "") + (s.action ? ` [${s.action}]` : "");
  return [
    ...v.access.map((a) => line("access", a.has_access ? "granted" : "blocked", a)),
    ...v.orders.map((o) => line("order", o.id.slice(0, 8), o)),
    ...v.sales.map((o) => line("sale", o.id.slice(0, 8), o)),
    ...v.tickets.map((t) => line("ticket", t.ref, t)),
  ].join("\n");
}
