-- Webhook refusals apart from webhook failures (#16): three unsigned POSTs opened the critical
-- webhook_failure_rate incident, which inhibited failed_runs. Requests anyone can send now count in their own
-- rule (webhook_refusals: info, Slack only); webhook_failure_rate counts what went wrong after a valid
-- signature; failed_runs is inhibited by nothing, and no incident inhibits a rule of higher severity.

-- ---------------------------------------------------------------- which answers anyone can cause
-- The webhook answers a 4xx before it knows the sender (no or bad signature, a body that is not UTF-8, a
-- wrong method, too large) or after a valid signature, for an event of Stripe's (or ours) it cannot take:
-- reason signed_payload (not JSON, not an event, values Postgres refuses). Only the latter is authenticated.
-- Any other 4xx reason, known or new, counts as a refusal: an unknown cause must not page. A 5xx is ours,
-- whoever sent the request (a client dropping its upload is a 400: _shared/http/body.ts).
create or replace function ops.stripe_webhook_refusal(p_status_class text, p_reason text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select p_status_class = '4xx' and p_reason is distinct from 'signed_payload'
$$;
comment on function ops.stripe_webhook_refusal(text, text) is 'Whether a counted stripe-webhook answer '
  '(ops.endpoint_outcomes) is a refusal anyone can cause without the signing secret (webhook_refusals), rather '
  'than a failure after a valid signature (webhook_failure_rate).';

-- ---------------------------------------------------------------- webhook_failure_rate: after a valid signature
-- 5xx answers, signed events refused (signed_payload) and failed applies, over the deliveries that carried a
-- valid signature (the ledger's webhook rows plus those answers). Nobody without the secret can move it.
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
             and not ops.stripe_webhook_refusal(status_class, reason)
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
  summary := format('%s of %s signed Stripe deliveries failed in %s (%s%%)', bad, bad + good,
                    ops.interval_words(r.window_interval), round(coalesce(value, 0) * 100, 1));
  detail := jsonb_build_object('answers_failed', x, 'failed_applies', n, 'deliveries_ok', good);
end
$$;

-- ---------------------------------------------------------------- webhook_refusals: before a valid signature
-- A count, not a rate: the sender picks the numerator, and a flood says nothing about Stripe's deliveries.
-- deliveries_accepted tells a flood (deliveries still accepted) from a wrong STRIPE_WEBHOOK_SECRET (none).
create or replace function ops.alert_check_webhook_refusals(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql
stable
set search_path = ''
as $$
declare
  bad bigint;
  good bigint;
  last_bad timestamptz;
  x jsonb;
begin
  select coalesce(sum(o.n), 0), max(o.minute) + interval '1 minute', coalesce(jsonb_object_agg(o.reason, o.n), '{}')
    into bad, last_bad, x
    from (select reason, sum(count) as n, max(minute) as minute
            from ops.endpoint_outcomes
           where endpoint = 'stripe-webhook' and minute >= date_trunc('minute', p_since) and minute <= p_now
             and ops.stripe_webhook_refusal(status_class, reason)
           group by 1) o;
  select count(*) into good
    from ops.stripe_events e
   where e.received_at > p_since and e.received_at <= p_now and e.source = 'webhook';
  value := bad;
  firing := bad > r.threshold and bad >= r.min_count;
  recovered := last_bad is null or last_bad <= p_now - r.clear_after;
  summary := format('%s requests to the Stripe webhook refused before a valid signature in %s (%s); '
                    '%s signed deliveries accepted', bad, ops.interval_words(r.window_interval),
                    coalesce((select string_agg(k || ' ' || v, ', ' order by v::bigint desc, k)
                                from jsonb_each_text(x) as e(k, v)), 'none'), good);
  detail := jsonb_build_object('refused', x, 'deliveries_accepted', good);
end
$$;

-- ---------------------------------------------------------------- failed_runs: our functions, webhook aside
-- The webhook's 5xx answers are webhook_failure_rate's (one cause, one rule), so failed_runs needs no
-- inhibitor: a worker outage opens it whatever the webhook rule is doing.
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
   where o.status_class = '5xx' and o.endpoint <> 'stripe-webhook'
     and o.minute >= date_trunc('minute', p_since) and o.minute <= p_now;
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

-- ---------------------------------------------------------------- the rules' rows
-- Texts a founder left as shipped take the new meaning; edited ones are kept. failed_runs loses its inhibitor
-- whatever: with it, an open webhook incident hid every worker outage for as long as it stayed open.
update ops.alert_rules
   set description = 'Stripe webhook, after a valid signature: failed deliveries (5xx answers, signed events '
                     'refused, failed applies) over all signed deliveries in the window exceed threshold (a '
                     'fraction), with at least min_count of them; unsigned requests are webhook_refusals'''
 where rule = 'webhook_failure_rate'
   and description = 'Stripe webhook: refused (bad signature, bad payload) and failed (5xx, failed apply) deliveries '
                     'over all deliveries in the window exceed threshold (a fraction), with at least min_count of them';
update ops.alert_rules
   set runbook = 'Check ops.endpoint_outcomes by reason: 5xx configuration = STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID vs '
                 'ops.settings, unavailable or internal = the webhook''s logs; signed_payload and failed applies are '
                 'in the logs and ops.pipeline_exceptions.'
 where rule = 'webhook_failure_rate'
   and runbook = 'Check ops.endpoint_outcomes by reason: signature = STRIPE_WEBHOOK_SECRET differs from the '
                 'endpoint''s secret in Stripe; 5xx = the webhook''s logs and ops.settings vs STRIPE_LIVEMODE; '
                 'failed applies are in ops.pipeline_exceptions.';
update ops.alert_rules
   set description = 'Our own functions failing: 5xx answers of support-intake and resend-webhook (the Stripe '
                     'webhook''s are webhook_failure_rate''s), dispatches answered with an error or not at all, lost '
                     'leases and undeliverable jobs; more than threshold in the window'
 where rule = 'failed_runs'
   and description = 'Our own functions failing: 5xx answers of stripe-webhook, support-intake and resend-webhook, '
                     'dispatches answered with an error or not at all, lost leases and undeliverable jobs; more than '
                     'threshold in the window';
update ops.alert_rules set inhibited_by = array_remove(inhibited_by, 'webhook_failure_rate')
 where rule = 'failed_runs';

insert into ops.alert_rules (rule, description, threshold, window_interval, min_count, clear_after, severity,
                             inhibited_by, runbook, check_fn)
values
  ('webhook_refusals',
   'Stripe webhook: requests refused before a valid signature (no or bad signature, body not UTF-8, wrong method, '
   'too large), anyone''s to send: more than threshold in the window, with at least min_count',
   10, interval '15 minutes', 1, interval '5 minutes', 'info', '{}',
   'If deliveries_accepted is 0 and signature leads, STRIPE_WEBHOOK_SECRET differs from the endpoint''s secret in '
   'Stripe (npm run reconcile recovers the events); otherwise it is traffic that is not Stripe''s.',
   'ops.alert_check_webhook_refusals(ops.alert_rules,timestamptz,timestamptz)')
on conflict (rule) do update set check_fn = excluded.check_fn
 where to_regprocedure(ops.alert_rules.check_fn)
       = 'ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::regprocedure;

-- ---------------------------------------------------------------- notices: info is Slack only
-- The founder's email is the page: critical and warning incidents send it, info ones (webhook_refusals,
-- which anyone can open) only post to Slack. A founder who wants the email raises the rule's severity.
-- security definer: runs as the evaluator's writer; enqueueing needs the job queue.
create or replace function ops.alert_incidents_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  page boolean := coalesce((select r.severity <> 'info' from ops.alert_rules r where r.rule = new.rule), true);
begin
  if tg_op = 'INSERT' and new.status = 'open' then
    perform ops.enqueue_notification('slack', 'slack_alert_opened', 'incident:' || new.id, 'team');
    if page then
      perform ops.enqueue_notification('email', 'founder_alert_opened', 'incident:' || new.id, 'founder');
    end if;
  elsif new.status = 'resolved' and (tg_op = 'INSERT' or old.status = 'open') then
    perform ops.enqueue_notification('slack', 'slack_alert_resolved', 'incident:' || new.id, 'team');
    if page then
      perform ops.enqueue_notification('email', 'founder_alert_resolved', 'incident:' || new.id, 'founder');
    end if;
  end if;
  return null;
end
$$;

-- ---------------------------------------------------------------- the evaluator: inhibition by rank
-- As migration 2000's, but an open incident inhibits only rules of its severity or lower: a rule that traffic
-- can open (info) never mutes a warning or a critical one, whatever a founder writes in inhibited_by.
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
      elsif exists (select 1 from ops.alert_incidents i join ops.alert_rules ir on ir.rule = i.rule
                     where i.rule = any (r.inhibited_by) and i.status = 'open'
                       and array_position(array['info', 'warning', 'critical'], ir.severity)
                           >= array_position(array['info', 'warning', 'critical'], r.severity)) then
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

-- ---------------------------------------------------------------- Studio
-- The webhook's counted answers by reason, each with the rule it counts in: refusals apart from failures.
-- A view of its own: ops.alert_status cannot gain a column, or migration 2000 run again would fail on it.
create or replace view ops.webhook_answers with (security_invoker = true) as
select o.status_class, o.reason,
       case when ops.stripe_webhook_refusal(o.status_class, o.reason) then 'webhook_refusals'
            else 'webhook_failure_rate' end as counts_in,
       coalesce(sum(o.count) filter (where o.minute >= now() - interval '15 minutes'), 0) as last_15_min,
       coalesce(sum(o.count) filter (where o.minute >= now() - interval '24 hours'), 0) as last_24_h,
       sum(o.count) as kept, max(o.minute) as last_minute
  from ops.endpoint_outcomes o
 where o.endpoint = 'stripe-webhook'
 group by 1, 2, 3
 order by counts_in, last_24_h desc, reason;
comment on view ops.webhook_answers is 'The Stripe webhook''s refused and failed answers by reason (the last 15 min, '
  '24 h, and all kept), and the alert rule each counts in: webhook_refusals (before a valid signature, never a '
  'page) or webhook_failure_rate.';
revoke all on ops.webhook_answers from public, anon, authenticated;
grant select on ops.webhook_answers to service_role;
