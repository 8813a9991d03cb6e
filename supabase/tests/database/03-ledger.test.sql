-- The Stripe event ledger: ops.ingest_stripe_event records each event once and applies it; a
-- duplicate changes nothing; a failed apply is kept as 'failed' without touching domain rows and
-- can be re-applied; payment facts converge whatever order Stripe delivers them in.
begin;
set search_path = public, extensions;
select plan(49);

-- Row count and content hash of each table: equal fingerprints mean nothing was added or changed.
create function pg_temp.fingerprint(tables text[]) returns jsonb
language plpgsql as $$
declare
  t text;
  acc jsonb := '{}';
  r jsonb;
begin
  foreach t in array tables loop
    execute format('select jsonb_build_array(count(*), md5(coalesce(string_agg(x::text, %L order by x::text), %L))) from %s x', '|', '', t)
      into r;
    acc := acc || jsonb_build_object(t, r);
  end loop;
  return acc;
end
$$;
-- Domain rows, Stripe mirrors and the outbox (ops.jobs, where the job engine is installed).
create function pg_temp.domain() returns jsonb language sql as $$
  select pg_temp.fingerprint(array(
    select t from unnest(array['public.orders', 'public.customers', 'public.subscriptions', 'ops.checkout_sessions', 'ops.payment_intents',
                               'ops.refunds', 'ops.disputes', 'ops.invoices', 'ops.jobs']) as t
     where to_regclass(t) is not null))
$$;
create function pg_temp.ledger() returns jsonb language sql as $$
  select pg_temp.fingerprint(array['ops.stripe_events'])
$$;
create temp table snapshots (name text primary key, state jsonb not null);

-- Orders the app created (pending_payment). ...7e1 and ...7e3-5 know their amount; ...7e2 does not.
insert into public.orders (id, amount_total, currency) values
  ('00000000-0000-4000-8000-0000000007e1', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000007e3', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000007e4', 2500, 'usd'),
  ('00000000-0000-4000-8000-0000000007e5', 4000, 'usd');
insert into public.orders (id) values ('00000000-0000-4000-8000-0000000007e2');

-- ---------------------------------------------------------------- unknown type, duplicates
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_unknown', 'pgtap.unknown_type', 1700000000, '{"id":"obj_1"}')),
  '{"event_id":"evt_pgtap_unknown","status":"ignored","duplicate":false}'::jsonb,
  'an unknown event type is recorded as ignored');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_unknown', 'pgtap.unknown_type', 1700000000, '{"id":"obj_1"}')),
  '{"event_id":"evt_pgtap_unknown","status":"ignored","duplicate":true}'::jsonb,
  'the same event delivered again answers duplicate');
select results_eq($$ select status, attempts from ops.stripe_events where event_id = 'evt_pgtap_unknown' $$,
  $$ values ('ignored', 1) $$,
  'the ledger holds the event once, applied once');

create temp table checkout_paid as
select tests.stripe_event('evt_pgtap_cs_paid', 'checkout.session.completed', 1700000100, '{
  "id": "cs_pgtap_1", "object": "checkout.session", "mode": "payment", "status": "complete",
  "payment_status": "paid", "payment_intent": "pi_pgtap_1", "amount_total": 2500, "currency": "usd",
  "client_reference_id": "00000000-0000-4000-8000-0000000007e1",
  "metadata": {"order_id": "00000000-0000-4000-8000-0000000007e1"}}') as e;
select is(ops.ingest_stripe_event(e), '{"event_id":"evt_pgtap_cs_paid","status":"processed","duplicate":false}'::jsonb,
  'checkout.session.completed is processed')
  from checkout_paid;
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000007e1'), 'paid',
  'a paid checkout marks its order paid');

insert into snapshots values ('domain', pg_temp.domain()), ('ledger', pg_temp.ledger());
select is(ops.ingest_stripe_event(e), '{"event_id":"evt_pgtap_cs_paid","status":"processed","duplicate":true}'::jsonb,
  'the same checkout event delivered again answers duplicate')
  from checkout_paid;
select is(pg_temp.domain(), (select state from snapshots where name = 'domain'),
  'the duplicate changed no domain row (orders, customers, subscriptions, Stripe mirrors, jobs)');
select is(pg_temp.ledger(), (select state from snapshots where name = 'ledger'),
  'the duplicate added or changed no ledger row');

-- ---------------------------------------------------------------- failed applies
delete from snapshots;
insert into snapshots values ('domain', pg_temp.domain());
-- "xx" breaks the orders currency check when the apply copies it onto ...7e2
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_bad_currency', 'checkout.session.completed', 1700000200, '{
  "id": "cs_pgtap_2", "object": "checkout.session", "mode": "payment", "status": "complete",
  "payment_status": "paid", "payment_intent": "pi_pgtap_2", "amount_total": 1500, "currency": "xx",
  "client_reference_id": "00000000-0000-4000-8000-0000000007e2"}')),
  '{"event_id":"evt_pgtap_bad_currency","status":"failed","duplicate":false}'::jsonb,
  'a checkout whose currency breaks the orders check is recorded as failed');
select matches((select last_error from ops.stripe_events where event_id = 'evt_pgtap_bad_currency'), '^23514: ',
  'the failed event keeps the check violation as last_error');
select is(pg_temp.domain(), (select state from snapshots where name = 'domain'),
  'the failed checkout changed no domain row (no order, payment intent or job)');

select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_bogus_status', 'customer.subscription.updated', 1700000300, '{
  "id": "sub_pgtap_bogus", "object": "subscription", "customer": "cus_pgtap_bogus", "status": "bogus",
  "items": {"data": [{"price": {"id": "price_pgtap"}, "quantity": 1}]}}')) ->> 'status',
  'failed',
  'a subscription with an unknown status is recorded as failed');
select matches((select last_error from ops.stripe_events where event_id = 'evt_pgtap_bogus_status'), 'unknown subscription status',
  'the failed event keeps the reason as last_error');
select is(pg_temp.domain(), (select state from snapshots where name = 'domain'),
  'the failed subscription event created no customer or subscription row');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_bogus_status', 'customer.subscription.updated', 1700000300, '{
  "id": "sub_pgtap_bogus", "object": "subscription", "customer": "cus_pgtap_bogus", "status": "bogus"}')) ->> 'duplicate',
  'true',
  'a failed event delivered again answers duplicate (re-applying is ops.reapply_stripe_events'' job)');

-- ---------------------------------------------------------------- re-applying
select set_has($$ select event_id, status from ops.reapply_stripe_events(p_limit => 100000) $$,
  $$ values ('evt_pgtap_bad_currency', 'failed'), ('evt_pgtap_bogus_status', 'failed') $$,
  'by default reapply re-runs every failed event (still failing: nothing was fixed)');
select results_eq($$ select attempts from ops.stripe_events where event_id = 'evt_pgtap_bad_currency' $$,
  $$ values (2) $$,
  're-running counts an attempt');
-- the fix: the order gets its currency, as an operator would set it
update public.orders set currency = 'usd' where id = '00000000-0000-4000-8000-0000000007e2';
select results_eq($$ select * from ops.reapply_stripe_events(array['evt_pgtap_bad_currency', 'evt_pgtap_bogus_status']) $$,
  $$ values ('evt_pgtap_bad_currency', 'processed'), ('evt_pgtap_bogus_status', 'failed') $$,
  'reapply re-runs the named events, oldest first: the fixed one is processed');
select results_eq($$ select status, attempts, last_error from ops.stripe_events where event_id = 'evt_pgtap_bad_currency' $$,
  $$ values ('processed', 3, null::text) $$,
  'the re-applied event is processed and its last_error cleared');
select results_eq($$ select status, amount_total from public.orders where id = '00000000-0000-4000-8000-0000000007e2' $$,
  $$ values ('in_review', 1500::bigint) $$,
  'the re-applied checkout reaches its order: paid in xx for an order in usd, it waits in review');

-- ---------------------------------------------------------------- refused payloads
select throws_ok(format('select ops.ingest_stripe_event(%L)', payload), '22023', null,
                 'a payload ' || what || ' is refused with 22023')
  from (select tests.stripe_event('evt_pgtap_invalid', 'pgtap.unknown_type', 1700000000, '{"id":"obj_1"}') as e) as valid,
  lateral (values
    ('without id', e - 'id'),
    ('without type', e - 'type'),
    ('without created', e - 'created'),
    ('with a non-numeric created', jsonb_set(e, '{created}', '"yesterday"')),
    ('without data.object', e #- '{data,object}')
  ) as m(what, payload);
select is_empty($$ select 1 from ops.stripe_events where event_id = 'evt_pgtap_invalid' $$,
  'refused payloads leave no ledger row');

-- ---------------------------------------------------------------- failed payments
-- ...7e3: an async payment is pending at checkout, then fails
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_cs_unpaid_3', 'checkout.session.completed', 1700000400, '{
  "id": "cs_pgtap_3", "object": "checkout.session", "mode": "payment", "status": "complete",
  "payment_status": "unpaid", "payment_intent": "pi_pgtap_3", "amount_total": 2500, "currency": "usd",
  "client_reference_id": "00000000-0000-4000-8000-0000000007e3"}')) ->> 'status',
  'processed',
  'checkout.session.completed (unpaid) is processed');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_pi_failed_3', 'payment_intent.payment_failed', 1700000500, '{
  "id": "pi_pgtap_3", "object": "payment_intent", "status": "requires_payment_method", "amount": 2500, "currency": "usd",
  "last_payment_error": {"code": "card_declined"}}')) ->> 'status',
  'processed',
  'payment_intent.payment_failed is processed');
select results_eq($$ select status, paid_at from public.orders where id = '00000000-0000-4000-8000-0000000007e3' $$,
  $$ values ('payment_failed', null::timestamptz) $$,
  'checkout completed unpaid, then payment_intent.payment_failed: the order is payment_failed, never paid');

-- ...7e4: the failure arrives before the checkout
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_pi_failed_4', 'payment_intent.payment_failed', 1700000500, '{
  "id": "pi_pgtap_4", "object": "payment_intent", "status": "requires_payment_method", "amount": 2500, "currency": "usd",
  "metadata": {"order_id": "00000000-0000-4000-8000-0000000007e4"}, "last_payment_error": {"code": "card_declined"}}')) ->> 'status',
  'processed',
  'payment_intent.payment_failed before its checkout is processed');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_cs_unpaid_4', 'checkout.session.completed', 1700000400, '{
  "id": "cs_pgtap_4", "object": "checkout.session", "mode": "payment", "status": "complete",
  "payment_status": "unpaid", "payment_intent": "pi_pgtap_4", "amount_total": 2500, "currency": "usd",
  "client_reference_id": "00000000-0000-4000-8000-0000000007e4"}')) ->> 'status',
  'processed',
  'the late checkout.session.completed (unpaid) is processed');
select results_eq($$ select status, paid_at from public.orders where id = '00000000-0000-4000-8000-0000000007e4' $$,
  $$ values ('payment_failed', null::timestamptz) $$,
  'payment_intent.payment_failed before checkout.session.completed (unpaid): the order is payment_failed, never paid');

-- ...7e1 (paid above): a late failure of an earlier attempt
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_pi_failed_1', 'payment_intent.payment_failed', 1700000050, '{
  "id": "pi_pgtap_1", "object": "payment_intent", "status": "requires_payment_method", "amount": 2500, "currency": "usd",
  "last_payment_error": {"code": "card_declined"}}')) ->> 'status',
  'processed',
  'a late payment_intent.payment_failed for a paid order is processed');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000007e1'), 'paid',
  'a paid order stays paid after a late payment failure');

-- ---------------------------------------------------------------- out of order: refund first
-- ...7e5: Stripe delivers the full refund before the checkout, and the payment success last
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_refunded_5', 'charge.refunded', 1700000900, '{
  "id": "ch_pgtap_5", "object": "charge", "payment_intent": "pi_pgtap_5", "status": "succeeded", "captured": true,
  "amount": 4000, "amount_refunded": 4000, "refunded": true, "currency": "usd"}')) ->> 'status',
  'processed',
  'charge.refunded before any checkout is processed');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000007e5'), 'pending_payment',
  'the refund alone does not touch the order it cannot name yet');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_cs_paid_5', 'checkout.session.completed', 1700000600, '{
  "id": "cs_pgtap_5", "object": "checkout.session", "mode": "payment", "status": "complete",
  "payment_status": "paid", "payment_intent": "pi_pgtap_5", "amount_total": 4000, "currency": "usd",
  "client_reference_id": "00000000-0000-4000-8000-0000000007e5"}')) ->> 'status',
  'processed',
  'the late checkout.session.completed is processed');
select results_eq($$ select status, amount_refunded from public.orders where id = '00000000-0000-4000-8000-0000000007e5' $$,
  $$ values ('refunded', 4000::bigint) $$,
  'full refund, then checkout: the order ends refunded');
select is(ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_pi_succeeded_5', 'payment_intent.succeeded', 1700000700, '{
  "id": "pi_pgtap_5", "object": "payment_intent", "status": "succeeded", "amount": 4000, "currency": "usd",
  "latest_charge": "ch_pgtap_5"}')) ->> 'status',
  'processed',
  'a late payment_intent.succeeded is processed');
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000000007e5'), 'refunded',
  'a late payment_intent.succeeded does not turn a refunded order back to paid');

-- ---------------------------------------------------------------- passing conditions are not verdicts
-- a lock timeout while applying (simulated by a trigger) fails the whole delivery: nothing is
-- recorded, so the webhook answers 503 and Stripe delivers the event again
create function pg_temp.lock_timeout() returns trigger language plpgsql as $$
begin
  raise exception 'canceling statement due to lock timeout' using errcode = 'lock_not_available';
end
$$;
create trigger zz_pgtap_lock_timeout before insert on public.subscriptions
  for each row execute function pg_temp.lock_timeout();
select throws_ok($$ select ops.ingest_stripe_event(tests.stripe_event('evt_pgtap_lock_timeout', 'customer.subscription.created', 1700000400,
  '{"id": "sub_pgtap_lock", "object": "subscription", "customer": "cus_pgtap_lock", "status": "active"}')) $$,
  '55P03', null, 'a lock timeout while applying is raised to the caller, not recorded as a failed event');
select is((select count(*)::int from ops.stripe_events where event_id = 'evt_pgtap_lock_timeout'), 0,
  'the event is not in the ledger, so its redelivery will be applied');
-- pg_cron's retry of failed events: one event per call (and per transaction, in its cron command)
insert into ops.stripe_events (event_id, type, object_id, event_created, payload, status, attempts)
values ('evt_pgtap_retry_lock', 'customer.subscription.created', 'sub_pgtap_retry', to_timestamp(1700000500),
        tests.stripe_event('evt_pgtap_retry_lock', 'customer.subscription.created', 1700000500,
          '{"id": "sub_pgtap_retry", "object": "subscription", "customer": "cus_pgtap_retry", "status": "active"}'),
        'failed', 1),
       ('evt_pgtap_retry_spent', 'pgtap.unknown_type', 'obj_spent', to_timestamp(1700000500),
        tests.stripe_event('evt_pgtap_retry_spent', 'pgtap.unknown_type', 1700000500, '{"id": "obj_spent"}'), 'failed', 5);
set local client_min_messages = error; -- its warning names the event and the cause
select is(ops.retry_failed_stripe_event('evt_pgtap_retry_lock'), 'failed',
  'a lock timeout while retrying a failed event leaves it failed');
reset client_min_messages;
select results_eq($$ select status, attempts, last_error from ops.stripe_events where event_id = 'evt_pgtap_retry_lock' $$,
  $$ values ('failed', 1, null::text) $$,
  'as it was: no attempt spent, for the next run');
drop trigger zz_pgtap_lock_timeout on public.subscriptions;
select is(ops.retry_failed_stripe_event('evt_pgtap_retry_lock'), 'processed', 'the next run applies it');
select is((select attempts from ops.stripe_events where event_id = 'evt_pgtap_retry_lock'), 2, 'spending its second attempt');
select is(ops.retry_failed_stripe_event('evt_pgtap_retry_lock'), null, 'an event that is not failed is left alone (null)');
select results_eq($$ select ops.retry_failed_stripe_event('evt_pgtap_retry_spent'), attempts from ops.stripe_events
                     where event_id = 'evt_pgtap_retry_spent' $$,
  $$ values ('dead', 5) $$,
  'a failed event out of attempts (5) is dead, without another apply');
select matches((select command from cron.job where jobname = 'ops-retry-stripe-events'),
  'for v_event_id in\s+select e\.event_id from ops\.stripe_events e where e\.status = ''failed''.*perform ops\.retry_failed_stripe_event\(v_event_id\);\s+commit;',
  'pg_cron retries each failed event in its own transaction');

select * from finish();
rollback;
