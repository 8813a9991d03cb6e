-- The money of each Connect order (#18): checkout's destination and fee, the apply functions of charges,
-- transfers and application fees, the share of an order converging whatever the delivery order (all 24 orders
-- of a payment's four events), refunds reversing the seller's transfer, late older events changing nothing,
-- the RLS matrix of order_shares and seller_transfer_reversals, the reconciliation verdicts and the seller's
-- CRM status jobs. As postgres (the pipeline), acting as users through tests.authenticate_as; everything is
-- created inside the transaction.
begin;
set search_path = public, extensions;
select plan(45);

call tests.create_user('00000000-0000-4000-8000-0000000020b1', 'buyer@connect.test');
call tests.create_user('00000000-0000-4000-8000-0000000020a1', 'admin@connect.test', p_app_metadata => '{"role":"admin"}');
call tests.create_user('00000000-0000-4000-8000-000000002051', 'seller@connect.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000002052', 'other@connect.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000002053', 'new@connect.test', p_app_metadata => '{"role":"seller"}');
update ops.settings set connect_enabled = true, platform_fee_percent = 5.25, platform_fee_fixed = 30 where id;
insert into public.seller_accounts (seller_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted)
values ('00000000-0000-4000-8000-000000002051', 'acct_pgtapSellerA', true, true, true);
insert into public.listings (id, seller_id, title, price_amount, currency, active) values
  ('00000000-0000-4000-8000-0000000021a1', '00000000-0000-4000-8000-000000002051', 'A vase', 10000, 'eur', true),
  ('00000000-0000-4000-8000-0000000021a2', '00000000-0000-4000-8000-000000002052', 'A lamp', 1999, 'eur', true);

create function pg_temp.ingest(id text, type text, created bigint, object jsonb) returns text
language sql as $$ select ops.ingest_stripe_event(tests.stripe_event(id, type, created, object)) ->> 'status' $$;
create function pg_temp.share(p_order uuid) returns jsonb
language sql as $$
  select to_jsonb(s) - 'created_at' - 'updated_at' - 'order_id' from public.order_shares s where s.order_id = p_order
$$;
-- One paid destination charge of 100.00 EUR to seller A (fee 5.30: 5.25 % + 0.30), its ids suffixed by p_n.
create function pg_temp.new_order(p_n text) returns uuid
language sql as $$
  insert into public.orders (id, buyer_id, listing_id, amount_total, currency)
  values (('00000000-0000-4000-8000-' || lpad(p_n, 12, '0'))::uuid, '00000000-0000-4000-8000-0000000020b1',
          '00000000-0000-4000-8000-0000000021a1', 10000, 'eur')
  returning id
$$;
create function pg_temp.payment_events(p_n text, p_order uuid) returns jsonb[]
language sql as $$
  select array[
    jsonb_build_object('id', 'evt_pgtap_cs' || p_n, 'type', 'checkout.session.completed', 'created', 1770000000,
      'object', jsonb_build_object('id', 'cs_test_pgtap' || p_n, 'object', 'checkout.session', 'mode', 'payment',
        'client_reference_id', p_order, 'metadata', jsonb_build_object('order_id', p_order),
        'payment_intent', 'pi_pgtap' || p_n, 'payment_status', 'paid', 'status', 'complete',
        'amount_subtotal', 10000, 'amount_total', 10000, 'currency', 'eur')),
    jsonb_build_object('id', 'evt_pgtap_ch' || p_n, 'type', 'charge.succeeded', 'created', 1770000001,
      'object', jsonb_build_object('id', 'ch_pgtap' || p_n, 'object', 'charge', 'payment_intent', 'pi_pgtap' || p_n,
        'amount', 10000, 'amount_captured', 10000, 'amount_refunded', 0, 'currency', 'eur', 'status', 'succeeded',
        'captured', true, 'paid', true, 'transfer_data', jsonb_build_object('destination', 'acct_pgtapSellerA'),
        'destination', 'acct_pgtapSellerA', 'transfer', 'tr_pgtap' || p_n, 'application_fee', 'fee_pgtap' || p_n,
        'application_fee_amount', 530, 'transfer_group', 'group_pi_pgtap' || p_n,
        'refunds', jsonb_build_object('object', 'list', 'data', '[]'::jsonb))),
    jsonb_build_object('id', 'evt_pgtap_tr' || p_n, 'type', 'transfer.created', 'created', 1770000001,
      'object', jsonb_build_object('id', 'tr_pgtap' || p_n, 'object', 'transfer', 'amount', 9470,
        'amount_reversed', 0, 'currency', 'eur', 'destination', 'acct_pgtapSellerA',
        'destination_payment', 'py_pgtap' || p_n, 'source_transaction', 'ch_pgtap' || p_n, 'reversed', false,
        'transfer_group', 'group_pi_pgtap' || p_n, 'reversals', jsonb_build_object('object', 'list',
          'data', '[]'::jsonb, 'has_more', false))),
    jsonb_build_object('id', 'evt_pgtap_fee' || p_n, 'type', 'application_fee.created', 'created', 1770000002,
      'object', jsonb_build_object('id', 'fee_pgtap' || p_n, 'object', 'application_fee', 'amount', 530,
        'amount_refunded', 0, 'currency', 'eur', 'account', 'acct_pgtapSellerA', 'charge', 'py_pgtap' || p_n,
        'originating_transaction', 'ch_pgtap' || p_n, 'refunded', false))]
$$;
create function pg_temp.deliver(e jsonb) returns text
language sql as $$ select pg_temp.ingest(e ->> 'id', e ->> 'type', (e ->> 'created')::bigint, e -> 'object') $$;
-- What the share of payment p_n must be, from Stripe's objects.
create function pg_temp.expected(p_n text) returns jsonb
language sql as $$
  select jsonb_build_object('seller_id', '00000000-0000-4000-8000-000000002051', 'destination_account_id',
    'acct_pgtapSellerA', 'currency', 'eur', 'charge_id', 'ch_pgtap' || p_n, 'charge_amount', 10000,
    'application_fee_id', 'fee_pgtap' || p_n, 'application_fee_amount', 530, 'application_fee_refunded', 0,
    'transfer_id', 'tr_pgtap' || p_n, 'transfer_amount', 9470, 'transfer_reversed', 0, 'seller_net', 9470,
    'platform_net', 530)
$$;

-- ---------------------------------------------------------------- checkout: destination and fee
select is(ops.platform_fee(10000), 555::bigint, 'the fee is percent plus fixed: 5.25 % of 100.00 + 0.30 = 5.55');
select is(ops.platform_fee(1999), 135::bigint, 'rounded half up to the cent: 104.9475 -> 105, + 30');
select is(ops.platform_fee(20), 20::bigint, 'the fee never exceeds the amount');
select is(ops.checkout_begin('00000000-0000-4000-8000-0000000020b1', 'pgtap-connect-1', 'order',
    '00000000-0000-4000-8000-0000000021a1', 2, 'f1', false, null) -> 'connect',
  jsonb_build_object('destination', 'acct_pgtapSellerA', 'application_fee_amount', 1080),
  'checkout_begin answers the seller''s account and the fee of price x quantity (200.00: 10.50 + 0.30)');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-0000000020b1', 'pgtap-connect-2', 'order',
    '00000000-0000-4000-8000-0000000021a2', 1, 'f2', false, null) $$, 'CK409', null,
  'a seller without a connected account that accepts charges is refused (CK409)');
select is((select count(*) from ops.checkout_requests where idempotency_key = 'pgtap-connect-2'), 0::bigint,
  'and nothing is written');
update ops.settings set connect_enabled = false where id;
select is(ops.checkout_begin('00000000-0000-4000-8000-0000000020b1', 'pgtap-connect-3', 'order',
    '00000000-0000-4000-8000-0000000021a2', 1, 'f3', false, null) -> 'connect', 'null'::jsonb,
  'without connect_enabled the same seller is not refused and no destination is answered');
update ops.settings set connect_enabled = true where id;

-- ---------------------------------------------------------------- the apply functions, one by one
do $$ begin perform pg_temp.new_order('2001'); end $$;
select is(pg_temp.deliver((pg_temp.payment_events('2001', '00000000-0000-4000-8000-000000002001'))[3]), 'processed',
  'transfer.created of a charge we do not know yet is processed');
select is(pg_temp.deliver((pg_temp.payment_events('2001', '00000000-0000-4000-8000-000000002001'))[4]), 'processed',
  'application_fee.created likewise');
select is(pg_temp.share('00000000-0000-4000-8000-000000002001'), null, 'no share while the order is unknown');
select is(pg_temp.deliver((pg_temp.payment_events('2001', '00000000-0000-4000-8000-000000002001'))[1]), 'processed',
  'the session pays the order');
select is(pg_temp.deliver((pg_temp.payment_events('2001', '00000000-0000-4000-8000-000000002001'))[2]), 'processed',
  'charge.succeeded of the destination charge is processed');
select is(pg_temp.share('00000000-0000-4000-8000-000000002001'), pg_temp.expected('2001'),
  'the share is Stripe''s: charge, fee, transfer; seller_net 94.70, platform_net 5.30');
select is((select status from public.orders where id = '00000000-0000-4000-8000-000000002001'), 'paid',
  'the order is paid as any Checkout payment (the charge facts change nothing of that)');

-- ---------------------------------------------------------------- convergence: all 24 delivery orders
create temp table pgtap_perms as
select row_number() over ()::int + 2100 as n, array[a, b, c, d] as p
  from generate_series(1, 4) a, generate_series(1, 4) b, generate_series(1, 4) c, generate_series(1, 4) d
 where a not in (b, c, d) and b not in (c, d) and c <> d;
do $$
declare
  x record;
  o uuid;
  i int;
begin
  for x in select * from pgtap_perms order by n loop
    o := pg_temp.new_order(x.n::text);
    foreach i in array x.p loop
      if pg_temp.deliver((pg_temp.payment_events(x.n::text, o))[i]) <> 'processed' then
        raise exception 'delivery % of permutation % was not processed', i, x.n;
      end if;
    end loop;
  end loop;
end
$$;
create temp table pgtap_converged as
select x.n, pg_temp.share(o.id) = pg_temp.expected(x.n::text) as ok
  from pgtap_perms x join public.orders o on o.id = ('00000000-0000-4000-8000-' || lpad(x.n::text, 12, '0'))::uuid;
select is((select count(*) from pgtap_converged), 24::bigint, 'all 24 orders of the four events were delivered');
select is((select count(*) from pgtap_converged where ok), 24::bigint,
  'every delivery order converges to the same share');

-- ---------------------------------------------------------------- refund reversing the seller's transfer
create function pg_temp.refund_events(p_n text) returns jsonb[]
language sql as $$
  select array[
    jsonb_build_object('id', 'evt_pgtap_chr' || p_n, 'type', 'charge.refunded', 'created', 1770000100,
      'object', jsonb_build_object('id', 'ch_pgtap' || p_n, 'object', 'charge', 'payment_intent', 'pi_pgtap' || p_n,
        'amount', 10000, 'amount_captured', 10000, 'amount_refunded', 10000, 'refunded', true, 'currency', 'eur',
        'status', 'succeeded', 'captured', true, 'transfer_data', jsonb_build_object('destination', 'acct_pgtapSellerA'),
        'transfer', 'tr_pgtap' || p_n, 'application_fee', 'fee_pgtap' || p_n, 'application_fee_amount', 530,
        'refunds', jsonb_build_object('object', 'list', 'data', jsonb_build_array(jsonb_build_object(
          'id', 're_pgtap' || p_n, 'object', 'refund', 'amount', 10000, 'charge', 'ch_pgtap' || p_n,
          'payment_intent', 'pi_pgtap' || p_n, 'currency', 'eur', 'status', 'succeeded',
          'transfer_reversal', 'trr_pgtap' || p_n))))),
    jsonb_build_object('id', 'evt_pgtap_trr' || p_n, 'type', 'transfer.reversed', 'created', 1770000100,
      'object', jsonb_build_object('id', 'tr_pgtap' || p_n, 'object', 'transfer', 'amount', 9470,
        'amount_reversed', 9470, 'currency', 'eur', 'destination', 'acct_pgtapSellerA',
        'source_transaction', 'ch_pgtap' || p_n, 'reversed', true, 'reversals', jsonb_build_object('object', 'list',
          'has_more', false, 'data', jsonb_build_array(jsonb_build_object('id', 'trr_pgtap' || p_n,
            'object', 'transfer_reversal', 'amount', 9470, 'currency', 'eur', 'created', 1770000100,
            'transfer', 'tr_pgtap' || p_n, 'source_refund', 're_pgtap' || p_n))))),
    jsonb_build_object('id', 'evt_pgtap_feer' || p_n, 'type', 'application_fee.refunded', 'created', 1770000101,
      'object', jsonb_build_object('id', 'fee_pgtap' || p_n, 'object', 'application_fee', 'amount', 530,
        'amount_refunded', 530, 'refunded', true, 'currency', 'eur', 'account', 'acct_pgtapSellerA',
        'charge', 'py_pgtap' || p_n, 'originating_transaction', 'ch_pgtap' || p_n))]
$$;
select is(array(select pg_temp.deliver(e) from unnest(pg_temp.refund_events('2001')) e),
  array['processed', 'processed', 'processed'], 'the refund''s three events are processed');
select is(pg_temp.share('00000000-0000-4000-8000-000000002001') - 'charge_id' - 'application_fee_id' - 'transfer_id',
  pg_temp.expected('2001') - 'charge_id' - 'application_fee_id' - 'transfer_id'
    || '{"transfer_reversed": 9470, "application_fee_refunded": 530, "seller_net": 0, "platform_net": 0}',
  'the reversal and the fee refund are recorded: the seller''s net and the platform''s are 0');
select results_eq($$ select id, transfer_id, order_id, seller_id, amount, refund_id from public.seller_transfer_reversals
                      where transfer_id = 'tr_pgtap2001' $$,
  $$ values ('trr_pgtap2001', 'tr_pgtap2001', '00000000-0000-4000-8000-000000002001'::uuid,
             '00000000-0000-4000-8000-000000002051'::uuid, 9470::bigint, 're_pgtap2001') $$,
  'the reversal is one row: the order''s, the seller''s, the refund''s');
select is((select status from public.orders where id = '00000000-0000-4000-8000-000000002001'), 'refunded',
  'the order is refunded');
-- the same refund, its events in the other order, on payment 2101
select is(array(select pg_temp.deliver(e) from unnest(pg_temp.refund_events('2101')) with ordinality u(e, k)
                 order by k desc),
  array['processed', 'processed', 'processed'], 'the refund''s events in reverse order are processed');
select is(pg_temp.share('00000000-0000-4000-8000-000000002101') ->> 'seller_net', '0',
  'and converge to the same seller_net');
select is((select refund_id from public.seller_transfer_reversals where id = 'trr_pgtap2101'), 're_pgtap2101',
  'the reversal names its refund whichever event came first');

-- ---------------------------------------------------------------- replays and late older events
create temp table pgtap_before as select pg_temp.share('00000000-0000-4000-8000-000000002001') as s,
  (select count(*) from public.seller_transfer_reversals) as reversals;
select is(array(select ops.apply_stripe_event(tests.stripe_event(e ->> 'id', e ->> 'type', (e ->> 'created')::bigint,
                                                                 e -> 'object'))
                  from unnest(pg_temp.payment_events('2001', '00000000-0000-4000-8000-000000002001')
                              || pg_temp.refund_events('2001')) e),
  array['processed', 'processed', 'processed', 'processed', 'processed', 'processed', 'processed'],
  'every event of the payment and the refund applied again');
select is(pg_temp.share('00000000-0000-4000-8000-000000002001'), (select s from pgtap_before),
  'applying them again changes nothing: the older transfer.created and application_fee.created do not undo');
select is((select count(*) from public.seller_transfer_reversals), (select reversals from pgtap_before),
  'and records no reversal twice');
select is((select count(*) from ops.stripe_events where event_id = 'evt_pgtap_trr2001'), 1::bigint,
  'a delivery of the same event is recorded once');
select is(pg_temp.deliver((pg_temp.refund_events('2001'))[2]), 'processed',
  'a second delivery of transfer.reversed is answered as the first');

-- ---------------------------------------------------------------- what is not a Connect order's money
select is(pg_temp.ingest('evt_pgtap_plain', 'charge.succeeded', 1770000000, jsonb_build_object('id', 'ch_pgtap_plain',
    'object', 'charge', 'payment_intent', 'pi_pgtap_plain', 'amount', 500, 'currency', 'eur', 'status', 'succeeded',
    'captured', true, 'transfer_data', null, 'transfer', null, 'application_fee', null)), 'processed',
  'a platform charge (no destination) is applied as before');
select is((select count(*) from ops.connect_charges where charge_id = 'ch_pgtap_plain'), 0::bigint,
  'and is no Connect fact');
select is(pg_temp.ingest('evt_pgtap_manual_tr', 'transfer.created', 1770000000, jsonb_build_object('id', 'tr_pgtap_manual',
    'object', 'transfer', 'amount', 100, 'currency', 'eur', 'destination', 'acct_pgtapSellerA',
    'source_transaction', null)), 'ignored', 'a transfer made from no charge (a manual one) is ignored');

-- ---------------------------------------------------------------- RLS matrix
select ok((select bool_and(relrowsecurity) from pg_class
            where oid in ('public.order_shares'::regclass, 'public.seller_transfer_reversals'::regclass)),
  'RLS is on for order_shares and seller_transfer_reversals');
-- acting as seller A, the orders' seller
call tests.authenticate_as('00000000-0000-4000-8000-000000002051');
select is((select count(*) from public.order_shares), 25::bigint, 'the seller reads the shares of their orders');
select is((select count(*) from public.seller_transfer_reversals), 2::bigint, 'and their reversals');
-- acting as seller B
call tests.authenticate_as('00000000-0000-4000-8000-000000002052');
select is((select count(*) from public.order_shares) + (select count(*) from public.seller_transfer_reversals),
  0::bigint, 'another seller reads none');
-- acting as the buyer
call tests.authenticate_as('00000000-0000-4000-8000-0000000020b1');
select is((select count(*) from public.order_shares) + (select count(*) from public.seller_transfer_reversals),
  0::bigint, 'the buyer reads none');
select throws_ok($$ update public.order_shares set transfer_reversed = 0 $$, '42501', null,
  'users cannot write shares');
-- acting as the admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000020a1');
select ok((select count(*) from public.order_shares) >= 25 and (select count(*) from public.seller_transfer_reversals) >= 2,
  'the admin reads all');
-- acting as a visitor (anon)
call tests.authenticate_as_anon();
select throws_ok($$ select count(*) from public.order_shares $$, '42501', null, 'anon reads no shares');
select throws_ok($$ select count(*) from public.seller_transfer_reversals $$, '42501', null, 'anon reads no reversals');
reset role;

-- ---------------------------------------------------------------- reconciliation verdicts
insert into public.orders (id, buyer_id, listing_id, amount_total, currency, stripe_payment_intent_id)
values ('00000000-0000-4000-8000-000000002901', '00000000-0000-4000-8000-0000000020b1',
        '00000000-0000-4000-8000-0000000021a1', 10000, 'eur', 'pi_pgtap_notransfer');
insert into ops.checkout_requests (user_id, idempotency_key, kind, fingerprint, listing_id, order_id, session_params)
values ('00000000-0000-4000-8000-0000000020b1', 'pgtap-connect-2901', 'order', 'f', '00000000-0000-4000-8000-0000000021a1',
        '00000000-0000-4000-8000-000000002901',
        '{"payment_intent_data": {"transfer_data": {"destination": "acct_pgtapSellerA"}}}');
-- paid by hand (Studio): its payment's events never came
update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-000000002901';
insert into public.seller_payouts (id, seller_id, stripe_account_id, amount, currency, status)
values ('po_pgtapKnown', '00000000-0000-4000-8000-000000002051', 'acct_pgtapSellerA', 9470, 'eur', 'paid');
select results_eq($$ select object_id, problem from ops.reconcile_verdicts_connect_transfer_missing(
                       jsonb_build_object('checks_from', 0, 'grace_seconds', 0))
                      where object_id in ('00000000-0000-4000-8000-000000002901', '00000000-0000-4000-8000-000000002001')
                      order by object_id $$,
  $$ values ('00000000-0000-4000-8000-000000002001', false), ('00000000-0000-4000-8000-000000002901', true) $$,
  'a paid order checkout made a destination charge without a transfer is a finding; one with its transfer is fine');
select results_eq($$ select object_id, problem from ops.reconcile_verdicts_seller_payout_missing(jsonb_build_object(
                       'grace_seconds', 0, 'payouts', jsonb_build_array(
                         jsonb_build_object('id', 'po_pgtapKnown', 'account', 'acct_pgtapSellerA', 'amount', 9470,
                                            'currency', 'eur', 'status', 'paid', 'created', 1770000000),
                         jsonb_build_object('id', 'po_pgtapLost', 'account', 'acct_pgtapSellerA', 'amount', 100,
                                            'currency', 'eur', 'status', 'paid', 'created', 1770000000))))
                     order by object_id $$,
  $$ values ('po_pgtapKnown', false), ('po_pgtapLost', true) $$,
  'a payout Stripe lists that we lack is a finding; one we have is fine');

-- ---------------------------------------------------------------- the seller's CRM status
insert into public.seller_accounts (seller_id, stripe_account_id)
values ('00000000-0000-4000-8000-000000002053', 'acct_pgtapNew');
update public.seller_accounts set requirements_eventually_due = '{individual.id_number}'
 where seller_id = '00000000-0000-4000-8000-000000002053';
select is(array(select ops.seller_crm_status(a) from public.seller_accounts a
                 where a.seller_id = '00000000-0000-4000-8000-000000002053'), array['onboarding'],
  'a new account is onboarding');
select is((select count(*) from ops.jobs where kind = 'crm.seller'
                                             and payload ->> 'seller_id' = '00000000-0000-4000-8000-000000002053'),
  1::bigint, 'its creation enqueues one crm.seller job; a change of no status enqueues none');
update public.seller_accounts set charges_enabled = true, payouts_enabled = true, details_submitted = true
 where seller_id = '00000000-0000-4000-8000-000000002053';
select is((select array_agg(dedupe_key like '%:active:%' order by id) from ops.jobs
            where kind = 'crm.seller' and payload ->> 'seller_id' = '00000000-0000-4000-8000-000000002053'),
  array[false, true], 'enabled: a second job, for the active status');

select * from finish();
rollback;
