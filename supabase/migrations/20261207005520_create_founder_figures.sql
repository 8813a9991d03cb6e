-- The figures the articles ask a founder to watch (#20), as Studio views in ops and on the dashboard: payment
-- success rate, duplicate deliveries per day, overrides per week, payment -> access lag and email bounce rate;
-- two alert rules (payment_access_lag over 5 minutes, email_bounce_rate over 2 %). Duplicate deliveries wrote
-- nothing until now (the ledger answers them and changes nothing): the webhook counts them per day here.

-- ---------------------------------------------------------------- duplicate deliveries
create table if not exists ops.duplicate_deliveries (
  day date not null,
  endpoint text not null check (endpoint ~ '^[a-z][a-z0-9-]{0,62}$'),
  count bigint not null default 0 check (count >= 0),
  primary key (day, endpoint)
);
comment on table ops.duplicate_deliveries is 'Deliveries of an event the ledger already held (Stripe delivers at least '
  'once), per day and endpoint: answered 2xx, nothing applied twice. Counted by the webhook.';
alter table ops.duplicate_deliveries enable row level security;
revoke all on ops.duplicate_deliveries from public, anon, authenticated;

-- security definer: the webhook's login role may count a duplicate here and write nothing else.
create or replace function ops.record_duplicate_delivery(p_endpoint text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- a count, not a record: a crash may lose the last increments, a redelivery storm does not wait on WAL flushes
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  insert into ops.duplicate_deliveries as d (day, endpoint, count) values (current_date, p_endpoint, 1)
  on conflict (day, endpoint) do update set count = d.count + 1;
end
$$;
revoke all on function ops.record_duplicate_delivery(text) from public;
grant execute on function ops.record_duplicate_delivery(text) to stripe_webhook;

-- ---------------------------------------------------------------- what the views look up by time
-- grants (an order paid, a customer's billing active) with the Stripe event behind them
create index if not exists status_changes_grants_idx on ops.status_changes (changed_at)
  where to_status in ('paid', 'active') and stripe_event_id is not null;
create index if not exists provider_events_bounces_idx on ops.provider_events (received_at)
  where type in ('email.bounced', 'email.complained');

-- ---------------------------------------------------------------- the figures (security_invoker, as 2200's)
-- A payment attempt's outcome, from the ledger: a success once per payment (its payment intent, whichever of its
-- events said so), a failure per failed attempt (payment_intent.payment_failed), so 2 declines then a success are
-- 1 of 3. Events of another mode or account (ignored) are not ours.
create or replace view ops.payment_outcomes with (security_invoker = true) as
select date_trunc('day', min(e.received_at)) as day, 'succeeded' as outcome,
       coalesce(e.payload #>> '{data,object,payment_intent}', e.object_id) as payment, min(e.received_at) as at
  from ops.stripe_events e
 where e.status <> 'ignored'
   and (e.type in ('payment_intent.succeeded', 'checkout.session.async_payment_succeeded')
        or (e.type = 'checkout.session.completed' and e.payload #>> '{data,object,payment_status}' = 'paid'
            and e.payload #>> '{data,object,mode}' = 'payment'))
   and e.received_at >= date_trunc('day', now()) - interval '29 days'
 group by 3
union all
select date_trunc('day', e.received_at), 'failed', e.object_id, e.received_at
  from ops.stripe_events e
 where e.status <> 'ignored' and e.type = 'payment_intent.payment_failed'
   and e.received_at >= date_trunc('day', now()) - interval '29 days';
comment on view ops.payment_outcomes is 'Payments that succeeded (once each) and attempts that failed, last 30 days, '
  'from the ledger: what ops.payment_success_daily counts.';

create or replace view ops.payment_success_daily with (security_invoker = true) as
select o.day::date as day, count(*) filter (where o.outcome = 'succeeded') as succeeded,
       count(*) filter (where o.outcome = 'failed') as failed_attempts,
       round(count(*) filter (where o.outcome = 'succeeded')::numeric / nullif(count(*), 0), 4) as success_rate
  from ops.payment_outcomes o group by o.day;
comment on view ops.payment_success_daily is 'Payment success rate per day (last 30 days): payments succeeded over '
  'payments succeeded plus failed attempts.';

create or replace view ops.duplicate_deliveries_daily with (security_invoker = true) as
with days as (
  select d::date as day from generate_series(date_trunc('day', now()) - interval '29 days', now(), '1 day') d
)
select days.day, coalesce(sum(dd.count), 0) as duplicates,
       (select count(*) from ops.stripe_events e where e.source = 'webhook'
         and e.received_at >= days.day and e.received_at < days.day + 1) as first_deliveries
  from days left join ops.duplicate_deliveries dd on dd.day = days.day
 group by days.day;
comment on view ops.duplicate_deliveries_daily is 'Per day (last 30): deliveries of an event already in the ledger '
  '(answered, applied nowhere) next to events delivered for the first time. Duplicates are normal (Stripe delivers '
  'at least once); duplicate side effects are what must be 0.';

create or replace view ops.overrides_weekly with (security_invoker = true) as
select w.week, sum(w.n) as overrides, jsonb_object_agg(w.action, w.n) as by_action
  from (select date_trunc('week', a.at)::date as week, a.action, count(*) as n from ops.audit_log a
         where a.actor_id is not null and a.at >= date_trunc('week', now()) - interval '11 weeks'
         group by 1, 2) w
 group by w.week;
comment on view ops.overrides_weekly is 'Changes a person made on the dashboard (audit rows with an actor: access '
  'overrides, replays, review decisions, ticket moves) per ISO week, last 12 weeks, by action.';

create or replace view ops.payment_access_lag with (security_invoker = true) as
select s.entity, s.to_status, e.event_id, e.type, e.event_created as paid_at, s.changed_at as granted_at,
       greatest(s.changed_at - e.event_created, interval '0') as lag
  from ops.status_changes s join ops.stripe_events e on e.event_id = s.stripe_event_id
 where s.to_status in ('paid', 'active') and s.stripe_event_id is not null
   and s.changed_at >= now() - interval '30 days'
   and (s.entity like 'order:%' and s.to_status = 'paid' or s.entity like 'customer:%' and s.to_status = 'active');
comment on view ops.payment_access_lag is 'Each grant of the last 30 days (an order paid, a customer''s billing '
  'active) and its lag: from Stripe creating the event that paid to our status change (delivery, retries, apply).';

create or replace view ops.payment_access_lag_daily with (security_invoker = true) as
select date_trunc('day', l.granted_at)::date as day, count(*) as grants,
       round(extract(epoch from percentile_cont(0.5) within group (order by l.lag))::numeric, 1) as p50_s,
       round(extract(epoch from percentile_cont(0.95) within group (order by l.lag))::numeric, 1) as p95_s,
       round(extract(epoch from max(l.lag))::numeric, 1) as max_s,
       count(*) filter (where l.lag > interval '5 minutes') as over_5_min
  from ops.payment_access_lag l group by 1;
comment on view ops.payment_access_lag_daily is 'Payment -> access lag per day (last 30): grants, p50 / p95 / max in '
  'seconds and how many took over 5 minutes.';

create or replace view ops.email_bounce_daily with (security_invoker = true) as
with days as (
  select d::date as day from generate_series(date_trunc('day', now()) - interval '29 days', now(), '1 day') d
), sent as (
  select n.created_at::date as day, count(*) as n from ops.notifications n
   where n.channel = 'email' and n.status in ('sent', 'captured')
     and n.created_at >= date_trunc('day', now()) - interval '29 days' group by 1
), back as (
  select p.received_at::date as day, count(*) filter (where p.type = 'email.bounced') as bounced,
         count(*) filter (where p.type = 'email.complained') as complained
    from ops.provider_events p
   where p.provider = 'resend' and p.type in ('email.bounced', 'email.complained')
     and p.received_at >= date_trunc('day', now()) - interval '29 days' group by 1
)
select days.day, coalesce(sent.n, 0) as sent, coalesce(back.bounced, 0) as bounced,
       coalesce(back.complained, 0) as complained,
       round(coalesce(back.bounced, 0)::numeric / nullif(sent.n, 0), 4) as bounce_rate
  from days left join sent on sent.day = days.day left join back on back.day = days.day;
comment on view ops.email_bounce_daily is 'Emails sent (or captured locally) per day (last 30), Resend''s bounces and '
  'complaints reported that day, and the bounce rate.';

revoke all on ops.payment_outcomes, ops.payment_success_daily, ops.duplicate_deliveries_daily, ops.overrides_weekly,
  ops.payment_access_lag, ops.payment_access_lag_daily, ops.email_bounce_daily from public, anon, authenticated;
grant select on ops.payment_outcomes, ops.payment_success_daily, ops.duplicate_deliveries_daily, ops.overrides_weekly,
  ops.payment_access_lag, ops.payment_access_lag_daily, ops.email_bounce_daily to service_role;
grant select on ops.duplicate_deliveries, ops.provider_events, ops.audit_log to service_role;

-- ---------------------------------------------------------------- alert rules
-- Payments not turned into access within the threshold (seconds): a grant in the window that lagged, or a
-- payment event the ledger holds but could not apply yet (failed, waiting for its retry) for longer.
create or replace function ops.alert_check_payment_access_lag(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb,
  out recovered boolean)
language plpgsql stable
set search_path = ''
as $$
declare
  slow bigint;
  fast bigint;
  worst numeric;
  last_slow timestamptz;
  last_fast timestamptz;
  waiting bigint;
  oldest numeric;
  example text;
begin
  select count(*) filter (where x.lag_s > r.threshold), count(*) filter (where x.lag_s <= r.threshold),
         max(x.lag_s), max(x.at) filter (where x.lag_s > r.threshold), max(x.at) filter (where x.lag_s <= r.threshold),
         (array_agg(x.event_id order by x.lag_s desc))[1]
    into slow, fast, worst, last_slow, last_fast, example
    from (select s.changed_at as at, e.event_id,
                 greatest(extract(epoch from s.changed_at - e.event_created), 0)::numeric as lag_s
            from ops.status_changes s join ops.stripe_events e on e.event_id = s.stripe_event_id
           where s.to_status in ('paid', 'active') and s.stripe_event_id is not null
             and s.changed_at > p_since and s.changed_at <= p_now
             and (s.entity like 'order:%' and s.to_status = 'paid'
                  or s.entity like 'customer:%' and s.to_status = 'active')) x;
  select count(*), max(extract(epoch from p_now - e.event_created))::numeric
    into waiting, oldest
    from ops.stripe_events e
   where e.status in ('received', 'failed') and e.received_at <= p_now
     and e.type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                    'payment_intent.succeeded', 'invoice.paid')
     and p_now - e.event_created > make_interval(secs => r.threshold::double precision);
  value := round(greatest(coalesce(worst, 0), coalesce(oldest, 0)), 1);
  firing := slow + waiting >= r.min_count and value > r.threshold;
  recovered := waiting = 0 and (last_slow is null or (last_slow <= p_now - r.clear_after and last_fast > last_slow));
  detail := jsonb_build_object('slow_grants', slow, 'grants_in_time', fast, 'worst_lag_s', round(worst, 1),
                               'waiting_payment_events', waiting, 'oldest_waiting_s', round(oldest, 1),
                               'slowest_event', example);
  summary := format('%s payment%s took over %s s to grant access in %s (worst %s s); %s paid event%s not applied yet',
                    slow, case when slow = 1 then '' else 's' end, r.threshold, ops.interval_words(r.window_interval),
                    coalesce(round(worst), 0), waiting, case when waiting = 1 then '' else 's' end);
end
$$;

-- The share of emails that bounced in the window (Resend's email.bounced over emails sent or captured).
create or replace function ops.alert_check_email_bounce_rate(r ops.alert_rules, p_now timestamptz,
  p_since timestamptz, out firing boolean, out value numeric, out summary text, out detail jsonb,
  out recovered boolean)
language plpgsql stable
set search_path = ''
as $$
declare
  bounced bigint;
  sent bigint;
  last_bounce timestamptz;
  last_sent timestamptz;
begin
  select count(*), max(p.received_at) into bounced, last_bounce from ops.provider_events p
   where p.provider = 'resend' and p.type = 'email.bounced' and p.received_at > p_since and p.received_at <= p_now;
  select count(*), max(n.created_at) into sent, last_sent from ops.notifications n
   where n.channel = 'email' and n.status in ('sent', 'captured') and n.created_at > p_since and n.created_at <= p_now;
  value := round(bounced::numeric / nullif(greatest(sent, bounced), 0), 4);
  firing := bounced >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bounce is null or (last_bounce <= p_now - r.clear_after and last_sent > last_bounce);
  detail := jsonb_build_object('bounced', bounced, 'sent', sent, 'last_bounce_at', last_bounce);
  summary := format('%s of %s emails bounced in %s (%s%%)', bounced, sent, ops.interval_words(r.window_interval),
                    round(coalesce(value, 0) * 100, 1));
end
$$;

-- Defaults (a founder's edits survive: on conflict the row stays; only a check_fn that no longer resolves is fixed).
-- payment_access_lag: "payment-success-to-access delay above 5 minutes" (../shared/seeds 001, item 8).
-- email_bounce_rate: the seeds name bounce handling (000, launch checklist) but no figure; 2 % is the failure rate
-- they alert on for deliveries ("webhook failure rate above 2 percent", 001 item 8, and 004), the same floor as
-- "success rates below 98 percent" (003); at least 3 bounces in 24 h, so one typo among a few emails does not page.
insert into ops.alert_rules (rule, description, threshold, window_interval, min_count, clear_after, severity,
                             inhibited_by, runbook, check_fn)
values ('payment_access_lag', 'Payments that took longer than threshold seconds to grant access (order paid, '
          'billing active), or paid events still waiting to apply', 300, interval '15 minutes', 1,
        interval '5 minutes', 'warning', '{}',
        'select * from ops.payment_access_lag order by lag desc limit 20; a waiting event: its last_error in '
        'ops.stripe_events, fix, then npm run replay -- events.',
        'ops.alert_check_payment_access_lag(ops.alert_rules,timestamptz,timestamptz)'),
       ('email_bounce_rate', 'Share of emails Resend reported bounced (email.bounced over emails sent) in the window',
        0.02, interval '24 hours', 3, interval '1 hour', 'warning', '{}',
        'select * from ops.email_suppressions order by suppressed_at desc; check the addresses the app collects and '
        'the domain''s SPF / DKIM (npm run doctor).',
        'ops.alert_check_email_bounce_rate(ops.alert_rules,timestamptz,timestamptz)')
on conflict (rule) do update set check_fn = excluded.check_fn
 where to_regprocedure(ops.alert_rules.check_fn) is null;

-- ---------------------------------------------------------------- the dashboard's figures
-- security definer: the figures read the ledger, jobs, notifications and the audit log; admins only.
create or replace function ops.dashboard_figures() returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  week_start date := date_trunc('week', now())::date;
begin
  perform ops.require_admin();
  return jsonb_build_object(
    'payments_7d', (select jsonb_build_object(
                      'succeeded', coalesce(sum(p.succeeded), 0),
                      'failed_attempts', coalesce(sum(p.failed_attempts), 0),
                      'success_rate',
                        round(sum(p.succeeded)::numeric / nullif(sum(p.succeeded + p.failed_attempts), 0), 4))
                      from ops.payment_success_daily p where p.day > current_date - 7),
    'duplicates_today', (select coalesce(sum(d.duplicates), 0) from ops.duplicate_deliveries_daily d
                          where d.day = current_date),
    'duplicates_7d', (select coalesce(sum(d.duplicates), 0) from ops.duplicate_deliveries_daily d
                       where d.day > current_date - 7),
    'overrides_this_week', (select coalesce(sum(o.overrides), 0) from ops.overrides_weekly o where o.week = week_start),
    'overrides_last_week', (select coalesce(sum(o.overrides), 0) from ops.overrides_weekly o
                             where o.week = week_start - 7),
    'lag_7d', (select jsonb_build_object(
                 'grants', count(*),
                 'p95_s', round(extract(epoch from percentile_cont(0.95) within group (order by l.lag))::numeric, 1),
                 'max_s', round(extract(epoch from max(l.lag))::numeric, 1),
                 'over_5_min', count(*) filter (where l.lag > interval '5 minutes'))
                 from ops.payment_access_lag l where l.granted_at > now() - interval '7 days'),
    'bounces_7d', (select jsonb_build_object('sent', coalesce(sum(b.sent), 0), 'bounced', coalesce(sum(b.bounced), 0),
                                             'bounce_rate', round(sum(b.bounced)::numeric / nullif(sum(b.sent), 0), 4))
                     from ops.email_bounce_daily b where b.day > current_date - 7));
end
$$;
comment on function ops.dashboard_figures() is 'The founder''s figures for the dashboard: payment success rate, '
  'duplicate deliveries, overrides, payment -> access lag, bounce rate (admins only; the ops.*_daily views in Studio).';
revoke all on function ops.dashboard_figures() from public;
grant execute on function ops.dashboard_figures() to authenticated;
