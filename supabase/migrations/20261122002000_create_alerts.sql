-- Alerts (#10): the default rules, one check function per rule (named in the rule's check_fn), the
-- evaluator pg_cron runs every minute, incidents opened once and resolved once with notices through
-- notify (Slack and the founder's email), and per-minute counters of the webhook's refused and failed
-- answers, which the ledger cannot see. Adds columns to ops.alert_rules / ops.alert_incidents
-- (migration 1900); inserts rules with on conflict do nothing, so a founder's edits survive a re-run.

-- ---------------------------------------------------------------- rule settings beyond 1900's
alter table ops.alert_rules
  -- the fewest bad events (or, for a percentile, samples) before a rule fires: one bad signature
  -- out of one delivery is 100 %, not an outage
  add column if not exists min_count integer not null default 1 check (min_count >= 1),
  -- how long the condition must stay clear before the resolve notice (no flapping); for rules over
  -- events, the quiet time after the last bad event that counts as a recovery (see ops.evaluate_alerts)
  add column if not exists clear_after interval not null default interval '5 minutes'
    check (clear_after >= interval '0'),
  -- rules whose open incident already explains this one: it does not open while one of them is open
  add column if not exists inhibited_by text[] not null default '{}';

alter table ops.alert_incidents
  -- the first evaluation of the open incident that found the condition clear (null while firing)
  add column if not exists clear_since timestamptz;

-- ---------------------------------------------------------------- when the project went live
-- The quiet-period rule counts from the later of the last live event and the switch to live mode, so
-- going live is not itself an alert (no live event was ever received then), while a live project whose
-- endpoint never receives anything still alerts once the quiet period has passed.
alter table ops.settings add column if not exists stripe_live_since timestamptz;
comment on column ops.settings.stripe_live_since is 'When stripe_livemode last turned true (kept by a trigger; null '
  'in test mode); the stripe_quiet alert counts its quiet period from here at the earliest.';
update ops.settings set stripe_live_since = now() where stripe_livemode and stripe_live_since is null;

create or replace function ops.settings_track_live_since() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not new.stripe_livemode then
    new.stripe_live_since := null;
  elsif tg_op = 'INSERT' or not old.stripe_livemode then
    -- an explicit value in the same statement (a restore, a test's clock) is kept
    new.stripe_live_since := coalesce(case when tg_op = 'UPDATE'
                                                and new.stripe_live_since is distinct from old.stripe_live_since
                                           then new.stripe_live_since end, now());
  end if;
  return new;
end
$$;
drop trigger if exists settings_track_live_since on ops.settings;
create trigger settings_track_live_since before insert or update of stripe_livemode, stripe_live_since on ops.settings
  for each row execute function ops.settings_track_live_since();

-- What each rule saw at its last evaluation: Studio's "is it firing now" without re-running checks.
create table if not exists ops.alert_rule_state (
  rule text primary key references ops.alert_rules (rule) on update cascade on delete cascade,
  evaluated_at timestamptz not null,
  firing boolean not null,
  value numeric,
  summary text,
  detail jsonb not null default '{}'::jsonb
);
comment on table ops.alert_rule_state is 'The last evaluation of each alert rule (ops.evaluate_alerts): firing or '
  'not, the value it measured and what it saw.';
alter table ops.alert_rule_state enable row level security;

-- ---------------------------------------------------------------- endpoint outcomes
-- Answers the ledger never sees: refused deliveries (bad signature, bad payload, wrong method, too
-- large) and failures (5xx: nothing recorded). One row per endpoint, minute, status class and reason,
-- so a flood of bad signatures adds to a counter and never grows the table by request. No body, no
-- header, no secret. 2xx answers are not counted here: each is a ledger row (ops.stripe_events).
create table if not exists ops.endpoint_outcomes (
  endpoint text not null check (endpoint ~ '^[a-z][a-z0-9-]{0,62}$'),
  minute timestamptz not null,
  status_class text not null check (status_class in ('4xx', '5xx')),
  reason text not null check (reason ~ '^[a-z][a-z0-9_]{0,39}$'),
  count bigint not null default 0 check (count >= 0),
  primary key (endpoint, minute, status_class, reason)
);
comment on table ops.endpoint_outcomes is 'Per-minute counts of refused (4xx) and failed (5xx) answers of our HTTP '
  'endpoints (stripe-webhook: 4xx and 5xx; support-intake, resend-webhook: 5xx), by reason; successes are the '
  'ledger. Purged after 7 days.';
alter table ops.endpoint_outcomes enable row level security;
create index if not exists endpoint_outcomes_minute_idx on ops.endpoint_outcomes (minute);

-- the counters' retention (migration 1100's registry)
create or replace function ops.purge_endpoint_outcomes(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from ops.endpoint_outcomes where minute < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;
insert into ops.retention_policies (name, description, purge_fn, keep)
values ('endpoint_outcomes', 'Per-minute counters of our endpoints'' refused and failed answers',
        'ops.purge_endpoint_outcomes(interval)', interval '7 days')
on conflict (name) do nothing;

-- security definer: the webhook's login role may count its answers here and do nothing else.
-- The commit is asynchronous: a counter may lose its last increments in a crash, and a flood of
-- refusals does not queue on the counter row behind WAL flushes.
create or replace function ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_status is null or p_status < 400 or p_status > 599 then
    raise exception 'only 4xx and 5xx answers are counted, not %', p_status using errcode = 'invalid_parameter_value';
  end if;
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  insert into ops.endpoint_outcomes as o (endpoint, minute, status_class, reason, count)
  values (p_endpoint, date_trunc('minute', now()), case when p_status < 500 then '4xx' else '5xx' end,
          coalesce(nullif(p_reason, ''), 'unknown'), 1)
  on conflict (endpoint, minute, status_class, reason) do update set count = o.count + 1;
end
$$;
-- stripe-webhook counts refusals and failures; support-intake and resend-webhook their failures (5xx)
grant execute on function ops.record_endpoint_outcome(text, integer, text)
  to stripe_webhook, support_intake, provider_webhook;

-- dead jobs are looked at every minute: a small partial index instead of a scan of the queue
create index if not exists jobs_dead_idx on ops.jobs (updated_at) where status = 'dead';
-- and so are lost leases (failed_runs), among attempts kept for 14 days
create index if not exists job_attempts_lease_lost_idx on ops.job_attempts (finished_at)
  where outcome = 'lease_expired';

-- ---------------------------------------------------------------- the checks: one function per rule
-- "15 min", "24 h", "7 days": windows as the alerts word them.
create or replace function ops.interval_words(i interval) returns text
language sql immutable
set search_path = ''
as $$
  select case when i < interval '1 minute' then round(extract(epoch from i))::text || ' s'
              when i < interval '1 hour' then round(extract(epoch from i) / 60)::text || ' min'
              when i < interval '2 days'
                then rtrim(to_char(extract(epoch from i) / 3600, 'FM999990.##'), '.') || ' h'
              else rtrim(to_char(extract(epoch from i) / 86400, 'FM999990.#'), '.') || ' days' end
$$;

-- A rule is a row and a function: ops.alert_rules.check_fn names what the rule sees at p_now, and
-- every check has the shape of ops.alert_check_undefined below (the rule's row, p_now, p_since ->
-- firing, value, summary, detail, recovered), which the rules' trigger enforces. A new rule is a
-- function of that shape and a row naming it:
--   create function ops.alert_check_my_rule(r ops.alert_rules, p_now timestamptz, p_since timestamptz,
--     out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean) ...;
--   insert into ops.alert_rules (rule, description, threshold, runbook, check_fn)
--   values ('my_rule', '...', 0, '...', 'ops.alert_check_my_rule(ops.alert_rules,timestamptz,timestamptz)');
-- Rules over events count from p_since (the window's start, which the evaluator moves to the rule's
-- last resolve so that one outage's events never open a second incident); rules over state (dead
-- jobs, old tickets, open findings) look at the state now. recovered (rules over events only): the
-- last bad event is at least clear_after old and, where the rule has good events, one came after it:
-- an outage has ended even while its failures still weigh on the window. Null for rules over state.

-- The check of a row added without one (the column's default): it never fires.
create or replace function ops.alert_check_undefined(r ops.alert_rules, p_now timestamptz, p_since timestamptz,
  out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language sql
stable
set search_path = ''
as $$
  select false, null::numeric, 'no check is defined for this rule', jsonb_build_object('no_check', true), null::boolean
$$;

-- webhook_failure_rate: refused and 5xx answers (the counters), and failed applies (ledger rows
-- answered 2xx, not applied), over all deliveries
create or replace function ops.alert_check_webhook_failure_rate(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  bad bigint;
  good bigint;
  n bigint;
  last_bad timestamptz;
  last_good timestamptz;
  t timestamptz;
  x jsonb;
begin
  select coalesce(sum(o.n), 0), max(o.minute) + interval '1 minute', coalesce(jsonb_object_agg(o.k, o.n), '{}')
    into bad, last_bad, x
    from (select status_class || ':' || reason as k, sum(count) as n, max(minute) as minute
            from ops.endpoint_outcomes
           where endpoint = 'stripe-webhook' and minute >= date_trunc('minute', p_since) and minute <= p_now
           group by 1) o;
  select count(*) filter (where e.status in ('failed', 'dead')),
         count(*) filter (where e.status not in ('failed', 'dead')),
         max(e.received_at) filter (where e.status in ('failed', 'dead')),
         max(e.received_at) filter (where e.status not in ('failed', 'dead'))
    into n, good, t, last_good
    from ops.stripe_events e
   -- deliveries only: events reconciliation recovered did not come through the webhook
   where e.received_at > p_since and e.received_at <= p_now and e.source = 'webhook';
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  value := round(bad::numeric / nullif(bad + good, 0), 4);
  firing := bad >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  summary := format('%s of %s Stripe deliveries refused or failed in %s (%s%%)', bad, bad + good,
                    ops.interval_words(r.window_interval), round(coalesce(value, 0) * 100, 1));
  detail := jsonb_build_object('answers_refused_or_failed', x, 'failed_applies', n, 'deliveries_ok', good);
end
$$;

-- failed_runs: our own code failing, not a provider answering errors (that is crm_failure_rate's)
create or replace function ops.alert_check_failed_runs(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  bad bigint;
  n bigint;
  last_bad timestamptz;
  t timestamptz;
begin
  select coalesce(sum(o.count), 0), max(o.minute) + interval '1 minute' into n, last_bad
    from ops.endpoint_outcomes o
   where o.status_class = '5xx' and o.minute >= date_trunc('minute', p_since) and o.minute <= p_now;
  detail := jsonb_build_object('endpoint_5xx', n);
  bad := n;
  select count(*), max(a.finished_at) into n, t
    from ops.job_attempts a
   where a.outcome = 'lease_expired' and a.finished_at > p_since and a.finished_at <= p_now;
  detail := detail || jsonb_build_object('leases_lost', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  select count(*), max(j.updated_at) into n, t
    from ops.jobs j
   where j.status = 'dead' and j.unclaimed_dispatches > 0 and j.updated_at > p_since and j.updated_at <= p_now;
  detail := detail || jsonb_build_object('undeliverable_jobs', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  -- dispatches our worker functions answered with an error (5xx, a refused secret) or not at all;
  -- net._http_response belongs to pg_net's owner: a reader without access counts none
  begin
    select count(*), max(h.created) into n, t
      from net._http_response h
     where h.created > p_since and h.created <= p_now and (h.status_code is null or h.status_code >= 400);
  exception when insufficient_privilege then
    n := 0;
    t := null;
  end;
  detail := detail || jsonb_build_object('dispatches_failed', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  value := bad;
  firing := bad > r.threshold and bad >= r.min_count;
  recovered := last_bad is null or last_bad <= p_now - r.clear_after;
  summary := format('%s failed runs of our functions in %s', bad, ops.interval_words(r.window_interval));
end
$$;

-- sync_p95: CRM jobs that succeeded on their first attempt (retried ones are crm_failure_rate's)
create or replace function ops.alert_check_sync_p95(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  last_bad timestamptz;
  last_good timestamptz;
  slow interval := make_interval(secs => r.threshold::double precision);
begin
  select count(*), percentile_cont(0.95) within group (order by extract(epoch from j.succeeded_at - j.created_at)),
         max(j.succeeded_at) filter (where j.succeeded_at - j.created_at > slow),
         max(j.succeeded_at) filter (where j.succeeded_at - j.created_at <= slow)
    into n, value, last_bad, last_good
    from ops.jobs j
   where j.status = 'succeeded' and j.kind like 'crm.%' and j.attempts = 1
     and j.succeeded_at > p_since and j.succeeded_at <= p_now;
  value := round(value, 3);
  firing := n >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  summary := format('CRM sync p95 %s s over %s first-try jobs in %s', coalesce(value, 0), n,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('p95_seconds', value, 'jobs', n);
end
$$;

-- crm_failure_rate: CRM job attempts the CRM answered with an error or not at all
create or replace function ops.alert_check_crm_failure_rate(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  bad bigint;
  good bigint;
  last_bad timestamptz;
  last_good timestamptz;
  last_error text;
begin
  select count(*) filter (where a.outcome in ('failed', 'dead')), count(*) filter (where a.outcome = 'succeeded'),
         max(a.finished_at) filter (where a.outcome in ('failed', 'dead')),
         max(a.finished_at) filter (where a.outcome = 'succeeded'),
         (array_agg(left(a.error, 200) order by a.finished_at desc) filter (where a.outcome in ('failed', 'dead')))[1]
    into bad, good, last_bad, last_good, last_error
    from ops.job_attempts a join ops.jobs j on j.id = a.job_id
   where j.kind like 'crm.%' and a.started_at > p_since and a.finished_at <= p_now
     and a.outcome in ('succeeded', 'failed', 'dead');
  value := round(bad::numeric / nullif(bad + good, 0), 4);
  firing := bad >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  detail := jsonb_build_object('failed_attempts', bad, 'succeeded_attempts', good, 'last_error', last_error);
  summary := format('%s of %s CRM job attempts failed in %s (%s%%)', bad, bad + good,
                    ops.interval_words(r.window_interval), round(coalesce(value, 0) * 100, 1));
end
$$;

-- dead_jobs: alert notifications are left out: a dead one would keep this incident open by its own
-- notice (it shows in pipeline_exceptions as communication degraded, and the incident in
-- ops.alert_incidents)
create or replace function ops.alert_check_dead_jobs(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select coalesce(sum(k.n), 0), coalesce(jsonb_object_agg(k.kind, k.n), '{}'), min(k.since)
    into n, x, oldest
    from (select j.kind, count(*) as n, min(j.updated_at) as since from ops.jobs j
           where j.status = 'dead' and coalesce(j.payload ->> 'entity', '') not like 'incident:%'
           group by j.kind) k;
  value := n;
  firing := n > r.threshold;
  summary := format('%s dead job%s', n, case when n = 1 then '' else 's' end);
  detail := jsonb_build_object('dead_by_kind', x, 'oldest_since', oldest);
end
$$;

-- refund_dispute_unapplied: refund and dispute events received over window ago, still not applied
create or replace function ops.alert_check_refund_dispute_unapplied(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select count(*), coalesce(jsonb_agg(e.event_id order by e.received_at) filter (where e.rn <= 20), '[]'),
         min(e.received_at)
    into n, x, oldest
    from (select e.event_id, e.received_at, row_number() over (order by e.received_at) as rn
            from ops.stripe_events e
           where e.status in ('received', 'failed', 'dead') and e.received_at <= p_now - r.window_interval
             and (e.type in ('charge.refunded', 'charge.refund.updated') or e.type like 'refund.%'
                  or e.type like 'charge.dispute.%')) e;
  value := n;
  firing := n > r.threshold;
  summary := format('%s refund or dispute event%s not applied after %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('event_ids', x, 'oldest_received_at', oldest);
end
$$;

-- support_backlog: tickets open (not answered or set pending) for longer than window
create or replace function ops.alert_check_support_backlog(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select coalesce(sum(q.n), 0), coalesce(jsonb_object_agg(q.queue, q.n), '{}'), min(q.oldest)
    into n, x, oldest
    from (select t.queue, count(*) as n, min(t.created_at) as oldest from public.support_tickets t
           where t.status = 'open' and t.created_at <= p_now - r.window_interval group by t.queue) q;
  value := n;
  firing := n > r.threshold;
  summary := format('%s ticket%s open for more than %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('open_by_queue', x, 'oldest_created_at', oldest);
end
$$;

-- ticket_spike: tickets in the window as a daily rate, against the daily average of the 7 days before
create or replace function ops.alert_check_ticket_spike(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  before_window bigint;
  trail_daily numeric;
begin
  select count(*) filter (where t.created_at > p_now - r.window_interval),
         count(*) filter (where t.created_at <= p_now - r.window_interval)
    into n, before_window
    from public.support_tickets t
   where t.created_at > p_now - r.window_interval - interval '7 days' and t.created_at <= p_now;
  trail_daily := before_window / 7.0;
  value := round(n * extract(epoch from interval '1 day') / extract(epoch from r.window_interval), 2);
  firing := n >= r.min_count and value > r.threshold * trail_daily;
  summary := format('%s tickets in %s (%s a day) against %s a day over the 7 days before', n,
                    ops.interval_words(r.window_interval), value, round(trail_daily, 2));
  detail := jsonb_build_object('tickets_in_window', n, 'daily_rate', value,
                               'trailing_daily_rate', round(trail_daily, 2));
end
$$;

-- ticket_creation_failing: the last threshold attempts at a system ticket (support.ticket jobs) all failed
create or replace function ops.alert_check_ticket_creation_failing(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  bad bigint;
  last_error text;
begin
  select count(*), count(*) filter (where l.outcome <> 'succeeded'),
         (array_agg(left(l.error, 200) order by l.finished_at desc))[1]
    into n, bad, last_error
    from (select a.outcome, a.error, a.finished_at from ops.job_attempts a join ops.jobs j on j.id = a.job_id
           where j.kind = 'support.ticket' and a.finished_at > p_now - r.window_interval and a.finished_at <= p_now
             and a.outcome in ('succeeded', 'failed', 'dead', 'lease_expired')
           order by a.finished_at desc limit greatest(r.threshold, 1)::int) l;
  value := bad;
  firing := n >= greatest(r.threshold, 1) and bad = n;
  detail := jsonb_build_object('last_attempts', n, 'failed', bad, 'last_error', last_error);
  summary := format('the last %s attempts at creating a ticket failed', bad);
end
$$;

-- stripe_quiet: no live-mode event for window while live, counted from going live at the earliest
create or replace function ops.alert_check_stripe_quiet(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  s ops.settings := ops.current_settings();
  last_event timestamptz;
  quiet_since timestamptz;
begin
  if not s.stripe_livemode then
    firing := false;
    summary := 'test mode: the quiet period is watched only while live';
    detail := jsonb_build_object('livemode', false);
    return;
  end if;
  select max(e.received_at) into last_event from ops.stripe_events e
   where e.livemode and e.source = 'webhook' and e.received_at <= p_now;
  -- quiet since the last live event, or since going live when that came later (greatest skips nulls)
  quiet_since := greatest(last_event, s.stripe_live_since);
  value := round(extract(epoch from p_now - quiet_since) / 60);
  firing := quiet_since is null or quiet_since < p_now - r.window_interval;
  summary := case when last_event is null or last_event < s.stripe_live_since
                  then format('live for %s minutes, and no live-mode Stripe event received since (quiet period %s)',
                              coalesce(value::text, 'an unknown number of'), ops.interval_words(r.window_interval))
                  else format('no live-mode Stripe event for %s minutes (quiet period %s)', value,
                              ops.interval_words(r.window_interval)) end;
  detail := jsonb_build_object('livemode', true, 'last_event_at', last_event, 'live_since', s.stripe_live_since);
end
$$;

-- reconciliation_drift: open reconciliation findings
create or replace function ops.alert_check_reconciliation_drift(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  n bigint;
  x jsonb;
begin
  select coalesce(sum(k.n), 0), coalesce(jsonb_object_agg(k.kind, k.n), '{}')
    into n, x
    from (select f.kind, count(*) as n from ops.reconciliation_findings f where f.status = 'open' group by f.kind) k;
  value := n;
  firing := n > r.threshold;
  summary := format('%s open reconciliation finding%s', n, case when n = 1 then '' else 's' end);
  detail := jsonb_build_object('open_by_kind', x);
end
$$;

-- ---------------------------------------------------------------- each rule's check
alter table ops.alert_rules
  -- the function that checks this rule (shaped as ops.alert_check_undefined, which a row added without
  -- one gets: it never fires)
  add column if not exists check_fn text not null
    default 'ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)';
comment on column ops.alert_rules.check_fn is 'The function that checks this rule (ops.alert_check_<rule>), shaped '
  'as ops.alert_check_undefined: (ops.alert_rules, p_now, p_since) -> firing, value, summary, detail, recovered. A '
  'row without one never fires.';

-- A typo in Studio is refused when saved, not by a failing evaluator every minute.
create or replace function ops.alert_rules_require_check_fn() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.check_fn := ops.require_function_shape(new.check_fn,
    ops.function_shape('ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::regprocedure),
    format('check_fn of alert rule %s', new.rule));
  return new;
end
$$;
drop trigger if exists alert_rules_100_require_check_fn on ops.alert_rules;
create trigger alert_rules_100_require_check_fn before insert or update of check_fn on ops.alert_rules
  for each row execute function ops.alert_rules_require_check_fn();

-- What one rule sees at p_now (events counted from p_since): its row's check_fn, run. The evaluator
-- and the tests ask through here.
create or replace function ops.check_alert_rule(r ops.alert_rules, p_now timestamptz, p_since timestamptz,
  out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
begin
  execute format('select * from %s($1, $2, $3)', ops.registered_function(r.check_fn, 'alert rule ' || r.rule))
     into firing, value, summary, detail, recovered
    using r, p_now, p_since;
  firing := coalesce(firing, false);
  detail := coalesce(detail, '{}'::jsonb);
end
$$;
comment on function ops.check_alert_rule(ops.alert_rules, timestamptz, timestamptz) is 'What one alert rule sees at '
  'p_now (events counted from p_since), by its row''s check_fn: firing, the measured value, a summary, details, and '
  'for rules over events whether the outage has recovered.';

-- ---------------------------------------------------------------- default rules
-- threshold / window_interval / min_count / clear_after mean what each rule's line below says. A rule
-- already there keeps the founder's settings; one still on the placeholder check gets its own.
insert into ops.alert_rules (rule, description, threshold, window_interval, min_count, clear_after, severity,
                             inhibited_by, runbook, check_fn)
values
  ('webhook_failure_rate',
   'Stripe webhook: refused (bad signature, bad payload) and failed (5xx, failed apply) deliveries over all '
   'deliveries in the window exceed threshold (a fraction), with at least min_count of them',
   0.02, interval '15 minutes', 3, interval '5 minutes', 'critical', '{}',
   'Check ops.endpoint_outcomes by reason: signature = STRIPE_WEBHOOK_SECRET differs from the endpoint''s secret '
   'in Stripe; 5xx = the webhook''s logs and ops.settings vs STRIPE_LIVEMODE; failed applies are in '
   'ops.pipeline_exceptions.',
   'ops.alert_check_webhook_failure_rate(ops.alert_rules,timestamptz,timestamptz)'),
  ('failed_runs',
   'Our own functions failing: 5xx answers of stripe-webhook, support-intake and resend-webhook, dispatches '
   'answered with an error or not at all, lost leases and undeliverable jobs; more than threshold in the window',
   3, interval '10 minutes', 1, interval '5 minutes', 'critical', '{webhook_failure_rate}',
   'Read the function logs around the incident; check the vault secrets functions_base_url and worker_secret, '
   'each worker''s WORKER_SECRET, and that the functions are deployed.',
   'ops.alert_check_failed_runs(ops.alert_rules,timestamptz,timestamptz)'),
  ('sync_p95',
   'CRM sync: p95 seconds from enqueue to success of CRM jobs that succeeded on their first attempt in the window '
   'exceed threshold, over at least min_count jobs (retried jobs are the CRM failure rule''s)',
   60, interval '15 minutes', 5, interval '5 minutes', 'warning', '{}',
   'Look at ops.pipeline_health for crm.* queue depth and oldest due job; a backlog drains by itself, a slow CRM '
   'shows in the crm-sync logs.',
   'ops.alert_check_sync_p95(ops.alert_rules,timestamptz,timestamptz)'),
  ('crm_failure_rate',
   'CRM: failed CRM job attempts (the CRM answered an error or nothing) over all finished ones in the window '
   'exceed threshold (a fraction), with at least min_count failures',
   0.02, interval '15 minutes', 3, interval '5 minutes', 'warning', '{}',
   'Check the CRM''s status page and HUBSPOT_ACCESS_TOKEN; jobs retry by themselves, and after the outage replay '
   'dead ones with npm run replay -- jobs.',
   'ops.alert_check_crm_failure_rate(ops.alert_rules,timestamptz,timestamptz)'),
  ('dead_jobs',
   'Jobs dead after their attempts (or undeliverable): more than threshold of them, however many (one incident '
   'for all)',
   0, interval '15 minutes', 1, interval '2 minutes', 'warning', '{}',
   'select * from ops.pipeline_exceptions where exception in (''dead job'', ''undeliverable job'', '
   '''communication degraded''); fix the cause, then npm run replay -- jobs.',
   'ops.alert_check_dead_jobs(ops.alert_rules,timestamptz,timestamptz)'),
  ('refund_dispute_unapplied',
   'A refund or dispute event received more than window ago and still not applied (received, failed or dead in '
   'the ledger)',
   0, interval '10 minutes', 1, interval '2 minutes', 'critical', '{}',
   'select * from ops.pipeline_exceptions where exception = ''failed Stripe event''; fix the cause, then '
   'select * from ops.reapply_stripe_events(array[''evt_...'']);',
   'ops.alert_check_refund_dispute_unapplied(ops.alert_rules,timestamptz,timestamptz)'),
  ('support_backlog',
   'Support: tickets open for longer than window (not answered or set pending)',
   0, interval '24 hours', 1, interval '2 minutes', 'warning', '{}',
   'Answer the oldest open tickets first (select ref, queue, subject, created_at from public.support_tickets '
   'where status = ''open'' order by created_at).',
   'ops.alert_check_support_backlog(ops.alert_rules,timestamptz,timestamptz)'),
  ('ticket_spike',
   'Support: tickets created in the window, as a daily rate, exceed threshold times the daily average of the 7 '
   'days before, with at least min_count tickets',
   3, interval '1 hour', 5, interval '10 minutes', 'warning', '{}',
   'Read the newest tickets for a common cause (a failed release, a payment problem), and check '
   'ops.pipeline_exceptions.',
   'ops.alert_check_ticket_spike(ops.alert_rules,timestamptz,timestamptz)'),
  ('ticket_creation_failing',
   'Support: the last threshold attempts at creating a system ticket (support.ticket jobs) in the window all '
   'failed',
   3, interval '24 hours', 1, interval '2 minutes', 'critical', '{}',
   'Read the support.ticket jobs'' last_error in ops.pipeline_exceptions and the support-desk logs; fix the '
   'cause, then npm run replay -- jobs.',
   'ops.alert_check_ticket_creation_failing(ops.alert_rules,timestamptz,timestamptz)'),
  ('stripe_quiet',
   'Stripe: no live-mode event received for window (the quiet period) while ops.settings.stripe_livemode is true',
   0, interval '24 hours', 1, interval '0', 'warning', '{}',
   'In the Stripe dashboard check the webhook endpoint (enabled, URL, recent deliveries and their answers), '
   'then run npm run reconcile.',
   'ops.alert_check_stripe_quiet(ops.alert_rules,timestamptz,timestamptz)'),
  ('reconciliation_drift',
   'Reconciliation against Stripe found drift: more than threshold open rows in ops.reconciliation_findings',
   0, interval '1 hour', 1, interval '2 minutes', 'warning', '{}',
   'select kind, object_id, next_action from ops.reconciliation_findings where status = ''open''; do each next '
   'action, then resolve the finding.',
   'ops.alert_check_reconciliation_drift(ops.alert_rules,timestamptz,timestamptz)')
on conflict (rule) do update set check_fn = excluded.check_fn
 where to_regprocedure(ops.alert_rules.check_fn)
       = 'ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::regprocedure;

-- ---------------------------------------------------------------- the evaluator
-- Every enabled rule, at p_now (injectable: tests move the clock). One outage, one incident:
--   * not open, firing: open an incident (unless a rule in inhibited_by has one open) -> notices
--   * open, firing: the same incident is seen again (last_seen_at, summary, detail), no notice
--   * open, clear: clear_since marks the first clear evaluation; the incident resolves once the
--     condition stayed clear for clear_after, or at once when a rule over events has recovered
--     (its last bad event clear_after old, and a good one since) -> one resolve notice
--   * its check raised: action 'error', a warning, the error in ops.alert_rule_state; its incident
--     stays as it was, and the other rules are evaluated all the same
-- A rule over events counts from its last resolve at the earliest, so the failures of an outage
-- that resolved never open a second incident. Rules are evaluated inhibitors first.
create or replace function ops.evaluate_alerts(p_now timestamptz default now())
returns table (rule text, firing boolean, action text, incident_id bigint, summary text)
language plpgsql
set search_path = ''
as $$
declare
  r ops.alert_rules;
  o record;
  inc ops.alert_incidents;
  since timestamptz;
  failure text;
begin
  -- one evaluation at a time (pg_cron's and a manual one): the second waits and sees the first's incidents
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ops.evaluate_alerts', 0));
  for r in select * from ops.alert_rules ar where ar.enabled order by cardinality(ar.inhibited_by), ar.rule loop
    select * into inc from ops.alert_incidents i where i.rule = r.rule and i.status = 'open' for update;
    select greatest(p_now - r.window_interval, max(i.resolved_at)) into since
      from ops.alert_incidents i where i.rule = r.rule and i.resolved_at <= p_now;
    since := coalesce(since, p_now - r.window_interval);
    failure := null;
    begin
      select * into o from ops.check_alert_rule(r, p_now, since);
    exception when others then
      -- a rule's own bug (or a check_fn dropped since) must not silence every other rule
      get stacked diagnostics failure = message_text;
      raise warning 'alert rule %: its check % failed: %', r.rule, r.check_fn, failure;
      select false as firing, null::numeric as value, left('check failed: ' || failure, 500) as summary,
             jsonb_build_object('check_failed', failure) as detail, null::boolean as recovered
        into o;
    end;
    insert into ops.alert_rule_state as st (rule, evaluated_at, firing, value, summary, detail)
    values (r.rule, p_now, o.firing, o.value, o.summary, o.detail)
    on conflict on constraint alert_rule_state_pkey do update
      set evaluated_at = excluded.evaluated_at, firing = excluded.firing, value = excluded.value,
          summary = excluded.summary, detail = excluded.detail;
    evaluate_alerts.rule := r.rule;
    evaluate_alerts.firing := o.firing;
    evaluate_alerts.summary := o.summary;
    evaluate_alerts.incident_id := inc.id;
    if failure is not null then
      action := 'error';
    elsif inc.id is null then
      if not o.firing then
        action := 'clear';
      elsif exists (select 1 from ops.alert_incidents i where i.rule = any (r.inhibited_by) and i.status = 'open') then
        action := 'inhibited';
      else
        insert into ops.alert_incidents (rule, summary, detail, opened_at, last_seen_at)
        values (r.rule, o.summary, o.detail, p_now, p_now)
        returning id into evaluate_alerts.incident_id;
        action := 'opened';
      end if;
    elsif o.firing and not coalesce(o.recovered, false) then
      update ops.alert_incidents i set last_seen_at = p_now, summary = o.summary, detail = o.detail, clear_since = null
       where i.id = inc.id;
      action := 'seen';
    elsif coalesce(o.recovered, false) or p_now - coalesce(inc.clear_since, p_now) >= r.clear_after then
      update ops.alert_incidents i
         set status = 'resolved', resolved_at = p_now, clear_since = coalesce(i.clear_since, p_now)
       where i.id = inc.id;
      action := 'resolved';
    else
      update ops.alert_incidents i set clear_since = coalesce(i.clear_since, p_now) where i.id = inc.id;
      action := 'clearing';
    end if;
    return next;
  end loop;
end
$$;
comment on function ops.evaluate_alerts(timestamptz) is 'Evaluates every enabled alert rule at p_now (default now()) '
  'by its check_fn: opens an incident once, sees it again while open, resolves it once clear; a rule whose check '
  'fails is reported (action error) and the others still run. pg_cron runs it every minute.';

-- An incident's notices: one on open, one on resolve, to the team's Slack and the founder's email,
-- whoever writes the row (the evaluator, or a person resolving it by hand). The dedupe key
-- notify:<template>:incident:<id>:<recipient> makes each exactly once.
-- security definer: runs as the evaluator's writer; enqueueing needs the job queue.
create or replace function ops.alert_incidents_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' and new.status = 'open' then
    perform ops.enqueue_notification('slack', 'slack_alert_opened', 'incident:' || new.id, 'team');
    perform ops.enqueue_notification('email', 'founder_alert_opened', 'incident:' || new.id, 'founder');
  elsif new.status = 'resolved' and (tg_op = 'INSERT' or old.status = 'open') then
    perform ops.enqueue_notification('slack', 'slack_alert_resolved', 'incident:' || new.id, 'team');
    perform ops.enqueue_notification('email', 'founder_alert_resolved', 'incident:' || new.id, 'founder');
  end if;
  return null;
end
$$;
drop trigger if exists alert_incidents_600_notify on ops.alert_incidents;
create trigger alert_incidents_600_notify after insert or update of status on ops.alert_incidents
  for each row execute function ops.alert_incidents_notify();

-- ---------------------------------------------------------------- Studio
create or replace view ops.alert_status with (security_invoker = true) as
select r.rule, r.enabled, r.severity, r.threshold, r.window_interval, r.min_count, r.clear_after,
       s.firing, s.value, s.summary as last_summary, s.evaluated_at,
       i.id as open_incident_id, i.opened_at, i.last_seen_at, now() - i.opened_at as open_for,
       (select max(x.resolved_at) from ops.alert_incidents x where x.rule = r.rule) as last_resolved_at,
       r.runbook
  from ops.alert_rules r
  left join ops.alert_rule_state s on s.rule = r.rule
  left join ops.alert_incidents i on i.rule = r.rule and i.status = 'open'
 order by i.id is null, r.rule;
comment on view ops.alert_status is 'Each alert rule: enabled, firing at its last evaluation (and the value it '
  'measured), its open incident if any, its last resolve and its runbook.';
revoke all on ops.alert_status, ops.alert_rule_state, ops.endpoint_outcomes from public, anon, authenticated;
grant select on ops.alert_status, ops.alert_rule_state, ops.endpoint_outcomes to service_role;
grant select on ops.alert_rules, ops.alert_incidents to service_role;

-- every minute; the cron command is the function alone, so a failing evaluator shows in cron.job_run_details
-- (a failing rule is its row in ops.alert_rule_state and ops.alert_status, and a warning in the log)
select cron.schedule('ops-evaluate-alerts', '* * * * *', 'select count(*) from ops.evaluate_alerts()');
