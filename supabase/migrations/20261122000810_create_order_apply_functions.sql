-- Order facts from Stripe: checkout sessions, payment intents, charges, refunds and disputes grow
-- the ops mirrors; ops.recompute_order derives each order's status from all of them.
-- Replaces functions only; touches no data.

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
    perform ops.link_checkout_customer(s);
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
