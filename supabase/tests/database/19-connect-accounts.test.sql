-- Sellers on Stripe Connect (#18), accounts and payouts: ops.apply_connect_account (newest state wins, the
-- seller's emails once per episode, deauthorization final), the account status in words, ops.apply_payout
-- (final statuses kept, one ticket and one email per failed payout), the payout_failed check, the RLS matrix
-- of seller_accounts / seller_payouts / seller_account_status, listings of blocked sellers, and the
-- seller_onboarding login's doors and nothing else.
-- pgTAP runs as supabase_admin: it acts as the seller_onboarding login (set session authorization)
begin;
set search_path = public, extensions;
select plan(53);

call tests.create_user('00000000-0000-4000-8000-0000000019a1', 'a@connect.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000019a2', 'b@connect.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000019a3', 'c@connect.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000019b1', 'buyer@connect.test');
call tests.create_user('00000000-0000-4000-8000-0000000019c1', 'admin@connect.test', p_app_metadata => '{"role":"admin"}');
update public.profiles set country = 'FR' where id = '00000000-0000-4000-8000-0000000019a3';
insert into public.seller_accounts (seller_id, stripe_account_id) values
  ('00000000-0000-4000-8000-0000000019a1', 'acct_pgtap19a'),
  ('00000000-0000-4000-8000-0000000019a2', 'acct_pgtap19b');
insert into public.listings (id, seller_id, title, price_amount, currency, active) values
  ('00000000-0000-4000-8000-0000000019d1', '00000000-0000-4000-8000-0000000019a1', 'A mug', 1500, 'eur', true),
  ('00000000-0000-4000-8000-0000000019d2', '00000000-0000-4000-8000-0000000019a2', 'B bowl', 2000, 'eur', true);

create function pg_temp.account(p_id text, p_account text, p_created bigint, p_state jsonb) returns jsonb
language sql as $$
  select tests.stripe_event(p_id, 'account.updated', p_created, jsonb_build_object(
    'id', p_account, 'object', 'account',
    'charges_enabled', coalesce(p_state -> 'charges_enabled', 'true'),
    'payouts_enabled', coalesce(p_state -> 'payouts_enabled', 'true'),
    'details_submitted', coalesce(p_state -> 'details_submitted', 'true'),
    'requirements', jsonb_build_object(
      'currently_due', coalesce(p_state -> 'currently_due', '[]'), 'past_due', coalesce(p_state -> 'past_due', '[]'),
      'eventually_due', coalesce(p_state -> 'currently_due', '[]'), 'current_deadline', p_state -> 'current_deadline',
      'disabled_reason', p_state -> 'disabled_reason')), p_account => p_account)
$$;
create function pg_temp.payout(p_id text, p_type text, p_account text, p_payout text, p_created bigint,
                               p_status text, p_code text default null) returns jsonb
language sql as $$
  select tests.stripe_event(p_id, p_type, p_created, jsonb_build_object(
    'id', p_payout, 'object', 'payout', 'amount', 5000, 'currency', 'eur', 'status', p_status,
    'arrival_date', p_created + 86400, 'failure_code', p_code,
    'failure_message', case when p_code is not null then 'The bank refused it.' end), p_account => p_account)
$$;
create function pg_temp.emails(p_template text, p_seller text) returns bigint
language sql as $$
  select count(*) from ops.jobs where kind = 'notify.email' and payload ->> 'template' = p_template
     and payload ->> 'recipient' = 'user:' || p_seller
$$;
create function pg_temp.a(p_column text) returns text language sql as $$
  select to_jsonb(a) ->> p_column from public.seller_accounts a where a.stripe_account_id = 'acct_pgtap19a'
$$;

select ok((select relrowsecurity from pg_class where oid = 'public.seller_accounts'::regclass),
  'RLS is on for public.seller_accounts');
select ok((select relrowsecurity from pg_class where oid = 'public.seller_payouts'::regclass),
  'RLS is on for public.seller_payouts');

-- ---------------------------------------------------------------- account.updated
select is(ops.apply_connect_account(pg_temp.account('evt_19_1', 'acct_pgtap19a', 1000, '{}')), 'processed',
  'account.updated of a seller''s account is applied');
select is(pg_temp.a('charges_enabled'), 'true', 'charges enabled from the account');
select ops.apply_connect_account(pg_temp.account('evt_19_0', 'acct_pgtap19a', 900,
  '{"charges_enabled": false, "disabled_reason": "requirements.past_due"}'));
select is(pg_temp.a('charges_enabled'), 'true', 'an older account.updated changes nothing');
select ops.apply_connect_account(pg_temp.account('evt_19_2', 'acct_pgtap19a', 1100,
  '{"charges_enabled": false, "currently_due": ["external_account"], "past_due": ["external_account"],
    "disabled_reason": "requirements.past_due"}'));
select is(pg_temp.a('requirements_past_due'), '["external_account"]', 'past-due requirements recorded');
select is(pg_temp.emails('seller_requirements_past_due', '00000000-0000-4000-8000-0000000019a1'), 1::bigint,
  'the seller is emailed when requirements become past due');
select ops.apply_connect_account(pg_temp.account('evt_19_3', 'acct_pgtap19a', 1200,
  '{"charges_enabled": false, "currently_due": ["external_account"], "past_due": ["external_account"],
    "disabled_reason": "requirements.past_due"}'));
select ops.apply_connect_account(pg_temp.account('evt_19_2', 'acct_pgtap19a', 1100,
  '{"charges_enabled": false, "currently_due": ["external_account"], "past_due": ["external_account"],
    "disabled_reason": "requirements.past_due"}'));
select is(pg_temp.emails('seller_requirements_past_due', '00000000-0000-4000-8000-0000000019a1'), 1::bigint,
  'still past due, and the same event applied again: no second email');
select is(pg_temp.emails('seller_requirements_due', '00000000-0000-4000-8000-0000000019a1'), 0::bigint,
  'a past-due email is not doubled by a due one');
select ops.apply_connect_account(pg_temp.account('evt_19_4', 'acct_pgtap19a', 1300, '{}'));
select ok(pg_temp.a('past_due_notified_at') is null and pg_temp.a('charges_enabled') = 'true',
  'requirements met: the notices reset and charges are enabled again');
select ops.apply_connect_account(pg_temp.account('evt_19_5', 'acct_pgtap19a', 1400,
  '{"currently_due": ["individual.verification.document"], "current_deadline": 1700000000}'));
select is(pg_temp.emails('seller_requirements_due', '00000000-0000-4000-8000-0000000019a1'), 1::bigint,
  'requirements due after onboarding: one email');
select is((select payload -> 'data' -> 'requirements' from ops.jobs
            where payload ->> 'template' = 'seller_requirements_due'
              and payload ->> 'recipient' = 'user:00000000-0000-4000-8000-0000000019a1'),
  '["individual.verification.document"]'::jsonb, 'the email names what is due');
select ops.apply_connect_account(pg_temp.account('evt_19_6', 'acct_pgtap19b', 1000,
  '{"charges_enabled": false, "details_submitted": false, "currently_due": ["business_type"]}'));
select is(pg_temp.emails('seller_requirements_due', '00000000-0000-4000-8000-0000000019a2'), 0::bigint,
  'during onboarding (details not submitted) nothing due is emailed: the app''s page says it');
select is(ops.apply_connect_account(tests.stripe_event('evt_19_7', 'account.updated', 1000,
  '{"id": "acct_pgtap19platform", "object": "account"}')), 'ignored', 'the platform''s own account.updated is ignored');
select is(ops.apply_connect_account(pg_temp.account('evt_19_8', 'acct_pgtap19foreign', 1000, '{}')), 'ignored',
  'an account that is no seller''s is ignored');

-- ---------------------------------------------------------------- deauthorized, and the status in words
select ops.apply_connect_account(tests.stripe_event('evt_19_9', 'account.application.deauthorized', 2000,
  '{"id": "ca_pgtap19", "object": "application"}', p_account => 'acct_pgtap19b'));
select ops.apply_connect_account(pg_temp.account('evt_19_10', 'acct_pgtap19b', 2100, '{}'));
select results_eq($$ select status, charges_enabled, why_blocked from public.seller_account_status
                      where stripe_account_id = 'acct_pgtap19b' $$,
  $$ values ('disconnected', false, 'You disconnected your Stripe account from this platform.') $$,
  'a deauthorized account is disconnected for good, even after a later account.updated');
select is((private.seller_block_reason('rejected.fraud', '{}', '{}', true, false, null)).why,
  'Your account was closed for suspected fraud.', 'rejected.fraud in words');
select is((private.seller_block_reason('requirements.pending_verification', '{}', '{}', true, false, null)).next_step,
  'Nothing to do now: Stripe will email you if it needs more.', 'pending verification: nothing to do');
select is((private.seller_block_reason('platform_paused', '{}', '{}', true, false, null)).why,
  'The platform paused payments to your account.', 'platform_paused in words');
select results_eq($$ select status, next_step from public.seller_account_status
                      where stripe_account_id = 'acct_pgtap19a' $$,
  $$ values ('action_required', 'Open seller onboarding and complete what Stripe asks for.') $$,
  'charges enabled but something due: action required, with the next step');
select is((select count(*) from ops.blocked_sellers where seller_id in ('00000000-0000-4000-8000-0000000019a1',
  '00000000-0000-4000-8000-0000000019a2')), 2::bigint, 'both show in Studio''s ops.blocked_sellers');

-- ---------------------------------------------------------------- payouts
select ops.apply_payout(pg_temp.payout('evt_19_p1', 'payout.created', 'acct_pgtap19a', 'po_pgtap19a', 100, 'pending'));
select is(ops.apply_payout(pg_temp.payout('evt_19_p2', 'payout.failed', 'acct_pgtap19a', 'po_pgtap19a', 200, 'failed',
  'account_closed')), 'processed', 'payout.failed of a seller''s account is applied');
select results_eq($$ select status, failure_code, failed_at, seller_id::text from public.seller_payouts
                      where id = 'po_pgtap19a' $$,
  $$ values ('failed', 'account_closed', to_timestamp(200), '00000000-0000-4000-8000-0000000019a1') $$,
  'the payout is failed, with its code, time and seller');
select results_eq($$ select queue, category, source, requester_id from public.support_tickets
                      where case_key = 'payout_failed:po_pgtap19a' $$,
  $$ values ('payouts', 'payout_failed', 'system', null::uuid) $$, 'one system ticket in the payouts queue');
select matches((select m.body from public.ticket_messages m join public.support_tickets t on t.id = m.ticket_id
                 where t.case_key = 'payout_failed:po_pgtap19a'), 'account_closed.*add a new bank account',
  'the ticket''s note says the code and what the seller was told');
select is(pg_temp.emails('seller_payout_failed', '00000000-0000-4000-8000-0000000019a1'), 1::bigint,
  'the seller gets one email');
select ops.apply_payout(pg_temp.payout('evt_19_p2', 'payout.failed', 'acct_pgtap19a', 'po_pgtap19a', 200, 'failed',
  'account_closed'));
select ops.apply_payout(pg_temp.payout('evt_19_p3', 'payout.updated', 'acct_pgtap19a', 'po_pgtap19a', 210, 'failed',
  'account_closed'));
select ok((select count(*) from public.support_tickets where case_key like 'payout_failed:po_pgtap19a%') = 1
          and pg_temp.emails('seller_payout_failed', '00000000-0000-4000-8000-0000000019a1') = 1,
  'applied again, or the same failure in another event: still one ticket and one email');
select ops.apply_payout(pg_temp.payout('evt_19_p4', 'payout.paid', 'acct_pgtap19a', 'po_pgtap19a', 150, 'paid'));
select is((select status from public.seller_payouts where id = 'po_pgtap19a'), 'failed',
  'an older payout.paid delivered late does not undo the failure');
select ops.apply_payout(pg_temp.payout('evt_19_p5', 'payout.paid', 'acct_pgtap19b', 'po_pgtap19b', 300, 'paid'));
select ops.apply_payout(pg_temp.payout('evt_19_p6', 'payout.created', 'acct_pgtap19b', 'po_pgtap19b', 250, 'pending'));
select is((select status from public.seller_payouts where id = 'po_pgtap19b'), 'paid',
  'an older pending state never overwrites paid');
select is(ops.apply_payout(tests.stripe_event('evt_19_p7', 'payout.paid', 300,
  '{"id": "po_pgtap19platform", "object": "payout", "amount": 1, "currency": "eur", "status": "paid"}')), 'ignored',
  'the platform''s own payouts are ignored');
select ok((select firing from ops.alert_check_payout_failed((select r from ops.alert_rules r
  where r.rule = 'payout_failed'), to_timestamp(300), to_timestamp(0))), 'payout_failed fires on a failed payout');
select ok((select recovered from ops.alert_check_payout_failed((select r from ops.alert_rules r
  where r.rule = 'payout_failed'), to_timestamp(200 + 3601), to_timestamp(0))),
  'and has recovered once clear_after passed without another failure');

-- ---------------------------------------------------------------- RLS: who reads accounts and payouts
-- acting as seller_a
call tests.authenticate_as('00000000-0000-4000-8000-0000000019a1');
select results_eq($$ select stripe_account_id from public.seller_accounts where stripe_account_id like 'acct_pgtap19%' $$,
  array['acct_pgtap19a'], 'a seller reads their own account only');
select results_eq($$ select id from public.seller_payouts where id like 'po_pgtap19%' $$,
  array['po_pgtap19a'], 'a seller reads their own payouts only');
select results_eq($$ select status from public.seller_account_status where stripe_account_id like 'acct_pgtap19%' $$,
  array['action_required'], 'a seller reads their own status only');
select throws_ok($$ update public.seller_accounts set charges_enabled = true $$, '42501', null,
  'a seller cannot change their account''s state');
-- acting as buyer
call tests.authenticate_as('00000000-0000-4000-8000-0000000019b1');
select is_empty($$ select 1 from public.seller_accounts where stripe_account_id like 'acct_pgtap19%'
                   union all select 1 from public.seller_payouts where id like 'po_pgtap19%'
                   union all select 1 from public.seller_account_status where stripe_account_id like 'acct_pgtap19%' $$,
  'a buyer reads no seller''s account, payout or status');
-- acting as seller_b
call tests.authenticate_as('00000000-0000-4000-8000-0000000019a2');
select results_eq($$ select id from public.seller_payouts where id like 'po_pgtap19%' $$,
  array['po_pgtap19b'], 'another seller reads only their own payouts');
-- acting as the admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000019c1');
select results_eq($$ select count(*) from public.seller_accounts where stripe_account_id like 'acct_pgtap19%' $$,
  array[2::bigint], 'admins read every account');
select results_eq($$ select count(*) from public.seller_payouts where id like 'po_pgtap19%' $$,
  array[2::bigint], 'admins read every payout');
-- acting as a visitor (anon)
call tests.authenticate_as_anon();
select throws_ok($$ select 1 from public.seller_payouts $$, '42501', null, 'visitors read no payouts');
select throws_ok($$ select 1 from public.seller_account_status $$, '42501', null, 'visitors read no account status');
reset role;

-- ---------------------------------------------------------------- listings of sellers who cannot be paid
-- seller_a's account is enabled (charges), seller_b's is disconnected
update ops.settings set connect_enabled = true;
call tests.authenticate_as_anon();
select results_eq($$ select title from public.listings where id in ('00000000-0000-4000-8000-0000000019d1',
  '00000000-0000-4000-8000-0000000019d2') $$, array['A mug'], 'with Connect, visitors see no listing of a blocked seller');
call tests.authenticate_as('00000000-0000-4000-8000-0000000019b1');
select results_eq($$ select title from public.listings where id in ('00000000-0000-4000-8000-0000000019d1',
  '00000000-0000-4000-8000-0000000019d2') $$, array['A mug'], 'nor do buyers');
call tests.authenticate_as('00000000-0000-4000-8000-0000000019a2');
select results_eq($$ select title from public.listings where id = '00000000-0000-4000-8000-0000000019d2' $$,
  array['B bowl'], 'the blocked seller still sees their own listing');
reset role;
update ops.settings set connect_enabled = false;
call tests.authenticate_as_anon();
select results_eq($$ select count(*) from public.listings where id in ('00000000-0000-4000-8000-0000000019d1',
  '00000000-0000-4000-8000-0000000019d2') $$, array[2::bigint], 'without Connect, every active listing is shown');
reset role;

-- ---------------------------------------------------------------- the seller_onboarding login
select set_eq(
  $$ select p.proname::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'ops'::regnamespace, 'private'::regnamespace)
        and has_function_privilege('seller_onboarding', p.oid, 'execute') $$,
  array['take_rate_tokens', 'record_endpoint_outcome', 'seller_onboarding_begin', 'seller_onboarding_record'],
  'seller_onboarding executes rate tokens, its answer counter and its two doors, nothing else');
select ok(not pg_has_role('seller_onboarding', 'authenticated', 'member')
          and not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                           where n.nspname in ('public', 'ops', 'private', 'auth') and c.relkind in ('r', 'v')
                             and has_table_privilege('seller_onboarding', c.oid, 'select, insert, update, delete')),
  'seller_onboarding is no member of authenticated and has no table privilege');
-- acting as the Data API: the doors are the function's
call tests.authenticate_as('00000000-0000-4000-8000-0000000019a3');
select throws_ok($$ select ops.seller_onboarding_begin('00000000-0000-4000-8000-0000000019a3', false, null) $$,
  '42501', null, 'an authenticated user cannot call the onboarding doors');
reset role;
update public.profiles set country = null where id = '00000000-0000-4000-8000-0000000019a3';
-- acting as the seller_onboarding login (pgTAP lives in extensions: opened to it for this transaction)
grant usage on schema extensions to seller_onboarding;
set local session authorization seller_onboarding;
select throws_ok($$ select ops.seller_onboarding_begin('00000000-0000-4000-8000-0000000019b1', false, null) $$,
  'SO403', 'only sellers get a payout account: ask the platform to make your account a seller', 'a buyer is refused');
select throws_ok($$ select ops.seller_onboarding_begin('00000000-0000-4000-8000-0000000019a3', false, null) $$,
  'SO409', null, 'a seller without a country is told to set it');
select is(ops.seller_onboarding_record('00000000-0000-4000-8000-0000000019a3',
  '{"id": "acct_pgtap19c", "country": "FR"}') ->> 'stripe_account_id', 'acct_pgtap19c', 'the account is recorded');
select is(ops.seller_onboarding_record('00000000-0000-4000-8000-0000000019a3',
  '{"id": "acct_pgtap19other", "country": "FR"}') ->> 'stripe_account_id', 'acct_pgtap19c',
  'a second record keeps the first account (first write wins)');
reset session authorization;

select * from finish();
rollback;
