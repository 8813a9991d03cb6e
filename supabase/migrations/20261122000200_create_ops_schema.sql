-- The ops schema holds pipeline internals (ledger, Stripe mirrors, state machines, outbox):
-- never exposed through the API, not reachable by anon or authenticated.
-- Also creates the stripe_webhook role: NOLOGIN here; the deployment gives it a password.
create schema if not exists ops;
comment on schema ops is 'Pipeline internals: Stripe event ledger, Stripe object mirrors, state machines, outbox. Not exposed through the API.';
revoke all on schema ops from public, anon, authenticated;
grant usage on schema ops to service_role;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'stripe_webhook') then
    -- The webhook function's login role: it may only call ops.ingest_stripe_event.
    create role stripe_webhook nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to stripe_webhook;
