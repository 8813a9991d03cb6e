// One reconcile job: (1) the pass over Stripe's events since the checkpoint, page by page, ingesting what
// the ledger lacks through ops.ingest_stripe_event (source 'reconciliation') and advancing the checkpoint
// only past fully processed pages; (2) the cross-checks of recent payments, orders, CRM deals and
// subscriptions, recorded as findings. Out of time, it defers itself and the next invocation resumes.
import type postgres from "postgres";
import type Stripe from "stripe";
import { z } from "zod";
import type { Env } from "../_shared/config/env.ts";
import { Deferral, type Job, type JobHandler, parseJobContext } from "../_shared/jobs/worker.ts";
import { log } from "../_shared/log.ts";
import { sanitizeJsonEscapes } from "../_shared/stripe/sanitize.ts";
import { type ReconcileSettings, reconcileSettings } from "./settings.ts";
import { stripeClient, type StripeErrorLike } from "../_shared/stripe/client.ts";
import {
  callStripe,
  compactPaymentIntent,
  compactPayout,
  compactSession,
  compactSubscription,
  compactTransfer,
} from "./stripe.ts";

/** What ops.reconcile_begin hands the run: the pass's window (epoch seconds) and where it stands. */
const beginContext = z.object({
  scope: z.string(),
  pass_from: z.int(),
  pass_until: z.int(),
  cursor: z.string().nullable(),
  checks_from: z.int(),
  /** the cross-checks of this job ran out of time once already */
  checks_deferred: z.boolean(),
}).loose();
type Begin = z.output<typeof beginContext>;

/** The cross-checks list everything in one invocation: out of time there, the job defers once. */
class ChecksOutOfTime extends Deferral {}
type Ctx = { sql: postgres.Sql; job: Job; worker: string; s: ReconcileSettings; stripe: Stripe; deadline: number };

/** Stripe objects the database stores as JSON: JSON.stringify writes a NUL as the escape \u0000 and a
 * lone surrogate as \ud800, which jsonb refuses; they become \uFFFD exactly as the webhook makes a raw
 * body storable. */
export function storableJson(value: unknown): { text: string; sanitized: boolean } {
  const { text, replaced } = sanitizeJsonEscapes(JSON.stringify(value));
  return { text, sanitized: replaced > 0 };
}

function outOfTime(ctx: Ctx, what: string, checks = false) {
  if (performance.now() >= ctx.deadline) {
    const reason = `reconcile: time budget used during ${what}; resuming from the checkpoint`;
    throw checks ? new ChecksOutOfTime(1000, reason) : new Deferral(1000, reason);
  }
}

async function eventPass(ctx: Ctx, b: Begin) {
  const { sql, job, worker, s, stripe } = ctx;
  let cursor = b.cursor;
  for (let page = 0;; page++) {
    if (page > 0) outOfTime(ctx, "the event pass"); // one page per invocation at least: progress is certain
    let list: Stripe.ApiList<Stripe.Event>;
    try {
      list = await callStripe("list events", () =>
        stripe.events.list({
          limit: s.pageSize,
          created: { gte: b.pass_from, lte: b.pass_until },
          ...(cursor ? { starting_after: cursor } : {}),
        }), { key: s.key, deadline: ctx.deadline });
    } catch (err) {
      // the cursor's event aged out of Stripe's 30 days while the pass waited: list the window again
      if (cursor && (err as { status?: number }).status === 404) {
        log("warn", "reconcile", "cursor event gone; restarting the pass", { job_id: job.id });
        cursor = null;
        continue;
      }
      throw err;
    }
    const [{ ids }] = await sql<{ ids: string[] }[]>`
      select ops.reconcile_missing_events(${job.id}, ${worker},
        ${sql.json(list.data.map((e) => ({ id: e.id, type: e.type })))}) as ids`;
    const missing = new Set(ids);
    let recovered = 0;
    let failed = 0;
    // oldest first, as Stripe sent them (facts converge in any order; the ledger reads better this way)
    for (const evt of [...list.data].reverse().filter((e) => missing.has(e.id))) {
      const { text, sanitized } = storableJson(evt);
      const [{ result }] = await sql<{ result: { status: string; duplicate: boolean } }[]>`
        select ops.reconcile_ingest_event(${job.id}, ${worker}, ${text}, ${s.livemode}, ${s.accountId},
                                          ${sanitized}) as result`;
      if (!result.duplicate) {
        recovered++;
        if (result.status === "failed") failed++;
        log("info", "reconcile", "missing event recovered", {
          job_id: job.id,
          event_id: evt.id,
          type: evt.type,
          status: result.status,
        });
      }
    }
    const last = list.data.at(-1)?.id ?? null;
    await sql`select ops.reconcile_advance(${job.id}, ${worker}, ${b.scope}, ${last}, ${list.data.length},
                                           ${recovered}, ${failed}, ${!list.has_more})`;
    if (!list.has_more) return;
    cursor = last;
  }
}

/** Every object of a list created since `gte` (or all, without it), page by page within the budget. */
async function listAll<T extends { id: string }>(
  ctx: Ctx,
  what: string,
  page: (params: { limit: number; starting_after?: string }) => Promise<Stripe.ApiList<T>>,
): Promise<T[]> {
  const out: T[] = [];
  let after: string | undefined;
  for (;;) {
    outOfTime(ctx, `the cross-checks (${what})`, true);
    const list = await callStripe(
      `list ${what}`,
      () => page({ limit: ctx.s.pageSize, ...(after ? { starting_after: after } : {}) }),
      { key: ctx.s.key, deadline: ctx.deadline },
    );
    out.push(...list.data);
    if (!list.has_more || list.data.length === 0) return out;
    after = list.data.at(-1)!.id;
  }
}

async function crossChecks(ctx: Ctx, b: Begin) {
  const { sql, job, worker, stripe } = ctx;
  const created = { gte: b.checks_from };
  // Checkout sessions expire within 24 h: a day more finds the session of a payment made since checks_from
  const sessions = (await listAll(
    ctx,
    "checkout sessions",
    (p) => stripe.checkout.sessions.list({ ...p, created: { gte: b.checks_from - 86_400 } }),
  )).map(compactSession);
  const paymentIntents = (await listAll(ctx, "payment intents", (p) => stripe.paymentIntents.list({ ...p, created })))
    .map(compactPaymentIntent);
  // every subscription not canceled, whatever its age: the list is complete, so ours it lacks are drift
  const subscriptions = (await listAll(ctx, "subscriptions", (p) => stripe.subscriptions.list(p)))
    .map(compactSubscription);
  const connect = await connectChecks(ctx, b);
  const [{ fetch }] = await sql<{ fetch: { checkout_sessions: string[]; payment_intents: string[] } }[]>`
    select ops.reconcile_objects_to_fetch(${job.id}, ${worker}, ${b.checks_from}, ${sessions.map((x) => x.id)},
                                          ${paymentIntents.map((x) => x.id)}) as fetch`;
  for (const id of fetch.checkout_sessions) {
    outOfTime(ctx, "the cross-checks (single objects)", true);
    sessions.push(
      await retrieve(ctx, `retrieve ${id}`, () => stripe.checkout.sessions.retrieve(id), compactSession, id),
    );
  }
  for (const id of fetch.payment_intents) {
    outOfTime(ctx, "the cross-checks (single objects)", true);
    paymentIntents.push(
      await retrieve(ctx, `retrieve ${id}`, () => stripe.paymentIntents.retrieve(id), compactPaymentIntent, id),
    );
  }
  const [{ summary }] = await sql<{ summary: Record<string, unknown> }[]>`
    select ops.reconcile_record_checks(${job.id}, ${worker}, ${b.scope}, ${
    sql.json({
      checks_from: b.checks_from,
      grace_seconds: ctx.s.graceSeconds,
      sessions,
      payment_intents: paymentIntents,
      subscriptions,
      ...connect,
    })
  }) as summary`;
  return summary;
}

/** Connect (#18): the platform's transfers since checks_from (every paid order of a Connect seller has its
 * transfer), and the payouts of a bounded number of our sellers' connected accounts (Stripe-Account header),
 * those checked longest ago first. Nothing is listed without Connect: the key needs no Connect permission then. */
async function connectChecks(ctx: Ctx, b: Begin) {
  const { sql, job, worker, stripe, s } = ctx;
  const [{ c }] = await sql<{ c: { connect_enabled: boolean; accounts: string[] } }[]>`
    select ops.reconcile_connect_accounts(${job.id}, ${worker}, ${s.connectAccounts}) as c`;
  if (!c.connect_enabled) return {};
  const created = { gte: b.checks_from };
  const transfers = (await listAll(ctx, "transfers", (p) => stripe.transfers.list({ ...p, created })))
    .map(compactTransfer);
  const payouts = [];
  for (const account of c.accounts) {
    const list = await listAll(ctx, `payouts of ${account}`, async (p) => {
      try {
        return await stripe.payouts.list({ ...p, created }, { stripeAccount: account });
      } catch (err) {
        // the account left the platform (deauthorized): nothing of it to list; any other failure is the run's
        if ((err as StripeErrorLike).code !== "account_invalid") throw err;
        log("warn", "reconcile", "connected account not accessible; its payouts were not listed", {
          job_id: job.id,
          account,
        });
        return { object: "list", data: [], has_more: false, url: "/v1/payouts" } as Stripe.ApiList<Stripe.Payout>;
      }
    });
    payouts.push(...list.map((x) => compactPayout(x, account)));
  }
  return { transfers, payouts, payout_accounts: c.accounts };
}

async function retrieve<T, C>(ctx: Ctx, op: string, call: () => Promise<T>, compact: (x: T) => C, id: string) {
  try {
    return compact(await callStripe(op, call, { key: ctx.s.key, deadline: ctx.deadline }));
  } catch (err) {
    if ((err as { status?: number }).status === 404) return { id, missing: true } as unknown as C;
    throw err;
  }
}

/** The handler of the `reconcile` job kind. */
export function reconcileHandlers(sql: postgres.Sql, env: Env): Record<string, JobHandler> {
  // read at start: a malformed setting stops the function, naming the variable
  const s = reconcileSettings(env);
  return {
    reconcile: async (job, { worker }) => {
      const started = performance.now();
      // not configured (a local stack, a project that has not created the key): nothing to reconcile with,
      // which is no failure
      if (!s) {
        log("warn", "reconcile", "skipped: STRIPE_RECONCILE_KEY is not set", { job_id: job.id });
        return { skipped: "STRIPE_RECONCILE_KEY is not set: create the restricted key (README, Reconciliation)" };
      }
      const ctx: Ctx = { sql, job, worker, s, stripe: stripeClient(s, "reconcile"), deadline: started + s.budgetMs };
      const [{ begin: raw }] = await sql<{ begin: unknown }[]>`
        select ops.reconcile_begin(${job.id}, ${worker}, ${s.livemode}, ${s.accountId},
          make_interval(days => ${s.lookbackDays}), make_interval(secs => ${s.graceSeconds}),
          make_interval(hours => ${s.checkHours})) as begin`;
      const begin = parseJobContext("ops.reconcile_begin", beginContext, raw);
      await eventPass(ctx, begin);
      let summary: Record<string, unknown>;
      try {
        summary = await crossChecks(ctx, begin);
      } catch (err) {
        if (!(err instanceof ChecksOutOfTime)) throw err;
        // once: the next invocation starts them with (nearly) its whole budget; twice: they cannot fit, so
        // this run ends without them rather than deferring forever
        if (!begin.checks_deferred) {
          await sql`select ops.reconcile_note(${job.id}, ${worker}, ${begin.scope}, ${
            sql.json({ checks_deferred: true })
          })`;
          throw err;
        }
        const [{ stats }] = await sql<{ stats: Record<string, unknown> }[]>`
          select ops.reconcile_note(${job.id}, ${worker}, ${begin.scope}, ${
          sql.json({
            checks_incomplete:
              "the cross-checks did not fit in RECONCILE_BUDGET_MS: raise it, or lower RECONCILE_CHECK_HOURS",
          })
        }) as stats`;
        log("warn", "reconcile", "cross-checks skipped: out of time twice", { job_id: job.id });
        return stats;
      }
      log("info", "reconcile", "reconciliation finished", {
        job_id: job.id,
        recovered: summary.recovered,
        open_findings: summary.open_findings,
        ms: Math.round(performance.now() - started),
      });
      return summary;
    },
  };
}
