-- Several jobs per statement (#21), as pgmq, graphile-worker and river do: a drainer claims up to N due jobs
-- in one call (skip-locked candidates, each through ops.claim_job's per-entity rules and lease) and finishes
-- a batch of outcomes (succeeded, failed, deferred) in one; a CRM job records its mapping and completes in
-- one transaction. Adds ops.claim_jobs, ops.finish_jobs, ops.finish_crm_job; claim_next_job claims one.

-- Definer: pipeline_worker and reconciler hold no table privilege; they claim only through this door.
create or replace function ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer default 1)
returns setof ops.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  candidate bigint;
  j ops.jobs;
  n integer := 0;
  want integer := least(greatest(coalesce(p_limit, 1), 1), 100);
begin
  -- a few more candidates than wanted: some are blocked by an older job of their queue key, or a running one
  -- (each candidate is locked: more would cost a row lock each)
  for candidate in
    select jb.id from ops.jobs jb
     where jb.kind = any (p_kinds) and jb.status in ('queued', 'failed') and jb.run_at <= now()
     order by jb.priority desc, jb.run_at
     limit want + 4
     for update skip locked
  loop
    -- one job per queue key at a time holds inside a batch too: ops.claim_job sees this batch's claims
    select * into j from ops.claim_job(candidate, p_worker);
    if j.id is not null then
      n := n + 1;
      return next j;
      exit when n >= want;
    end if;
  end loop;
  if n > 0 then
    -- a drain is under way: hold these kinds for 2 s (renewed at most once a second, so claims do not
    -- queue on the row); only a claim renews, so a drain whose candidates are all blocked lets go
    insert into ops.job_drains (kind, held_until)
    select k.kind, now() + interval '2 seconds' from ops.job_kinds k
     where k.kind = any (p_kinds)
       and not exists (select 1 from ops.job_drains d where d.kind = k.kind
                       and d.held_until > now() + interval '1 second')
    on conflict (kind) do update set held_until = excluded.held_until;
  end if;
end
$$;
comment on function ops.claim_jobs(text[], text, integer) is
  'A drainer''s claim: up to p_limit due jobs of these kinds, highest priority then oldest first, one per queue '
  'key, each leased to p_worker.';

-- Definer: the one-job claim of earlier workers, now a batch of one.
create or replace function ops.claim_next_job(p_kinds text[], p_worker text)
returns setof ops.jobs
language sql
security definer
set search_path = ''
as $$
  select * from ops.claim_jobs(p_kinds, p_worker, 1)
$$;

-- Definer: the worker finishes only jobs it holds (status running, locked_by p_worker), with no table privilege.
-- p_outcomes: [{id, outcome: succeeded | failed | deferred, result, error, retryable, retry_after_ms, delay_ms}].
-- failed: retried after the kind's backoff (or Retry-After when longer) while attempts remain, else dead;
-- deferred: queued again after delay_ms and the attempt given back (a rate budget, a provider's 429).
-- Answers the jobs finished and their new status; a job whose lease was lost is not among them.
create or replace function ops.finish_jobs(p_worker text, p_outcomes jsonb)
returns table (job_id bigint, status text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  return query
  with o as (
    select (x ->> 'id')::bigint as id, coalesce(x ->> 'outcome', 'failed') as outcome, x -> 'result' as result,
           left(coalesce(x ->> 'error', 'unknown error'), 1000) as error,
           coalesce((x ->> 'retryable')::boolean, true) as retryable,
           coalesce((x ->> 'retry_after_ms')::integer, 0) as retry_after_ms,
           greatest(coalesce((x ->> 'delay_ms')::integer, 0), 0) as delay_ms
      from jsonb_array_elements(coalesce(p_outcomes, '[]'::jsonb)) x
  ), held as (
    select jb.id, jb.attempts, o.outcome, o.result, o.error, o.delay_ms,
           case o.outcome when 'succeeded' then 'succeeded' when 'deferred' then 'queued'
                else case when o.retryable and jb.attempts < jb.max_attempts then 'failed' else 'dead' end
           end as next_status,
           greatest(ops.backoff_delay(jb.attempts, k.backoff_base_ms, k.backoff_max_ms),
                    make_interval(secs => o.retry_after_ms / 1000.0)) as backoff
      from ops.jobs jb
      join o on o.id = jb.id
      join ops.job_kinds k on k.kind = jb.kind
     where jb.status = 'running' and jb.locked_by = p_worker
     for update of jb
  ), done as (
    update ops.jobs jb
       set status = h.next_status, locked_by = null, locked_until = null,
           succeeded_at = case when h.next_status = 'succeeded' then now() else jb.succeeded_at end,
           result = case when h.next_status = 'succeeded' then h.result else jb.result end,
           last_error = case when h.next_status = 'succeeded' then null else h.error end,
           attempts = case when h.outcome = 'deferred' then jb.attempts - 1 else jb.attempts end,
           run_at = case h.next_status when 'failed' then now() + h.backoff
                                       when 'queued' then now() + make_interval(secs => h.delay_ms / 1000.0)
                                       else jb.run_at end
      from held h
     where jb.id = h.id
    returning jb.id, jb.status, h.attempts as attempt, h.outcome, h.error
  ), given_back as (
    -- the attempt a deferral's claim started is given back
    delete from ops.job_attempts a using done d
     where d.outcome = 'deferred' and a.job_id = d.id and a.attempt = d.attempt and a.outcome is null
  ), attempts as (
    update ops.job_attempts a
       set outcome = d.status, finished_at = now(), error = case when d.status <> 'succeeded' then d.error end
      from done d
     where d.outcome <> 'deferred' and a.job_id = d.id and a.attempt = d.attempt and a.outcome is null
  )
  select d.id, d.status from done d;
end
$$;
comment on function ops.finish_jobs(text, jsonb) is
  'A worker''s outcomes for jobs it holds, in one statement: succeeded, failed (backoff or dead) or deferred.';

-- Definer: record_crm_sync and the completion in one transaction (one statement for the worker).
create or replace function ops.finish_crm_job(
  p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- raises 55P03 when the job is not held: nothing is recorded, and the worker's failure finds no lease
  perform ops.record_crm_sync(p_job_id, p_worker, p_adapter, p_mapping);
  return exists (select 1 from ops.finish_jobs(p_worker, jsonb_build_array(
    jsonb_build_object('id', p_job_id, 'outcome', 'succeeded', 'result', p_result))));
end
$$;
comment on function ops.finish_crm_job(bigint, text, text, jsonb, jsonb) is
  'crm-sync: stores a job''s CRM mappings (ops.record_crm_sync) and completes it, in one transaction.';

revoke all on function ops.claim_jobs(text[], text, integer) from public;
revoke all on function ops.finish_jobs(text, jsonb) from public;
revoke all on function ops.finish_crm_job(bigint, text, text, jsonb, jsonb) from public;
grant execute on function ops.claim_jobs(text[], text, integer) to pipeline_worker, reconciler;
grant execute on function ops.finish_jobs(text, jsonb) to pipeline_worker, reconciler;
grant execute on function ops.finish_crm_job(bigint, text, text, jsonb, jsonb) to pipeline_worker;
