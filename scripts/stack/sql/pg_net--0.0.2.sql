-- pg_net stand-in for a clone without pg_net's source (../shared/vendor/pg_net): the real extension's
-- SQL surface (0.20), with scripts/stack/net-worker.ts playing its background worker in C. Closes the
-- differences that bite: an UNLOGGED queue without an index, the method domain, http_post refusing a
-- Content-Type other than application/json and sending no body for a NULL body, URL-encoded params,
-- http_delete, net.wake(), an answers table indexed on `created` only. The stack creates it as
-- `version '0.0.2'` (pg_net.control still says 0.0.1, the stand-in of older checkouts on this machine).
\echo Use "CREATE EXTENSION pg_net VERSION '0.0.2'" to load this file. \quit

create schema if not exists net;

create domain net.http_method as text
check (
  value ilike 'get'
  or value ilike 'post'
  or value ilike 'delete'
);

create unlogged table net.http_request_queue(
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds int not null
);

create unlogged table net._http_response(
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out bool,
  error_msg text,
  created timestamptz not null default now()
);
create index on net._http_response (created);

-- Stand-in only: lets tests make the "network" drop requests (pg_net has no such switch).
create table net._stand_in_settings (
  id boolean primary key default true check (id),
  drop_rate numeric not null default 0 check (drop_rate between 0 and 1)
);
insert into net._stand_in_settings (id) values (true);

-- the worker's session names itself 'pg_net stand-in' (the real one is a background worker)
create or replace function net.check_worker_is_up() returns void as $$
begin
  if not exists (select pid from pg_stat_activity where application_name = 'pg_net stand-in') then
    raise exception using
      message = 'the pg_net background worker is not up'
    , detail  = 'the pg_net background worker is down due to an internal error and cannot process requests'
    , hint    = 'make sure that you didn''t modify any of pg_net internal tables';
  end if;
end
$$ language plpgsql;

-- curl_easy_escape: every byte but A-Z a-z 0-9 - . _ ~ as %XX
create or replace function net._urlencode_string(string varchar) returns text
language sql immutable
as $$
  select string_agg(
           case when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
                then chr(b) else '%' || upper(lpad(to_hex(b), 2, '0')) end, '' order by i)
    from (select i, get_byte(convert_to(string, 'UTF8'), i) as b
            from generate_series(0, octet_length(convert_to(string, 'UTF8')) - 1) i) bytes
$$;

-- curl's URL API with CURLU_APPENDQUERY: each param appended to the query, '?' first, then '&', its
-- escapes in lowercase hex as curl leaves them ("%2F" becomes "%2f")
create or replace function net._encode_url_with_params_array(url text, params_array text[]) returns text
language sql immutable
as $$
  select case when cardinality(params_array) = 0 then url
              else url || case when position('?' in url) > 0 then '&' else '?' end
                   || (select string_agg(case when i = 1 then part else lower(left(part, 2)) || substr(part, 3) end, '%'
                                         order by i)
                         from unnest(string_to_array(array_to_string(params_array, '&'), '%')) with ordinality t(part, i))
         end
$$;

create or replace function net.worker_restart() returns bool language sql as $$ select true $$;
create or replace function net.wait_until_running() returns void language sql as $$ select $$;
-- pg_net wakes its worker at commit; a notification is delivered at commit too
create or replace function net.wake() returns void language sql as $$ select pg_notify('net_http_request', '') $$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);
  insert into net.http_request_queue(method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, params_array), headers, timeout_milliseconds)
  returning id into request_id;
  perform net.wake();
  return request_id;
end
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds int default 5000
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
  content_type text;
begin
  select header_value into content_type
    from jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
   where lower(header_name) = 'content-type'
   limit 1;
  if content_type is null then
    select headers || '{"Content-Type": "application/json"}'::jsonb into headers;
  end if;
  if content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);
  insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
  values ('POST', net._encode_url_with_params_array(url, params_array), headers, convert_to(body::text, 'UTF8'),
          timeout_milliseconds)
  returning id into request_id;
  perform net.wake();
  return request_id;
end
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds int default 5000,
  body jsonb default null
)
  returns bigint
  language plpgsql
as $$
declare
  request_id bigint;
  params_array text[];
begin
  select coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
    into params_array
    from jsonb_each_text(params);
  insert into net.http_request_queue(method, url, headers, body, timeout_milliseconds)
  values ('DELETE', net._encode_url_with_params_array(url, params_array), headers, convert_to(body::text, 'UTF8'),
          timeout_milliseconds)
  returning id into request_id;
  perform net.wake();
  return request_id;
end
$$;

-- pg_net's grants (0.12+): its schema, tables and sequences to PUBLIC (functions are PUBLIC's by
-- default). Hosted Supabase's event trigger (compat.sql: extensions.grant_pg_net_access) then narrows
-- http_get / http_post to its API roles and postgres, as security definer.
grant usage on schema net to PUBLIC;
grant all on all sequences in schema net to PUBLIC;
grant all on all tables in schema net to PUBLIC;
