// A provider's request budget (e.g. HubSpot: 100 requests per rolling 10 s), shared by every
// worker instance through ops.take_rate_tokens. It lives on the adapter that knows the provider.
import type postgres from "postgres";

/** `capacity` requests per sliding `windowMs`, counted in the database bucket `bucket`. */
export type RateBudget = { bucket: string; capacity: number; windowMs: number };

/** Jobs ranked this high or higher by ops.job_priorities (receipts, deals) may use the whole budget. */
export const URGENT_PRIORITY = 100;
/** The share of a budget other jobs leave free, so a job that needs several calls at once (a deal: contact,
 * deal, association) is never starved by a backlog of one-call jobs (contact backfills) taking each token
 * as it frees up. Rounded down: a budget of 2 per second (Resend's) keeps no reserve. */
export const URGENT_RESERVE = 0.2;

/** The capacity a job of this priority may fill. */
export function capacityFor(budget: RateBudget, priority: number): number {
  if (priority >= URGENT_PRIORITY) return budget.capacity;
  return Math.max(1, budget.capacity - Math.floor(budget.capacity * URGENT_RESERVE));
}

/** How long an urgent job waits out a used-up budget holding its lease (then it is deferred): a burst's urgent
 * jobs deferred to one refill instant each raced for every freed token, and one receipt lost 25 times running. */
export const URGENT_HOLD_MS = 3_000;

/** takeRateTokens, but an urgent job waits (sleeping, its job still leased) for up to URGENT_HOLD_MS in all
 * instead of being deferred at once; others are deferred at once. 0 when granted, else the ms to defer by. */
export async function awaitRateTokens(
  sql: postgres.Sql,
  budget: RateBudget,
  tokens: number,
  priority = URGENT_PRIORITY,
): Promise<number> {
  const until = Date.now() + (priority >= URGENT_PRIORITY ? URGENT_HOLD_MS : 0);
  for (;;) {
    const wait = await takeRateTokens(sql, budget, tokens, priority);
    if (wait === 0 || Date.now() + wait > until) return wait;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Takes `tokens` from the budget: 0 when granted, else the ms until enough tokens free up (nothing taken).
 * While an urgent job waits for the budget, jobs below urgent wait too (ops.take_rate_tokens' p_urgent): tokens
 * free up one at a time, and a welcome deferred to an earlier instant would otherwise take a receipt's. */
export async function takeRateTokens(
  sql: postgres.Sql,
  budget: RateBudget,
  tokens: number,
  priority = URGENT_PRIORITY,
): Promise<number> {
  const capacity = capacityFor(budget, priority);
  const urgent = priority >= URGENT_PRIORITY;
  // urgent: the 4-argument form, which every taker may call (support-intake, checkout, seller-onboarding
  // limits are urgent); the 5-argument form is the workers' (pipeline_worker)
  const [{ wait }] = urgent
    ? await sql<{ wait: number }[]>`
      select ops.take_rate_tokens(${budget.bucket}, ${tokens}, ${capacity}, ${budget.windowMs}) as wait`
    : await sql<{ wait: number }[]>`
      select ops.take_rate_tokens(${budget.bucket}, ${tokens}, ${capacity}, ${budget.windowMs}, false) as wait`
      .catch((err) => {
        // a database of 0.5.0 (migrations not pushed yet) has the 4-argument form only
        if ((err as { code?: string } | null)?.code !== "42883") throw err;
        return sql<{ wait: number }[]>`
          select ops.take_rate_tokens(${budget.bucket}, ${tokens}, ${capacity}, ${budget.windowMs}) as wait`;
      });
  return wait;
}
