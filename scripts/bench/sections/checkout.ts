// Section "checkout" (issue #18): buyers' checkouts through the real checkout function (over the gateway,
// each with its own token and loopback address) at a steady rate against the Stripe fake, which answers
// after BENCH_CHECKOUT_STRIPE_MS like a remote API. Our own time per checkout is the client's latency minus
// the time the function spent waiting for Stripe (its Server-Timing: stripe;dur=), so the fake's answer
// time is not counted; the gateway, JWT check, rate tokens, the order transaction and the doors are.
// Target: p95 of our own time <= 300 ms at 20/s. The gateway is restarted with the fake's key and URL for
// the section and restarted without them afterwards.
import { randomUUID } from "node:crypto";
import { apiKeys, config, userToken } from "../../lib/config.ts";
import { fetchFrom, randomLoopback } from "../../lib/loopback-fetch.ts";
import { restartGateway } from "../../stack/stack.ts";
import { startFakeStripe } from "../../../tests/fakes/stripe.ts";
import { type BenchContext, log, type Section, settings, sleep } from "../context.ts";
import { cpuSince, cpuSnapshot } from "../cpu.ts";
import { summarize } from "../report.ts";

const TARGET_MS = 300;
const PER_BUYER = 4; // a buyer's first checkout also creates their Stripe customer (two Stripe calls)

async function run(ctx: BenchContext) {
  const { checkoutRate: rate, checkouts: n, checkoutStripeMs } = settings;
  const fake = await startFakeStripe({ latencyMs: checkoutStripeMs });
  const env = { STRIPE_SECRET_KEY: fake.key, STRIPE_API_BASE: fake.url, CHECKOUT_RATE_PER_USER_PER_MIN: "100000" };
  try {
    await restartGateway(env);
    const buyers = await ctx.db<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at)
      select 'bench-checkout-' || ${ctx.runTag} || '-' || g || '@example.com', now()
        from generate_series(1, ${Math.ceil(n / PER_BUYER)}::int) g
      returning id`;
    const [seller] = await ctx.db<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
      values (${`bench-seller-${ctx.runTag}@example.com`}, now(), '{"role": "seller"}') returning id`;
    const [listing] = await ctx.db<{ id: string }[]>`
      insert into public.listings (seller_id, title, price_amount, currency)
      values (${seller.id}, 'Bench mug', 2500, 'usd') returning id`;
    const tokens = await Promise.all(buyers.map((b) => userToken(b.id)));
    const { anon } = await apiKeys();
    const url = config.functionUrl("checkout");
    const checkout = async (i: number) => {
      const started = performance.now();
      const res = await fetchFrom(randomLoopback())(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens[i % tokens.length]}`,
          apikey: anon,
          "content-type": "application/json",
        },
        body: JSON.stringify({ listing_id: listing.id, idempotency_key: randomUUID() }),
      });
      await res.text();
      const total = performance.now() - started;
      const stripe = Number(/stripe;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? NaN);
      return { status: res.status, total, ours: total - stripe, stripe };
    };
    // warm-up: every function instance's pools and JIT, not measured
    for (let i = 0; i < 5; i++) await checkout(i);
    const results: Awaited<ReturnType<typeof checkout>>[] = [];
    const cpuBefore = cpuSnapshot();
    const t0 = performance.now() + 50;
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      await sleep(Math.max(0, t0 + (i * 1000) / rate - performance.now()));
      results.push(await checkout(i));
    }));
    const cpu = cpuSince(cpuBefore);
    // the load generator's process also runs the Stripe fake: what is left is the stack's own CPU
    const cpuPerCheckout = (cpu.totalMs - (cpu.byComponent["load generator (bench)"] ?? 0)) / n;
    const ok = results.filter((r) => r.status === 201 && Number.isFinite(r.ours));
    const statuses: Record<number, number> = {};
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    const ours = summarize(ok.map((r) => r.ours));
    const total = summarize(ok.map((r) => r.total));
    const stripe = summarize(ok.map((r) => r.stripe));
    ctx.report.details.checkout = {
      rate,
      requested: n,
      statuses,
      ours,
      total,
      stripe,
      stripeLatencyMs: checkoutStripeMs,
      cpuMs: cpu.byComponent,
    };
    log(
      `checkout: ${ok.length}/${n} created; ours p50/p95/p99 ${ours.p50?.toFixed(1)} / ${ours.p95?.toFixed(1)} / ` +
        `${ours.p99?.toFixed(1)} ms, with Stripe's ${total.p95?.toFixed(1)} ms p95`,
    );
    ctx.report.add({
      section: "checkout",
      figure: `our time per checkout p95 at ${rate}/s (Stripe's answer time excluded)`,
      value: ours.p95,
      unit: "ms",
      baseline: { label: "target", value: TARGET_MS, unit: "ms" },
      note: ok.length < n ? `${n - ok.length} of ${n} not created: ${JSON.stringify(statuses)}` : undefined,
    });
    ctx.report.add({ section: "checkout", figure: "our time per checkout p50", value: ours.p50, unit: "ms" });
    ctx.report.add({
      section: "checkout",
      figure: "CPU per checkout (gateway, Deno, Postgres; not the client or the fake)",
      value: cpuPerCheckout,
      unit: "ms",
    });
    ctx.report.add({
      section: "checkout",
      figure: `end to end p95 (the fake answers in ${checkoutStripeMs} ms, 1-2 calls each)`,
      value: total.p95,
      unit: "ms",
    });
  } finally {
    await restartGateway(Object.fromEntries(Object.keys(env).map((k) => [k, undefined])));
    await fake.close();
  }
}

export const checkoutLatency: Section = { name: "checkout", run };
