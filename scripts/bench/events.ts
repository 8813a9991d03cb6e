// The bench's Stripe events, built with the shared scenarios: checkouts for pending orders of the
// seed buyer, and a repeating mix of five types for the ingestion sections.
import { chargeRefunded, checkoutCompleted, customerUpdated, piSucceeded } from "../lib/scenarios.ts";
import { pendingOrders } from "../lib/seed.ts";
import { event, type Evt, fixture } from "../lib/stripe-events.ts";
import type { BenchContext } from "./context.ts";

/** A paid checkout.session.completed for a pending order, its ids (cs_b, pi_b, cus_b) derived from t. */
export function benchCheckout(t: string, orderId: string, opts: { id: string; created: number }): Evt {
  return checkoutCompleted(orderId, `pi_b${t}`, opts.created, {
    id: `cs_b${t}`,
    customer: `cus_b${t}`,
    amount_subtotal: 2500,
  }, { id: opts.id });
}

export const MIX = ["checkout", "pi_succeeded", "charge_refunded", "sub_updated", "unknown"] as const;

/**
 * n events in a repeating mix of five: a checkout for a fresh order, its payment intent succeeding,
 * a partial refund of its charge, a subscription update for a fresh customer, and a type the
 * pipeline does not handle (payment_intent.created: recorded, ignored). Linked events of one
 * scenario are adjacent, so they arrive concurrently, as Stripe sends them.
 */
export async function buildEvents(ctx: BenchContext, label: string, n: number): Promise<Evt[]> {
  const orders = await pendingOrders(ctx.db, Math.ceil(n / MIX.length));
  const refundBase = fixture("charge_refunded").data.object.refunds;
  const now = Math.floor(Date.now() / 1000);
  const out: Evt[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / MIX.length);
    const t = `${ctx.runTag}${label}${k}`;
    const [pi, ch, cus, orderId] = [`pi_b${t}`, `ch_b${t}`, `cus_b${t}`, orders[k]];
    const opts = { id: `evt_b${ctx.runTag}${label}${i}`, created: now };
    switch (MIX[i % MIX.length]) {
      case "checkout":
        out.push(benchCheckout(t, orderId, opts));
        break;
      case "pi_succeeded":
        out.push(piSucceeded(pi, ch, now, {
          customer: cus,
          amount_received: 2500,
          status: "succeeded",
          metadata: { order_id: orderId },
        }, opts));
        break;
      case "charge_refunded":
        out.push(chargeRefunded(pi, ch, 1000, now, {
          customer: cus,
          refunds: {
            ...refundBase,
            data: [{
              ...refundBase.data[0],
              id: `re_b${t}`,
              payment_intent: pi,
              charge: ch,
              amount: 1000,
              status: "succeeded",
            }],
          },
        }, opts));
        break;
      case "sub_updated":
        out.push(event("subscription_updated", { id: `sub_b${t}`, customer: `cus_bs${t}`, status: "active" }, opts));
        break;
      case "unknown":
        out.push(event("payment_intent_created", { id: `pi_bu${t}` }, opts));
        break;
    }
  }
  return out;
}

/**
 * n customer.updated events, each for a fresh Stripe customer (ids cus_b<tag><label><i>, events
 * evt_b<tag><label><i>): the peer comparison's load. Ours records each, creates the customer and
 * enqueues one crm.contact job; the peer upserts one row. `email: false` leaves the email out, so
 * ours enqueues nothing (the profile's "apply without CRM work").
 */
export function customerEvents(ctx: BenchContext, label: string, n: number, opts: { email?: boolean } = {}): Evt[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: n }, (_, i) => {
    const t = `${ctx.runTag}${label}${i}`;
    return customerUpdated(`cus_b${t}`, opts.email === false ? null : `bench-${t}@example.com`, now, {}, {
      id: `evt_b${t}`,
    });
  });
}

/** Ledger rows of this run's events by status: the database's side of what the responses claim. */
export async function ledgerStatus(ctx: BenchContext, label: string) {
  const rows = await ctx.db`
    select status, count(*)::int as n from ops.stripe_events
    where event_id like ${`evt_b${ctx.runTag}${label}%`} group by status order by status`;
  return Object.fromEntries(rows.map((r) => [r.status as string, r.n as number]));
}

/**
 * The final state of each scenario (five events, see buildEvents) of a label, with its ids taken out, so that
 * scenarios ingested concurrently compare with scenarios ingested one at a time: the order (status, amounts,
 * confirmation, review), the subscription's status, each event's ledger status, and which kinds of jobs the
 * scenario's events enqueued (how many of a kind depends on the order: an order that went from pending to
 * refunded at once gets one deal update, not two; the CRM ends the same).
 */
export async function scenarioStates(ctx: BenchContext, label: string): Promise<Map<number, string>> {
  const t = `${ctx.runTag}${label}`;
  const rows = await ctx.db`
    select 'order' as what, substr(o.stripe_payment_intent_id, ${`pi_b${t}`.length + 1})::int as k,
           jsonb_build_object('status', o.status, 'charged', o.amount_charged, 'refunded', o.amount_refunded,
                              'confirmed', o.payment_confirmed, 'review', o.needs_review) as state
      from public.orders o where o.stripe_payment_intent_id like ${`pi_b${t}%`}
    union all
    select 'subscription', substr(s.stripe_subscription_id, ${`sub_b${t}`.length + 1})::int, to_jsonb(s.status)
      from public.subscriptions s where s.stripe_subscription_id like ${`sub_b${t}%`}
    union all
    select 'ledger ' || (substr(e.event_id, ${`evt_b${t}`.length + 1})::int % ${MIX.length}),
           substr(e.event_id, ${`evt_b${t}`.length + 1})::int / ${MIX.length}, to_jsonb(e.status)
      from ops.stripe_events e where e.event_id like ${`evt_b${t}%`}
    union all
    select 'jobs', substr(j.stripe_event_id, ${`evt_b${t}`.length + 1})::int / ${MIX.length},
           jsonb_agg(distinct j.kind)
      from ops.jobs j where j.stripe_event_id like ${`evt_b${t}%`}
     group by 2`;
  const parts = new Map<number, Record<string, unknown>>();
  for (const r of rows) {
    const k = r.k as number;
    const p = parts.get(k) ?? {};
    // jobs: one group per scenario (several rows if several events enqueued): merged and sorted
    if (r.what === "jobs") p.jobs = [...new Set([...(p.jobs as string[] ?? []), ...(r.state as string[])])].sort();
    else p[r.what as string] = r.state;
    parts.set(k, p);
  }
  return new Map([...parts].map(([k, p]) => [k, JSON.stringify(Object.fromEntries(Object.entries(p).sort()))]));
}
