// Section "jobs@backlog" (#21): paid order -> CRM deal while a backlog of contact jobs waits on HubSpot's
// 100 requests per 10 s (the HubSpot fake with its rolling limit and Retry-After, no other faults), as after
// a burst of 4,000 customer.updated events. Deals (ops.job_priorities: 100) are claimed before contact
// backfills (0), which leave a fifth of the rate budget to them (_shared/providers/rate-budget.ts).
import { type FakeHubSpot, startFakeHubSpot } from "../../../tests/fakes/hubspot.ts";
import { restartGateway } from "../../stack/stack.ts";
import { assertLocal, log, type Section, sleep } from "../context.ts";
import { quiesce, requireCaptureAdapter } from "../jobs.ts";
import { measureCrmLatency } from "./crm-latency.ts";

const BACKLOG = 4_000;
const ORDERS = 20;
const RATE = 1;

export const crmBacklog: Section = {
  name: "jobs@backlog",
  async run(ctx) {
    requireCaptureAdapter(); // the stack runs capture; this section switches to the fake and back
    const keys = ["HUBSPOT_ACCESS_TOKEN", "HUBSPOT_API_BASE", "HUBSPOT_RATE_LIMIT_PER_10S", "CRM_ADAPTER"];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    let fake: FakeHubSpot | undefined;
    try {
      await quiesce(ctx, "jobs@backlog");
      fake = await startFakeHubSpot({ faults: { limitPer10s: 100, limitRetryAfter: true } });
      assertLocal("the HubSpot fake", new URL(fake.url).hostname);
      await restartGateway({
        HUBSPOT_ACCESS_TOKEN: fake.token,
        HUBSPOT_API_BASE: fake.url,
        HUBSPOT_RATE_LIMIT_PER_10S: undefined,
        CRM_ADAPTER: "hubspot",
      });
      // the backlog: 4,000 new leads, each a crm.contact job; held from pg_net while inserted (no storm of
      // 4,000 dispatches), then one dispatch starts the drain that works through it under the rate budget
      await ctx.db.begin(async (tx) => {
        await tx`insert into ops.job_drains (kind, held_until) values ('crm.contact', now() + interval '1 minute')
                 on conflict (kind) do update set held_until = excluded.held_until`;
        await tx`
          insert into public.customers (email, name, billing_status)
          select format('bench-backlog-%s-%s@example.com', ${ctx.runTag}::text, i), format('Backlog %s', i), 'lead'
            from generate_series(1, ${BACKLOG}::int) as i`;
      });
      await ctx.db`delete from ops.job_drains where kind = 'crm.contact'`;
      await ctx.db`select ops.dispatch_due_job(array['crm.contact'])`;
      await sleep(12_000); // a full window of the budget spent on contacts before the first order
      const queuedBefore = await queuedContacts(ctx);
      log(`jobs@backlog: ${queuedBefore} crm.contact jobs queued; ${ORDERS} orders paid at ${RATE}/s`);
      const r = await measureCrmLatency(ctx, {
        section: "jobs@backlog",
        adapter: "hubspot",
        maxSeconds: ctx.settings.crmFaultsMaxSeconds,
        tag: "k",
        events: ORDERS,
        rate: RATE,
        quiesce: false,
      });
      const queuedAfter = await queuedContacts(ctx);
      ctx.report.add({
        section: "jobs@backlog",
        figure: "contact jobs queued when the orders came / after their deals",
        value: queuedBefore,
        unit: "",
        note: `${queuedAfter} after`,
      });
      Object.assign(ctx.report.details["jobs@backlog"] as object, {
        backlog: BACKLOG,
        queuedBefore,
        queuedAfter,
        deals: r.done,
        hubspotRequests: fake.requests.length,
        rateLimited: fake.requests.filter((q) => q.fault).length,
      });
    } finally {
      log("jobs@backlog: gateway restarted on the capture adapter; the rest of the backlog drains there");
      await restartGateway(saved);
      await fake?.close();
    }
  },
};

async function queuedContacts(ctx: Parameters<Section["run"]>[0]): Promise<number> {
  const [{ n }] = await ctx.db`
    select count(*)::int as n from ops.jobs where kind = 'crm.contact' and status in ('queued', 'failed', 'running')`;
  return n as number;
}
