-- Explicit state machines enforced by triggers that no writer (app, pipeline, admin SQL) bypasses:
-- order status transitions; customers' billing status (from Stripe) mapped to access status.
-- Reference rows are upserted, so running this twice is harmless.
create table if not exists ops.order_statuses (
  status text primary key,
  -- the one rule for everything downstream (CRM deal, emails, fulfilment): a payment that pays
  -- this order was confirmed, by Stripe and, for a mismatch, by an operator
  payment_confirmed boolean not null,
  description text not null
);
comment on table ops.order_statuses is 'The states an order can be in, and whether each means a confirmed payment '
  '(orders.payment_confirmed follows it).';
insert into ops.order_statuses (status, payment_confirmed, description) values
  ('pending_payment', false, 'Created by the app; waiting for Checkout'),
  ('payment_failed', false, 'The payment attempt failed; the buyer may retry'),
  ('canceled', false, 'Every Checkout session expired, the payment was canceled, or an operator refused the payment; a '
                      'later payment still pays it'),
  ('in_review', false, 'Stripe took a payment whose amount or currency is not the order''s price; waits for an '
                       'operator (ops.resolve_order_review)'),
  ('paid', true, 'Stripe confirmed the payment'),
  ('in_fulfillment', true, 'The seller is fulfilling the order'),
  ('completed', true, 'Fulfilled'),
  ('partially_refunded', true, 'Part of the charged amount was refunded'),
  ('refunded', true, 'The whole charged amount was refunded'),
  ('disputed', true, 'A dispute is open, or was lost')
on conflict (status) do update set payment_confirmed = excluded.payment_confirmed, description = excluded.description;

create table if not exists ops.order_status_transitions (
  from_status text not null references ops.order_statuses (status),
  to_status text not null references ops.order_statuses (status),
  primary key (from_status, to_status),
  check (from_status <> to_status)
);
comment on table ops.order_status_transitions is 'Every allowed order status change. Nothing moves back to '
  'pending_payment, nothing paid moves to payment_failed, canceled or in_review; refunds that fail or are reversed '
  'move back towards paid.';
insert into ops.order_status_transitions (from_status, to_status)
select f, t from (values
  -- facts can arrive in any order (a refund before the payment), so unpaid states may jump
  ('pending_payment', array['paid', 'in_review', 'payment_failed', 'canceled', 'partially_refunded', 'refunded',
                            'disputed']),
  ('payment_failed', array['paid', 'in_review', 'canceled', 'partially_refunded', 'refunded', 'disputed']),
  ('canceled', array['paid', 'in_review', 'partially_refunded', 'refunded', 'disputed']),
  -- an operator accepts the payment (then its refunds and disputes count) or refuses it
  ('in_review', array['paid', 'canceled', 'partially_refunded', 'refunded', 'disputed']),
  ('paid', array['in_fulfillment', 'partially_refunded', 'refunded', 'disputed']),
  ('in_fulfillment', array['completed', 'partially_refunded', 'refunded', 'disputed']),
  ('completed', array['partially_refunded', 'refunded', 'disputed']),
  -- a refund that fails or is reversed after succeeding takes its amount back
  ('partially_refunded', array['paid', 'refunded', 'disputed']),
  ('refunded', array['paid', 'partially_refunded', 'disputed']),
  -- a dispute that is won returns the order to what its payment and refunds say
  ('disputed', array['paid', 'partially_refunded', 'refunded'])
) as v(f, ts), unnest(ts) as t
on conflict do nothing;

create table if not exists ops.billing_statuses (
  status text primary key,
  access_status text not null check (access_status in ('granted', 'grace', 'blocked')),
  description text not null
);
comment on table ops.billing_statuses is 'Customer billing statuses and the access each one grants.';
insert into ops.billing_statuses (status, access_status, description) values
  ('lead', 'blocked', 'Signed up, never paid'),
  ('trialing', 'granted', 'In a trial'),
  ('active', 'granted', 'Paying'),
  ('past_due', 'grace', 'A renewal failed; Stripe is retrying'),
  ('unpaid', 'blocked', 'Retries exhausted'),
  ('canceled', 'blocked', 'Subscription ended or customer deleted')
on conflict (status) do update set access_status = excluded.access_status, description = excluded.description;

create table if not exists ops.stripe_subscription_statuses (
  stripe_status text primary key,
  billing_status text not null references ops.billing_statuses (status),
  -- when a customer has several subscriptions, the highest precedence decides
  precedence integer not null,
  -- orders events for one subscription that share a created second
  event_rank integer not null
);
comment on table ops.stripe_subscription_statuses is 'Mapping from Stripe subscription statuses to our billing '
  'statuses.';
insert into ops.stripe_subscription_statuses (stripe_status, billing_status, precedence, event_rank) values
  ('incomplete', 'lead', 10, 10),
  ('incomplete_expired', 'lead', 5, 90),
  ('trialing', 'trialing', 50, 20),
  ('active', 'active', 60, 30),
  ('past_due', 'past_due', 40, 40),
  ('unpaid', 'unpaid', 30, 50),
  ('paused', 'past_due', 35, 45),
  ('canceled', 'canceled', 1, 100)
on conflict (stripe_status) do update set billing_status = excluded.billing_status,
  precedence = excluded.precedence, event_rank = excluded.event_rank;

create table if not exists ops.billing_status_transitions (
  from_status text not null references ops.billing_statuses (status),
  to_status text not null references ops.billing_statuses (status),
  primary key (from_status, to_status),
  check (from_status <> to_status)
);
comment on table ops.billing_status_transitions is 'Allowed billing status changes: anything but back to lead.';
insert into ops.billing_status_transitions (from_status, to_status)
select f.status, t.status from ops.billing_statuses f, ops.billing_statuses t
where f.status <> t.status and t.status <> 'lead'
on conflict do nothing;

alter table public.orders drop constraint if exists orders_status_fkey;
alter table public.orders add constraint orders_status_fkey foreign key (status) references ops.order_statuses (status);
alter table public.customers drop constraint if exists customers_billing_status_fkey;
alter table public.customers add constraint customers_billing_status_fkey
  foreign key (billing_status) references ops.billing_statuses (status);

-- security definer: the transition tables live in ops, which the app's roles cannot read.
create or replace function ops.enforce_order_transition() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    -- auth.role() is the API caller's role; current_user is this function's owner
    if coalesce((select auth.role()), '') in ('anon', 'authenticated') and new.status <> 'pending_payment' then
      raise exception 'orders are created as pending_payment' using errcode = 'check_violation';
    end if;
  elsif new.status is distinct from old.status and not exists (
    select 1 from ops.order_status_transitions t where t.from_status = old.status and t.to_status = new.status
  ) then
    raise exception 'order % cannot move from % to %', old.id, old.status, new.status using errcode = 'check_violation';
  end if;
  -- a confirmed payment always follows the status: nobody sets it by hand
  select s.payment_confirmed into new.payment_confirmed from ops.order_statuses s where s.status = new.status;
  -- every change the CRM mirrors gets a new version, and so exactly one sync job
  if tg_op = 'UPDATE' and (new.status is distinct from old.status
                           or new.amount_refunded is distinct from old.amount_refunded
                           or new.needs_review is distinct from old.needs_review
                           or new.amount_charged is distinct from old.amount_charged) then
    new.version := old.version + 1;
  end if;
  if new.payment_confirmed and new.paid_at is null then
    new.paid_at := now();
  end if;
  return new;
end
$$;
drop trigger if exists orders_200_enforce_transition on public.orders;
create trigger orders_200_enforce_transition
  before insert or update of status, amount_refunded, needs_review, amount_charged, payment_confirmed on public.orders
  for each row execute function ops.enforce_order_transition();

-- security definer: reads ops.billing_statuses, which the app's roles cannot read.
create or replace function ops.enforce_billing_transition() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and new.billing_status is distinct from old.billing_status and not exists (
    select 1 from ops.billing_status_transitions t where t.from_status = old.billing_status
      and t.to_status = new.billing_status
  ) then
    raise exception 'customer % cannot move from % to %', old.id, old.billing_status, new.billing_status
      using errcode = 'check_violation';
  end if;
  -- access always follows billing: nobody sets it by hand
  select b.access_status into new.access_status from ops.billing_statuses b where b.status = new.billing_status;
  -- every change the CRM mirrors or holds for (a row in review is no contact) gets a new version
  if tg_op = 'UPDATE' and (new.billing_status is distinct from old.billing_status
                           or new.email is distinct from old.email
                           or new.user_id is distinct from old.user_id
                           or new.needs_review is distinct from old.needs_review) then
    new.version := old.version + 1;
  end if;
  return new;
end
$$;
drop trigger if exists customers_200_enforce_billing_transition on public.customers;
create trigger customers_200_enforce_billing_transition
  before insert or update of billing_status, access_status, email, user_id, needs_review on public.customers
  for each row execute function ops.enforce_billing_transition();
