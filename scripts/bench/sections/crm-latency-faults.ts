// Section "jobs@faults": paid order -> CRM deal latency as in "jobs@rate", but against the HubSpot fake
// (tests/fakes/hubspot.ts) behaving as HubSpot does on a bad day: 100 requests per rolling 10 s then 429
// with Retry-After, 8% 502s, 2% hangs past the client timeout, 4% answers lost after the write was
// applied. The gateway is restarted with HUBSPOT_ACCESS_TOKEN / HUBSPOT_API_BASE pointing at the fake,
// then restarted again with the environment it had (the capture adapter).
import { type FakeHubSpot, startFakeHubSpot } from "../../../tests/fakes/hubspot.ts";
import { restartGateway } from "../../stack/stack.ts";
import { assertLocal, log, type Section } from "../context.ts";
import { requireCaptureAdapter } from "../jobs.ts";
import { summarize } from "../report.ts";
import { measureCrmLatency } from "./crm-latency.ts";

export const FAULTS = { limitPer10s: 100, limitRetryAfter: true, rate502: 0.08, rateHang: 0.02, rateDropAfter: 0.04 };
const CLIENT_TIMEOUT_MS = "5000";

export const crmLatencyFaults: Section = {
  name: "jobs@faults",
  async run(ctx) {
    requireCaptureAdapter(); // the stack runs capture; this section switches to the fake and back
    const keys = [
      "HUBSPOT_ACCESS_TOKEN",
      "HUBSPOT_API_BASE",
      "HUBSPOT_TIMEOUT_MS",
      "HUBSPOT_RATE_LIMIT_PER_10S",
      "CRM_ADAPTER",
    ];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    let fake: FakeHubSpot | undefined;
    try {
      fake = await startFakeHubSpot({ faults: FAULTS });
      assertLocal("the HubSpot fake", new URL(fake.url).hostname);
      log(`faulty CRM: gateway restarted on the HubSpot fake (${JSON.stringify(FAULTS)})`);
      await restartGateway({
        HUBSPOT_ACCESS_TOKEN: fake.token,
        HUBSPOT_API_BASE: fake.url,
        HUBSPOT_TIMEOUT_MS: CLIENT_TIMEOUT_MS,
        HUBSPOT_RATE_LIMIT_PER_10S: undefined,
        CRM_ADAPTER: "hubspot",
      });
      const r = await measureCrmLatency(ctx, {
        section: "jobs@faults",
        adapter: "hubspot",
        maxSeconds: ctx.settings.crmFaultsMaxSeconds,
        tag: "f",
      });
      // the deal as HubSpot (the fake) recorded it: its first creation, minus when the webhook took the event
      const paid =
        (await ctx.db`select id::text from public.orders where id = any(${r.orders}::uuid[]) and paid_at is not null`)
          .map((o) => o.id as string);
      const upsertMs = paid.flatMap((id) => {
        const deals = fake!.deals(id);
        const from = r.received.get(id);
        return deals.length && from !== undefined
          ? [Math.min(...deals.map((d) => Date.parse(d.createdAt))) - from]
          : [];
      });
      const upsert = summarize(upsertMs);
      const at = `@${ctx.settings.crmRate}/s`;
      for (const p of ["p50", "p95", "max"] as const) {
        ctx.report.add({
          section: "jobs@faults",
          figure: `paid -> CRM deal created (fake's clock) ${p} ${at}`,
          value: upsert[p],
          unit: "ms",
        });
      }
      // the slowest deal next to p95: the articles ask for every paid order in the CRM within 60 s
      ctx.report.add({
        section: "jobs@faults",
        figure: `slowest paid -> CRM deal created (max) ${at}`,
        value: upsert.max,
        unit: "ms",
        baseline: { label: "p95", value: upsert.p95, unit: "ms" },
      });
      const duplicates = paid.filter((id) => fake!.deals(id).length > 1).length;
      const faulted = fake.requests.filter((q) => q.fault).length;
      ctx.report.add({
        section: "jobs@faults",
        figure: "deals created twice for one order",
        value: duplicates,
        unit: "",
      });
      ctx.report.add({
        section: "jobs@faults",
        figure: "CRM requests (faulted or rate-limited)",
        value: fake.requests.length,
        unit: "",
        note: `${faulted} faulted`,
      });
      ctx.report.add({
        section: "jobs@faults",
        figure: "deal jobs retried (failed attempts)",
        value: r.attempts.failed ?? 0,
        unit: "",
      });
      Object.assign(ctx.report.details["jobs@faults"] as object, {
        faults: FAULTS,
        clientTimeoutMs: Number(CLIENT_TIMEOUT_MS),
        crmDealCreatedMs: upsert,
        duplicates,
        requests: fake.requests.length,
        faultedRequests: faulted,
      });
    } finally {
      log("faulty CRM: gateway restarted on the capture adapter");
      await restartGateway(saved);
      await fake?.close();
    }
  },
};
