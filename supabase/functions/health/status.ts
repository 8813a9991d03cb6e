// The health answer's thresholds (#19): ok, degraded or down from the database's snapshot (ops.health_snapshot),
// and the few seconds' cache that keeps the endpoint cheap under any monitor's polling.

/** What ops.health_snapshot() answers: counts and ages in seconds, nothing personal. */
export type Snapshot = {
  oldest_due_job_age_s: number;
  dead_jobs: number;
  open_critical_incidents: number;
  stripe_livemode: boolean;
  last_stripe_event_age_s: number | null;
  cron_jobs_active: number;
  evaluator_active: boolean;
  last_evaluation_age_s: number | null;
};

export type Health = {
  status: "ok" | "degraded" | "down";
  /** why it is not ok, one short phrase each (empty when ok) */
  reasons: string[];
  checks: Record<string, unknown>;
  checked_at: string;
};

/** Degraded above these (documented in docs/architecture.md, Watching from outside). Down: no database. */
export const THRESHOLDS = {
  /** a due job waiting longer than this: the sweep or the functions are stuck (it dispatches every 10-60 s) */
  oldestDueJobAgeS: 600,
  /** any dead job or open critical incident needs a person */
  deadJobs: 0,
  openCriticalIncidents: 0,
  /** while live: no Stripe event for a day (the stripe_quiet alert's neighbourhood) */
  lastStripeEventAgeS: 86_400,
  /** pg_cron evaluates the alerts every minute: three missed minutes and nothing can page */
  lastEvaluationAgeS: 180,
} as const;

export function classify(s: Snapshot, at: Date): Health {
  const reasons: string[] = [];
  if (s.dead_jobs > THRESHOLDS.deadJobs) reasons.push(`${s.dead_jobs} dead job(s)`);
  if (s.open_critical_incidents > THRESHOLDS.openCriticalIncidents) {
    reasons.push(`${s.open_critical_incidents} open critical incident(s)`);
  }
  if (s.oldest_due_job_age_s > THRESHOLDS.oldestDueJobAgeS) {
    reasons.push(`a due job has waited ${s.oldest_due_job_age_s} s`);
  }
  const live = s.stripe_livemode && s.last_stripe_event_age_s !== null;
  if (live && s.last_stripe_event_age_s! > THRESHOLDS.lastStripeEventAgeS) {
    reasons.push(`no live Stripe event for ${s.last_stripe_event_age_s} s`);
  }
  const cronOk = s.evaluator_active && s.last_evaluation_age_s !== null &&
    s.last_evaluation_age_s <= THRESHOLDS.lastEvaluationAgeS;
  if (!cronOk) {
    reasons.push(
      !s.evaluator_active
        ? "the alert evaluator's cron job is not active"
        : s.last_evaluation_age_s === null
        ? "the alerts were never evaluated"
        : `the alerts were last evaluated ${s.last_evaluation_age_s} s ago`,
    );
  }
  const checks: Record<string, unknown> = {
    database: "ok",
    oldest_due_job_age_s: s.oldest_due_job_age_s,
    dead_jobs: s.dead_jobs,
    open_critical_incidents: s.open_critical_incidents,
    ...(live ? { last_stripe_event_age_s: s.last_stripe_event_age_s } : {}),
    cron: {
      status: cronOk ? "ok" : "stalled",
      jobs_active: s.cron_jobs_active,
      last_evaluation_age_s: s.last_evaluation_age_s,
    },
  };
  return { status: reasons.length ? "degraded" : "ok", reasons, checks, checked_at: at.toISOString() };
}

export function down(at: Date): Health {
  return {
    status: "down",
    reasons: ["the database is unreachable"],
    checks: { database: "unreachable" },
    checked_at: at.toISOString(),
  };
}

/** One answer per `ttlMs`: calls within it share the last answer (or the one in flight); `now` is injectable. */
export function cached<T>(ttlMs: number, load: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const t = now();
    if (!last || t - last.at >= ttlMs) last = { at: t, value: load() };
    return last.value;
  };
}
