-- The job engine: ops.jobs is a transactional outbox. Domain triggers enqueue through ONE function
-- (ops.enqueue_job); an insert trigger dispatches through pg_net after commit; workers claim by id
-- with a lease, then complete or fail with backoff; pg_cron's sweep guarantees delivery, and
-- dead-letters a job whose dispatches keep leading to no claim.
create table if not exists ops.job_kinds (
  kind text primary key,
  function_name text not null,
  max_attempts integer not null default 8 check (max_attempts between 1 and 50),
  timeout_ms integer not null default 30000 check (timeout_ms between 1000 and 300000),
  lease_seconds integer not null default 120 check (lease_seconds between 5 and 3600),
  backoff_base_ms integer not null default 10000 check (backoff_base_ms > 0),
  backoff_max_ms integer not null default 3600000 check (backoff_max_ms > 0)
);
comment on table ops.job_kinds is 'Kinds of jobs: the worker function that runs them, attempts, timeout, lease and '
  'backoff.';

create table if not exists ops.jobs (
  id bigint generated always as identity primary key,
  kind text not null references ops.job_kinds (kind),
  payload jsonb not null default '{}'::jsonb,
  dedupe_key text not null unique,
  -- jobs sharing a queue key (one order, one customer) run one at a time, oldest first
  queue_key text,
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'dead')),
  priority integer not null default 0,
  attempts integer not null default 0,
  max_attempts integer not null,
  run_at timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  last_error text,
  last_dispatched_at timestamptz,
  dispatch_count integer not null default 0,
  -- dispatches since a worker last reached the job (ops.claim_job): the sweep backs off by it
  -- and dead-letters the job when dispatches keep leading nowhere
  unclaimed_dispatches integer not null default 0,
  -- pg_net's request id of the last dispatch (its answer is in net._http_response)
  last_request_id bigint,
  correlation_id text,
  -- the Stripe event whose apply enqueued this job, when one did
  stripe_event_id text,
  result jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  succeeded_at timestamptz
);
comment on table ops.jobs is 'Transactional outbox of side effects (CRM, tickets, notifications): one row per '
  'dedupe_key; queued | running | succeeded | failed (retrying) | dead.';
create index if not exists jobs_due_idx on ops.jobs (priority desc, run_at) where status in ('queued', 'failed');
create index if not exists jobs_running_idx on ops.jobs (locked_until) where status = 'running';
create index if not exists jobs_kind_status_idx on ops.jobs (kind, status);
create index if not exists jobs_finished_idx on ops.jobs (succeeded_at) where status = 'succeeded';
-- retries and deferrals that became due and were not dispatched since: what ops.dispatch_next hands on
create index if not exists jobs_awaiting_dispatch_idx on ops.jobs (kind, priority desc, run_at)
  where status in ('queued', 'failed') and (last_dispatched_at is null or last_dispatched_at < run_at);
-- what ops.next_job_due_in_ms reads: the next run_at of a worker's kinds
create index if not exists jobs_kind_due_idx on ops.jobs (kind, run_at) where status in ('queued', 'failed');
create index if not exists jobs_queue_key_idx on ops.jobs (queue_key, id) where queue_key is not null
  and status in ('queued', 'running', 'failed');

create table if not exists ops.job_attempts (
  -- its own key: a replayed job starts again at attempt 1 and keeps its earlier history
  id bigint generated always as identity primary key,
  job_id bigint not null references ops.jobs (id) on delete cascade,
  attempt integer not null,
  worker text,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  outcome text check (outcome in ('succeeded', 'failed', 'dead', 'deferred', 'lease_expired')),
  error text
);
comment on table ops.job_attempts is 'Each attempt at a job and how it ended: the history behind failure rates and '
  'exceptions.';
create index if not exists job_attempts_started_idx on ops.job_attempts (started_at);
create index if not exists job_attempts_job_idx on ops.job_attempts (job_id, attempt);

-- Kinds a worker is draining (ops.claim_next_job): while one is, a new job of that kind needs no HTTP
-- request of its own, the drain claims it. Renewed by each claim (at most once a second), ended by the
-- worker when it stops; an expired one (the worker died, or every candidate was blocked) lets
-- dispatch and the sweep take over again.
create table if not exists ops.job_drains (
  kind text primary key references ops.job_kinds (kind) on delete cascade,
  held_until timestamptz not null
);
comment on table ops.job_drains is 'Job kinds a worker is draining now (until held_until): their new jobs are claimed '
  'by the drain instead of being dispatched one HTTP request each.';

drop trigger if exists jobs_100_set_updated_at on ops.jobs;
create trigger jobs_100_set_updated_at before update on ops.jobs
  for each row execute function public.set_updated_at();

-- The one way to enqueue. The same dedupe_key twice enqueues once; returns the job's id either way.
create or replace function ops.enqueue_job(
  p_kind text,
  p_payload jsonb,
  p_dedupe_key text,
  p_delay interval default interval '0',
  p_priority integer default 0,
  p_correlation_id text default null,
  p_queue_key text default null
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
begin
  insert into ops.jobs (kind, payload, dedupe_key, run_at, priority, max_attempts, correlation_id, stripe_event_id,
                        queue_key)
  select p_kind, coalesce(p_payload, '{}'::jsonb), p_dedupe_key, now() + coalesce(p_delay, interval '0'), p_priority,
         k.max_attempts, p_correlation_id,
         nullif(current_setting('ops.stripe_event_id', true), ''), p_queue_key
    from ops.job_kinds k where k.kind = p_kind
  on conflict (dedupe_key) do nothing
  returning id into job_id;
  if job_id is null then
    select id into job_id from ops.jobs where dedupe_key = p_dedupe_key;
    if job_id is null then
      raise exception 'unknown job kind %', p_kind using errcode = 'foreign_key_violation';
    end if;
  end if;
  return job_id;
end
$$;

-- Exponential backoff with jitter: base * 2^(attempt-1), capped, then scaled into [50%, 100%].
create or replace function ops.backoff_delay(p_attempt integer, p_base_ms integer, p_max_ms integer,
                                             p_jitter double precision default random())
returns interval
language sql immutable
set search_path = ''
as $$
  select make_interval(secs => least(p_max_ms::double precision, p_base_ms * power(2, greatest(p_attempt, 1) - 1))
                               * (0.5 + 0.5 * p_jitter) / 1000.0)
$$;

-- security definer: reads the worker URL and the worker secret from vault, which only the owner can
-- read. The worker secret authenticates the dispatch and nothing else (not the service role key:
-- pg_net keeps request headers in its queue table until it sends them).
-- pg_net queues the request and sends it after commit; nothing is sent for a rolled-back enqueue.
create or replace function ops.dispatch_job(p_job_id bigint) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  j record;
  base_url text;
  worker_secret text;
  request_id bigint;
begin
  select jb.id, jb.kind, k.function_name, k.timeout_ms into j
    from ops.jobs jb join ops.job_kinds k on k.kind = jb.kind where jb.id = p_job_id;
  select decrypted_secret into base_url from vault.decrypted_secrets where name = 'functions_base_url';
  select decrypted_secret into worker_secret from vault.decrypted_secrets where name = 'worker_secret';
  if base_url is null or worker_secret is null then
    update ops.jobs set last_error = 'cannot dispatch: vault secrets functions_base_url and worker_secret are required'
     where id = p_job_id;
    return null;
  end if;
  request_id := net.http_post(
    url := rtrim(base_url, '/') || '/' || j.function_name,
    body := jsonb_build_object('job_id', j.id),
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || worker_secret),
    timeout_milliseconds := j.timeout_ms
  );
  update ops.jobs
     set last_dispatched_at = now(), dispatch_count = dispatch_count + 1,
         unclaimed_dispatches = unclaimed_dispatches + 1, last_request_id = request_id
   where id = p_job_id;
  return request_id;
end
$$;

create or replace function ops.jobs_dispatch_on_insert() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- a worker drains this kind: it claims the job within milliseconds, one HTTP request per job would
  -- only wake another invocation. Should the drain stop first, the sweep dispatches it (see sweep_jobs).
  if exists (select 1 from ops.job_drains d where d.kind = new.kind and d.held_until > now()) then
    return null;
  end if;
  perform ops.dispatch_job(new.id);
  return null;
end
$$;
drop trigger if exists jobs_900_dispatch on ops.jobs;
create trigger jobs_900_dispatch after insert on ops.jobs
  for each row when (new.run_at <= now()) execute function ops.jobs_dispatch_on_insert();

-- When a job finishes (or steps aside), hand on without waiting for the sweep: dispatch the oldest
-- due job of the same queue key, and one due job of the same kind whose retry time has come
-- but that nothing dispatched since. Keeps retries and deferrals moving between cron ticks.
-- Not security definer: only the definer doors below (claim, complete, fail, defer) call it, and it
-- runs with their rights.
create or replace function ops.dispatch_next(p_job_id bigint) returns integer
language plpgsql
set search_path = ''
as $$
declare
  j record;
  next_id bigint;
  n integer := 0;
begin
  select id, kind, queue_key into j from ops.jobs where id = p_job_id;
  if j.queue_key is not null then
    select o.id into next_id from ops.jobs o
     where o.queue_key = j.queue_key and o.id <> p_job_id and o.status in ('queued', 'failed') and o.run_at <= now()
     order by o.id limit 1 for update skip locked;
    if next_id is not null then
      perform ops.dispatch_job(next_id);
      n := n + 1;
    end if;
  end if;
  select o.id into next_id from ops.jobs o
   where o.kind = j.kind and o.id <> p_job_id and o.id is distinct from next_id
     and o.status in ('queued', 'failed') and o.run_at <= now()
     and (o.last_dispatched_at is null or o.last_dispatched_at < o.run_at)
   order by o.priority desc, o.run_at limit 1 for update skip locked;
  if next_id is not null then
    perform ops.dispatch_job(next_id);
    n := n + 1;
  end if;
  return n;
end
$$;

-- Claims a due job (or one whose lease expired) by id. Two dispatches of one job run it once:
-- the second waits on the row lock, then finds it running and claims nothing.
-- security definer: the worker role may claim a job by id; it may not read or write ops.jobs.
create or replace function ops.claim_job(p_job_id bigint, p_worker text)
returns setof ops.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs;
  qk text;
begin
  -- one job per queue key at a time, so a slow older sync never lands after a newer one;
  -- the advisory lock makes two concurrent claims for one key take turns
  select queue_key into qk from ops.jobs where id = p_job_id;
  if qk is not null then
    perform pg_advisory_xact_lock(hashtextextended(qk, 0));
    -- either way the dispatch reached a worker, which is all the sweep's dead-lettering asks
    -- (ops.sweep_jobs): a job waiting for its turn is not undeliverable
    if exists (select 1 from ops.jobs o where o.queue_key = qk and o.id <> p_job_id
                 and o.status = 'running' and o.locked_until > now()) then
      update ops.jobs set unclaimed_dispatches = 0 where id = p_job_id and unclaimed_dispatches <> 0;
      return; -- finishing that job dispatches this one (ops.dispatch_next)
    end if;
    if exists (select 1 from ops.jobs o where o.queue_key = qk and o.id < p_job_id
                 and o.status in ('queued', 'failed') and o.run_at <= now()) then
      update ops.jobs set unclaimed_dispatches = 0 where id = p_job_id and unclaimed_dispatches <> 0;
      -- an older due job of the same key goes first: wake a worker for it, unless one drains this
      -- kind and claims it anyway (else every drain poll that meets this job dispatched the older)
      if not exists (select 1 from ops.jobs jb join ops.job_drains d on d.kind = jb.kind
                      where jb.id = p_job_id and d.held_until > now()) then
        perform ops.dispatch_next(p_job_id);
      end if;
      return;
    end if;
  end if;
  -- the lease expired on the last attempt: the worker died on it (a poison payload?); dead-letter it
  update ops.jobs
     set status = 'dead', locked_by = null, locked_until = null, unclaimed_dispatches = 0,
         last_error = 'lease expired on the last attempt (worker died or timed out)'
   where id = p_job_id and status = 'running' and locked_until < now() and attempts >= max_attempts
  returning * into j;
  if j.id is not null then
    update ops.job_attempts set outcome = 'lease_expired', finished_at = now() where job_id = j.id and outcome is null;
    return;
  end if;
  update ops.jobs jb
     set status = 'running', attempts = jb.attempts + 1, locked_by = p_worker, unclaimed_dispatches = 0,
         locked_until = now() + make_interval(secs => k.lease_seconds)
    from ops.job_kinds k
   where jb.id = p_job_id and k.kind = jb.kind
     and ((jb.status in ('queued', 'failed') and jb.run_at <= now())
          or (jb.status = 'running' and jb.locked_until < now()))
  returning jb.* into j;
  if j.id is null then
    return;
  end if;
  update ops.job_attempts set outcome = 'lease_expired', finished_at = now()
   where job_id = j.id and outcome is null;
  insert into ops.job_attempts (job_id, attempt, worker) values (j.id, j.attempts, p_worker);
  return next j;
end
$$;

-- The one test of "this worker still holds this job": the job, locked, while it is running under
-- p_worker's claim; null once its lease was lost (another run took over) or it finished.
-- Called only by the worker's security definer doors below and in crm_sync; granted to no role.
create or replace function ops.held_job(p_job_id bigint, p_worker text) returns ops.jobs
language sql
set search_path = ''
as $$
  select * from ops.jobs where id = p_job_id and status = 'running' and locked_by = p_worker for update
$$;

-- The same, for a worker's write: a job it does not hold (any more) is an error, not a quiet no-op.
create or replace function ops.require_held_job(p_job_id bigint, p_worker text) returns ops.jobs
language plpgsql
set search_path = ''
as $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
begin
  if j.id is null then
    raise exception 'job % is not held by %', p_job_id, p_worker using errcode = 'lock_not_available';
  end if;
  return j;
end
$$;

-- Completes a job the worker still holds. False when its lease was lost (another run took over).
-- security definer: the worker role may finish the job it holds; it may not write ops.jobs.
create or replace function ops.complete_job(p_job_id bigint, p_worker text, p_result jsonb default null,
  p_hand_on boolean default true)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
begin
  if j.id is null then
    return false;
  end if;
  update ops.jobs
     set status = 'succeeded', succeeded_at = now(), locked_by = null, locked_until = null,
         last_error = null, result = p_result
   where id = j.id;
  update ops.job_attempts set outcome = 'succeeded', finished_at = now()
   where job_id = j.id and attempt = j.attempts and outcome is null;
  if p_hand_on then
    perform ops.dispatch_next(j.id);
  end if;
  return true;
end
$$;

-- Fails a job: retried after exponential backoff with jitter (or the provider's Retry-After when
-- longer), or dead after max attempts or when the error is permanent. Returns the new status.
-- security definer: the worker role may fail the job it holds; it may not write ops.jobs.
create or replace function ops.fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean default true,
  p_retry_after_ms integer default null, p_hand_on boolean default true)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
  k ops.job_kinds;
  next_status text;
  delay interval;
begin
  if j.id is null then
    return null;
  end if;
  select * into k from ops.job_kinds where kind = j.kind;
  next_status := case when p_retryable and j.attempts < j.max_attempts then 'failed' else 'dead' end;
  delay := greatest(ops.backoff_delay(j.attempts, k.backoff_base_ms, k.backoff_max_ms),
                    make_interval(secs => coalesce(p_retry_after_ms, 0) / 1000.0));
  update ops.jobs
     set status = next_status, locked_by = null, locked_until = null,
         last_error = left(coalesce(p_error, 'unknown error'), 1000),
         run_at = case when next_status = 'failed' then now() + delay else run_at end
   where id = j.id;
  update ops.job_attempts set outcome = next_status, error = left(p_error, 1000), finished_at = now()
   where job_id = j.id and attempt = j.attempts and outcome is null;
  if p_hand_on then
    perform ops.dispatch_next(j.id);
  end if;
  return next_status;
end
$$;

-- Hands a claimed job back without spending an attempt (e.g. the CRM rate budget is used up).
-- security definer: the worker role may hand back the job it holds; it may not write ops.jobs.
create or replace function ops.defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text,
  p_hand_on boolean default true)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
begin
  if j.id is null then
    return false;
  end if;
  update ops.jobs
     set status = 'queued', attempts = attempts - 1, locked_by = null, locked_until = null,
         run_at = now() + make_interval(secs => greatest(p_delay_ms, 0) / 1000.0), last_error = left(p_reason, 1000)
   where id = j.id;
  -- the attempt this claim started is given back
  delete from ops.job_attempts where job_id = j.id and attempt = j.attempts and outcome is null;
  if p_hand_on then
    perform ops.dispatch_next(j.id);
  end if;
  return true;
end
$$;

-- Draining (workers): after its dispatched job, an invocation keeps claiming due jobs of its kinds
-- here until none is due or its time budget is spent, so retries and deferrals run when due without
-- an HTTP hop per job. Candidates are locked skip-locked, so concurrent drainers take different ones;
-- ops.claim_job keeps one job per queue key at a time, oldest due first.
-- security definer: the worker role may claim, not read the queue.
create or replace function ops.claim_next_job(p_kinds text[], p_worker text)
returns setof ops.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  candidate bigint;
  j ops.jobs;
begin
  for candidate in
    select jb.id from ops.jobs jb
     where jb.kind = any (p_kinds) and jb.status in ('queued', 'failed') and jb.run_at <= now()
     order by jb.priority desc, jb.run_at
     limit 8
     for update skip locked
  loop
    select * into j from ops.claim_job(candidate, p_worker);
    if j.id is not null then
      -- a drain is under way: hold these kinds for 2 s (renewed at most once a second, so claims do
      -- not queue on the row); only a claim renews, so a drain whose candidates are all blocked lets go
      insert into ops.job_drains (kind, held_until)
      select k.kind, now() + interval '2 seconds' from ops.job_kinds k
       where k.kind = any (p_kinds)
         and not exists (select 1 from ops.job_drains d where d.kind = k.kind
                         and d.held_until > now() + interval '1 second')
      on conflict (kind) do update set held_until = excluded.held_until;
      return next j;
      return;
    end if;
  end loop;
end
$$;

-- A worker's last drain loop stops: new jobs of its kinds are dispatched again.
-- security definer: the worker role may not write ops tables.
create or replace function ops.end_job_drain(p_kinds text[]) returns void
language sql
security definer
set search_path = ''
as $$
  delete from ops.job_drains where kind = any (p_kinds)
$$;

-- Milliseconds until the next job of these kinds falls due (0: one is due now; null: none waits).
-- security definer: the worker role may not read the queue.
create or replace function ops.next_job_due_in_ms(p_kinds text[]) returns integer
language sql
stable
security definer
set search_path = ''
as $$
  -- greatest() ignores nulls, so the null of "nothing waits" is kept apart
  select case when min(run_at) is not null
              then greatest(0, ceil(extract(epoch from min(run_at) - now()) * 1000))::integer end
    from ops.jobs where kind = any (p_kinds) and status in ('queued', 'failed')
$$;

-- A drainer whose budget ran out hands the oldest due job (not dispatched in the last seconds) to a
-- new invocation through pg_net. Returns the job id, or null when nothing is due.
-- security definer: the worker role may neither read the queue nor dispatch (ops.dispatch_job).
create or replace function ops.dispatch_due_job(p_kinds text[]) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  next_id bigint;
begin
  select jb.id into next_id from ops.jobs jb
   where jb.kind = any (p_kinds) and jb.status in ('queued', 'failed') and jb.run_at <= now()
     and (jb.last_dispatched_at is null or jb.last_dispatched_at < now() - interval '5 seconds')
   order by jb.priority desc, jb.run_at
   limit 1 for update skip locked;
  if next_id is not null then
    perform ops.dispatch_job(next_id);
  end if;
  return next_id;
end
$$;

-- The delivery guarantee. pg_net deletes its queue row before sending and never retries, so the
-- sweep, not pg_net, is what guarantees delivery: it re-dispatches due retries, jobs whose dispatch
-- was lost (not claimed a while after dispatch) and jobs whose lease expired (worker died).
-- A dispatch that never leads to a claim (the worker refuses the secret, the function is missing,
-- pg_net is down) is re-sent after p_lost_after * 2^(n-1), at most p_max_wait, n being the
-- dispatches since the last claim; after p_max_unclaimed of them the job is dead, with what the
-- last dispatch got and what to check. Bounded per run; skip locked makes concurrent sweeps share
-- the work instead of repeating it.
create or replace function ops.sweep_jobs(
  p_limit integer default 500,
  p_lost_after interval default interval '30 seconds',
  p_max_unclaimed integer default 8,
  p_max_wait interval default interval '10 minutes'
) returns integer
language plpgsql
set search_path = ''
as $$
declare
  to_dispatch bigint[];
  job_id bigint;
begin
  -- one statement over the swept jobs: pick them, read what their last dispatch got (one join on
  -- net._http_response by its indexed id), explain it on queued jobs, and dead-letter the jobs
  -- that ran out of dispatches
  with picked as (
    select jb.id, jb.status, jb.priority, jb.run_at, jb.unclaimed_dispatches, jb.last_request_id, k.function_name
      from ops.jobs jb join ops.job_kinds k on k.kind = jb.kind
     where (jb.status in ('queued', 'failed') and jb.run_at <= now()
            and (jb.last_dispatched_at is null or jb.last_dispatched_at < jb.run_at
                 or jb.last_dispatched_at < now() - least(
                      p_lost_after * power(2, least(greatest(jb.unclaimed_dispatches, 1) - 1, 20)), p_max_wait))
            -- a drain of its kind claims it; re-dispatching the backlog each tick would be a storm
            and not exists (select 1 from ops.job_drains d where d.kind = jb.kind and d.held_until > now()))
        or (jb.status = 'running' and jb.locked_until < now()
            and (jb.unclaimed_dispatches = 0
                 or jb.last_dispatched_at < now() - least(
                      p_lost_after * power(2, least(jb.unclaimed_dispatches - 1, 20)), p_max_wait)))
     order by jb.priority desc, jb.run_at
     limit p_limit
     for update of jb skip locked
  ), answered as (
    select p.*, p.unclaimed_dispatches >= p_max_unclaimed as give_up,
           r.id is not null and r.status_code is not null and r.status_code < 300 as answered_ok,
           case when p.last_request_id is null then null
                when r.id is null then 'no answer recorded (pg_net down, the request still in flight, or its answer '
                                       'purged)'
                when r.error_msg is not null then 'pg_net: ' || r.error_msg
                when r.status_code is null
                  then 'pg_net: no HTTP status' || case when r.timed_out then ' (timed out)' else '' end
                else 'HTTP ' || r.status_code || ' ' || left(coalesce(r.content, ''), 200) end as answer
      from picked p left join net._http_response r on r.id = p.last_request_id
  ), marked as (
    update ops.jobs jb
       set status = case when a.give_up then 'dead' else jb.status end,
           locked_by = case when a.give_up then null else jb.locked_by end,
           locked_until = case when a.give_up then null else jb.locked_until end,
           last_error = left(case
             when a.give_up then format(
               'undeliverable: %s dispatches since its last claim led to no claim; '
               'the last (pg_net request %s) got: %s. '
               'Check the vault secrets functions_base_url and worker_secret, that the function %s is deployed, '
               'and that its WORKER_SECRET holds the vault''s worker_secret',
               a.unclaimed_dispatches, a.last_request_id, coalesce(a.answer, 'nothing'), a.function_name)
             else format('dispatch %s: %s', a.last_request_id, a.answer) end, 1000)
      from answered a
     where jb.id = a.id
       and (a.give_up or (jb.status = 'queued' and a.unclaimed_dispatches > 0 and a.answer is not null
                          and not a.answered_ok))
    returning jb.id, jb.status
  ), closed as (
    -- a dead-lettered job whose lease had expired: its open attempt ends there
    update ops.job_attempts t set outcome = 'lease_expired', finished_at = now()
      from marked m where t.job_id = m.id and m.status = 'dead' and t.outcome is null
    returning t.job_id
  )
  select array_agg(a.id order by a.priority desc, a.run_at) filter (where not a.give_up) into to_dispatch
    from answered a;
  foreach job_id in array coalesce(to_dispatch, '{}') loop
    perform ops.dispatch_job(job_id);
  end loop;
  return coalesce(cardinality(to_dispatch), 0);
end
$$;

-- Replay a dead, failed or finished job: same row, same payload, same dedupe (idempotency) key,
-- a fresh attempt budget. False when the job does not exist or is running.
create or replace function ops.replay_job(p_job_id bigint) returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update ops.jobs
     set status = 'queued', attempts = 0, run_at = now(), locked_by = null, locked_until = null,
         unclaimed_dispatches = 0
   where id = p_job_id and status in ('dead', 'failed', 'succeeded', 'queued');
  if not found then
    return false;
  end if;
  perform ops.dispatch_job(p_job_id);
  return true;
end
$$;

create or replace function ops.replay_jobs(p_status text default 'dead', p_kind text default null,
                                           p_limit integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
  n integer := 0;
begin
  for job_id in
    select id from ops.jobs where status = p_status and (p_kind is null or kind = p_kind) order by id limit p_limit
  loop
    n := n + ops.replay_job(job_id)::int;
  end loop;
  return n;
end
$$;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'pipeline_worker') then
    -- Workers' login role: claim/complete/fail jobs and the narrow reads and writes their kind needs.
    create role pipeline_worker nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to pipeline_worker;

grant execute on function ops.claim_job(bigint, text), ops.complete_job(bigint, text, jsonb, boolean),
  ops.fail_job(bigint, text, text, boolean, integer, boolean), ops.defer_job(bigint, text, integer, text, boolean),
  ops.claim_next_job(text[], text), ops.next_job_due_in_ms(text[]), ops.dispatch_due_job(text[]),
  ops.end_job_drain(text[]) to pipeline_worker;
