// Direct access to the local stack's database for arranging and asserting (as the app or an operator would).
import { config } from "../../scripts/lib/config.ts";
import { connect } from "../../scripts/lib/db.ts";

export const sql = connect(config.dbUrl, { max: 8 });

export const SEED = {
  buyer: "00000000-0000-4000-8000-00000000b001",
  seller: "00000000-0000-4000-8000-00000000c001",
  admin: "00000000-0000-4000-8000-00000000a001",
  listing: "00000000-0000-4000-8000-0000000011a1",
} as const;

/** A pending order as the app creates it before sending the buyer to Checkout. */
export async function pendingOrder(amount = 2500, buyer: string = SEED.buyer): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into public.orders (buyer_id, listing_id, amount_total, currency)
    values (${buyer}, ${SEED.listing}, ${amount}, 'usd') returning id`;
  return row.id;
}

export async function order(id: string) {
  const [row] = await sql`select * from public.orders where id = ${id}`;
  return row;
}

export async function ledger(eventIds: string[]) {
  return sql<{ event_id: string; status: string; last_error: string | null }[]>`
    select event_id, status, last_error from ops.stripe_events where event_id = any(${eventIds})`;
}
