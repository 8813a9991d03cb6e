// Section "dunning" (#20): payment received -> access restored. N subscribers whose renewal failed and whose grace
// period ended (access blocked, by the sweep on a clock past the grace period) get their invoice.paid at a steady
// rate through the webhook. The access change commits in the event's own transaction, before the webhook answers
// 2xx, so the answer's latency (from its scheduled send time) is when access was restored; every customer's access
// is checked granted afterwards. Target (the articles): p95 <= 60 s. Baseline in the same run, at the same rate:
// invoice.paid of N subscribers with nothing failed (a plain renewal). Also: the payment_recovered email, from the
// event's ledger time to its capture.
import { invoiceFailed, invoicePaid, renewal, subscriptionStatus } from "../../lib/dunning-events.ts";
import type { Evt } from "../../lib/stripe-events.ts";
import { waitFor } from "../../lib/wait.ts";
import { type BenchContext, log, type Section } from "../context.ts";
import { quiesce, requireCaptureAdapter } from "../jobs.ts";
import { openLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";

const TARGET_MS = 60_000;

/** n users, each with an active subscription whose metadata names them (delivered quickly, not measured). */
async function subscribers(ctx: BenchContext, label: string, n: number, t: number) {
  const users = await ctx.db<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at)
    select 'bench-dunning-' || ${label} || '-' || ${ctx.runTag} || '-' || g || '@example.com', now()
      from generate_series(1, ${n}::int) g
    returning id`;
  const renewals = users.map((u, i) => renewal(`cus_bdun${label}${ctx.runTag}${i}`, { userId: u.id }));
  await openLoop(
    ctx,
    await signAll(renewals.map((r) => subscriptionStatus(r, "active", t, "customer.subscription.created"))),
    50,
  );
  return renewals;
}

async function deliverPaid(ctx: BenchContext, events: Evt[], rate: number) {
  const run = await openLoop(ctx, await signAll(events), rate);
  return { latencies: run.latencies, http: run.tally.http, notSent: run.notSent };
}

export const dunningLatency: Section = {
  name: "dunning",
  async run(ctx) {
    requireCaptureAdapter();
    const quiet = await quiesce(ctx, "dunning");
    const { dunningSubscribers: n, dunningRate: rate } = ctx.settings;
    const t = Math.floor(Date.now() / 1000) - 120;
    log(`dunning: ${n} blocked subscribers pay at ${rate}/s; baseline: ${n} plain renewals paid at ${rate}/s`);

    // both groups set up first: plain renewals (nothing failed), and failed ones past their grace period (blocked)
    const plain = await subscribers(ctx, "p", n, t);
    const failing = await subscribers(ctx, "f", n, t);
    await openLoop(
      ctx,
      await signAll(failing.flatMap((r) => [invoiceFailed(r, t + 1), subscriptionStatus(r, "past_due", t + 1)])),
      50,
    );
    const [{ days }] = await ctx.db<{ days: number }[]>`select dunning_grace_days + 1 as days from ops.settings`;
    await ctx.db`select ops.sweep_dunning(now() + make_interval(days => ${days}))`;
    const users = failing.map((r) => r.userId!);
    const access = async () =>
      await ctx.db<{ access_status: string; n: number }[]>`
        select access_status, count(*)::int as n from public.customers where user_id = any(${users}::uuid[])
         group by 1 order by 1`;
    const before = await access();
    // ABBA halves, so neither side gets the warm (or the cold) machine alone
    const half = Math.ceil(n / 2);
    const plainPaid = plain.map((r) => invoicePaid(r, t + 10));
    const paidEvents = failing.map((r) => invoicePaid(r, t + 10));
    const b1 = await deliverPaid(ctx, plainPaid.slice(0, half), rate);
    const m1 = await deliverPaid(ctx, paidEvents.slice(0, half), rate);
    const m2 = await deliverPaid(ctx, paidEvents.slice(half), rate);
    const b2 = await deliverPaid(ctx, plainPaid.slice(half), rate);
    const merge = (a: typeof b1, b: typeof b1) => ({
      ms: summarize([...a.latencies, ...b.latencies]),
      http: [a.http, b.http],
      notSent: a.notSent + b.notSent,
    });
    const baseline = merge(b1, b2);
    const measured = merge(m1, m2);
    const after = await access();

    // the payment_recovered emails, from the event's ledger time to the capture
    const keys = failing.map((r) => `notify:payment_recovered:invoice:${r.invoice}:user:${r.userId}`);
    const captured = async () =>
      (await ctx.db`select count(*)::int as n from ops.notification_captures where key = any(${keys}::text[])`)[0]
        .n as number;
    try {
      await waitFor("payment_recovered emails", async () => (await captured()) >= n, 120_000);
    } catch {
      log(`dunning: ${await captured()}/${n} payment_recovered emails after 120 s`);
    }
    const mail = await ctx.db`
      select extract(epoch from (c.created_at - e.received_at))::float8 * 1000 as ms
        from ops.stripe_events e
        join ops.dunning_cases d on d.recovered_event_id = e.event_id
        join ops.notification_captures c on c.key like 'notify:payment_recovered:invoice:' || d.stripe_invoice_id || ':%'
       where e.event_id = any(${paidEvents.map((e) => e.id)}::text[])`;
    const email = summarize(mail.map((r) => r.ms as number));

    const granted = after.find((r) => r.access_status === "granted")?.n ?? 0;
    for (const p of ["p50", "p95", "max"] as const) {
      ctx.report.add({
        section: "dunning",
        figure: `invoice.paid received -> access restored ${p} @${rate}/s`,
        value: measured.ms[p],
        unit: "ms",
        baseline: p === "max"
          ? undefined
          : { label: `plain renewal invoice.paid answered ${p}`, value: baseline.ms[p] ?? 0, unit: "ms" },
        note: p === "p95" ? `target <= ${TARGET_MS} ms` : undefined,
      });
    }
    ctx.report.add({
      section: "dunning",
      figure: "invoice.paid -> payment_recovered email captured p95",
      value: email.p95,
      unit: "ms",
    });
    ctx.report.add({
      section: "dunning",
      figure: `customers not granted after their invoice.paid answered (of ${n}, blocked before: ${
        before.find((r) => r.access_status === "blocked")?.n ?? 0
      })`,
      value: n - granted,
      unit: "",
    });
    ctx.report.details.dunning = { quiesceBefore: quiet, before, after, measured, baseline, email };
  },
};
