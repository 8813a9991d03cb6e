-- Alerts (#10): each default rule's firing and clearing logic (ops.check_alert_rule) with an injected
-- clock, and the evaluator's incident lifecycle: opened once, seen while open, resolved once after
-- clear_after (or at once on recovery), never reopened by the same outage's events, inhibited rules,
-- one notice per open and resolve. The clock is put in 2100 so the stack's own rows (other tests')
-- fall outside every window; rows about state (dead jobs, open tickets, failed events, findings) are
-- cleared inside this transaction, which is rolled back.
begin;
-- pg_cron's evaluator (every minute) takes this lock, then writes rows this file's transaction may hold: take it
-- first, so the evaluator waits for this transaction instead of deadlocking with it
select pg_advisory_xact_lock(hashtextextended('ops.evaluate_alerts', 0));
set search_path = public, extensions;
select plan(91);

-- the injected clock
create temp table clock (t timestamptz);
insert into clock values ('2100-01-01 12:00:00+00');
create function pg_temp.t(p_offset interval default interval '0') returns timestamptz language sql as $$ select t + p_offset from clock $$;
-- one rule's verdict at a time, over its whole window
create function pg_temp.fires(p_rule text, p_at timestamptz) returns boolean language sql as $$
  select (ops.check_alert_rule(r, p_at, p_at - r.window_interval)).firing from ops.alert_rules r where r.rule = p_rule $$;
create function pg_temp.job(p_kind text, p_status text, p_attempts int default 1, p_payload jsonb default '{}')
returns bigint language sql as $$
  insert into ops.jobs (kind, payload, dedupe_key, status, attempts, max_attempts, run_at)
  values (p_kind, p_payload, 'pgtap:' || gen_random_uuid(), p_status, p_attempts, 15, '2100-01-01 12:00:00+00')
  returning id $$;
create function pg_temp.attempt(p_job bigint, p_outcome text, p_at timestamptz) returns void language sql as $$
  insert into ops.job_attempts (job_id, attempt, worker, started_at, finished_at, outcome, error)
  values (p_job, 1, 'pgtap', p_at - interval '1 second', p_at, p_outcome, case when p_outcome <> 'succeeded' then 'HubSpot 503' end) $$;
create function pg_temp.evt(p_type text, p_status text, p_at timestamptz, p_live boolean default false) returns text language sql as $$
  insert into ops.stripe_events (event_id, type, livemode, event_created, payload, status, received_at)
  values ('evt_pgtap_' || gen_random_uuid(), p_type, p_live, p_at, '{}', p_status, p_at) returning event_id $$;

-- a clean slate for the rules over state, inside this transaction only
update ops.alert_incidents set status = 'resolved', resolved_at = now() where status = 'open';
delete from ops.jobs where status = 'dead';
update public.support_tickets set status = 'closed' where status <> 'closed';
update ops.stripe_events set status = 'processed' where status in ('received', 'failed', 'dead');
update ops.reconciliation_findings set status = 'resolved', resolved_at = now() where status = 'open';

-- ---------------------------------------------------------------- defaults
-- (set_has: rules a founder, or another test, added beside them do not matter here)
select set_has($$ select rule from ops.alert_rules $$,
  $$ values ('crm_failure_rate'), ('dead_jobs'), ('failed_runs'), ('reconciliation_drift'), ('refund_dispute_unapplied'),
            ('stripe_quiet'), ('support_backlog'), ('sync_p95'), ('ticket_creation_failing'), ('ticket_spike'),
            ('webhook_failure_rate') $$,
  'the default rules are the issue''s eleven');
select set_has($$ select rule from ops.alert_rules $$, $$ values ('webhook_refusals') $$,
  'and webhook_refusals (#16), unsigned requests apart from the webhook''s failures');
select is_empty($$ select rule from ops.alert_rules where runbook !~ '\S' or runbook ~ '\n' $$, 'every rule has a one-line runbook');
select results_eq($$ select command, schedule from cron.job where jobname = 'ops-evaluate-alerts' $$,
  $$ values ('select ops.run_alert_evaluation()'::text, '* * * * *'::text) $$,
  'pg_cron evaluates the alerts every minute');
select is_empty($$ select 1 from ops.alert_rules r where r.rule <> 'pgtap_rule'
                     and (ops.check_alert_rule(r, pg_temp.t(), pg_temp.t() - r.window_interval)).firing $$,
  'with nothing in any window and no bad state, no rule fires');

-- ---------------------------------------------------------------- webhook_failure_rate
-- failures after a valid signature only; refusals anyone can send are webhook_refusals' (14-webhook-refusals)
insert into ops.endpoint_outcomes (endpoint, minute, status_class, reason, count)
values ('stripe-webhook', date_trunc('minute', pg_temp.t('-5 minutes')), '5xx', 'unavailable', 2),
       ('stripe-webhook', date_trunc('minute', pg_temp.t('-5 minutes')), '4xx', 'signature', 50);
select ok(not pg_temp.fires('webhook_failure_rate', pg_temp.t()), 'webhook: 2 failed answers are fewer than min_count (3)');
update ops.endpoint_outcomes set count = 3 where minute = date_trunc('minute', pg_temp.t('-5 minutes')) and reason = 'unavailable';
select ok(pg_temp.fires('webhook_failure_rate', pg_temp.t()), 'webhook: 3 failed answers and nothing else: fires');
select pg_temp.evt('customer.updated', 'processed', pg_temp.t('-4 minutes') + make_interval(secs => i)) from generate_series(1, 200) i;
select ok(not pg_temp.fires('webhook_failure_rate', pg_temp.t()), 'webhook: 3 failed of 203 (1.5 %) stays under 2 %');
select pg_temp.evt('customer.updated', 'failed', pg_temp.t('-3 minutes'));
insert into ops.endpoint_outcomes (endpoint, minute, status_class, reason, count)
values ('stripe-webhook', date_trunc('minute', pg_temp.t('-3 minutes')), '4xx', 'signed_payload', 2);
select ok(pg_temp.fires('webhook_failure_rate', pg_temp.t()), 'webhook: 5xx answers, signed events refused and failed applies count together (6 of 206)');
select is((ops.check_alert_rule(r, pg_temp.t(), pg_temp.t() - r.window_interval)).detail -> 'answers_failed',
          '{"4xx:signed_payload": 2, "5xx:unavailable": 3}'::jsonb, 'webhook: what it saw names the reasons, and no refusal')
  from ops.alert_rules r where r.rule = 'webhook_failure_rate';
select ok(not pg_temp.fires('webhook_failure_rate', pg_temp.t('16 minutes')), 'webhook: clears once the window passed');
delete from ops.endpoint_outcomes where minute > pg_temp.t('-1 day');
delete from ops.stripe_events where event_id like 'evt_pgtap_%';

-- ---------------------------------------------------------------- failed_runs
select pg_temp.attempt(pg_temp.job('crm.contact', 'queued'), 'lease_expired', pg_temp.t('-2 minutes')) from generate_series(1, 3);
select ok(not pg_temp.fires('failed_runs', pg_temp.t()), 'failed runs: 3 lost leases are not more than 3');
-- dead-lettered by the sweep: 8 dispatches never led to a claim
insert into ops.jobs (kind, dedupe_key, status, max_attempts, run_at, unclaimed_dispatches, updated_at)
values ('crm.deal', 'pgtap:undeliverable', 'dead', 15, pg_temp.t('-40 minutes'), 8, pg_temp.t('-1 minute'));
select ok(pg_temp.fires('failed_runs', pg_temp.t()), 'failed runs: 3 lost leases and an undeliverable job are 4: fires');
select ok(not pg_temp.fires('failed_runs', pg_temp.t('11 minutes')), 'failed runs: clears after its 10 minutes');
delete from ops.jobs where dedupe_key like 'pgtap:%';
-- inside the window, alone: five failed attempts would fire the rule if they counted
select pg_temp.attempt(pg_temp.job('crm.contact', 'failed'), 'failed', pg_temp.t('-1 minute')) from generate_series(1, 5);
select ok(not pg_temp.fires('failed_runs', pg_temp.t()), 'failed runs: a provider''s errors (failed attempts) are not our failed runs');
delete from ops.jobs where dedupe_key like 'pgtap:%';
-- dispatches our worker functions answered with an error, or not at all
insert into net._http_response (id, status_code, content, created)
select 2100000000 + g, case when g = 4 then null else 500 end, 'worker failed', pg_temp.t('-1 minute') from generate_series(1, 4) g;
select ok(not pg_temp.fires('failed_runs', pg_temp.t('11 minutes')), 'failed runs: failed dispatches age out of the window');
select is((ops.check_alert_rule(r, pg_temp.t(), pg_temp.t() - r.window_interval)).detail ->> 'dispatches_failed', '4',
  'failed runs: worker dispatches answered 5xx or not at all count')
  from ops.alert_rules r where r.rule = 'failed_runs';
select ok(pg_temp.fires('failed_runs', pg_temp.t()), 'failed runs: 4 failed dispatches are more than 3: fires');
delete from net._http_response where id > 2100000000 and id <= 2100000004;

-- ---------------------------------------------------------------- sync_p95
create function pg_temp.synced(p_seconds int, p_attempts int default 1) returns void language plpgsql as $$
declare
  v_id bigint := pg_temp.job('crm.deal', 'succeeded', p_attempts);
begin
  update ops.jobs set created_at = pg_temp.t('-10 minutes'), succeeded_at = pg_temp.t('-10 minutes') + make_interval(secs => p_seconds)
   where id = v_id;
end $$;
select pg_temp.synced(90) from generate_series(1, 4);
select ok(not pg_temp.fires('sync_p95', pg_temp.t()), 'sync p95: 4 slow jobs are fewer than min_count (5)');
select pg_temp.synced(90, 3) from generate_series(1, 5);
select ok(not pg_temp.fires('sync_p95', pg_temp.t()), 'sync p95: jobs that needed retries are the CRM failure rule''s, not latency');
select pg_temp.synced(90);
select ok(pg_temp.fires('sync_p95', pg_temp.t()), 'sync p95: 5 first-try jobs at 90 s: p95 > 60 s fires');
select pg_temp.synced(2) from generate_series(1, 200);
select ok(not pg_temp.fires('sync_p95', pg_temp.t()), 'sync p95: with 200 fast ones the p95 is under 60 s');
delete from ops.jobs where dedupe_key like 'pgtap:%';

-- ---------------------------------------------------------------- crm_failure_rate
create temp table crm_job as select pg_temp.job('crm.contact', 'failed') as id;
select pg_temp.attempt((select id from crm_job), 'failed', pg_temp.t('-8 minutes') + make_interval(secs => i)) from generate_series(1, 2) i;
select ok(not pg_temp.fires('crm_failure_rate', pg_temp.t()), 'CRM: 2 failures are fewer than min_count (3)');
select pg_temp.attempt((select id from crm_job), 'dead', pg_temp.t('-7 minutes'));
select ok(pg_temp.fires('crm_failure_rate', pg_temp.t()), 'CRM: 3 failed attempts of 3: fires');
select pg_temp.attempt((select id from crm_job), 'succeeded', pg_temp.t('-6 minutes') + make_interval(secs => i)) from generate_series(1, 100) i;
select ok(pg_temp.fires('crm_failure_rate', pg_temp.t()), 'CRM: 3 of 103 (2.9 %) still fires');
select ok((ops.check_alert_rule(r, pg_temp.t(), pg_temp.t() - r.window_interval)).recovered, 'CRM: but it has recovered: no failure for 5 minutes and successes since')
  from ops.alert_rules r where r.rule = 'crm_failure_rate';
select ok(not (ops.check_alert_rule(r, pg_temp.t('-4 minutes'), pg_temp.t('-19 minutes'))).recovered,
  'CRM: 3 minutes after the last failure it has not recovered yet')
  from ops.alert_rules r where r.rule = 'crm_failure_rate';
select pg_temp.attempt((select id from crm_job), 'lease_expired', pg_temp.t('-1 minute')) from generate_series(1, 10);
select ok((ops.check_alert_rule(r, pg_temp.t(), pg_temp.t() - r.window_interval)).recovered,
  'CRM: lost leases are our failed runs, not CRM failures')
  from ops.alert_rules r where r.rule = 'crm_failure_rate';
delete from ops.jobs where dedupe_key like 'pgtap:%';

-- ---------------------------------------------------------------- dead_jobs
select pg_temp.job('notify.slack', 'dead', 8, '{"entity": "incident:1", "template": "slack_alert_opened"}');
select ok(not pg_temp.fires('dead_jobs', pg_temp.t()), 'dead jobs: a dead alert notice does not count (no alert about alerts)');
select pg_temp.job('crm.deal', 'dead') from generate_series(1, 3);
select ok(pg_temp.fires('dead_jobs', pg_temp.t()), 'dead jobs: any dead job fires');
select is((ops.check_alert_rule(r, pg_temp.t(), pg_temp.t())).value, 3::numeric, 'dead jobs: it counts them all, in one verdict')
  from ops.alert_rules r where r.rule = 'dead_jobs';
delete from ops.jobs where dedupe_key like 'pgtap:%';

-- ---------------------------------------------------------------- refund_dispute_unapplied
create temp table refund_evt as select pg_temp.evt('charge.refunded', 'failed', pg_temp.t()) as id;
select ok(not pg_temp.fires('refund_dispute_unapplied', pg_temp.t('9 minutes')), 'refund: not applied after 9 minutes does not fire yet');
select ok(pg_temp.fires('refund_dispute_unapplied', pg_temp.t('11 minutes')), 'refund: not applied after 11 minutes fires');
select is((ops.check_alert_rule(r, pg_temp.t('11 minutes'), pg_temp.t())).detail -> 'event_ids', jsonb_build_array((select id from refund_evt)),
  'refund: what it saw names the event') from ops.alert_rules r where r.rule = 'refund_dispute_unapplied';
update ops.stripe_events set status = 'processed' where event_id = (select id from refund_evt);
select ok(not pg_temp.fires('refund_dispute_unapplied', pg_temp.t('11 minutes')), 'refund: applied (even late) clears it');
select pg_temp.evt('charge.dispute.created', 'dead', pg_temp.t());
select pg_temp.evt('customer.updated', 'failed', pg_temp.t());
select ok(pg_temp.fires('refund_dispute_unapplied', pg_temp.t('11 minutes')), 'dispute: a dead dispute event fires');
select is((ops.check_alert_rule(r, pg_temp.t('11 minutes'), pg_temp.t())).value, 1::numeric,
  'refund: other event types are not this rule''s') from ops.alert_rules r where r.rule = 'refund_dispute_unapplied';
delete from ops.stripe_events where event_id like 'evt_pgtap_%';

-- ---------------------------------------------------------------- support_backlog and ticket_spike
insert into public.support_tickets (source, category, subject, created_at) values ('system', 'dispute', 'pgtap old', pg_temp.t('-23 hours'));
select ok(not pg_temp.fires('support_backlog', pg_temp.t()), 'backlog: a ticket open for 23 hours does not fire');
select ok(pg_temp.fires('support_backlog', pg_temp.t('2 hours')), 'backlog: open for 25 hours fires');
update public.support_tickets set status = 'pending' where subject = 'pgtap old';
select ok(not pg_temp.fires('support_backlog', pg_temp.t('2 hours')), 'backlog: pending (waiting on the customer) is not backlog');
insert into public.support_tickets (source, category, subject, created_at)
select 'system', 'dispute', 'pgtap spike', pg_temp.t('-30 minutes') + make_interval(mins => i) from generate_series(1, 4) i;
select ok(not pg_temp.fires('ticket_spike', pg_temp.t()), 'spike: 4 tickets in an hour are fewer than min_count (5)');
insert into public.support_tickets (source, category, subject, created_at) values ('system', 'dispute', 'pgtap spike', pg_temp.t('-1 minute'));
select ok(pg_temp.fires('ticket_spike', pg_temp.t()), 'spike: 5 in an hour (120 a day) against none before fires');
insert into public.support_tickets (source, category, subject, created_at)
select 'system', 'dispute', 'pgtap trailing', pg_temp.t('-2 hours') - make_interval(hours => i * 2) from generate_series(1, 70) i;
select ok(pg_temp.fires('ticket_spike', pg_temp.t()), 'spike: 120 a day against 10 a day before (3x = 30) fires');
update ops.alert_rules set threshold = 20 where rule = 'ticket_spike';
select ok(not pg_temp.fires('ticket_spike', pg_temp.t()), 'spike: with the founder''s threshold of 20x (200 a day) it does not');
update public.support_tickets set status = 'closed' where subject like 'pgtap%';

-- ---------------------------------------------------------------- ticket_creation_failing
create temp table ticket_job as select pg_temp.job('support.ticket', 'failed') as id;
select pg_temp.attempt((select id from ticket_job), 'failed', pg_temp.t('-5 minutes') + make_interval(mins => i)) from generate_series(1, 2) i;
select ok(not pg_temp.fires('ticket_creation_failing', pg_temp.t()), 'tickets: 2 failures in a row are not 3');
select pg_temp.attempt((select id from ticket_job), 'dead', pg_temp.t('-1 minute'));
select ok(pg_temp.fires('ticket_creation_failing', pg_temp.t()), 'tickets: 3 failures in a row fire');
select pg_temp.attempt((select id from ticket_job), 'succeeded', pg_temp.t('-30 seconds'));
select ok(not pg_temp.fires('ticket_creation_failing', pg_temp.t()), 'tickets: a success ends the run of failures');
delete from ops.jobs where dedupe_key like 'pgtap:%';

-- ---------------------------------------------------------------- stripe_quiet
update ops.settings set stripe_livemode = false;
select ok(not pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: in test mode nothing fires, however quiet');
update ops.settings set stripe_livemode = true;
select ok((select stripe_live_since = now() from ops.settings), 'quiet: going live records when (stripe_live_since)');
select ok(pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: live, and no live event within 24 hours: fires');
update ops.settings set stripe_live_since = pg_temp.t('-10 minutes');
select ok(not pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: live for 10 minutes with no live event yet: not yet (going live is no alert)');
select ok(pg_temp.fires('stripe_quiet', pg_temp.t('1 day')), 'quiet: still no live event a day after going live: fires');
select matches((ops.check_alert_rule(r, pg_temp.t('1 day'), pg_temp.t('1 day') - r.window_interval)).summary,
  '^live for 1450 minutes, and no live-mode Stripe event received since', 'quiet: the summary says how long it has been live')
  from ops.alert_rules r where r.rule = 'stripe_quiet';
update ops.settings set stripe_live_since = pg_temp.t('-2 days');
select pg_temp.evt('customer.updated', 'processed', pg_temp.t('-1 hour'), false);
select ok(pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: a test-mode event does not count while live');
select pg_temp.evt('customer.updated', 'processed', pg_temp.t('-1 hour'), true);
select ok(not pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: a live event an hour ago clears it');
update ops.alert_rules set window_interval = interval '30 minutes' where rule = 'stripe_quiet';
select ok(pg_temp.fires('stripe_quiet', pg_temp.t()), 'quiet: the quiet period is the rule''s window, which the founder sets');
update ops.settings set stripe_livemode = false;
select is((select stripe_live_since from ops.settings), null, 'quiet: back in test mode, stripe_live_since is cleared');
delete from ops.stripe_events where event_id like 'evt_pgtap_%';

-- ---------------------------------------------------------------- reconciliation_drift
insert into ops.reconciliation_findings (kind, object_id, next_action) values ('amount_mismatch', 'pi_pgtap', 'compare in Stripe');
select ok(pg_temp.fires('reconciliation_drift', pg_temp.t()), 'drift: an open finding fires');
update ops.reconciliation_findings set status = 'resolved', resolved_at = now() where object_id = 'pi_pgtap';
select ok(not pg_temp.fires('reconciliation_drift', pg_temp.t()), 'drift: resolved findings do not');

-- ---------------------------------------------------------------- the evaluator
update ops.alert_rules set enabled = rule in ('dead_jobs', 'crm_failure_rate', 'webhook_failure_rate', 'failed_runs');
create temp table notices as select count(*) as n from ops.jobs where payload ->> 'entity' like 'incident:%' and created_at >= now();
create function pg_temp.new_notices() returns setof text language sql as $$
  select payload ->> 'template' || ':' || (payload ->> 'recipient') from ops.jobs
   where payload ->> 'entity' like 'incident:%' and created_at >= now() order by id offset (select n from notices) $$;
select pg_temp.job('crm.deal', 'dead') from generate_series(1, 3);
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t()) where action <> 'clear' $$,
  $$ values ('dead_jobs'::text, 'opened'::text) $$, 'evaluator: three dead jobs open one incident');
select results_eq($$ select summary, status from ops.alert_incidents where rule = 'dead_jobs' and opened_at = pg_temp.t() $$,
  $$ values ('3 dead jobs'::text, 'open'::text) $$, 'evaluator: the incident says what it saw');
select set_eq($$ select x from pg_temp.new_notices() x $$,
  $$ values ('slack_alert_opened:team'), ('founder_alert_opened:founder') $$, 'evaluator: one Slack notice and one founder email');
select pg_temp.job('crm.contact', 'dead') from generate_series(1, 5);
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('1 minute')) where action <> 'clear' $$,
  $$ values ('dead_jobs'::text, 'seen'::text) $$, 'evaluator: more dead jobs are the same incident, seen again');
select results_eq($$ select count(*)::int, max(last_seen_at), max(summary) from ops.alert_incidents where rule = 'dead_jobs' and opened_at = pg_temp.t() $$,
  $$ values (1, pg_temp.t('1 minute'), '8 dead jobs'::text) $$, 'evaluator: one incident, last_seen_at and detail moved on');
select is((select count(*)::int from pg_temp.new_notices()), 2, 'evaluator: seeing it again sends nothing');
delete from ops.jobs where dedupe_key like 'pgtap:%' and status = 'dead';
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('2 minutes')) where action <> 'clear' $$,
  $$ values ('dead_jobs'::text, 'clearing'::text) $$, 'evaluator: clear, but not for clear_after (2 minutes) yet');
select pg_temp.job('crm.deal', 'dead');
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('3 minutes')) where action <> 'clear' $$,
  $$ values ('dead_jobs'::text, 'seen'::text) $$, 'evaluator: firing again while clearing keeps the incident (no flapping); it saw 1 dead job last');
delete from ops.jobs where dedupe_key like 'pgtap:%' and status = 'dead';
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('4 minutes')) where rule = 'dead_jobs'
                  union all select action from ops.evaluate_alerts(pg_temp.t('5 minutes')) where rule = 'dead_jobs'
                  union all select action from ops.evaluate_alerts(pg_temp.t('6 minutes')) where rule = 'dead_jobs'
                  union all select action from ops.evaluate_alerts(pg_temp.t('7 minutes')) where rule = 'dead_jobs' $$,
  $$ values ('clearing'::text), ('clearing'), ('resolved'), ('clear') $$, 'evaluator: resolved once, after 2 minutes clear');
select results_eq($$ select status, resolved_at from ops.alert_incidents where rule = 'dead_jobs' and opened_at = pg_temp.t() $$,
  $$ values ('resolved'::text, pg_temp.t('6 minutes')) $$, 'evaluator: the incident is resolved at the injected time');
select set_eq($$ select x from pg_temp.new_notices() x $$,
  $$ values ('slack_alert_opened:team'), ('founder_alert_opened:founder'), ('slack_alert_resolved:team'), ('founder_alert_resolved:founder') $$,
  'evaluator: one resolve notice to Slack and one to the founder');

-- a notice says the rule, what it saw, the runbook and how long it lasted
create temp table notice_job as
  select id from ops.jobs where payload ->> 'template' = 'founder_alert_resolved' and created_at >= now() order by id desc limit 1;
select ok((select count(*) from ops.claim_job((select id from notice_job), 'pgtap-notify')) = 1, 'the resolve notice can be claimed');
select is(((ops.notify_job_context((select id from notice_job), 'pgtap-notify') -> 'data') - 'incident_id' - 'observed' - 'description'),
  jsonb_build_object('rule', 'dead_jobs', 'severity', 'warning', 'summary', '1 dead job',
    'runbook', (select runbook from ops.alert_rules where rule = 'dead_jobs'),
    'opened_at', pg_temp.t(), 'resolved_at', pg_temp.t('6 minutes'), 'duration_seconds', 360),
  'the notice''s payload: rule, severity, summary, runbook, opened, resolved, lasted');

-- recovery: a CRM outage resolves once the CRM answers again, without waiting for its window
update ops.jobs set status = 'succeeded' where kind like 'crm.%' and status = 'dead';
create temp table outage as select pg_temp.job('crm.contact', 'failed') as id;
select pg_temp.attempt((select id from outage), 'failed', pg_temp.t('10 minutes') + make_interval(secs => i)) from generate_series(1, 5) i;
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('11 minutes')) where rule = 'crm_failure_rate' $$,
  $$ values ('opened'::text) $$, 'recovery: the CRM outage opens its incident');
select pg_temp.attempt((select id from outage), 'succeeded', pg_temp.t('12 minutes'));
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('13 minutes')) where rule = 'crm_failure_rate' $$,
  $$ values ('seen'::text) $$, 'recovery: a success 2 minutes after the last failure is not a recovery yet');
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('16 minutes')) where rule = 'crm_failure_rate' $$,
  $$ values ('resolved'::text) $$, 'recovery: 5 minutes without failure, a success since: resolved while the window still holds 5 of 6 failed');
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('17 minutes')) where rule = 'crm_failure_rate' $$,
  $$ values ('clear'::text) $$, 'recovery: the outage''s failures never reopen it (the window starts at the resolve)');
select pg_temp.attempt((select id from outage), 'failed', pg_temp.t('18 minutes') + make_interval(secs => i)) from generate_series(1, 3) i;
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('19 minutes')) where rule = 'crm_failure_rate' $$,
  $$ values ('opened'::text) $$, 'recovery: a new outage after the resolve is a new incident');

-- one cause, one rule: a webhook outage answered 5xx is the webhook rule's incident, not also failed runs'
insert into ops.endpoint_outcomes (endpoint, minute, status_class, reason, count)
values ('stripe-webhook', date_trunc('minute', pg_temp.t('19 minutes')), '5xx', 'unavailable', 10);
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('20 minutes')) where rule in ('webhook_failure_rate', 'failed_runs') order by rule $$,
  $$ values ('failed_runs'::text, 'clear'::text), ('webhook_failure_rate', 'opened') $$,
  'one cause, one rule: ten webhook 5xx answers open the webhook incident only');
select results_eq($$ select count(*)::int from ops.alert_incidents where status = 'open' $$, $$ values (2) $$,
  'one incident per outage: the CRM''s and the webhook''s');
-- inhibition: a rule naming the open incident's rule (of its severity or higher) opens nothing
update ops.alert_rules set inhibited_by = '{webhook_failure_rate}' where rule = 'dead_jobs';
select pg_temp.job('crm.deal', 'dead');
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('21 minutes')) where rule = 'dead_jobs' $$,
  $$ values ('dead_jobs'::text, 'inhibited'::text) $$, 'inhibition: a warning rule is inhibited by the open critical one it names');
select ok((select firing from ops.alert_status where rule = 'dead_jobs'), 'ops.alert_status shows the inhibited rule firing');
delete from ops.jobs where dedupe_key like 'pgtap:%' and status = 'dead';
update ops.alert_rules set inhibited_by = '{}' where rule = 'dead_jobs';
select ok((select open_incident_id is not null from ops.alert_status where rule = 'webhook_failure_rate'), 'ops.alert_status shows the open incident');

-- a person may resolve an incident by hand: one resolve notice, like the evaluator's
update ops.alert_incidents set status = 'resolved', resolved_at = pg_temp.t('21 minutes') where rule = 'webhook_failure_rate' and status = 'open';
select is((select count(*)::int from ops.jobs where payload ->> 'template' like '%alert_resolved'
            and payload ->> 'entity' = 'incident:' || (select max(id) from ops.alert_incidents where rule = 'webhook_failure_rate')), 2,
  'a resolve by hand sends its two notices once');

-- a rule is a row and a function: the row's check_fn is checked when written, and a failing check
-- is that rule's error only
select is_empty($$ select rule from ops.alert_rules where rule not like 'pgtap%' and rule not like 'dash_%'
                     and check_fn::text not like 'ops.alert_check_' || rule || '(%' $$,
  'each default rule names its own check function, ops.alert_check_<rule>');
select throws_ok($$ update ops.alert_rules set check_fn = 'ops.interval_words(interval)' where rule = 'dead_jobs' $$,
  '22023', null, 'a check_fn of another shape is refused when written');
create function ops.alert_check_pgtap_boom(r ops.alert_rules, p_now timestamptz, p_since timestamptz,
  out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql as $$ begin raise exception 'pgtap boom'; end $$;
update ops.alert_rules set enabled = rule in ('dead_jobs', 'crm_failure_rate');
update ops.alert_rules set check_fn = 'ops.alert_check_pgtap_boom(ops.alert_rules,timestamptz,timestamptz)'
 where rule = 'dead_jobs';
set local client_min_messages = error;
select results_eq($$ select rule, action = 'error' from ops.evaluate_alerts(pg_temp.t('2 hours')) order by rule $$,
  $$ values ('crm_failure_rate'::text, false), ('dead_jobs', true) $$,
  'evaluator: a failing check is its rule''s error, and the other rules are evaluated all the same');
reset client_min_messages;
select is((select summary from ops.alert_rule_state where rule = 'dead_jobs'), 'check failed: pgtap boom',
  'evaluator: the failure shows in the rule''s state (ops.alert_status)');

-- the counter door
select throws_ok($$ select ops.record_endpoint_outcome('stripe-webhook', 200, 'ok') $$, '22023', null,
  'only 4xx and 5xx answers are counted');
select ok(has_function_privilege('stripe_webhook', 'ops.record_endpoint_outcome(text, integer, text)', 'execute'),
  'the webhook''s role may count its answers');
select ok(not has_table_privilege('stripe_webhook', 'ops.endpoint_outcomes', 'select, insert, update, delete'),
  'the webhook''s role holds no privilege on the counters table');
select ok(not has_function_privilege('stripe_webhook', 'ops.evaluate_alerts(timestamptz)', 'execute'),
  'the webhook''s role may not evaluate alerts');

select * from finish();
rollback;
