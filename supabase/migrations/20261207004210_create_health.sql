-- The health function's database side (#19): its own login role, health, with one door, ops.health_snapshot(),
-- which answers counts and ages for an uptime monitor (no row, no id, no personal data). The function turns them
-- into ok / degraded / down (supabase/functions/health/status.ts holds the thresholds). Nothing destructive.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'health') then
    -- the health function's login role: it owns nothing, reads no table, and calls ops.health_snapshot() only
    create role health nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to health;
-- an uptime monitor polls every 30-60 s; a slow database answers "down" quickly rather than hanging
alter role health set lock_timeout = '1s';
alter role health set statement_timeout = '3s';
alter role health set idle_in_transaction_session_timeout = '10s';

-- security definer: the role health reads no table; this answers aggregates of the job queue, the incidents,
-- the ledger and pg_cron for an unauthenticated monitor: counts and ages in seconds, never a row.
create or replace function ops.health_snapshot() returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'oldest_due_job_age_s', coalesce(floor(extract(epoch from now() - (
        select min(j.run_at) from ops.jobs j
         where j.status in ('queued', 'failed') and j.run_at <= now()))), 0)::bigint,
    'dead_jobs', (select count(*) from ops.jobs j where j.status = 'dead'),
    'open_critical_incidents', (select count(*) from ops.alert_incidents i join ops.alert_rules r on r.rule = i.rule
                                 where i.status = 'open' and r.severity = 'critical'),
    'stripe_livemode', s.stripe_livemode,
    -- while live: since the last live event, or since going live when none came yet
    'last_stripe_event_age_s', case when s.stripe_livemode then floor(extract(epoch from now() - coalesce(
        (select max(e.received_at) from ops.stripe_events e where e.livemode), s.stripe_live_since, now())))::bigint
      end,
    'cron_jobs_active', (select count(*) from cron.job c where c.active),
    'evaluator_active', exists (select 1 from cron.job c where c.jobname = 'ops-evaluate-alerts' and c.active),
    -- the evaluator writes every rule's state on each run: its age is pg_cron's pulse (a server that started since
    -- counts from its start: pg_cron has had no minute yet)
    'last_evaluation_age_s', floor(extract(epoch from now() - coalesce(
        (select max(st.evaluated_at) from ops.alert_rule_state st), pg_catalog.pg_postmaster_start_time())))::bigint
  )
  from ops.settings s
$$;
revoke execute on function ops.health_snapshot() from public, anon, authenticated, service_role;
grant execute on function ops.health_snapshot() to health;
comment on function ops.health_snapshot() is 'The health function''s one door: the oldest due job''s age, dead jobs, '
  'open critical incidents, the last live Stripe event''s age (live mode only) and pg_cron''s pulse; aggregates only.';
