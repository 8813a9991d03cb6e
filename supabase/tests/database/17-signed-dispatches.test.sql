-- Dispatches keep the worker secret (#17, migration 20261207002000): what waits in pg_net's queue is a proof,
-- HMAC-SHA256(worker secret, 'v1.<function>.<job>.<expiry>'), never the secret, whoever may read the queue;
-- the proof binds its job, its function and its expiry. The sweep finds answers in a window on `created`,
-- with no index of its own on net._http_response. Asserted through what any role may see of the rows,
-- not through pg_net's grants: on hosted its owner is supabase_admin and the API roles may read them.
-- One transaction: the stack's net worker never sees (so never sends) the requests queued here.
begin;
set search_path = public, extensions;
select plan(21);

delete from ops.jobs;
delete from ops.job_drains;
insert into ops.job_kinds (kind, function_name) values ('pgtap.signed', 'pgtap-signed'), ('pgtap.other', 'pgtap-other');

create function pg_temp.secret() returns text
language sql stable as $$ select decrypted_secret from vault.decrypted_secrets where name = 'worker_secret' $$;
-- the Authorization header of a job's newest request in pg_net's queue
create function pg_temp.auth(p_job bigint) returns text
language sql stable as $$
  select headers ->> 'Authorization' from net.http_request_queue
   where convert_from(body, 'UTF8')::jsonb = jsonb_build_object('job_id', p_job) order by id desc limit 1
$$;
-- the MAC a proof must carry, computed here with pgcrypto (not through ops.dispatch_proof)
create function pg_temp.mac(p_secret text, p_function text, p_job bigint, p_exp bigint) returns text
language sql immutable as $$
  select encode(extensions.hmac(format('v1.%s.%s.%s', p_function, p_job, p_exp), p_secret, 'sha256'), 'hex')
$$;
create temp table sent (name text primary key, job bigint, token text, job_in_proof bigint, exp bigint, mac text);
create procedure pg_temp.remember(p_name text, p_job bigint)
language sql as $$
  insert into sent
  select p_name, p_job, t, split_part(t, '.', 2)::bigint, split_part(t, '.', 3)::bigint, split_part(t, '.', 4)
    from (select substr(pg_temp.auth(p_job), 8) as t) x
$$;

-- ---------------------------------------------------------------- what the queue holds
select has_function('extensions', 'hmac', array['text', 'text', 'text'], 'pgcrypto''s hmac() is in the extensions schema');
select ok(pg_temp.secret() is not null and length(pg_temp.secret()) >= 16, 'the vault holds a worker secret');

call pg_temp.remember('a', ops.enqueue_job('pgtap.signed', '{}', 'pgtap:signed:a'));
call pg_temp.remember('b', ops.enqueue_job('pgtap.signed', '{}', 'pgtap:signed:b'));
select is((select count(*)::int from sent where token is not null), 2, 'both jobs were dispatched at insert');
select ok((select bool_and(token ~ ('^v1\.' || job || '\.[0-9]{10,}\.[0-9a-f]{64}$')) from sent),
  'a dispatch''s bearer token is a proof: v1.<its job id>.<expiry>.<64 hex digits>');
select is_empty(
  $$ select q.id from net.http_request_queue q
      where strpos(to_jsonb(q)::text, pg_temp.secret()) > 0
         or strpos(coalesce(convert_from(q.body, 'UTF8'), ''), pg_temp.secret()) > 0 $$,
  'no request in pg_net''s queue carries the worker secret, in its headers, url or body');
select ok((select bool_and(mac = pg_temp.mac(pg_temp.secret(), 'pgtap-signed', job, exp)) from sent),
  'the proof is HMAC-SHA256(worker secret, ''v1.<function>.<job>.<expiry>'')');
select ok((select bool_and(exp between extract(epoch from now() + interval '10 minutes')::bigint
                                   and extract(epoch from clock_timestamp() + interval '10 minutes')::bigint + 1)
             from sent),
  'and it expires 10 minutes after the dispatch');

-- ---------------------------------------------------------------- what a proof is good for
select isnt((select mac from sent where name = 'a'),
            pg_temp.mac(pg_temp.secret(), 'pgtap-signed', (select job from sent where name = 'b'), (select exp from sent where name = 'a')),
  'a proof for job A is not a proof for job B: the MAC covers the job id');
select isnt((select mac from sent where name = 'a'),
            pg_temp.mac(pg_temp.secret(), 'pgtap-other', (select job from sent where name = 'a'), (select exp from sent where name = 'a')),
  'nor for the same job id at another function');
select isnt((select mac from sent where name = 'a'),
            pg_temp.mac(pg_temp.secret(), 'pgtap-signed', (select job from sent where name = 'a'), (select exp + 3600 from sent where name = 'a')),
  'nor for a later expiry: an expired proof cannot be renewed without the secret');
select isnt((select mac from sent where name = 'a'),
            pg_temp.mac('another-secret-of-the-same-length-' || pg_temp.secret(), 'pgtap-signed',
                        (select job from sent where name = 'a'), (select exp from sent where name = 'a')),
  'and a proof made with another key differs (workers try each WORKER_SECRET during a rotation)');
select is(ops.dispatch_proof(pg_temp.secret(), 'pgtap-signed', (select job from sent where name = 'a'), (select exp from sent where name = 'a')),
  (select token from sent where name = 'a'), 'ops.dispatch_proof makes the same proof again from its parts');
select ok(not has_function_privilege('anon', 'ops.dispatch_proof(text, text, bigint, bigint)', 'execute')
          and not has_function_privilege('authenticated', 'ops.dispatch_proof(text, text, bigint, bigint)', 'execute')
          and not has_function_privilege('pipeline_worker', 'ops.dispatch_proof(text, text, bigint, bigint)', 'execute'),
  'ops.dispatch_proof is executable by no API or worker role');

-- every path that dispatches signs: the sweep, a drainer's hand-on, a replay
update ops.jobs set last_dispatched_at = now() - interval '1 minute' where id = (select job from sent where name = 'a');
select ok(ops.sweep_jobs() >= 1, 'the sweep re-dispatches a job whose dispatch led nowhere');
insert into ops.job_drains (kind, held_until) values ('pgtap.other', now() + interval '1 hour');
insert into sent (name, job) values ('drained', ops.enqueue_job('pgtap.other', '{}', 'pgtap:signed:drained'));
delete from ops.job_drains;
select is(ops.dispatch_due_job(array['pgtap.other']), (select job from sent where name = 'drained'),
  'a drainer out of budget hands its due job on');
select ok(ops.replay_job((select job from sent where name = 'b')), 'a replay dispatches again');
select is_empty(
  $$ select q.id from net.http_request_queue q
      where strpos(to_jsonb(q)::text, pg_temp.secret()) > 0
         or q.headers ->> 'Authorization' !~ '^Bearer v1\.[0-9]+\.[0-9]+\.[0-9a-f]{64}$' $$,
  'each of their requests carries a proof, and none the worker secret');

-- ---------------------------------------------------------------- the sweep reads answers by `created`
-- the id index migration 1400 made where it could (hosted: it could not) is gone for this transaction
do $$
begin
  drop index if exists net._http_response_id_idx;
exception when insufficient_privilege then
  raise notice 'net._http_response_id_idx is not ours to drop: the assertions below hold either way';
end
$$;
delete from ops.jobs;
insert into sent (name, job) values
  ('refused', ops.enqueue_job('pgtap.signed', '{}', 'pgtap:signed:refused', interval '1 hour')),
  ('reused', ops.enqueue_job('pgtap.signed', '{}', 'pgtap:signed:reused', interval '1 hour'));
update ops.jobs set run_at = now() - interval '1 hour', unclaimed_dispatches = 1, dispatch_count = 1,
                    last_dispatched_at = now() - interval '2 minutes', last_request_id = -id
 where id in (select job from sent where name in ('refused', 'reused'));
-- answers of six hours, as pg_net keeps them, none of them ours
insert into net._http_response (id, status_code, content, created)
select -1000000 - g, 200, '{}', now() - make_interval(secs => g) from generate_series(1, 21600) g;
insert into net._http_response (id, status_code, content, created) values
  (-(select job from sent where name = 'refused'), 403, '{"error":"refused: proof expired"}', now() - interval '119 seconds'),
  -- the same request id, answered before the dispatch: another request's answer, not this one's
  (-(select job from sent where name = 'reused'), 500, '{"error":"an older request''s answer"}', now() - interval '3 hours');
analyze net._http_response;
create temp table scans_before as
  select seq_scan from pg_stat_xact_all_tables where relid = 'net._http_response'::regclass;
select is(ops.sweep_jobs(), 2, 'the sweep re-dispatches both jobs');
select is((select last_error from ops.jobs where id = (select job from sent where name = 'refused')),
  format('dispatch %s: HTTP 403 {"error":"refused: proof expired"}', -(select job from sent where name = 'refused')),
  'and finds the answer of a dispatch without an index on id, explaining it on the job');
select is((select last_error from ops.jobs where id = (select job from sent where name = 'reused')),
  format('dispatch %s: no answer recorded (pg_net down, the request still in flight, or its answer purged)',
         -(select job from sent where name = 'reused')),
  'an answer created before the dispatch, under the same request id, is not taken for its answer');
-- the planner's choice needs the statistics `analyze` gives: only pg_net's owner (or a superuser) may take them
select case when (select rolsuper from pg_roles where rolname = current_user)
                 or pg_has_role(current_user, (select relowner from pg_class where oid = 'net._http_response'::regclass),
                                'member')
  then is((select a.seq_scan - b.seq_scan from pg_stat_xact_all_tables a, scans_before b
            where a.relid = 'net._http_response'::regclass), 0::bigint,
    'the sweep reads pg_net''s answers through its index on created, not by scanning six hours of them')
  else skip('net._http_response is not ours to analyze: the planner''s choice is not asserted', 1) end;

select * from finish();
rollback;
