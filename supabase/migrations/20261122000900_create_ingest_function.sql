-- Ingestion entry points: apply a Stripe event and record it once, in the same transaction;
-- re-apply failed events later from SQL (Studio) or `npm run replay`. The stripe_webhook role
-- may call ops.ingest_stripe_event and nothing else.

-- Applies one event in a subtransaction and says how it went: on error the domain changes roll back
-- and the error is returned with outcome 'failed'. Lock conflicts (40xxx) are retried a few times first.
create or replace function ops.apply_stripe_event_guarded(evt jsonb, out outcome text, out error text)
language plpgsql
set search_path = ''
as $$
declare
  err_state text;
  err_message text;
begin
  -- jobs enqueued while applying carry the event id (ops.enqueue_job reads it), for tracing
  perform set_config('ops.stripe_event_id', evt ->> 'id', true);
  for attempt in 1..3 loop
    begin
      outcome := ops.apply_stripe_event(evt);
      return;
    exception when others then
      get stacked diagnostics err_state = returned_sqlstate, err_message = message_text;
      if err_state like '40%' and attempt < 3 then
        perform pg_sleep(0.01 * attempt);
        continue;
      end if;
      -- a passing condition (lock or statement timeout, resources, serialization) is no verdict on
      -- the event: fail the whole delivery so nothing is recorded and Stripe delivers it again
      if err_state like '40%' or err_state like '53%' or err_state in ('55P03', '57014') then
        raise;
      end if;
      outcome := 'failed';
      error := left(err_state || ': ' || err_message, 1000);
      return;
    end;
  end loop;
end
$$;

-- Why an event is not this project's to apply (another mode or Connect account than ops.settings
-- names), or null. An event without livemode counts as a test-mode event; one without "account" is
-- the account's own.
create or replace function ops.stripe_event_scope_problem(evt jsonb, s ops.settings) returns text
language sql stable
set search_path = ''
as $$
  select case
    when coalesce(evt -> 'livemode' = 'true'::jsonb, false) <> s.stripe_livemode
      then format('a %s-mode event; this project takes %s-mode events only (ops.settings.stripe_livemode)',
                  case when s.stripe_livemode then 'test' else 'live' end,
                  case when s.stripe_livemode then 'live' else 'test' end)
    when coalesce(evt ->> 'account', s.stripe_account_id) is distinct from s.stripe_account_id
      then case when s.stripe_account_id is null
                then format('an event of the connected account %s; this project takes its own account''s events only '
                            '(ops.settings.stripe_account_id is not set)', evt ->> 'account')
                else format('an event of the account %s; this project takes events of %s and its own only '
                            '(ops.settings.stripe_account_id)', evt ->> 'account', s.stripe_account_id) end
  end
$$;

-- Re-applies one ledger event (replays, the 15-minute retry): its row is locked, then updated with
-- the outcome; a failed apply keeps status 'failed' and the error. The mode and account are checked
-- again against ops.settings as they are now, so no re-apply applies another mode's event; an event
-- whose payload the retention cleared is refused, since nothing is left to apply.
create or replace function ops.try_apply_stripe_event(p_event_id text) returns text
language plpgsql
set search_path = ''
as $$
declare
  e ops.stripe_events;
  reason text;
  applied record;
begin
  select * into e from ops.stripe_events where event_id = p_event_id for update;
  if not found then
    raise exception 'no Stripe event % in the ledger', p_event_id using errcode = 'no_data_found';
  end if;
  if e.payload_cleared_at is not null then
    raise exception 'Stripe event % cannot be re-applied: its payload was cleared on % (personal data retention, '
                    'ops.settings.personal_data_retention_days); what it changed then stays applied. For the current '
                    'state, look up % in Stripe', p_event_id, e.payload_cleared_at::date,
                    coalesce(e.object_id, 'its object')
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  reason := ops.stripe_event_scope_problem(e.payload, ops.current_settings());
  if reason is not null then
    update ops.stripe_events
       set status = 'ignored', ignored_reason = reason, attempts = attempts + 1, last_error = null, processed_at = now()
     where event_id = p_event_id;
    return 'ignored';
  end if;
  select * into applied from ops.apply_stripe_event_guarded(e.payload);
  update ops.stripe_events
     set status = applied.outcome, attempts = attempts + 1, last_error = applied.error, ignored_reason = null,
         processed_at = case when applied.outcome = 'failed' then processed_at else now() end
   where event_id = p_event_id;
  return applied.outcome;
end
$$;

-- A caller's Stripe configuration (its mode and Connect account: the webhook's STRIPE_LIVEMODE and
-- STRIPE_ACCOUNT_ID, the reconcile key's mode) must be the one ops.settings names: a disagreement is a
-- deployment error (55000), refused before anything is recorded. p_who names the caller in the message.
create or replace function ops.require_stripe_scope(cfg ops.settings, p_livemode boolean, p_account_id text, p_who text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if p_livemode <> cfg.stripe_livemode or nullif(p_account_id, '') is distinct from cfg.stripe_account_id then
    raise exception '% takes % events (STRIPE_ACCOUNT_ID=%) but ops.settings says % (%): make them agree',
      p_who, case when p_livemode then 'live-mode' else 'test-mode' end, coalesce(nullif(p_account_id, ''), 'unset'),
      case when cfg.stripe_livemode then 'live mode' else 'test mode' end, coalesce(cfg.stripe_account_id, 'no account')
      using errcode = 'object_not_in_prerequisite_state';
  end if;
end
$$;

-- security definer: the webhook's login role holds no table privileges; this is its only door.
-- p_livemode, p_account_id: the caller's configuration (the webhook's STRIPE_LIVEMODE and
-- STRIPE_ACCOUNT_ID), checked against ops.settings when p_livemode is given: a disagreement is a
-- deployment error, refused before anything is recorded so that Stripe delivers again once fixed.
-- p_sanitized: the caller replaced \u0000 escapes of the raw body (see _shared/stripe/sanitize.ts).
-- p_source: 'webhook', or 'reconciliation' for an event the reconcile job found in Stripe's event list
-- and not in the ledger (through ops.reconcile_ingest_event): the same checks, apply and record.
create or replace function ops.ingest_stripe_event(event jsonb, p_livemode boolean default null,
                                                   p_account_id text default null, p_sanitized boolean default false,
                                                   p_source text default 'webhook')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_event_id text := event ->> 'id';
  cfg ops.settings := ops.current_settings();
  existing text;
  reason text;
  applied record;
begin
  if p_livemode is not null then
    perform ops.require_stripe_scope(cfg, p_livemode, p_account_id, 'the ' || p_source);
  end if;
  if jsonb_typeof(event) <> 'object' or v_event_id is null or event ->> 'type' is null
     or jsonb_typeof(event -> 'data' -> 'object') is distinct from 'object'
     or coalesce(event ->> 'created', '') !~ '^\d+$' then
    raise exception 'not a Stripe event: id, type, created and data.object are required'
      using errcode = 'invalid_parameter_value';
  end if;
  -- concurrent copies of one event take turns here; the second reads the first's row once it committed
  perform pg_advisory_xact_lock(hashtextextended('ops.stripe_events:' || v_event_id, 0));
  select s.status into existing from ops.stripe_events s where s.event_id = v_event_id;
  if found then
    -- a redelivery, or a concurrent copy that committed first: nothing changes
    return jsonb_build_object('event_id', v_event_id, 'status', existing, 'duplicate', true);
  end if;
  -- another mode's or account's event is recorded and answered, never applied (no facts, no jobs)
  reason := ops.stripe_event_scope_problem(event, cfg);
  if reason is null then
    select * into applied from ops.apply_stripe_event_guarded(event);
  else
    select 'ignored' as outcome, null::text as error into applied;
  end if;
  -- recorded with its outcome in one insert, in the apply's transaction (a row inserted as 'received'
  -- and then updated would write the payload twice); a plain insert: a copy that got here anyway fails
  insert into ops.stripe_events (event_id, type, api_version, livemode, object_id, event_created, payload,
                                 status, attempts, last_error, processed_at, ignored_reason, sanitized, source)
  values (v_event_id, event ->> 'type', event ->> 'api_version', coalesce(event -> 'livemode' = 'true'::jsonb, false),
          event -> 'data' -> 'object' ->> 'id', to_timestamp((event ->> 'created')::bigint), event,
          applied.outcome, 1, applied.error, case when applied.outcome <> 'failed' then now() end,
          reason, coalesce(p_sanitized, false), coalesce(p_source, 'webhook'));
  return jsonb_build_object('event_id', v_event_id, 'status', applied.outcome, 'duplicate', false)
         || case when reason is null then '{}'::jsonb else jsonb_build_object('reason', reason) end;
end
$$;

-- Re-applies events that failed (or any named ones). Returns one row per event with its outcome.
create or replace function ops.reapply_stripe_events(p_event_ids text[] default null, p_limit integer default 100)
returns table (event_id text, status text)
language plpgsql
set search_path = ''
as $$
declare
  id text;
begin
  for id in
    select e.event_id from ops.stripe_events e
     where (p_event_ids is null and e.status = 'failed') or e.event_id = any (p_event_ids)
     order by e.event_created, e.received_at
     limit p_limit
  loop
    event_id := id;
    status := ops.try_apply_stripe_event(id);
    return next;
  end loop;
end
$$;

-- Re-applies one failed event: pg_cron's ops-retry-stripe-events runs it for each failed event every
-- 15 minutes, committing after each (migration 1100), so that a fix such as a new status mapping
-- heals events without a person, and one event's lock timeout never rolls back the others'
-- outcomes or their dead-marking. A passing condition (a lock timeout, 3 s here since pg_cron's
-- role has none; a deadlock; resources) leaves the event as it was for the next run. After
-- p_max_attempts a still failing event is dead and waits in pipeline_exceptions. Returns the
-- event's status afterwards, or null when it was not failed.
create or replace function ops.retry_failed_stripe_event(p_event_id text, p_max_attempts integer default 5)
returns text
language plpgsql
set search_path = ''
set lock_timeout = '3s'
as $$
declare
  v_attempts integer;
  v_state text;
  v_message text;
begin
  select e.attempts into v_attempts from ops.stripe_events e where e.event_id = p_event_id and e.status = 'failed';
  if not found then
    return null;
  end if;
  if v_attempts < p_max_attempts then
    begin
      perform ops.try_apply_stripe_event(p_event_id);
    exception when others then
      -- only passing conditions reach here (ops.try_apply_stripe_event records every verdict)
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'Stripe event % not retried this time (%: %); the next run tries it again', p_event_id, v_state,
        v_message;
      return 'failed';
    end;
  end if;
  update ops.stripe_events set status = 'dead'
   where event_id = p_event_id and status = 'failed' and attempts >= p_max_attempts;
  return (select e.status from ops.stripe_events e where e.event_id = p_event_id);
end
$$;

grant execute on function ops.ingest_stripe_event(jsonb, boolean, text, boolean, text) to stripe_webhook, service_role;
comment on function ops.ingest_stripe_event(jsonb, boolean, text, boolean, text) is 'Records a Stripe event once (by '
  'id) and applies it when it belongs to the mode and account ops.settings names (else: ignored, with its reason); '
  'duplicates change nothing. Returns {event_id, status, duplicate[, reason]}.';
comment on function ops.reapply_stripe_events(text[], integer) is 'Re-applies failed Stripe events (or the named '
  'ones), oldest first. Usage: select * from ops.reapply_stripe_events();';
