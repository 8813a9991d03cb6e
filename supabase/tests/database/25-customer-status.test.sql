-- The app's status contract (#20): each reader sees exactly their rows in public.my_orders, my_sales,
-- my_access and my_tickets (buyer A, buyer B, the seller, an admin, the anon key), each state with the
-- founder's wording, nothing internal in any view, and the supabase_realtime publication's tables and
-- columns. Facts are set by hand here; tests/integration/customer-status.test.ts reaches the order states
-- through signed Stripe events.
begin;
set search_path = public, extensions;
select plan(34);

-- Ids: ...25a1 buyer A, ...25b1 buyer B, ...25c1 the seller, ...25d1 an admin; listing ...25e1 (the seller's);
-- orders ...2501-...2506 (A's), ...2511 (B's, no seller: the founder's own sale)
call tests.create_user('00000000-0000-4000-8000-0000000025a1', 'a@status.pgtap.test');
call tests.create_user('00000000-0000-4000-8000-0000000025b1', 'b@status.pgtap.test');
call tests.create_user('00000000-0000-4000-8000-0000000025c1', 'seller@status.pgtap.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000025d1', 'admin@status.pgtap.test', p_app_metadata => '{"role":"admin"}');
insert into public.listings (id, seller_id, title, price_amount, currency) values
  ('00000000-0000-4000-8000-0000000025e1', '00000000-0000-4000-8000-0000000025c1', 'A kettle', 4000, 'eur');
insert into public.orders (id, buyer_id, listing_id, amount_total, currency, status) values
  ('00000000-0000-4000-8000-000000002501', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'pending_payment'),
  ('00000000-0000-4000-8000-000000002502', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'paid'),
  ('00000000-0000-4000-8000-000000002503', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'paid'),
  ('00000000-0000-4000-8000-000000002504', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'in_review'),
  ('00000000-0000-4000-8000-000000002505', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'pending_payment'),
  ('00000000-0000-4000-8000-000000002506', '00000000-0000-4000-8000-0000000025a1', '00000000-0000-4000-8000-0000000025e1', 4000, 'eur', 'disputed');
insert into public.orders (id, buyer_id, amount_total, currency, status) values
  ('00000000-0000-4000-8000-000000002511', '00000000-0000-4000-8000-0000000025b1', 900, 'eur', 'paid');
-- derived columns and internals, as the pipeline would set them
update public.orders set amount_refund_pending = 1500 where id = '00000000-0000-4000-8000-000000002503';
update public.orders set needs_review = true, review_reason = 'pgtap: amount mismatch (internal)',
       stripe_payment_intent_id = 'pi_pgtap_status' where id = '00000000-0000-4000-8000-000000002504';
update public.orders set payment_processing = true where id = '00000000-0000-4000-8000-000000002505';
-- A pays a subscription, B is a lead (their confirmed sign-up made the customer rows)
update public.customers set billing_status = 'active', needs_review = true, review_reason = 'pgtap: email-only match'
 where user_id = '00000000-0000-4000-8000-0000000025a1';
-- A's tickets: t1 only their message; t2 answered by an agent; t3 pending; t4 solved; t5 an agent's internal
-- note after the requester's message
insert into public.support_tickets (id, requester_id, source, category, subject, status, created_at) values
  ('00000000-0000-4000-8000-0000000025f1', '00000000-0000-4000-8000-0000000025a1', 'system', 'billing', 't1', 'open', now() - interval '5 min'),
  ('00000000-0000-4000-8000-0000000025f2', '00000000-0000-4000-8000-0000000025a1', 'system', 'billing', 't2', 'open', now() - interval '4 min'),
  ('00000000-0000-4000-8000-0000000025f3', '00000000-0000-4000-8000-0000000025a1', 'system', 'billing', 't3', 'pending', now() - interval '3 min'),
  ('00000000-0000-4000-8000-0000000025f4', '00000000-0000-4000-8000-0000000025a1', 'system', 'billing', 't4', 'solved', now() - interval '2 min'),
  ('00000000-0000-4000-8000-0000000025f5', '00000000-0000-4000-8000-0000000025a1', 'system', 'billing', 't5', 'open', now() - interval '1 min');
insert into public.ticket_messages (ticket_id, author_id, author_kind, body, visibility, created_at) values
  ('00000000-0000-4000-8000-0000000025f1', '00000000-0000-4000-8000-0000000025a1', 'requester', 'help', 'requester', now() - interval '50 s'),
  ('00000000-0000-4000-8000-0000000025f2', '00000000-0000-4000-8000-0000000025a1', 'requester', 'help', 'requester', now() - interval '50 s'),
  ('00000000-0000-4000-8000-0000000025f2', '00000000-0000-4000-8000-0000000025d1', 'agent', 'done', 'requester', now() - interval '40 s'),
  ('00000000-0000-4000-8000-0000000025f3', '00000000-0000-4000-8000-0000000025d1', 'agent', 'which card?', 'requester', now() - interval '40 s'),
  ('00000000-0000-4000-8000-0000000025f5', '00000000-0000-4000-8000-0000000025a1', 'requester', 'help', 'requester', now() - interval '50 s'),
  ('00000000-0000-4000-8000-0000000025f5', '00000000-0000-4000-8000-0000000025d1', 'agent', 'VIP, refund?', 'internal', now() - interval '40 s');
-- an agent's visible reply makes an open ticket pending (0.4.0's route trigger); t2's agent set it open again
select is((select status from public.support_tickets where id = '00000000-0000-4000-8000-0000000025f2'), 'pending',
  'an agent''s reply leaves the ticket pending (waiting on the requester)');
update public.support_tickets set status = 'open' where id = '00000000-0000-4000-8000-0000000025f2';

-- ---------------------------------------------------------------- catalog
select set_eq(
  $$ select c.relname::text from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'v' and c.relname like 'my\_%'
        and array_to_string(c.reloptions, ',') ~ 'security_invoker=(true|on|1)' $$,
  array['my_orders', 'my_sales', 'my_access', 'my_tickets'],
  'the four status views run as their caller (security invoker), so RLS and column grants apply');
select is_empty(
  $$ select c.table_name || '.' || c.column_name from information_schema.columns c
      where c.table_schema = 'public' and c.table_name in ('my_orders', 'my_sales', 'my_access', 'my_tickets')
        and c.column_name ~ '(stripe|review|reason|queue|priority|tags|context|lifetime|customer_id|case_key|version|buyer_id|seller_id|status$|needs_)' $$,
  'no view names a Stripe id, a review reason, routing, context, a customer id or a raw status');
select set_eq(
  $$ select c.oid::regclass::text || ':' || p.privilege_type from pg_class c
       cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) p (privilege_type)
      where c.oid in ('public.my_orders'::regclass, 'public.my_sales'::regclass, 'public.my_access'::regclass,
                      'public.my_tickets'::regclass, 'public.customer_state_texts'::regclass)
        and (has_table_privilege('authenticated', c.oid, p.privilege_type) or has_table_privilege('anon', c.oid, p.privilege_type)) $$,
  array['my_orders:SELECT', 'my_sales:SELECT', 'my_access:SELECT', 'my_tickets:SELECT', 'customer_state_texts:SELECT'],
  'the API roles may only read the views and the wording, and only as signed-in users (anon nothing)');
select ok((select relrowsecurity from pg_class where oid = 'public.customer_state_texts'::regclass),
  'the wording table has row level security');
select set_eq($$ select kind || '.' || state from public.customer_state_texts $$,
  array['order.awaiting_payment', 'order.processing', 'order.payment_received', 'order.paid', 'order.shipped',
        'order.completed', 'order.refund_pending', 'order.refunded', 'order.partially_refunded', 'order.disputed',
        'order.payment_failed', 'order.under_review', 'order.canceled',
        'sale.to_ship', 'sale.shipped', 'sale.completed', 'sale.refund_pending', 'sale.refunded',
        'sale.partially_refunded', 'sale.disputed', 'sale.under_review',
        'access.active', 'access.trialing', 'access.ending', 'access.payment_failed_grace',
        'access.payment_failed_blocked', 'access.unpaid', 'access.canceled', 'access.no_subscription',
        'access.suspended',
        'ticket.received', 'ticket.waiting_for_you', 'ticket.answered', 'ticket.solved', 'ticket.closed'],
  'the wording holds one row per stable state key the views produce');

-- ---------------------------------------------------------------- buyer A
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select results_eq(
  $$ select right(id::text, 4), state from public.my_orders order by id $$,
  $$ values ('2501', 'awaiting_payment'), ('2502', 'payment_received'), ('2503', 'refund_pending'),
            ('2504', 'under_review'), ('2505', 'processing'), ('2506', 'disputed') $$,
  'buyer A reads their six orders, each with its customer-facing state, and no one else''s');
select results_eq(
  $$ select amount_refund_pending, title, explanation, next_step from public.my_orders
      where id = '00000000-0000-4000-8000-000000002503' $$,
  $$ values (1500::bigint, 'Refund pending', 'Your refund is on its way to your bank.',
             'Nothing to do: it reaches your account within 5-10 business days.') $$,
  'a refund pending carries its amount, title, explanation and next step');
select is((select action from public.my_orders where id = '00000000-0000-4000-8000-000000002501'), 'resume_checkout',
  'an unpaid order names the app''s action key');
select is(tests.rows_or_error($$ select state, has_access, plan from public.my_access $$),
  '[{"state": "active", "has_access": true, "plan": null}]'::jsonb,
  'buyer A reads one access row: active, with access');
select results_eq(
  $$ select subject, state from public.my_tickets order by subject $$,
  $$ values ('t1', 'received'), ('t2', 'answered'), ('t3', 'waiting_for_you'), ('t4', 'solved'), ('t5', 'received') $$,
  'A''s tickets: received, answered (open, newest visible message from an agent), waiting for you (pending), '
  'solved; an internal note does not count as an answer');
select isnt((select answered_at from public.my_tickets where subject = 't2'), null,
  'an answered ticket says when support answered');
select is_empty($$ select 1 from public.my_sales $$, 'buyer A sells nothing: my_sales is empty');
select is(split_part(tests.row_count_or_error($$ select review_reason from public.customers $$), ':', 1), '42501',
  'a user can no longer read their customer row''s review reason (nor through Realtime, which sends what they may select)');
select is(tests.rows_or_error($$ select billing_status, access_status from public.customers $$),
  '[{"billing_status": "active", "access_status": "granted"}]'::jsonb,
  'but still reads their billing and access status');

-- ---------------------------------------------------------------- buyer B
call tests.authenticate_as('00000000-0000-4000-8000-0000000025b1');
select is(tests.rows_or_error($$ select right(id::text, 4) as id, state, title from public.my_orders $$),
  '[{"id": "2511", "state": "paid", "title": "Paid"}]'::jsonb,
  'buyer B reads only their order: paid (no seller: nothing left to do)');
select is(tests.rows_or_error($$ select state, has_access, action from public.my_access $$),
  '[{"state": "no_subscription", "has_access": false, "action": "start_checkout"}]'::jsonb,
  'buyer B (a lead) reads one access row: no subscription, with the checkout action');
select is_empty($$ select 1 from public.my_tickets $$, 'buyer B reads none of A''s tickets');

-- ---------------------------------------------------------------- the seller
call tests.authenticate_as('00000000-0000-4000-8000-0000000025c1');
select results_eq(
  $$ select right(id::text, 4), state from public.my_sales order by id $$,
  $$ values ('2502', 'to_ship'), ('2503', 'refund_pending'), ('2504', 'under_review'), ('2506', 'disputed') $$,
  'the seller reads their paid orders (and the one in review) with a seller''s state; unpaid ones not');
select is((select action from public.my_sales where id = '00000000-0000-4000-8000-000000002502'), 'ship_order',
  'a paid sale names the ship action');
select is_empty($$ select 1 from public.my_orders $$, 'the seller bought nothing: my_orders is empty');
select is(tests.rows_or_error($$ select state from public.my_access $$), '[{"state": "no_subscription"}]'::jsonb,
  'the seller reads their own access row only');

-- ---------------------------------------------------------------- an admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000025d1');
select ok((select count(*) from public.orders where buyer_id = '00000000-0000-4000-8000-0000000025a1') = 6,
  'an admin reads every order through the table');
select is((select count(*)::int from public.my_orders) + (select count(*)::int from public.my_sales)
          + (select count(*)::int from public.my_tickets), 0,
  'but the views show an admin only their own rows (none)');

-- ---------------------------------------------------------------- the anon key
reset role;
call tests.authenticate_as_anon();
select is(
  (select array_agg(split_part(tests.row_count_or_error(format('select * from public.%I', v)), ':', 1) order by v)
     from unnest(array['my_access', 'my_orders', 'my_sales', 'my_tickets', 'customer_state_texts']) v),
  array['42501', '42501', '42501', '42501', '42501'],
  'the anon key reads none of the views nor the wording (42501)');

-- ---------------------------------------------------------------- the founder edits the wording
reset role;
update public.customer_state_texts set title = 'Money on its way back' where kind = 'order' and state = 'refund_pending';
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select is((select title from public.my_orders where id = '00000000-0000-4000-8000-000000002503'), 'Money on its way back',
  'a title edited in Studio is what the app reads next');
select is(split_part(tests.row_count_or_error(
  $$ update public.customer_state_texts set title = 'x' where kind = 'order' $$), ':', 1), '42501',
  'a user cannot change the wording');
reset role;

-- access states from billing and access
update public.customers set billing_status = 'past_due' where user_id = '00000000-0000-4000-8000-0000000025a1';
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select is(tests.rows_or_error($$ select state, has_access, action from public.my_access $$),
  '[{"state": "payment_failed_grace", "has_access": true, "action": "open_billing_portal"}]'::jsonb,
  'a failed renewal in grace: access kept, next step the billing portal');
reset role;
update public.customers set billing_status = 'unpaid' where user_id = '00000000-0000-4000-8000-0000000025a1';
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select is(tests.rows_or_error($$ select state, has_access, action from public.my_access $$),
  '[{"state": "unpaid", "has_access": false, "action": "open_billing_portal"}]'::jsonb,
  'unpaid: blocked, next step the billing portal');
reset role;
update public.customers set billing_status = 'canceled' where user_id = '00000000-0000-4000-8000-0000000025a1';
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select is(tests.rows_or_error($$ select state, has_access from public.my_access $$),
  '[{"state": "canceled", "has_access": false}]'::jsonb, 'canceled: blocked, subscribe again');
reset role;
-- an operator's revoke (dashboard override) shows as suspended, never with its reason
insert into ops.access_overrides (customer_id, access_status, reason, expires_at)
select id, 'blocked', 'pgtap: chargeback fraud suspected (internal)', now() + interval '1 day'
  from public.customers where user_id = '00000000-0000-4000-8000-0000000025a1';
update public.customers set billing_status = 'active' where user_id = '00000000-0000-4000-8000-0000000025a1';
call tests.authenticate_as('00000000-0000-4000-8000-0000000025a1');
select is(tests.rows_or_error($$ select state, has_access, action from public.my_access $$),
  '[{"state": "suspended", "has_access": false, "action": "contact_support"}]'::jsonb,
  'active billing with access blocked by an operator: suspended, contact support');
reset role;

-- ---------------------------------------------------------------- the Realtime publication
select set_eq(
  $$ select tablename || ':' || array_to_string(attnames, ',') from pg_publication_tables
      where pubname = 'supabase_realtime' and schemaname = 'public' $$,
  array[
    'orders:id,buyer_id,seller_id,listing_id,status,amount_total,currency,amount_refunded,needs_review,paid_at,'
      'created_at,updated_at,quantity,tracking_carrier,tracking_number,tracking_url,fulfillment_started_at,'
      'completed_at,amount_refund_pending,payment_processing',
    'customers:id,user_id,email,name,billing_status,access_status,last_paid_at,last_payment_failed_at,deleted_at,'
      'created_at,updated_at',
    'support_tickets:id,ref,requester_id,order_id,category,subject,status,follow_up_of,reopened_count,'
      'last_message_at,solved_at,closed_at,created_at,updated_at',
    'ticket_messages:id,ticket_id,author_id,author_kind,body,created_at,visibility,idempotency_key'],
  'supabase_realtime carries orders, customers, tickets and ticket messages, each with its column list');
select is_empty(
  $$ select p.tablename || '.' || a from pg_publication_tables p cross join unnest(p.attnames) a
      where p.pubname = 'supabase_realtime' and p.schemaname = 'public'
        and not has_column_privilege('authenticated', format('public.%I', p.tablename), a, 'select') $$,
  'every published column is one the app''s role may read (none of Stripe ids, review reasons, context)');
select ok((select not puballtables and pubinsert and pubupdate and pubdelete from pg_publication
            where pubname = 'supabase_realtime'),
  'the publication names its tables (not all tables) and publishes inserts, updates and deletes');

select * from finish();
rollback;
