-- The state machines that no writer bypasses: every allowed order transition works and every
-- other one raises check_violation (23514), even as postgres; a customer's billing status decides
-- their access status, which nobody sets by hand. All as postgres, inside the transaction.
begin;
set search_path = public, extensions;

-- One order per ordered pair of distinct statuses, created in the pair's from-status.
create temp table pairs as
select f.status as from_status, t.status as to_status, gen_random_uuid() as order_id,
       exists (select 1 from ops.order_status_transitions x
                where x.from_status = f.status and x.to_status = t.status) as allowed
  from ops.order_statuses f cross join ops.order_statuses t
 where f.status <> t.status;
insert into public.orders (id, status, amount_total, currency)
select order_id, from_status, 1000, 'usd' from pairs;

-- one assertion per pair, plus the fixed ones below
select plan((select count(*)::int from pairs) + 18);

-- ---------------------------------------------------------------- order status
select is_empty($$ select * from ops.order_status_transitions where to_status = 'pending_payment' $$,
  'no transition leads back to pending_payment');
select is_empty(
  $$ select * from ops.order_status_transitions
      where from_status in ('paid', 'in_fulfillment', 'completed', 'partially_refunded', 'refunded', 'disputed')
        and to_status in ('payment_failed', 'canceled', 'in_review') $$,
  'no transition leads from a paid state to payment_failed, canceled or in_review');

select lives_ok(format('update public.orders set status = %L where id = %L', to_status, order_id),
                format('an order can move from %s to %s', from_status, to_status))
  from pairs where allowed order by from_status, to_status;
select throws_ok(format('update public.orders set status = %L where id = %L', to_status, order_id), '23514', null,
                 format('an order cannot move from %s to %s', from_status, to_status))
  from pairs where not allowed order by from_status, to_status;
select is_empty(
  $$ select p.from_status, p.to_status, o.status from pairs p join public.orders o on o.id = p.order_id
      where o.status <> case when p.allowed then p.to_status else p.from_status end $$,
  'allowed moves landed and refused ones left the order as it was');

-- the examples named in the design, pinned even if the transition table changes
insert into public.orders (id, status) values
  ('00000000-0000-4000-8000-0000000005a1', 'paid'),
  ('00000000-0000-4000-8000-0000000005a2', 'refunded');
select throws_ok($$ update public.orders set status = 'pending_payment' where id = '00000000-0000-4000-8000-0000000005a1' $$,
  '23514', null, 'paid -> pending_payment raises check_violation');
select throws_ok($$ update public.orders set status = 'payment_failed' where id = '00000000-0000-4000-8000-0000000005a1' $$,
  '23514', null, 'paid -> payment_failed raises check_violation');
select throws_ok($$ update public.orders set status = 'canceled' where id = '00000000-0000-4000-8000-0000000005a2' $$,
  '23514', null, 'refunded -> canceled raises check_violation');
select throws_ok($$ update public.orders set status = 'shipped' where id = '00000000-0000-4000-8000-0000000005a1' $$,
  null, null, 'an unknown order status is refused');
select is((select paid_at is not null from public.orders where id = '00000000-0000-4000-8000-0000000005a1'), true,
  'an order that becomes paid gets paid_at');
-- Rewriting a row with its own status (as an editor that saves every column does) is no transition.
select lives_ok($$ update public.orders set status = 'paid', needs_review = false where id = '00000000-0000-4000-8000-0000000005a1' $$,
  'writing an order''s current status again is not a transition and does not raise');

-- ---------------------------------------------------------------- billing -> access
-- one customer per billing status, created as lead and moved as the pipeline moves them
insert into public.customers (id, email)
select ('00000000-0000-4000-8000-0000000006' || lpad(n::text, 2, '0'))::uuid, s || '@billing.pgtap.test'
  from unnest(array['lead', 'trialing', 'active', 'past_due', 'unpaid', 'canceled']) with ordinality as u(s, n);
update public.customers set billing_status = split_part(email, '@', 1)
 where email like '%@billing.pgtap.test' and email not like 'lead@%';

select results_eq(
  $$ select billing_status, access_status from public.customers where email like '%@billing.pgtap.test' order by id $$,
  $$ values ('lead', 'blocked'), ('trialing', 'granted'), ('active', 'granted'),
            ('past_due', 'grace'), ('unpaid', 'blocked'), ('canceled', 'blocked') $$,
  'access follows billing: trialing and active grant, past_due is grace, lead, unpaid and canceled block');

select throws_ok($$ update public.customers set billing_status = 'lead' where email = 'active@billing.pgtap.test' $$,
  '23514', null, 'an active customer cannot move back to lead');
select throws_ok($$ update public.customers set billing_status = 'lead' where email = 'canceled@billing.pgtap.test' $$,
  '23514', null, 'a canceled customer cannot move back to lead');
select throws_ok($$ update public.customers set billing_status = 'bogus' where email = 'active@billing.pgtap.test' $$,
  null, null, 'an unknown billing status is refused');

-- access is re-derived on every change of billing status
update public.customers set billing_status = 'past_due' where email = 'active@billing.pgtap.test';
update public.customers set billing_status = 'active' where email = 'active@billing.pgtap.test';
select is((select access_status from public.customers where email = 'active@billing.pgtap.test'), 'granted',
  'active -> past_due -> active: access is granted again');
update public.customers set billing_status = 'active' where email = 'canceled@billing.pgtap.test';
select is((select access_status from public.customers where email = 'canceled@billing.pgtap.test'), 'granted',
  'canceled -> active (resubscribed): access is granted again');

-- nobody sets access by hand: it is re-derived from billing status
update public.customers set access_status = 'granted' where email = 'lead@billing.pgtap.test';
select is((select access_status from public.customers where email = 'lead@billing.pgtap.test'), 'blocked',
  'setting access_status by hand on a lead is overridden to blocked');
update public.customers set access_status = 'blocked' where email = 'past_due@billing.pgtap.test';
select is((select access_status from public.customers where email = 'past_due@billing.pgtap.test'), 'grace',
  'setting access_status by hand on a past_due customer is overridden to grace');
insert into public.customers (email, billing_status, access_status) values ('hand@billing.pgtap.test', 'unpaid', 'granted');
select is((select access_status from public.customers where email = 'hand@billing.pgtap.test'), 'blocked',
  'inserting a customer with a chosen access_status gets the derived one');

select * from finish();
rollback;
