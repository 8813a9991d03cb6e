-- The founder's page and figures (#20, migrations 20261207005500-5520): the dashboard's lists with their totals
-- and deterministic pages (findings of one run share found_at: id breaks the tie), admins only; the request id a
-- function sets (backbone.request_id) lands on the jobs its transaction enqueues and the journey finds it; the
-- figures' privileges; the two alert rules with an injected clock (2100, beyond every real row).
begin;
-- pg_cron's evaluator (every minute) takes this lock, then writes rows this file's transaction may hold: take it
-- first, so the evaluator waits for this transaction instead of deadlocking with it
select pg_advisory_xact_lock(hashtextextended('ops.evaluate_alerts', 0));
set search_path = public, extensions;
select plan(34);
\set refusal 'admins only: sign in with an account whose app_metadata.role is admin'

create temp table clock (t timestamptz);
insert into clock values ('2100-01-01 12:00:00+00');
create function pg_temp.t(p_offset interval default interval '0') returns timestamptz language sql as $$
  select t + p_offset from clock $$;
create function pg_temp.rule(p_rule text, p_at timestamptz)
returns table (firing boolean, value numeric, summary text, detail jsonb, recovered boolean) language sql as $$
  select (ops.check_alert_rule(r, p_at, p_at - r.window_interval)).* from ops.alert_rules r where r.rule = p_rule $$;
create function pg_temp.evt(p_type text, p_status text, p_created timestamptz, p_received timestamptz)
returns text language sql as $$
  insert into ops.stripe_events (event_id, type, livemode, event_created, payload, status, received_at)
  values ('evt_pgtap28_' || gen_random_uuid(), p_type, false, p_created, '{}', p_status, p_received)
  returning event_id $$;
create function pg_temp.grant_at(p_event text, p_at timestamptz) returns void language sql as $$
  insert into ops.status_changes (entity, from_status, to_status, stripe_event_id, changed_at)
  values ('order:' || gen_random_uuid(), 'pending_payment', 'paid', p_event, p_at) $$;

call tests.create_user('00000000-0000-4000-8000-0000000028b1', 'pgtap-28-buyer@example.com');
call tests.create_user('00000000-0000-4000-8000-0000000028ad', 'pgtap-28-admin@example.com',
                       p_app_metadata => '{"role": "admin"}');

-- ---------------------------------------------------------------- who may read what
select is_empty($$ select v from unnest(array['ops.payment_outcomes', 'ops.payment_success_daily',
                     'ops.duplicate_deliveries_daily', 'ops.overrides_weekly', 'ops.payment_access_lag',
                     'ops.payment_access_lag_daily', 'ops.email_bounce_daily', 'ops.duplicate_deliveries']) v
                  where has_table_privilege('authenticated', v, 'select') or has_table_privilege('anon', v, 'select')
                     or not has_table_privilege('service_role', v, 'select') $$,
  'the figures are Studio''s (service_role), not the API roles''');
select is_empty($$ select r from unnest(array['authenticated', 'anon', 'pipeline_worker', 'checkout', 'dashboard']) r
                  where has_function_privilege(r, 'ops.record_duplicate_delivery(text)', 'execute') $$,
  'only the webhook counts duplicate deliveries');
select ok(has_function_privilege('stripe_webhook', 'ops.record_duplicate_delivery(text)', 'execute'),
  'the webhook''s login may count them');

-- acting as a buyer
call tests.authenticate_as('00000000-0000-4000-8000-0000000028b1');
select throws_ok($$ select ops.dashboard_lists('{}') $$, '42501', :'refusal', 'a buyer cannot read the lists');
select throws_ok($$ select ops.dashboard_figures() $$, '42501', :'refusal', 'a buyer cannot read the figures');
reset role;

-- ---------------------------------------------------------------- lists: totals and pages
-- one reconciliation run: 60 findings, one found_at (newer than any real row)
insert into ops.reconciliation_findings (kind, object_id, next_action, found_at, last_seen_at)
select 'payment_without_order', 'pi_pgtap28_' || n, 'pgtap', pg_temp.t(), pg_temp.t() from generate_series(1, 60) n;
create temp table ours as
select id, row_number() over (order by id desc) as rank from ops.reconciliation_findings
 where object_id like 'pi_pgtap28_%';
create temp table expected as
select (select count(*) from ops.reconciliation_findings where status = 'open') as findings,
       (select count(*) from ops.audit_log) as audit,
       (select count(*) from public.support_tickets where status in ('open', 'pending')) as tickets,
       (select count(*) from ops.pipeline_exceptions) as exceptions;
grant select on ours, expected to authenticated;

-- acting as an admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000028ad', '{"email": "pgtap-28-admin@example.com"}');
create temp table p1 on commit drop as select ops.dashboard_lists('{}') as l;
create temp table p2 on commit drop as select ops.dashboard_lists('{"findings": 2}') as l;
select is((select (l ->> 'findings_total')::bigint from p1), (select findings from expected),
  'the heading''s total is every open finding, not the rows shown');
select is((select jsonb_array_length(l -> 'findings') from p1), 50, 'a page shows 50');
select is((select array_agg((f ->> 'id')::bigint order by o) from p1, jsonb_array_elements(l -> 'findings')
             with ordinality x(f, o)),
          (select array_agg(id order by rank) from ours where rank <= 50),
  'page 1: the newest run''s findings, highest id first (one found_at: the id breaks the tie)');
select is((select array_agg((f ->> 'id')::bigint order by o) from p2, jsonb_array_elements(l -> 'findings')
             with ordinality x(f, o) where o <= 10),
          (select array_agg(id order by rank) from ours where rank > 50),
  'page 2 starts with the next 10 of the run');
select is((select l #> '{pages,findings}' from p2), '{"page": 2, "size": 50, "offset": 50}'::jsonb,
  'and says which page it is');
select is((select l -> 'pages' -> 'exceptions' ->> 'page' from p2), '1', 'other lists stay on their first page');
select is((select (l ->> 'audit_total')::bigint from p1), (select audit from expected),
  'the audit log''s total');
select is((select (l ->> 'tickets_total')::bigint from p1), (select tickets from expected), 'open tickets'' total');
select is((select (l ->> 'exceptions_total')::bigint from p1), (select exceptions from expected), 'exceptions'' total');
select throws_ok($$ select ops.dashboard_lists('{"findings": "x"}') $$, '22023', null, 'a page must be a number');
select throws_ok($$ select ops.dashboard_lists('{"findings": 0}') $$, '22023', null, 'pages start at 1');
select is((select jsonb_array_length(l -> 'findings') from (select ops.dashboard_lists('{"findings": 100000}') l) x),
  0, 'a page past the last is empty');
select ok((select ops.dashboard_figures() ? 'lag_7d'), 'an admin reads the figures');
reset role;

-- ---------------------------------------------------------------- request ids on jobs, found by the journey
select set_config('backbone.request_id', 'pgtap-28-request', true);
select ops.enqueue_job('crm.contact', '{"customer_id": "00000000-0000-4000-8000-000000000000"}', 'pgtap28:a',
                       p_delay => interval '1 day');
select set_config('backbone.request_id', '', true);
select ops.enqueue_job('crm.contact', '{}', 'pgtap28:b', p_delay => interval '1 day');
select is((select array_agg(x_request_id order by dedupe_key) from ops.jobs where dedupe_key like 'pgtap28:%'),
          array['pgtap-28-request', null], 'a job takes the transaction''s request id, and none outside a request');
select is((select count(*)::int from ops.journey('pgtap-28-request') where source = 'job'
             and correlation_id = 'pgtap-28-request'), 1, 'the journey finds the job by its request id, and shows it');
select throws_ok($$ select * from ops.journey('two words') $$, '22023', null,
  'a text that names nothing traceable is refused');

-- ---------------------------------------------------------------- duplicate deliveries
create temp table dup_before as
select coalesce((select count from ops.duplicate_deliveries where day = current_date and endpoint = 'stripe-webhook'),
                0) as n;
select ops.record_duplicate_delivery('stripe-webhook');
select ops.record_duplicate_delivery('stripe-webhook');
select is((select count from ops.duplicate_deliveries where day = current_date and endpoint = 'stripe-webhook'),
          (select n + 2 from dup_before), 'each duplicate delivery adds one to the day''s counter');
select is((select duplicates from ops.duplicate_deliveries_daily where day = current_date),
          (select (n + 2)::numeric from dup_before), 'the daily view counts them');

-- ---------------------------------------------------------------- payment_access_lag (threshold 300 s)
update ops.stripe_events set status = 'processed' where status in ('received', 'failed');
select is((select firing from pg_temp.rule('payment_access_lag', pg_temp.t())), false, 'nothing in the window: quiet');
select pg_temp.grant_at(pg_temp.evt('checkout.session.completed', 'processed', pg_temp.t('-40 seconds'),
                                    pg_temp.t('-39 seconds')), pg_temp.t('-39 seconds'));
select is((select firing from pg_temp.rule('payment_access_lag', pg_temp.t())), false, 'a grant 40 s after the payment');
select pg_temp.grant_at(pg_temp.evt('checkout.session.completed', 'processed', pg_temp.t('-11 minutes'),
                                    pg_temp.t('-1 minute')), pg_temp.t('-1 minute'));
select is((select (firing, value) from pg_temp.rule('payment_access_lag', pg_temp.t())), (true, 600.0),
  'a payment granted 10 minutes after Stripe created it fires, its lag the value');
select is((select recovered from pg_temp.rule('payment_access_lag', pg_temp.t())), false,
  'not recovered while that grant is recent');
select pg_temp.grant_at(pg_temp.evt('invoice.paid', 'processed', pg_temp.t('3 minutes'), pg_temp.t('3 minutes')),
                        pg_temp.t('5 minutes'));
select is((select recovered from pg_temp.rule('payment_access_lag', pg_temp.t('7 minutes'))), true,
  'recovered once a later grant came in time and the slow one is clear_after old');
-- a paid event the ledger could not apply yet: no grant, but the customer is waiting
select pg_temp.evt('checkout.session.completed', 'failed', pg_temp.t('1 hour'), pg_temp.t('1 hour'));
select is((select (firing, recovered) from pg_temp.rule('payment_access_lag', pg_temp.t('1 hour 6 minutes'))),
  (true, false), 'a paid event still failing to apply after 6 minutes fires, without any grant');
select is((select firing from pg_temp.rule('payment_access_lag', pg_temp.t('1 hour 4 minutes'))), false,
  'but not before the threshold');

-- ---------------------------------------------------------------- email_bounce_rate (2 %, at least 3 bounces)
insert into ops.notifications (dedupe_key, channel, template, entity, recipient, status, adapter, created_at)
select 'pgtap28:mail:' || n, 'email', 'payment_receipt', 'order:pgtap', 'x@example.com', 'sent', 'resend',
       pg_temp.t('-2 hours')
  from generate_series(1, 100) n;
insert into ops.provider_events (provider, event_id, type, received_at)
values ('resend', 'pgtap28-b1', 'email.bounced', pg_temp.t('-1 hour')),
       ('resend', 'pgtap28-b2', 'email.bounced', pg_temp.t('-1 hour')),
       ('resend', 'pgtap28-d1', 'email.delivered', pg_temp.t('-1 hour'));
select is((select (firing, value) from pg_temp.rule('email_bounce_rate', pg_temp.t())), (false, 0.0200),
  '2 bounces of 100 (2 %): below min_count and not over 2 %');
insert into ops.provider_events (provider, event_id, type, received_at)
values ('resend', 'pgtap28-b3', 'email.bounced', pg_temp.t('-30 minutes'));
select is((select (firing, value) from pg_temp.rule('email_bounce_rate', pg_temp.t())), (true, 0.0300),
  '3 bounces of 100 (3 %) fire');
insert into ops.notifications (dedupe_key, channel, template, entity, recipient, status, adapter, created_at)
select 'pgtap28:mail2:' || n, 'email', 'welcome', 'user:pgtap', 'x@example.com', 'captured', 'capture',
       pg_temp.t('-10 minutes')
  from generate_series(1, 100) n;
select is((select (firing, value, recovered) from pg_temp.rule('email_bounce_rate', pg_temp.t())),
  (false, 0.0150, false), '3 of 200 (1.5 %) is under the threshold; not recovered while the last bounce is recent');
select is((select recovered from pg_temp.rule('email_bounce_rate', pg_temp.t('31 minutes'))), true,
  'recovered once the last bounce is clear_after (1 h) old and mails went out since');

select * from finish();
rollback;
