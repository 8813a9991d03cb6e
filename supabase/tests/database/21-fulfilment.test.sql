-- Fulfilment and disputes between people (#18): the order lifecycle doors (who may move what, invalid moves
-- refused with nothing changed, the history with who did it, one email per move, the CRM deal), auto-complete
-- with a backdated clock, and who reads and writes seller_disputes tickets, their messages by visibility, and
-- the seller's notes on a chargeback ticket; messages are an append-only audit trail.
-- pgTAP runs as supabase_admin: it acts as support_intake's login (set session authorization)
begin;
set search_path = public, extensions;
select plan(71);

call tests.create_user('00000000-0000-4000-8000-0000000021b1', 'buyer@fulfil.test');
call tests.create_user('00000000-0000-4000-8000-0000000021b2', 'other-buyer@fulfil.test');
call tests.create_user('00000000-0000-4000-8000-0000000021c1', 'seller@fulfil.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000021c2', 'other-seller@fulfil.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000021a1', 'admin@fulfil.test', p_app_metadata => '{"role":"admin"}');
insert into public.listings (id, seller_id, title, price_amount, currency) values
  ('00000000-0000-4000-8000-00000021a1a1', '00000000-0000-4000-8000-0000000021c1', 'A teapot', 3000, 'eur');
-- paid orders of buyer 1 from seller 1 (o1: the buyer's path, o2: the admin's, o3 and o5: auto-complete), a
-- pending one of buyer 2 (o4)
insert into public.orders (id, buyer_id, listing_id, amount_total, currency, status) values
  ('00000000-0000-4000-8000-0000002100a1', '00000000-0000-4000-8000-0000000021b1', '00000000-0000-4000-8000-00000021a1a1', 3000, 'eur', 'paid'),
  ('00000000-0000-4000-8000-0000002100a2', '00000000-0000-4000-8000-0000000021b1', '00000000-0000-4000-8000-00000021a1a1', 3000, 'eur', 'paid'),
  ('00000000-0000-4000-8000-0000002100a3', '00000000-0000-4000-8000-0000000021b1', '00000000-0000-4000-8000-00000021a1a1', 3000, 'eur', 'paid'),
  ('00000000-0000-4000-8000-0000002100a4', '00000000-0000-4000-8000-0000000021b2', '00000000-0000-4000-8000-00000021a1a1', 3000, 'eur', 'pending_payment'),
  ('00000000-0000-4000-8000-0000002100a5', '00000000-0000-4000-8000-0000000021b1', '00000000-0000-4000-8000-00000021a1a1', 3000, 'eur', 'paid');

-- the SQLSTATE a statement fails with (or the rows it touched)
create function pg_temp.err(p_statement text) returns text
language sql as $$ select split_part(tests.row_count_or_error(p_statement), ':', 1) $$;
grant execute on all functions in schema pg_temp to authenticated, anon;
-- what the history says about an order: "from>to by actor" in order
create function pg_temp.history(p_order uuid) returns text[]
language sql as $$
  select array_agg(coalesce(s.from_status, '') || '>' || s.to_status || ' by ' || coalesce(s.actor, '?') order by s.id)
    from ops.status_changes s where s.entity = 'order:' || p_order and s.from_status is not null
$$;

-- ---------------------------------------------------------------- the doors: who may move what
-- acting as seller 2 (not this order's seller)
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c2');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a1') $$), 'PT404',
  'another seller cannot ship the order: it is not theirs to see (PT404)');
-- acting as buyer 2
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b2');
select is(pg_temp.err($$ select * from public.confirm_order_received('00000000-0000-4000-8000-0000002100a1') $$),
  'PT404', 'another buyer cannot confirm receipt of it (PT404)');
-- acting as buyer 1
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a1') $$), 'PT403',
  'the buyer cannot mark their order shipped (PT403)');
select is(pg_temp.err($$ select * from public.confirm_order_received('00000000-0000-4000-8000-0000002100a1') $$),
  'PT409', 'the buyer cannot complete a paid order that has not shipped (PT409)');
select is(pg_temp.err($$ update public.orders set status = 'in_fulfillment' where id = '00000000-0000-4000-8000-0000002100a1' $$),
  'PT403', 'nor through the Data API');
-- acting as seller 1
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is(pg_temp.err($$ select * from public.complete_order('00000000-0000-4000-8000-0000002100a1') $$), 'PT409',
  'the seller cannot complete a paid order before it ships: the state machine refuses (PT409)');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a1', 'DHL', '12345', 'http://track.example/1') $$),
  'PT400', 'a tracking URL that is not https is refused (PT400)');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a1', 'DHL', 'x;drop', null) $$),
  'PT400', 'a tracking number with other characters is refused (PT400)');
select is(pg_temp.err($$ update public.orders set status = 'refunded' where id = '00000000-0000-4000-8000-0000002100a1' $$),
  'PT403', 'the seller cannot move an order anywhere Stripe decides (refunded) through the Data API');
select is(pg_temp.err($$ update public.orders set amount_refunded = 3000 where id = '00000000-0000-4000-8000-0000002100a1' $$),
  '42501', 'nor write any other column of it');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000004404a4') $$), 'PT404',
  'an order that does not exist is PT404');
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a4') $$), 'PT409',
  'a pending (unpaid) order cannot ship (PT409)');
reset session authorization;
reset role;
select is((select status from public.orders where id = '00000000-0000-4000-8000-0000002100a1'), 'paid',
  'every refusal changed nothing: the order is still paid');
select is(pg_temp.history('00000000-0000-4000-8000-0000002100a1'), null, 'and its history has no move');

call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is((select status || ' ' || tracking_number from public.ship_order('00000000-0000-4000-8000-0000002100a1',
  'DHL', 'JD0001', 'https://track.example/JD0001')), 'in_fulfillment JD0001',
  'the seller ships a paid order with tracking');
select is((select status || ' ' || tracking_number from public.ship_order('00000000-0000-4000-8000-0000002100a1')),
  'in_fulfillment JD0001', 'shipping it again answers the same and changes nothing');
select is((select tracking_number from public.ship_order('00000000-0000-4000-8000-0000002100a1', null, 'JD0002')),
  'JD0002', 'the seller corrects the tracking number of a shipped order');
-- acting as buyer 1
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1');
select is((select tracking_url || ' ' || (fulfillment_started_at is not null) from public.orders
  where id = '00000000-0000-4000-8000-0000002100a1'), 'https://track.example/JD0001 true',
  'the buyer reads the tracking and when it shipped');
select is(pg_temp.err($$ update public.orders set tracking_number = 'FAKE1' where id = '00000000-0000-4000-8000-0000002100a1' $$),
  'PT403', 'the buyer cannot set the tracking');
select is(pg_temp.err($$ select * from public.complete_order('00000000-0000-4000-8000-0000002100a1') $$), 'PT403',
  'the buyer uses confirm_order_received, not the seller''s complete_order (PT403)');
select is((select status from public.confirm_order_received('00000000-0000-4000-8000-0000002100a1')), 'completed',
  'the buyer confirms receipt: completed');
select is((select status from public.confirm_order_received('00000000-0000-4000-8000-0000002100a1')), 'completed',
  'confirming again changes nothing');
-- acting as the admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000021a1');
select is((select status from public.ship_order('00000000-0000-4000-8000-0000002100a2')), 'in_fulfillment',
  'an admin ships an order');
select is((select status from public.complete_order('00000000-0000-4000-8000-0000002100a2')), 'completed',
  'and completes it');
-- acting as a visitor
call tests.authenticate_as_anon();
select is(pg_temp.err($$ select * from public.ship_order('00000000-0000-4000-8000-0000002100a3') $$), '42501',
  'visitors cannot call the doors');
reset role;

select is(pg_temp.history('00000000-0000-4000-8000-0000002100a1'),
  array['paid>in_fulfillment by seller', 'in_fulfillment>completed by buyer'],
  'the history has each move once, with who made it');
select is((select array_agg(changed_by::text order by id) from ops.status_changes
  where entity = 'order:00000000-0000-4000-8000-0000002100a1' and from_status is not null),
  array['00000000-0000-4000-8000-0000000021c1', '00000000-0000-4000-8000-0000000021b1'],
  'and the user behind each move');
select is(pg_temp.history('00000000-0000-4000-8000-0000002100a2'),
  array['paid>in_fulfillment by admin', 'in_fulfillment>completed by admin'], 'an admin''s moves say admin');
select is((select array_agg(template order by template) from (
    select j.payload ->> 'template' as template from ops.jobs j
     where j.kind = 'notify.email' and j.payload ->> 'entity' = 'order:00000000-0000-4000-8000-0000002100a1') x),
  array['order_completed', 'order_shipped'], 'the buyer gets one shipping and one completion email');
select is((select payload -> 'data' ->> 'tracking_number' || ' ' || (payload ->> 'to') from ops.jobs
  where dedupe_key = 'notify:order_shipped:order:00000000-0000-4000-8000-0000002100a1:user:00000000-0000-4000-8000-0000000021b1'),
  'JD0001 buyer@fulfil.test', 'the shipping email carries the tracking given when it shipped');
select is((select payload -> 'data' ->> 'completed_by' from ops.jobs
  where dedupe_key = 'notify:order_completed:order:00000000-0000-4000-8000-0000002100a1:user:00000000-0000-4000-8000-0000000021b1'),
  'buyer', 'the completion email knows the buyer confirmed');
select is((select count(*)::int from ops.jobs where kind = 'crm.deal'
  and payload ->> 'order_id' = '00000000-0000-4000-8000-0000002100a1'), 2,
  'the CRM deal follows: one deal job per move (shipped, completed)');

-- ---------------------------------------------------------------- auto-complete
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is((select status from public.ship_order('00000000-0000-4000-8000-0000002100a3')) || ' '
  || (select status from public.ship_order('00000000-0000-4000-8000-0000002100a5')), 'in_fulfillment in_fulfillment',
  'the seller ships two more orders');
reset role;
update public.orders set fulfillment_started_at = now() - interval '15 days'
 where id = '00000000-0000-4000-8000-0000002100a3';
select is(ops.auto_complete_orders(p_limit => 0), 0, 'a run bounded to no order completes none');
select is(ops.auto_complete_orders(), 1, 'an order shipped 15 days ago is completed (14 days by default)');
select is((select array_agg(status order by id) from public.orders where id in ('00000000-0000-4000-8000-0000002100a3',
  '00000000-0000-4000-8000-0000002100a5')), array['completed', 'in_fulfillment'], 'the recent one is left alone');
select is((pg_temp.history('00000000-0000-4000-8000-0000002100a3'))[2], 'in_fulfillment>completed by auto_complete',
  'the history says auto_complete');
update ops.settings set auto_complete_after_days = 30;
select is(ops.auto_complete_orders(now() + interval '29 days'), 0, 'with 30 days set, 29 days later completes nothing');
select is(ops.auto_complete_orders(now() + interval '31 days'), 1, 'the clock injected 31 days later completes it');
select is(ops.auto_complete_orders(now() + interval '31 days'), 0, 'a second run completes nothing twice');
select is((select count(*)::int from ops.jobs where dedupe_key like 'notify:order_completed:order:00000000-0000-4000-8000-0000002100a_:%'
  and payload -> 'data' ->> 'completed_by' = 'auto'), 2, 'each auto-completed buyer gets their completion email');
select is((select schedule from cron.job where jobname = 'ops-auto-complete-orders'), '23 * * * *',
  'pg_cron runs the auto-complete hourly');

-- ---------------------------------------------------------------- tickets between people (support-intake)
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1', p_via => 'support_intake');
select is((select queue from public.submit_support_request('seller_problem', 'Teapot cracked', 'The seller sent a cracked teapot',
  '00000000-0000-4000-8000-0000002100a1')), 'seller_disputes', 'a buyer''s problem with the seller goes to seller_disputes');
select is(pg_temp.err($$ select * from public.submit_support_request('buyer_problem', 'x', 'y', '00000000-0000-4000-8000-0000002100a1') $$),
  '42501', 'a buyer cannot report a problem with the buyer of an order they did not sell');
select is(pg_temp.err($$ select * from public.submit_support_request('seller_problem', 'x', 'y', '00000000-0000-4000-8000-0000004404a4') $$),
  'P0002', 'an order that does not exist is refused (P0002: 404)');
select is(pg_temp.err($$ select * from public.submit_support_request('seller_problem', 'x', 'y') $$),
  '23514', 'a request between people names its order');
reset session authorization;
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b2', p_via => 'support_intake');
select is(pg_temp.err($$ select * from public.submit_support_request('seller_problem', 'x', 'y', '00000000-0000-4000-8000-0000002100a1') $$),
  '42501', 'another buyer cannot report a problem about an order they did not buy');
reset session authorization;
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1', p_via => 'support_intake');
select is((select queue from public.submit_support_request('buyer_problem', 'Buyer keeps asking', 'Abusive messages',
  '00000000-0000-4000-8000-0000002100a2')), 'seller_disputes', 'a seller''s problem with the buyer of an order they sold');
reset session authorization;
create temp table t1 as select id from public.support_tickets where category = 'seller_problem'
  and order_id = '00000000-0000-4000-8000-0000002100a1';
grant select on t1 to authenticated, anon;

-- ---------------------------------------------------------------- who reads the ticket and its messages
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is((select status from public.support_tickets where id = (select id from t1)), 'open',
  'the order''s seller reads the ticket''s state');
select is((select count(*)::int from public.ticket_messages where ticket_id = (select id from t1)), 1,
  'and the buyer''s opening message, meant for both parties');
select is(pg_temp.err($$ select context from public.support_tickets where id = (select id from t1) $$), '42501',
  'but never the ticket''s context (what the server knows about the buyer)');
select is((select author_kind || '/' || visibility from public.add_ticket_message((select id from t1),
  'I sent it well packed; here is the photo.')), 'party/parties', 'the seller adds a message as a party');
select is(pg_temp.err($$ select * from public.add_ticket_message((select id from t1), 'just to support', 'requester') $$),
  'PT403', 'a party cannot address the requester''s private channel');
select is((select created::text from public.add_ticket_message((select id from t1), 'Tracking shows delivered.',
  p_idempotency_key => 'note-1')) || ' ' || (select created::text from public.add_ticket_message((select id from t1),
  'Tracking shows delivered.', p_idempotency_key => 'note-1')), 'true false',
  'a note sent twice with its key is added once');
-- acting as buyer 1
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1');
select is((select count(*)::int from public.ticket_messages where ticket_id = (select id from t1)), 3,
  'the buyer reads the seller''s messages (the keyed note once)');
select is((select visibility from public.add_ticket_message((select id from t1), 'Only for support: I fear them.',
  'requester')), 'requester', 'the requester writes to support alone');
select is(pg_temp.err($$ select * from public.add_ticket_message((select id from t1), 'x', 'internal') $$), 'PT403',
  'the requester cannot write internal notes');
select is(pg_temp.err($$ select * from public.add_ticket_message((select id from t1), '   ') $$), 'PT400',
  'an empty message is refused (PT400)');
-- acting as the admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000021a1');
select is((select visibility from public.add_ticket_message((select id from t1), 'Seller looks right; ask DHL.',
  'internal')), 'internal', 'an admin adds an internal note');
select is((select count(*)::int from public.ticket_messages where ticket_id = (select id from t1)), 5,
  'admins read every message');
-- acting as seller 1 again
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is((select array_agg(visibility order by created_at, id) from public.ticket_messages where ticket_id = (select id from t1)),
  array['parties', 'parties', 'parties'], 'the seller reads the parties'' messages, not the buyer''s private one or the internal note');
-- acting as buyer 1
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1');
select is((select count(*)::int from public.ticket_messages where ticket_id = (select id from t1)
  and visibility = 'internal'), 0, 'the buyer does not read internal notes');
-- acting as seller 2 and buyer 2
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c2');
select is((select count(*)::int from public.support_tickets where id = (select id from t1))
  + (select count(*)::int from public.ticket_messages where ticket_id = (select id from t1)), 0,
  'another seller reads neither the ticket nor its messages');
select is(pg_temp.err($$ select * from public.add_ticket_message((select id from t1), 'me too') $$), 'PT404',
  'and cannot write on it (PT404)');
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b2');
select is((select count(*)::int from public.support_tickets where category in ('seller_problem', 'buyer_problem')), 0,
  'another buyer reads no ticket between other people');
call tests.authenticate_as_anon();
select is(pg_temp.err($$ select id from public.support_tickets $$), '42501', 'visitors read no ticket');
reset role;

-- the audit trail
select is(pg_temp.err($$ update public.ticket_messages set body = 'rewritten' where ticket_id = (select id from t1) $$),
  '42501', 'nobody rewrites a message, not even the database owner');
select is(pg_temp.err($$ delete from public.ticket_messages where ticket_id = (select id from t1) $$), '42501',
  'nobody deletes one');

-- ---------------------------------------------------------------- the chargeback ticket and the seller's notes
insert into public.support_tickets (source, category, subject, order_id, case_key)
values ('system', 'dispute', 'Dispute on order 2100A2', '00000000-0000-4000-8000-0000002100a2', 'dispute:dp_fulfil');
insert into public.ticket_messages (ticket_id, author_id, author_kind, body)
select id, null, 'system', 'Dispute dp_fulfil is needs_response' from public.support_tickets where case_key = 'dispute:dp_fulfil';
create temp table dt as select id from public.support_tickets where case_key = 'dispute:dp_fulfil';
grant select on dt to authenticated;
call tests.authenticate_as('00000000-0000-4000-8000-0000000021c1');
select is((select visibility from public.add_ticket_message((select id from dt),
  'Delivered with signature, proof attached.')), 'parties',
  'the seller adds a note to the chargeback ticket of their order');
select is((select count(*)::int from public.ticket_messages m where m.ticket_id = (select id from dt)), 2, 'and reads its notes (the dispute''s and their own)');
call tests.authenticate_as('00000000-0000-4000-8000-0000000021b1');
select is((select count(*)::int from public.support_tickets where id = (select id from dt)), 0,
  'the buyer does not read the chargeback ticket');
reset role;

select * from finish();
rollback;
