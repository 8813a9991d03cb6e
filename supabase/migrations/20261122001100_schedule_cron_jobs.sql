-- pg_cron schedules: the delivery sweep every minute, and purges of pipeline bookkeeping after
-- their retention. cron.schedule with an existing name updates it, so this is safe to re-run.
-- Destructive by design: purges delete succeeded jobs, pg_net responses and cron run history, and
-- reduce old ledger payloads and captured CRM calls to their ids, statuses and amounts.

-- What a ledger payload keeps after the retention: the event's envelope and its object's ids,
-- statuses, amounts and dates (scalars only: an expanded customer object goes, its id stays where
-- Stripe sent an id); names, emails, addresses, custom fields, descriptions and line items go.
create or replace function ops.stripe_payload_skeleton(evt jsonb) returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', evt -> 'id', 'object', evt -> 'object', 'type', evt -> 'type', 'created', evt -> 'created',
    'livemode', evt -> 'livemode', 'api_version', evt -> 'api_version', 'account', evt -> 'account',
    'data', jsonb_build_object('object', (
      select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
           || jsonb_strip_nulls(jsonb_build_object('metadata', nullif(jsonb_strip_nulls(jsonb_build_object(
                'order_id', evt -> 'data' -> 'object' -> 'metadata' -> 'order_id',
                'user_id', evt -> 'data' -> 'object' -> 'metadata' -> 'user_id')), '{}'::jsonb)))
        from jsonb_each(case when jsonb_typeof(evt -> 'data' -> 'object') = 'object' then evt -> 'data' -> 'object'
                        else '{}' end) f
       where jsonb_typeof(f.value) in ('string', 'number', 'boolean')
         and f.key in ('id', 'object', 'status', 'payment_status', 'mode', 'livemode', 'created', 'currency',
                       'amount', 'amount_total', 'amount_subtotal', 'amount_received', 'amount_capturable',
                       'amount_refunded', 'amount_paid', 'amount_due', 'amount_remaining', 'total', 'subtotal',
                       'refunded', 'paid', 'captured', 'disputed', 'reason', 'client_reference_id',
                       'customer', 'payment_intent', 'latest_charge', 'charge', 'invoice', 'subscription',
                       'cancel_at_period_end', 'canceled_at', 'ended_at', 'current_period_end')))))
$$;

-- What a captured CRM call keeps after the retention: ids, stages, amounts (not emails, names, notes).
create or replace function ops.crm_capture_skeleton(body jsonb) returns jsonb
language sql immutable
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
    from jsonb_each(case when jsonb_typeof(body) = 'object' then body else '{}' end) f
   where jsonb_typeof(f.value) in ('string', 'number', 'boolean')
     and f.key in ('id', 'orderKey', 'dealId', 'contactId', 'stage', 'lifecycleStage', 'billingStatus',
                   'amount', 'currency', 'refundedAmount', 'needsReview', 'occurredAt')
$$;

-- Personal data retention: ledger payloads and captured CRM calls older than p_after (default:
-- ops.settings.personal_data_retention_days) keep only ids, types, statuses and amounts. Failed
-- and dead events keep theirs until re-applied (a re-apply needs the payload), as dead jobs stay
-- until replayed or resolved. A contact capture's key is its email: it goes too.
create or replace function ops.clear_personal_data(p_after interval default null) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  cutoff timestamptz := now()
    - coalesce(p_after, make_interval(days => (ops.current_settings()).personal_data_retention_days));
  events_cleared bigint;
  captures_cleared bigint;
  notifications_cleared bigint;
begin
  update ops.stripe_events
     set payload = ops.stripe_payload_skeleton(payload), payload_cleared_at = now()
   where received_at < cutoff and status in ('processed', 'ignored') and payload_cleared_at is null;
  get diagnostics events_cleared = row_count;
  update ops.crm_capture
     set body = ops.crm_capture_skeleton(body), key = case when operation in ('deal', 'note') then key end,
         cleared_at = now()
   where created_at < cutoff and cleared_at is null;
  get diagnostics captures_cleared = row_count;
  -- captured emails and Slack texts keep their id and tags; the send log keeps template, entity and
  -- status, not the address
  update ops.notification_captures
     set body = jsonb_build_object('id', body -> 'id', 'tags', body -> 'tags'), cleared_at = now()
   where created_at < cutoff and cleared_at is null;
  update ops.notifications set recipient = 'cleared', detail = null
   where created_at < cutoff and recipient <> 'cleared' and channel = 'email';
  get diagnostics notifications_cleared = row_count;
  return jsonb_build_object('event_payloads', events_cleared, 'crm_captures', captures_cleared,
    'notifications', notifications_cleared);
end
$$;
-- Dead and failed jobs stay, payload and all, until replayed or resolved: only succeeded ones go.
drop function if exists ops.purge_pipeline_history(interval, interval, interval, interval, interval);
create or replace function ops.purge_pipeline_history(
  p_jobs_after interval default interval '14 days',
  p_responses_after interval default interval '1 day',
  p_cron_runs_after interval default interval '7 days',
  p_personal_data_after interval default null,
  p_outcomes_after interval default interval '7 days',
  p_findings_after interval default interval '90 days'
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  jobs_deleted bigint;
  responses_deleted bigint;
  runs_deleted bigint;
  outcomes_deleted bigint;
  grants_deleted bigint;
  buckets_deleted bigint;
  findings_deleted bigint;
begin
  delete from ops.jobs where status = 'succeeded' and succeeded_at < now() - p_jobs_after;
  get diagnostics jobs_deleted = row_count;
  -- the webhook's per-minute answer counters (ops.endpoint_outcomes, migration 2000)
  delete from ops.endpoint_outcomes where minute < now() - p_outcomes_after;
  get diagnostics outcomes_deleted = row_count;
  -- rate budgets (migration 1200): windows last a minute at most (HubSpot 10 s, support-intake per
  -- user and per address 60 s), so day-old grants count for nothing, and a bucket left without grants
  -- (one per user and address ever seen) goes too. A bucket a taker holds is skipped: the taker's
  -- upsert locks it (ops.take_rate_tokens), or re-creates it once this delete commits.
  delete from ops.rate_limit_grants where granted_at < now() - interval '1 day';
  get diagnostics grants_deleted = row_count;
  delete from ops.rate_limit_buckets b
   where b.bucket in (select x.bucket from ops.rate_limit_buckets x
                       where not exists (select 1 from ops.rate_limit_grants g where g.bucket = x.bucket)
                       for update skip locked);
  get diagnostics buckets_deleted = row_count;
  -- resolved reconciliation findings (migration 2100); open ones stay until resolved
  delete from ops.reconciliation_findings where status = 'resolved' and resolved_at < now() - p_findings_after;
  get diagnostics findings_deleted = row_count;
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
  return jsonb_build_object('jobs', jobs_deleted, 'http_responses', responses_deleted, 'cron_runs', runs_deleted,
                            'endpoint_outcomes', outcomes_deleted, 'rate_limit_grants', grants_deleted,
                            'rate_limit_buckets', buckets_deleted, 'reconciliation_findings', findings_deleted)
         || ops.clear_personal_data(p_personal_data_after);
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
