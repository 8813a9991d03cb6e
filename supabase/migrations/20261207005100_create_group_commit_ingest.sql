-- Group commit (#21): the webhook hands the events that queued while its previous transaction ran to one
-- ops.ingest_stripe_events call, one transaction for all of them, each event keeping its own outcome. Adds
-- the function and its grant; ops.ingest_stripe_event (one event) stays for reconciliation and scripts.

-- security definer: the webhook's login role holds no table privileges; this and ops.ingest_stripe_event are
-- its only doors. p_bodies: verified raw bodies (NUL escapes replaced), in arrival order; p_sanitized: per body,
-- whether the caller replaced escapes. Returns a jsonb array, one element per body, in the same order:
--   {event_id, status, duplicate[, reason]}  recorded (or found) in this transaction: the caller answers 2xx
--                                            only once this transaction committed;
--   {invalid: sqlstate}                      the body is no storable Stripe event: 400, nothing recorded;
--   {unavailable: sqlstate}                  a passing condition (lock or statement timeout, deadlock,
--                                            resources) while applying it: its apply was rolled back, nothing
--                                            recorded, 503 so that Stripe delivers it again.
-- Each apply runs in its own subtransaction: a failing apply marks that event failed and nothing else. The
-- advisory locks of all the batch's event ids are taken first, in one order, so concurrent batches never
-- deadlock on them; a copy recorded by a batch that committed meanwhile is a duplicate, as is a second copy
-- inside the batch. A configuration disagreement (55000) or an error outside the per-event blocks fails the
-- whole call: nothing of the batch is recorded, and the caller answers each of its requests 503.
create or replace function ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[] default null,
                                                    p_livemode boolean default null, p_account_id text default null,
                                                    p_source text default 'webhook')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  cfg ops.settings := ops.current_settings();
  n integer := coalesce(cardinality(p_bodies), 0);
  evs jsonb[] := array_fill(null::jsonb, array[n]);
  results jsonb[] := array_fill(null::jsonb, array[n]);
  ids text[] := '{}';
  lock_keys bigint[];
  lock_key bigint;
  seen jsonb;
  ev jsonb;
  v_id text;
  reason text;
  outcome text;
  err text;
  err_state text;
  err_message text;
  -- the rows recorded, one insert at the end (columns of ops.stripe_events)
  r_id text[] := '{}';
  r_ev jsonb[] := '{}';
  r_status text[] := '{}';
  r_error text[] := '{}';
  r_reason text[] := '{}';
  r_sanitized boolean[] := '{}';
begin
  if p_livemode is not null then
    perform ops.require_stripe_scope(cfg, p_livemode, p_account_id, 'the ' || coalesce(p_source, 'webhook'));
  end if;
  if n > 1000 then
    raise exception 'at most 1000 events per call (got %)', n using errcode = 'program_limit_exceeded';
  end if;
  -- parse and check each body on its own: one unstorable body is that event's answer only
  for i in 1..n loop
    begin
      ev := p_bodies[i]::jsonb;
      if jsonb_typeof(ev) <> 'object' or ev ->> 'id' is null or ev ->> 'type' is null
         or jsonb_typeof(ev -> 'data' -> 'object') is distinct from 'object'
         or coalesce(ev ->> 'created', '') !~ '^\d+$' or length(ev ->> 'id') > 255 or length(ev ->> 'type') > 255 then
        raise exception 'not a Stripe event' using errcode = 'invalid_parameter_value';
      end if;
      evs[i] := ev;
      ids := ids || (ev ->> 'id');
    exception when data_exception then
      get stacked diagnostics err_state = returned_sqlstate;
      results[i] := jsonb_build_object('invalid', err_state);
    end;
  end loop;
  -- concurrent copies of an event take turns on its lock (in one order for all batches: no deadlock);
  -- a copy waits for the batch holding it to commit or roll back, then reads its row or records its own
  lock_keys := array(select distinct hashtextextended('ops.stripe_events:' || x, 0) from unnest(ids) x order by 1);
  foreach lock_key in array lock_keys loop
    perform pg_advisory_xact_lock(lock_key);
  end loop;
  select coalesce(jsonb_object_agg(s.event_id, s.status), '{}') into seen
    from ops.stripe_events s where s.event_id = any (ids);
  for i in 1..n loop
    continue when evs[i] is null;
    ev := evs[i];
    v_id := ev ->> 'id';
    if seen ? v_id then
      -- a redelivery, a copy another batch committed first, or an earlier copy in this batch
      results[i] := jsonb_build_object('event_id', v_id, 'status', seen ->> v_id, 'duplicate', true);
      continue;
    end if;
    -- another mode's or account's event is recorded and answered, never applied (no facts, no jobs)
    reason := ops.stripe_event_scope_problem(ev, cfg);
    outcome := 'ignored';
    err := null;
    if reason is null then
      -- jobs enqueued while applying carry the event id (ops.enqueue_job reads it), for tracing
      perform set_config('ops.stripe_event_id', v_id, true);
      for attempt in 1..3 loop
        begin
          outcome := ops.apply_stripe_event(ev);
          exit;
        exception when others then
          get stacked diagnostics err_state = returned_sqlstate, err_message = message_text;
          if err_state like '40%' and attempt < 3 then
            perform pg_sleep(0.01 * attempt);
            continue;
          end if;
          -- a passing condition is no verdict on the event: not recorded, Stripe delivers it again
          if err_state like '40%' or err_state like '53%' or err_state = '55P03' then
            outcome := null;
            results[i] := jsonb_build_object('unavailable', err_state);
            exit;
          end if;
          outcome := 'failed';
          err := left(err_state || ': ' || err_message, 1000);
          exit;
        end;
      end loop;
      continue when outcome is null;
    end if;
    seen := seen || jsonb_build_object(v_id, outcome);
    r_id := r_id || v_id;
    r_ev := r_ev || ev;
    r_status := r_status || outcome;
    r_error := r_error || err;
    r_reason := r_reason || reason;
    r_sanitized := r_sanitized || coalesce(p_sanitized[i], false);
    results[i] := jsonb_build_object('event_id', v_id, 'status', outcome, 'duplicate', false)
                  || case when reason is null then '{}'::jsonb else jsonb_build_object('reason', reason) end;
  end loop;
  -- recorded with their outcomes in one insert, in the applies' transaction; a plain insert: a copy that
  -- got here anyway fails the batch (503 for all), and Stripe delivers again
  insert into ops.stripe_events (event_id, type, api_version, livemode, object_id, event_created, payload,
                                 status, attempts, last_error, processed_at, ignored_reason, sanitized, source)
  select r.id, r.ev ->> 'type', r.ev ->> 'api_version', coalesce(r.ev -> 'livemode' = 'true'::jsonb, false),
         r.ev -> 'data' -> 'object' ->> 'id', to_timestamp((r.ev ->> 'created')::bigint), r.ev,
         r.status, 1, r.error, case when r.status <> 'failed' then now() end, r.reason, r.sanitized,
         coalesce(p_source, 'webhook')
    from unnest(r_id, r_ev, r_status, r_error, r_reason, r_sanitized) as r (id, ev, status, error, reason, sanitized);
  return to_jsonb(results);
end
$$;

revoke all on function ops.ingest_stripe_events(text[], boolean[], boolean, text, text) from public;
grant execute on function ops.ingest_stripe_events(text[], boolean[], boolean, text, text) to stripe_webhook,
  service_role;
comment on function ops.ingest_stripe_events(text[], boolean[], boolean, text, text) is 'Group commit: records '
  'and applies several Stripe events (raw bodies) in one transaction, each in its own subtransaction, each once '
  '(by id). Returns one element per body: {event_id, status, duplicate[, reason]}, {invalid} or {unavailable}.';
