// The health answer's thresholds and cache (#19): ok below every threshold, degraded above any (each named in
// reasons), down without a database; the cache answers from one load per window, with an injected clock.
import { describe, expect, test } from "vitest";
import { cached, classify, down, type Snapshot, THRESHOLDS } from "../../supabase/functions/health/status.ts";

const healthy: Snapshot = {
  oldest_due_job_age_s: 12,
  dead_jobs: 0,
  open_critical_incidents: 0,
  stripe_livemode: false,
  last_stripe_event_age_s: null,
  cron_jobs_active: 9,
  evaluator_active: true,
  last_evaluation_age_s: 30,
};
const at = new Date("2026-12-07T12:00:00Z");

describe("health status", () => {
  test("below every threshold it is ok, with the checks and no reasons", () => {
    const h = classify(healthy, at);
    expect(h).toEqual({
      status: "ok",
      reasons: [],
      checks: {
        database: "ok",
        oldest_due_job_age_s: 12,
        dead_jobs: 0,
        open_critical_incidents: 0,
        cron: { status: "ok", jobs_active: 9, last_evaluation_age_s: 30 },
      },
      checked_at: "2026-12-07T12:00:00.000Z",
    });
  });

  test.each(
    [
      [{ dead_jobs: 2 }, "2 dead job(s)"],
      [{ open_critical_incidents: 1 }, "1 open critical incident(s)"],
      [{ oldest_due_job_age_s: THRESHOLDS.oldestDueJobAgeS + 1 }, "a due job has waited 601 s"],
      [{ stripe_livemode: true, last_stripe_event_age_s: 90_000 }, "no live Stripe event for 90000 s"],
      [{ last_evaluation_age_s: 181 }, "the alerts were last evaluated 181 s ago"],
      [{ last_evaluation_age_s: null }, "the alerts were never evaluated"],
      [{ evaluator_active: false }, "the alert evaluator's cron job is not active"],
    ] as const,
  )("%j makes it degraded: %s", (change, reason) => {
    const h = classify({ ...healthy, ...change }, at);
    expect(h.status).toBe("degraded");
    expect(h.reasons).toEqual([reason]);
  });

  test("at the thresholds it is still ok", () => {
    const h = classify({
      ...healthy,
      oldest_due_job_age_s: THRESHOLDS.oldestDueJobAgeS,
      last_evaluation_age_s: THRESHOLDS.lastEvaluationAgeS,
      stripe_livemode: true,
      last_stripe_event_age_s: THRESHOLDS.lastStripeEventAgeS,
    }, at);
    expect(h.status).toBe("ok");
    expect(h.checks.last_stripe_event_age_s).toBe(THRESHOLDS.lastStripeEventAgeS);
  });

  test("without a database it is down, with nothing else to say", () => {
    expect(down(at)).toEqual({
      status: "down",
      reasons: ["the database is unreachable"],
      checks: { database: "unreachable" },
      checked_at: "2026-12-07T12:00:00.000Z",
    });
  });
});

describe("health cache", () => {
  test("calls within the window share one load; the next window loads again", async () => {
    let t = 1_000;
    let loads = 0;
    const get = cached(5_000, () => Promise.resolve(++loads), () => t);
    expect(await get()).toBe(1);
    t += 4_999;
    expect(await Promise.all([get(), get()])).toEqual([1, 1]);
    t += 1;
    expect(await get()).toBe(2);
    expect(loads).toBe(2);
  });

  test("a window of 0 loads every time", async () => {
    let loads = 0;
    const get = cached(0, () => Promise.resolve(++loads), () => 42);
    await get();
    await get();
    expect(loads).toBe(2);
  });
});
