-- pg_net as hosted Supabase leaves it, after migration 1400 ran as postgres (not a superuser, not its
-- owner): what is true, not what 1400 wishes. pg_net belongs to supabase_admin, which granted its
-- tables and sequences to PUBLIC; the pg_net event trigger gave http_get / http_post (security definer)
-- to postgres and the API roles. 1400 can take none of it back, nor index the answers, so: every role
-- can read the queued dispatches with their Authorization header: so that header carries a proof for
-- one job and one function, never the worker secret (pgTAP 17), and the sweep reads the answers by
-- pg_net's own index on created (migration 2001).
begin;
set search_path = public, extensions;
select plan(17);

create temp table untrusted (rolname text primary key);
insert into untrusted values ('public'), ('anon'), ('authenticated'), ('service_role'), ('stripe_webhook'), ('pipeline_worker');

-- ---------------------------------------------------------------- which pg_net, whose
select ok((select extversion from pg_extension where extname = 'pg_net') is not null,
  format('pg_net %s runs: %s', (select extversion from pg_extension where extname = 'pg_net'),
         case when (select extversion from pg_extension where extname = 'pg_net') = '0.0.2'
              then 'the stand-in (scripts/stack/net-worker.ts)' else 'the real extension' end));
select is((select r.rolname::text from pg_extension e join pg_roles r on r.oid = e.extowner where e.extname = 'pg_net'),
  'supabase_admin', 'pg_net belongs to supabase_admin, as on hosted');
select is((select rolsuper from pg_roles where rolname = current_user), false,
  'these tests, like the migrations, run as postgres, which is not a superuser');
select is_empty(
  $$ select c.relname from pg_class c where c.relnamespace = 'net'::regnamespace and c.relowner = 'postgres'::regrole $$,
  'postgres owns nothing in net');

-- ---------------------------------------------------------------- what PUBLIC's grants leave open
select results_eq(
  $$ select u.rolname from untrusted u where has_table_privilege(u.rolname, 'net.http_request_queue', 'select')
      order by 1 $$,
  $$ select rolname from untrusted order by 1 $$,
  'every API and login role can read net.http_request_queue (PUBLIC''s grant by its owner; 1400 cannot revoke it)');
select results_eq(
  $$ select u.rolname from untrusted u where has_table_privilege(u.rolname, 'net._http_response', 'select, delete')
      order by 1 $$,
  $$ select rolname from untrusted order by 1 $$,
  'and read or delete the answers in net._http_response');
select results_eq(
  $$ select u.rolname from untrusted u
      where has_function_privilege(u.rolname, 'net.http_post(text, jsonb, jsonb, jsonb, integer)', 'execute')
      order by 1 $$,
  $$ values ('anon'), ('authenticated'), ('service_role') $$,
  'the API roles may call net.http_post (the pg_net event trigger grants it), our login roles may not');
select ok((select prosecdef from pg_proc where oid = 'net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure),
  'net.http_post runs as its owner (security definer), as the event trigger sets it');

-- ---------------------------------------------------------------- as each role
grant usage on schema extensions to stripe_webhook, pipeline_worker; -- pgTAP, for this transaction only
create function pg_temp.allowed() returns setof text
language plpgsql as $$
declare
  stmt text;
begin
  foreach stmt in array array[
    'select headers from net.http_request_queue',
    'select content from net._http_response',
    $q$select net.http_post('http://127.0.0.1:9/attacker', '{}'::jsonb)$q$
  ] loop
    begin
      execute stmt;
      return next stmt;
    exception when insufficient_privilege then
      null;
    end;
  end loop;
end
$$;
grant execute on function pg_temp.allowed() to anon, authenticated, service_role, stripe_webhook, pipeline_worker;
set local role anon;
select is(array(select * from pg_temp.allowed()), array['select headers from net.http_request_queue',
  'select content from net._http_response', $q$select net.http_post('http://127.0.0.1:9/attacker', '{}'::jsonb)$q$],
  'anon can read dispatch requests and answers, and send a request (PostgREST does not expose net; SQL does)');
reset role;
set local role stripe_webhook;
select is(array(select * from pg_temp.allowed()), array['select headers from net.http_request_queue',
  'select content from net._http_response'],
  'stripe_webhook can read dispatch requests and answers, and cannot send a request');
reset role;
set local role pipeline_worker;
select is(array(select * from pg_temp.allowed()), array['select headers from net.http_request_queue',
  'select content from net._http_response'],
  'pipeline_worker can read dispatch requests and answers, and cannot send a request');
reset role;

-- the dispatcher works: ops.dispatch_job runs as its owner
insert into ops.job_kinds (kind, function_name) values ('pgtap.net', 'pgtap-net');
select ok((select ops.dispatch_job(ops.enqueue_job('pgtap.net', '{}', 'pgtap:net', interval '1 hour'))) is not null,
  'ops.dispatch_job queues its request');
select ok(strpos((select headers ->> 'Authorization' from net.http_request_queue order by id desc limit 1),
            (select decrypted_secret from vault.decrypted_secrets where name = 'worker_secret')) = 0,
  'carrying a proof, not the worker secret (pgTAP 17: whoever may read the queue finds no secret there)');
set local role stripe_webhook;
select is((select count(*)::int from net.http_request_queue where headers ->> 'Authorization' like 'Bearer v1.%'), 1,
  'stripe_webhook, for one, sees the header there: a proof for one job of one function, valid 10 minutes');
reset role;

-- ---------------------------------------------------------------- the answers' index
select hasnt_index('net', '_http_response', '_http_response_id_idx',
  'net._http_response has no index by id: migration 1400 may not create one on another role''s table');
select is(array(select indexdef from pg_indexes where schemaname = 'net' and tablename = '_http_response'),
  array['CREATE INDEX _http_response_created_idx ON net._http_response USING btree (created)'],
  'pg_net indexes its answers by created only');
select ok((select relpersistence from pg_class where oid = 'net.http_request_queue'::regclass) = 'u'
          and not exists (select 1 from pg_index where indrelid = 'net.http_request_queue'::regclass),
  'its queue is UNLOGGED and has no index');

select * from finish();
rollback;
