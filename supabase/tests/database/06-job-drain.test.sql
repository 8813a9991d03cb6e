-- Draining workers: ops.claim_next_job takes the oldest due job of the worker's kinds (one per queue
-- key at a time, skip-locked), ops.next_job_due_in_ms says how long a drainer may wait, and
-- ops.dispatch_due_job hands leftovers to a new invocation; finishing with p_hand_on => false
-- dispatches nothing. The ticker procedure is scheduled every minute. One transaction: now() stands still.
begin;
set search_path = public, extensions;
select plan(14);

delete from ops.jobs;
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms, backoff_max_ms)
values ('pgtap.drain', 'pgtap-drain', 3, 7000, 30, 10000, 60000), ('pgtap.other', 'pgtap-other', 3, 7000, 30, 10000, 60000);

create function pg_temp.enqueue(p_key text, p_kind text default 'pgtap.drain', p_delay interval default interval '0',
  p_queue text default null) returns bigint
language sql as $$
  select ops.enqueue_job(p_kind, jsonb_build_object('key', p_key), 'drain:' || p_key, p_delay, 0, null, p_queue)
$$;
create function pg_temp.requests(p_job bigint) returns integer
language sql stable as $$
  select count(*)::int from net.http_request_queue
   where body is not null and convert_from(body, 'UTF8')::jsonb = jsonb_build_object('job_id', p_job)
$$;

select is(ops.next_job_due_in_ms(array['pgtap.drain']), null, 'with no job waiting, a drainer has nothing to wait for');
select pg_temp.enqueue('later', p_delay => interval '5 seconds') as later \gset
select is(ops.next_job_due_in_ms(array['pgtap.drain']), 5000, 'a job due in 5 s: the drainer may wait 5000 ms');
select is((select id from ops.claim_next_job(array['pgtap.drain'], 'w1')), null, 'a job not yet due is not claimed');

select pg_temp.enqueue('other', 'pgtap.other') as other \gset
select is((select id from ops.claim_next_job(array['pgtap.drain'], 'w1')), null, 'a due job of another kind is not claimed');

-- two due jobs of one queue key, the older one first
select pg_temp.enqueue('k1', p_queue => 'order:1') as k1 \gset
select pg_temp.enqueue('k2', p_queue => 'order:1') as k2 \gset
update ops.jobs set run_at = now() - interval '1 minute' where id = :k2; -- the newer job has the older run_at
select is(ops.next_job_due_in_ms(array['pgtap.drain']), 0, 'a due job: no wait');
select is((select id from ops.claim_next_job(array['pgtap.drain'], 'w1')), :k1::bigint,
  'the older job of a queue key is claimed first, even when a newer one has been due longer');
select is((select id from ops.claim_next_job(array['pgtap.drain'], 'w2')), null,
  'while a job of the queue key runs, its other job waits');
select is((select status from ops.jobs where id = :k1), 'running', 'the claimed job runs, leased to its drainer');

delete from net.http_request_queue;
select ok(ops.complete_job(:k1, 'w1', null, p_hand_on => false), 'a drainer completes its job');
select is(pg_temp.requests(:k2), 0, 'completing with p_hand_on => false dispatches nothing: the drainer claims the next itself');
select is((select id from ops.claim_next_job(array['pgtap.drain'], 'w2')), :k2::bigint, 'then the next job of the key is claimed');

-- leftovers: the oldest due job not dispatched in the last seconds goes to a new invocation, once
select pg_temp.enqueue('left') as leftover \gset
update ops.jobs set last_dispatched_at = now() - interval '1 minute' where id = :leftover;
delete from net.http_request_queue;
select is(ops.dispatch_due_job(array['pgtap.drain']), :leftover::bigint, 'a drainer out of budget hands the due job on');
select is(ops.dispatch_due_job(array['pgtap.drain']), null, 'and not twice within seconds of its dispatch');

select ok((select schedule = '* * * * *' and command ~ 'perform ops\.sweep_jobs\(\);\s+commit;\s+perform pg_catalog\.pg_sleep\(1\)'
             from cron.job where jobname = 'ops-job-ticker'),
  'pg_cron starts the one-second ticker every minute: sweep, commit, sleep a second');

select * from finish();
rollback;
