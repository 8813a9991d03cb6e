-- The money of each Connect order (#18), from Stripe's objects: checkout makes destination charges with the
-- platform fee (ops.checkout_begin answers the destination and the fee); the charge, transfer and application
-- fee events are kept as facts (ops.connect_*) in any order and public.order_shares is derived from them per
-- order, with the transfer reversals of refunds. Replaces 3100's placeholders apply_transfer and
-- apply_application_fee, and ops.apply_charge / ops.checkout_begin (same behaviour, plus the above).

-- ---------------------------------------------------------------- facts: Stripe's objects as last reported
-- Events arrive in any order and an order may not be known yet when they do (a transfer.created before the
-- payment's own events): the facts wait here, and each order's share is derived from them whenever a fact
-- or the order's paying payment changes (ops.refresh_order_share).
create table if not exists ops.connect_charges (
  charge_id text primary key,
  payment_intent_id text,
  destination_account_id text,
  transfer_id text,
  application_fee_id text,
  application_fee_amount bigint,
  amount bigint,
  currency text,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.connect_charges is 'Destination charges as their charge.* events say (the seller''s account, '
  'the transfer and application fee ids); ids are set once, never cleared by an older event.';
create index if not exists connect_charges_payment_intent_idx on ops.connect_charges (payment_intent_id);
alter table ops.connect_charges enable row level security;

create table if not exists ops.connect_transfers (
  transfer_id text primary key,
  -- the charge it was made from (source_transaction): how it finds its order
  charge_id text,
  destination_account_id text,
  amount bigint not null,
  amount_reversed bigint not null default 0,
  currency text,
  transfer_group text,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.connect_transfers is 'Transfers to sellers'' connected accounts as their transfer.* events say; '
  'amount_reversed is the newest event''s (the larger within a second).';
create index if not exists connect_transfers_charge_idx on ops.connect_transfers (charge_id);
alter table ops.connect_transfers enable row level security;

create table if not exists ops.connect_application_fees (
  fee_id text primary key,
  -- the platform's charge (originating_transaction of a destination charge's fee, else charge)
  charge_id text,
  account_id text,
  amount bigint not null,
  amount_refunded bigint not null default 0,
  currency text,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.connect_application_fees is 'The platform''s application fees as their application_fee.* '
  'events say; amount_refunded is the newest event''s (the larger within a second).';
create index if not exists connect_application_fees_charge_idx on ops.connect_application_fees (charge_id);
alter table ops.connect_application_fees enable row level security;

-- An expandable Stripe field's id: a string, or an expanded object's id.
create or replace function ops.stripe_ref(v jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select case jsonb_typeof(v) when 'string' then v #>> '{}' when 'object' then v ->> 'id' end
$$;

-- The order a charge paid: the order whose paying payment intent is the charge's, else the one its payment
-- intent or Checkout session names; null while none is known.
create or replace function ops.connect_charge_order(p_charge_id text) returns uuid
language sql stable
set search_path = ''
as $$
  with pi as (
    select coalesce((select c.payment_intent_id from ops.connect_charges c where c.charge_id = p_charge_id),
                    (select p.stripe_payment_intent_id from ops.payment_intents p
                      where p.latest_charge_id = p_charge_id order by 1 limit 1)) as id
  )
  select coalesce(
    (select y.id from public.orders y, pi where y.stripe_payment_intent_id = pi.id order by y.id limit 1),
    (select p.order_id from ops.payment_intents p, pi where p.stripe_payment_intent_id = pi.id),
    (select s.order_id from ops.checkout_sessions s, pi where s.stripe_payment_intent_id = pi.id
        and s.order_id is not null order by s.stripe_checkout_session_id limit 1))
$$;

-- Events about one charge's money queue behind each other: a transfer's event and its charge's event applied
-- at once would each miss the other's fact, and the share would lack one until the next event. The charge's
-- order is locked first, then the charge: the order of locks everywhere (payment intent, order, charge), so
-- a payment event recomputing the order (orders_520 refreshes the share under the order's lock) and a
-- transfer's event writing the share (its foreign key waits for the order) never wait for each other in turn.
create or replace function ops.lock_connect_charge(p_charge_id text) returns void
language plpgsql
set search_path = ''
as $$
begin
  if p_charge_id is null then
    return;
  end if;
  perform 1 from public.orders o where o.id = ops.connect_charge_order(p_charge_id) for update;
  perform pg_advisory_xact_lock(hashtextextended('connect-charge:' || p_charge_id, 0));
end
$$;

-- A transfer reversal (trr_...): from a transfer's reversals list, or an expanded refund.transfer_reversal.
create or replace function ops.upsert_transfer_reversal(r jsonb, p_transfer_id text) returns void
language sql
set search_path = ''
as $$
  insert into public.seller_transfer_reversals as x (id, transfer_id, amount, currency, refund_id, stripe_created)
  values (r ->> 'id', coalesce(ops.stripe_ref(r -> 'transfer'), p_transfer_id), (r ->> 'amount')::bigint,
          lower(r ->> 'currency'), ops.stripe_ref(r -> 'source_refund'), ops.ts(r ->> 'created'))
  on conflict (id) do update set
    refund_id = coalesce(x.refund_id, excluded.refund_id),
    stripe_created = coalesce(x.stripe_created, excluded.stripe_created)
  where x.refund_id is null and excluded.refund_id is not null
$$;

-- ---------------------------------------------------------------- the share of each order, derived
-- The order a charge paid: the order whose paying payment intent it is, else the one its payment intent or
-- Checkout session names. Then the share from the facts of the charge, its transfer and its fee; the
-- amounts are Stripe's (never computed here). An order paid by another payment (a double payment) keeps the
-- share of its paying one.
create or replace function ops.refresh_order_share(p_charge_id text) returns void
language plpgsql
set search_path = ''
as $$
declare
  c ops.connect_charges;
  t ops.connect_transfers;
  f ops.connect_application_fees;
  v_pi text;
  o record;
begin
  if p_charge_id is null then
    return;
  end if;
  select * into c from ops.connect_charges x where x.charge_id = p_charge_id;
  select * into t from ops.connect_transfers x where x.charge_id = p_charge_id or x.transfer_id = c.transfer_id
   order by (x.transfer_id = c.transfer_id) desc nulls last, x.transfer_id limit 1;
  select * into f from ops.connect_application_fees x
   where x.charge_id = p_charge_id or x.fee_id = c.application_fee_id
   order by (x.fee_id = c.application_fee_id) desc nulls last, x.fee_id limit 1;
  if c.charge_id is null and t.transfer_id is null and f.fee_id is null then
    return; -- not a destination charge, or nothing of it known yet
  end if;
  v_pi := coalesce(c.payment_intent_id, (select p.stripe_payment_intent_id from ops.payment_intents p
                                          where p.latest_charge_id = p_charge_id order by 1 limit 1));
  if v_pi is null then
    return; -- its payment arrives later, and refreshes then
  end if;
  select x.id, x.seller_id, x.currency, x.stripe_payment_intent_id into o from public.orders x
   where x.id = ops.connect_charge_order(p_charge_id);
  if o.id is null or (o.stripe_payment_intent_id is not null and o.stripe_payment_intent_id <> v_pi) then
    return;
  end if;
  insert into public.order_shares as s (order_id, seller_id, destination_account_id, currency, charge_id,
                                        charge_amount, application_fee_id, application_fee_amount,
                                        application_fee_refunded, transfer_id, transfer_amount, transfer_reversed)
  values (o.id, o.seller_id, coalesce(c.destination_account_id, t.destination_account_id),
          coalesce(c.currency, t.currency, f.currency, o.currency), p_charge_id, c.amount,
          coalesce(f.fee_id, c.application_fee_id), coalesce(f.amount, c.application_fee_amount),
          coalesce(f.amount_refunded, 0), coalesce(t.transfer_id, c.transfer_id), t.amount,
          coalesce(t.amount_reversed, 0))
  on conflict (order_id) do update set
    seller_id = excluded.seller_id, destination_account_id = excluded.destination_account_id,
    currency = excluded.currency, charge_id = excluded.charge_id, charge_amount = excluded.charge_amount,
    application_fee_id = excluded.application_fee_id, application_fee_amount = excluded.application_fee_amount,
    application_fee_refunded = excluded.application_fee_refunded, transfer_id = excluded.transfer_id,
    transfer_amount = excluded.transfer_amount, transfer_reversed = excluded.transfer_reversed
  -- a replay changes nothing, not even updated_at
  where (s.seller_id, s.destination_account_id, s.currency, s.charge_id, s.charge_amount, s.application_fee_id,
         s.application_fee_amount, s.application_fee_refunded, s.transfer_id, s.transfer_amount, s.transfer_reversed)
        is distinct from
        (excluded.seller_id, excluded.destination_account_id, excluded.currency, excluded.charge_id,
         excluded.charge_amount, excluded.application_fee_id, excluded.application_fee_amount,
         excluded.application_fee_refunded, excluded.transfer_id, excluded.transfer_amount, excluded.transfer_reversed);
  update public.seller_transfer_reversals r set order_id = o.id, seller_id = o.seller_id
   where r.transfer_id = coalesce(t.transfer_id, c.transfer_id)
     and (r.order_id, r.seller_id) is distinct from (o.id, o.seller_id);
end
$$;

-- The facts of a destination charge (charge.succeeded | captured | refunded): its seller's account, transfer
-- and application fee, and the transfer reversals its refunds name. A charge without any is the platform's own.
create or replace function ops.record_connect_charge(evt jsonb) returns void
language plpgsql
set search_path = ''
as $$
declare
  c jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  v_dest text := coalesce(ops.stripe_ref(c #> '{transfer_data,destination}'), ops.stripe_ref(c -> 'destination'));
  r jsonb;
begin
  if v_dest is null and ops.stripe_ref(c -> 'transfer') is null and ops.stripe_ref(c -> 'application_fee') is null then
    return;
  end if;
  perform ops.lock_connect_charge(c ->> 'id');
  insert into ops.connect_charges as x (charge_id, payment_intent_id, destination_account_id, transfer_id,
                                        application_fee_id, application_fee_amount, amount, currency,
                                        stripe_event_created)
  values (c ->> 'id', ops.stripe_ref(c -> 'payment_intent'), v_dest, ops.stripe_ref(c -> 'transfer'),
          ops.stripe_ref(c -> 'application_fee'), (c ->> 'application_fee_amount')::bigint, (c ->> 'amount')::bigint,
          lower(c ->> 'currency'), at)
  on conflict (charge_id) do update set
    payment_intent_id = coalesce(x.payment_intent_id, excluded.payment_intent_id),
    destination_account_id = coalesce(x.destination_account_id, excluded.destination_account_id),
    transfer_id = coalesce(x.transfer_id, excluded.transfer_id),
    application_fee_id = coalesce(x.application_fee_id, excluded.application_fee_id),
    application_fee_amount = coalesce(x.application_fee_amount, excluded.application_fee_amount),
    amount = coalesce(x.amount, excluded.amount),
    currency = coalesce(x.currency, excluded.currency),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now()
  where (x.payment_intent_id, x.destination_account_id, x.transfer_id, x.application_fee_id,
         x.application_fee_amount, x.amount, x.currency) is distinct from
        (coalesce(x.payment_intent_id, excluded.payment_intent_id),
         coalesce(x.destination_account_id, excluded.destination_account_id),
         coalesce(x.transfer_id, excluded.transfer_id), coalesce(x.application_fee_id, excluded.application_fee_id),
         coalesce(x.application_fee_amount, excluded.application_fee_amount), coalesce(x.amount, excluded.amount),
         coalesce(x.currency, excluded.currency));
  -- a refund with reverse_transfer names its reversal (an id, or the object when expanded)
  for r in select * from jsonb_array_elements(coalesce(c -> 'refunds' -> 'data', '[]'::jsonb)) loop
    if jsonb_typeof(r -> 'transfer_reversal') = 'object' then
      perform ops.upsert_transfer_reversal(
        (r -> 'transfer_reversal') || jsonb_build_object('source_refund', r ->> 'id'), ops.stripe_ref(c -> 'transfer'));
    elsif r ->> 'transfer_reversal' is not null then
      update public.seller_transfer_reversals x set refund_id = r ->> 'id'
       where x.id = r ->> 'transfer_reversal' and x.refund_id is null;
    end if;
  end loop;
  perform ops.refresh_order_share(c ->> 'id');
end
$$;

-- ---------------------------------------------------------------- apply functions
-- charge.refunded | charge.succeeded | charge.captured: migration 0810's facts and recompute, unchanged, plus
-- the facts of a destination charge (before the recompute, so an order paid by it finds them).
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
  perform ops.record_connect_charge(evt);
  if orphan is not null then
    perform ops.claim_orphan_session(orphan);
  end if;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;

-- transfer.created | transfer.updated | transfer.reversed: the transfer (its amount and what of it was
-- reversed, the newest event's) and each reversal in its list. A transfer made from no charge (a manual
-- payment to someone) is no order's money: ignored.
create or replace function ops.apply_transfer(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  t jsonb := evt -> 'data' -> 'object';
  v_charge text := ops.stripe_ref(t -> 'source_transaction');
  r jsonb;
begin
  if v_charge is null or t ->> 'object' is distinct from 'transfer' then
    return 'ignored';
  end if;
  perform ops.lock_connect_charge(v_charge);
  insert into ops.connect_transfers as x (transfer_id, charge_id, destination_account_id, amount, amount_reversed,
                                          currency, transfer_group, stripe_event_created)
  values (t ->> 'id', v_charge, ops.stripe_ref(t -> 'destination'), (t ->> 'amount')::bigint,
          coalesce((t ->> 'amount_reversed')::bigint, 0), lower(t ->> 'currency'), t ->> 'transfer_group',
          ops.ts(evt ->> 'created'))
  on conflict (transfer_id) do update set
    amount = excluded.amount, amount_reversed = excluded.amount_reversed,
    charge_id = coalesce(x.charge_id, excluded.charge_id),
    destination_account_id = coalesce(x.destination_account_id, excluded.destination_account_id),
    transfer_group = coalesce(x.transfer_group, excluded.transfer_group),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  -- the newest event's state; within a second the larger reversed amount (reversals only add up)
  where (excluded.stripe_event_created, excluded.amount_reversed) > (x.stripe_event_created, x.amount_reversed);
  for r in select * from jsonb_array_elements(coalesce(t -> 'reversals' -> 'data', '[]'::jsonb)) loop
    perform ops.upsert_transfer_reversal(r, t ->> 'id');
  end loop;
  perform ops.refresh_order_share(v_charge);
  return 'processed';
end
$$;

-- application_fee.created | application_fee.refunded: the platform's fee on a charge and what of it was
-- refunded (the newest event's). A destination charge's fee names the platform's charge in
-- originating_transaction (its `charge` is the seller's side of it).
create or replace function ops.apply_application_fee(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  f jsonb := evt -> 'data' -> 'object';
  v_charge text := coalesce(ops.stripe_ref(f -> 'originating_transaction'), ops.stripe_ref(f -> 'charge'));
begin
  if f ->> 'object' is distinct from 'application_fee' then
    return 'ignored';
  end if;
  perform ops.lock_connect_charge(v_charge);
  insert into ops.connect_application_fees as x (fee_id, charge_id, account_id, amount, amount_refunded, currency,
                                                 stripe_event_created)
  values (f ->> 'id', v_charge, ops.stripe_ref(f -> 'account'), (f ->> 'amount')::bigint,
          coalesce((f ->> 'amount_refunded')::bigint, 0), lower(f ->> 'currency'), ops.ts(evt ->> 'created'))
  on conflict (fee_id) do update set
    amount = excluded.amount, amount_refunded = excluded.amount_refunded,
    charge_id = coalesce(x.charge_id, excluded.charge_id), account_id = coalesce(x.account_id, excluded.account_id),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  where (excluded.stripe_event_created, excluded.amount_refunded) > (x.stripe_event_created, x.amount_refunded);
  perform ops.refresh_order_share(v_charge);
  return 'processed';
end
$$;

-- An order's paying payment intent is set (the order is paid, or paid by another payment): its share is
-- derived from the facts that arrived before the order knew its payment.
-- security definer: orders are written by several roles (the pipeline, Studio, the dashboard's admin doors),
-- the shares only by the server.
create or replace function ops.orders_refresh_order_share() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ch text;
begin
  for ch in select x.charge_id from ops.connect_charges x where x.payment_intent_id = new.stripe_payment_intent_id
            union select p.latest_charge_id from ops.payment_intents p
                   where p.stripe_payment_intent_id = new.stripe_payment_intent_id and p.latest_charge_id is not null
            order by 1 loop
    perform ops.lock_connect_charge(ch);
    perform ops.refresh_order_share(ch);
  end loop;
  return null;
end
$$;
revoke all on function ops.orders_refresh_order_share() from public;
drop trigger if exists orders_520_refresh_order_share on public.orders;
create trigger orders_520_refresh_order_share after update of stripe_payment_intent_id on public.orders
  for each row when (new.stripe_payment_intent_id is not null
                     and new.stripe_payment_intent_id is distinct from old.stripe_payment_intent_id)
  execute function ops.orders_refresh_order_share();
drop trigger if exists orders_521_refresh_order_share_on_insert on public.orders;
create trigger orders_521_refresh_order_share_on_insert after insert on public.orders
  for each row when (new.stripe_payment_intent_id is not null)
  execute function ops.orders_refresh_order_share();

-- ---------------------------------------------------------------- checkout: destination charges
-- As migration 3000, with Connect: a seller is refused (CK409) unless private.seller_can_accept_charges
-- (switched on and, with connect_enabled, their account accepts charges), and the answer names the destination
-- (the seller's connected account) and the fee (ops.platform_fee of the order's amount) the session is made with.
-- security definer: the role checkout reads no table; this reads the listing's seller, the plan, the
-- user's subscriptions and Stripe customers, the seller's account and the settings, and writes
-- ops.checkout_requests, for p_user_id only.
create or replace function ops.checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid,
                                              p_quantity integer, p_fingerprint text, p_livemode boolean,
                                              p_account_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.checkout_requests;
  l record;
  p public.plans;
  u auth.users;
  cus text;
  v_title text;
  v_created boolean := false;
  v_seller uuid;
  v_amount bigint;
  v_connect jsonb;
  v_connect_enabled boolean := coalesce((select s.connect_enabled from ops.settings s where s.id), false);
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the checkout key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'CK401';
  end if;
  -- a double tap's second call waits here for the first one's transaction
  perform pg_advisory_xact_lock(hashtextextended('checkout:' || p_user_id || ':' || p_key, 0));
  select * into r from ops.checkout_requests where user_id = p_user_id and idempotency_key = p_key;
  if found and r.fingerprint <> p_fingerprint then
    raise exception 'idempotency_key % was used for another checkout: send a new key for a new checkout',
      left(p_key, 64) using errcode = 'CK422';
  end if;
  if not found then
    if p_kind = 'order' then
      select x.id, x.seller_id, x.active, x.title, x.price_amount, x.currency into l
        from public.listings x where x.id = p_target;
      if not found or not l.active then
        raise exception 'listing % is not for sale (unknown or no longer active)', p_target using errcode = 'CK404';
      end if;
      if l.seller_id = p_user_id then
        raise exception 'you cannot buy your own listing' using errcode = 'CK403';
      end if;
      if not private.seller_can_accept_charges(l.seller_id) then
        raise exception 'the seller of listing % cannot accept payments yet: try again later', p_target
          using errcode = 'CK409';
      end if;
      v_seller := l.seller_id;
      -- what orders_price_from_listing will make the buyer's order cost
      v_amount := l.price_amount * coalesce(p_quantity, 1);
    else
      select * into p from public.plans where id = p_target;
      if not found or not p.active then
        raise exception 'plan % is not offered (unknown or no longer active)', p_target using errcode = 'CK404';
      end if;
      if exists (
        select 1 from public.subscriptions x join public.customers c on c.id = x.customer_id
         where c.user_id = p_user_id and x.price_id = p.stripe_price_id
           and x.status in ('trialing', 'active', 'past_due', 'unpaid', 'paused')) then
        raise exception 'you already have a live subscription to plan %: manage it instead of subscribing again',
          p.name using errcode = 'CK409';
      end if;
    end if;
    insert into ops.checkout_requests (user_id, idempotency_key, kind, fingerprint, listing_id, plan_id)
    values (p_user_id, p_key, p_kind, p_fingerprint,
            case when p_kind = 'order' then p_target end, case when p_kind = 'subscription' then p_target end)
    returning * into r;
    v_created := true;
  elsif r.kind = 'subscription' then
    select * into p from public.plans where id = r.plan_id;
  else
    select o.seller_id, o.amount_total into v_seller, v_amount from public.orders o where o.id = r.order_id;
    -- a retry whose session was never sent is a new charge to the seller: they must still accept charges
    if v_connect_enabled and r.session_params is null and r.stripe_checkout_session_id is null
       and not private.seller_can_accept_charges(v_seller) then
      raise exception 'the seller of this order cannot accept payments any more: nothing was charged'
        using errcode = 'CK409';
    end if;
  end if;
  if r.kind = 'order' then
    select x.title into v_title from public.listings x where x.id = r.listing_id;
    -- destination charge: the seller's connected account receives the payment less the platform's fee
    if v_connect_enabled then
      v_connect := jsonb_build_object(
        'destination', (select a.stripe_account_id from public.seller_accounts a where a.seller_id = v_seller),
        'application_fee_amount', ops.platform_fee(v_amount));
    end if;
  end if;
  -- the user's Stripe customer by the linking rules: one linked to them (metadata, server or admin), not
  -- deleted; the server's own first, then the newest link
  select m.stripe_customer_id into cus
    from ops.stripe_customers m join public.customers c on c.id = m.customer_id
   where c.user_id = p_user_id and m.linked_by is not null and m.deleted_at is null
   order by (m.linked_by = 'server') desc, m.linked_at desc
   limit 1;
  return jsonb_build_object(
    'request_id', r.id, 'created', v_created, 'kind', r.kind, 'order_id', r.order_id, 'listing_title', v_title,
    'order', (select jsonb_build_object('amount_total', o.amount_total, 'currency', o.currency, 'quantity', o.quantity)
                from public.orders o where o.id = r.order_id),
    'plan', case when p.id is not null then jsonb_build_object('id', p.id, 'name', p.name,
                                                               'stripe_price_id', p.stripe_price_id) end,
    'stripe_customer_id', coalesce(r.stripe_customer_id, cus), 'email', u.email,
    'connect', v_connect,
    'session_params', r.session_params, 'session_id', r.stripe_checkout_session_id, 'url', r.url,
    'expires_at', r.expires_at);
end
$$;
