-- Reconciliation against Stripe (#10): the reconcile job kind and its hourly schedule, one run at a
-- time, the event types it recovers agreeing with the dispatcher, the reconciler role's narrow doors
-- (only while it holds a reconcile job), and ingest through them marked source 'reconciliation'.
-- Everything is created inside the transaction.
begin;
set search_path = public, extensions;
select plan(21);

select is((select function_name from ops.job_kinds where kind = 'reconcile'), 'reconcile',
  'reconcile jobs run in the reconcile function');
select is((select schedule from cron.job where jobname = 'ops-reconcile'), '7 * * * *', 'pg_cron asks for a run every hour');
select matches((select command from cron.job where jobname = 'ops-reconcile'), 'ops\.enqueue_reconcile',
  'through ops.enqueue_reconcile');

-- one run at a time: any run already waiting or running is the one asked for
update ops.jobs set status = 'succeeded' where kind = 'reconcile' and status in ('queued', 'running', 'failed');
create temp table pgtap_runs as select ops.enqueue_reconcile('pgtap') as first, ops.enqueue_reconcile('pg_cron') as second;
select is((select first from pgtap_runs), (select second from pgtap_runs), 'a second request while one waits names the same job');
select is((select count(*) from ops.jobs where kind = 'reconcile' and status in ('queued', 'running', 'failed')), 1::bigint,
  'one reconcile job waits');
select is((select queue_key from ops.jobs where id = (select first from pgtap_runs)), 'reconcile',
  'its queue key keeps runs one at a time');

-- the types reconciliation recovers are exactly those ops.apply_stripe_event applies
create function pg_temp.dispatch_outcome(p_type text) returns text language plpgsql as $$
begin
  return ops.apply_stripe_event(jsonb_build_object('id', 'evt_pgtap_type', 'type', p_type, 'created', 1700000000,
                                                   'data', jsonb_build_object('object', jsonb_build_object(
                                                     'id', 'x_pgtap', 'payment_intent', 'pi_pgtap_type', 'charge', 'ch_pgtap_type',
                                                     'customer', 'cus_pgtap_type', 'subscription', 'sub_pgtap_type',
                                                     'status', 'succeeded', 'amount', 100, 'currency', 'usd'))));
exception when others then
  return 'error'; -- a handled type that cannot apply a dummy object: still handled
end
$$;
select is_empty(
  $$ select t from unnest(array['checkout.session.completed', 'checkout.session.async_payment_succeeded',
       'checkout.session.async_payment_failed', 'checkout.session.expired', 'payment_intent.succeeded',
       'payment_intent.payment_failed', 'payment_intent.canceled', 'payment_intent.created', 'charge.refunded',
       'charge.succeeded', 'charge.captured', 'charge.updated', 'charge.failed', 'refund.created', 'refund.updated',
       'refund.failed', 'charge.refund.updated', 'charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed',
       'charge.dispute.funds_withdrawn', 'invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed',
       'invoice.created', 'invoice.finalized', 'customer.subscription.created', 'customer.subscription.updated',
       'customer.subscription.deleted', 'customer.subscription.paused', 'customer.subscription.resumed',
       'customer.subscription.trial_will_end', 'customer.created', 'customer.updated', 'customer.deleted',
       'customer.source.created', 'product.created', 'price.updated', 'payout.paid']) t
      where ops.stripe_event_type_applied(t) <> (pg_temp.dispatch_outcome(t) <> 'ignored') $$,
  'ops.stripe_event_type_applied agrees with the dispatcher on every type listed');

-- the reconciler: its jobs and its doors, nothing else
select set_eq(
  $$ select p.proname::text from pg_proc p
      where p.pronamespace = 'ops'::regnamespace and has_function_privilege('reconciler', p.oid, 'execute') $$,
  array['claim_job', 'complete_job', 'fail_job', 'defer_job', 'claim_next_job', 'next_job_due_in_ms', 'dispatch_due_job',
        'end_job_drain', 'claim_jobs', 'finish_jobs', 'reconcile_begin', 'reconcile_missing_events', 'reconcile_ingest_event', 'reconcile_advance',
        'reconcile_objects_to_fetch', 'reconcile_record_checks', 'reconcile_note', 'reconcile_connect_accounts'],
  'reconciler executes the job engine''s worker functions and the reconciliation doors only');
select ok(not has_function_privilege('reconciler', 'ops.ingest_stripe_event(jsonb, boolean, text, boolean, text)', 'execute'),
  'reconciler cannot ingest except through its door');
select is_empty(
  $$ select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname !~ '^pg_(temp|toast)'
        -- pg_net's tables are granted to PUBLIC by their owner, as on hosted (05-pg-net)
        and n.nspname <> 'net'
        and has_schema_privilege('reconciler', n.oid, 'usage')
        and has_table_privilege('reconciler', c.oid, 'select, insert, update, delete') $$,
  'reconciler holds no privilege on any table it can reach (but pg_net''s, see 05-pg-net)');

-- a finding kind is a row and a verdict function
select is_empty($$ select kind from ops.reconciliation_kinds
                    where verdict_fn::text not like 'ops.reconcile_verdicts_' || kind || '(%' $$,
  'each finding kind names its own verdict function, ops.reconcile_verdicts_<kind>');
select throws_ok($$ insert into ops.reconciliation_kinds (kind, description, verdict_fn)
                    values ('pgtap_kind', 'a typo', 'ops.reconcile_sessions(jsonb)') $$,
  '22023', null, 'a verdict_fn of another shape is refused when written');

grant usage on schema extensions to reconciler;
grant select on pgtap_runs to reconciler;
update ops.settings set stripe_livemode = false, stripe_account_id = null;
-- acting as reconciler, holding no job
set local role reconciler;
select throws_ok(
  $$ select ops.reconcile_ingest_event((select first from pg_temp.pgtap_runs), 'pgtap-worker',
       '{"id":"evt_pgtap_recon","type":"customer.updated","created":1700000000,"data":{"object":{"id":"cus_pgtap_recon"}}}', false, null) $$,
  '55P03', null, 'a reconciler that holds no reconcile job cannot ingest');
reset role;
select ok((select id from ops.claim_job((select first from pgtap_runs), 'pgtap-worker')) is not null, 'the run is claimed');
set local role reconciler;
select throws_ok(
  $$ select ops.reconcile_begin((select first from pg_temp.pgtap_runs), 'pgtap-worker', true, null, '3 days', '5 minutes', '72 hours') $$,
  '55000', null, 'a live-mode key is refused while ops.settings takes test-mode events');
select is(
  ops.reconcile_begin((select first from pgtap_runs), 'pgtap-worker', false, null, '3 days', '5 minutes', '72 hours') ->> 'scope',
  'test', 'a test-mode key reconciles the test scope');
select is(
  ops.reconcile_missing_events((select first from pgtap_runs), 'pgtap-worker',
    '[{"id":"evt_pgtap_recon","type":"customer.updated"},{"id":"evt_pgtap_other","type":"payment_intent.created"}]'),
  array['evt_pgtap_recon'], 'of a listed page, the applicable events the ledger lacks are missing');
select is(
  ops.reconcile_ingest_event((select first from pgtap_runs), 'pgtap-worker',
    '{"id":"evt_pgtap_recon","type":"customer.updated","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_pgtap_recon","email":null}}}',
    false, null) ->> 'duplicate',
  'false', 'a missing event is ingested');
select is(
  ops.reconcile_ingest_event((select first from pgtap_runs), 'pgtap-worker',
    '{"id":"evt_pgtap_recon","type":"customer.updated","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_pgtap_recon","email":null}}}',
    false, null) ->> 'duplicate',
  'true', 'ingesting it again is a duplicate that changes nothing');
reset role;
select results_eq(
  $$ select source, status from ops.stripe_events where event_id = 'evt_pgtap_recon' $$,
  $$ values ('reconciliation', 'processed') $$,
  'the ledger row says it came through reconciliation');
select results_eq(
  $$ select kind, status from ops.reconciliation_findings where object_id = 'evt_pgtap_recon' $$,
  $$ values ('missing_event_recovered', 'resolved') $$,
  'one missing_event_recovered finding, resolved on recovery');

select * from finish();
rollback;
