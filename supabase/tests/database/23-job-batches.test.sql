-- What matters goes first, several jobs per statement (#20, #21): priority set at enqueue from
-- ops.job_priorities (templates added later fall back to their kind's row), ops.claim_jobs takes a batch by
-- priority then run_at (one per queue key, leased), ops.finish_jobs finishes a batch (succeeded, failed with
-- backoff or dead, deferred with the attempt given back), ops.finish_crm_job records and completes at once,
-- and ops.jobs keeps only the indexes its queries need. One transaction: now() stands still.
begin;
set search_path = public, extensions;
select plan(32);

delete from ops.jobs;
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms, backoff_max_ms)
values ('pgtap.batch', 'pgtap-batch', 2, 7000, 30, 1000, 30000);
insert into ops.job_priorities (kind, template, priority, why)
values ('pgtap.batch', 'urgent_receipt', 100, 'test'), ('pgtap.batch', 'urgent_q2', 100, 'test'),
       ('pgtap.batch', '%', 5, 'test');

create function pg_temp.enqueue(p_key text, p_template text default null, p_queue text default null) returns bigint
language sql as $$
  select ops.enqueue_job('pgtap.batch', jsonb_strip_nulls(jsonb_build_object('key', p_key, 'template', p_template)),
                         'batch:' || p_key, interval '0', 0, null, p_queue)
$$;

-- ------------------------------------------------------------ priority at enqueue
select ops.enqueue_notification('email', 'payment_receipt', 'order:pgtap-1', 'user:pgtap-1') as receipt \gset
select ops.enqueue_notification('email', 'welcome', 'user:pgtap-1', 'user:pgtap-1') as welcome \gset
select ops.enqueue_notification('email', 'ticket_reply', 'ticket:pgtap-1', 'user:pgtap-1') as reply \gset
select ops.enqueue_notification('email', 'some_future_notice', 'user:pgtap-1', 'user:pgtap-1') as future \gset
select is((select priority from ops.jobs where id = :receipt), 100, 'a receipt is urgent: priority 100');
select is((select priority from ops.jobs where id = :welcome), 0, 'a welcome is normal: priority 0');
select is((select priority from ops.jobs where id = :reply), 100,
  'a template listed before it exists (ticket_reply) is urgent');
select is((select priority from ops.jobs where id = :future), 0, 'a template nobody listed runs at its kind''s priority');
select is(ops.job_priority('crm.deal', '{"order_id": "x"}'), 100, 'a CRM deal (paid order, refund, dispute) is urgent');
select is(ops.job_priority('crm.contact', '{"customer_id": "x"}'), 0, 'a contact update goes after deals');
select is(ops.job_priority('no.such.kind', '{}'), 0, 'a kind without a row gets 0');
select is(ops.job_priority('pgtap.batch', '{"template": "urgent_receipt"}'), 100,
  'a template''s own row beats its kind''s');
update ops.job_priorities set priority = 7 where kind = 'pgtap.batch' and template = '%';
select is(ops.job_priority('pgtap.batch', '{"template": "other"}'), 7, 'a founder''s change applies to the next enqueue');
delete from ops.jobs where kind = 'notify.email';

-- ------------------------------------------------------------ batch claims
select pg_temp.enqueue('low-old') as low_old \gset
select pg_temp.enqueue('low-new') as low_new \gset
select pg_temp.enqueue('high', 'urgent_receipt') as high \gset
select pg_temp.enqueue('q1', p_queue => 'order:pgtap') as q1 \gset
select pg_temp.enqueue('q2', 'urgent_q2', 'order:pgtap') as q2 \gset
update ops.jobs set run_at = now() - interval '1 minute' where id = :low_new; -- due longer than low-old
select is((select array_agg(c.id) from ops.claim_jobs(array['pgtap.batch'], 'w1', 2) c),
  array[:high::bigint, :low_new::bigint], 'a batch claim takes the highest priority first, then the longest due');
select is((select count(*)::int from ops.jobs where status = 'running' and locked_by = 'w1' and locked_until > now()),
  2, 'each job of the batch is leased to the claiming worker');
select is((select count(*)::int from ops.job_attempts where job_id in (:high, :low_new) and outcome is null),
  2, 'each claimed job starts an attempt');
select is((select array_agg(id order by id) from ops.claim_jobs(array['pgtap.batch'], 'w2', 10)),
  array[:low_old::bigint, :q1::bigint], 'one job per queue key: the older of a key''s jobs goes first, whatever its rank');
select is((select count(*)::int from ops.claim_jobs(array['pgtap.batch'], 'w3', 10)), 0,
  'a job waiting for its key''s running job is not claimed');

-- ------------------------------------------------------------ batch finishes
select results_eq(
  format($$ select job_id, status from ops.finish_jobs('w1', '[
      {"id": %s, "outcome": "succeeded", "result": {"sent": 1}},
      {"id": %s, "outcome": "deferred", "error": "rate budget used up", "delay_ms": 1500}]') order by job_id $$,
    :high, :low_new),
  format($$ values (%s::bigint, 'succeeded'::text), (%s::bigint, 'queued'::text) order by 1 $$, :high, :low_new),
  'one statement finishes a batch: a success and a deferral');
select is((select result from ops.jobs where id = :high), '{"sent": 1}'::jsonb, 'the success keeps its result');
select ok((select status = 'succeeded' and succeeded_at = now() and locked_by is null from ops.jobs where id = :high),
  'the success is succeeded, its lease released');
select ok((select attempts = 0 and run_at = now() + interval '1.5 seconds' and last_error = 'rate budget used up'
             from ops.jobs where id = :low_new),
  'a deferral queues the job after its delay and gives its attempt back');
select is((select count(*)::int from ops.job_attempts where job_id = :low_new), 0, 'the deferred attempt is not kept');
select is((select count(*)::int from ops.finish_jobs('w2', format('[{"id": %s, "outcome": "succeeded"}]', :high)::jsonb)),
  0, 'a worker cannot finish a job it does not hold');
select results_eq(
  format($$ select job_id, status from ops.finish_jobs('w2', '[
      {"id": %s, "outcome": "failed", "error": "HubSpot 502", "retryable": true},
      {"id": %s, "outcome": "failed", "error": "HubSpot 400", "retryable": false}]') order by job_id $$,
    :low_old, :q1),
  format($$ values (%s::bigint, 'failed'::text), (%s::bigint, 'dead'::text) order by 1 $$, :low_old, :q1),
  'a transient failure retries, a permanent one is dead');
select ok((select run_at between now() + interval '0.5 seconds' and now() + interval '1 second'
             from ops.jobs where id = :low_old),
  'the first retry waits the kind''s base backoff, scaled by jitter into [50%, 100%]');
select is((select outcome || ': ' || error from ops.job_attempts where job_id = :low_old), 'failed: HubSpot 502',
  'the failed attempt is recorded with its error');

-- ------------------------------------------------------------ CRM: record and complete in one statement
insert into public.customers (email, name, billing_status) values ('pgtap-batch@example.com', 'Pat Batch', 'lead')
returning id as customer \gset
select id as contact_job from ops.jobs where kind = 'crm.contact' and payload ->> 'customer_id' = :'customer' \gset
select is((select count(*)::int from ops.claim_job(:contact_job, 'crm-w')), 1, 'crm-sync claims the contact job');
select ok(ops.finish_crm_job(:contact_job, 'crm-w', 'capture',
            jsonb_build_object('contacts', jsonb_build_array(jsonb_build_object('customer_id', :'customer',
              'email', 'pgtap-batch@example.com', 'crm_id', 'c-1', 'lifecycle_stage', 'lead', 'version', 1))),
            '{"adapter": "capture"}'),
  'finish_crm_job records the mapping and completes');
select ok((select j.status = 'succeeded' and c.crm_contact_id = 'c-1'
             from ops.jobs j, ops.crm_contacts c where j.id = :contact_job and c.customer_id = :'customer'),
  'the mapping and the completion landed together');
select throws_ok(format($$ select ops.finish_crm_job(%s, 'crm-w', 'capture', '{}', '{}') $$, :contact_job), '55P03',
  null, 'a job no longer held records nothing');

-- ------------------------------------------------------------ urgent takers first under a shared budget
select is(ops.take_rate_tokens('pgtap:rank', 1, 1, 60000, true), 0, 'an urgent taker takes a free token');
select ok(ops.take_rate_tokens('pgtap:rank', 1, 1, 60000, true) > 0, 'the next urgent taker waits for the window');
select ok(ops.take_rate_tokens('pgtap:rank', 1, 5, 60000, false) > 0,
  'while an urgent taker waits, a non-urgent one waits too, even with room under its own capacity');

-- ------------------------------------------------------------ indexes and HOT updates
select set_eq($$ select indexname::text from pg_indexes where schemaname = 'ops' and tablename = 'jobs' $$,
  array['jobs_pkey', 'jobs_dedupe_key_key', 'jobs_due_idx', 'jobs_queue_key_idx', 'jobs_running_idx',
        'jobs_finished_idx', 'jobs_dead_idx', 'jobs_order_idx', 'jobs_customer_idx'],
  'ops.jobs keeps only the indexes its queries need (docs/architecture.md names the query of each)');
select pg_temp.enqueue('hot') as hot \gset
select n_tup_hot_upd as hot_before from pg_stat_xact_user_tables where relid = 'ops.jobs'::regclass \gset
update ops.jobs set last_dispatched_at = now(), dispatch_count = dispatch_count + 1, unclaimed_dispatches = 1
 where id = :hot;
select is((select n_tup_hot_upd - :hot_before from pg_stat_xact_user_tables where relid = 'ops.jobs'::regclass),
  1::bigint, 'a dispatch''s bookkeeping (no indexed column, updated_at included) is a HOT update');

select * from finish();
rollback;
