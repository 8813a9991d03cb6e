-- Billing facts from Stripe: customers, subscriptions and invoices. ops.upsert_customer_link ties a
-- Stripe customer to an app user; ops.recompute_customer derives billing status from subscriptions.
-- Replaces functions only; touches no data.

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
