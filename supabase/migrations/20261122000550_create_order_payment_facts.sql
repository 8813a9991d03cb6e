-- Order payment facts: every Checkout session of an order (Stripe's retry pattern makes several),
-- the operator's decisions on payments that need review, and the payment-intent columns that keep
-- charge and refund facts by recency. Adds tables and columns only; touches no data.

create table if not exists ops.checkout_sessions (
  stripe_checkout_session_id text primary key,
  -- the order the session names (metadata.order_id / client_reference_id), or the review order made
  -- for a paid session that names none; a session never changes its order
  order_id uuid references public.orders (id) on delete set null,
  stripe_payment_intent_id text,
  stripe_customer_id text,
  -- merged monotonically: open < complete < expired; unpaid < failed < paid
  status text check (status in ('open', 'complete', 'expired')),
  payment_status text check (payment_status in ('unpaid', 'failed', 'paid', 'no_payment_required')),
  -- what the buyer was asked before tax and discounts, and what was charged; as Stripe reports them
  amount_subtotal bigint,
  amount_total bigint,
  currency text,
  -- why the session's order needs a look (it names no order, or one that does not exist), and the
  -- buyer and listing such a review order gets
  claim_review text,
  review_buyer_id uuid,
  review_listing_id uuid,
  -- created time of the first event that reported it paid, and of the newest event applied
  paid_at timestamptz,
  stripe_event_created timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table ops.checkout_sessions is 'Stripe Checkout sessions in payment mode, several per order (an expired '
  'session and its replacement). Facts only grow; ops.recompute_order derives the order from all of them.';
create index if not exists checkout_sessions_order_idx on ops.checkout_sessions (order_id);
create index if not exists checkout_sessions_payment_intent_idx on ops.checkout_sessions (stripe_payment_intent_id);

create table if not exists ops.order_reviews (
  id bigint generated always as identity primary key,
  order_id uuid not null references public.orders (id) on delete cascade,
  -- the Checkout session or payment intent decided on; null for a flag set by hand
  payment_ref text,
  accepted boolean not null,
  reason text,
  note text not null check (length(trim(note)) > 0),
  decided_by text not null default current_user,
  decided_at timestamptz not null default now()
);
comment on table ops.order_reviews is 'Operators'' decisions on orders in review (ops.resolve_order_review): accept or '
  'refuse one payment of an order, with a note. Kept as the audit trail.';
create unique index if not exists order_reviews_payment_idx on ops.order_reviews (order_id, payment_ref)
  where payment_ref is not null;

-- latest_charge: a success names the charge that paid, and no failure displaces it; otherwise the
-- newest event's charge wins. amount_refunded: the charge's own total at amount_refunded_at, a
-- point in time, so the newest wins (not the largest).
alter table ops.payment_intents
  add column if not exists amount_received bigint,
  add column if not exists latest_charge_succeeded boolean not null default false,
  add column if not exists latest_charge_at timestamptz,
  add column if not exists amount_refunded_at timestamptz;
create index if not exists payment_intents_order_idx on ops.payment_intents (order_id);
comment on table ops.payment_intents is 'Facts about Stripe payment intents and their charges (succeeded, failed, '
  'canceled; the paying charge; the charge''s refunded total as of amount_refunded_at). Orders derive their status '
  'from them.';
