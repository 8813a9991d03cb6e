-- pg_cron schedules: the delivery sweep every minute, and purges of pipeline bookkeeping after
-- their retention. cron.schedule with an existing name updates it, so this is safe to re-run.
-- Destructive by design: purges delete succeeded jobs, pg_net responses and cron run history.
create or replace function ops.purge_pipeline_history(
  p_jobs_after interval default interval '14 days',
  p_responses_after interval default interval '1 day',
  p_cron_runs_after interval default interval '7 days'
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  jobs_deleted bigint;
  responses_deleted bigint;
  runs_deleted bigint;
begin
  delete from ops.jobs where status = 'succeeded' and succeeded_at < now() - p_jobs_after;
  get diagnostics jobs_deleted = row_count;
  -- each purge on its own: one refused (other owners' tables on hosted) must not undo the others
  begin
    delete from net._http_response where created < now() - p_responses_after;
    get diagnostics responses_deleted = row_count;
  exception when insufficient_privilege then
    raise warning 'purge of net._http_response refused: %', sqlerrm;
  end;
  begin
    delete from cron.job_run_details where end_time < now() - p_cron_runs_after;
    get diagnostics runs_deleted = row_count;
  exception when insufficient_privilege then
    raise warning 'purge of cron.job_run_details refused: %', sqlerrm;
  end;
  return jsonb_build_object('jobs', jobs_deleted, 'http_responses', responses_deleted, 'cron_runs', runs_deleted);
end
$$;

-- every 10 s where pg_cron has second schedules (1.5+, as on hosted Supabase), else every minute
do $$
declare
  v int[] := (select (regexp_match(extversion, '^(\d+)\.(\d+)'))::int[] from pg_extension where extname = 'pg_cron');
begin
  perform cron.schedule('ops-sweep-jobs', case when v >= array[1, 5] then '10 seconds' else '* * * * *' end,
                        'select ops.sweep_jobs()');
end
$$;
-- The sweep's clock between cron runs: pg_cron 1.4 (Debian, the local stack) schedules by the minute,
-- hosted pg_cron by 10 s at best, so a retry falling due while no worker drains would wait that long.
-- Started every minute, this sweeps every second for 55 s, committing each tick so that pg_net sends
-- its dispatches; one ticker at a time (advisory lock). A DO block, not a procedure: it may COMMIT
-- without the SET clause a procedure could not have and the security advisors would want.
select cron.schedule('ops-job-ticker', '* * * * *', $cmd$
do $tick$
declare
  stop_at timestamptz := clock_timestamp() + interval '55 seconds';
begin
  if not pg_catalog.pg_try_advisory_lock(pg_catalog.hashtextextended('ops-job-ticker', 0)) then
    return; -- the previous minute's ticker still runs
  end if;
  while pg_catalog.clock_timestamp() < stop_at loop
    perform ops.sweep_jobs();
    commit;
    perform pg_catalog.pg_sleep(1);
  end loop;
end
$tick$
$cmd$);
-- failed Stripe events are re-applied a few times (a missing mapping may have been added), then dead:
-- one transaction per event, so one event's lock timeout leaves the others' outcomes and their
-- dead-marking in place. A DO block alone in its command may commit; a stored procedure could too,
-- but only without a SET search_path, which the security advisors rightly flag (lint 0011).
select cron.schedule('ops-retry-stripe-events', '*/15 * * * *', $cmd$do $$
declare
  v_event_id text;
begin
  for v_event_id in
    select e.event_id from ops.stripe_events e where e.status = 'failed' order by e.event_created limit 100
  loop
    perform ops.retry_failed_stripe_event(v_event_id);
    commit;
  end loop;
end
$$$cmd$);
select cron.schedule('ops-purge-history', '17 3 * * *', 'select ops.purge_pipeline_history()');
