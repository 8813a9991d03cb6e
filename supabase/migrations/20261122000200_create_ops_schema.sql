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

-- ---------------------------------------------------------------- registries
-- A feature registers itself in a row naming its function (an alert rule's check, a reconciliation
-- finding kind's verdicts, a retention policy's purge) instead of a central function knowing every
-- feature. The row holds the function's signature as text ('ops.f(jsonb)'), not as regprocedure:
-- pg_upgrade refuses tables with reg* columns holding OIDs (Supabase's advisors flag them), and a
-- name outlives a dropped function with a clear error. A row naming no function, or one of the
-- wrong shape, is refused when written (a typo in Studio is an error there, not a failing caller).

-- A function's shape: its argument types and what it returns, out parameters by name and type
-- ("(jsonb) returns setof object_id text, problem boolean"); null for no such function.
create or replace function ops.function_shape(p_fn regprocedure) returns text
language sql stable
set search_path = ''
as $$
  select format('(%s) returns %s%s', pg_catalog.oidvectortypes(p.proargtypes),
                case when p.proretset then 'setof ' end,
                coalesce((select string_agg(a.name || ' ' || pg_catalog.format_type(a.type, null), ', ' order by a.i)
                            from unnest(p.proallargtypes, p.proargnames, p.proargmodes)
                                 with ordinality as a(type, name, mode, i)
                           where a.mode in ('o', 'b', 't')),
                         pg_catalog.format_type(p.prorettype, null)))
    from pg_catalog.pg_proc p
   where p.oid = p_fn
$$;

-- p_fn's signature, written the one way (what a registry row stores), or an error unless it names a
-- function of schema ops (where only migrations create functions: callers run it as the owner, from
-- pg_cron) with p_shape.
create or replace function ops.require_function_shape(p_fn text, p_shape text, p_what text) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  fn regprocedure := pg_catalog.to_regprocedure(p_fn);
  fn_shape text := ops.function_shape(fn);
begin
  if fn_shape is null or fn_shape <> p_shape
     or (select p.pronamespace from pg_catalog.pg_proc p where p.oid = fn) <> 'ops'::regnamespace then
    raise exception '% must be a function of schema ops shaped %', p_what, p_shape
      using errcode = 'invalid_parameter_value',
            detail = format('%s is %s', p_fn, coalesce(fn_shape, 'no function')),
            hint = 'Name a function of that shape by schema, name and argument types (ops.f(jsonb)), '
                   'or create it first.';
  end if;
  return fn::text;
end
$$;

-- The name a registered function is called by (ops.f), or an error naming the row's function when it
-- was dropped since.
create or replace function ops.registered_function(p_fn text, p_what text) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  fn regprocedure := pg_catalog.to_regprocedure(p_fn);
begin
  if fn is null then
    raise exception '% names function %, which no longer exists', p_what, p_fn using errcode = 'undefined_function';
  end if;
  return fn::regproc::text;
end
$$;
