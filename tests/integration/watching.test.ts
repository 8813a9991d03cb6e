// Watching from outside (#19) over HTTP, in a world of its own: the health function's answers (ok, degraded on a
// dead job or a stalled evaluator, 503 down when its database URL leads nowhere, 405 for anything but GET, no
// personal data), and the dead-man's switch through the real pg_net (or the stand-in) to a heartbeat server of
// this file's own: each run of pg_cron's alert command pings once, pg_cron itself pings within its minute, no
// heartbeat_url means no ping, and an evaluator that fails sends none. Cron runs are the cron job's own command,
// run by the test (no waiting for minutes), except one test that waits for pg_cron's own tick.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { closedPort } from "../helpers/closed-port.ts";
import { sql } from "../helpers/db.ts";
import { restartGateway, waitFor } from "../helpers/stack.ts";
import "../helpers/require-stack.ts";

const HEALTH_URL = config.functionUrl("health");
const pings: Array<{ method: string; path: string }> = [];
let heartbeat: Server;
let base = "";

type Health = { status: string; reasons: string[]; checks: Record<string, unknown>; checked_at: string };
async function health(): Promise<{ status: number; body: Health; text: string }> {
  const res = await fetch(HEALTH_URL);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Health, text };
}
const pingsTo = (path: string) => pings.filter((p) => p.path === path).length;
async function setHeartbeatUrl(url: string | null) {
  await sql`delete from vault.secrets where name = 'heartbeat_url'`;
  if (url) await sql`select vault.create_secret(${url}, 'heartbeat_url', 'watching.test.ts')`;
}
/** pg_cron's alert job, run as pg_cron runs it: its command, as postgres. */
async function cronRun() {
  const [{ command }] = await sql<{ command: string }[]>`
    select command from cron.job where jobname = 'ops-evaluate-alerts'`;
  await sql.unsafe(command);
}

beforeAll(async () => {
  heartbeat = createServer((req, res) => {
    pings.push({ method: req.method!, path: new URL(req.url!, "http://x").pathname });
    res.writeHead(200).end("OK");
  });
  await new Promise<void>((ok) => heartbeat.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(heartbeat.address() as AddressInfo).port}`;
  // a short cache, so a change shows within a second or so (the cache itself: tests/unit/health-status.test.ts)
  await startWorld({ HEALTH_CACHE_SECONDS: "1" });
  await sql`select ops.run_alert_evaluation()`; // pg_cron's first minute may not have come yet
  // a person's data in the database, which the health answer must never carry
  await sql`insert into public.customers (email, name) values ('someone.private@example.com', 'Private Person')`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  heartbeat?.close();
}, 180_000);

describe("the health function", () => {
  test("a healthy deployment answers 200 ok with every check, and nothing personal", async () => {
    const { status, body, text } = await waitFor("health ok", async () => {
      const h = await health();
      return h.body.status === "ok" ? h : undefined;
    }, 30_000);
    expect(status).toBe(200);
    expect(body.reasons).toEqual([]);
    expect(body.checks).toMatchObject({
      database: "ok",
      oldest_due_job_age_s: expect.any(Number),
      dead_jobs: 0,
      open_critical_incidents: 0,
      cron: { status: "ok", jobs_active: expect.any(Number) },
    });
    // test mode: the live-only check is absent
    expect(body.checks).not.toHaveProperty("last_stripe_event_age_s");
    expect(text).not.toMatch(/@|Private|someone/);
    expect(Object.keys(body).sort()).toEqual(["checked_at", "checks", "reasons", "status"]);
  });

  test("a dead job makes it degraded (still 200, for monitors that alert on the status field)", async () => {
    const [job] = await sql<{ id: string }[]>`
      insert into ops.jobs (kind, dedupe_key, max_attempts, status, attempts, run_at, last_error)
      values ((select kind from ops.job_kinds order by kind limit 1), 'watching:dead', 1, 'dead', 1, now(),
              'test: someone.private@example.com failed')
      returning id`;
    const h = await waitFor("health degraded", async () => {
      const r = await health();
      return r.body.status === "degraded" ? r : undefined;
    }, 30_000);
    expect(h.status).toBe(200);
    expect(h.body.checks.dead_jobs).toBe(1);
    expect(h.body.reasons).toEqual(["1 dead job(s)"]);
    expect(h.text).not.toMatch(/@|someone/);
    await sql`delete from ops.jobs where id = ${job.id}`;
    await waitFor("health ok again", async () => (await health()).body.status === "ok", 30_000);
  });

  test("anything but GET is 405, naming GET", async () => {
    const res = await fetch(HEALTH_URL, { method: "POST", body: "{}" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    expect(await res.json()).toEqual({ error: "method not allowed: use GET" });
  });
});

describe("the dead-man's switch", () => {
  beforeAll(async () => {
    // the test's runs only, until the test of pg_cron's own tick
    await sql`select cron.alter_job(jobid, active => false) from cron.job where jobname = 'ops-evaluate-alerts'`;
  });

  test("without a heartbeat_url the evaluation runs and nothing is pinged", async () => {
    await setHeartbeatUrl(null);
    const before = pings.length;
    await cronRun();
    const [{ fresh }] = await sql`select max(evaluated_at) > now() - interval '1 minute' as fresh
                                    from ops.alert_rule_state`;
    expect(fresh).toBe(true);
    // a run with a URL after it: once its ping is in, a ping of the run without one would be too
    await setHeartbeatUrl(`${base}/after-none`);
    await cronRun();
    await waitFor("the ping after setting the URL", async () => pingsTo("/after-none") === 1, 30_000);
    expect(pings.length).toBe(before + 1);
  });

  test("each run of the cron job's command pings the heartbeat once (a GET)", async () => {
    await setHeartbeatUrl(`${base}/each-minute`);
    for (let i = 0; i < 3; i++) await cronRun();
    await waitFor("three pings", async () => pingsTo("/each-minute") >= 3, 30_000);
    // a run that comes after them, so a fourth would have arrived by now had one been sent twice
    await setHeartbeatUrl(`${base}/marker`);
    await cronRun();
    await waitFor("the marker ping", async () => pingsTo("/marker") === 1, 30_000);
    expect(pingsTo("/each-minute")).toBe(3);
    expect(pings.filter((p) => p.path === "/each-minute").every((p) => p.method === "GET")).toBe(true);
  });

  test("an evaluator that fails stops the pings; when it is back they resume", async () => {
    await setHeartbeatUrl(`${base}/stopped`);
    await sql`alter function ops.evaluate_alerts(timestamptz) rename to evaluate_alerts_off`;
    try {
      for (let i = 0; i < 2; i++) await expect(cronRun()).rejects.toThrow(/evaluate_alerts/);
    } finally {
      await sql`alter function ops.evaluate_alerts_off(timestamptz) rename to evaluate_alerts`;
    }
    await setHeartbeatUrl(`${base}/resumed`);
    await cronRun();
    await waitFor("the ping after the evaluator is back", async () => pingsTo("/resumed") === 1, 30_000);
    expect(pingsTo("/stopped")).toBe(0);
  });

  test("pg_cron itself pings within its minute", async () => {
    await setHeartbeatUrl(`${base}/pg-cron`);
    await sql`select cron.alter_job(jobid, active => true) from cron.job where jobname = 'ops-evaluate-alerts'`;
    await waitFor("pg_cron's ping", async () => pingsTo("/pg-cron") >= 1, 150_000);
    // only pg_cron runs the job now: the test's own runs pinged other paths
    expect(pings.filter((p) => p.path === "/pg-cron").every((p) => p.method === "GET")).toBe(true);
  }, 180_000);
});

// last: it restarts the world's gateway
test("health answers 503 down when its database cannot be reached", async () => {
  await restartGateway({ HEALTH_DB_URL: `postgresql://health:x@127.0.0.1:${await closedPort()}/postgres` });
  const res = await fetch(HEALTH_URL);
  expect(res.status).toBe(503);
  const body = await res.json() as Health;
  expect(body.status).toBe("down");
  expect(body.checks).toEqual({ database: "unreachable" });
  expect(JSON.stringify(body)).not.toContain("health:x");
}, 120_000);
