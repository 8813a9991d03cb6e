-- Applying Stripe events to product state, part 1: the one switch over event types and the
-- helpers every apply function shares. Events only add facts to ops mirrors; statuses are derived
-- from all facts (orders in 0810, billing in 0820), so any delivery order converges.
-- Replaces functions only; touches no data.

-- Locks are always taken in one order (customer, then payment intent, then order) so that
-- concurrent events about one object queue behind each other instead of deadlocking.

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

-- Stripe's timestamps are epoch seconds.
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
