// A provider's request budget (e.g. HubSpot: 100 requests per rolling 10 s), shared by every
// worker instance through ops.take_rate_tokens. It lives on the adapter that knows the provider.
import type postgres from "postgres";

/** `capacity` requests per sliding `windowMs`, counted in the database bucket `bucket`. */
export type RateBudget = { bucket: string; capacity: number; windowMs: number };

/** Takes `tokens` from the budget: 0 when granted, else the ms until enough tokens free up (nothing taken). */
export async function takeRateTokens(sql: postgres.Sql, budget: RateBudget, tokens: number): Promise<number> {
  const [{ wait }] = await sql<{ wait: number }[]>`
    select ops.take_rate_tokens(${budget.bucket}, ${tokens}, ${budget.capacity}, ${budget.windowMs}) as wait`;
  return wait;
}
