-- Order facts from Stripe: checkout sessions, payment intents, charges, refunds and disputes grow
-- the ops mirrors; ops.recompute_order derives each order's status, its paying payment, the charged
-- amount, the refunded total and what needs review from all of them. ops.resolve_order_review is
-- the operator's door for orders in review. Replaces functions only; touches no data.

-- Locks are taken in one order: customer, checkout session, payment intent, order.

-- Creates the mirror row if missing and locks it for the rest of the transaction.
create or replace function ops.lock_payment_intent(p_id text) returns void
language sql
set search_path = ''
as $$
  insert into ops.payment_intents as p (stripe_payment_intent_id) values (p_id)
  on conflict (stripe_payment_intent_id) do update set updated_at = now()
$$;

create or replace function ops.lock_checkout_session(p_id text) returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into ops.checkout_sessions as s (stripe_checkout_session_id) values (p_id)
  on conflict (stripe_checkout_session_id) do update set updated_at = now();
end
$$;

-- Locks what an event about payment intent p_pi_id touches, in the lock order: first a Checkout
-- session of it that names no order yet (it waits for this payment to get one), then the payment
-- intent. Returns that session (null when there is none), for ops.claim_orphan_session.
create or replace function ops.lock_payment(p_pi_id text) returns text
language plpgsql
set search_path = ''
as $$
declare
  orphan text := (select s.stripe_checkout_session_id from ops.checkout_sessions s
                   where s.stripe_payment_intent_id = p_pi_id and s.order_id is null order by 1 limit 1);
begin
  if orphan is not null then
    perform ops.lock_checkout_session(orphan);
  end if;
  perform ops.lock_payment_intent(p_pi_id);
  return orphan;
end
$$;

-- Whether a charge named by an event replaces the payment intent's latest_charge: a success's charge
-- beats any failure's, whatever their times; otherwise the newest event's charge wins (ties by id,
-- so any delivery order agrees). A late payment_failed never moves it back.
create or replace function ops.newer_charge(p_succeeded boolean, p_at timestamptz, p_charge text,
                                            p_known_succeeded boolean, p_known_at timestamptz, p_known_charge text)
returns boolean
language plpgsql immutable
set search_path = ''
as $$
begin
  return p_charge is not null
     and (p_succeeded, p_at, p_charge) > (coalesce(p_known_succeeded, false), coalesce(p_known_at, '-infinity'),
                                          coalesce(p_known_charge, ''));
end
$$;

-- The refunded total of a payment intent's charge. Refund objects (by id, newest state each) say
-- which refunds succeeded; the charge's amount_refunded is its total at one moment. The newer of the
-- two wins, so a refund that fails or is reversed after succeeding takes its amount back; at the
-- same second the larger wins (a charge total that already counts a refund whose object is unknown).
create or replace function ops.payment_intent_refunded(p_pi text) returns bigint
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce((
    select case
             when p.amount_refunded_at is null then coalesce(r.total, 0)
             when r.newest is null or p.amount_refunded_at > r.newest then p.amount_refunded
             when p.amount_refunded_at = r.newest then greatest(p.amount_refunded, coalesce(r.total, 0))
             else coalesce(r.total, 0)
           end
      from ops.payment_intents p
     cross join lateral (
       select (sum(x.amount) filter (where x.status = 'succeeded'))::bigint as total,
              max(x.stripe_event_created) as newest
         from ops.refunds x
        where x.stripe_payment_intent_id = p.stripe_payment_intent_id or x.stripe_charge_id = p.latest_charge_id) r
     where p.stripe_payment_intent_id = p_pi), 0);
end
$$;

create or replace function ops.payment_intent_disputed(p_pi text) returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return exists (
    select 1 from ops.disputes d
      left join ops.payment_intents p on p.stripe_payment_intent_id = p_pi
     where (d.stripe_payment_intent_id = p_pi or d.stripe_charge_id = p.latest_charge_id)
       and d.status not in ('won', 'warning_closed'));
end
$$;

-- Why a payment does not pay an order's price: what the buyer was asked before tax and discounts
-- (Checkout's amount_subtotal, a bare payment intent's amount), in the same currency. Null: it matches,
-- or the order has no price of its own (it takes the payment's).
create or replace function ops.payment_mismatch(p_price bigint, p_currency text, p_asked bigint, p_asked_currency text,
                                                p_ref text) returns text
language plpgsql immutable
set search_path = ''
as $$
begin
  return case
    when p_currency is not null and p_asked_currency is distinct from p_currency then
      format('currency mismatch: the order costs %s %s, %s asked %s %s', p_price, p_currency, p_ref, p_asked,
             coalesce(p_asked_currency, '(none)'))
    when p_price is not null and p_asked is distinct from p_price then
      format('amount mismatch: the order costs %s %s, %s asked %s %s', p_price, p_currency, p_ref,
             coalesce(p_asked::text, '(unknown)'), p_asked_currency)
  end;
end
$$;

-- Every payment attempt of an order, judged: each Checkout session (with its payment intent) and
-- each payment intent that carries metadata.order_id without a session. role: 'paying' (the one
-- payment that pays the order: paid, not refused, matching or accepted first, then the earliest),
-- 'extra' (paid too), 'refused' (an operator refused it), 'unpaid'. review: what is open about it.
create or replace function ops.order_payments(p_order_id uuid)
returns table (payment_ref text, stripe_checkout_session_id text, stripe_payment_intent_id text,
               stripe_customer_id text,
               paid boolean, paid_at timestamptz, ended boolean, failed boolean,
               asked_amount bigint, asked_currency text, charged_amount bigint, charged_currency text,
               accepted boolean, refunded bigint, disputed boolean, mismatch text, role text, review text,
               blocking boolean)
language plpgsql stable
set search_path = ''
as $$
begin
  return query
  with o as (
    select amount_total, currency from public.orders where id = p_order_id
  ), attempts as (
    select s.stripe_checkout_session_id as payment_ref, s.stripe_checkout_session_id, s.stripe_payment_intent_id,
           coalesce(s.stripe_customer_id, p.stripe_customer_id) as stripe_customer_id,
           coalesce(s.payment_status in ('paid', 'no_payment_required'), false) or p.succeeded_at is not null as paid,
           least(s.paid_at, p.succeeded_at) as paid_at,
           coalesce(s.status = 'expired', false) or p.canceled_at is not null as ended,
           coalesce(s.payment_status = 'failed', false) or p.last_failed_at is not null as failed,
           coalesce(s.amount_subtotal, s.amount_total) as asked_amount, s.currency as asked_currency,
           coalesce(s.amount_total, nullif(p.amount_received, 0), p.amount) as charged_amount,
           coalesce(s.currency, p.currency) as charged_currency,
           s.claim_review
      from ops.checkout_sessions s
      left join ops.payment_intents p on p.stripe_payment_intent_id = s.stripe_payment_intent_id
     where s.order_id = p_order_id
    union all
    -- the app's own payment intent (no Checkout): it asked for its amount
    select p.stripe_payment_intent_id, null, p.stripe_payment_intent_id, p.stripe_customer_id,
           p.succeeded_at is not null, p.succeeded_at, p.canceled_at is not null, p.last_failed_at is not null,
           p.amount, p.currency, coalesce(nullif(p.amount_received, 0), p.amount), p.currency, null
      from ops.payment_intents p
     where p.order_id = p_order_id
       -- a scalar subquery (not an anti join): one index probe, whatever the planner's statistics
       and (select true from ops.checkout_sessions s where s.stripe_payment_intent_id = p.stripe_payment_intent_id
            limit 1) is null
  ), judged as (
    select a.*, r.accepted,
           ops.payment_intent_refunded(a.stripe_payment_intent_id) as refunded,
           ops.payment_intent_disputed(a.stripe_payment_intent_id) as disputed,
           ops.payment_mismatch(o.amount_total, o.currency, a.asked_amount, a.asked_currency, a.payment_ref) as mismatch
      from attempts a
     cross join o
      left join ops.order_reviews r on r.order_id = p_order_id and r.payment_ref = a.payment_ref
  ), ranked as (
    select j.*,
           case when j.paid and j.accepted is distinct from false then
             row_number() over (partition by j.paid and j.accepted is distinct from false
                                order by (j.mismatch is null or coalesce(j.accepted, false)) desc,
                                         j.paid_at nulls last, j.payment_ref)
           end as rank
      from judged j
  )
  select x.payment_ref, x.stripe_checkout_session_id, x.stripe_payment_intent_id, x.stripe_customer_id,
         x.paid, x.paid_at, x.ended, x.failed, x.asked_amount, x.asked_currency, x.charged_amount, x.charged_currency,
         x.accepted, x.refunded, x.disputed, x.mismatch,
         case when not x.paid then 'unpaid' when x.accepted = false then 'refused' when x.rank = 1 then 'paying'
           else 'extra' end,
         case
           when not x.paid or x.accepted is not null then null
           when x.rank = 1 then coalesce(x.mismatch, x.claim_review)
           -- a second payment for one order: until it is refunded or resolved, someone holds two payments
           when x.refunded < coalesce(x.charged_amount, 1) then
             format('%s also paid this order (%s %s): refund the double payment in Stripe, or resolve', x.payment_ref,
                    x.charged_amount, x.charged_currency)
         end,
         x.rank = 1 and x.mismatch is not null and x.accepted is null
    from ranked x;
end
$$;

-- Derives an order from every fact we hold and moves its status if the state machine allows:
-- the paying payment decides paid / in review / refunded / disputed; without one, an expired or
-- canceled attempt (or a refused payment) cancels it and a failed one makes it payment_failed.
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
    stripe_checkout_session_id = pay.stripe_checkout_session_id,
    stripe_payment_intent_id = pay.stripe_payment_intent_id,
    stripe_customer_id = coalesce(pay.stripe_customer_id, x.stripe_customer_id),
    needs_review = reasons is not null,
    review_reason = array_to_string(reasons, '; '),
    paid_at = coalesce(x.paid_at, case when confirmed then coalesce(pay.paid_at, now()) end)
  where x.id = o.id
    -- an update that changes nothing is skipped: no row version, no trigger
    and (x.status, x.amount_total, x.currency, x.amount_charged, x.currency_charged, x.amount_refunded,
         x.stripe_checkout_session_id, x.stripe_payment_intent_id, x.stripe_customer_id,
         x.needs_review, x.review_reason, x.paid_at is null)
        is distinct from
        (next_status, coalesce(x.amount_total, pay.asked_amount), coalesce(x.currency, pay.asked_currency),
         pay.charged_amount, pay.charged_currency, refunded,
         pay.stripe_checkout_session_id, pay.stripe_payment_intent_id,
         coalesce(pay.stripe_customer_id, x.stripe_customer_id), reasons is not null, array_to_string(reasons, '; '),
         x.paid_at is null and not confirmed);
  return next_status;
end
$$;

-- Every order a payment intent belongs to: through its Checkout session, its metadata.order_id,
-- or as an order's paying payment.
create or replace function ops.recompute_orders_for_payment_intent(p_payment_intent_id text) returns void
language plpgsql
set search_path = ''
as $$
declare
  oid uuid;
begin
  for oid in
    select x.order_id from (
      select p.order_id from ops.payment_intents p where p.stripe_payment_intent_id = p_payment_intent_id
      union select s.order_id from ops.checkout_sessions s where s.stripe_payment_intent_id = p_payment_intent_id
      union select o.id from public.orders o where o.stripe_payment_intent_id = p_payment_intent_id
    ) x where x.order_id is not null order by 1
  loop
    perform ops.recompute_order(oid);
  end loop;
end
$$;

-- A paid session that names no order of ours gets an order of its own, flagged for review (money
-- came in for something); an unpaid or expired one gets none. The caller holds the session's lock.
create or replace function ops.claim_orphan_session(p_session_id text) returns void
language plpgsql
set search_path = ''
as $$
declare
  s ops.checkout_sessions;
  oid uuid;
begin
  select * into s from ops.checkout_sessions where stripe_checkout_session_id = p_session_id;
  if s.order_id is not null or s.claim_review is null
     or not (coalesce(s.payment_status in ('paid', 'no_payment_required'), false)
             or exists (select 1 from ops.payment_intents p
                         where p.stripe_payment_intent_id = s.stripe_payment_intent_id
                           and p.succeeded_at is not null)) then
    return;
  end if;
  insert into public.orders (status, buyer_id, listing_id, amount_total, currency)
  values ('pending_payment', s.review_buyer_id, s.review_listing_id, coalesce(s.amount_subtotal, s.amount_total),
          s.currency)
  returning id into oid;
  update ops.checkout_sessions set order_id = oid where stripe_checkout_session_id = p_session_id;
  update ops.payment_intents set order_id = coalesce(order_id, oid)
    where stripe_payment_intent_id = s.stripe_payment_intent_id;
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
  at timestamptz := ops.ts(evt ->> 'created');
  ref_text text := coalesce(s -> 'metadata' ->> 'order_id', s ->> 'client_reference_id');
  named uuid;
  pay_status text;
  status_rank text[] := array['open', 'complete', 'expired'];
  pay_rank text[] := array['unpaid', 'failed', 'paid'];
begin
  if session_id is null then
    raise exception 'checkout session without an id';
  end if;
  if coalesce(s ->> 'mode', 'payment') <> 'payment' then
    -- subscription and setup sessions: the subscription and customer events carry the state
    perform ops.link_checkout_customer(s);
    return 'processed';
  end if;

  select o.id into named from public.orders o where o.id = ops.as_uuid(ref_text);
  pay_status := case evt ->> 'type'
    when 'checkout.session.async_payment_succeeded' then 'paid'
    when 'checkout.session.async_payment_failed' then 'failed'
    when 'checkout.session.expired' then null
    else s ->> 'payment_status'
  end;

  -- one upsert, which also takes the session's lock (before the payment intent's). Facts only move
  -- forward (open < complete < expired; unpaid < failed < paid); a session names its order once,
  -- when it is created, so the first answer stands.
  insert into ops.checkout_sessions as x (
    stripe_checkout_session_id, order_id, claim_review, review_buyer_id, review_listing_id, stripe_payment_intent_id,
    stripe_customer_id, status, payment_status, amount_subtotal, amount_total, currency, paid_at, stripe_event_created)
  values (
    session_id, named,
    case when named is null then case
      when ref_text is null then 'checkout session completed without client_reference_id or metadata.order_id'
      else format('checkout session names order %s, which does not exist', left(ref_text, 64))
    end end,
    -- only a confirmed email names a buyer: anyone can sign up with someone else's address
    case when named is null then (select p.id from public.profiles p
       join auth.users u on u.id = p.id
      where lower(u.email) = lower(coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email'))
        and u.email_confirmed_at is not null and not u.is_anonymous
      limit 1) end,
    case when named is null then (select l.id from public.listings l
                                  where l.id = ops.as_uuid(s -> 'metadata' ->> 'listing_id')) end,
    pi_id, s ->> 'customer',
    case when evt ->> 'type' = 'checkout.session.expired' then 'expired' else coalesce(s ->> 'status', 'complete') end,
    pay_status, (s ->> 'amount_subtotal')::bigint, (s ->> 'amount_total')::bigint, lower(s ->> 'currency'),
    case when pay_status in ('paid', 'no_payment_required') then at end, at)
  on conflict (stripe_checkout_session_id) do update set
    order_id = coalesce(x.order_id, excluded.order_id),
    claim_review = case when excluded.order_id is null then coalesce(x.claim_review, excluded.claim_review) end,
    review_buyer_id = coalesce(x.review_buyer_id, excluded.review_buyer_id),
    review_listing_id = coalesce(x.review_listing_id, excluded.review_listing_id),
    stripe_payment_intent_id = coalesce(excluded.stripe_payment_intent_id, x.stripe_payment_intent_id),
    stripe_customer_id = coalesce(excluded.stripe_customer_id, x.stripe_customer_id),
    status = case when array_position(status_rank, excluded.status) > coalesce(array_position(status_rank, x.status), 0)
                  then excluded.status else x.status end,
    payment_status = case
      when coalesce(array_position(pay_rank, replace(excluded.payment_status, 'no_payment_required', 'paid')), 0)
           > coalesce(array_position(pay_rank, replace(x.payment_status, 'no_payment_required', 'paid')), 0)
        then excluded.payment_status
      else x.payment_status end,
    amount_subtotal = coalesce(excluded.amount_subtotal, x.amount_subtotal),
    amount_total = coalesce(excluded.amount_total, x.amount_total),
    currency = coalesce(excluded.currency, x.currency),
    paid_at = least(x.paid_at, excluded.paid_at),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now();
  -- the payment intent's lock, and its order (the session's, unless it named one first)
  if pi_id is not null then
    insert into ops.payment_intents as p (stripe_payment_intent_id, order_id)
    values (pi_id, (select c.order_id from ops.checkout_sessions c where c.stripe_checkout_session_id = session_id))
    on conflict (stripe_payment_intent_id) do update set order_id = coalesce(p.order_id, excluded.order_id),
      updated_at = now();
  end if;
  perform ops.claim_orphan_session(session_id);
  perform ops.recompute_order(c.order_id) from ops.checkout_sessions c where c.stripe_checkout_session_id = session_id;
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
  succeeded boolean := evt ->> 'type' = 'payment_intent.succeeded';
  order_ref uuid := ops.as_uuid(p -> 'metadata' ->> 'order_id');
  charge text := coalesce(p ->> 'latest_charge', p -> 'charges' -> 'data' -> 0 ->> 'id');
  orphan text;
  known ops.payment_intents;
  newer boolean;
begin
  orphan := ops.lock_payment(pi_id);
  select * into known from ops.payment_intents where stripe_payment_intent_id = pi_id;
  newer := ops.newer_charge(succeeded, at, charge, known.latest_charge_succeeded, known.latest_charge_at,
                            known.latest_charge_id);
  -- the event type is the fact; snapshot objects can carry a stale status. A success's amounts are
  -- final; before one, the first known stand.
  update ops.payment_intents set
    stripe_customer_id = coalesce(p ->> 'customer', stripe_customer_id),
    latest_charge_id = case when newer then charge else latest_charge_id end,
    latest_charge_succeeded = case when newer then succeeded else latest_charge_succeeded end,
    latest_charge_at = case when newer then at else latest_charge_at end,
    amount = case when succeeded then coalesce((p ->> 'amount')::bigint, amount)
      else coalesce(amount, (p ->> 'amount')::bigint) end,
    currency = case when succeeded then coalesce(lower(p ->> 'currency'), currency)
      else coalesce(currency, lower(p ->> 'currency')) end,
    amount_received = case when succeeded then coalesce((p ->> 'amount_received')::bigint, amount_received)
      else amount_received end,
    succeeded_at = case when succeeded then least(coalesce(succeeded_at, at), at) else succeeded_at end,
    last_failed_at = case when evt ->> 'type' = 'payment_intent.payment_failed'
      then greatest(coalesce(last_failed_at, at), at) else last_failed_at end,
    last_error = case when evt ->> 'type' = 'payment_intent.payment_failed'
                       and at >= coalesce(last_failed_at, at)
                      then left(coalesce(p -> 'last_payment_error' ->> 'code', p -> 'last_payment_error' ->> 'message',
                                         'payment failed'), 200)
                      else last_error end,
    canceled_at = case when evt ->> 'type' = 'payment_intent.canceled' then coalesce(canceled_at, at)
      else canceled_at end,
    -- a payment intent created with metadata.order_id belongs to that order (when it is one of ours)
    order_id = coalesce(order_id, (select o.id from public.orders o where o.id = order_ref))
  where stripe_payment_intent_id = pi_id;
  if orphan is not null then
    perform ops.claim_orphan_session(orphan);
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
  captured boolean := c ->> 'status' = 'succeeded' or coalesce((c ->> 'captured')::boolean, false);
  orphan text;
  known ops.payment_intents;
  newer boolean;
  r jsonb;
begin
  if pi_id is null then
    return 'ignored'; -- a charge outside a payment intent is not one of our orders
  end if;
  orphan := ops.lock_payment(pi_id);
  select * into known from ops.payment_intents where stripe_payment_intent_id = pi_id;
  newer := ops.newer_charge(captured, at, c ->> 'id', known.latest_charge_succeeded, known.latest_charge_at,
                            known.latest_charge_id);
  update ops.payment_intents set
    latest_charge_id = case when newer then c ->> 'id' else latest_charge_id end,
    latest_charge_succeeded = case when newer then captured else latest_charge_succeeded end,
    latest_charge_at = case when newer then at else latest_charge_at end,
    amount = coalesce(amount, (c ->> 'amount')::bigint),
    currency = coalesce(currency, lower(c ->> 'currency')),
    -- the charge's refunded total at this event's time: the newest wins (the larger within a second)
    amount_refunded = case when (at, coalesce((c ->> 'amount_refunded')::bigint, 0))
                                > (coalesce(amount_refunded_at, '-infinity'), amount_refunded)
                           then coalesce((c ->> 'amount_refunded')::bigint, 0) else amount_refunded end,
    amount_refunded_at = greatest(amount_refunded_at, at),
    succeeded_at = case when captured then least(coalesce(succeeded_at, at), at) else succeeded_at end
  where stripe_payment_intent_id = pi_id;
  -- older API versions embed the refunds list in the charge
  for r in select * from jsonb_array_elements(coalesce(c -> 'refunds' -> 'data', '[]'::jsonb)) loop
    perform ops.upsert_refund(r, pi_id, at);
  end loop;
  if orphan is not null then
    perform ops.claim_orphan_session(orphan);
  end if;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;

-- The operator's door for an order in review (run from Studio; see ops.pipeline_exceptions). Resolves
-- the order's first open review, a decision on one payment: accept it (a mismatch then pays the order,
-- a double payment or an order-less session is acknowledged) or refuse it (it does not pay the order:
-- refund it in Stripe). A flag set by hand is cleared. Returns the order's status after. p_decided_by
-- names who decided when it is not the database user (the dashboard passes the signed-in admin).
drop function if exists ops.resolve_order_review(uuid, boolean, text);
create or replace function ops.resolve_order_review(p_order_id uuid, p_accept boolean, p_note text,
  p_decided_by text default null) returns text
language plpgsql
set search_path = ''
as $$
declare
  o public.orders;
  subject record;
begin
  if p_order_id is null or p_accept is null or nullif(trim(p_note), '') is null then
    raise exception 'resolve_order_review(order_id, accept, note): the order, accept (true or false) and a note saying '
                    'why are required'
      using errcode = 'invalid_parameter_value';
  end if;
  select * into o from public.orders where id = p_order_id for update;
  if not found then
    raise exception 'no order %', p_order_id using errcode = 'no_data_found';
  end if;
  select * into subject from ops.order_payments(o.id) x where x.review is not null
   order by x.blocking desc, x.role = 'paying' desc, x.payment_ref limit 1;
  if not found then
    if not o.needs_review then
      raise exception 'order % has nothing to review', p_order_id using errcode = 'no_data_found';
    end if;
    insert into ops.order_reviews (order_id, payment_ref, accepted, reason, note, decided_by)
    values (o.id, null, p_accept, o.review_reason, trim(p_note), coalesce(p_decided_by, current_user));
    update public.orders set needs_review = false, review_reason = null where id = o.id;
    return o.status;
  end if;
  if not p_accept and subject.role = 'paying' and not subject.blocking then
    raise exception 'order %: its payment % is confirmed and cannot be refused; refund it in Stripe (the order follows '
                    'the refund), or accept to clear the review',
      p_order_id, subject.payment_ref using errcode = 'check_violation';
  end if;
  insert into ops.order_reviews (order_id, payment_ref, accepted, reason, note, decided_by)
  values (o.id, subject.payment_ref, p_accept, subject.review, trim(p_note), coalesce(p_decided_by, current_user));
  return ops.recompute_order(o.id);
end
$$;

create or replace function ops.upsert_refund(r jsonb, pi_id text, at timestamptz) returns void
language sql
set search_path = ''
as $$
  insert into ops.refunds as x (stripe_refund_id, stripe_payment_intent_id, stripe_charge_id, amount, currency, status,
                                stripe_event_created)
  values (r ->> 'id', coalesce(r ->> 'payment_intent', pi_id), r ->> 'charge', (r ->> 'amount')::bigint,
          lower(r ->> 'currency'), r ->> 'status', at)
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
    update ops.payment_intents x set
      succeeded_at = coalesce(succeeded_at, at),
      latest_charge_id = case when n.newer then d ->> 'charge' else latest_charge_id end,
      latest_charge_succeeded = case when n.newer then true else latest_charge_succeeded end,
      latest_charge_at = case when n.newer then at else latest_charge_at end
    from (select ops.newer_charge(true, at, d ->> 'charge', k.latest_charge_succeeded, k.latest_charge_at,
                                  k.latest_charge_id) as newer
            from ops.payment_intents k where k.stripe_payment_intent_id = pi_id) n
    where x.stripe_payment_intent_id = pi_id;
  end if;
  insert into ops.disputes as x (stripe_dispute_id, stripe_payment_intent_id, stripe_charge_id, amount, currency,
    reason, status, evidence_due_by, stripe_event_created)
  values (d ->> 'id', pi_id, d ->> 'charge', (d ->> 'amount')::bigint, lower(d ->> 'currency'), d ->> 'reason',
    d ->> 'status', ops.ts(d -> 'evidence_details' ->> 'due_by'), at)
  on conflict (stripe_dispute_id) do update set
    stripe_payment_intent_id = coalesce(x.stripe_payment_intent_id, excluded.stripe_payment_intent_id),
    status = excluded.status, reason = excluded.reason, amount = excluded.amount,
    evidence_due_by = coalesce(excluded.evidence_due_by, x.evidence_due_by),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  -- a closed dispute never reopens; otherwise newer wins, ties broken by how far along it is
  where x.status not in ('won', 'lost', 'warning_closed')
    and (excluded.stripe_event_created, excluded.status in ('won', 'lost', 'warning_closed'),
         excluded.status like '%under_review')
      >= (x.stripe_event_created, false, x.status like '%under_review');
  if pi_id is not null then
    perform ops.recompute_orders_for_payment_intent(pi_id);
  end if;
  return 'processed';
end
$$;
