-- The Stripe event ledger: every delivered event is recorded exactly once (event_id is the key),
-- with the outcome of applying it. A failed apply keeps the event for re-applying. Payloads hold
-- personal data: the daily purge reduces old ones to their ids, statuses and amounts (1100).
create table if not exists ops.stripe_events (
  event_id text primary key check (length(event_id) between 1 and 255),
  type text not null check (length(type) between 1 and 255),
  api_version text,
  livemode boolean not null default false,
  object_id text,
  event_created timestamptz not null,
  -- the event as delivered; after the retention period only its ids, statuses and amounts
  -- (ops.stripe_payload_skeleton), and payload_cleared_at says when
  payload jsonb not null,
  status text not null default 'received'
    check (status in ('received', 'processed', 'ignored', 'failed', 'dead')),
  attempts integer not null default 0,
  last_error text,
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  -- why an event was recorded without applying it: another mode or account than ops.settings names
  ignored_reason text,
  -- the raw body held \u0000 escapes (NUL, which jsonb cannot store), stored as \uFFFD
  sanitized boolean not null default false,
  -- how it reached us: the webhook, or reconciliation (Stripe's /v1/events listed it and the ledger
  -- lacked it: a delivery Stripe never made or gave up on)
  source text not null default 'webhook' check (source in ('webhook', 'reconciliation')),
  -- an operator has looked at an ignored or sanitized event (it leaves pipeline_exceptions)
  reviewed_at timestamptz,
  payload_cleared_at timestamptz
);
comment on table ops.stripe_events is 'Ledger of Stripe webhook events: one row per event_id, with the outcome of '
  'applying it (received | processed | ignored | failed | dead) and its source (webhook | reconciliation).';
create index if not exists stripe_events_status_idx on ops.stripe_events (status)
  where status in ('received', 'failed', 'dead');
create index if not exists stripe_events_object_idx on ops.stripe_events (object_id);
create index if not exists stripe_events_received_idx on ops.stripe_events (received_at);
-- what pipeline_exceptions lists from the ledger besides failures: rare, so a small partial index
create index if not exists stripe_events_attention_idx on ops.stripe_events (received_at)
  where (ignored_reason is not null or sanitized) and reviewed_at is null;
