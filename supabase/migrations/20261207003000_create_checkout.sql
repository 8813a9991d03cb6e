-- Checkout created by the backbone (#18): the checkout function's requests (one per user and idempotency
-- key), the plan catalogue of service businesses, a seller's charges flag (Connect will fill it), an order's
-- quantity, and the login role `checkout` with its doors. Nothing existing is dropped; orders_price_from_listing
-- is replaced so that a quantity multiplies the listing's price.

-- ---------------------------------------------------------------- orders and sellers
alter table public.orders add column if not exists quantity integer not null default 1
  check (quantity between 1 and 100);
comment on column public.orders.quantity is 'Units of the listing bought; amount_total is the listing''s price '
  'times it.';
grant insert (listing_id, quantity) on public.orders to authenticated;
grant select (quantity) on public.orders to authenticated;

-- Until Stripe Connect (#18's second part) fills it from account.updated, every seller is paid through the
-- platform's own account and can take payments: true. A seller set false (Studio) gets no new checkout.
alter table public.profiles add column if not exists charges_enabled boolean not null default true;
comment on column public.profiles.charges_enabled is 'Whether buyers may check out this seller''s listings (Stripe '
  'Connect: the account''s charges_enabled). Set by the server or Studio, never by the user.';

-- A buyer's insert names only the listing (and a quantity): seller, price and currency come from the listing,
-- so nobody can order at a price they chose.
create or replace function public.orders_price_from_listing() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  l record;
begin
  if new.listing_id is null then
    return new;
  end if;
  select seller_id, price_amount, currency, active into l from public.listings where id = new.listing_id;
  if not found then
    raise exception 'listing % does not exist', new.listing_id using errcode = 'foreign_key_violation';
  end if;
  if current_user in ('anon', 'authenticated') then
    if not l.active then
      raise exception 'listing % is not for sale', new.listing_id using errcode = 'check_violation';
    end if;
    new.amount_total := l.price_amount * coalesce(new.quantity, 1);
    new.currency := l.currency;
  end if;
  new.seller_id := coalesce(new.seller_id, l.seller_id);
  return new;
end
$$;

-- ---------------------------------------------------------------- plans
create table if not exists public.plans (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  description text check (length(description) <= 2000),
  -- the recurring Stripe price the subscription is created with: Stripe's price decides what is charged
  stripe_price_id text not null unique check (stripe_price_id ~ '^price_[A-Za-z0-9_]+$'),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.plans is 'Service plans buyers subscribe to through the checkout function (one live '
  'subscription per customer and plan). Edited in Studio; anyone may read active ones.';
drop trigger if exists plans_100_set_updated_at on public.plans;
create trigger plans_100_set_updated_at before update on public.plans
  for each row execute function public.set_updated_at();
alter table public.plans enable row level security;
revoke all on public.plans from anon, authenticated;
grant select on public.plans to anon, authenticated;
drop policy if exists "Visitors can read active plans" on public.plans;
create policy "Visitors can read active plans" on public.plans for select to anon using (active);
drop policy if exists "Users can read active plans, admins all" on public.plans;
create policy "Users can read active plans, admins all" on public.plans
  for select to authenticated using (active or (select private.is_admin()));

-- ---------------------------------------------------------------- checkout requests
create table if not exists ops.checkout_requests (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  idempotency_key text not null check (length(idempotency_key) between 1 and 200),
  kind text not null check (kind in ('order', 'subscription')),
  -- what was asked, as text: the same key with another request is refused
  fingerprint text not null,
  listing_id uuid references public.listings (id) on delete set null,
  plan_id uuid references public.plans (id) on delete set null,
  order_id uuid references public.orders (id) on delete set null,
  stripe_customer_id text,
  -- the Checkout Session's parameters as first built: a retry sends exactly these with the same Stripe key
  session_params jsonb,
  stripe_checkout_session_id text unique,
  url text,
  expires_at timestamptz,
  -- while no session exists: Stripe's last refusal or silence (the next call with the key tries again)
  attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, idempotency_key)
);
comment on table ops.checkout_requests is 'One row per checkout the app asked for (user, idempotency key): its order '
  'or plan, the Stripe customer and the Checkout Session created for it. Rows without a session: Stripe failed.';
create index if not exists checkout_requests_order_idx on ops.checkout_requests (order_id);
create index if not exists checkout_requests_pending_idx on ops.checkout_requests (created_at)
  where stripe_checkout_session_id is null;
drop trigger if exists checkout_requests_100_set_updated_at on ops.checkout_requests;
create trigger checkout_requests_100_set_updated_at before update on ops.checkout_requests
  for each row execute function public.set_updated_at();
alter table ops.checkout_requests enable row level security;

-- ---------------------------------------------------------------- the checkout function's doors
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'checkout') then
    -- the checkout function's login role: it owns nothing; it takes rate tokens, becomes authenticated
    -- (the order is written as the buyer, under RLS) and calls the ops.checkout_* doors below
    create role checkout nologin noinherit;
  end if;
end
$$;
grant authenticated to checkout;
grant usage on schema ops to checkout;
grant execute on function ops.take_rate_tokens(text, integer, integer, integer) to checkout;
-- its failures (5xx) count in the failed_runs alert, as support-intake's
grant execute on function ops.record_endpoint_outcome(text, integer, text) to checkout;
alter role checkout set lock_timeout = '3s';
alter role checkout set statement_timeout = '15s';
alter role checkout set idle_in_transaction_session_timeout = '30s';

-- The request for (user, key): the existing one, or, after every refusal check, a new one. Refusals raise
-- SQLSTATE CK<http status> with a sentence for the buyer; nothing is written then.
-- security definer: the role checkout reads no table; this reads the listing's seller, the plan, the
-- user's subscriptions and Stripe customers, and writes ops.checkout_requests, for p_user_id only.
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
      select x.id, x.seller_id, x.active, x.title, x.price_amount, x.currency, s.charges_enabled into l
        from public.listings x left join public.profiles s on s.id = x.seller_id where x.id = p_target;
      if not found or not l.active then
        raise exception 'listing % is not for sale (unknown or no longer active)', p_target using errcode = 'CK404';
      end if;
      if l.seller_id = p_user_id then
        raise exception 'you cannot buy your own listing' using errcode = 'CK403';
      end if;
      if not coalesce(l.charges_enabled, false) then
        raise exception 'the seller of listing % cannot accept payments yet: try again later', p_target
          using errcode = 'CK409';
      end if;
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
  end if;
  if r.kind = 'order' then
    select x.title into v_title from public.listings x where x.id = r.listing_id;
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
    'session_params', r.session_params, 'session_id', r.stripe_checkout_session_id, 'url', r.url,
    'expires_at', r.expires_at);
end
$$;

-- The order the buyer just wrote (as themselves, under RLS) becomes the request's.
-- security definer: the role checkout cannot write ops.checkout_requests.
create or replace function ops.checkout_set_order(p_request_id uuid, p_order_id uuid) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update ops.checkout_requests r set order_id = p_order_id
   where r.id = p_request_id and r.kind = 'order' and r.order_id is null
     and exists (select 1 from public.orders o where o.id = p_order_id and o.buyer_id = r.user_id
                 and o.listing_id = r.listing_id and o.status = 'pending_payment');
  if not found then
    raise exception 'checkout request % cannot take order %', p_request_id, p_order_id using errcode = 'P0002';
  end if;
end
$$;

-- Before the Checkout Session is created: the Stripe customer the server created for the request's user is
-- registered (linked_by server, first claim wins), and the session's parameters are kept, first write wins.
-- Answers the parameters to send (a concurrent call's, when it stored them first), or the session a
-- concurrent call of the same key recorded meanwhile (then nothing is sent).
-- security definer: registers through ops.register_stripe_customer, only for this request's own user.
create or replace function ops.checkout_prepare_session(p_request_id uuid, p_stripe_customer_id text, p_params jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  r ops.checkout_requests;
begin
  select * into r from ops.checkout_requests where id = p_request_id for update;
  if not found then
    raise exception 'no checkout request %', p_request_id using errcode = 'P0002';
  end if;
  if r.stripe_checkout_session_id is null then
    if r.stripe_customer_id is null then
      perform ops.register_stripe_customer(p_stripe_customer_id, r.user_id);
    end if;
    update ops.checkout_requests set stripe_customer_id = coalesce(stripe_customer_id, p_stripe_customer_id),
           session_params = coalesce(session_params, p_params), attempts = attempts + 1
     where id = p_request_id
    returning * into r;
  end if;
  return jsonb_build_object('params', r.session_params, 'session_id', r.stripe_checkout_session_id, 'url', r.url,
                            'expires_at', r.expires_at);
end
$$;

-- Stripe's answer: the session (id, url, expiry), or why there is none yet (the next call retries).
-- security definer: the role checkout cannot write ops.checkout_requests.
create or replace function ops.checkout_finish(p_request_id uuid, p_session_id text, p_url text,
                                               p_expires_at timestamptz, p_error text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update ops.checkout_requests
     set stripe_checkout_session_id = coalesce(stripe_checkout_session_id, p_session_id),
         url = coalesce(url, p_url), expires_at = coalesce(expires_at, p_expires_at),
         last_error = case when p_session_id is null then left(p_error, 1000) end
   where id = p_request_id;
end
$$;

grant execute on function
  ops.checkout_begin(uuid, text, text, uuid, integer, text, boolean, text),
  ops.checkout_set_order(uuid, uuid),
  ops.checkout_prepare_session(uuid, text, jsonb),
  ops.checkout_finish(uuid, text, text, timestamptz, text)
  to checkout;
comment on function ops.checkout_begin(uuid, text, text, uuid, integer, text, boolean, text) is 'checkout function: '
  'the request for (user, idempotency key), existing or new after the refusal checks (SQLSTATE CK<status>).';
