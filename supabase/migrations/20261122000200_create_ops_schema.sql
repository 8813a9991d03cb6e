-- The ops schema holds pipeline internals (ledger, Stripe mirrors, state machines, outbox):
-- never exposed through the API, not reachable by anon or authenticated. Also creates the
-- stripe_webhook role (NOLOGIN here; the deployment gives it a password), and takes the default
-- execute on new functions away from public, anon and authenticated: migrations grant by name.
create schema if not exists ops;
comment on schema ops is 'Pipeline internals: Stripe event ledger, Stripe object mirrors, state machines, outbox. Not '
  'exposed through the API.';
revoke all on schema ops from public, anon, authenticated;
grant usage on schema ops to service_role;

-- Postgres lets public execute every new function, and Supabase grants the API roles everything
-- new in public: revoked once here instead of after every function (service_role keeps its
-- default in public). The first form is global because a per-schema revoke cannot undo a global
-- default; both cover the functions of whoever runs the migrations (postgres on hosted Supabase).
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'stripe_webhook') then
    -- The webhook function's login role: it may only call ops.ingest_stripe_event.
    create role stripe_webhook nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to stripe_webhook;
