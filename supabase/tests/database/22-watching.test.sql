-- pgTAP runs as supabase_admin: it acts as the health login (set session authorization)
-- Watching from outside (#19, migrations 20261207004200 and 4210): pg_cron's alert job evaluates, then pings the
-- vault's heartbeat_url through pg_net (no URL: no ping, nothing fails; an evaluator that raises: no ping), and the
-- health login's one door, ops.health_snapshot(), answers counts and ages only. One transaction: the stack's pg_net
-- never sends the requests queued here.
begin;
-- pg_cron's evaluator (every minute) takes this lock, then writes rows this file's transaction may hold: take it
-- first, so the evaluator waits for this transaction instead of deadlocking with it
select pg_advisory_xact_lock(hashtextextended('ops.evaluate_alerts', 0));
set search_path = public, extensions;
select plan(16);

create function pg_temp.pings() returns bigint
language sql stable as $$
  select count(*) from net.http_request_queue where url = 'http://127.0.0.1:9/pgtap-heartbeat'
$$;

-- ---------------------------------------------------------------- the cron job
select results_eq($$ select command, schedule, active from cron.job where jobname = 'ops-evaluate-alerts' $$,
  $$ values ('select ops.run_alert_evaluation()'::text, '* * * * *'::text, true) $$,
  'pg_cron runs the evaluation and its heartbeat every minute');

-- ---------------------------------------------------------------- no heartbeat_url: no ping, nothing fails
delete from vault.secrets where name = 'heartbeat_url';
select is(ops.ping_heartbeat(), null, 'without a heartbeat_url there is no ping');
select cmp_ok(ops.run_alert_evaluation(), '>', 0, 'without a heartbeat_url the evaluation runs all the same');
select is(pg_temp.pings(), 0::bigint, 'and nothing is queued in pg_net');
select vault.create_secret('  ', 'heartbeat_url', 'pgtap: blank');
select is(ops.ping_heartbeat(), null, 'a blank heartbeat_url is no URL either');
delete from vault.secrets where name = 'heartbeat_url';

-- ---------------------------------------------------------------- heartbeat_url set: one GET per evaluation
select vault.create_secret('http://127.0.0.1:9/pgtap-heartbeat', 'heartbeat_url', 'pgtap');
select cmp_ok(ops.run_alert_evaluation(), '>', 0, 'the evaluation runs');
select results_eq($$ select method::text, count(*) from net.http_request_queue
                     where url = 'http://127.0.0.1:9/pgtap-heartbeat' group by method $$,
  $$ values ('GET'::text, 1::bigint) $$, 'and queues one GET of the heartbeat_url');
select ops.run_alert_evaluation();
select is(pg_temp.pings(), 2::bigint, 'each evaluation pings once');

-- ---------------------------------------------------------------- the evaluator fails: no ping
alter function ops.evaluate_alerts(timestamptz) rename to evaluate_alerts_pgtap_off;
select throws_ok($$ select ops.run_alert_evaluation() $$, '42883', null,
  'an evaluator that raises fails the cron run (cron.job_run_details shows it)');
select is(pg_temp.pings(), 2::bigint, 'and no ping goes out: the outside service alerts');
alter function ops.evaluate_alerts_pgtap_off(timestamptz) rename to evaluate_alerts;

-- ---------------------------------------------------------------- who may call what
select ok(not has_function_privilege('anon', 'ops.ping_heartbeat()', 'execute')
          and not has_function_privilege('authenticated', 'ops.ping_heartbeat()', 'execute')
          and not has_function_privilege('service_role', 'ops.ping_heartbeat()', 'execute')
          and not has_function_privilege('health', 'ops.ping_heartbeat()', 'execute'),
  'no API role nor the health login may ping (the URL is the heartbeat''s credential)');
select set_eq($$ select p.proname::text from pg_proc p
                  where p.pronamespace in ('ops'::regnamespace, 'public'::regnamespace)
                    and has_function_privilege('health', p.oid, 'execute') $$,
  array['health_snapshot'], 'the health login executes its one door, nothing else in ops or public');
select ok(not pg_has_role('health', 'authenticated', 'member')
          and not exists (select 1 from pg_class c where c.relnamespace in ('ops'::regnamespace, 'public'::regnamespace)
                             and has_table_privilege('health', c.oid, 'select, insert, update, delete')),
  'health is no member of authenticated and has no table privilege');
select ok(not has_function_privilege('anon', 'ops.health_snapshot()', 'execute')
          and not has_function_privilege('authenticated', 'ops.health_snapshot()', 'execute'),
  'the API roles cannot call the health door');

-- ---------------------------------------------------------------- the snapshot: aggregates only
delete from ops.jobs where status = 'dead';
insert into ops.jobs (kind, dedupe_key, max_attempts, status, attempts, run_at)
values ((select kind from ops.job_kinds limit 1), 'pgtap:22:dead', 1, 'dead', 1, now());
-- acting as the health login (pgTAP lives in extensions: opened to it for this transaction)
grant usage on schema extensions to health;
set local session authorization health;
create temp table snap as select ops.health_snapshot() as s;
reset session authorization;
select is((select (s ->> 'dead_jobs')::int from snap), 1, 'the health login sees the dead job counted');
select is_empty($$ select key from snap, jsonb_each(s) where jsonb_typeof(value) not in ('number', 'boolean', 'null') $$,
  'the snapshot holds numbers and booleans only: no id, no name, no email');

select * from finish();
rollback;
