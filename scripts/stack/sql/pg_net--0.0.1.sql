-- pg_net stand-in, installed as an extension named pg_net so that migrations say
-- `create extension if not exists pg_net` on both hosted Supabase and the local stack.
-- Same SQL surface as pg_net; scripts/stack/net-worker.ts plays its background worker.
\echo Use "CREATE EXTENSION pg_net" to load this file. \quit
-- pg_net stand-in: the same tables and functions as pg_net.
create schema if not exists net;
create table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null,
  url text not null,
  headers jsonb not null default '{}'::jsonb,
  body bytea,
  timeout_milliseconds integer not null
);
create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);
-- not in pg_net: the sweep looks answers up by request id (migration 1400 adds it where it may)
create index if not exists _http_response_id_idx on net._http_response (id);
-- Stand-in only: lets tests make the "network" drop requests (pg_net has no such switch).
create table if not exists net._stand_in_settings (
  id boolean primary key default true check (id),
  drop_rate numeric not null default 0 check (drop_rate between 0 and 1)
);
insert into net._stand_in_settings (id) values (true) on conflict do nothing;

-- url plus params as a query string, as pg_net builds it
create or replace function net._with_params(url text, params jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select url || coalesce(
    (case when position('?' in url) > 0 then '&' else '?' end)
      || (select string_agg(format('%s=%s', key, value), '&') from jsonb_each_text(params)),
    '')
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
  full_url text := net._with_params(url, params);
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('POST', full_url, coalesce(headers, '{}'::jsonb), convert_to(coalesce(body, '{}'::jsonb)::text, 'UTF8'), timeout_milliseconds)
  returning id into request_id;
  perform pg_notify('net_http_request', request_id::text);
  return request_id;
end
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
  full_url text := net._with_params(url, params);
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values ('GET', full_url, coalesce(headers, '{}'::jsonb), null, timeout_milliseconds)
  returning id into request_id;
  perform pg_notify('net_http_request', request_id::text);
  return request_id;
end
$$;
-- The grants hosted Supabase makes: pg_net (0.12+) gives its schema, tables and sequences to PUBLIC
-- (functions are PUBLIC's by default), and Supabase adds usage for its API roles. Migration 1400
-- takes them back; they are here so that it is tested against what it meets on hosted.
grant usage on schema net to public;
grant all on all tables in schema net to public;
grant all on all sequences in schema net to public;
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant usage on schema net to anon, authenticated, service_role;
  end if;
end
$$;

