-- The sweep reads pg_net's answers without an index it may not create (#17): on hosted, net._http_response
-- (about 6 h of answers) is supabase_admin's and migration 1400's index on id is missing, so the sweep's
-- join by id scanned every answer. Now it reads a window on `created`, pg_net's own index. Replaces
-- ops.sweep_jobs (same signature and behaviour otherwise); touches no row.

-- The delivery guarantee, as in migration 1000, reading pg_net's answers without an index it may not create:
-- on hosted, net._http_response (about 6 h of answers) is pg_net's owner's, indexed by pg_net on `created`
-- only. The answers read are those of swept jobs whose last dispatch led to no claim (the only ones the
-- sweep explains or dead-letters), created since the oldest such dispatch (at most an hour back, 10 minutes
-- in steady state: the longest wait between re-dispatches), in one scan of that window per sweep. An answer
-- created before its job's dispatch (a request id pg_net handed out again) is not taken for it.
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
  since timestamptz;
begin
  -- a bound for the window, read before the jobs are locked: a job re-dispatched meanwhile only moves later
  -- (null, so no scan at all, when no job waits on one)
  select case when min(jb.last_dispatched_at) is not null
              then greatest(min(jb.last_dispatched_at), now() - interval '1 hour') - interval '1 second' end
    into since
    from ops.jobs jb
   where jb.status in ('queued', 'failed', 'running') and jb.unclaimed_dispatches > 0
     and jb.last_request_id is not null;
  with picked as (
    select jb.id, jb.status, jb.priority, jb.run_at, jb.unclaimed_dispatches, jb.last_request_id,
           jb.last_dispatched_at, k.function_name
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
  ), answers as materialized (
    -- one range scan of pg_net's (created) index; nothing when no swept job waits on an answer
    select r.id, r.status_code, r.content, r.error_msg, r.timed_out, r.created
      from net._http_response r
     where r.created >= since
       and r.id in (select p.last_request_id from picked p where p.unclaimed_dispatches > 0)
  ), answered as (
    select p.*, p.unclaimed_dispatches >= p_max_unclaimed as give_up,
           r.created is not null and r.status_code is not null and r.status_code < 300 as answered_ok,
           case when p.last_request_id is null or p.unclaimed_dispatches = 0 then null
                when r.created is null then 'no answer recorded (pg_net down, the request still in flight, or its '
                                            'answer purged)'
                when r.error_msg is not null then 'pg_net: ' || r.error_msg
                when r.status_code is null
                  then 'pg_net: no HTTP status' || case when r.timed_out then ' (timed out)' else '' end
                else 'HTTP ' || r.status_code || ' ' || left(coalesce(r.content, ''), 200) end as answer
      from picked p
      left join lateral (
        select a.* from answers a
         where p.unclaimed_dispatches > 0 and a.id = p.last_request_id
           and a.created >= p.last_dispatched_at - interval '1 second'
         order by a.created desc limit 1
      ) r on true
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
