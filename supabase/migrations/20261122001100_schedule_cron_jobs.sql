-- pg_cron schedules: the delivery sweep every minute, and the daily purge, which runs the retention
-- policies features register in ops.retention_policies (this one registers the job engine's, pg_net's,
-- pg_cron's and the ledger's). cron.schedule with an existing name updates it, so this is safe to re-run.
-- Destructive by design: purges delete succeeded jobs, pg_net responses and cron run history, and
-- reduce old ledger payloads (and later features' personal data) to their ids, statuses and amounts.

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

-- ---------------------------------------------------------------- retention policies
-- Each feature registers what it purges, and how long it keeps it, as a row here naming its purge
-- function; ops.purge_pipeline_history (pg_cron, daily) runs them all. Features insert their rows with
-- on conflict do nothing, so a founder's edits (keep, enabled) survive migrations. A new policy is a
-- function and a row:
--   create function ops.purge_my_table(p_keep interval) returns bigint ...;  -- rows deleted or cleared
--   insert into ops.retention_policies (name, description, purge_fn, keep)
--   values ('my_table', '...', 'ops.purge_my_table(interval)', interval '30 days') on conflict (name) do nothing;
create table if not exists ops.retention_policies (
  name text primary key check (name ~ '^[a-z][a-z0-9_]{1,62}$'),
  description text not null,
  -- (p_keep interval) returns bigint: purges what is older than p_keep, returns how many rows it changed
  purge_fn text not null,
  -- how long rows are kept; null for personal data, kept for ops.settings.personal_data_retention_days
  keep interval check (keep > interval '0'),
  enabled boolean not null default true
);
comment on table ops.retention_policies is 'What each feature purges and after how long (keep; null: personal data, '
  'ops.settings.personal_data_retention_days), by its purge function; ops.purge_pipeline_history runs every enabled '
  'one daily. Editable in Studio.';
alter table ops.retention_policies enable row level security;
revoke all on ops.retention_policies from public, anon, authenticated;
grant select on ops.retention_policies to service_role;

-- A typo in Studio is refused when saved, not by a failing purge every night.
create or replace function ops.retention_policies_require_purge_fn() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.purge_fn := ops.require_function_shape(new.purge_fn, '(interval) returns bigint',
                                             format('purge_fn of retention policy %s', new.name));
  return new;
end
$$;
drop trigger if exists retention_policies_100_require_purge_fn on ops.retention_policies;
create trigger retention_policies_100_require_purge_fn before insert or update of purge_fn on ops.retention_policies
  for each row execute function ops.retention_policies_require_purge_fn();

-- Runs the enabled policies (only those of personal data with p_personal_only), personal data kept for
-- p_personal_keep (default: ops.settings.personal_data_retention_days). Each policy on its own: one that
-- fails (another owner's table on hosted refuses us) is a warning and its error in the report, and the
-- others still purge. Reports {policy: rows, ..., errors: {policy: message}} (errors only when some failed).
create or replace function ops.run_retention_policies(p_personal_only boolean, p_personal_keep interval default null)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  p ops.retention_policies;
  personal_keep interval := coalesce(p_personal_keep,
                                     make_interval(days => (ops.current_settings()).personal_data_retention_days));
  report jsonb := '{}'::jsonb;
  errors jsonb := '{}'::jsonb;
  n bigint;
  failure text;
begin
  for p in select * from ops.retention_policies rp
            where rp.enabled and (rp.keep is null or not p_personal_only) order by rp.name loop
    begin
      execute format('select %s($1)', ops.registered_function(p.purge_fn, 'retention policy ' || p.name))
         into n using coalesce(p.keep, personal_keep);
      report := report || jsonb_build_object(p.name, n);
    exception when others then
      get stacked diagnostics failure = message_text;
      raise warning 'retention policy %: its purge % failed: %', p.name, p.purge_fn, failure;
      report := report || jsonb_build_object(p.name, null);
      errors := errors || jsonb_build_object(p.name, failure);
    end;
  end loop;
  return report || case when errors <> '{}'::jsonb then jsonb_build_object('errors', errors) else '{}'::jsonb end;
end
$$;

-- pg_cron's daily purge: every enabled retention policy.
drop function if exists ops.purge_pipeline_history(interval, interval, interval, interval, interval),
  ops.purge_pipeline_history(interval, interval, interval, interval, interval, interval);
create or replace function ops.purge_pipeline_history() returns jsonb
language sql
set search_path = ''
as $$
  select ops.run_retention_policies(false)
$$;
comment on function ops.purge_pipeline_history() is 'Runs every enabled retention policy (ops.retention_policies) '
  'and reports the rows each purged; pg_cron runs it daily.';

-- Personal data retention alone: the policies whose keep is null (ledger payloads, captured CRM calls,
-- notifications), for p_after (default: ops.settings.personal_data_retention_days). Failed and dead
-- events keep their payload until re-applied (a re-apply needs it), as dead jobs stay until replayed.
create or replace function ops.clear_personal_data(p_after interval default null) returns jsonb
language sql
set search_path = ''
as $$
  select ops.run_retention_policies(true, p_after)
$$;

-- ---------------------------------------------------------------- this far's policies
-- Dead and failed jobs stay, payload and all, until replayed or resolved: only succeeded ones go.
create or replace function ops.purge_jobs(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from ops.jobs where status = 'succeeded' and succeeded_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;

-- pg_net's responses to our dispatches (net._http_response is pg_net's owner's on hosted: a refusal is
-- that policy's error only)
create or replace function ops.purge_http_responses(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from net._http_response where created < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;

create or replace function ops.purge_cron_runs(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from cron.job_run_details where end_time < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;

-- Personal data: ledger payloads become their skeleton; the ledger's columns stay. Only processed and
-- ignored events: failed and dead ones keep their payload until re-applied.
create or replace function ops.purge_event_payloads(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    update ops.stripe_events
       set payload = ops.stripe_payload_skeleton(payload), payload_cleared_at = now()
     where received_at < now() - p_keep and status in ('processed', 'ignored') and payload_cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;

insert into ops.retention_policies (name, description, purge_fn, keep)
values
  ('jobs', 'Succeeded jobs (dead and failed ones stay until replayed or resolved)', 'ops.purge_jobs(interval)',
   interval '14 days'),
  ('http_responses', 'pg_net''s responses to our dispatches (net._http_response)',
   'ops.purge_http_responses(interval)', interval '1 day'),
  ('cron_runs', 'pg_cron''s run history (cron.job_run_details)', 'ops.purge_cron_runs(interval)', interval '7 days'),
  ('event_payloads', 'Personal data: processed and ignored ledger payloads become their ids, types, statuses and '
   'amounts (ops.stripe_payload_skeleton)', 'ops.purge_event_payloads(interval)', null)
on conflict (name) do nothing;

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
