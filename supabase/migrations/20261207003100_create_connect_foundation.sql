-- Sellers on Stripe Connect (#18), the shared ground: a seller's connected account and its state, the money of
-- each order as Stripe's objects say it (charge, application fee, transfer and their reversals), payouts of
-- connected accounts, the founder's fee settings, which sellers can take payments, the dispatcher's routes for
-- the new event types and the scope rule "the platform and its connected accounts". The apply functions
-- routed here are defined by the migrations after this one (3200: accounts and payouts, 3300: order money).

-- ---------------------------------------------------------------- settings
alter table ops.settings add column if not exists connect_enabled boolean not null default false;
alter table ops.settings add column if not exists platform_fee_percent numeric(5, 2) not null default 0
  check (platform_fee_percent >= 0 and platform_fee_percent < 100);
alter table ops.settings add column if not exists platform_fee_fixed bigint not null default 0
  check (platform_fee_fixed >= 0);
comment on column ops.settings.connect_enabled is 'Sellers are paid through Stripe Connect: a seller takes payments '
  'only once their connected account can accept charges, and checkout makes destination charges to it with the '
  'platform fee. false (the default): every payment stays on the platform''s account (service businesses, or a '
  'marketplace paying sellers by hand).';
comment on column ops.settings.platform_fee_percent is 'The founder''s fee on each destination charge: this percent '
  'of the order''s amount (rounded half up to the currency''s minor unit) plus platform_fee_fixed.';
comment on column ops.settings.platform_fee_fixed is 'The fixed part of the founder''s fee, in the order currency''s '
  'minor unit (cents), added to platform_fee_percent of the amount; the fee never exceeds the amount.';

-- The fee Stripe is asked to take for the platform on an order of p_amount (minor units).
create or replace function ops.platform_fee(p_amount bigint) returns bigint
language sql stable
set search_path = ''
as $$
  select least(p_amount, round(p_amount * s.platform_fee_percent / 100.0)::bigint + s.platform_fee_fixed)
    from ops.settings s where s.id
$$;

-- profiles.charges_enabled (3000) stays the founder's switch; with Connect the account decides too
comment on column public.profiles.charges_enabled is 'The founder''s switch: false stops new checkouts of this '
  'seller''s listings (with Connect, their account must accept charges too). Set in Studio, never by the user.';

-- ---------------------------------------------------------------- profiles: where a seller's account is created
alter table public.profiles add column if not exists country text check (country ~ '^[A-Z]{2}$');
comment on column public.profiles.country is 'ISO 3166-1 alpha-2 country (US, FR, ...): the country a seller''s '
  'connected account is created in (it cannot change afterwards).';
grant update (country) on public.profiles to authenticated;
grant select (country, charges_enabled) on public.profiles to authenticated;

-- ---------------------------------------------------------------- connected accounts
create table if not exists public.seller_accounts (
  seller_id uuid primary key references public.profiles (id) on delete cascade,
  stripe_account_id text not null unique check (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
  livemode boolean not null default false,
  country text,
  charges_enabled boolean not null default false,
  payouts_enabled boolean not null default false,
  details_submitted boolean not null default false,
  requirements_currently_due text[] not null default '{}',
  requirements_past_due text[] not null default '{}',
  requirements_eventually_due text[] not null default '{}',
  current_deadline timestamptz,
  disabled_reason text,
  -- the Stripe time (event created) of the account state held here: an older account.updated changes nothing
  stripe_updated_at timestamptz,
  -- the seller's emails about requirements: once when some become due, once when some become past due
  due_notified_at timestamptz,
  past_due_notified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.seller_accounts is 'Each seller''s Stripe connected account (created once by '
  'seller-onboarding) and its state from account.updated: charges and payouts enabled, requirements due and past '
  'due, the disabled reason. Sellers read their own row, admins all; only the server writes.';
drop trigger if exists seller_accounts_100_set_updated_at on public.seller_accounts;
create trigger seller_accounts_100_set_updated_at before update on public.seller_accounts
  for each row execute function public.set_updated_at();
alter table public.seller_accounts enable row level security;
revoke all on public.seller_accounts from anon, authenticated;
grant select on public.seller_accounts to authenticated;
drop policy if exists "Sellers read their own account, admins all" on public.seller_accounts;
create policy "Sellers read their own account, admins all" on public.seller_accounts
  for select to authenticated using (seller_id = (select auth.uid()) or (select private.is_admin()));

-- Whether buyers may pay this seller now: the seller is not switched off (profiles.charges_enabled, Studio)
-- and, when sellers are paid through Connect, their connected account can accept charges.
-- security definer: listing policies ask it for anon and authenticated, who read no settings and no other
-- seller's profile or account.
create or replace function private.seller_can_accept_charges(p_seller_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce((select p.charges_enabled from public.profiles p where p.id = p_seller_id), false)
     and (not coalesce((select s.connect_enabled from ops.settings s where s.id), false)
          or coalesce((select a.charges_enabled from public.seller_accounts a where a.seller_id = p_seller_id), false))
$$;
comment on function private.seller_can_accept_charges(uuid) is 'Buyers may pay this seller now: not switched off '
  '(profiles.charges_enabled) and, with ops.settings.connect_enabled, their connected account accepts charges.';
revoke all on function private.seller_can_accept_charges(uuid) from public;
grant execute on function private.seller_can_accept_charges(uuid) to anon, authenticated;

-- ---------------------------------------------------------------- money per order, from Stripe's objects
create table if not exists public.order_shares (
  order_id uuid primary key references public.orders (id) on delete cascade,
  seller_id uuid references public.profiles (id) on delete set null,
  -- the connected account the charge's funds go to (the charge's transfer_data.destination)
  destination_account_id text,
  currency text not null,
  charge_id text unique,
  charge_amount bigint,
  application_fee_id text unique,
  application_fee_amount bigint,
  application_fee_refunded bigint not null default 0,
  transfer_id text unique,
  transfer_amount bigint,
  transfer_reversed bigint not null default 0,
  -- what the seller keeps and what the platform keeps, as Stripe's objects say so far
  seller_net bigint generated always as (coalesce(transfer_amount, 0) - transfer_reversed) stored,
  platform_net bigint generated always as (coalesce(application_fee_amount, 0) - application_fee_refunded) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.order_shares is 'Each Connect order''s money as Stripe''s objects say it: the charge, the '
  'platform''s application fee (and what of it was refunded), the transfer to the seller (and what of it was '
  'reversed): seller_net and platform_net. The seller reads their orders'' rows, admins all; only the server writes.';
create index if not exists order_shares_seller_idx on public.order_shares (seller_id);
drop trigger if exists order_shares_100_set_updated_at on public.order_shares;
create trigger order_shares_100_set_updated_at before update on public.order_shares
  for each row execute function public.set_updated_at();
alter table public.order_shares enable row level security;
revoke all on public.order_shares from anon, authenticated;
grant select on public.order_shares to authenticated;
drop policy if exists "Sellers read their orders' shares, admins all" on public.order_shares;
create policy "Sellers read their orders' shares, admins all" on public.order_shares
  for select to authenticated using (seller_id = (select auth.uid()) or (select private.is_admin()));

create table if not exists public.seller_transfer_reversals (
  id text primary key check (id ~ '^trr_[A-Za-z0-9]+$'),
  transfer_id text not null,
  order_id uuid references public.orders (id) on delete cascade,
  seller_id uuid references public.profiles (id) on delete set null,
  amount bigint not null,
  currency text not null,
  refund_id text,
  stripe_created timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.seller_transfer_reversals is 'Transfer reversals: money taken back from a seller''s share '
  '(a refund or dispute of a destination charge). Sellers read their own, admins all; only the server writes.';
create index if not exists seller_transfer_reversals_order_idx on public.seller_transfer_reversals (order_id);
create index if not exists seller_transfer_reversals_seller_idx on public.seller_transfer_reversals (seller_id);
alter table public.seller_transfer_reversals enable row level security;
revoke all on public.seller_transfer_reversals from anon, authenticated;
grant select on public.seller_transfer_reversals to authenticated;
drop policy if exists "Sellers read their own reversals, admins all" on public.seller_transfer_reversals;
create policy "Sellers read their own reversals, admins all" on public.seller_transfer_reversals
  for select to authenticated using (seller_id = (select auth.uid()) or (select private.is_admin()));

-- ---------------------------------------------------------------- payouts of connected accounts
create table if not exists public.seller_payouts (
  id text primary key check (id ~ '^po_[A-Za-z0-9]+$'),
  seller_id uuid references public.profiles (id) on delete set null,
  stripe_account_id text not null,
  amount bigint not null,
  currency text not null,
  status text not null check (status in ('pending', 'in_transit', 'paid', 'failed', 'canceled')),
  arrival_date timestamptz,
  failure_code text,
  failure_message text,
  -- the Stripe time (event created) of the state held here: an older payout.* event changes nothing
  stripe_updated_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.seller_payouts is 'Payouts of sellers'' connected accounts (payout.* events): amount, arrival '
  'date, status, failure code and message. Sellers read their own, admins all; only the server writes.';
create index if not exists seller_payouts_seller_idx on public.seller_payouts (seller_id, created_at desc);
drop trigger if exists seller_payouts_100_set_updated_at on public.seller_payouts;
create trigger seller_payouts_100_set_updated_at before update on public.seller_payouts
  for each row execute function public.set_updated_at();
alter table public.seller_payouts enable row level security;
revoke all on public.seller_payouts from anon, authenticated;
grant select on public.seller_payouts to authenticated;
drop policy if exists "Sellers read their own payouts, admins all" on public.seller_payouts;
create policy "Sellers read their own payouts, admins all" on public.seller_payouts
  for select to authenticated using (seller_id = (select auth.uid()) or (select private.is_admin()));

-- ---------------------------------------------------------------- the platform and its connected accounts
-- Events naming no account, or the platform's own, are the platform's; an event naming one of our sellers'
-- connected accounts is accepted; any other account's event is recorded as ignored with the reason.
create or replace function ops.stripe_event_scope_problem(evt jsonb, s ops.settings) returns text
language sql stable
set search_path = ''
as $$
  select case
    when coalesce(evt -> 'livemode' = 'true'::jsonb, false) <> s.stripe_livemode
      then format('a %s-mode event; this project takes %s-mode events only (ops.settings.stripe_livemode)',
                  case when s.stripe_livemode then 'test' else 'live' end,
                  case when s.stripe_livemode then 'live' else 'test' end)
    when evt ->> 'account' is null or evt ->> 'account' = s.stripe_account_id
      then null
    when exists (select 1 from public.seller_accounts a where a.stripe_account_id = evt ->> 'account')
      then null
    else format('an event of the connected account %s, which is not one of our sellers'' accounts; this project '
                'takes events of the platform (%s) and its sellers'' connected accounts only', evt ->> 'account',
                coalesce(s.stripe_account_id, 'ops.settings.stripe_account_id is not set'))
  end
$$;

-- ---------------------------------------------------------------- routes for the new event types
-- Defined for real by 3200 (accounts, payouts) and 3300 (transfers, application fees); until then ignored.
create or replace function ops.apply_connect_account(evt jsonb) returns text
language sql
set search_path = ''
as $$ select 'ignored'::text $$;
create or replace function ops.apply_payout(evt jsonb) returns text
language sql
set search_path = ''
as $$ select 'ignored'::text $$;
create or replace function ops.apply_transfer(evt jsonb) returns text
language sql
set search_path = ''
as $$ select 'ignored'::text $$;
create or replace function ops.apply_application_fee(evt jsonb) returns text
language sql
set search_path = ''
as $$ select 'ignored'::text $$;

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
    when evt ->> 'type' in ('account.updated', 'account.application.deauthorized')
      then ops.apply_connect_account(evt)
    when evt ->> 'type' in ('payout.created', 'payout.updated', 'payout.paid', 'payout.failed', 'payout.canceled')
      then ops.apply_payout(evt)
    when evt ->> 'type' in ('transfer.created', 'transfer.updated', 'transfer.reversed')
      then ops.apply_transfer(evt)
    when evt ->> 'type' in ('application_fee.created', 'application_fee.refunded')
      then ops.apply_application_fee(evt)
    else 'ignored'
  end;
end
$$;
