-- pg_net's tables hold every dispatch request with its Authorization header until it is sent, and
-- the workers' answers; hosted pg_net (0.12+) grants them, its sequences and functions to PUBLIC.
-- Revokes all of it from PUBLIC, the API roles and our login roles (the owner keeps everything), and
-- indexes net._http_response by id for the sweep's diagnosis. Where pg_net belongs to another role
-- (hosted: supabase_admin), what this role may not change is a warning, not a failed `db push`.
do $$
begin
  create index if not exists _http_response_id_idx on net._http_response (id);
exception when insufficient_privilege then
  raise warning 'net._http_response is not ours to index (%): the sweep''s lookup of answers by id stays a scan',
    sqlerrm;
end
$$;

do $$
declare
  target text;
  remaining text;
begin
  for target in
    select format('table %s', c.oid::regclass) from pg_class c
     where c.relnamespace = 'net'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
    union all
    select format('sequence %s', c.oid::regclass) from pg_class c
     where c.relnamespace = 'net'::regnamespace and c.relkind = 'S'
    union all
    select format('routine %s', p.oid::regprocedure) from pg_proc p where p.pronamespace = 'net'::regnamespace
    union all
    select 'schema net'
  loop
    begin
      execute format('revoke all on %s from public, anon, authenticated, service_role, stripe_webhook, pipeline_worker',
                     target);
    exception when insufficient_privilege then
      raise warning 'cannot revoke access to pg_net''s % (%)', target, sqlerrm;
    end;
  end loop;
  -- what another owner's grants still allow: said once, plainly, for the operator
  select string_agg(distinct r.rolname || ' on ' || o.what, ', ') into remaining
    from (values ('public'), ('anon'), ('authenticated'), ('service_role'), ('stripe_webhook'),
          ('pipeline_worker')) as r(rolname)
    cross join lateral (
      select c.oid::regclass::text as what from pg_class c
       where c.relnamespace = 'net'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
         and has_table_privilege(r.rolname, c.oid, 'select, insert, update, delete, truncate, references, trigger')
      union all
      select p.oid::regprocedure::text from pg_proc p
       where p.pronamespace = 'net'::regnamespace and has_function_privilege(r.rolname, p.oid, 'execute')
    ) o;
  if remaining is not null then
    raise warning 'pg_net still grants: % (its owner granted them; dispatches carry only the worker secret, which can '
                  'run jobs and nothing else)', remaining;
  end if;
end
$$;
