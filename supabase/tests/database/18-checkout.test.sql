-- Checkout (#18): who reads the plan catalogue, what the login role checkout may do (its doors and
-- nothing else), the refusals of ops.checkout_begin (nothing written), an order's quantity and price,
-- the idempotency record, and that the doors are nobody else's.
-- pgTAP runs as supabase_admin: it acts as the checkout login (set session authorization)
begin;
set search_path = public, extensions;
select plan(30);

call tests.create_user('00000000-0000-4000-8000-00000000c0b1', 'buyer@checkout.test');
call tests.create_user('00000000-0000-4000-8000-00000000c0b2', 'other@checkout.test');
call tests.create_user('00000000-0000-4000-8000-00000000c0a1', 'admin@checkout.test', p_app_metadata => '{"role":"admin"}');
call tests.create_user('00000000-0000-4000-8000-00000000c051', 'seller@checkout.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-00000000c052', 'blocked@checkout.test', p_app_metadata => '{"role":"seller"}');
update public.profiles set charges_enabled = false where id = '00000000-0000-4000-8000-00000000c052';
insert into public.listings (id, seller_id, title, price_amount, currency, active) values
  ('00000000-0000-4000-8000-00000000c1a1', '00000000-0000-4000-8000-00000000c051', 'A mug', 1500, 'eur', true),
  ('00000000-0000-4000-8000-00000000c1a2', '00000000-0000-4000-8000-00000000c051', 'Old mug', 900, 'eur', false),
  ('00000000-0000-4000-8000-00000000c1a3', '00000000-0000-4000-8000-00000000c052', 'A bowl', 2000, 'eur', true);
insert into public.plans (id, name, stripe_price_id, active) values
  ('00000000-0000-4000-8000-00000000c2a1', 'Pro', 'price_checkout_pro', true),
  ('00000000-0000-4000-8000-00000000c2a2', 'Legacy', 'price_checkout_legacy', false);

-- ---------------------------------------------------------------- plans: RLS
select ok((select relrowsecurity from pg_class where oid = 'public.plans'::regclass), 'RLS is on for public.plans');
-- acting as a visitor (anon)
call tests.authenticate_as_anon();
select results_eq($$ select name from public.plans where name in ('Pro', 'Legacy') order by name $$,
  array['Pro'], 'visitors read active plans only');
select throws_ok($$ insert into public.plans (name, stripe_price_id) values ('Free', 'price_free') $$, '42501',
  null, 'visitors cannot add plans');
-- acting as buyer_1
call tests.authenticate_as('00000000-0000-4000-8000-00000000c0b1');
select results_eq($$ select name from public.plans where name in ('Pro', 'Legacy') order by name $$,
  array['Pro'], 'users read active plans only');
select throws_ok($$ update public.plans set active = true where name = 'Legacy' $$, '42501', null,
  'users cannot change plans');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 1, 'f', false, null) $$, '42501', null,
  'an authenticated user (the Data API) cannot call the checkout doors');
select throws_ok($$ update public.profiles set charges_enabled = false where id = auth.uid() $$, '42501', null,
  'a user cannot set their own charges flag');
-- acting as the admin
call tests.authenticate_as('00000000-0000-4000-8000-00000000c0a1');
select results_eq($$ select name from public.plans where name in ('Pro', 'Legacy') order by name $$,
  array['Legacy', 'Pro'], 'admins read every plan');
reset role;

-- ---------------------------------------------------------------- the checkout role
select ok(pg_has_role('checkout', 'authenticated', 'member') and not (select rolinherit from pg_roles
  where rolname = 'checkout'), 'checkout may become authenticated and inherits nothing');
select set_eq(
  $$ select p.proname::text from pg_proc p
      where p.pronamespace in ('public'::regnamespace, 'ops'::regnamespace, 'private'::regnamespace)
        and has_function_privilege('checkout', p.oid, 'execute') $$,
  array['take_rate_tokens', 'record_endpoint_outcome', 'checkout_begin', 'checkout_set_order',
        'checkout_prepare_session', 'checkout_finish'],
  'checkout executes rate tokens, its answer counter and its four doors, nothing else');
select is_empty(
  $$ select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname in ('public', 'ops', 'private', 'auth')
        and has_table_privilege('checkout', c.oid, 'select, insert, update, delete') $$,
  'checkout holds no table privilege of its own');
select is_empty(
  $$ select p.oid::regprocedure::text from pg_proc p where p.proname like 'checkout\_%'
      and (has_function_privilege('authenticated', p.oid, 'execute') or has_function_privilege('anon', p.oid, 'execute')
           or has_function_privilege('service_role', p.oid, 'execute')) $$,
  'the checkout doors are the checkout role''s alone');

-- ---------------------------------------------------------------- refusals: SQLSTATE CK<status>, nothing written
-- pgTAP lives in extensions, which the checkout role cannot reach; open it for this transaction only
grant usage on schema extensions to checkout;
set local session authorization checkout;
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k1', 'order',
  '00000000-0000-4000-8000-00000000ffff', 1, 'f', false, null) $$, 'CK404', null, 'an unknown listing: CK404');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k1', 'order',
  '00000000-0000-4000-8000-00000000c1a2', 1, 'f', false, null) $$, 'CK404', null, 'an inactive listing: CK404');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c051', 'k1', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 1, 'f', false, null) $$, 'CK403', 'you cannot buy your own listing',
  'one''s own listing: CK403');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k1', 'order',
  '00000000-0000-4000-8000-00000000c1a3', 1, 'f', false, null) $$, 'CK409', null,
  'a seller who cannot accept charges: CK409');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k1', 'subscription',
  '00000000-0000-4000-8000-00000000c2a2', null, 'f', false, null) $$, 'CK404', null, 'an inactive plan: CK404');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k1', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 1, 'f', true, null) $$, '55000', null,
  'a live key on a test-mode deployment: 55000, as the webhook and reconcile');
reset session authorization;
select is((select count(*)::int from ops.checkout_requests where idempotency_key = 'k1'), 0,
  'the refusals wrote no request');

-- ---------------------------------------------------------------- a checkout as the function makes it
set local session authorization checkout;
select is((select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k2', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 3, 'order-f', false, null) ->> 'created'), 'true',
  'a new request for (user, key)');
-- acting as buyer_1, through the function's login
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-00000000c0b1", "role": "authenticated"}', true);
select set_config('role', 'authenticated', true);
with o as (insert into public.orders (listing_id, quantity) values ('00000000-0000-4000-8000-00000000c1a1', 3)
           returning id)
select set_config('tests.order_id', id::text, true) from o;
select set_config('role', 'none', true);
select lives_ok($$ select ops.checkout_set_order((select (ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1',
  'k2', 'order', '00000000-0000-4000-8000-00000000c1a1', 3, 'order-f', false, null) ->> 'request_id')::uuid),
  current_setting('tests.order_id')::uuid) $$, 'the buyer''s order becomes the request''s');
select throws_ok($$ select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k2', 'order',
  '00000000-0000-4000-8000-00000000c1a3', 1, 'other-f', false, null) $$, 'CK422', null,
  'the same key for another checkout: CK422');
select is((select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k2', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 3, 'order-f', false, null) -> 'order'),
  '{"currency": "eur", "quantity": 3, "amount_total": 4500}'::jsonb,
  'the same key again: the same order, at the listing''s price times the quantity');
create temp table k2 on commit drop as select (ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k2',
  'order', '00000000-0000-4000-8000-00000000c1a1', 3, 'order-f', false, null) ->> 'request_id')::uuid as id;
select is((select ops.checkout_prepare_session(id, 'cus_checkout1', '{"mode": "payment", "try": 1}') -> 'params' ->> 'try' from k2),
  '1', 'the session''s parameters are kept on the first try');
select is((select ops.checkout_prepare_session(id, 'cus_checkout1', '{"mode": "payment", "try": 2}') -> 'params' ->> 'try' from k2),
  '1', 'a retry sends the parameters of the first try (first write wins)');
select lives_ok($$ select ops.checkout_finish(id, 'cs_test_checkout1', 'https://checkout.stripe.com/c/pay/cs_test_checkout1',
  now() + interval '1 day', null) from k2 $$, 'the session is recorded');
select is((select ops.checkout_begin('00000000-0000-4000-8000-00000000c0b1', 'k2', 'order',
  '00000000-0000-4000-8000-00000000c1a1', 3, 'order-f', false, null) ->> 'session_id'), 'cs_test_checkout1',
  'the same key again answers the recorded session');
reset session authorization;
select is((select m.linked_by || '/' || c.user_id from ops.stripe_customers m
             join public.customers c on c.id = m.customer_id where m.stripe_customer_id = 'cus_checkout1'),
  'server/00000000-0000-4000-8000-00000000c0b1', 'the customer the server created is registered for the buyer');
select throws_ok($$ insert into public.orders (listing_id, quantity) values ('00000000-0000-4000-8000-00000000c1a1', 101) $$,
  '23514', null, 'a quantity over 100 is refused');
-- acting as buyer_2: an order's quantity is theirs to choose, its price is not
call tests.authenticate_as('00000000-0000-4000-8000-00000000c0b2');
with o as (insert into public.orders (listing_id, quantity) values ('00000000-0000-4000-8000-00000000c1a1', 2)
           returning id)
select set_config('tests.order_b', id::text, true) from o;
select is((select amount_total from public.orders where id = current_setting('tests.order_b')::uuid), 3000::bigint,
  'a buyer''s order costs the listing''s price times its quantity');
reset role;

select * from finish();
rollback;
