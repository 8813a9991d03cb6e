-- Billing state: customers and subscriptions (product state the app reads), the links of Stripe
-- customers to them, and ops mirrors of Stripe objects (payment intents, refunds, disputes,
-- invoices) that order status is derived from.
-- Mirrors keep facts that only grow, so events applied in any order converge.
create table if not exists public.customers (
  id uuid primary key default gen_random_uuid(),
  -- one row per app user, or per Stripe customer that belongs to no user (yet); the Stripe customers
  -- of a row are in ops.stripe_customers (a user may have several)
  user_id uuid unique references auth.users (id) on delete set null,
  email text,
  name text,
  billing_status text not null default 'lead',
  access_status text not null default 'blocked',
  last_paid_at timestamptz,
  last_payment_failed_at timestamptz,
  -- set while every Stripe customer of the row is deleted
  deleted_at timestamptz,
  -- created time of the newest customer.* event applied to the row, so older updates never win
  stripe_event_created timestamptz,
  -- an email-only or ambiguous match, or a conflicting claim: an admin decides (see ops.pipeline_exceptions)
  needs_review boolean not null default false,
  review_reason text,
  -- bumped when billing status, email, user or review flag change: keys the side effects of each change once
  version integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.customers is 'Billing customers, one per app user (or per Stripe customer linked to no user): '
  'billing_status (truth from Stripe, over all the user''s subscriptions) and access_status (what the app grants) are '
  'separate columns, linked by ops.billing_statuses.';
create index if not exists customers_email_idx on public.customers (lower(email));
create index if not exists customers_needs_review_idx on public.customers (updated_at) where needs_review;

-- The link between Stripe and app users: each Stripe customer belongs to one customer row; several
-- may belong to one user's row. Only a server-set id links to a user (see ops.upsert_customer_link).
create table if not exists ops.stripe_customers (
  stripe_customer_id text primary key,
  customer_id uuid not null references public.customers (id) on delete cascade,
  -- how it was linked to the row's user; null: the row is the Stripe customer's own (no user)
  linked_by text check (linked_by in ('metadata', 'server', 'admin')),
  linked_at timestamptz,
  linked_note text,
  -- an admin closed a review of it: the same email match does not reopen one
  reviewed_at timestamptz,
  reviewed_note text,
  -- Stripe's customer object as last reported (newest customer.* event)
  email text,
  name text,
  deleted_at timestamptz,
  stripe_event_created timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((linked_by is null) = (linked_at is null))
);
comment on table ops.stripe_customers is 'Stripe customers and the customer row each belongs to (linked_by: how it was '
  'tied to the row''s user; null when the row is its own). First claim wins: a link moves only by '
  'ops.link_stripe_customer (an admin).';
create index if not exists stripe_customers_customer_idx on ops.stripe_customers (customer_id);

create table if not exists public.subscriptions (
  id uuid primary key default gen_random_uuid(),
  stripe_subscription_id text not null unique,
  customer_id uuid references public.customers (id) on delete set null,
  stripe_customer_id text not null,
  status text not null,
  price_id text,
  quantity integer,
  cancel_at_period_end boolean not null default false,
  current_period_end timestamptz,
  trial_end timestamptz,
  canceled_at timestamptz,
  -- (created time, status rank) of the newest event applied: an older update never overwrites it
  stripe_event_created timestamptz not null,
  stripe_event_rank integer not null,
  stripe_event_id text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.subscriptions is 'Stripe subscriptions as last reported; guarded so that an older event never '
  'overwrites a newer one.';
create index if not exists subscriptions_customer_idx on public.subscriptions (customer_id);
create index if not exists subscriptions_stripe_customer_idx on public.subscriptions (stripe_customer_id);

create table if not exists ops.payment_intents (
  stripe_payment_intent_id text primary key,
  stripe_customer_id text,
  latest_charge_id text,
  amount bigint,
  currency text,
  amount_refunded bigint not null default 0,
  succeeded_at timestamptz,
  last_failed_at timestamptz,
  last_error text,
  canceled_at timestamptz,
  order_id uuid,
  updated_at timestamptz not null default now()
);
comment on table ops.payment_intents is 'Facts about Stripe payment intents and their charges (succeeded, failed, '
  'refunded amount). Only grow; orders derive their status from them.';
create index if not exists payment_intents_charge_idx on ops.payment_intents (latest_charge_id);

create table if not exists ops.refunds (
  stripe_refund_id text primary key,
  stripe_payment_intent_id text,
  stripe_charge_id text,
  amount bigint not null check (amount >= 0),
  currency text,
  status text not null,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.refunds is 'Stripe refunds (full and partial) as last reported.';
create index if not exists refunds_payment_intent_idx on ops.refunds (stripe_payment_intent_id);
create index if not exists refunds_charge_idx on ops.refunds (stripe_charge_id);

create table if not exists ops.disputes (
  stripe_dispute_id text primary key,
  stripe_payment_intent_id text,
  stripe_charge_id text,
  amount bigint,
  currency text,
  reason text,
  status text not null,
  -- Stripe's evidence_details.due_by: when the evidence must be in
  evidence_due_by timestamptz,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.disputes is 'Stripe disputes; a closed dispute (won | lost | warning_closed) never reopens.';
create index if not exists disputes_payment_intent_idx on ops.disputes (stripe_payment_intent_id);
create index if not exists disputes_charge_idx on ops.disputes (stripe_charge_id);

create table if not exists ops.invoices (
  stripe_invoice_id text primary key,
  stripe_customer_id text,
  stripe_subscription_id text,
  status text,
  amount_due bigint,
  amount_paid bigint,
  currency text,
  paid boolean not null default false,
  attempt_count integer,
  last_failed_at timestamptz,
  stripe_event_created timestamptz not null,
  updated_at timestamptz not null default now()
);
comment on table ops.invoices is 'Stripe invoices: paid and failed attempts, per customer and subscription.';
create index if not exists invoices_customer_idx on ops.invoices (stripe_customer_id);

drop trigger if exists customers_100_set_updated_at on public.customers;
create trigger customers_100_set_updated_at before update on public.customers
  for each row execute function public.set_updated_at();
drop trigger if exists stripe_customers_100_set_updated_at on ops.stripe_customers;
create trigger stripe_customers_100_set_updated_at before update on ops.stripe_customers
  for each row execute function public.set_updated_at();
drop trigger if exists subscriptions_100_set_updated_at on public.subscriptions;
create trigger subscriptions_100_set_updated_at before update on public.subscriptions
  for each row execute function public.set_updated_at();
