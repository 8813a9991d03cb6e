-- Applying Stripe events to product state. Each event only adds facts (a payment succeeded,
-- N was refunded, a dispute is open) to ops mirrors; order and customer statuses are then derived
-- from all facts, so any delivery order ends in the same state. Replaces the functions only.

-- Locks are always taken in one order (customer, then payment intent, then order) so that
-- concurrent events about one object queue behind each other instead of deadlocking.

create or replace function ops.ts(epoch text) returns timestamptz
language sql immutable
set search_path = ''
as $$ select to_timestamp(epoch::bigint) $$;

-- The app passes its order id as client_reference_id / metadata.order_id; anything else is not ours.
create or replace function ops.as_uuid(value text) returns uuid
language sql immutable
set search_path = ''
as $$
  select case when value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then value::uuid end
$$;

-- Creates the mirror row if missing and locks it for the rest of the transaction.
create or replace function ops.lock_payment_intent(p_id text) returns void
language sql
set search_path = ''
as $$
  insert into ops.payment_intents as p (stripe_payment_intent_id) values (p_id)
  on conflict (stripe_payment_intent_id) do update set updated_at = now()
$$;

-- Derives an order's status from every fact we hold, and moves it if the state machine allows.
create or replace function ops.recompute_order(p_order_id uuid) returns text
language plpgsql
set search_path = ''
as $$
declare
  o public.orders;
  pi ops.payment_intents;
  refunded bigint;
  paid boolean;
  disputed boolean;
  target text;
begin
  select * into o from public.orders where id = p_order_id for update;
  if not found then
    return null;
  end if;
  if o.stripe_payment_intent_id is not null then
    select * into pi from ops.payment_intents where stripe_payment_intent_id = o.stripe_payment_intent_id;
  end if;

  select greatest(coalesce(pi.amount_refunded, 0), coalesce(sum(r.amount), 0)) into refunded
  from ops.refunds r
  where r.status = 'succeeded'
    and (r.stripe_payment_intent_id = o.stripe_payment_intent_id or r.stripe_charge_id = pi.latest_charge_id);

  select exists (
    select 1 from ops.disputes d
    where (d.stripe_payment_intent_id = o.stripe_payment_intent_id or d.stripe_charge_id = pi.latest_charge_id)
      and d.status not in ('won', 'warning_closed')
  ) into disputed;

  paid := o.checkout_payment_status in ('paid', 'no_payment_required') or pi.succeeded_at is not null;
  target := case
    when paid and disputed then 'disputed'
    -- with the amount unknown yet, a refund counts as partial until it is known
    when paid and refunded > 0 and refunded >= coalesce(o.amount_total, pi.amount) then 'refunded'
    when paid and refunded > 0 then 'partially_refunded'
    when paid and o.status in ('in_fulfillment', 'completed') then o.status
    when paid then 'paid'
    when o.checkout_status = 'expired' or pi.canceled_at is not null then 'canceled'
    when o.checkout_payment_status = 'failed' or pi.last_failed_at is not null then 'payment_failed'
    else o.status
  end;

  if target is distinct from o.status and exists (
    select 1 from ops.order_status_transitions t where t.from_status = o.status and t.to_status = target
  ) then
    update public.orders
       set status = target, amount_refunded = refunded,
           paid_at = coalesce(paid_at, pi.succeeded_at, case when paid then now() end)
     where id = o.id;
  elsif refunded is distinct from o.amount_refunded then
    update public.orders set amount_refunded = refunded where id = o.id;
  end if;
  return target;
end
$$;

create or replace function ops.recompute_orders_for_payment_intent(p_payment_intent_id text) returns void
language plpgsql
set search_path = ''
as $$
declare
  oid uuid;
begin
  for oid in select id from public.orders where stripe_payment_intent_id = p_payment_intent_id order by id loop
    perform ops.recompute_order(oid);
  end loop;
end
$$;

-- checkout.session.completed | async_payment_succeeded | async_payment_failed | expired
create or replace function ops.apply_checkout_session(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  s jsonb := evt -> 'data' -> 'object';
  session_id text := s ->> 'id';
  pi_id text := s ->> 'payment_intent';
  ref_text text := coalesce(s -> 'metadata' ->> 'order_id', s ->> 'client_reference_id');
  ref uuid := ops.as_uuid(ref_text);
  o public.orders;
  review text;
  pay_status text;
  rank_new int;
  rank_old int;
begin
  if session_id is null then
    raise exception 'checkout session without an id';
  end if;
  if coalesce(s ->> 'mode', 'payment') <> 'payment' then
    -- subscription and setup sessions: the subscription and customer events carry the state
    if s ->> 'customer' is not null then
      perform ops.upsert_customer_link(s ->> 'customer', ops.as_uuid(s ->> 'client_reference_id'),
        coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email'));
    end if;
    return 'processed';
  end if;

  if pi_id is not null then
    perform ops.lock_payment_intent(pi_id);
  end if;

  select * into o from public.orders where stripe_checkout_session_id = session_id for update;
  if not found and ref is not null then
    select * into o from public.orders where id = ref for update;
    if found and o.stripe_checkout_session_id is not null and o.stripe_checkout_session_id <> session_id then
      review := format('order %s was already paid through checkout session %s', ref, o.stripe_checkout_session_id);
      o := null;
    end if;
  end if;

  if o.id is null then
    review := coalesce(review, case
      when ref_text is null then 'checkout session completed without client_reference_id or metadata.order_id'
      else format('checkout session names order %s, which does not exist', left(ref_text, 64))
    end);
    insert into public.orders (status, buyer_id, listing_id, stripe_checkout_session_id, needs_review, review_reason)
    values (
      'pending_payment',
      -- only a confirmed email names a buyer: anyone can sign up with someone else's address
      (select p.id from public.profiles p
         join auth.users u on u.id = p.id
        where lower(u.email) = lower(coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email'))
          and u.email_confirmed_at is not null and not u.is_anonymous
        limit 1),
      (select l.id from public.listings l where l.id = ops.as_uuid(s -> 'metadata' ->> 'listing_id')),
      session_id, true, review
    )
    on conflict (stripe_checkout_session_id) do nothing;
    select * into o from public.orders where stripe_checkout_session_id = session_id for update;
  end if;

  pay_status := case evt ->> 'type'
    when 'checkout.session.async_payment_succeeded' then 'paid'
    when 'checkout.session.async_payment_failed' then 'failed'
    when 'checkout.session.expired' then null
    else s ->> 'payment_status'
  end;
  -- payment facts only move forward: unpaid < failed < paid
  rank_new := case pay_status when 'unpaid' then 1 when 'failed' then 2 when 'paid' then 3 when 'no_payment_required' then 3 else 0 end;
  rank_old := case o.checkout_payment_status when 'unpaid' then 1 when 'failed' then 2 when 'paid' then 3 when 'no_payment_required' then 3 else 0 end;

  if o.amount_total is not null and (s ->> 'amount_total') is not null
     and o.amount_total <> (s ->> 'amount_total')::bigint and not o.needs_review then
    review := format('amount mismatch: order %s, checkout %s', o.amount_total, s ->> 'amount_total');
  end if;

  update public.orders set
    stripe_checkout_session_id = session_id,
    stripe_payment_intent_id = coalesce(pi_id, stripe_payment_intent_id),
    stripe_customer_id = coalesce(s ->> 'customer', stripe_customer_id),
    amount_total = coalesce(amount_total, (s ->> 'amount_total')::bigint),
    currency = coalesce(currency, lower(s ->> 'currency')),
    checkout_status = case
      when evt ->> 'type' = 'checkout.session.expired' then 'expired'
      when checkout_status = 'expired' then checkout_status
      else coalesce(s ->> 'status', 'complete') end,
    checkout_payment_status = case when rank_new > rank_old then pay_status else checkout_payment_status end,
    needs_review = needs_review or review is not null,
    review_reason = coalesce(review_reason, review)
  where id = o.id;

  if pi_id is not null then
    update ops.payment_intents set order_id = coalesce(order_id, o.id) where stripe_payment_intent_id = pi_id;
  end if;
  perform ops.recompute_order(o.id);
  return 'processed';
end
$$;

-- payment_intent.succeeded | payment_failed | canceled
create or replace function ops.apply_payment_intent(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  p jsonb := evt -> 'data' -> 'object';
  pi_id text := p ->> 'id';
  at timestamptz := ops.ts(evt ->> 'created');
  order_ref uuid := ops.as_uuid(p -> 'metadata' ->> 'order_id');
begin
  perform ops.lock_payment_intent(pi_id);
  -- the event type is the fact; snapshot objects can carry a stale status
  update ops.payment_intents set
    stripe_customer_id = coalesce(p ->> 'customer', stripe_customer_id),
    latest_charge_id = coalesce(p ->> 'latest_charge', p -> 'charges' -> 'data' -> 0 ->> 'id', latest_charge_id),
    amount = coalesce((p ->> 'amount')::bigint, amount),
    currency = coalesce(lower(p ->> 'currency'), currency),
    succeeded_at = case when evt ->> 'type' = 'payment_intent.succeeded' then least(coalesce(succeeded_at, at), at) else succeeded_at end,
    last_failed_at = case when evt ->> 'type' = 'payment_intent.payment_failed' then greatest(coalesce(last_failed_at, at), at) else last_failed_at end,
    last_error = case when evt ->> 'type' = 'payment_intent.payment_failed'
                       and at >= coalesce(last_failed_at, at)
                      then left(coalesce(p -> 'last_payment_error' ->> 'code', p -> 'last_payment_error' ->> 'message', 'payment failed'), 200)
                      else last_error end,
    canceled_at = case when evt ->> 'type' = 'payment_intent.canceled' then coalesce(canceled_at, at) else canceled_at end
  where stripe_payment_intent_id = pi_id;

  -- a payment intent created with metadata.order_id links its order even before Checkout reports
  if order_ref is not null then
    update public.orders set stripe_payment_intent_id = pi_id
     where id = order_ref and stripe_payment_intent_id is null;
  end if;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;

-- charge.refunded (and other charge.* events that carry refund totals)
create or replace function ops.apply_charge(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  c jsonb := evt -> 'data' -> 'object';
  pi_id text := c ->> 'payment_intent';
  at timestamptz := ops.ts(evt ->> 'created');
  r jsonb;
begin
  if pi_id is null then
    return 'ignored'; -- a charge outside a payment intent is not one of our orders
  end if;
  perform ops.lock_payment_intent(pi_id);
  update ops.payment_intents set
    latest_charge_id = coalesce(latest_charge_id, c ->> 'id'),
    amount = coalesce(amount, (c ->> 'amount')::bigint),
    currency = coalesce(currency, lower(c ->> 'currency')),
    amount_refunded = greatest(amount_refunded, coalesce((c ->> 'amount_refunded')::bigint, 0)),
    succeeded_at = case when c ->> 'status' = 'succeeded' or coalesce((c ->> 'captured')::boolean, false)
                        then least(coalesce(succeeded_at, at), at) else succeeded_at end
  where stripe_payment_intent_id = pi_id;
  -- older API versions embed the refunds list in the charge
  for r in select * from jsonb_array_elements(coalesce(c -> 'refunds' -> 'data', '[]'::jsonb)) loop
    perform ops.upsert_refund(r, pi_id, at);
  end loop;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;

create or replace function ops.upsert_refund(r jsonb, pi_id text, at timestamptz) returns void
language sql
set search_path = ''
as $$
  insert into ops.refunds as x (stripe_refund_id, stripe_payment_intent_id, stripe_charge_id, amount, currency, status, stripe_event_created)
  values (r ->> 'id', coalesce(r ->> 'payment_intent', pi_id), r ->> 'charge', (r ->> 'amount')::bigint, lower(r ->> 'currency'), r ->> 'status', at)
  on conflict (stripe_refund_id) do update set
    stripe_payment_intent_id = coalesce(x.stripe_payment_intent_id, excluded.stripe_payment_intent_id),
    stripe_charge_id = coalesce(x.stripe_charge_id, excluded.stripe_charge_id),
    amount = excluded.amount,
    status = excluded.status,
    stripe_event_created = excluded.stripe_event_created,
    updated_at = now()
  -- newer wins; in the same second a final status (succeeded, failed, canceled) beats pending
  where (excluded.stripe_event_created, excluded.status in ('succeeded', 'failed', 'canceled'))
      > (x.stripe_event_created, x.status in ('succeeded', 'failed', 'canceled'))
$$;

-- refund.created | refund.updated | refund.failed | charge.refund.updated
create or replace function ops.apply_refund(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  r jsonb := evt -> 'data' -> 'object';
  pi_id text := coalesce(r ->> 'payment_intent',
    (select p.stripe_payment_intent_id from ops.payment_intents p where p.latest_charge_id = r ->> 'charge' limit 1));
begin
  if pi_id is not null then
    perform ops.lock_payment_intent(pi_id);
  end if;
  perform ops.upsert_refund(r, pi_id, ops.ts(evt ->> 'created'));
  if pi_id is not null then
    perform ops.recompute_orders_for_payment_intent(pi_id);
  end if;
  return 'processed';
end
$$;

-- charge.dispute.created | updated | closed | funds_withdrawn | funds_reinstated
create or replace function ops.apply_dispute(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  d jsonb := evt -> 'data' -> 'object';
  pi_id text := coalesce(d ->> 'payment_intent',
    (select p.stripe_payment_intent_id from ops.payment_intents p where p.latest_charge_id = d ->> 'charge' limit 1));
  at timestamptz := ops.ts(evt ->> 'created');
begin
  if pi_id is not null then
    perform ops.lock_payment_intent(pi_id);
    -- a disputed charge was a captured payment
    update ops.payment_intents set
      succeeded_at = coalesce(succeeded_at, at),
      latest_charge_id = coalesce(latest_charge_id, d ->> 'charge')
    where stripe_payment_intent_id = pi_id;
  end if;
  insert into ops.disputes as x (stripe_dispute_id, stripe_payment_intent_id, stripe_charge_id, amount, currency, reason, status, stripe_event_created)
  values (d ->> 'id', pi_id, d ->> 'charge', (d ->> 'amount')::bigint, lower(d ->> 'currency'), d ->> 'reason', d ->> 'status', at)
  on conflict (stripe_dispute_id) do update set
    stripe_payment_intent_id = coalesce(x.stripe_payment_intent_id, excluded.stripe_payment_intent_id),
    status = excluded.status, reason = excluded.reason, amount = excluded.amount,
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  -- a closed dispute never reopens; otherwise newer wins, ties broken by how far along it is
  where x.status not in ('won', 'lost', 'warning_closed')
    and (excluded.stripe_event_created, excluded.status in ('won', 'lost', 'warning_closed'), excluded.status like '%under_review')
      >= (x.stripe_event_created, false, x.status like '%under_review');
  if pi_id is not null then
    perform ops.recompute_orders_for_payment_intent(pi_id);
  end if;
  return 'processed';
end
$$;

-- Finds or creates the customer row for a Stripe customer (attaching a lead row of the same
-- user or email when there is one) and locks it.
create or replace function ops.upsert_customer_link(p_stripe_customer_id text, p_user_id uuid, p_email text) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  cid uuid;
  -- metadata.user_id (set by the app's server) links; an email links only once its owner confirmed it
  uid uuid := coalesce(p_user_id, (select u.id from auth.users u
                                    where lower(u.email) = lower(p_email) and u.email_confirmed_at is not null
                                      and not u.is_anonymous
                                    limit 1));
begin
  select id into cid from public.customers where stripe_customer_id = p_stripe_customer_id for update;
  if found then
    update public.customers set user_id = coalesce(user_id, uid), email = coalesce(email, p_email)
     where id = cid and (user_id is null or email is null)
       and (uid is null or not exists (select 1 from public.customers c2 where c2.user_id = uid));
    return cid;
  end if;
  if uid is not null then
    update public.customers set stripe_customer_id = p_stripe_customer_id, email = coalesce(email, p_email)
     where user_id = uid and stripe_customer_id is null
     returning id into cid;
    if cid is not null then
      return cid;
    end if;
  end if;
  insert into public.customers (stripe_customer_id, email, user_id)
  values (p_stripe_customer_id, p_email,
          case when uid is not null and not exists (select 1 from public.customers c2 where c2.user_id = uid) then uid end)
  on conflict (stripe_customer_id) do nothing;
  select id into cid from public.customers where stripe_customer_id = p_stripe_customer_id for update;
  return cid;
end
$$;

-- Derives billing status from the customer's subscriptions (highest precedence wins).
create or replace function ops.recompute_customer(p_customer_id uuid) returns text
language plpgsql
set search_path = ''
as $$
declare
  c public.customers;
  target text;
begin
  select * into c from public.customers where id = p_customer_id for update;
  if not found then
    return null;
  end if;
  if c.deleted_at is not null then
    target := 'canceled';
  else
    select m.billing_status into target
      from public.subscriptions s
      join ops.stripe_subscription_statuses m on m.stripe_status = s.status
     where s.customer_id = c.id
     order by m.precedence desc
     limit 1;
    target := coalesce(target, c.billing_status);
  end if;
  if target is distinct from c.billing_status and exists (
    select 1 from ops.billing_status_transitions t where t.from_status = c.billing_status and t.to_status = target
  ) then
    update public.customers set billing_status = target where id = c.id;
  end if;
  return target;
end
$$;

-- customer.subscription.created | updated | deleted | paused | resumed | pending_update_*
create or replace function ops.apply_subscription(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  s jsonb := evt -> 'data' -> 'object';
  status text := case when evt ->> 'type' = 'customer.subscription.deleted' then 'canceled' else s ->> 'status' end;
  at timestamptz := ops.ts(evt ->> 'created');
  event_rank int;
  cid uuid;
begin
  select m.event_rank into event_rank from ops.stripe_subscription_statuses m where m.stripe_status = status;
  if event_rank is null then
    raise exception 'unknown subscription status %', status;
  end if;
  cid := ops.upsert_customer_link(s ->> 'customer', ops.as_uuid(s -> 'metadata' ->> 'user_id'), null);
  insert into public.subscriptions as x (stripe_subscription_id, customer_id, stripe_customer_id, status, price_id, quantity,
    cancel_at_period_end, current_period_end, trial_end, canceled_at, stripe_event_created, stripe_event_rank, stripe_event_id)
  values (
    s ->> 'id', cid, s ->> 'customer', status,
    coalesce(s -> 'items' -> 'data' -> 0 -> 'price' ->> 'id', s -> 'plan' ->> 'id'),
    coalesce((s -> 'items' -> 'data' -> 0 ->> 'quantity')::int, (s ->> 'quantity')::int),
    coalesce((s ->> 'cancel_at_period_end')::boolean, false),
    ops.ts(coalesce(s ->> 'current_period_end', s -> 'items' -> 'data' -> 0 ->> 'current_period_end')),
    ops.ts(s ->> 'trial_end'), ops.ts(s ->> 'canceled_at'), at, event_rank, evt ->> 'id'
  )
  on conflict (stripe_subscription_id) do update set
    customer_id = excluded.customer_id, status = excluded.status, price_id = excluded.price_id,
    quantity = excluded.quantity, cancel_at_period_end = excluded.cancel_at_period_end,
    current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
    canceled_at = excluded.canceled_at, stripe_event_created = excluded.stripe_event_created,
    stripe_event_rank = excluded.stripe_event_rank, stripe_event_id = excluded.stripe_event_id
  -- an older event never overwrites a newer one; within one second the later status wins (then
  -- the event id, so any delivery order ends the same); a canceled subscription stays canceled
  where x.status <> 'canceled'
    and (excluded.stripe_event_created, excluded.stripe_event_rank, excluded.stripe_event_id)
        >= (x.stripe_event_created, x.stripe_event_rank, x.stripe_event_id);
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;

-- customer.created | updated | deleted
create or replace function ops.apply_customer(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  c jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  cid uuid := ops.upsert_customer_link(c ->> 'id', ops.as_uuid(c -> 'metadata' ->> 'user_id'), c ->> 'email');
begin
  update public.customers set
    email = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'email', email) else email end,
    name = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'name', name) else name end,
    deleted_at = case when evt ->> 'type' = 'customer.deleted' then coalesce(deleted_at, at) else deleted_at end,
    stripe_event_created = greatest(stripe_event_created, at)
  where id = cid;
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;

-- invoice.paid | invoice.payment_succeeded | invoice.payment_failed
create or replace function ops.apply_invoice(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  i jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  failed boolean := evt ->> 'type' = 'invoice.payment_failed';
  cid uuid;
begin
  if i ->> 'customer' is not null then
    cid := ops.upsert_customer_link(i ->> 'customer', null, i ->> 'customer_email');
  end if;
  insert into ops.invoices as x (stripe_invoice_id, stripe_customer_id, stripe_subscription_id, status, amount_due,
    amount_paid, currency, paid, attempt_count, last_failed_at, stripe_event_created)
  values (i ->> 'id', i ->> 'customer', i ->> 'subscription', i ->> 'status', (i ->> 'amount_due')::bigint,
    (i ->> 'amount_paid')::bigint, lower(i ->> 'currency'), not failed, (i ->> 'attempt_count')::int,
    case when failed then at end, at)
  on conflict (stripe_invoice_id) do update set
    paid = x.paid or excluded.paid,
    status = case when x.paid or excluded.paid then 'paid' else excluded.status end,
    amount_paid = greatest(x.amount_paid, excluded.amount_paid),
    attempt_count = greatest(x.attempt_count, excluded.attempt_count),
    last_failed_at = greatest(x.last_failed_at, excluded.last_failed_at),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now();
  if cid is not null then
    update public.customers set
      last_paid_at = case when failed then last_paid_at else greatest(last_paid_at, at) end,
      last_payment_failed_at = case when failed then greatest(last_payment_failed_at, at) else last_payment_failed_at end
    where id = cid;
  end if;
  return 'processed';
end
$$;

-- The one switch over event types. Unknown types are 'ignored' (recorded, answered 2xx).
create or replace function ops.apply_stripe_event(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
begin
  return case
    when evt ->> 'type' in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                            'checkout.session.async_payment_failed', 'checkout.session.expired')
      then ops.apply_checkout_session(evt)
    when evt ->> 'type' in ('payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled')
      then ops.apply_payment_intent(evt)
    when evt ->> 'type' in ('charge.refunded', 'charge.succeeded', 'charge.captured')
      then ops.apply_charge(evt)
    when evt ->> 'type' in ('refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated')
      then ops.apply_refund(evt)
    when evt ->> 'type' like 'charge.dispute.%'
      then ops.apply_dispute(evt)
    when evt ->> 'type' in ('invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed')
      then ops.apply_invoice(evt)
    when evt ->> 'type' in ('customer.subscription.created', 'customer.subscription.updated',
                            'customer.subscription.deleted', 'customer.subscription.paused',
                            'customer.subscription.resumed')
      then ops.apply_subscription(evt)
    when evt ->> 'type' in ('customer.created', 'customer.updated', 'customer.deleted')
      then ops.apply_customer(evt)
    else 'ignored'
  end;
end
$$;
