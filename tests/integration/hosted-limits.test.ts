// What the local gateway enforces of hosted Edge Functions' limits (issue #17): CPU time per request,
// memory, the worker wall clock, the request idle timeout, and HTML only with a custom domain. The file
// runs in a world of its own (tests/helpers/world.ts) with small limits, so nothing waits 150 s, and
// with a probe function (tests/fixtures/functions/limits-probe) that reaches each limit on demand.
// Nothing here asserts a duration: each test waits for an outcome (an answer, a log line, a job's state).
import { startWorld, stopWorld } from "../helpers/world.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { paths } from "../../scripts/stack/stack.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { jobIds, newBuyer, paidOrder } from "../helpers/crm.ts";
import { sql } from "../helpers/db.ts";
import { settleJobs, sweep, waitFor } from "../helpers/stack.ts";
import { uid } from "../helpers/stripe.ts";

const PROBE = config.functionUrl("limits-probe");
const LIMITS = { cpuMs: 400, memoryMb: 128, wallClockMs: 15_000, idleTimeoutMs: 5_000 };
let fake: FakeHubSpot;

beforeAll(async () => {
  fake = await startFakeHubSpot({ token: `pat-test-${uid()}` });
  await startWorld({
    GATEWAY_EXTRA_FUNCTIONS_DIR: "tests/fixtures/functions",
    FUNCTIONS_CPU_LIMIT_MS: String(LIMITS.cpuMs),
    FUNCTIONS_MEMORY_LIMIT_MB: String(LIMITS.memoryMb),
    FUNCTIONS_WALL_CLOCK_MS: String(LIMITS.wallClockMs),
    FUNCTIONS_IDLE_TIMEOUT_MS: String(LIMITS.idleTimeoutMs),
    FUNCTIONS_CUSTOM_DOMAIN: "none",
    HUBSPOT_ACCESS_TOKEN: fake.token,
    HUBSPOT_API_BASE: fake.url,
    // a hung HubSpot call outlives its worker: only the worker's end stops it
    HUBSPOT_TIMEOUT_MS: "120000",
    HUBSPOT_RATE_LIMIT_PER_10S: "5000",
    CRM_ADAPTER: undefined,
  });
  // leases short enough that a job cut off comes back within the test
  await sql`update ops.job_kinds set lease_seconds = 5, backoff_base_ms = 300, backoff_max_ms = 2000
             where kind like 'crm.%'`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

function gatewayLog(): string {
  return readFileSync(join(paths.logDir, "gateway.log"), "utf8");
}

async function probe(route: string, init: RequestInit = {}) {
  const res = await fetch(`${PROBE}${route}`, init);
  const text = await res.text();
  return { res, text, json: () => JSON.parse(text) };
}

/** The probe's worker instance answering now (a fresh worker has a new one). */
async function instance(): Promise<string> {
  return (await probe("/id")).json().instance;
}

describe("hosted limits in the gateway", () => {
  test("a request within its CPU time is answered by the function", async () => {
    const { res, json } = await probe("/cpu?n=20", { method: "POST" });
    expect(res.status).toBe(200);
    expect(json().spins).toBeGreaterThan(0);
  });

  test("a request over its CPU time is answered 546 WORKER_RESOURCE_LIMIT and its worker is replaced", async () => {
    const before = await instance();
    // 60 s of a busy loop against 0.4 s of CPU
    const { res, json } = await probe("/cpu?n=60000", { method: "POST" });
    expect(res.status).toBe(546);
    expect(res.headers.get("sb-error-code")).toBe("WORKER_RESOURCE_LIMIT");
    expect(json()).toEqual({
      code: "WORKER_RESOURCE_LIMIT",
      message: "Function failed due to not having enough compute resources (please check logs)",
    });
    expect(gatewayLog()).toMatch(
      /limits-probe: CPU Time exceeded; ending its worker \(pid \d+, 1 request\(s\) in flight\)/,
    );
    // the next request is served by a new worker (a cold start, not a 503)
    const after = await probe("/id");
    expect(after.res.status).toBe(200);
    expect(after.json().instance).not.toBe(before);
  });

  test("a request that grows its worker past the memory limit is answered 546 and its worker is replaced", async () => {
    const before = await instance();
    // 40 MB more per request (each well within its CPU time: page faults cost CPU) until one is refused
    let last: Awaited<ReturnType<typeof probe>> | undefined;
    for (let i = 0; i < 12; i++) {
      last = await probe("/memory?n=40", { method: "POST" });
      if (last.res.status !== 200) break;
    }
    expect(last!.res.status).toBe(546);
    expect(last!.json().code).toBe("WORKER_RESOURCE_LIMIT");
    expect(gatewayLog()).toMatch(/limits-probe: Memory limit exceeded; ending its worker \(pid \d+, 1 request/);
    expect(await instance()).not.toBe(before);
  });

  test("a request without an answer for the idle timeout is answered 504 IDLE_TIMEOUT, and the worker lives on", async () => {
    const { res, json } = await probe("/hang", { method: "POST" });
    expect(res.status).toBe(504);
    expect(res.headers.get("sb-error-code")).toBe("IDLE_TIMEOUT");
    expect(json().code).toBe("IDLE_TIMEOUT");
    expect(gatewayLog()).toContain(`limits-probe: no answer for ${LIMITS.idleTimeoutMs} ms (request idle timeout)`);
    expect((await probe("/id")).res.status).toBe(200);
  });

  test("at its wall clock a worker is ended with its requests in flight, and a new one serves", async () => {
    // an answer that sends a byte every 500 ms never goes idle: only the wall clock ends it
    const res = await fetch(`${PROBE}/drip`);
    expect(res.status).toBe(200);
    const before = res.headers.get("x-instance");
    await expect(res.text()).rejects.toThrow();
    expect(gatewayLog()).toMatch(/limits-probe: wall clock time limit reached; ending its worker \(pid \d+, [1-9]/);
    expect(await instance()).not.toBe(before);
  });

  test("without a custom domain, a GET's text/html answer is rewritten to text/plain, as hosted does", async () => {
    const get = await probe("/html");
    expect(get.res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(get.text).toContain("<p>hello</p>");
    // only GET: a form post's answer keeps its type; JSON is untouched
    const post = await probe("/html", { method: "POST" });
    expect(post.res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect((await probe("/id")).res.headers.get("content-type")).toBe("application/json");
    // so the dashboard shows its page as text there: it needs a custom domain (FUNCTIONS_CUSTOM_DOMAIN)
    const dashboard = await fetch(config.functionUrl("dashboard"));
    expect(dashboard.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await dashboard.text()).toContain('name="access_token"');
  });
});

describe("a drain cut off by a limit loses nothing", () => {
  test(
    "jobs leased by a worker ended at its wall clock come back when their leases expire, and succeed once",
    async () => {
      const run = uid().slice(0, 8);
      const { id: buyer, customerId } = await newBuyer(`limits-${run}@example.com`);
      // each order's first deal upsert hangs: its job stays leased until the worker holding it is ended
      const orders = 6;
      fake.failNext("hang", { match: /deals/, count: orders });
      const ids = await jobIds({
        orders: await Promise.all(Array.from({ length: orders }, () => paidOrder(buyer))),
        customers: [customerId],
      });
      const orderIds = (await sql<{ id: string }[]>`
      select payload ->> 'order_id' as id from ops.jobs where id = any(${ids}) and kind = 'crm.deal'`).map((r) => r.id);
      expect(orderIds).toHaveLength(orders);
      // a claimed job claimed again: it was cut off mid-run and its lease expired (a hang never fails it)
      await waitFor(
        "a deal job cut off and claimed again",
        async () =>
          (await sql`select count(*)::int as n from ops.jobs where id = any(${ids}) and attempts >= 2`)[0].n > 0,
        120_000,
        () => sweep(),
      );
      await settleJobs(ids, 180_000, () => sweep());
      const jobs = await sql<{ status: string; attempts: number }[]>`
      select status, attempts from ops.jobs where id = any(${ids})`;
      expect(jobs.every((j) => j.status === "succeeded")).toBe(true);
      expect(gatewayLog()).toMatch(/crm-sync: wall clock time limit reached; ending its worker/);
      // nothing lost, nothing twice: one deal per order in HubSpot
      expect(orderIds.map((o) => fake.deals(o).length)).toEqual(Array(orders).fill(1));
    },
    300_000,
  );
});
