-- Marketplace product state: profiles (one per auth user), listings, orders.
-- Stripe owns payment truth; orders hold what the product needs, kept in step by the pipeline.
-- Status columns are guarded by the state machines in a later migration.
create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  role text not null default 'buyer' check (role in ('buyer', 'seller', 'admin')),
  display_name text check (length(display_name) <= 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'One row per auth user: marketplace role (buyer | seller | admin) and display '
  'name. Seller is granted by the server (app_metadata at sign-up, ops.set_user_role later; audited in '
  'ops.role_grants); admin rights come from the JWT app_metadata, not from this column.';

create table if not exists public.listings (
  id uuid primary key default gen_random_uuid(),
  seller_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  title text not null check (length(title) between 1 and 200),
  price_amount bigint not null check (price_amount > 0),
  currency text not null default 'usd' check (currency ~ '^[a-z]{3}$'),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.listings is 'What sellers offer. Sellers manage their own; anyone may read active ones.';
create index if not exists listings_seller_idx on public.listings (seller_id);

create table if not exists public.orders (
  id uuid primary key default gen_random_uuid(),
  buyer_id uuid default auth.uid() references public.profiles (id) on delete set null,
  seller_id uuid references public.profiles (id) on delete set null,
  listing_id uuid references public.listings (id) on delete set null,
  status text not null default 'pending_payment',
  -- the list price (from the listing): what Stripe must have asked for it, before tax and discounts
  amount_total bigint check (amount_total >= 0),
  currency text check (currency ~ '^[a-z]{3}$'),
  -- what the paying payment charged (tax and discounts included): refunds and the CRM deal count against it
  amount_charged bigint check (amount_charged >= 0),
  currency_charged text,
  amount_refunded bigint not null default 0 check (amount_refunded >= 0),
  -- the payment that pays the order (Checkout session and its payment intent); every attempt is in
  -- ops.checkout_sessions / ops.payment_intents
  stripe_checkout_session_id text unique,
  stripe_payment_intent_id text,
  stripe_customer_id text,
  -- derived from status (ops.order_statuses): the one rule that lets CRM, emails and fulfilment run
  payment_confirmed boolean not null default false,
  -- derived from the payments: what a person must look at (ops.resolve_order_review resolves it)
  needs_review boolean not null default false,
  review_reason text,
  paid_at timestamptz,
  -- bumped on every status change: keys the side effects of each change exactly once
  version integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.orders is 'One-off marketplace orders. The app creates them as pending_payment; only the '
  'pipeline moves their status (see ops.order_status_transitions).';
create index if not exists orders_buyer_idx on public.orders (buyer_id);
create index if not exists orders_seller_idx on public.orders (seller_id);
create index if not exists orders_listing_idx on public.orders (listing_id);
create index if not exists orders_payment_intent_idx on public.orders (stripe_payment_intent_id);
create index if not exists orders_needs_review_idx on public.orders (created_at) where needs_review;

create or replace function public.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists profiles_100_set_updated_at on public.profiles;
create trigger profiles_100_set_updated_at before update on public.profiles
  for each row execute function public.set_updated_at();
drop trigger if exists listings_100_set_updated_at on public.listings;
create trigger listings_100_set_updated_at before update on public.listings
  for each row execute function public.set_updated_at();
drop trigger if exists orders_100_set_updated_at on public.orders;
create trigger orders_100_set_updated_at before update on public.orders
  for each row execute function public.set_updated_at();

-- A buyer's insert names only the listing: seller, price and currency come from the listing,
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
    new.amount_total := l.price_amount;
    new.currency := l.currency;
  end if;
  new.seller_id := coalesce(new.seller_id, l.seller_id);
  return new;
end
$$;
drop trigger if exists orders_050_price_from_listing on public.orders;
create trigger orders_050_price_from_listing before insert on public.orders
  for each row execute function public.orders_price_from_listing();

-- security definer: runs as the auth.users insert (GoTrue's role), which cannot write public.profiles.
-- Selling is a right the server grants: app_metadata (raw_app_meta_data), which only the service
-- role sets (auth.admin.createUser / updateUserById), never user_metadata, which the user writes at
-- sign-up; later grants go through ops.set_user_role (migration 0700). Anonymous users are buyers.
create or replace function public.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, role, display_name)
  values (
    new.id,
    case when new.raw_app_meta_data ->> 'role' = 'seller' and not new.is_anonymous then 'seller' else 'buyer' end,
    left(new.raw_user_meta_data ->> 'display_name', 200)
  )
  on conflict (id) do nothing;
  return new;
end
$$;
drop trigger if exists users_100_create_profile on auth.users;
create trigger users_100_create_profile after insert on auth.users
  for each row execute function public.handle_new_user();
