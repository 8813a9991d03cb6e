-- pgTAP runs as supabase_admin: it acts as the billing_portal login (set session authorization)
-- Dunning and the billing portal (#20, migrations 20261207005300 and 5310): a failed renewal's case, its one email,
-- the sweep's reminders and grace period on a test clock, access through grace, blocked, an override and the paid
-- invoice, replays and a late failure changing nothing; who reads the cases; what the billing_portal login may do
-- and the refusals of its door.
begin;
set search_path = public, extensions;
select plan(29);

call tests.create_user('00000000-0000-4000-8000-0000000d0001', 'renews@dunning.test');
call tests.create_user('00000000-0000-4000-8000-0000000d0002', 'nobilling@dunning.test');
call tests.create_user('00000000-0000-4000-8000-0000000d0003', 'anon@dunning.test', p_is_anonymous => true);
update ops.settings set dunning_reminder_days = '{3,7}', dunning_grace_days = 10, renewal_failed_policy = 'email';

-- an active subscription whose metadata names the user, then its renewal failing (Stripe time 2030-01-01)
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_sub', 'customer.subscription.created', 1893456000,
  '{"id":"sub_dun","customer":"cus_dun","status":"active","metadata":{"user_id":"00000000-0000-4000-8000-0000000d0001"}}'));
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_fail1', 'invoice.payment_failed', 1893456100,
  '{"id":"in_dun","customer":"cus_dun","subscription":"sub_dun","billing_reason":"subscription_cycle",
    "status":"open","amount_due":2900,"amount_paid":0,"currency":"eur","attempt_count":1,"number":"DUN-0001",
    "hosted_invoice_url":"https://invoice.stripe.com/i/acct_x/test_dun"}'));
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_pastdue', 'customer.subscription.updated', 1893456100,
  '{"id":"sub_dun","customer":"cus_dun","status":"past_due","metadata":{}}'));

select is((select access_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'grace', 'a failed renewal: past_due keeps access in grace');
select results_eq($$ select stripe_subscription_id, failed_at, amount_due, policy from ops.dunning_cases
                      where stripe_invoice_id = 'in_dun' $$,
  $$ values ('sub_dun'::text, to_timestamp(1893456100), 2900::bigint, 'email'::text) $$,
  'the case opens with its subscription, Stripe''s time of the failure, the amount and the policy');
select results_eq($$ select payload -> 'data' ->> 'hosted_invoice_url', payload ->> 'to' from ops.jobs
                      where dedupe_key = 'notify:renewal_failed:invoice:in_dun:user:00000000-0000-4000-8000-0000000d0001' $$,
  $$ values ('https://invoice.stripe.com/i/acct_x/test_dun'::text, 'renews@dunning.test'::text) $$,
  'one renewal_failed email, frozen with the hosted invoice page and the address');

-- a replay and Stripe's second failed attempt add nothing
select ops.try_apply_stripe_event('evt_dun_fail1');
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_fail2', 'invoice.payment_failed', 1893459700,
  '{"id":"in_dun","customer":"cus_dun","subscription":"sub_dun","billing_reason":"subscription_cycle",
    "status":"open","amount_due":2900,"amount_paid":0,"currency":"eur","attempt_count":2}'));
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:%:invoice:in_dun%'), 1,
  'a replay and a second failed attempt enqueue no second email');
select is((select attempt_count from ops.dunning_cases where stripe_invoice_id = 'in_dun'), 2,
  'the case counts Stripe''s attempts');

-- the sweep on a test clock
select is(ops.sweep_dunning(to_timestamp(1893456100) + interval '2 days') ->> 'reminders', '0',
  'day 2: no reminder yet');
select ops.sweep_dunning(to_timestamp(1893456100) + interval '3 days');
select ok(exists (select 1 from ops.jobs where dedupe_key
  = 'notify:renewal_reminder:invoice:in_dun:reminder:1:user:00000000-0000-4000-8000-0000000d0001'
  and payload -> 'data' ->> 'reminder' = '1'), 'day 3: the first reminder');
select ops.sweep_dunning(to_timestamp(1893456100) + interval '3 days 1 hour');
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:renewal_reminder:invoice:in_dun:%'), 1,
  'a later sweep the same day sends no second one');
select ops.sweep_dunning(to_timestamp(1893456100) + interval '7 days');
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:renewal_reminder:invoice:in_dun:%'), 2,
  'day 7: the second reminder');
select is((select access_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'grace', 'still in grace on day 7');
select ops.sweep_dunning(to_timestamp(1893456100) + interval '10 days');
select is((select access_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'blocked', 'day 10: the grace period is over, access is blocked');
select is((select billing_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'past_due', 'billing stays what Stripe says');

-- a founder's override wins over the ended grace period
insert into ops.access_overrides (customer_id, access_status, reason, expires_at)
select id, 'granted', 'pgTAP: the founder lets them in', now() + interval '1 day'
  from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001';
update public.customers set access_status = access_status where user_id = '00000000-0000-4000-8000-0000000d0001';
select is((select access_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'granted', 'a founder''s grant wins over the ended grace period');
update ops.access_overrides set ended_at = now(), ended_reason = 'cleared'
 where customer_id = (select id from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001');
update public.customers set access_status = access_status where user_id = '00000000-0000-4000-8000-0000000d0001';

-- the reminders are still queued (nothing runs in this transaction) when the invoice is paid
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_paid', 'invoice.paid', 1893460000,
  '{"id":"in_dun","customer":"cus_dun","subscription":"sub_dun","billing_reason":"subscription_cycle",
    "status":"paid","amount_due":2900,"amount_paid":2900,"currency":"eur","attempt_count":3}'));
select is((select access_status from public.customers where user_id = '00000000-0000-4000-8000-0000000d0001'),
  'granted', 'invoice.paid restores access at once, before the subscription says active');
select results_eq($$ select status, result ->> 'canceled' from ops.jobs
                      where dedupe_key like 'notify:renewal_reminder:invoice:in_dun:reminder:2:%' $$,
  $$ values ('succeeded'::text, 'the invoice was paid'::text) $$, 'a reminder still queued is cancelled');
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:payment_recovered:invoice:in_dun:%'), 1,
  'one payment_recovered email');
select ops.ingest_stripe_event(tests.stripe_event('evt_dun_paid2', 'invoice.payment_succeeded', 1893460000,
  '{"id":"in_dun","customer":"cus_dun","subscription":"sub_dun","billing_reason":"subscription_cycle",
    "status":"paid","amount_due":2900,"amount_paid":2900,"currency":"eur"}'));
select ops.try_apply_stripe_event('evt_dun_paid');
-- Stripe's first failure delivered again, late
select ops.try_apply_stripe_event('evt_dun_fail1');
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:%:invoice:in_dun%'
                                                and dedupe_key not like 'notify:renewal_reminder:%'), 2,
  'invoice.payment_succeeded, a replayed paid event and a late failure send nothing more');
select is((select recovered_event_id from ops.dunning_cases where stripe_invoice_id = 'in_dun'), 'evt_dun_paid',
  'the case stays closed by the first paid event');
select is(ops.sweep_dunning(to_timestamp(1893456100) + interval '30 days') ->> 'reminders', '0',
  'a paid case gets no reminder');

-- ---------------------------------------------------------------- who reads the cases
select ok((select relrowsecurity from pg_class where oid = 'ops.dunning_cases'::regclass),
  'RLS is on for ops.dunning_cases');
select ok(not has_table_privilege('authenticated', 'ops.dunning_cases', 'select')
          and not has_table_privilege('anon', 'ops.dunning_cases', 'select'),
  'the app''s roles read no dunning case');

-- ---------------------------------------------------------------- the billing_portal role
select ok(not pg_has_role('billing_portal', 'authenticated', 'member')
          and not (select rolinherit from pg_roles where rolname = 'billing_portal'),
  'billing_portal is no member of authenticated and inherits nothing');
select set_eq(
  $$ select p.proname::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'ops'::regnamespace, 'private'::regnamespace)
        and has_function_privilege('billing_portal', p.oid, 'execute') $$,
  array['take_rate_tokens', 'record_endpoint_outcome', 'billing_portal_customer'],
  'billing_portal executes rate tokens, its answer counter and its door, nothing else');
select is_empty(
  $$ select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname in ('public', 'ops', 'private', 'auth')
        and has_table_privilege('billing_portal', c.oid, 'select, insert, update, delete') $$,
  'billing_portal holds no table privilege');
select ok(not has_function_privilege('authenticated', 'ops.billing_portal_customer(uuid,boolean,text)', 'execute')
          and not has_function_privilege('anon', 'ops.billing_portal_customer(uuid,boolean,text)', 'execute'),
  'the door is not the Data API''s');

grant usage on schema extensions to billing_portal;
set local session authorization billing_portal;
select is(ops.billing_portal_customer('00000000-0000-4000-8000-0000000d0001', false, null) ->> 'stripe_customer_id',
  'cus_dun', 'the subscriber''s own Stripe customer');
select throws_ok($$ select ops.billing_portal_customer('00000000-0000-4000-8000-0000000d0002', false, null) $$,
  'BP404', 'you have no billing account yet: subscribe to a plan first', 'no Stripe customer: BP404');
select throws_ok($$ select ops.billing_portal_customer('00000000-0000-4000-8000-0000000d0003', false, null) $$,
  'BP403', null, 'an anonymous session: BP403');
select throws_ok($$ select ops.billing_portal_customer('00000000-0000-4000-8000-0000000d0001', true, null) $$,
  '55000', null, 'a live key against test-mode settings: 55000');
reset session authorization;

select * from finish();
rollback;
