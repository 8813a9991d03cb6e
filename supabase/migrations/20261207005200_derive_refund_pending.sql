-- A refund Stripe has accepted but not finished (refund.created with status pending or requires_action),
-- and a Checkout finished whose payment is still being confirmed (async methods), become columns of the
-- order, derived by ops.recompute_order like its status (#20), so the app's status views can say "refund
-- pending" and "processing" under RLS. Adds two columns and replaces ops.recompute_order; touches no data
-- until an order's next recompute.

alter table public.orders add column if not exists amount_refund_pending bigint not null default 0
  check (amount_refund_pending >= 0);
alter table public.orders add column if not exists payment_processing boolean not null default false;
comment on column public.orders.amount_refund_pending is 'What refunds of the paying payment that Stripe has not '
  'finished (status pending or requires_action) will return; 0 when none. Derived by ops.recompute_order.';
comment on column public.orders.payment_processing is 'A Checkout session of the order is complete and its payment '
  'is still being confirmed (an async method), nothing paid or failed yet. Derived by ops.recompute_order.';
-- what the buyer reads through public.my_orders (security invoker)
grant select (amount_refund_pending, payment_processing) on public.orders to authenticated;

-- The refunds of a payment intent (or its charge) that Stripe has not finished: pending or requires_action
-- in their newest known state. A refund that later fails or is canceled drops out; one that succeeds
-- counts in ops.payment_intent_refunded instead.
create or replace function ops.payment_intent_refund_pending(p_pi text) returns bigint
language sql stable
set search_path = ''
as $$
  select coalesce(sum(x.amount), 0)::bigint
    from ops.refunds x
    left join ops.payment_intents p on p.stripe_payment_intent_id = p_pi
   where (x.stripe_payment_intent_id = p_pi or x.stripe_charge_id = p.latest_charge_id)
     and x.status in ('pending', 'requires_action')
$$;

-- Derives an order from every fact we hold and moves its status if the state machine allows:
-- the paying payment decides paid / in review / refunded / disputed; without one, an expired or
-- canceled attempt (or a refused payment) cancels it and a failed one makes it payment_failed.
-- #20: also the paying payment's unfinished refunds and whether a finished Checkout still waits for its
-- payment (the rest is 0810's, unchanged).
create or replace function ops.recompute_order(p_order_id uuid) returns text
language plpgsql
set search_path = ''
as $$
declare
  o public.orders;
  pay record;
  have_pay boolean := false;
  reasons text[];
  refunded bigint := 0;
  refund_pending bigint := 0;
  processing boolean := false;
  target text;
  next_status text;
  confirmed boolean;
begin
  select * into o from public.orders where id = p_order_id for update;
  if not found then
    return null;
  end if;

  -- one pass: the paying payment (all nulls when none pays), with what all payments add up to
  select x.role = 'paying' as paying,
         case when x.role = 'paying' then x.stripe_checkout_session_id end as stripe_checkout_session_id,
         case when x.role = 'paying' then x.stripe_payment_intent_id end as stripe_payment_intent_id,
         case when x.role = 'paying' then x.stripe_customer_id end as stripe_customer_id,
         case when x.role = 'paying' then x.paid_at end as paid_at,
         case when x.role = 'paying' then x.asked_amount end as asked_amount,
         case when x.role = 'paying' then x.asked_currency end as asked_currency,
         case when x.role = 'paying' then x.charged_amount end as charged_amount,
         case when x.role = 'paying' then x.charged_currency end as charged_currency,
         case when x.role = 'paying' then x.refunded end as refunded,
         x.role = 'paying' and x.disputed as disputed,
         x.role = 'paying' and x.blocking as blocking,
         array_agg(x.review) filter (where x.review is not null) over w as reasons,
         bool_or(x.role = 'refused') over w as any_refused, bool_or(x.ended) over w as any_ended,
         bool_or(x.failed) over w as any_failed
    into pay
    from ops.order_payments(o.id) x
  window w as (order by x.blocking desc, x.role = 'paying' desc, x.payment_ref
               rows between unbounded preceding and unbounded following)
   order by x.role = 'paying' desc
   limit 1;
  have_pay := coalesce(pay.paying, false);
  reasons := pay.reasons;

  if have_pay then
    refunded := pay.refunded;
    refund_pending := ops.payment_intent_refund_pending(pay.stripe_payment_intent_id);
    target := case
      when pay.blocking then 'in_review'
      when pay.disputed then 'disputed'
      -- with the charged amount unknown yet, a refund counts as partial until it is known
      when refunded > 0 and refunded >= pay.charged_amount then 'refunded'
      when refunded > 0 then 'partially_refunded'
      when o.status in ('in_fulfillment', 'completed') then o.status
      else 'paid'
    end;
  else
    target := case
      when pay.any_refused or pay.any_ended then 'canceled'
      when pay.any_failed then 'payment_failed'
      else o.status
    end;
    -- Checkout finished with an async method: Stripe confirms (or fails) the payment later
    processing := not coalesce(pay.any_failed, false) and exists (
      select 1 from ops.checkout_sessions s
       where s.order_id = o.id and s.status = 'complete' and s.payment_status = 'unpaid');
  end if;

  next_status := case when target is distinct from o.status and exists (
    select 1 from ops.order_status_transitions t where t.from_status = o.status and t.to_status = target
  ) then target else o.status end;
  select s.payment_confirmed into confirmed from ops.order_statuses s where s.status = next_status;

  -- pay's payment columns are null when nothing pays the order
  update public.orders x set
    status = next_status,
    -- an order without a price of its own (made by the pipeline or by hand) takes its payment's
    amount_total = coalesce(x.amount_total, pay.asked_amount),
    currency = coalesce(x.currency, pay.asked_currency),
    amount_charged = pay.charged_amount,
    currency_charged = pay.charged_currency,
    amount_refunded = refunded,
    amount_refund_pending = refund_pending,
    payment_processing = processing,
    stripe_checkout_session_id = pay.stripe_checkout_session_id,
    stripe_payment_intent_id = pay.stripe_payment_intent_id,
    stripe_customer_id = coalesce(pay.stripe_customer_id, x.stripe_customer_id),
    needs_review = reasons is not null,
    review_reason = array_to_string(reasons, '; '),
    paid_at = coalesce(x.paid_at, case when confirmed then coalesce(pay.paid_at, now()) end)
  where x.id = o.id
    -- an update that changes nothing is skipped: no row version, no trigger
    and (x.status, x.amount_total, x.currency, x.amount_charged, x.currency_charged, x.amount_refunded,
         x.amount_refund_pending, x.payment_processing,
         x.stripe_checkout_session_id, x.stripe_payment_intent_id, x.stripe_customer_id,
         x.needs_review, x.review_reason, x.paid_at is null)
        is distinct from
        (next_status, coalesce(x.amount_total, pay.asked_amount), coalesce(x.currency, pay.asked_currency),
         pay.charged_amount, pay.charged_currency, refunded, refund_pending, processing,
         pay.stripe_checkout_session_id, pay.stripe_payment_intent_id,
         coalesce(pay.stripe_customer_id, x.stripe_customer_id), reasons is not null, array_to_string(reasons, '; '),
         x.paid_at is null and not confirmed);
  return next_status;
end
$$;

-- the orders that hold an unfinished refund or a payment in flight now (every other order derives 0 / false)
select ops.recompute_order(o.id)
  from public.orders o
 where exists (select 1 from ops.refunds x
                 left join ops.payment_intents p on p.stripe_payment_intent_id = o.stripe_payment_intent_id
                where (x.stripe_payment_intent_id = o.stripe_payment_intent_id
                       or x.stripe_charge_id = p.latest_charge_id)
                  and x.status in ('pending', 'requires_action'))
    or exists (select 1 from ops.checkout_sessions s
                where s.order_id = o.id and s.status = 'complete' and s.payment_status = 'unpaid');
