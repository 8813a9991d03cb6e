// The fixed ids supabase/seed.sql inserts, named once for the demo, the bench and the tests, and the
// pending orders the app creates for them before it sends a buyer to Checkout.
import type { Sql } from "./db.ts";

export const SEED = {
  buyer: "00000000-0000-4000-8000-00000000b001",
  seller: "00000000-0000-4000-8000-00000000c001",
  admin: "00000000-0000-4000-8000-00000000a001",
  /** The seller's handmade ceramic mug (2500 usd): the listing demo, bench and test orders name. */
  listing: "00000000-0000-4000-8000-0000000011a1",
  /** The seller's walnut cutting board (6400 usd). */
  secondListing: "00000000-0000-4000-8000-0000000011a2",
  /** The buyer's pending order for the mug. */
  order: "00000000-0000-4000-8000-0000000000d1",
} as const;

/** n pending orders of the seed buyer (or another) for the seed listing, in one statement; their ids. */
export async function pendingOrders(
  sql: Sql,
  n = 1,
  opts: { amount?: number; buyer?: string } = {},
): Promise<string[]> {
  if (n === 0) return [];
  const rows = await sql<{ id: string }[]>`
    insert into public.orders (buyer_id, listing_id, amount_total, currency)
    select ${opts.buyer ?? SEED.buyer}::uuid, ${SEED.listing}::uuid, ${opts.amount ?? 2500}::bigint, 'usd'
      from generate_series(1, ${n}::int)
    returning id`;
  return rows.map((r) => r.id);
}
