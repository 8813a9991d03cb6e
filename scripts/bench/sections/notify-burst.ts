// Section "notify@burst" (#20): 30 orders of 30 new buyers paid at once, their receipts and welcomes sent
// through the Resend fake (tests/fakes/resend.ts) at Resend's default limit of 2 requests per second (429 with
// Retry-After over it). Paid (the webhook took the event) -> receipt sent (the fake's clock), p50/p95/max,
// and the 429s drawn; next to a baseline from the same run: the same burst with every job at one priority
// (ops.job_priorities flattened, as before #20). The gateway is restarted on the fake, then as it was.
import { startFakeResend } from "../../../tests/fakes/resend.ts";
import type { FakeResend } from "../../../tests/fakes/resend.ts";
import { pendingOrders } from "../../lib/seed.ts";
import { restartGateway } from "../../stack/stack.ts";
import { assertLocal, type BenchContext, log, type Section } from "../context.ts";
import { benchCheckout } from "../events.ts";
import { attemptOutcomes, quiesce, waitJobs } from "../jobs.ts";
import { closedLoop, signAll } from "../load.ts";
import { summarize } from "../report.ts";

const LIMIT_PER_S = 2;

async function burst(ctx: BenchContext, fake: FakeResend, tag: string) {
  const n = ctx.settings.burstOrders;
  await quiesce(ctx, `notify@burst (${tag})`);
  fake.reset();
  const users = await ctx.db<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at)
    select format('bench-burst-%s-%s-%s@example.com', ${ctx.runTag}::text, ${tag}::text, g), now()
      from generate_series(1, ${n}::int) g
    returning id`;
  const orders = (await Promise.all(users.map((u) => pendingOrders(ctx.db, 1, { buyer: u.id })))).flat();
  // the leads' own jobs (CRM contacts) are not what this measures: let them pass first
  await quiesce(ctx, `notify@burst (${tag}, buyers)`);
  const created = Math.floor(Date.now() / 1000);
  const eventIds = orders.map((_, i) => `evt_b${ctx.runTag}${tag}${i}`);
  const events = await signAll(
    orders.map((o, i) => benchCheckout(`${ctx.runTag}${tag}${i}`, o, { id: eventIds[i], created })),
  );
  log(`notify@burst (${tag}): ${n} orders paid at once, Resend fake at ${LIMIT_PER_S} requests/s`);
  const sent = await closedLoop(ctx, events, n, 60);
  const recipients = users.map((u) => `user:${u.id}`);
  const ids = (await ctx.db`
    select id from ops.jobs where kind = 'notify.email' and payload ->> 'recipient' = any(${recipients}::text[])`)
    .map((r) => String(r.id));
  const waited = await waitJobs(ctx, ids, ctx.settings.crmFaultsMaxSeconds);
  const received = new Map(
    (await ctx.db<{ order_id: string; ms: number }[]>`
      select x.order_id::text as order_id, extract(epoch from e.received_at)::float8 * 1000 as ms
        from unnest(${orders}::uuid[], ${eventIds}::text[]) as x(order_id, event_id)
        join ops.stripe_events e on e.event_id = x.event_id`).map((r) => [r.order_id, r.ms]),
  );
  const firstSent = (key: string) => fake.sent.find((m) => m.idempotencyKey === key)?.at;
  const latency = (template: string, entity: (i: number) => string) =>
    summarize(orders.flatMap((o, i) => {
      const at = firstSent(`notify:${template}:${entity(i)}:user:${users[i].id}`);
      const from = received.get(o);
      return at !== undefined && from !== undefined ? [at - from] : [];
    }));
  const receipt = latency("payment_receipt", (i) => `order:${orders[i]}`);
  const welcome = latency("welcome", (i) => `user:${users[i].id}`);
  const limited = fake.requests.filter((q) => q.status === 429).length;
  return {
    orders: n,
    receipt,
    welcome,
    limited,
    requests: fake.requests.length,
    jobs: { ...waited, attempts: await attemptOutcomes(ctx, ids) },
    ackErrors: sent.tally.errorCount,
  };
}

export const notifyBurst: Section = {
  name: "notify@burst",
  async run(ctx) {
    const keys = ["RESEND_API_KEY", "RESEND_BASE_URL", "RESEND_RATE_LIMIT_PER_S", "NOTIFY_EMAIL_ADAPTER"];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    const [{ ranks }] = await ctx.db`select coalesce(jsonb_agg(to_jsonb(p)), '[]') as ranks from ops.job_priorities p`;
    const restoreRanks = () =>
      ctx.db`
      update ops.job_priorities p set priority = (x ->> 'priority')::int
        from jsonb_array_elements(${ranks}::jsonb) x
       where p.kind = x ->> 'kind' and p.template = x ->> 'template'`;
    let fake: FakeResend | undefined;
    try {
      fake = await startFakeResend({ faults: { limitPerSecond: LIMIT_PER_S, retryAfter: 1 } });
      assertLocal("the Resend fake", new URL(fake.url).hostname);
      await restartGateway({
        RESEND_API_KEY: fake.apiKey,
        RESEND_BASE_URL: fake.url,
        RESEND_RATE_LIMIT_PER_S: String(LIMIT_PER_S),
        NOTIFY_EMAIL_ADAPTER: "resend",
      });
      await ctx.db`update ops.job_priorities set priority = 0`;
      const flat = await burst(ctx, fake, "bf");
      await restoreRanks();
      const ranked = await burst(ctx, fake, "br");
      const section = "notify@burst";
      const label = "same burst, every job one priority";
      const n = ctx.settings.burstOrders;
      for (const p of ["p50", "p95", "max"] as const) {
        ctx.report.add({
          section,
          figure: `paid -> receipt sent ${p} (${n} orders at once, Resend ${LIMIT_PER_S}/s)`,
          value: ranked.receipt[p],
          unit: "ms",
          baseline: { label, value: flat.receipt[p], unit: "ms" },
        });
      }
      ctx.report.add({
        section,
        figure: "paid -> welcome sent p95",
        value: ranked.welcome.p95,
        unit: "ms",
        baseline: { label, value: flat.welcome.p95, unit: "ms" },
      });
      ctx.report.add({
        section,
        figure: "429s drawn from Resend",
        value: ranked.limited,
        unit: "",
        note: `of ${ranked.requests} requests; baseline run ${flat.limited} of ${flat.requests}`,
      });
      ctx.report.add({
        section,
        figure: `receipts not sent (of ${n})`,
        value: n - ranked.receipt.count,
        unit: "",
        note: ranked.jobs.done ? undefined : "stopped at the time limit",
      });
      ctx.report.details[section] = { limitPerSecond: LIMIT_PER_S, flat, ranked };
    } finally {
      await restoreRanks().catch(() => {});
      log("notify@burst: gateway restarted as it was");
      await restartGateway(saved);
      await fake?.close();
    }
  },
};
