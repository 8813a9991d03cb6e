-- What the ledger takes in (#8, Inputs): events of another Stripe mode or Connect account than
-- ops.settings names are recorded as ignored and never applied, by ingest or by any re-apply; a
-- webhook configured otherwise than ops.settings is refused; old payloads keep ids, statuses, amounts.
begin;
set search_path = public, extensions;
select plan(22);

-- a settings row of this mode and platform account (the other columns as a fresh project has them: new settings
-- columns need no change here)
create function pg_temp.settings_with(p_livemode boolean, p_account text) returns ops.settings language sql stable as $$
  select jsonb_populate_record(null::ops.settings, to_jsonb(d) || jsonb_build_object(
    'stripe_livemode', p_livemode, 'stripe_account_id', p_account))
    from (select true as id, 90 as personal_data_retention_days, 'email' as failed_payment_policy) d
$$;

create function pg_temp.session(order_id text) returns jsonb language sql immutable as $$
  select jsonb_build_object('id', 'cs_' || right(order_id, 4), 'object', 'checkout.session', 'mode', 'payment',
    'status', 'complete', 'payment_status', 'paid', 'payment_intent', 'pi_' || right(order_id, 4),
    'amount_total', 2500, 'currency', 'usd', 'client_reference_id', order_id,
    'customer_details', jsonb_build_object('email', 'buyer@pgtap.test', 'name', 'Pat Buyer'))
$$;

-- ---------------------------------------------------------------- which events are this project's
select is(ops.stripe_event_scope_problem(e, s), null, d)
  from (values
    ('{"livemode": false}'::jsonb, pg_temp.settings_with(false, null), 'a test-mode event belongs to a test-mode project'),
    ('{}'::jsonb, pg_temp.settings_with(false, null), 'an event without livemode counts as a test-mode one'),
    ('{"livemode": true}'::jsonb, pg_temp.settings_with(true, null), 'a live-mode event belongs to a live-mode project'),
    ('{"livemode": true, "account": null}'::jsonb, pg_temp.settings_with(true, null), 'a null account is the account''s own'),
    ('{"livemode": true, "account": "acct_1P"}'::jsonb, pg_temp.settings_with(true, 'acct_1P'), 'the platform account''s event belongs to it'),
    ('{"livemode": true}'::jsonb, pg_temp.settings_with(true, 'acct_1P'), 'an event without account belongs to the platform')
  ) as t(e, s, d);
select matches(ops.stripe_event_scope_problem(e, s), m, d)
  from (values
    ('{"livemode": false}'::jsonb, pg_temp.settings_with(true, null), '^a test-mode event; this project takes live-mode', 'a test-mode event is not a live project''s'),
    ('{}'::jsonb, pg_temp.settings_with(true, null), '^a test-mode event', 'nor is an event without livemode'),
    ('{"livemode": true}'::jsonb, pg_temp.settings_with(false, null), '^a live-mode event; this project takes test-mode', 'a live-mode event is not a test project''s'),
    ('{"livemode": false, "account": "acct_1C"}'::jsonb, pg_temp.settings_with(false, null), 'connected account acct_1C', 'without a platform account, an event naming an account is not the project''s'),
    ('{"livemode": false, "account": "acct_1C"}'::jsonb, pg_temp.settings_with(false, 'acct_1P'), 'connected account acct_1C, which is not one of our sellers.*platform \(acct_1P\)', 'another account''s event is not the platform''s')
  ) as t(e, s, m, d);

-- ---------------------------------------------------------------- ingest and re-apply
update ops.settings set stripe_livemode = true;
insert into public.orders (id, amount_total, currency) values ('00000000-0000-4000-8000-0000000008a1', 2500, 'usd');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_in_test', 'checkout.session.completed', 1700000000, pg_temp.session('00000000-0000-4000-8000-0000000008a1'), false)) - 'reason',
  '{"event_id": "evt_pgtap_in_test", "status": "ignored", "duplicate": false}'::jsonb,
  'a live project records a test-mode event as ignored');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000008a1'), 'pending_payment',
  'the test-mode event did not pay the live order');
select is((select count(*)::int from ops.jobs where payload ->> 'order_id' = '00000000-0000-4000-8000-0000000008a1'), 0,
  'nor enqueue anything');
update ops.stripe_events set status = 'failed', ignored_reason = null where event_id = 'evt_pgtap_in_test';
select is(ops.retry_failed_stripe_event('evt_pgtap_in_test'), 'ignored',
  'the 15-minute retry checks the mode again and ignores it');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000008a1'), 'pending_payment',
  'so the order is still unpaid');
select throws_ok($$ select ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_in_cfg', 'checkout.session.completed', 1700000000, '{"id": "x"}', true), p_livemode => false) $$,
  '55000', null, 'a webhook configured for test mode is refused by a live project, before anything is recorded');
select throws_ok($$ select ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_in_cfg', 'checkout.session.completed', 1700000000, '{"id": "x"}', true),
                                                   p_livemode => true, p_account_id => 'acct_1Other') $$,
  '55000', null, 'and so is a webhook naming another platform account');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_in_live', 'checkout.session.completed', 1700000000, pg_temp.session('00000000-0000-4000-8000-0000000008a1'), true),
                                  p_livemode => true, p_account_id => '') ->> 'status',
  'processed', 'a webhook configured like ops.settings gets its live event applied');

-- ---------------------------------------------------------------- retention
update ops.stripe_events set received_at = now() - interval '91 days' where event_id = 'evt_pgtap_in_live';
select ok((ops.clear_personal_data() ->> 'event_payloads')::int >= 1, 'the purge clears payloads older than 90 days');
select is((select payload -> 'data' -> 'object' from ops.stripe_events where event_id = 'evt_pgtap_in_live'),
  '{"id": "cs_08a1", "mode": "payment", "object": "checkout.session", "status": "complete", "currency": "usd",
    "amount_total": 2500, "payment_status": "paid", "payment_intent": "pi_08a1",
    "client_reference_id": "00000000-0000-4000-8000-0000000008a1"}'::jsonb,
  'the old event''s object keeps ids, statuses and amounts, not the buyer''s name or email');
select throws_ok($$ select ops.try_apply_stripe_event('evt_pgtap_in_live') $$, '55000', null,
  'a cleared event cannot be re-applied');

select * from finish();
rollback;
