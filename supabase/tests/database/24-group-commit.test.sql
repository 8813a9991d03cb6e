-- Group commit (#21): ops.ingest_stripe_events records several events in one transaction, each with its own
-- outcome: a failing apply marks that event failed and nothing else, a passing condition leaves that event
-- unrecorded (503), an unstorable body is refused (400), copies inside the batch and across batches record one
-- row, another mode's event is ignored; a configuration disagreement refuses the whole batch.
begin;
set search_path = public, extensions;
select plan(19);

create function pg_temp.body(p_id text, p_type text, p_object jsonb, p_livemode boolean default false) returns text
language sql as $$ select tests.stripe_event(p_id, p_type, 1700000000, p_object, p_livemode)::text $$;
create function pg_temp.customer(p_id text) returns text language sql as $$
  select pg_temp.body('evt_gc_' || p_id, 'customer.updated',
    jsonb_build_object('id', 'cus_gc_' || p_id, 'object', 'customer', 'email', 'gc-' || p_id || '@example.com',
                       'metadata', '{}'::jsonb))
$$;
-- a passing condition while applying one event (simulated by a trigger): a serialization failure, retried and lost
create function pg_temp.serialization_failure() returns trigger language plpgsql as $$
begin
  if new.stripe_customer_id = 'cus_gc_busy' then
    raise exception 'could not serialize access' using errcode = 'serialization_failure';
  end if;
  return new;
end
$$;
create trigger zz_pgtap_busy before insert on ops.stripe_customers
  for each row execute function pg_temp.serialization_failure();

create temp table batch as
select ops.ingest_stripe_events(array[
  pg_temp.customer('a'),
  pg_temp.body('evt_gc_bogus', 'customer.subscription.updated',
    '{"id": "sub_gc_bogus", "object": "subscription", "customer": "cus_gc_bogus", "status": "bogus"}'),
  pg_temp.customer('a'),
  '{"id": "evt_gc_broken", "type": ',
  pg_temp.body('evt_gc_live', 'customer.updated', '{"id": "cus_gc_live", "object": "customer"}', true),
  pg_temp.customer('busy'),
  pg_temp.customer('b')
], array[false, false, false, false, false, false, true]) as r;

select is(jsonb_array_length((select r from batch)), 7, 'one outcome per body, in order');
select is((select r -> 0 from batch), '{"event_id": "evt_gc_a", "status": "processed", "duplicate": false}',
  'the first event is processed');
select is((select r -> 1 ->> 'status' from batch), 'failed', 'an event whose apply fails is failed');
select is((select r -> 2 from batch), '{"event_id": "evt_gc_a", "status": "processed", "duplicate": true}',
  'a second copy inside the batch is a duplicate of the first');
select is((select r -> 3 from batch), '{"invalid": "22P02"}', 'a body that is not JSON is invalid (the webhook: 400)');
select is((select r -> 4 ->> 'status' from batch), 'ignored', 'another mode''s event is ignored');
select is((select r -> 5 from batch), '{"unavailable": "40001"}',
  'a passing condition while applying leaves the event unavailable (the webhook: 503)');
select is((select r -> 6 ->> 'status' from batch), 'processed', 'the events after them are processed');

select results_eq($$ select event_id, status, sanitized from ops.stripe_events where event_id like 'evt_gc_%' order by 1 $$,
  $$ values ('evt_gc_a', 'processed', false), ('evt_gc_b', 'processed', true), ('evt_gc_bogus', 'failed', false),
            ('evt_gc_live', 'ignored', false) $$,
  'one ledger row per recorded event; nothing for the invalid body or the unavailable event');
select matches((select last_error from ops.stripe_events where event_id = 'evt_gc_bogus'), 'unknown subscription status',
  'the failed event keeps its error');
select is((select count(*)::int from ops.stripe_customers where stripe_customer_id in ('cus_gc_a', 'cus_gc_b')), 2,
  'the applied events changed their customers');
select is((select count(*)::int from ops.stripe_customers
            where stripe_customer_id in ('cus_gc_bogus', 'cus_gc_live', 'cus_gc_busy')), 0,
  'the failed, ignored and unavailable events changed nothing');
select is((select count(distinct xmin::text)::int from ops.stripe_events where event_id like 'evt_gc_%'), 1,
  'all of them recorded by one transaction');

-- a later batch: a redelivery is a duplicate, the unavailable event is applied once the condition passed
drop trigger zz_pgtap_busy on ops.stripe_customers;
select is(ops.ingest_stripe_events(array[pg_temp.customer('busy'), pg_temp.customer('a')]),
  '[{"event_id": "evt_gc_busy", "status": "processed", "duplicate": false},
    {"event_id": "evt_gc_a", "status": "processed", "duplicate": true}]',
  'across batches: the redelivered unavailable event is applied, a recorded one is a duplicate');
select is(ops.ingest_stripe_events(array[]::text[]), '[]', 'an empty batch records nothing');

-- the deployment's mode disagrees with ops.settings: the whole batch is refused, nothing recorded
select throws_ok($$ select ops.ingest_stripe_events(array[pg_temp.customer('c')], p_livemode => true) $$, '55000', null,
  'a configuration disagreement refuses the batch');
select is((select count(*)::int from ops.stripe_events where event_id = 'evt_gc_c'), 0, 'and records nothing');

select ok(has_function_privilege('stripe_webhook', 'ops.ingest_stripe_events(text[], boolean[], boolean, text, text)',
  'execute'), 'the webhook''s role may call it');
select ok(not has_function_privilege('anon', 'ops.ingest_stripe_events(text[], boolean[], boolean, text, text)',
  'execute') and not has_function_privilege('authenticated',
  'ops.ingest_stripe_events(text[], boolean[], boolean, text, text)', 'execute'), 'the API''s roles may not');

select * from finish();
rollback;
