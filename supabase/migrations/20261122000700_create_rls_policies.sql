-- Row level security for every table the API exposes, one policy per operation per role, all
-- asking "admin?", "seller?" and "anonymous?" through private.is_admin() / private.is_seller() /
-- private.is_anonymous(). Privileges are narrowed first (Supabase grants all on public to the API
-- roles), down to columns where rows are shared (orders), so RLS is the second wall. Also: who
-- changed a marketplace role (ops.role_grants) and the server's door to grant one.
alter table public.profiles enable row level security;
alter table public.listings enable row level security;
alter table public.orders enable row level security;
alter table public.customers enable row level security;
alter table public.subscriptions enable row level security;

revoke all on public.profiles, public.listings, public.orders, public.customers, public.subscriptions
  from anon, authenticated;
grant select on public.listings to anon;
grant select on public.profiles, public.listings, public.customers, public.subscriptions to authenticated;
-- An order row is read by its buyer, its seller and admins alike, and column privileges cannot tell
-- them apart: every API role reads only what a seller needs to fulfil it. Stripe ids, checkout facts,
-- review reasons and the sync version stay with the service role (the server, Studio; orders in
-- review are listed with their reasons in ops.pipeline_exceptions). A column added later is hidden
-- until granted here. Clients name their columns: select('*') is refused.
grant select (id, buyer_id, seller_id, listing_id, status, amount_total, currency, amount_refunded, needs_review,
              paid_at, created_at, updated_at) on public.orders to authenticated;
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

-- Seller is the caller's profile role, read under the caller's own RLS (their own profile row);
-- only the server sets it (public.handle_new_user, ops.set_user_role).
create or replace function private.is_seller() returns boolean
language sql stable
set search_path = ''
as $$
  select exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'seller')
$$;

-- Anonymous sign-ins (signInAnonymously: auth.users.is_anonymous) carry is_anonymous: true in their
-- JWT. They read what any user reads and write nothing: every write policy asks this.
create or replace function private.is_anonymous() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce((auth.jwt() ->> 'is_anonymous')::boolean, false)
$$;
grant execute on function private.is_admin(), private.is_seller(), private.is_anonymous() to authenticated;

-- One permissive policy per operation and role (the performance advisors' lint 0006: Postgres runs
-- every permissive policy of a role on every row), so each says everyone its operation lets through.

-- profiles
drop policy if exists "Users can read their own profile, admins every profile" on public.profiles;
create policy "Users can read their own profile, admins every profile" on public.profiles
  for select to authenticated using (id = (select auth.uid()) or (select private.is_admin()));
drop policy if exists "Users can update their own profile" on public.profiles;
create policy "Users can update their own profile" on public.profiles
  for update to authenticated using (id = (select auth.uid()) and not (select private.is_anonymous()))
  with check (id = (select auth.uid()) and not (select private.is_anonymous()));

-- listings
drop policy if exists "Visitors can read active listings" on public.listings;
create policy "Visitors can read active listings" on public.listings
  for select to anon using (active);
drop policy if exists "Users can read active listings, sellers their own, admins all" on public.listings;
create policy "Users can read active listings, sellers their own, admins all" on public.listings
  for select to authenticated using (active or seller_id = (select auth.uid()) or (select private.is_admin()));
drop policy if exists "Sellers can create their own listings" on public.listings;
create policy "Sellers can create their own listings" on public.listings
  for insert to authenticated
  with check (seller_id = (select auth.uid()) and (select private.is_seller()) and not (select private.is_anonymous()));
drop policy if exists "Sellers can update their own listings" on public.listings;
create policy "Sellers can update their own listings" on public.listings
  for update to authenticated
  using (seller_id = (select auth.uid()) and (select private.is_seller()) and not (select private.is_anonymous()))
  with check (seller_id = (select auth.uid()) and (select private.is_seller()) and not (select private.is_anonymous()));
drop policy if exists "Sellers can delete their own listings" on public.listings;
create policy "Sellers can delete their own listings" on public.listings
  for delete to authenticated
  using (seller_id = (select auth.uid()) and (select private.is_seller()) and not (select private.is_anonymous()));

-- orders: only the pipeline changes them after creation
drop policy if exists "Buyers and sellers can read their orders, admins all" on public.orders;
create policy "Buyers and sellers can read their orders, admins all" on public.orders
  for select to authenticated
  using (buyer_id = (select auth.uid()) or seller_id = (select auth.uid()) or (select private.is_admin()));
drop policy if exists "Buyers can create pending orders for themselves" on public.orders;
create policy "Buyers can create pending orders for themselves" on public.orders
  for insert to authenticated with check (
    buyer_id = (select auth.uid()) and status = 'pending_payment' and listing_id is not null
    and not (select private.is_anonymous())
  );

-- customers and subscriptions: read-only mirrors of billing truth
drop policy if exists "Users can read their own customer row, admins all" on public.customers;
create policy "Users can read their own customer row, admins all" on public.customers
  for select to authenticated using (user_id = (select auth.uid()) or (select private.is_admin()));
drop policy if exists "Users can read their own subscriptions, admins all" on public.subscriptions;
create policy "Users can read their own subscriptions, admins all" on public.subscriptions
  for select to authenticated using (
    customer_id in (select c.id from public.customers c where c.user_id = (select auth.uid()))
    or (select private.is_admin())
  );

-- Marketplace roles are the server's to grant. Every change of public.profiles.role, by any writer
-- (ops.set_user_role, Studio, the service role), leaves a row here.
create table if not exists ops.role_grants (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  old_role text,
  new_role text not null,
  note text,
  -- the database role that made the change (service_role, postgres, ...) and the JWT's user, if any
  granted_by_role text not null,
  granted_by_user uuid,
  granted_at timestamptz not null default now()
);
comment on table ops.role_grants is 'Every change of a marketplace role (public.profiles.role), by any writer '
  '(a trigger on profiles): who, when, why. Role changes stay here; ops.audit_log holds the dashboard''s overrides.';
create index if not exists role_grants_user_idx on ops.role_grants (user_id, granted_at);

-- security definer: the writers of profiles (GoTrue's sign-up trigger, the service role) cannot
-- write ops; this trigger is their only way in.
create or replace function ops.audit_profile_role() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ops.role_grants (user_id, old_role, new_role, note, granted_by_role, granted_by_user)
  values (new.id, case when tg_op = 'UPDATE' then old.role end, new.role,
          coalesce(nullif(current_setting('ops.role_note', true), ''),
                   case when tg_op = 'INSERT' then 'at sign-up, from app_metadata.role' end),
          coalesce(nullif(current_setting('role', true), 'none'), session_user), auth.uid());
  return null;
end
$$;
drop trigger if exists profiles_300_audit_role on public.profiles;
create trigger profiles_300_audit_role after insert on public.profiles
  for each row when (new.role <> 'buyer') execute function ops.audit_profile_role();
drop trigger if exists profiles_310_audit_role_change on public.profiles;
create trigger profiles_310_audit_role_change after update of role on public.profiles
  for each row when (new.role is distinct from old.role) execute function ops.audit_profile_role();

-- The server's (or an operator's) door to make a user a seller, or a buyer again, with the reason;
-- the audit row is written by the trigger above. Admins are app_metadata.role, not a profile role.
-- security definer: it reads auth.users (is the user anonymous?), which the service role may not.
create or replace function ops.set_user_role(p_user_id uuid, p_role text, p_note text) returns text
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_role is null or p_role not in ('buyer', 'seller') then
    raise exception 'role must be buyer or seller (admins are app_metadata.role)'
      using errcode = 'invalid_parameter_value';
  end if;
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): role changes are audited' using errcode = 'invalid_parameter_value';
  end if;
  if p_role = 'seller' and exists (select 1 from auth.users u where u.id = p_user_id and u.is_anonymous) then
    raise exception 'an anonymous user cannot sell: they must sign up first' using errcode = 'check_violation';
  end if;
  perform set_config('ops.role_note', left(trim(p_note), 1000), true);
  update public.profiles set role = p_role where id = p_user_id;
  if not found then
    raise exception 'no profile for user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform set_config('ops.role_note', '', true);
  return p_role;
end
$$;
grant execute on function ops.set_user_role(uuid, text, text) to service_role;
comment on function ops.set_user_role(uuid, text, text) is 'Server/admin: make a user a seller (or a buyer again), '
  'with the reason; audited in ops.role_grants. Usage: select ops.set_user_role(''<user id>'', ''seller'', ''why'');';
