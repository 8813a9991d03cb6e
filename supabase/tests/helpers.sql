-- Helpers shared by the pgTAP files in supabase/tests/database, in one `tests` schema (as
-- supabase-test-helpers' tests.create_supabase_user / tests.authenticate_as), instead of a copy per file.
-- Not a migration: a deployed project has no tests schema. npm test (scripts/test.ts) installs it before
-- pg_prove; to run a file alone:
--   psql "$DB_URL" -v ON_ERROR_STOP=1 -f supabase/tests/helpers.sql
--   pg_prove -d "$DB_URL" --ext .sql supabase/tests/database/04-job-engine.test.sql
-- Safe to run again: every object is created or replaced.
create schema if not exists tests;
comment on schema tests is 'pgTAP helpers (supabase/tests/helpers.sql): test databases only';
-- the files act as these roles and call the helpers while they do
grant usage on schema tests to anon, authenticated, service_role;
-- postgres is not a superuser (as on hosted): the files act as the functions' login roles, which postgres
-- created (CREATEROLE) but, on PostgreSQL 15, is not a member of
grant stripe_webhook, pipeline_worker, support_intake, provider_webhook, reconciler, dashboard to postgres;

-- Set-up steps are procedures: a call prints nothing into the TAP stream.

-- A user as GoTrue signs one up: its triggers make the profile, and a lead customer once the email is
-- confirmed (and the user is not anonymous).
create or replace procedure tests.create_user(
  p_id uuid,
  p_email text,
  p_confirmed boolean default true,
  p_app_metadata jsonb default '{}',
  p_user_metadata jsonb default '{}',
  p_is_anonymous boolean default false
)
language sql
set search_path = ''
as $$
  insert into auth.users (id, email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_anonymous)
  values (p_id, p_email, case when p_confirmed then now() end, p_app_metadata, p_user_metadata, p_is_anonymous)
$$;

-- Acts as the user for the rest of the transaction, as PostgREST does with their access token: role
-- authenticated, and request.jwt.claims as GoTrue issues them (sub, role, aud, the user's app_metadata
-- when the user exists), merged with p_claims (an email, user_metadata, is_anonymous, another
-- app_metadata). p_via is the login the request came through (session_user): null keeps the file's
-- own (postgres, as Studio), `authenticator` is the Data API (PostgREST), `support_intake` and
-- `dashboard` are those functions' logins. The role it sets outlives the call: a function's SET clause
-- restores only its own settings (search_path here), and the role is set with is_local, for the
-- transaction. After a call with p_via, `reset session authorization` (not just `reset role`) acts as
-- the file's own login again.
drop procedure if exists tests.authenticate_as(uuid, jsonb);
create or replace procedure tests.authenticate_as(p_user uuid, p_claims jsonb default '{}', p_via text default null)
language plpgsql
set search_path = ''
as $$
begin
  -- as the file's own login first (it reads auth.users), whoever the file acted as before
  reset session authorization;
  perform pg_catalog.set_config('request.jwt.claims', (
    pg_catalog.jsonb_build_object('sub', p_user, 'role', 'authenticated', 'aud', 'authenticated')
    || coalesce((select pg_catalog.jsonb_build_object('app_metadata', u.raw_app_meta_data)
                   from auth.users u where u.id = p_user), '{}')
    || p_claims)::text, true);
  if p_via is not null then
    perform pg_catalog.set_config('session_authorization', p_via, true);
  end if;
  perform pg_catalog.set_config('role', 'authenticated', true);
end
$$;

-- Acts as the anon key for the rest of the transaction.
create or replace procedure tests.authenticate_as_anon()
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.set_config('request.jwt.claims', '{"role": "anon"}', true);
  perform pg_catalog.set_config('role', 'anon', true);
end
$$;

-- A Stripe event around a data.object, as Stripe sends it (an account only when given).
create or replace function tests.stripe_event(
  p_id text,
  p_type text,
  p_created bigint,
  p_object jsonb,
  p_livemode boolean default false,
  p_account text default null
) returns jsonb
language sql immutable
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object('id', p_id, 'object', 'event', 'type', p_type, 'created', p_created,
                                       'api_version', '2025-03-31.basil', 'livemode', p_livemode,
                                       'data', pg_catalog.jsonb_build_object('object', p_object))
         || case when p_account is not null then pg_catalog.jsonb_build_object('account', p_account) else '{}' end
$$;

-- The rows a query returns, as a JSON array, or {"error": "<sqlstate>: <message>"}: one failing
-- statement shows its error in the assertion instead of aborting the file. The query runs with an
-- empty search_path: name schemas (public.orders).
create or replace function tests.rows_or_error(p_query text) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  r jsonb;
begin
  execute pg_catalog.format('select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), ''[]'') from (%s) x', p_query) into r;
  return r;
exception when others then
  return pg_catalog.jsonb_build_object('error', sqlstate || ': ' || sqlerrm);
end
$$;

-- How many rows a statement touched (RLS hides rows instead of refusing), as text, or
-- '<sqlstate>: <message>' when it failed; the same purpose as tests.rows_or_error, for writes.
create or replace function tests.row_count_or_error(p_statement text) returns text
language plpgsql
set search_path = ''
as $$
declare
  n bigint;
begin
  execute p_statement;
  get diagnostics n = row_count;
  return n::text;
exception when others then
  return sqlstate || ': ' || sqlerrm;
end
$$;

-- Every text, varchar, json or jsonb column (and array of them) of every table in our schemas, auth and net whose
-- value holds p_needle (case-insensitive), as schema.table.column with the number of rows: generic, so a table
-- added later cannot hide personal data from the erasure tests.
create or replace function tests.columns_holding(p_needle text)
returns table (col text, n bigint)
language plpgsql
set search_path = ''
as $$
declare
  c record;
  pattern text := '%' || replace(replace(replace(p_needle, '\', '\\'), '%', '\%'), '_', '\_') || '%';
begin
  for c in
    select ns.nspname, cl.relname, a.attname
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_class cl on cl.oid = a.attrelid
      join pg_catalog.pg_namespace ns on ns.oid = cl.relnamespace
      join pg_catalog.pg_type t on t.oid = a.atttypid
     where cl.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
       and ns.nspname in ('public', 'ops', 'private', 'auth', 'net', 'vault', 'cron', 'storage')
       and (t.typcategory = 'S' or t.typname in ('json', 'jsonb', '_text', '_varchar', '_json', '_jsonb'))
  loop
    execute pg_catalog.format('select count(*) from %I.%I where %I::text ilike $1', c.nspname, c.relname, c.attname)
      into n using pattern;
    if n > 0 then
      col := c.nspname || '.' || c.relname || '.' || c.attname;
      return next;
    end if;
  end loop;
end
$$;

-- new functions are executable by nobody by default (migration 0200): grant these by name
grant execute on all routines in schema tests to anon, authenticated, service_role;
