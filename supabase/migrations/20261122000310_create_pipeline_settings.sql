-- Pipeline settings a founder changes in Studio, one row: which Stripe mode and account this project
-- takes events from (ingest and every re-apply check them), and how long personal data stays in
-- the ledger and in captured provider calls (the daily purge). Creates the row; touches nothing else.
create table if not exists ops.settings (
  id boolean primary key default true check (id),
  -- live-mode events (true) or test-mode events (false); the webhook's STRIPE_LIVEMODE must agree
  stripe_livemode boolean not null default false,
  -- Connect: the platform account. Events naming another account (their "account" field) are
  -- ignored; when null, every event naming an account is (only the account's own events apply).
  -- The webhook's STRIPE_ACCOUNT_ID must agree.
  stripe_account_id text check (stripe_account_id ~ '^acct_[A-Za-z0-9]+$'),
  -- ledger payloads and captured provider calls older than this keep only ids, statuses, amounts
  personal_data_retention_days integer not null default 90 check (personal_data_retention_days >= 1),
  -- what a failed payment does for the customer: the billing email (default), a billing ticket, or both
  failed_payment_policy text not null default 'email' check (failed_payment_policy in ('email', 'ticket', 'both'))
);
comment on table ops.settings is 'Pipeline settings (one row): the Stripe mode and Connect account events must belong '
  'to, the retention of personal data in days, and what a failed payment does for the customer (email | ticket | '
  'both). Change with e.g. update ops.settings set stripe_livemode = true;';
insert into ops.settings (id) values (true) on conflict (id) do nothing;

-- The row, or a clear error when someone deleted it (nothing guesses a mode).
create or replace function ops.current_settings() returns ops.settings
language plpgsql stable
set search_path = ''
as $$
declare
  s ops.settings;
begin
  select * into s from ops.settings where id;
  if not found then
    raise exception 'ops.settings has no row: insert into ops.settings default values, then set the Stripe mode'
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  return s;
end
$$;
