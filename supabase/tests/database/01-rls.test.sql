-- Who may do what: the role x table x operation matrix of the exposed tables (anon, buyers,
-- sellers, anonymous users, admin, service_role), down to the order columns each may read; who
-- grants the seller role; the ops schema wall and the stripe_webhook role.
-- Every actor and row is created inside the transaction, so seed.sql does not matter.
begin;
set search_path = public, extensions;
select plan(162);

-- Ids: users ...b0a / ...b0b buyers, ...c0a / ...c0b sellers (granted by the server: app_metadata),
-- ...c0d a seller demoted to buyer, ...c0e a user who named themselves seller in user_metadata,
-- ...a0a an anonymous user, ...ad0 admin; listings ...1a1 (seller_a, active), ...1a2 (seller_a,
-- inactive), ...1b1 (seller_b), ...1d1 (seller_d), ...1e1 (the anonymous user, made a seller by hand);
-- orders ...da1 (buyer_a buys 1a1), ...db1 (buyer_b buys 1b1), the latter in review;
-- customers of buyer_a (Stripe customer cus_pgtap_a) and buyer_b (cus_pgtap_b) with subscriptions
-- sub_pgtap_a, sub_pgtap_b.
call tests.create_user('00000000-0000-4000-8000-000000000b0a', 'buyer_a@pgtap.test', false);
call tests.create_user('00000000-0000-4000-8000-000000000b0b', 'buyer_b@pgtap.test', false);
call tests.create_user('00000000-0000-4000-8000-000000000c0a', 'seller_a@pgtap.test', false, '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000000c0b', 'seller_b@pgtap.test', false, '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000000c0d', 'seller_d@pgtap.test', false, '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000000c0e', 'self_made@pgtap.test', false, p_user_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-000000000a0a', null, false, '{"role":"seller"}', '{"role":"seller"}', true);
call tests.create_user('00000000-0000-4000-8000-000000000ad0', 'admin@pgtap.test', false, '{"role":"admin"}');
insert into public.listings (id, seller_id, title, price_amount, currency, active) values
  ('00000000-0000-4000-8000-0000000001a1', '00000000-0000-4000-8000-000000000c0a', 'A mug', 2500, 'usd', true),
  ('00000000-0000-4000-8000-0000000001a2', '00000000-0000-4000-8000-000000000c0a', 'A draft', 4000, 'usd', false),
  ('00000000-0000-4000-8000-0000000001b1', '00000000-0000-4000-8000-000000000c0b', 'B board', 6400, 'eur', true),
  ('00000000-0000-4000-8000-0000000001d1', '00000000-0000-4000-8000-000000000c0d', 'D vase', 1000, 'usd', true);
update public.profiles set role = 'buyer' where id = '00000000-0000-4000-8000-000000000c0d';
-- by hand, as no door allows it: the walls below must hold for an anonymous user even then
update public.profiles set role = 'seller' where id = '00000000-0000-4000-8000-000000000a0a';
insert into public.listings (id, seller_id, title, price_amount, currency, active) values
  ('00000000-0000-4000-8000-0000000001e1', '00000000-0000-4000-8000-000000000a0a', 'E lamp', 500, 'usd', true);
insert into public.orders (id, buyer_id, listing_id, amount_total, currency) values
  ('00000000-0000-4000-8000-000000000da1', '00000000-0000-4000-8000-000000000b0a', '00000000-0000-4000-8000-0000000001a1', 2500, 'usd'),
  ('00000000-0000-4000-8000-000000000db1', '00000000-0000-4000-8000-000000000b0b', '00000000-0000-4000-8000-0000000001b1', 6400, 'eur');
update public.orders set stripe_checkout_session_id = 'cs_pgtap_' || right(id::text, 3), stripe_customer_id = 'cus_pgtap_' || right(id::text, 2),
       stripe_payment_intent_id = 'pi_pgtap_' || right(id::text, 3)
 where id in ('00000000-0000-4000-8000-000000000da1', '00000000-0000-4000-8000-000000000db1');
update public.orders set needs_review = true, review_reason = 'pgtap: an internal reason'
 where id = '00000000-0000-4000-8000-000000000db1';
insert into public.customers (user_id, email, billing_status) values
  ('00000000-0000-4000-8000-000000000b0a', 'buyer_a@pgtap.test', 'active'),
  ('00000000-0000-4000-8000-000000000b0b', 'buyer_b@pgtap.test', 'active')
on conflict (user_id) do update set billing_status = excluded.billing_status;
insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, linked_at)
select 'cus_pgtap_' || split_part(split_part(c.email, '@', 1), '_', 2), c.id, 'metadata', now()
  from public.customers c where c.email in ('buyer_a@pgtap.test', 'buyer_b@pgtap.test');
insert into public.subscriptions (stripe_subscription_id, customer_id, stripe_customer_id, status, stripe_event_created, stripe_event_rank)
select 'sub_pgtap_' || right(m.stripe_customer_id, 1), m.customer_id, m.stripe_customer_id, 'active', now(), 30
  from ops.stripe_customers m where m.stripe_customer_id in ('cus_pgtap_a', 'cus_pgtap_b');

-- ---------------------------------------------------------------- catalog
select is_empty(
  $$ select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity $$,
  'row level security is enabled on every table in public');
select is_empty(
  $$ select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('v', 'm')
        and coalesce(array_to_string(c.reloptions, ','), '') !~ 'security_invoker=(true|on|1)' $$,
  'every view in public runs as its caller (security_invoker), so no view bypasses RLS');
select ok(not has_schema_privilege('anon', 'ops', 'usage'), 'anon has no usage on schema ops');
select set_eq(
  $$ select c.oid::regclass::text || ':' || p.privilege_type from pg_class c
       cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) p (privilege_type)
      where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
        and has_table_privilege('authenticated', c.oid, p.privilege_type) $$,
  array['ops.alert_rules:SELECT', 'ops.alert_incidents:SELECT', 'ops.reconciliation_findings:SELECT', 'ops.audit_log:SELECT'],
  'in schema ops, authenticated may only read the four admin tables (rules, incidents, findings, audit log)');
select is_empty(
  $$ select c.oid::regclass::text from pg_class c
      where c.oid in ('ops.alert_rules'::regclass, 'ops.alert_incidents'::regclass, 'ops.reconciliation_findings'::regclass, 'ops.audit_log'::regclass)
        and not c.relrowsecurity $$,
  'the four admin tables in ops have row level security enabled');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'ops'::regnamespace, 'private'::regnamespace)
        and (has_function_privilege('public', p.oid, 'execute') or has_function_privilege('anon', p.oid, 'execute'))
        -- the listing policy visitors pass asks whether the seller can be paid (#18, Connect)
        and p.oid::regprocedure::text not in ('private.seller_can_accept_charges(uuid)',
                                              'private.seller_listings_open(uuid)') $$,
  'public and anon can execute no function in public, ops or private but the listing policy''s helpers');
select set_eq(
  $$ select p.oid::regprocedure::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'ops'::regnamespace, 'private'::regnamespace)
        and has_function_privilege('authenticated', p.oid, 'execute') $$,
  array['private.is_admin()', 'private.is_seller()', 'private.is_anonymous()',
        'submit_support_request(text,text,text,uuid,text,jsonb,uuid)',
        -- fulfilment and tickets between people (#18): invoker doors, RLS and the guard decide (21-fulfilment)
        'ship_order(uuid,text,text,text)', 'complete_order(uuid)', 'confirm_order_received(uuid)',
        'add_ticket_message(uuid,text,text,text)', 'private.order_party(uuid)',
        -- the dashboard's doors: each lets only an admin's JWT through (12-dashboard)
        'ops.dashboard_snapshot()', 'ops.dashboard_journey(text)',
        'ops.admin_set_access(uuid,text,text,timestamp with time zone)', 'ops.admin_clear_access_override(uuid,text)',
        'ops.admin_resolve_order_review(uuid,boolean,text)', 'ops.admin_replay_job(bigint,text)',
        'ops.admin_replay_stripe_event(text,text)', 'ops.admin_escalate_ticket(uuid,text,text,text)',
        'ops.admin_close_ticket(uuid,text)', 'ops.admin_erase_person(text,text)',
        -- sellers on Connect (#18): listings' and seller_account_status's helpers, the dashboard's section
        'private.seller_can_accept_charges(uuid)', 'private.seller_listings_open(uuid)',
        'private.seller_block_reason(text,text[],text[],boolean,boolean,timestamp with time zone)',
        'ops.dashboard_blocked_sellers()',
        -- an agent's reply from the dashboard (#20, 27-support-replies)
        'ops.admin_reply_to_ticket(uuid,text)',
        -- the dashboard's paged lists and founder figures (#20, 28-founder-figures)
        'ops.dashboard_lists(jsonb)', 'ops.dashboard_figures()'],
  'authenticated can execute only the policy helpers, submit_support_request, the fulfilment and message doors and the dashboard''s admin-only functions');
select is_empty(
  $$ select tablename || ': ' || policyname from pg_policies
      where schemaname = 'public' and concat(qual, with_check) ~ '(app_metadata|profiles|is_anonymous'')' $$,
  'no policy inlines the admin, seller or anonymous test: they call private.is_admin() / is_seller() / is_anonymous()');
select is_empty(
  $$ select tablename || ': ' || policyname from pg_policies
      where schemaname = 'public' and cmd <> 'SELECT' and concat(qual, with_check) !~ 'private\.is_anonymous\(\)' $$,
  'every write policy keeps anonymous users out (private.is_anonymous())');
select set_eq(
  $$ select a.attname::text from pg_attribute a
      where a.attrelid = 'public.orders'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege('authenticated', a.attrelid, a.attnum, 'select') $$,
  array['id', 'buyer_id', 'seller_id', 'listing_id', 'status', 'amount_total', 'currency', 'amount_refunded',
        'needs_review', 'paid_at', 'created_at', 'updated_at', 'quantity',
        -- fulfilment (#18): the buyer reads the tracking
        'tracking_carrier', 'tracking_number', 'tracking_url', 'fulfillment_started_at', 'completed_at',
        -- the status views (#20): a refund Stripe has not finished, a payment being confirmed
        'amount_refund_pending', 'payment_processing'],
  'authenticated may read exactly the order columns a seller needs: no Stripe ids, checkout facts, review reason or version');

-- ---------------------------------------------------------------- who is a seller
select results_eq(
  $$ select id, role from public.profiles where id in ('00000000-0000-4000-8000-000000000c0a', '00000000-0000-4000-8000-000000000c0e')
      order by id $$,
  $$ values ('00000000-0000-4000-8000-000000000c0a'::uuid, 'seller'), ('00000000-0000-4000-8000-000000000c0e'::uuid, 'buyer') $$,
  'seller comes from app_metadata (the server''s); a role the user wrote into user_metadata at sign-up makes a buyer');
select results_eq(
  $$ select old_role, new_role from ops.role_grants where user_id = '00000000-0000-4000-8000-000000000a0a' $$,
  $$ values ('buyer', 'seller') $$,
  'an anonymous user signs up a buyer even with app_metadata.role seller (the one audit row is this test''s change by hand)');
select results_eq(
  $$ select old_role, new_role, note from ops.role_grants where user_id = '00000000-0000-4000-8000-000000000c0a' $$,
  $$ values (null::text, 'seller', 'at sign-up, from app_metadata.role') $$,
  'a seller granted at sign-up leaves an audit row');

-- ---------------------------------------------------------------- anon
-- acting as anon
call tests.authenticate_as_anon();

select results_eq(
  $$ select id from public.listings where seller_id = '00000000-0000-4000-8000-000000000c0a' $$,
  $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid) $$,
  'anon reads a seller''s active listing and not the inactive one');
select is_empty($$ select 1 from public.listings where not active $$, 'anon reads no inactive listing');
select throws_ok(stmt, '42501', null, 'anon cannot ' || what)
  from (values
    ('select * from public.profiles', 'read profiles'),
    ('select * from public.orders', 'read orders'),
    ('select * from public.customers', 'read customers'),
    ('select * from public.subscriptions', 'read subscriptions'),
    ($$insert into public.profiles (id) values ('00000000-0000-4000-8000-000000000b0a')$$, 'insert profiles'),
    ($$update public.profiles set display_name = 'x' where id = '00000000-0000-4000-8000-000000000b0a'$$, 'update profiles'),
    ($$delete from public.profiles where id = '00000000-0000-4000-8000-000000000b0a'$$, 'delete profiles'),
    ($$insert into public.listings (title, price_amount) values ('x', 1)$$, 'insert listings'),
    ($$update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001a1'$$, 'update listings'),
    ($$delete from public.listings where id = '00000000-0000-4000-8000-0000000001a1'$$, 'delete listings'),
    ($$insert into public.orders (listing_id) values ('00000000-0000-4000-8000-0000000001a1')$$, 'insert orders'),
    ($$update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-000000000da1'$$, 'update orders'),
    ($$delete from public.orders where id = '00000000-0000-4000-8000-000000000da1'$$, 'delete orders'),
    ($$insert into public.customers (email) values ('x@pgtap.test')$$, 'insert customers'),
    ($$update public.customers set email = 'x' where email = 'buyer_a@pgtap.test'$$, 'update customers'),
    ($$delete from public.customers where email = 'buyer_a@pgtap.test'$$, 'delete customers'),
    ($$insert into public.subscriptions (stripe_subscription_id, stripe_customer_id, status, stripe_event_created, stripe_event_rank)
       values ('sub_x', 'cus_x', 'active', now(), 30)$$, 'insert subscriptions'),
    ($$update public.subscriptions set status = 'canceled' where stripe_subscription_id = 'sub_pgtap_a'$$, 'update subscriptions'),
    ($$delete from public.subscriptions where stripe_subscription_id = 'sub_pgtap_a'$$, 'delete subscriptions'),
    ('select * from ops.stripe_events', 'read ops.stripe_events (no usage on ops)'),
    ($$select ops.ingest_stripe_event('{}')$$, 'call ops.ingest_stripe_event')
  ) as denied(stmt, what);

-- ---------------------------------------------------------------- buyer_a
reset role;
-- acting as buyer_a
call tests.authenticate_as('00000000-0000-4000-8000-000000000b0a');

select results_eq('select id from public.profiles', $$ values ('00000000-0000-4000-8000-000000000b0a'::uuid) $$,
  'buyer_a reads only their own profile');
select results_eq('select id from public.orders', $$ values ('00000000-0000-4000-8000-000000000da1'::uuid) $$,
  'buyer_a reads only their own order');
select results_eq('select email from public.customers', $$ values ('buyer_a@pgtap.test') $$,
  'buyer_a reads only their own customer row');
select results_eq('select status, amount_total, currency from public.orders',
  $$ values ('pending_payment', 2500::bigint, 'usd') $$,
  'buyer_a reads the status and price of their order');
select throws_ok(format('select %s from public.orders', col), '42501', null, 'buyer_a cannot read ' || col || ' of their own order')
  from unnest(array['stripe_customer_id', 'stripe_payment_intent_id', 'review_reason', '*']) as col;
select results_eq('select stripe_subscription_id from public.subscriptions', $$ values ('sub_pgtap_a') $$,
  'buyer_a reads only their own subscriptions');
select results_eq(
  $$ select id from public.listings where seller_id in ('00000000-0000-4000-8000-000000000c0a', '00000000-0000-4000-8000-000000000c0b') order by id $$,
  $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid), ('00000000-0000-4000-8000-0000000001b1'::uuid) $$,
  'buyer_a reads active listings of every seller');
select is_empty($$ select 1 from public.listings where not active $$, 'buyer_a reads no inactive listing');

select is(tests.row_count_or_error($$ update public.profiles set display_name = 'Bea' where id = '00000000-0000-4000-8000-000000000b0a' $$), '1',
  'buyer_a can update their own display name');
select is(tests.row_count_or_error($$ update public.profiles set display_name = 'x' where id = '00000000-0000-4000-8000-000000000b0b' $$), '0',
  'buyer_a cannot update another user''s profile');
select is(tests.row_count_or_error($$ update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001a1' $$), '0',
  'buyer_a cannot update a seller''s listing');
select is(tests.row_count_or_error($$ delete from public.listings where id = '00000000-0000-4000-8000-0000000001a1' $$), '0',
  'buyer_a cannot delete a seller''s listing');
select lives_ok($$ insert into public.orders (listing_id) values ('00000000-0000-4000-8000-0000000001b1') $$,
  'buyer_a can create an order naming only an active listing');
select throws_ok($$ insert into public.orders (listing_id) values ('00000000-0000-4000-8000-0000000001a2') $$, null, null,
  'buyer_a cannot order an inactive listing');
select throws_ok(stmt, '42501', null, 'buyer_a cannot ' || what)
  from (values
    ($$insert into public.profiles (id) values ('00000000-0000-4000-8000-000000000b0a')$$, 'insert profiles'),
    ($$update public.profiles set role = 'seller' where id = '00000000-0000-4000-8000-000000000b0a'$$, 'make themselves a seller'),
    ($$select ops.set_user_role('00000000-0000-4000-8000-000000000b0a', 'seller', 'me')$$, 'make themselves a seller through ops.set_user_role'),
    ($$select ops.link_stripe_customer('cus_pgtap_b', '00000000-0000-4000-8000-000000000b0a', 'mine')$$, 'link another buyer''s Stripe customer to themselves'),
    ($$delete from public.profiles where id = '00000000-0000-4000-8000-000000000b0a'$$, 'delete their profile'),
    ($$insert into public.listings (title, price_amount) values ('x', 1)$$, 'create listings (not a seller)'),
    ($$insert into public.orders (listing_id, buyer_id) values ('00000000-0000-4000-8000-0000000001a1', '00000000-0000-4000-8000-000000000b0b')$$,
      'create an order for another buyer'),
    ($$insert into public.orders (listing_id, status) values ('00000000-0000-4000-8000-0000000001a1', 'paid')$$, 'create a paid order'),
    ($$insert into public.orders (listing_id, amount_total) values ('00000000-0000-4000-8000-0000000001a1', 1)$$, 'choose an order''s price'),
    -- status moves: only the fulfilment moves, by the right party (the guard, 21-fulfilment)
    ($$update public.orders set amount_total = 1 where id = '00000000-0000-4000-8000-000000000da1'$$, 'change their order''s price'),
    ($$delete from public.orders where id = '00000000-0000-4000-8000-000000000da1'$$, 'delete their order'),
    ($$insert into public.customers (email) values ('x@pgtap.test')$$, 'insert customers'),
    ($$update public.customers set billing_status = 'active' where email = 'buyer_a@pgtap.test'$$, 'update their customer row'),
    ($$delete from public.customers where email = 'buyer_a@pgtap.test'$$, 'delete their customer row'),
    ($$insert into public.subscriptions (stripe_subscription_id, stripe_customer_id, status, stripe_event_created, stripe_event_rank)
       values ('sub_x', 'cus_pgtap_a', 'active', now(), 30)$$, 'insert subscriptions'),
    ($$update public.subscriptions set status = 'active' where stripe_subscription_id = 'sub_pgtap_a'$$, 'update their subscription'),
    ($$delete from public.subscriptions where stripe_subscription_id = 'sub_pgtap_a'$$, 'delete their subscription'),
    ('select * from ops.stripe_events', 'read ops.stripe_events (no usage on ops)'),
    ('select * from ops.order_status_transitions', 'read ops.order_status_transitions'),
    ($$select ops.ingest_stripe_event('{}')$$, 'call ops.ingest_stripe_event')
  ) as denied(stmt, what);

reset role;
-- as postgres: what buyer_a's insert produced
select results_eq(
  $$ select buyer_id, seller_id, status, amount_total, currency from public.orders
      where buyer_id = '00000000-0000-4000-8000-000000000b0a' and listing_id = '00000000-0000-4000-8000-0000000001b1' $$,
  $$ values ('00000000-0000-4000-8000-000000000b0a'::uuid, '00000000-0000-4000-8000-000000000c0b'::uuid,
             'pending_payment', 6400::bigint, 'eur') $$,
  'a buyer''s order is theirs, pending_payment, with seller, price and currency from the listing');

-- acting as buyer_a, claiming admin in user_metadata (which the user controls)
call tests.authenticate_as('00000000-0000-4000-8000-000000000b0a', '{"user_metadata": {"role": "admin"}}');
select is_empty($$ select 1 from public.orders where buyer_id <> '00000000-0000-4000-8000-000000000b0a' $$,
  'user_metadata.role = admin grants nothing: buyer_a still reads only their own orders');

-- ---------------------------------------------------------------- buyer_b
reset role;
-- acting as buyer_b
call tests.authenticate_as('00000000-0000-4000-8000-000000000b0b');

select results_eq('select id from public.orders', $$ values ('00000000-0000-4000-8000-000000000db1'::uuid) $$,
  'buyer_b reads only their own order');
select results_eq('select email from public.customers', $$ values ('buyer_b@pgtap.test') $$,
  'buyer_b reads only their own customer row');
select results_eq('select stripe_subscription_id from public.subscriptions', $$ values ('sub_pgtap_b') $$,
  'buyer_b reads only their own subscriptions');

-- ---------------------------------------------------------------- seller_a
reset role;
-- acting as seller_a
call tests.authenticate_as('00000000-0000-4000-8000-000000000c0a');

select results_eq('select id from public.profiles', $$ values ('00000000-0000-4000-8000-000000000c0a'::uuid) $$,
  'seller_a reads only their own profile');
select results_eq('select id from public.orders', $$ values ('00000000-0000-4000-8000-000000000da1'::uuid) $$,
  'seller_a reads the orders of their own listings only');
select results_eq(
  $$ select id from public.listings where seller_id in ('00000000-0000-4000-8000-000000000c0a', '00000000-0000-4000-8000-000000000c0b') order by id $$,
  $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid), ('00000000-0000-4000-8000-0000000001a2'::uuid),
            ('00000000-0000-4000-8000-0000000001b1'::uuid) $$,
  'seller_a reads their own inactive listing and every active one');
select is_empty($$ select 1 from public.customers where user_id is distinct from '00000000-0000-4000-8000-000000000c0a' $$,
  'seller_a reads no other user''s customer row');
select is_empty('select 1 from public.subscriptions', 'seller_a reads no subscription (they have none)');

select is(tests.row_count_or_error($$ insert into public.listings (title, price_amount) values ('A new', 900) $$), '1',
  'seller_a can create a listing');
select is(tests.row_count_or_error($$ update public.listings set price_amount = 2600 where id = '00000000-0000-4000-8000-0000000001a1' $$), '1',
  'seller_a can update their own listing');
select is(tests.row_count_or_error($$ delete from public.listings where title = 'A new' and seller_id = '00000000-0000-4000-8000-000000000c0a' $$), '1',
  'seller_a can delete their own listing');
select is(tests.row_count_or_error($$ update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001b1' $$), '0',
  'seller_a cannot update seller_b''s listing');
select is(tests.row_count_or_error($$ delete from public.listings where id = '00000000-0000-4000-8000-0000000001b1' $$), '0',
  'seller_a cannot delete seller_b''s listing');
select throws_ok(stmt, '42501', null, 'seller_a cannot ' || what)
  from (values
    ($$insert into public.listings (seller_id, title, price_amount) values ('00000000-0000-4000-8000-000000000c0b', 'x', 1)$$,
      'create a listing for seller_b'),
    ($$update public.listings set seller_id = '00000000-0000-4000-8000-000000000c0b' where id = '00000000-0000-4000-8000-0000000001a1'$$,
      'hand a listing to seller_b'),
    ($$update public.orders set amount_total = 1 where id = '00000000-0000-4000-8000-000000000da1'$$, 'change the price of an order of theirs'),
    ($$delete from public.orders where id = '00000000-0000-4000-8000-000000000da1'$$, 'delete an order of theirs')
  ) as denied(stmt, what);

-- ---------------------------------------------------------------- seller_b
reset role;
-- acting as seller_b
call tests.authenticate_as('00000000-0000-4000-8000-000000000c0b');

-- buyer_a's new order (above) is for seller_b's listing too
select results_eq('select buyer_id from public.orders order by buyer_id',
  $$ values ('00000000-0000-4000-8000-000000000b0a'::uuid), ('00000000-0000-4000-8000-000000000b0b'::uuid) $$,
  'seller_b reads the orders of their own listing, from any buyer');
select is_empty($$ select 1 from public.listings where id = '00000000-0000-4000-8000-0000000001a2' $$,
  'seller_b does not read seller_a''s inactive listing');
select results_eq(
  $$ select buyer_id, status, amount_total, currency, needs_review from public.orders where id = '00000000-0000-4000-8000-000000000db1' $$,
  $$ values ('00000000-0000-4000-8000-000000000b0b'::uuid, 'pending_payment', 6400::bigint, 'eur', true) $$,
  'seller_b reads what they need to fulfil an order: buyer, status, price, and that it is held for review');
select throws_ok(format('select %s from public.orders', col), '42501', null,
                 'seller_b cannot read ' || col || ' of an order of theirs')
  from unnest(array['stripe_customer_id', 'stripe_checkout_session_id', 'stripe_payment_intent_id', 'review_reason',
                    'amount_charged', 'currency_charged', 'version', '*']) as col;

-- ---------------------------------------------------------------- seller_d, demoted to buyer
reset role;
-- acting as seller_d
call tests.authenticate_as('00000000-0000-4000-8000-000000000c0d');

select throws_ok($$ insert into public.listings (title, price_amount) values ('D new', 900) $$, '42501', null,
  'a demoted seller cannot create listings');
select is(tests.row_count_or_error($$ update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001d1' $$), '0',
  'a demoted seller cannot update their old listing');
select is(tests.row_count_or_error($$ delete from public.listings where id = '00000000-0000-4000-8000-0000000001d1' $$), '0',
  'a demoted seller cannot delete their old listing');

-- ---------------------------------------------------------------- anonymous user
reset role;
-- acting as the anonymous user (signInAnonymously: is_anonymous in the JWT), with a seller profile set by hand
call tests.authenticate_as('00000000-0000-4000-8000-000000000a0a', '{"is_anonymous": true}');

select results_eq('select id from public.profiles', $$ values ('00000000-0000-4000-8000-000000000a0a'::uuid) $$,
  'an anonymous user reads their own profile');
select set_has('select id from public.listings', $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid) $$,
  'an anonymous user reads active listings');
select throws_ok(stmt, '42501', null, 'an anonymous user cannot ' || what)
  from (values
    ($$insert into public.listings (title, price_amount) values ('E new', 900)$$, 'create a listing (even with a seller profile)'),
    ($$insert into public.orders (listing_id) values ('00000000-0000-4000-8000-0000000001a1')$$, 'create an order')
  ) as denied(stmt, what);
select is(tests.row_count_or_error(stmt), '0', 'an anonymous user cannot ' || what)
  from (values
    ($$update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001e1'$$, 'update their own listing'),
    ($$delete from public.listings where id = '00000000-0000-4000-8000-0000000001e1'$$, 'delete their own listing'),
    ($$update public.profiles set display_name = 'x' where id = '00000000-0000-4000-8000-000000000a0a'$$, 'update their own profile')
  ) as denied(stmt, what);

-- ---------------------------------------------------------------- admin
reset role;
-- acting as admin (app_metadata is set server-side)
call tests.authenticate_as('00000000-0000-4000-8000-000000000ad0', '{"app_metadata": {"role": "admin"}}');

select set_has('select id from public.profiles',
  $$ values ('00000000-0000-4000-8000-000000000b0a'::uuid), ('00000000-0000-4000-8000-000000000b0b'::uuid),
            ('00000000-0000-4000-8000-000000000c0a'::uuid), ('00000000-0000-4000-8000-000000000ad0'::uuid) $$,
  'admin reads every profile');
select set_has('select id from public.listings',
  $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid), ('00000000-0000-4000-8000-0000000001a2'::uuid),
            ('00000000-0000-4000-8000-0000000001b1'::uuid) $$,
  'admin reads every listing, inactive too');
select set_has('select id from public.orders',
  $$ values ('00000000-0000-4000-8000-000000000da1'::uuid), ('00000000-0000-4000-8000-000000000db1'::uuid) $$,
  'admin reads every order');
select throws_ok('select review_reason, stripe_customer_id from public.orders', '42501', null,
  'admin reads the internal order columns only through the service role (server side, Studio), not the API role');
select set_has('select email from public.customers', $$ values ('buyer_a@pgtap.test'), ('buyer_b@pgtap.test') $$,
  'admin reads every customer row');
select set_has('select stripe_subscription_id from public.subscriptions', $$ values ('sub_pgtap_a'), ('sub_pgtap_b') $$,
  'admin reads every subscription');
select is(tests.row_count_or_error($$ update public.listings set price_amount = 1 where id = '00000000-0000-4000-8000-0000000001a1' $$), '0',
  'admin cannot update a seller''s listing');
select throws_ok(stmt, '42501', null, 'admin cannot ' || what)
  from (values
    ($$update public.orders set amount_total = 1 where id = '00000000-0000-4000-8000-000000000da1'$$, 'change an order''s price'),
    ($$delete from public.orders where id = '00000000-0000-4000-8000-000000000da1'$$, 'delete an order'),
    ($$update public.customers set billing_status = 'active' where email = 'buyer_a@pgtap.test'$$, 'update a customer row'),
    ($$delete from public.subscriptions where stripe_subscription_id = 'sub_pgtap_a'$$, 'delete a subscription'),
    ('select * from ops.stripe_events', 'read ops.stripe_events (no usage on ops)')
  ) as denied(stmt, what);

-- ---------------------------------------------------------------- stripe_webhook
reset role;
select ok(has_function_privilege('stripe_webhook', 'ops.ingest_stripe_event(jsonb, boolean, text, boolean, text)', 'execute'),
  'stripe_webhook can execute ops.ingest_stripe_event');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace = 'ops'::regnamespace
        and p.proname not in ('ingest_stripe_event', 'ingest_stripe_events', 'record_endpoint_outcome',
                              'record_duplicate_delivery')
        and has_function_privilege('stripe_webhook', p.oid, 'execute') $$,
  'stripe_webhook can execute no other ops function than ops.ingest_stripe_events (group commit, #21) and '
  'its answer counters (record_endpoint_outcome, record_duplicate_delivery)');
select is_empty(
  $$ select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname !~ '^pg_(temp|toast)'
        -- pg_net's tables are granted to PUBLIC by their owner, as on hosted: 05-pg-net shows what that exposes
        and n.nspname <> 'net'
        and has_schema_privilege('stripe_webhook', n.oid, 'usage')
        and has_table_privilege('stripe_webhook', c.oid, 'select, insert, update, delete') $$,
  'stripe_webhook holds no privilege on any table it can reach (but pg_net''s, see 05-pg-net)');

-- pgTAP lives in extensions, which the webhook role cannot reach; open it for this transaction only
grant usage on schema extensions to stripe_webhook;
-- acting as stripe_webhook
set local role stripe_webhook;
select is(
  ops.ingest_stripe_event('{"id":"evt_pgtap_rls","type":"pgtap.rls_check","created":1700000000,"data":{"object":{"id":"x"}}}') ->> 'status',
  'ignored',
  'stripe_webhook can ingest an event');
select throws_ok(stmt, '42501', null, 'stripe_webhook cannot ' || what)
  from (values
    ('select * from ops.stripe_events', 'read ops.stripe_events'),
    ($$insert into ops.stripe_events (event_id, type, event_created, payload) values ('evt_x', 'x', now(), '{}')$$,
      'insert into ops.stripe_events'),
    ('select * from public.orders', 'read public.orders'),
    ($$insert into public.orders (listing_id) values ('00000000-0000-4000-8000-0000000001a1')$$, 'insert into public.orders'),
    ('select * from ops.reapply_stripe_events()', 'call ops.reapply_stripe_events')
  ) as denied(stmt, what);

-- ---------------------------------------------------------------- service_role
reset role;
-- acting as service_role (bypasses RLS; the state machines still apply)
set local role service_role;
set local request.jwt.claims = '{"role":"service_role"}';

select set_has('select id from public.listings',
  $$ values ('00000000-0000-4000-8000-0000000001a1'::uuid), ('00000000-0000-4000-8000-0000000001a2'::uuid) $$,
  'service_role reads every listing, inactive too');
select set_has('select id from public.orders',
  $$ values ('00000000-0000-4000-8000-000000000da1'::uuid), ('00000000-0000-4000-8000-000000000db1'::uuid) $$,
  'service_role reads every order');
select results_eq($$ select review_reason, stripe_customer_id from public.orders where id = '00000000-0000-4000-8000-000000000db1' $$,
  $$ values ('pgtap: an internal reason', 'cus_pgtap_b1') $$,
  'service_role reads every column of an order: review reasons and Stripe ids');
select set_has('select email from public.customers', $$ values ('buyer_a@pgtap.test'), ('buyer_b@pgtap.test') $$,
  'service_role reads every customer row');
select set_has('select stripe_subscription_id from public.subscriptions', $$ values ('sub_pgtap_a'), ('sub_pgtap_b') $$,
  'service_role reads every subscription');
select set_has('select id from public.profiles',
  $$ values ('00000000-0000-4000-8000-000000000b0a'::uuid), ('00000000-0000-4000-8000-000000000c0b'::uuid) $$,
  'service_role reads every profile');
-- the server grants selling, with a reason
select is(ops.set_user_role('00000000-0000-4000-8000-000000000c0e', 'seller', 'shop verified (ticket 7)'), 'seller',
  'service_role can make a user a seller through ops.set_user_role');
select is((select role from public.profiles where id = '00000000-0000-4000-8000-000000000c0e'), 'seller',
  'the user is a seller now');
select throws_ok(stmt, code, null, 'ops.set_user_role refuses ' || what)
  from (values
    ($$select ops.set_user_role('00000000-0000-4000-8000-000000000b0b', 'admin', 'x')$$, '22023', 'the admin role (that is app_metadata)'),
    ($$select ops.set_user_role('00000000-0000-4000-8000-000000000b0b', 'seller', ' ')$$, '22023', 'a change without a reason'),
    ($$select ops.set_user_role('00000000-0000-4000-8000-000000000a0a', 'seller', 'x')$$, '23514', 'to make an anonymous user a seller'),
    ($$select ops.set_user_role('00000000-0000-4000-8000-0000000000ff', 'seller', 'x')$$, 'P0002', 'a user without a profile')
  ) as denied(stmt, code, what);
-- rows run in order: each statement touches exactly one row
select is(tests.row_count_or_error(stmt), '1', 'service_role can ' || what)
  from (values
    ($$update public.profiles set display_name = 'D' where id = '00000000-0000-4000-8000-000000000c0d'$$, 'update a profile'),
    ($$delete from public.profiles where id = '00000000-0000-4000-8000-000000000c0d'$$, 'delete a profile'),
    ($$insert into public.profiles (id, role) values ('00000000-0000-4000-8000-000000000c0d', 'seller')$$, 'insert a profile'),
    ($$insert into public.listings (seller_id, title, price_amount) values ('00000000-0000-4000-8000-000000000c0b', 'B new', 100)$$,
      'insert a listing for any seller'),
    ($$update public.listings set active = false where title = 'B new'$$, 'update any listing'),
    ($$delete from public.listings where title = 'B new'$$, 'delete any listing'),
    ($$insert into public.orders (buyer_id, listing_id) values ('00000000-0000-4000-8000-000000000b0b', '00000000-0000-4000-8000-0000000001a1')$$,
      'insert an order'),
    ($$update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-000000000db1'$$, 'move an order''s status'),
    ($$delete from public.orders where id = '00000000-0000-4000-8000-000000000db1'$$, 'delete an order'),
    ($$insert into public.customers (email) values ('new@pgtap.test')$$, 'insert a customer row'),
    ($$update public.customers set name = 'B' where email = 'buyer_b@pgtap.test'$$, 'update a customer row'),
    ($$delete from public.customers where email = 'buyer_b@pgtap.test'$$, 'delete a customer row'),
    ($$insert into public.subscriptions (stripe_subscription_id, stripe_customer_id, status, stripe_event_created, stripe_event_rank)
       values ('sub_pgtap_new', 'cus_pgtap_new', 'trialing', now(), 20)$$, 'insert a subscription'),
    ($$update public.subscriptions set status = 'active' where stripe_subscription_id = 'sub_pgtap_new'$$, 'update a subscription'),
    ($$delete from public.subscriptions where stripe_subscription_id = 'sub_pgtap_new'$$, 'delete a subscription')
  ) as allowed(stmt, what);

reset role;
-- as postgres: the audit of the grant above
select results_eq(
  $$ select old_role, new_role, note, granted_by_role from ops.role_grants where user_id = '00000000-0000-4000-8000-000000000c0e' $$,
  $$ values ('buyer', 'seller', 'shop verified (ticket 7)', 'service_role') $$,
  'every role change leaves an audit row: before, after, why and who');
select * from finish();
rollback;
