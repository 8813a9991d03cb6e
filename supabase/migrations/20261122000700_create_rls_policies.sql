-- Row level security for every table the API exposes, one policy per operation per role, all
-- asking "admin?" and "seller?" through private.is_admin() / private.is_seller(). Privileges are
-- narrowed first (Supabase grants all on public to the API roles), so RLS is the second wall.
alter table public.profiles enable row level security;
alter table public.listings enable row level security;
alter table public.orders enable row level security;
alter table public.customers enable row level security;
alter table public.subscriptions enable row level security;

revoke all on public.profiles, public.listings, public.orders, public.customers, public.subscriptions from anon, authenticated;
grant select on public.listings to anon;
grant select on public.profiles, public.listings, public.orders, public.customers, public.subscriptions to authenticated;
grant update (display_name) on public.profiles to authenticated;
grant insert (title, price_amount, currency, active) on public.listings to authenticated;
grant update (title, price_amount, currency, active) on public.listings to authenticated;
grant delete on public.listings to authenticated;
grant insert (listing_id) on public.orders to authenticated;

-- Helpers the policies share, in a schema the API does not expose (no RPC). security invoker:
-- they read only what the caller may read. Policies call them as (select private.is_admin()),
-- so Postgres evaluates them once per statement, not once per row.
create schema if not exists private;
comment on schema private is 'Helpers for RLS policies. Not exposed through the API.';
revoke all on schema private from public;
grant usage on schema private to authenticated;

-- Admin is the JWT's app_metadata.role: set server-side, never by the user (unlike user_metadata).
create or replace function private.is_admin() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
$$;

-- Seller is the caller's profile role, read under the caller's own RLS (their own profile row).
create or replace function private.is_seller() returns boolean
language sql stable
set search_path = ''
as $$
  select exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'seller')
$$;
grant execute on function private.is_admin(), private.is_seller() to authenticated;

-- profiles
drop policy if exists "Users can read their own profile" on public.profiles;
create policy "Users can read their own profile" on public.profiles
  for select to authenticated using (id = (select auth.uid()));
drop policy if exists "Admins can read all profiles" on public.profiles;
create policy "Admins can read all profiles" on public.profiles
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "Users can update their own profile" on public.profiles;
create policy "Users can update their own profile" on public.profiles
  for update to authenticated using (id = (select auth.uid())) with check (id = (select auth.uid()));

-- listings
drop policy if exists "Anyone can read active listings" on public.listings;
create policy "Anyone can read active listings" on public.listings
  for select to anon, authenticated using (active);
drop policy if exists "Sellers can read their own listings" on public.listings;
create policy "Sellers can read their own listings" on public.listings
  for select to authenticated using (seller_id = (select auth.uid()));
drop policy if exists "Admins can read all listings" on public.listings;
create policy "Admins can read all listings" on public.listings
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "Sellers can create their own listings" on public.listings;
create policy "Sellers can create their own listings" on public.listings
  for insert to authenticated with check (seller_id = (select auth.uid()) and (select private.is_seller()));
drop policy if exists "Sellers can update their own listings" on public.listings;
create policy "Sellers can update their own listings" on public.listings
  for update to authenticated using (seller_id = (select auth.uid()) and (select private.is_seller()))
  with check (seller_id = (select auth.uid()) and (select private.is_seller()));
drop policy if exists "Sellers can delete their own listings" on public.listings;
create policy "Sellers can delete their own listings" on public.listings
  for delete to authenticated using (seller_id = (select auth.uid()) and (select private.is_seller()));

-- orders: only the pipeline changes them after creation
drop policy if exists "Buyers can read their own orders" on public.orders;
create policy "Buyers can read their own orders" on public.orders
  for select to authenticated using (buyer_id = (select auth.uid()));
drop policy if exists "Sellers can read orders of their listings" on public.orders;
create policy "Sellers can read orders of their listings" on public.orders
  for select to authenticated using (seller_id = (select auth.uid()));
drop policy if exists "Admins can read all orders" on public.orders;
create policy "Admins can read all orders" on public.orders
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "Buyers can create pending orders for themselves" on public.orders;
create policy "Buyers can create pending orders for themselves" on public.orders
  for insert to authenticated with check (
    buyer_id = (select auth.uid()) and status = 'pending_payment' and listing_id is not null
  );

-- customers and subscriptions: read-only mirrors of billing truth
drop policy if exists "Users can read their own customer row" on public.customers;
create policy "Users can read their own customer row" on public.customers
  for select to authenticated using (user_id = (select auth.uid()));
drop policy if exists "Admins can read all customers" on public.customers;
create policy "Admins can read all customers" on public.customers
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "Users can read their own subscriptions" on public.subscriptions;
create policy "Users can read their own subscriptions" on public.subscriptions
  for select to authenticated using (
    customer_id in (select c.id from public.customers c where c.user_id = (select auth.uid()))
  );
drop policy if exists "Admins can read all subscriptions" on public.subscriptions;
create policy "Admins can read all subscriptions" on public.subscriptions
  for select to authenticated using ((select private.is_admin()));
