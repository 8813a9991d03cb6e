-- The job engine: ops.enqueue_job dedupes and dispatches through pg_net (credentials from vault);
-- claims are exclusive and leased; failures back off with jitter or honour Retry-After, and end
-- dead when permanent or out of attempts; replays and the sweep re-dispatch; the CRM rate budget
-- is shared; domain triggers enqueue once per change; who may call what; the pg_cron schedule.
-- Everything happens inside one transaction: now() stands still, and the stack's net worker
-- cannot see (so never sends) the requests queued here.
begin;
set search_path = public, extensions;
select plan(188);

-- Committed jobs (seed, other runs) would blur counts: drop them for this transaction only.
delete from ops.jobs;

-- A kind of our own with small, distinct numbers: 3 attempts, 7 s timeout, 30 s lease, 10 s base
-- backoff capped at 60 s.
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms, backoff_max_ms)
values ('pgtap.echo', 'pgtap-echo', 3, 7000, 30, 10000, 60000);

-- Jobs by name, so assertions can refer to them (as any role: see the grants below).
create temp table named_jobs (name text primary key, id bigint not null);
create function pg_temp.job(p_name text) returns bigint
language sql stable as $$ select id from named_jobs where name = p_name $$;
-- Set-up steps are procedures: a call prints nothing into the TAP stream.
create procedure pg_temp.enqueue(p_name text, p_kind text default 'pgtap.echo', p_delay interval default interval '0',
  p_priority integer default 0)
language sql as $$
  insert into named_jobs (name, id)
  values (p_name, ops.enqueue_job(p_kind, jsonb_build_object('name', p_name), 'pgtap:' || p_name, p_delay, p_priority))
$$;
create procedure pg_temp.claim(p_name text, p_worker text)
language plpgsql as $$
begin
  perform ops.claim_job(pg_temp.job(p_name), p_worker);
end
$$;
-- Requests pg_net holds for a job (its body is {"job_id": id}).
create function pg_temp.requests(p_job bigint) returns integer
language sql stable as $$
  select count(*)::int from net.http_request_queue
   where body is not null and convert_from(body, 'UTF8')::jsonb = jsonb_build_object('job_id', p_job)
$$;
create function pg_temp.secret(p_name text) returns text
language sql stable as $$ select decrypted_secret from vault.decrypted_secrets where name = p_name $$;

-- ---------------------------------------------------------------- enqueue, dedupe, dispatch
call pg_temp.enqueue('dedupe', 'crm.contact');
select is(ops.enqueue_job('crm.contact', '{"name":"again"}', 'pgtap:dedupe'), pg_temp.job('dedupe'),
  'enqueueing the same dedupe_key again returns the same job id');
select results_eq($$ select count(*)::int, min(payload::text) from ops.jobs where dedupe_key = 'pgtap:dedupe' $$,
  $$ values (1, '{"name": "dedupe"}') $$,
  'the same dedupe_key twice leaves one row, with the first payload');
select throws_ok($$ select ops.enqueue_job('pgtap.no_such_kind', '{}', 'pgtap:unknown') $$, '23503',
  'unknown job kind pgtap.no_such_kind',
  'an unknown job kind raises foreign_key_violation');
select is_empty($$ select 1 from ops.jobs where dedupe_key = 'pgtap:unknown' $$,
  'an unknown job kind leaves no row');

select is(pg_temp.requests(pg_temp.job('dedupe')), 1,
  'an immediate job is dispatched at insert: one pg_net request, not two for the duplicate enqueue');
select results_eq(
  $$ select url, method::text,
            headers ->> 'Authorization' = 'Bearer ' || ops.dispatch_proof(pg_temp.secret('worker_secret'), 'crm-sync',
              pg_temp.job('dedupe'), split_part(headers ->> 'Authorization', '.', 3)::bigint),
            headers ->> 'Content-Type', timeout_milliseconds, convert_from(body, 'UTF8')::jsonb
       from net.http_request_queue
      where convert_from(body, 'UTF8')::jsonb = jsonb_build_object('job_id', pg_temp.job('dedupe')) $$,
  $$ select rtrim(pg_temp.secret('functions_base_url'), '/') || '/crm-sync', 'POST', true, 'application/json',
            (select timeout_ms from ops.job_kinds where kind = 'crm.contact'),
            jsonb_build_object('job_id', pg_temp.job('dedupe')) $$,
  'the request POSTs {"job_id": id} to <functions_base_url>/crm-sync, with a proof signed with the vault''s worker '
  'secret (pgTAP 17) and the kind''s timeout');
select matches((select url from net.http_request_queue
                 where convert_from(body, 'UTF8')::jsonb = jsonb_build_object('job_id', pg_temp.job('dedupe'))),
  '/crm-sync$', 'the request url ends with the kind''s function name');
select results_eq($$ select status, dispatch_count, last_dispatched_at = now(), last_error from ops.jobs where id = pg_temp.job('dedupe') $$,
  $$ values ('queued', 1, true, null::text) $$,
  'a dispatched job stays queued, with dispatch_count 1 and last_dispatched_at set');

-- jobs enqueued while a Stripe event is applied carry its id (ops.ingest_stripe_event sets it)
set local ops.stripe_event_id = 'evt_pgtap_job';
call pg_temp.enqueue('from_event');
set local ops.stripe_event_id = '';
select results_eq($$ select name, stripe_event_id from named_jobs n join ops.jobs j using (id) where name in ('dedupe', 'from_event') order by name $$,
  $$ values ('dedupe', null::text), ('from_event', 'evt_pgtap_job') $$,
  'a job records the Stripe event being applied when it was enqueued, and none otherwise');

call pg_temp.enqueue('delayed', p_delay => interval '10 minutes');
select is(pg_temp.requests(pg_temp.job('delayed')), 0, 'a delayed job is not dispatched at insert');
select results_eq($$ select status, run_at = now() + interval '10 minutes', dispatch_count, last_dispatched_at from ops.jobs
                     where id = pg_temp.job('delayed') $$,
  $$ values ('queued', true, 0, null::timestamptz) $$,
  'a delayed job waits queued for its run_at, never dispatched');

-- the worker secret is missing from vault (restored below)
create temp table stashed_secrets as select * from vault.secrets where name = 'worker_secret';
delete from vault.secrets where name = 'worker_secret';
call pg_temp.enqueue('no_vault');
select is(pg_temp.requests(pg_temp.job('no_vault')), 0, 'without the vault''s worker secret nothing is queued in pg_net');
select results_eq($$ select status, dispatch_count, last_dispatched_at, last_error from ops.jobs where id = pg_temp.job('no_vault') $$,
  $$ values ('queued', 0, null::timestamptz,
             'cannot dispatch: vault secrets functions_base_url and worker_secret are required') $$,
  'without the vault''s worker secret the job stays queued, undispatched, with a last_error naming the missing secrets');
select is_empty($$ select 1 from vault.secrets where name = 'service_role_key' $$,
  'the vault holds no service role key: dispatches do not carry it');
select vault.create_secret(secret, name, description) from stashed_secrets; -- postgres writes the vault through its functions
select is(ops.sweep_jobs(), 1, 'once the secret is back, the sweep dispatches the undispatched job (and only it)');
select is(pg_temp.requests(pg_temp.job('no_vault')), 1, 'the swept job has its pg_net request');

-- ---------------------------------------------------------------- claims
call pg_temp.enqueue('claim');
select results_eq(
  $$ select id, status, attempts, locked_by, locked_until = now() + interval '30 seconds' from ops.claim_job(pg_temp.job('claim'), 'worker-1') $$,
  $$ values (pg_temp.job('claim'), 'running', 1, 'worker-1', true) $$,
  'claim_job returns a due job: running, attempt 1, locked by the worker for the kind''s lease');
select is_empty($$ select * from ops.claim_job(pg_temp.job('claim'), 'worker-2') $$,
  'a second claim of a running job returns nothing');
select results_eq($$ select attempts, locked_by from ops.jobs where id = pg_temp.job('claim') $$,
  $$ values (1, 'worker-1') $$,
  'the refused second claim spent no attempt and took no lock');
select results_eq($$ select attempt, worker, outcome from ops.job_attempts where job_id = pg_temp.job('claim') $$,
  $$ values (1, 'worker-1', null::text) $$,
  'the claim opened attempt 1 for worker-1');

call pg_temp.enqueue('not_due', p_delay => interval '1 minute');
select is_empty($$ select * from ops.claim_job(pg_temp.job('not_due'), 'worker-1') $$,
  'a job not yet due is not claimable');
select results_eq($$ select status, attempts from ops.jobs where id = pg_temp.job('not_due') $$,
  $$ values ('queued', 0) $$,
  'the refused claim left the job queued with no attempt spent');

-- worker-1's lease runs out
update ops.jobs set locked_until = now() - interval '1 second' where id = pg_temp.job('claim');
select results_eq($$ select status, attempts, locked_by from ops.claim_job(pg_temp.job('claim'), 'worker-2') $$,
  $$ values ('running', 2, 'worker-2') $$,
  'a running job whose lease expired is claimable again: attempt 2, locked by the new worker');
select results_eq($$ select attempt, worker, outcome, finished_at is not null from ops.job_attempts
                     where job_id = pg_temp.job('claim') order by attempt $$,
  $$ values (1, 'worker-1', 'lease_expired', true), (2, 'worker-2', null::text, false) $$,
  'the expired attempt is closed as lease_expired and the new one is open');
select is(ops.complete_job(pg_temp.job('claim'), 'worker-1'), false,
  'the worker that lost its lease cannot complete the job (false)');
select is(ops.fail_job(pg_temp.job('claim'), 'worker-1', 'late failure'), null,
  'the worker that lost its lease cannot fail the job (null)');
select is(ops.defer_job(pg_temp.job('claim'), 'worker-1', 1000, 'late deferral'), false,
  'the worker that lost its lease cannot defer the job (false)');
select results_eq($$ select status, attempts, locked_by, last_error from ops.jobs where id = pg_temp.job('claim') $$,
  $$ values ('running', 2, 'worker-2', null::text) $$,
  'the old worker''s complete, fail and defer changed nothing');
select is(ops.complete_job(pg_temp.job('claim'), 'worker-2', '{"crm_id":"42"}'), true,
  'the lease holder completes the job (true)');
select results_eq($$ select status, succeeded_at = now(), locked_by, locked_until, result from ops.jobs where id = pg_temp.job('claim') $$,
  $$ values ('succeeded', true, null::text, null::timestamptz, '{"crm_id":"42"}'::jsonb) $$,
  'a completed job is succeeded, unlocked, with its result');
select results_eq($$ select outcome from ops.job_attempts where job_id = pg_temp.job('claim') and attempt = 2 $$,
  $$ values ('succeeded') $$,
  'the completing attempt is recorded as succeeded');
select is_empty($$ select * from ops.claim_job(pg_temp.job('claim'), 'worker-3') $$,
  'a succeeded job is not claimable');

-- ---------------------------------------------------------------- backoff
select is(ops.backoff_delay(attempt, base_ms, max_ms, jitter), expected::interval,
          format('backoff_delay(attempt %s, base %s ms, cap %s ms, jitter %s) = %s', attempt, base_ms, max_ms, jitter, expected))
  from (values
    (1, 10000, 3600000, 0::float8, '5 seconds'),
    (1, 10000, 3600000, 1, '10 seconds'),
    (2, 10000, 3600000, 0, '10 seconds'),
    (2, 10000, 3600000, 1, '20 seconds'),
    (3, 10000, 3600000, 0, '20 seconds'),
    (3, 10000, 3600000, 1, '40 seconds'),
    (3, 10000, 3600000, 0.5, '30 seconds'),
    (0, 10000, 3600000, 1, '10 seconds'),
    (20, 10000, 3600000, 1, '1 hour'),
    (20, 10000, 3600000, 0, '30 minutes'),
    (4, 10000, 60000, 1, '60 seconds'),
    (50, 10000, 60000, 0, '30 seconds')
  ) as b(attempt, base_ms, max_ms, jitter, expected);
select ok(
  (select bool_and(d between interval '2.5 seconds' and interval '5 seconds')
     from (select ops.backoff_delay(1, 5000, 3600000) as d from generate_series(1, 200)) s),
  'with random jitter the delay stays within [50%, 100%] of base * 2^(attempt-1)');

call pg_temp.enqueue('retry');
call pg_temp.claim('retry', 'worker-1');
select is(ops.fail_job(pg_temp.job('retry'), 'worker-1', 'HTTP 503'), 'failed',
  'a retryable failure before max attempts returns failed');
select ok((select run_at between now() + ops.backoff_delay(1, 10000, 60000, 0) and now() + ops.backoff_delay(1, 10000, 60000, 1)
             from ops.jobs where id = pg_temp.job('retry')),
  'after attempt 1 the retry is due in [now() + 5 s, now() + 10 s] (50%-100% of the 10 s backoff)');
select results_eq($$ select status, attempts, locked_by, locked_until, last_error from ops.jobs where id = pg_temp.job('retry') $$,
  $$ values ('failed', 1, null::text, null::timestamptz, 'HTTP 503') $$,
  'a failed job is unlocked and keeps its error');
select results_eq($$ select outcome, error, finished_at = now() from ops.job_attempts where job_id = pg_temp.job('retry') $$,
  $$ values ('failed', 'HTTP 503', true) $$,
  'the attempt is recorded as failed with its error');
select is_empty($$ select * from ops.claim_job(pg_temp.job('retry'), 'worker-1') $$,
  'a failed job is not claimable before its run_at');
update ops.jobs set run_at = now() where id = pg_temp.job('retry');
select results_eq($$ select status, attempts from ops.claim_job(pg_temp.job('retry'), 'worker-1') $$,
  $$ values ('running', 2) $$,
  'a failed job is claimable once due: attempt 2');
select is(ops.fail_job(pg_temp.job('retry'), 'worker-1', 'HTTP 503'), 'failed', 'the second failure is retried too');
select ok((select run_at between now() + interval '10 seconds' and now() + interval '20 seconds'
             from ops.jobs where id = pg_temp.job('retry')),
  'after attempt 2 the retry is due in [now() + 10 s, now() + 20 s]');

call pg_temp.enqueue('retry_after');
call pg_temp.claim('retry_after', 'worker-1');
select is(ops.fail_job(pg_temp.job('retry_after'), 'worker-1', 'HTTP 429', true, 120000), 'failed',
  'a 429 with Retry-After is retried');
select ok((select run_at >= now() + interval '120 seconds' from ops.jobs where id = pg_temp.job('retry_after')),
  'a Retry-After (120 s) longer than the backoff wins: run_at >= now() + 120 s');
call pg_temp.enqueue('retry_after_short');
call pg_temp.claim('retry_after_short', 'worker-1');
select is(ops.fail_job(pg_temp.job('retry_after_short'), 'worker-1', 'HTTP 429', true, 1000), 'failed',
  'a 429 with a short Retry-After is retried');
select ok((select run_at >= now() + interval '5 seconds' from ops.jobs where id = pg_temp.job('retry_after_short')),
  'a Retry-After (1 s) shorter than the backoff does not shorten it: run_at >= now() + 5 s');

-- ---------------------------------------------------------------- dead letters, deferral
call pg_temp.enqueue('permanent');
call pg_temp.claim('permanent', 'worker-1');
select is(ops.fail_job(pg_temp.job('permanent'), 'worker-1', 'HTTP 400 invalid email', false), 'dead',
  'a permanent (non-retryable) failure is dead at once');
select results_eq($$ select status, attempts, locked_by, last_error from ops.jobs where id = pg_temp.job('permanent') $$,
  $$ values ('dead', 1, null::text, 'HTTP 400 invalid email') $$,
  'the dead job spent one attempt of three and keeps the reason');
select results_eq($$ select outcome from ops.job_attempts where job_id = pg_temp.job('permanent') $$,
  $$ values ('dead') $$,
  'the attempt is recorded as dead');
select is_empty($$ select * from ops.claim_job(pg_temp.job('permanent'), 'worker-1') $$,
  'a dead job is not claimable');

call pg_temp.enqueue('exhausted');
update ops.jobs set attempts = max_attempts - 1 where id = pg_temp.job('exhausted');
select results_eq($$ select attempts, max_attempts from ops.claim_job(pg_temp.job('exhausted'), 'worker-1') $$,
  $$ values (3, 3) $$,
  'the last attempt is claimed (attempts = max_attempts)');
select is(ops.fail_job(pg_temp.job('exhausted'), 'worker-1', 'HTTP 503'), 'dead',
  'a retryable failure on the last attempt is dead');

-- a worker that dies on the last attempt (a poison payload that crashes it) never fails the job
call pg_temp.enqueue('poison');
update ops.jobs set attempts = max_attempts - 1 where id = pg_temp.job('poison');
call pg_temp.claim('poison', 'worker-1');
update ops.jobs set locked_until = now() - interval '1 second' where id = pg_temp.job('poison');
select is_empty($$ select * from ops.claim_job(pg_temp.job('poison'), 'worker-2') $$,
  'a job whose lease expired on its last attempt is not claimed again (attempts never exceed max_attempts)');
select results_eq($$ select status, attempts from ops.jobs where id = pg_temp.job('poison') $$,
  $$ values ('dead', 3) $$,
  'a job whose lease expired on its last attempt is dead-lettered');

call pg_temp.enqueue('defer');
call pg_temp.claim('defer', 'worker-1');
select is(ops.defer_job(pg_temp.job('defer'), 'worker-1', 2000, 'crm rate budget used up'), true,
  'the lease holder defers the job (true)');
select results_eq($$ select status, attempts, locked_by, locked_until, run_at = now() + interval '2 seconds', last_error
                     from ops.jobs where id = pg_temp.job('defer') $$,
  $$ values ('queued', 0, null::text, null::timestamptz, true, 'crm rate budget used up') $$,
  'a deferred job is queued again after the delay without spending an attempt');
select is_empty($$ select * from ops.job_attempts where job_id = pg_temp.job('defer') $$,
  'a deferred attempt leaves no attempt record');

-- ---------------------------------------------------------------- replay
select is(ops.replay_job(pg_temp.job('permanent')), true, 'replay_job of a dead job returns true');
select results_eq($$ select status, attempts, run_at = now(), locked_by, dedupe_key, payload from ops.jobs where id = pg_temp.job('permanent') $$,
  $$ values ('queued', 0, true, null::text, 'pgtap:permanent', '{"name": "permanent"}'::jsonb) $$,
  'a replayed job is queued now with a fresh attempt budget, the same dedupe key and payload');
select results_eq($$ select pg_temp.requests(pg_temp.job('permanent')), dispatch_count from ops.jobs where id = pg_temp.job('permanent') $$,
  $$ values (2, 2) $$,
  'a replayed job is dispatched again: a second pg_net request');
select results_eq($$ select status, attempts from ops.claim_job(pg_temp.job('permanent'), 'worker-9') $$,
  $$ values ('running', 1) $$,
  'a replayed job is claimable: attempt 1 of a fresh budget');
select set_eq($$ select worker, outcome from ops.job_attempts where job_id = pg_temp.job('permanent') $$,
  $$ values ('worker-1', 'dead'), ('worker-9', null::text) $$,
  'the replayed run records its own attempt and keeps the dead one in the history');
select is(ops.replay_job(pg_temp.job('permanent')), false, 'replay_job of a running job returns false');
select results_eq($$ select status, locked_by from ops.jobs where id = pg_temp.job('permanent') $$,
  $$ values ('running', 'worker-9') $$,
  'the refused replay left the running job alone');
select is(ops.replay_job(-1), false, 'replay_job of a job that does not exist returns false');

create temp table dead_before as select count(*)::int as n from ops.jobs where status = 'dead';
select ok((select n from dead_before) >= 1, 'there are dead jobs to replay');
select is(ops.replay_jobs('dead'), (select n from dead_before), 'replay_jobs(''dead'') replays and counts every dead job');
select is_empty($$ select 1 from ops.jobs where status = 'dead' $$, 'no dead job is left after replay_jobs');

-- ---------------------------------------------------------------- sweep
delete from ops.jobs;
-- due retry (priority 3), lost dispatch (2), expired lease (1): the sweep's three cases
call pg_temp.enqueue('sweep_failed', p_priority => 3);
update ops.jobs set status = 'failed', attempts = 1, run_at = now() - interval '1 second',
       last_dispatched_at = now() - interval '2 minutes' where id = pg_temp.job('sweep_failed');
call pg_temp.enqueue('sweep_lost', p_priority => 2);
update ops.jobs set run_at = now() - interval '1 minute', last_dispatched_at = now() - interval '1 minute'
 where id = pg_temp.job('sweep_lost');
call pg_temp.enqueue('sweep_expired', p_priority => 1);
call pg_temp.claim('sweep_expired', 'worker-1');
update ops.jobs set locked_until = now() - interval '1 second' where id = pg_temp.job('sweep_expired');
-- not for the sweep: dispatched a moment ago, and a retry not yet due (higher priority, so a
-- wrong pick would show)
call pg_temp.enqueue('sweep_fresh', p_priority => 9);
call pg_temp.enqueue('sweep_not_due', p_priority => 9);
update ops.jobs set status = 'failed', attempts = 1, run_at = now() + interval '1 hour',
       last_dispatched_at = now() - interval '2 minutes' where id = pg_temp.job('sweep_not_due');
create temp table requests_before as
select name, pg_temp.requests(id) as n from named_jobs where name like 'sweep%';

select is(ops.sweep_jobs(p_limit => 1), 1, 'sweep_jobs respects p_limit (1)');
select results_eq(
  $$ select b.name, pg_temp.requests(pg_temp.job(b.name)) - b.n from requests_before b order by b.name $$,
  $$ values ('sweep_expired', 0), ('sweep_failed', 1), ('sweep_fresh', 0), ('sweep_lost', 0), ('sweep_not_due', 0) $$,
  'the limited sweep dispatched only the highest-priority candidate, the due retry');
select is(ops.sweep_jobs(), 2, 'the next sweep dispatches the two other candidates');
select results_eq(
  $$ select b.name, pg_temp.requests(pg_temp.job(b.name)) - b.n from requests_before b order by b.name $$,
  $$ values ('sweep_expired', 1), ('sweep_failed', 1), ('sweep_fresh', 0), ('sweep_lost', 1), ('sweep_not_due', 0) $$,
  'the sweep re-dispatched the due retry, the lost dispatch and the expired lease; not the fresh dispatch nor the retry not yet due');
select results_eq($$ select status, locked_by from ops.jobs where id = pg_temp.job('sweep_expired') $$,
  $$ values ('running', 'worker-1') $$,
  'the sweep only dispatches: the claim (by the worker it wakes) takes the expired lease over');
select is(ops.sweep_jobs(), 0,
  'a sweep right after re-dispatches nothing: the expired lease was just re-dispatched, and waits p_lost_after for a claim');
select results_eq($$ select name, j.dispatch_count, j.unclaimed_dispatches from named_jobs n join ops.jobs j using (id)
                     where name in ('sweep_expired', 'sweep_lost', 'sweep_failed') order by name $$,
  $$ values ('sweep_expired', 2, 1), ('sweep_failed', 2, 2), ('sweep_lost', 2, 2) $$,
  'each dispatch counts, and so does each dispatch since the last claim (the expired lease''s claim reset it)');
select lives_ok($$ select ops.sweep_jobs(500, '2 seconds'::interval) $$, 'sweep_jobs(p_limit, p_lost_after) is callable as before');

-- ---------------------------------------------------------------- drains (workers claiming due jobs)
insert into ops.job_kinds (kind, function_name) values ('pgtap.drain', 'pgtap-echo');
select is(ops.next_job_due_in_ms(array['pgtap.drain']), null::integer,
  'next_job_due_in_ms is null when no job of the kinds waits (not 0, which would mean one is due now)');
call pg_temp.enqueue('drain-later', 'pgtap.drain', interval '20 seconds');
select is(ops.next_job_due_in_ms(array['pgtap.drain']), 20000, 'next_job_due_in_ms counts down to the next run_at');
insert into ops.job_drains (kind, held_until) values ('pgtap.drain', now() + interval '2 seconds');
call pg_temp.enqueue('drain-held', 'pgtap.drain');
select is((select dispatch_count from ops.jobs where id = pg_temp.job('drain-held')), 0,
  'a job of a kind a worker drains is not dispatched over pg_net: the drain claims it');
do $$ begin perform ops.sweep_jobs(); end $$;
select is((select dispatch_count from ops.jobs where id = pg_temp.job('drain-held')), 0,
  'nor does the sweep dispatch it while the drain holds its kind');
do $$ begin perform ops.end_job_drain(array['pgtap.drain']); perform ops.sweep_jobs(); end $$;
select is((select dispatch_count from ops.jobs where id = pg_temp.job('drain-held')), 1,
  'once the drain ended, the sweep dispatches it (no job is left to a drain that stopped)');
select is((select kind from ops.claim_next_job(array['pgtap.drain'], 'pgtap-drainer')), 'pgtap.drain',
  'claim_next_job claims a due job of the kinds');
select ok((select held_until > now() from ops.job_drains where kind = 'pgtap.drain'),
  'a claim holds the kind for the drain (renewed by later claims)');
delete from ops.jobs where kind = 'pgtap.drain';
delete from ops.job_kinds where kind = 'pgtap.drain';

-- ---------------------------------------------------------------- rate budget
select is(ops.take_rate_tokens('pgtap.crm', 4, 10, 10000), 0, 'the first 4 of 10 tokens are granted (0)');
select is(ops.take_rate_tokens('pgtap.crm', 6, 10, 10000), 0, 'tokens up to the capacity are granted (0)');
select ok(ops.take_rate_tokens('pgtap.crm', 1, 10, 10000) between 1 and 10000,
  'past capacity the answer is the wait in ms until the oldest grant leaves the window (1..10000)');
select is((select sum(tokens)::int from ops.rate_limit_grants where bucket = 'pgtap.crm'), 10,
  'a refused take takes nothing');
-- the first grant (4 tokens) leaves the sliding window; the second (6) is still inside it
update ops.rate_limit_grants set granted_at = clock_timestamp() - interval '11 seconds' where bucket = 'pgtap.crm' and tokens = 4;
select is(ops.take_rate_tokens('pgtap.crm', 4, 10, 10000), 0, 'grants that left the window free their tokens');
select ok(ops.take_rate_tokens('pgtap.crm', 1, 10, 10000) > 0,
  'the window slides: grants still inside it count (6 + 4 = 10 of 10), so a fixed-window edge burst cannot happen');

-- ---------------------------------------------------------------- domain triggers
insert into public.customers (id, email) values ('00000000-0000-4000-8000-0000000004c1', 'Trigger@PGTAP.test');
select results_eq($$ select kind, dedupe_key, payload from ops.jobs where payload ->> 'customer_id' = '00000000-0000-4000-8000-0000000004c1' $$,
  $$ values ('crm.contact', 'crm.contact:00000000-0000-4000-8000-0000000004c1:v0',
             '{"customer_id": "00000000-0000-4000-8000-0000000004c1"}'::jsonb) $$,
  'a customer insert with an email enqueues one crm.contact job keyed crm.contact:<id>:v0');
insert into public.customers (id) values ('00000000-0000-4000-8000-0000000004c2');
select is_empty($$ select 1 from ops.jobs where payload ->> 'customer_id' = '00000000-0000-4000-8000-0000000004c2' $$,
  'a customer insert without an email enqueues nothing');
update public.customers set billing_status = 'active' where id = '00000000-0000-4000-8000-0000000004c1';
select results_eq($$ select dedupe_key from ops.jobs where payload ->> 'customer_id' = '00000000-0000-4000-8000-0000000004c1' order by id $$,
  $$ values ('crm.contact:00000000-0000-4000-8000-0000000004c1:v0'), ('crm.contact:00000000-0000-4000-8000-0000000004c1:v1') $$,
  'a billing status change enqueues the next version (v1)');
update public.customers set name = 'Trig', billing_status = 'active' where id = '00000000-0000-4000-8000-0000000004c1';
select is((select count(*)::int from ops.jobs where payload ->> 'customer_id' = '00000000-0000-4000-8000-0000000004c1'), 2,
  'a customer update that moves neither billing status nor email enqueues nothing');

insert into public.orders (id, amount_total, currency) values ('00000000-0000-4000-8000-0000000004d1', 2500, 'usd');
select is_empty($$ select 1 from ops.jobs where payload ->> 'order_id' = '00000000-0000-4000-8000-0000000004d1' $$,
  'a pending order enqueues nothing');
update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-0000000004d1';
select results_eq($$ select kind, dedupe_key, payload from ops.jobs where payload ->> 'order_id' = '00000000-0000-4000-8000-0000000004d1' $$,
  $$ values ('crm.deal', 'crm.deal:00000000-0000-4000-8000-0000000004d1:v1',
             '{"order_id": "00000000-0000-4000-8000-0000000004d1"}'::jsonb) $$,
  'an order moving to paid enqueues one crm.deal job keyed crm.deal:<id>:v1');
update public.orders set status = 'paid', stripe_customer_id = 'cus_pgtap' where id = '00000000-0000-4000-8000-0000000004d1';
select is((select count(*)::int from ops.jobs where payload ->> 'order_id' = '00000000-0000-4000-8000-0000000004d1'), 1,
  'an order update that changes nothing the CRM mirrors enqueues nothing');
update public.orders set needs_review = true where id = '00000000-0000-4000-8000-0000000004d1';
select is((select max(dedupe_key) from ops.jobs where payload ->> 'order_id' = '00000000-0000-4000-8000-0000000004d1'),
  'crm.deal:00000000-0000-4000-8000-0000000004d1:v2',
  'a review flag (like a further partial refund) is mirrored: it enqueues the next version');

-- leads: only a confirmed email makes one (anyone can sign up with any address and any name)
call tests.create_user('00000000-0000-4000-8000-0000000004e1', ' New.Lead@PGTAP.test', false, p_user_metadata => '{"display_name":"Nia Lead"}');
call tests.create_user('00000000-0000-4000-8000-0000000004e2', 'never.confirmed@pgtap.test', false, p_user_metadata => '{"display_name":"Not Yet"}');
call tests.create_user('00000000-0000-4000-8000-0000000004e3', 'anon.upgrade@pgtap.test', p_is_anonymous => true);
call tests.create_user('00000000-0000-4000-8000-0000000004e4', 'confirmed.at.signup@pgtap.test');
select is_empty($$ select 1 from public.customers where user_id in ('00000000-0000-4000-8000-0000000004e1', '00000000-0000-4000-8000-0000000004e2') $$,
  'an unconfirmed sign-up is no lead customer (and so no CRM contact)');
select is_empty($$ select 1 from public.customers where user_id = '00000000-0000-4000-8000-0000000004e3' $$,
  'an anonymous user is never a lead, even with a confirmed email');
select is((select billing_status from public.customers where user_id = '00000000-0000-4000-8000-0000000004e4'), 'lead',
  'a user whose email is confirmed at sign-up is a lead at once');
update auth.users set email_confirmed_at = now() where id = '00000000-0000-4000-8000-0000000004e1';
select results_eq($$ select email, name, billing_status from public.customers where user_id = '00000000-0000-4000-8000-0000000004e1' $$,
  $$ values ('new.lead@pgtap.test', 'Nia Lead', 'lead') $$,
  'confirming the email makes the user a lead customer (email trimmed and lower-cased)');
update auth.users set raw_user_meta_data = '{"display_name":"Renamed"}' where id = '00000000-0000-4000-8000-0000000004e1';
update auth.users set email_confirmed_at = now() where id = '00000000-0000-4000-8000-0000000004e1';
select is((select count(*)::int from public.customers where user_id = '00000000-0000-4000-8000-0000000004e1'), 1,
  'a second confirmation changes nothing');
update auth.users set is_anonymous = false where id = '00000000-0000-4000-8000-0000000004e3';
select is((select billing_status from public.customers where user_id = '00000000-0000-4000-8000-0000000004e3'), 'lead',
  'an anonymous user who becomes a permanent one with a confirmed email is a lead then');
select results_eq(
  $$ select j.dedupe_key from ops.jobs j join public.customers c on j.payload ->> 'customer_id' = c.id::text
      where c.user_id = '00000000-0000-4000-8000-0000000004e1' $$,
  $$ select format('crm.contact:%s:v0', id) from public.customers where user_id = '00000000-0000-4000-8000-0000000004e1' $$,
  'the new lead enqueues its crm.contact job');

-- ---------------------------------------------------------------- grants
select ok(not has_schema_privilege('anon', 'ops', 'usage'), 'anon has no usage on schema ops');
-- authenticated has usage on ops since #10 (migration 1900), for the admin-only operations tables
select is_empty(
  $$ select c.relname from pg_class c
      where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
        and has_table_privilege('authenticated', c.oid, 'select, insert, update, delete')
        and c.relname not in ('alert_rules', 'alert_incidents', 'reconciliation_findings', 'audit_log') $$,
  'authenticated reaches no ops table but the four operations tables');
select set_eq(
  $$ select p.proname::text from pg_proc p
      where p.pronamespace = 'ops'::regnamespace and has_function_privilege('pipeline_worker', p.oid, 'execute') $$,
  array['claim_job', 'complete_job', 'fail_job', 'defer_job', 'crm_job_context', 'record_crm_sync',
        'record_crm_capture', 'take_rate_tokens', 'claim_next_job', 'next_job_due_in_ms', 'dispatch_due_job', 'end_job_drain',
        'notify_job_context', 'record_notification', 'record_notification_capture', 'run_support_ticket_job',
        'claim_jobs', 'finish_jobs', 'finish_crm_job'],
  'pipeline_worker can execute exactly claim/claim_next/complete/fail/defer_job, claim_jobs/finish_jobs/finish_crm_job, next_job_due_in_ms, dispatch_due_job, end_job_drain, crm_job_context, record_crm_sync/capture, take_rate_tokens, notify_job_context, record_notification(_capture), run_support_ticket_job');
select is_empty(
  $$ select c.relname from pg_class c
      where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S')
        and case when c.relkind = 'S' then has_sequence_privilege('pipeline_worker', c.oid, 'usage, select, update')
                 else has_table_privilege('pipeline_worker', c.oid, 'select, insert, update, delete') end $$,
  'pipeline_worker holds no privilege on any table, view or sequence in ops');

-- acting as anon, then authenticated
set local role anon;
select throws_ok(stmt, '42501', null, 'anon cannot ' || what)
  from (values
    ('select * from ops.jobs', 'select from ops.jobs'),
    ($$select ops.enqueue_job('crm.contact', '{}', 'pgtap:anon')$$, 'execute ops.enqueue_job'),
    ('select * from ops.pipeline_health', 'select from ops.pipeline_health'),
    ('select * from ops.pipeline_exceptions', 'select from ops.pipeline_exceptions')
  ) as denied(stmt, what);
reset role;
call tests.authenticate_as('00000000-0000-4000-8000-0000000004e1');
select throws_ok(stmt, '42501', null, 'authenticated cannot ' || what)
  from (values
    ('select * from ops.jobs', 'select from ops.jobs'),
    ($$select ops.enqueue_job('crm.contact', '{}', 'pgtap:authenticated')$$, 'execute ops.enqueue_job'),
    ('select * from ops.pipeline_health', 'select from ops.pipeline_health'),
    ('select * from ops.pipeline_exceptions', 'select from ops.pipeline_exceptions')
  ) as denied(stmt, what);
reset role;

-- a crm.contact job for pipeline_worker to run: the lead above
insert into named_jobs
select 'lead', j.id from ops.jobs j join public.customers c on j.payload ->> 'customer_id' = c.id::text
 where c.user_id = '00000000-0000-4000-8000-0000000004e1';
-- pgTAP lives in extensions, which the worker role cannot reach; open it (and our job names, and
-- pg_temp.job: new functions are executable by nobody by default) for this transaction only
grant usage on schema extensions to pipeline_worker;
grant select on named_jobs to pipeline_worker;
grant execute on function pg_temp.job(text) to pipeline_worker;
-- acting as pipeline_worker
set local role pipeline_worker;
select throws_ok(stmt, '42501', null, 'pipeline_worker cannot ' || what)
  from (values
    ('select * from ops.jobs', 'select from ops.jobs'),
    ($$insert into ops.jobs (kind, dedupe_key, max_attempts) values ('crm.contact', 'pgtap:worker', 1)$$, 'insert into ops.jobs'),
    ($$update ops.jobs set status = 'succeeded'$$, 'update ops.jobs'),
    ($$select ops.enqueue_job('crm.contact', '{}', 'pgtap:worker')$$, 'execute ops.enqueue_job'),
    ('select ops.replay_job(1)', 'execute ops.replay_job'),
    ('select ops.sweep_jobs()', 'execute ops.sweep_jobs'),
    ('select * from ops.pipeline_health', 'select from ops.pipeline_health')
  ) as denied(stmt, what);
select results_eq($$ select status, attempts, locked_by from ops.claim_job(pg_temp.job('lead'), 'pgtap-worker') $$,
  $$ values ('running', 1, 'pgtap-worker') $$,
  'pipeline_worker can claim a job');
select is(ops.crm_job_context(pg_temp.job('lead'), 'pgtap-worker') - 'customer_id',
  '{"email": "new.lead@pgtap.test", "name": "Nia Lead", "billing_status": "lead", "version": 0, "has_paid_order": false}'::jsonb,
  'pipeline_worker reads the context of the job it holds: the customer as it is now');
select is(ops.crm_job_context(pg_temp.job('lead'), 'someone-else'), null,
  'crm_job_context answers nothing for a job the caller does not hold');
select is(ops.take_rate_tokens('pgtap.worker', 1, 100, 10000), 0, 'pipeline_worker can take rate tokens');
select lives_ok($$ select ops.record_crm_capture('upsert_contact', 'new.lead@pgtap.test', '{"email":"new.lead@pgtap.test"}') $$,
  'pipeline_worker can record a capture');
select lives_ok(
  format($$ select ops.record_crm_sync(%s, 'pgtap-worker', 'capture',
              '{"contacts": [{"customer_id": "%s", "email": "new.lead@pgtap.test", "crm_id": "cap-1", "version": 0}]}') $$,
         pg_temp.job('lead'), (ops.crm_job_context(pg_temp.job('lead'), 'pgtap-worker') ->> 'customer_id')),
  'pipeline_worker can record the CRM mapping of a job it holds');
select throws_ok(format($$ select ops.record_crm_sync(%s, 'someone-else', 'capture', '{}') $$, pg_temp.job('lead')),
  '55P03', null, 'record_crm_sync refuses a job the caller does not hold');
select is(ops.complete_job(pg_temp.job('lead'), 'pgtap-worker'), true, 'pipeline_worker can complete the job it holds');
reset role;
select results_eq(
  $$ select x.adapter, x.crm_contact_id, x.email from ops.crm_contacts x join public.customers c on c.id = x.customer_id
      where c.user_id = '00000000-0000-4000-8000-0000000004e1' $$,
  $$ values ('capture', 'cap-1', 'new.lead@pgtap.test') $$,
  'the worker''s record_crm_sync stored the contact mapping');

-- a dead job for the exceptions view
call pg_temp.enqueue('views_dead');
call pg_temp.claim('views_dead', 'worker-1');
select is(ops.fail_job(pg_temp.job('views_dead'), 'worker-1', 'HTTP 400 bad request', false), 'dead',
  'a job failed permanently is dead (for the views below)');
grant select on named_jobs to service_role;
grant execute on function pg_temp.job(text) to service_role;
-- acting as service_role
set local role service_role;
select is(tests.rows_or_error($$ select kind from ops.pipeline_health order by kind $$),
  '[{"kind": "crm.contact"}, {"kind": "crm.deal"}, {"kind": "crm.gdpr_delete"}, {"kind": "crm.seller"}, {"kind": "notify.email"}, {"kind": "notify.slack"}, {"kind": "pgtap.echo"}, {"kind": "reconcile"}, {"kind": "stripe_events"}, {"kind": "support.ticket"}]'::jsonb,
  'service_role selects ops.pipeline_health: one row per job kind and one for the Stripe ledger');
select is(tests.rows_or_error($$ select dead, succeeded from ops.pipeline_health where kind = 'pgtap.echo' $$),
  '[{"dead": 1, "succeeded": 0}]'::jsonb,
  'ops.pipeline_health counts the dead job');
select is(tests.rows_or_error(format($$ select exception, subject, error, next_action like '%%ops.replay_job(%s)%%' as names_replay
                                 from ops.pipeline_exceptions where ref = '%s' $$, pg_temp.job('views_dead'), pg_temp.job('views_dead'))),
  '[{"exception": "dead job", "subject": "pgtap.echo", "error": "HTTP 400 bad request", "names_replay": true}]'::jsonb,
  'service_role selects ops.pipeline_exceptions: the dead job with its replay command');
reset role;

-- ---------------------------------------------------------------- pg_cron, purge
select results_eq($$ select schedule, command, active from cron.job where jobname = 'ops-sweep-jobs' $$,
  $$ values ('* * * * *', 'select ops.sweep_jobs()', true) $$,
  'pg_cron runs ops.sweep_jobs every minute');
select results_eq($$ select command, active from cron.job where jobname = 'ops-purge-history' $$,
  $$ values ('select ops.purge_pipeline_history()', true) $$,
  'pg_cron runs ops.purge_pipeline_history');

delete from ops.jobs;
call pg_temp.enqueue('purge_old_done');
call pg_temp.enqueue('purge_recent_done');
call pg_temp.enqueue('purge_old_dead');
call pg_temp.enqueue('purge_old_failed');
update ops.jobs set created_at = now() - interval '30 days' where dedupe_key like 'pgtap:purge%';
update ops.jobs set status = 'succeeded', succeeded_at = now() - interval '15 days' where id = pg_temp.job('purge_old_done');
update ops.jobs set status = 'succeeded', succeeded_at = now() - interval '13 days' where id = pg_temp.job('purge_recent_done');
update ops.jobs set status = 'dead' where id = pg_temp.job('purge_old_dead');
update ops.jobs set status = 'failed' where id = pg_temp.job('purge_old_failed');
select is((ops.purge_pipeline_history() ->> 'jobs')::int, 1, 'purge_pipeline_history reports one job deleted');
select set_eq($$ select dedupe_key from ops.jobs where kind = 'pgtap.echo' $$,
  array['pgtap:purge_recent_done', 'pgtap:purge_old_dead', 'pgtap:purge_old_failed'],
  'only the job succeeded longer ago than the retention (14 days) is purged; dead and failed jobs stay');

-- rate budgets and resolved findings have their retention too
select ops.take_rate_tokens('pgtap:idle', 1, 5, 60000);
select ops.take_rate_tokens('pgtap:busy', 1, 5, 60000);
update ops.rate_limit_grants set granted_at = now() - interval '2 days' where bucket = 'pgtap:idle';
insert into ops.reconciliation_findings (kind, object_id, next_action, status, resolved_at) values
  ('amount_mismatch', 'pi_pgtap_old_resolved', 'none', 'resolved', now() - interval '91 days'),
  ('amount_mismatch', 'pi_pgtap_new_resolved', 'none', 'resolved', now() - interval '89 days'),
  ('amount_mismatch', 'pi_pgtap_old_open', 'none', 'open', null);
update ops.reconciliation_findings set found_at = now() - interval '200 days' where object_id like 'pi_pgtap_%';
select ok((ops.purge_pipeline_history() ->> 'rate_limit_buckets')::int >= 1, 'purge_pipeline_history reports idle rate buckets deleted');
select set_eq($$ select bucket from ops.rate_limit_buckets where bucket like 'pgtap:%' $$, array['pgtap:busy'],
  'a rate bucket whose grants are a day old goes with them; one taken a moment ago stays');
select set_eq($$ select object_id from ops.reconciliation_findings where object_id like 'pi_pgtap_%' $$,
  array['pi_pgtap_new_resolved', 'pi_pgtap_old_open'],
  'findings resolved over 90 days ago are purged; newer resolved ones and open ones, however old, stay');
select is(ops.take_rate_tokens('pgtap:idle', 1, 5, 60000), 0, 'a purged bucket is re-created by its next taker');

-- each feature registers its purge (ops.retention_policies); one failing policy does not stop the others
select throws_ok($$ update ops.retention_policies set purge_fn = 'ops.purge_pipeline_history()' where name = 'jobs' $$,
  '22023', null, 'a purge_fn of another shape is refused when written');
create function ops.purge_pgtap_boom(p_keep interval) returns bigint language plpgsql as $$
  begin raise exception 'pgtap boom'; end $$;
insert into ops.retention_policies (name, description, purge_fn, keep)
values ('pgtap_boom', 'a policy that fails', 'ops.purge_pgtap_boom(interval)', interval '1 day');
call pg_temp.enqueue('purge_after_boom');
update ops.jobs set status = 'succeeded', succeeded_at = now() - interval '15 days' where id = pg_temp.job('purge_after_boom');
set local client_min_messages = error;
create temp table purge_report as select ops.purge_pipeline_history() as r;
reset client_min_messages;
select is((select r -> 'errors' from purge_report), '{"pgtap_boom": "pgtap boom"}'::jsonb,
  'a failing retention policy is reported with its error');
select is((select (r ->> 'jobs')::int from purge_report), 1, 'the other policies still purge in the same run');

-- ---------------------------------------------------------------- one job per queue key at a time
insert into named_jobs (name, id) values
  ('qk_first', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:qk_first', p_queue_key => 'order:pgtap')),
  ('qk_second', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:qk_second', p_queue_key => 'order:pgtap')),
  ('qk_other', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:qk_other', p_queue_key => 'order:pgtap-other'));
select is((select count(*)::int from ops.claim_job(pg_temp.job('qk_second'), 'w-2')), 0,
  'a newer job is not claimed while an older due job of its queue key waits');
select is((select count(*)::int from ops.claim_job(pg_temp.job('qk_first'), 'w-1')), 1,
  'the oldest job of a queue key is claimed');
select is((select count(*)::int from ops.claim_job(pg_temp.job('qk_second'), 'w-2')), 0,
  'while it runs, the next job of the same key is not claimed');
select is((select count(*)::int from ops.claim_job(pg_temp.job('qk_other'), 'w-3')), 1,
  'jobs of another queue key run meanwhile');
select is(pg_temp.requests(pg_temp.job('qk_second')), 1,
  'the waiting job was dispatched once, at insert');
select ok((select ops.complete_job(pg_temp.job('qk_first'), 'w-1')), 'the running job completes');
select is(pg_temp.requests(pg_temp.job('qk_second')), 2,
  'completing it dispatches the next job of its queue key at once (no wait for the sweep)');
select is((select count(*)::int from ops.claim_job(pg_temp.job('qk_second'), 'w-2')), 1,
  'and that job is now claimed');

-- ---------------------------------------------------------------- what the sweep and the worker role may do
-- a dispatch that got an error answer is explained on the job when the sweep re-dispatches it
insert into named_jobs (name, id) values ('explained', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:explained'));
insert into net._http_response (id, status_code, content, created)
values ((select last_request_id from ops.jobs where id = pg_temp.job('explained')), 403,
        '{"error":"refused: only the database''s dispatcher runs jobs"}', now());
update ops.jobs set last_dispatched_at = now() - interval '1 minute' where id = pg_temp.job('explained');
select ok(ops.sweep_jobs() >= 1, 'the sweep re-dispatches the job whose dispatch led nowhere');
select matches((select last_error from ops.jobs where id = pg_temp.job('explained')), '^dispatch \d+: HTTP 403 .*refused',
  'and its last_error says what the dispatch answered (here: the worker refused the vault''s worker secret)');
-- a worker records mappings only for the entities of the job it holds
insert into named_jobs (name, id) values ('bound', ops.enqueue_job('crm.contact', jsonb_build_object('customer_id', gen_random_uuid()), 'pgtap:bound'));
call pg_temp.claim('bound', 'w-bound');
select throws_ok(format($$ select ops.record_crm_sync(%s, 'w-bound', 'capture',
    jsonb_build_object('contacts', jsonb_build_array(jsonb_build_object('customer_id', gen_random_uuid(), 'email', 'x@example.com', 'crm_id', 'c1')))) $$,
    pg_temp.job('bound')),
  '42501', null, 'a job cannot record a CRM mapping for a customer it was not about');

-- ---------------------------------------------------------------- dispatches that never lead to a claim
delete from ops.jobs;
-- re-dispatched after p_lost_after * 2^(n-1) (30 s, 60 s, 120 s, ...), at most 10 minutes, n being
-- the dispatches since the last claim
create procedure pg_temp.dispatched(p_name text, p_unclaimed integer, p_ago interval, p_status text default 'queued')
language sql as $$
  insert into named_jobs (name, id) values (p_name, ops.enqueue_job('pgtap.echo', '{}', 'pgtap:' || p_name, interval '1 hour'));
  update ops.jobs set status = p_status, run_at = now() - interval '1 hour', unclaimed_dispatches = p_unclaimed,
         dispatch_count = p_unclaimed, last_dispatched_at = now() - p_ago, last_request_id = -id,
         attempts = case when p_status = 'queued' then 0 else 1 end,
         locked_by = case when p_status = 'running' then 'w-gone' end,
         locked_until = case when p_status = 'running' then now() - interval '1 hour' end
   where id = (select id from named_jobs where name = p_name);
$$;
call pg_temp.dispatched('bo_1_early', 1, interval '29 seconds');
call pg_temp.dispatched('bo_1_late', 1, interval '31 seconds');
call pg_temp.dispatched('bo_3_early', 3, interval '119 seconds');
call pg_temp.dispatched('bo_3_late', 3, interval '121 seconds');
call pg_temp.dispatched('bo_6_early', 6, interval '599 seconds');  -- 30 s * 2^5 = 16 min, capped at 10
call pg_temp.dispatched('bo_6_late', 6, interval '601 seconds');
call pg_temp.dispatched('bo_2_failed', 2, interval '61 seconds', 'failed');
call pg_temp.dispatched('bo_2_running', 2, interval '59 seconds', 'running');
select is(ops.sweep_jobs(), 4, 'the sweep re-dispatches the four jobs whose backoff has passed');
select set_eq($$ select name from named_jobs n where name like 'bo\_%' and pg_temp.requests(id) = 1 $$,
  array['bo_1_late', 'bo_3_late', 'bo_6_late', 'bo_2_failed'],
  'backoff by dispatches since the last claim: 30 s after 1, 2 min after 3, capped at 10 min after 6; failed retries and expired leases alike');
select results_eq($$ select j.unclaimed_dispatches, j.last_error from ops.jobs j where id = pg_temp.job('bo_3_late') $$,
  $$ values (4, 'dispatch ' || -pg_temp.job('bo_3_late') || ': no answer recorded (pg_net down, the request still in flight, or its answer purged)') $$,
  'the re-dispatch counts, and last_error says the last dispatch got no answer');

call pg_temp.dispatched('bo_timed_out', 1, interval '31 seconds');
insert into net._http_response (id, timed_out, created) values (-pg_temp.job('bo_timed_out'), true, now());
select is(ops.sweep_jobs(), 1, 'a dispatch whose answer timed out is re-sent');
select is((select last_error from ops.jobs where id = pg_temp.job('bo_timed_out')),
  'dispatch ' || -pg_temp.job('bo_timed_out') || ': pg_net: no HTTP status (timed out)',
  'and last_error says so');

-- a claim, or a worker told to wait for its queue key's turn, resets the count
select is((select unclaimed_dispatches from ops.claim_job(pg_temp.job('bo_1_early'), 'w-1')), 0,
  'a worker''s claim resets the dispatches since the last claim');
insert into named_jobs (name, id) values
  ('qk_busy', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:qk_busy', p_queue_key => 'order:pgtap-busy')),
  ('qk_waiting', ops.enqueue_job('pgtap.echo', '{}', 'pgtap:qk_waiting', p_queue_key => 'order:pgtap-busy'));
call pg_temp.claim('qk_busy', 'w-1');
update ops.jobs set unclaimed_dispatches = 5 where id = pg_temp.job('qk_waiting');
select is_empty($$ select * from ops.claim_job(pg_temp.job('qk_waiting'), 'w-2') $$, 'a job whose queue key is busy is not claimed');
select is((select unclaimed_dispatches from ops.jobs where id = pg_temp.job('qk_waiting')), 0,
  'but its dispatch reached a worker: the count is reset, so waiting for its turn never dead-letters it');

-- after 8 dispatches without a claim the job is dead, with what the last one got and what to check
call pg_temp.dispatched('undeliverable_403', 8, interval '11 minutes');
insert into net._http_response (id, status_code, content, created)
values (-pg_temp.job('undeliverable_403'), 403, '{"error":"refused: only the database''s dispatcher runs jobs"}', now());
call pg_temp.dispatched('undeliverable_down', 8, interval '11 minutes');
insert into net._http_response (id, error_msg, created)
values (-pg_temp.job('undeliverable_down'), 'Couldn''t connect to server', now());
call pg_temp.dispatched('undeliverable_lost', 8, interval '11 minutes', 'running');
insert into ops.job_attempts (job_id, attempt, worker) values (pg_temp.job('undeliverable_lost'), 1, 'w-gone');
call pg_temp.dispatched('nearly_undeliverable', 7, interval '11 minutes');
select is(ops.sweep_jobs(), 1, 'the sweep re-dispatches only the job below the bound (7 dispatches)');
select results_eq($$ select status, unclaimed_dispatches, pg_temp.requests(id) from ops.jobs where id = pg_temp.job('nearly_undeliverable') $$,
  $$ values ('queued', 8, 1) $$, 'the eighth dispatch is sent');
select results_eq(
  $$ select n.name, j.status, j.locked_by, pg_temp.requests(j.id) from named_jobs n join ops.jobs j using (id)
      where n.name like 'undeliverable%' order by n.name $$,
  $$ values ('undeliverable_403', 'dead', null::text, 0), ('undeliverable_down', 'dead', null, 0), ('undeliverable_lost', 'dead', null, 0) $$,
  'after 8 dispatches without a claim a job is dead, not dispatched again (queued, failed or with an expired lease)');
select is((select last_error from ops.jobs where id = pg_temp.job('undeliverable_403')),
  format('undeliverable: 8 dispatches since its last claim led to no claim; the last (pg_net request %s) got: '
         'HTTP 403 {"error":"refused: only the database''s dispatcher runs jobs"}. Check the vault secrets functions_base_url '
         'and worker_secret, that the function pgtap-echo is deployed, and that its WORKER_SECRET holds the vault''s worker_secret',
         -pg_temp.job('undeliverable_403')),
  'last_error says what the last dispatch answered (HTTP status and body) and what to check');
select matches((select last_error from ops.jobs where id = pg_temp.job('undeliverable_down')),
  '^undeliverable: 8 dispatches .* got: pg_net: Couldn''t connect to server\. Check the vault secrets',
  'or the error pg_net recorded when it could not send it');
select matches((select last_error from ops.jobs where id = pg_temp.job('undeliverable_lost')),
  '^undeliverable: 8 dispatches .* got: no answer recorded \(pg_net down',
  'or that no answer was recorded');
select results_eq($$ select outcome, finished_at = now() from ops.job_attempts where job_id = pg_temp.job('undeliverable_lost') $$,
  $$ values ('lease_expired', true) $$,
  'the dead-lettered job whose lease had expired has its open attempt closed as lease_expired');
select results_eq(
  format($$ select exception, subject, error like 'undeliverable: 8 dispatches%%', next_action from ops.pipeline_exceptions where ref = '%s' $$,
         pg_temp.job('undeliverable_403')),
  $$ values ('undeliverable job', 'pgtap.echo', true,
             format('check the vault secrets functions_base_url and worker_secret, that the function pgtap-echo is deployed '
                    'and that its WORKER_SECRET holds the vault''s worker_secret; then: select ops.replay_job(%s);', pg_temp.job('undeliverable_403'))) $$,
  'pipeline_exceptions lists it as an undeliverable job, with what to check and how to replay it');
select results_eq(
  format($$ select exception, next_action like 'dispatched 8 times since its last claim;%%function pgtap-echo%%'
              from ops.pipeline_exceptions where ref = '%s' $$, pg_temp.job('nearly_undeliverable')),
  $$ values ('stuck job', true) $$,
  'a job still being re-sent is a stuck job, with its dispatches since the last claim and what to check');
select is(ops.replay_job(pg_temp.job('undeliverable_403')), true, 'an undeliverable job can be replayed once fixed');
select results_eq($$ select status, unclaimed_dispatches, pg_temp.requests(id) from ops.jobs where id = pg_temp.job('undeliverable_403') $$,
  $$ values ('queued', 1, 1) $$,
  'the replay starts the count again and dispatches it');

select * from finish();
rollback;
