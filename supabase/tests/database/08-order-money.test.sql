-- Money on orders (#8): the rules behind "every payment on the right order at the right price, or
-- in review". payment_confirmed follows the status; refunds that are taken back move the order
-- back; the refunded total and the paying charge follow recency; a mismatch waits in review, runs
-- nothing downstream and is resolved by an operator with ops.resolve_order_review. As postgres
-- (the pipeline and Studio), inside the transaction.
begin;
set search_path = public, extensions;
select plan(55);

create function pg_temp.ingest(id text, type text, created bigint, object jsonb) returns text
language sql as $$ select ops.ingest_stripe_event(tests.stripe_event(id, type, created, object)) ->> 'status' $$;
create function pg_temp.deal_jobs(p_order uuid) returns int
language sql as $$ select count(*)::int from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = p_order::text $$;

-- ---------------------------------------------------------------- payment_confirmed: one rule, derived
select set_eq($$ select status from ops.order_statuses where payment_confirmed $$,
  array['paid', 'in_fulfillment', 'completed', 'partially_refunded', 'refunded', 'disputed'],
  'a payment is confirmed in paid, in_fulfillment, completed, partially_refunded, refunded and disputed; not in in_review');

insert into public.orders (id, amount_total, currency) values ('00000000-0000-4000-8000-0000000008a1', 2500, 'usd');
update public.orders set payment_confirmed = true where id = '00000000-0000-4000-8000-0000000008a1';
select is((select payment_confirmed from public.orders where id = '00000000-0000-4000-8000-0000000008a1'), false,
  'payment_confirmed set by hand on a pending order is derived back to false');
update public.orders set status = 'in_review' where id = '00000000-0000-4000-8000-0000000008a1';
select results_eq($$ select payment_confirmed, paid_at from public.orders where id = '00000000-0000-4000-8000-0000000008a1' $$,
  $$ values (false, null::timestamptz) $$,
  'an order in review is not confirmed and has no paid_at');
select is(pg_temp.deal_jobs('00000000-0000-4000-8000-0000000008a1'), 0, 'an order in review enqueues no CRM deal');
update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-0000000008a1';
select results_eq($$ select payment_confirmed, paid_at is not null from public.orders where id = '00000000-0000-4000-8000-0000000008a1' $$,
  $$ values (true, true) $$,
  'in_review -> paid (accepted): confirmed, with paid_at');
select is(pg_temp.deal_jobs('00000000-0000-4000-8000-0000000008a1'), 1, 'the confirmed order enqueues its CRM deal once');

-- ---------------------------------------------------------------- the way back from refunds
update public.orders set status = 'refunded' where id = '00000000-0000-4000-8000-0000000008a1';
select lives_ok($$ update public.orders set status = 'partially_refunded' where id = '00000000-0000-4000-8000-0000000008a1' $$,
  'refunded -> partially_refunded (a refund failed or was reversed)');
select lives_ok($$ update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-0000000008a1' $$,
  'partially_refunded -> paid (the last refund taken back)');
select throws_ok($$ update public.orders set status = 'in_review' where id = '00000000-0000-4000-8000-0000000008a1' $$,
  '23514', null, 'paid -> in_review raises check_violation: a confirmed payment never goes back to review');

-- ---------------------------------------------------------------- refunded total: recency, not maximum
insert into ops.payment_intents (stripe_payment_intent_id, latest_charge_id, amount_refunded, amount_refunded_at) values
  ('pi_pgtap_m1', 'ch_pgtap_m1', 0, null),
  ('pi_pgtap_m2', 'ch_pgtap_m2', 2500, '2026-01-01 00:00:10+00'),
  ('pi_pgtap_m3', 'ch_pgtap_m3', 2500, '2026-01-01 00:00:10+00'),
  ('pi_pgtap_m4', 'ch_pgtap_m4', 1000, '2026-01-01 00:00:10+00');
insert into ops.refunds (stripe_refund_id, stripe_payment_intent_id, stripe_charge_id, amount, status, stripe_event_created) values
  ('re_pgtap_m1a', 'pi_pgtap_m1', 'ch_pgtap_m1', 1000, 'succeeded', '2026-01-01 00:00:05+00'),
  ('re_pgtap_m1b', null, 'ch_pgtap_m1', 700, 'succeeded', '2026-01-01 00:00:06+00'),
  ('re_pgtap_m1c', 'pi_pgtap_m1', 'ch_pgtap_m1', 300, 'failed', '2026-01-01 00:00:07+00'),
  ('re_pgtap_m2a', 'pi_pgtap_m2', 'ch_pgtap_m2', 2500, 'failed', '2026-01-01 00:00:11+00'),
  ('re_pgtap_m3a', 'pi_pgtap_m3', 'ch_pgtap_m3', 1000, 'succeeded', '2026-01-01 00:00:09+00'),
  ('re_pgtap_m4a', 'pi_pgtap_m4', 'ch_pgtap_m4', 2500, 'succeeded', '2026-01-01 00:00:10+00');
select is(ops.payment_intent_refunded('pi_pgtap_m1'), 1700::bigint,
  'refund objects only: the sum of the succeeded ones (by payment intent or by charge)');
select is(ops.payment_intent_refunded('pi_pgtap_m2'), 0::bigint,
  'a refund object newer than the charge''s total wins: the refund failed, nothing is refunded');
select is(ops.payment_intent_refunded('pi_pgtap_m3'), 2500::bigint,
  'a charge total newer than the refund objects wins (it counts a refund whose object is unknown)');
select is(ops.payment_intent_refunded('pi_pgtap_m4'), 2500::bigint,
  'within the same second, the larger of the two');
select is(ops.payment_intent_refunded('pi_pgtap_none'), 0::bigint, 'an unknown payment intent has nothing refunded');

-- ---------------------------------------------------------------- latest_charge: recency
select is(ops.newer_charge(true, '2026-01-01 00:00:05+00', 'ch_paid', false, '2026-01-01 00:00:09+00', 'ch_fail'), true,
  'a success''s charge replaces a failure''s, even a newer one');
select is(ops.newer_charge(false, '2026-01-01 00:00:01+00', 'ch_fail', true, '2026-01-01 00:00:05+00', 'ch_paid'), false,
  'a late, older failure does not move latest_charge back');
select is(ops.newer_charge(false, '2026-01-01 00:00:09+00', 'ch_fail', true, '2026-01-01 00:00:05+00', 'ch_paid'), false,
  'nor does a newer failure displace the charge that paid');
select results_eq(
  $$ values (ops.newer_charge(false, '2026-01-01 00:00:09+00', 'ch_b', false, '2026-01-01 00:00:01+00', 'ch_a'),
             ops.newer_charge(false, '2026-01-01 00:00:01+00', 'ch_a', false, '2026-01-01 00:00:09+00', 'ch_b'),
             ops.newer_charge(false, '2026-01-01 00:00:01+00', 'ch_a', null, null, null),
             ops.newer_charge(true, '2026-01-01 00:00:01+00', null, null, null, null)) $$,
  $$ values (true, false, true, false) $$,
  'among failures the newest event''s charge wins, whatever the delivery order; the first charge is taken; no charge, no change');

-- ---------------------------------------------------------------- mismatch: in review, resolved by an operator
insert into public.orders (id, amount_total, currency) values
  ('00000000-0000-4000-8000-0000000008b1', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000008b2', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000008b3', 2500, 'usd');
select is(pg_temp.ingest('evt_pgtap_m_b1', 'checkout.session.completed', 1700000100, '{
  "id": "cs_pgtap_b1", "object": "checkout.session", "mode": "payment", "status": "complete", "payment_status": "paid",
  "payment_intent": "pi_pgtap_b1", "amount_subtotal": 2500, "amount_total": 2500, "currency": "eur",
  "client_reference_id": "00000000-0000-4000-8000-0000000008b1"}'), 'processed',
  'a session for the order''s number in another currency is processed');
select results_eq(
  $$ select status, payment_confirmed, needs_review, review_reason, paid_at from public.orders
      where id = '00000000-0000-4000-8000-0000000008b1' $$,
  $$ values ('in_review', false, true, 'currency mismatch: the order costs 2500 usd, cs_pgtap_b1 asked 2500 eur', null::timestamptz) $$,
  'it waits in review with its reason, unconfirmed and without paid_at');
select is(pg_temp.deal_jobs('00000000-0000-4000-8000-0000000008b1'), 0, 'and enqueues no CRM deal');
select results_eq(
  $$ select exception, subject, error from ops.pipeline_exceptions where ref = '00000000-0000-4000-8000-0000000008b1' $$,
  $$ values ('order payment in review', 'in_review', 'currency mismatch: the order costs 2500 usd, cs_pgtap_b1 asked 2500 eur') $$,
  'ops.pipeline_exceptions lists it as an order payment in review');
select matches((select next_action from ops.pipeline_exceptions where ref = '00000000-0000-4000-8000-0000000008b1'),
  'resolve_order_review\(''00000000-0000-4000-8000-0000000008b1'', true, .*resolve_order_review\(''00000000-0000-4000-8000-0000000008b1'', false, ',
  'its next action names both resolutions');

select throws_ok($$ select ops.resolve_order_review('00000000-0000-4000-8000-0000000008b1', true, ' ') $$,
  '22023', null, 'resolving without a note is refused');
select throws_ok($$ select ops.resolve_order_review('00000000-0000-4000-8000-0000000008b1', null, 'why') $$,
  '22023', null, 'resolving without accept or refuse is refused');
select throws_ok($$ select ops.resolve_order_review('00000000-0000-4000-8000-0000000008ff', true, 'why') $$,
  'P0002', null, 'resolving an order that does not exist is refused');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000008b1'), 'in_review',
  'refused resolutions changed nothing');

select is(ops.resolve_order_review('00000000-0000-4000-8000-0000000008b1', true, 'EUR price agreed with the seller'), 'paid',
  'accepting the payment makes the order paid');
select results_eq(
  $$ select status, payment_confirmed, needs_review, review_reason, amount_charged, currency_charged
       from public.orders where id = '00000000-0000-4000-8000-0000000008b1' $$,
  $$ values ('paid', true, false, null::text, 2500::bigint, 'eur') $$,
  'the accepted order is confirmed, out of review, charged 2500 eur');
select is(pg_temp.deal_jobs('00000000-0000-4000-8000-0000000008b1'), 1, 'its CRM deal is enqueued now, once');
select results_eq(
  $$ select payment_ref, accepted, note, decided_by from ops.order_reviews where order_id = '00000000-0000-4000-8000-0000000008b1' $$,
  $$ values ('cs_pgtap_b1', true, 'EUR price agreed with the seller', 'postgres') $$,
  'the decision is kept with its note and who made it');
select throws_ok($$ select ops.resolve_order_review('00000000-0000-4000-8000-0000000008b1', true, 'again') $$,
  'P0002', null, 'an order with nothing left to review cannot be resolved again');

-- a bare payment intent for less, refused by the operator
select is(pg_temp.ingest('evt_pgtap_m_b2', 'payment_intent.succeeded', 1700000200, '{
  "id": "pi_pgtap_b2", "object": "payment_intent", "status": "succeeded", "amount": 500, "amount_received": 500,
  "currency": "usd", "latest_charge": "ch_pgtap_b2", "metadata": {"order_id": "00000000-0000-4000-8000-0000000008b2"}}'),
  'processed', 'a payment intent carrying metadata.order_id for less is processed');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000008b2'), 'in_review',
  'it waits in review');
select is(ops.resolve_order_review('00000000-0000-4000-8000-0000000008b2', false, 'refunded in Stripe'), 'canceled',
  'refusing the payment cancels the order');
select results_eq(
  $$ select status, payment_confirmed, needs_review, paid_at, amount_charged from public.orders where id = '00000000-0000-4000-8000-0000000008b2' $$,
  $$ values ('canceled', false, false, null::timestamptz, null::bigint) $$,
  'the refused payment pays nothing: canceled, unconfirmed, nothing charged');
select is(pg_temp.deal_jobs('00000000-0000-4000-8000-0000000008b2'), 0, 'and nothing downstream ran');

-- a flag set by hand is cleared by the same door, with an audit row
update public.orders set needs_review = true, review_reason = 'buyer called' where id = '00000000-0000-4000-8000-0000000008b3';
select is(ops.resolve_order_review('00000000-0000-4000-8000-0000000008b3', true, 'called back'), 'pending_payment',
  'a flag set by hand is resolved');
select results_eq(
  $$ select o.needs_review, r.payment_ref, r.reason from public.orders o join ops.order_reviews r on r.order_id = o.id
      where o.id = '00000000-0000-4000-8000-0000000008b3' $$,
  $$ values (false, null::text, 'buyer called') $$,
  'its flag is cleared and the decision recorded');

-- ---------------------------------------------------------------- a paid session naming no order
select is(pg_temp.ingest('evt_pgtap_m_o1', 'checkout.session.completed', 1700000300, '{
  "id": "cs_pgtap_o1", "object": "checkout.session", "mode": "payment", "status": "complete", "payment_status": "unpaid",
  "payment_intent": "pi_pgtap_o1", "amount_subtotal": 1800, "amount_total": 1900, "currency": "usd"}'), 'processed',
  'an unpaid (async) session naming no order is processed');
select is_empty($$ select 1 from ops.checkout_sessions where stripe_checkout_session_id = 'cs_pgtap_o1' and order_id is not null $$,
  'an unpaid session naming no order makes no order');
select is(pg_temp.ingest('evt_pgtap_m_o2', 'payment_intent.succeeded', 1700000400, '{
  "id": "pi_pgtap_o1", "object": "payment_intent", "status": "succeeded", "amount": 1900, "amount_received": 1900,
  "currency": "usd", "latest_charge": "ch_pgtap_o1", "metadata": {}}'), 'processed',
  'its payment intent succeeds');
select results_eq(
  $$ select o.status, o.amount_total, o.amount_charged, o.needs_review, o.review_reason
       from public.orders o join ops.checkout_sessions s on s.order_id = o.id where s.stripe_checkout_session_id = 'cs_pgtap_o1' $$,
  $$ values ('paid', 1800::bigint, 1900::bigint, true, 'checkout session completed without client_reference_id or metadata.order_id') $$,
  'once paid it gets an order of its own, priced at what was asked, flagged for review');
select throws_ok(
  $$ select ops.resolve_order_review(s.order_id, false, 'not ours') from ops.checkout_sessions s
      where s.stripe_checkout_session_id = 'cs_pgtap_o1' $$,
  '23514', null, 'a confirmed payment cannot be refused (refund it in Stripe instead)');
select results_eq(
  $$ select ops.resolve_order_review(s.order_id, true, 'matched to buyer by support') from ops.checkout_sessions s
      where s.stripe_checkout_session_id = 'cs_pgtap_o1' $$,
  $$ values ('paid') $$,
  'accepting acknowledges it');
select is((select o.needs_review from public.orders o join ops.checkout_sessions s on s.order_id = o.id
            where s.stripe_checkout_session_id = 'cs_pgtap_o1'), false,
  'and clears its review');

-- ---------------------------------------------------------------- grants
select ok(not has_function_privilege(r, 'ops.resolve_order_review(uuid, boolean, text, text)', 'execute'),
          r || ' cannot resolve order reviews')
  from unnest(array['anon', 'authenticated', 'service_role', 'stripe_webhook', 'pipeline_worker']) as r;
select ok(not has_table_privilege(r, t, 'select'), r || ' cannot read ' || t)
  from unnest(array['anon', 'authenticated']) as r,
       unnest(array['ops.checkout_sessions', 'ops.order_reviews']) as t;

select * from finish();
rollback;
