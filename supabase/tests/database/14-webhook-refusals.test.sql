-- Webhook refusals apart from failures (#16): requests anyone can send to the webhook (no or bad signature,
-- a body that is not UTF-8, a wrong method, too large) never open webhook_failure_rate nor any page; they
-- count in webhook_refusals (info: Slack only). While they flood, a real failure (worker dispatches, the
-- webhook's 5xx after a valid signature) still opens its critical incident: nothing inhibits failed_runs,
-- and no incident inhibits a rule of higher severity. Clock in 2100 (p_now), as 11-alerts.
begin;
-- pg_cron's evaluator (every minute) takes this lock, then writes rows this file's transaction may hold: take it
-- first, so the evaluator waits for this transaction instead of deadlocking with it
select pg_advisory_xact_lock(hashtextextended('ops.evaluate_alerts', 0));
set search_path = public, extensions;
select plan(21);

create temp table clock (t timestamptz);
insert into clock values ('2100-03-01 12:00:00+00');
create function pg_temp.t(p_offset interval default interval '0') returns timestamptz language sql as $$
  select t + p_offset from clock $$;
create function pg_temp.check(p_rule text, p_at timestamptz)
returns table (firing boolean, value numeric, summary text, detail jsonb, recovered boolean) language sql as $$
  select (ops.check_alert_rule(r, p_at, p_at - r.window_interval)).* from ops.alert_rules r where r.rule = p_rule $$;
create function pg_temp.answers(p_at timestamptz, p_class text, p_reason text, p_count int) returns void
language sql as $$
  insert into ops.endpoint_outcomes as o (endpoint, minute, status_class, reason, count)
  values ('stripe-webhook', date_trunc('minute', p_at), p_class, p_reason, p_count)
  on conflict (endpoint, minute, status_class, reason) do update set count = o.count + excluded.count $$;
-- worker dispatches answered 500 (a worker outage, as failed_runs sees it)
create function pg_temp.failed_dispatches(p_first bigint, p_n int, p_at timestamptz) returns void language sql as $$
  insert into net._http_response (id, status_code, content, created)
  select p_first + g, 500, 'worker failed', p_at from generate_series(1, p_n) g $$;
-- the notices an incident sent, as template:recipient
create function pg_temp.notices(p_rule text) returns setof text language sql as $$
  select j.payload ->> 'template' || ':' || (j.payload ->> 'recipient') from ops.jobs j
   where j.payload ->> 'entity' in (select 'incident:' || i.id from ops.alert_incidents i
                                     where i.rule = p_rule and i.opened_at >= pg_temp.t())
   order by j.id $$;

-- a clean slate, inside this transaction only; only the webhook's rules and failed_runs are evaluated
update ops.alert_incidents set status = 'resolved', resolved_at = now() where status = 'open';
-- the answers other test files' requests left on this stack would add to ops.webhook_answers' `kept`
delete from ops.endpoint_outcomes;
update ops.alert_rules set enabled = rule in ('webhook_failure_rate', 'webhook_refusals', 'failed_runs');

-- ---------------------------------------------------------------- the rows
select results_eq($$ select severity, to_regprocedure(check_fn)
                      from ops.alert_rules where rule = 'webhook_refusals' $$,
  $$ values ('info'::text,
            'ops.alert_check_webhook_refusals(ops.alert_rules,timestamptz,timestamptz)'::regprocedure) $$,
  'webhook_refusals is a rule of its own, severity info, with its own check');
select is((select inhibited_by from ops.alert_rules where rule = 'failed_runs'), '{}'::text[],
  'failed_runs is inhibited by nothing: no open incident can mute a worker outage');
select results_eq($$ select r, ops.stripe_webhook_refusal(c, r)
                      from (values ('4xx', 'signature'), ('4xx', 'payload'), ('4xx', 'method'), ('4xx', 'too_large'),
                                   ('4xx', 'incomplete'), ('4xx', 'rejected'), ('4xx', 'signed_payload'),
                                   ('5xx', 'internal')) v(c, r) $$,
  $$ values ('signature'::text, true), ('payload', true), ('method', true), ('too_large', true), ('incomplete', true),
            ('rejected', true), ('signed_payload', false), ('internal', false) $$,
  'refusals are every 4xx but a signed payload; a 5xx is ours whoever sent the request');

-- ---------------------------------------------------------------- three unsigned POSTs page nobody
select pg_temp.answers(pg_temp.t('-1 minute'), '4xx', 'signature', 3);
select ok(not (select c.firing from pg_temp.check('webhook_failure_rate', pg_temp.t()) c),
  'three bad signatures are not webhook failures (they fired the critical rule before #16)');
select is((select c.value from pg_temp.check('webhook_refusals', pg_temp.t()) c), 3::numeric,
  'they are three webhook refusals');
select is_empty($$ select rule, action from ops.evaluate_alerts(pg_temp.t()) where action <> 'clear' $$,
  'three refusals open nothing: fewer than the refusals'' threshold (10)');

-- ---------------------------------------------------------------- a flood of them: one info incident
select pg_temp.answers(pg_temp.t('-1 minute'), '4xx', 'signature', 497);
select pg_temp.answers(pg_temp.t('-1 minute'), '4xx', 'payload', 20);
select pg_temp.answers(pg_temp.t('-1 minute'), '4xx', 'method', 5);
select pg_temp.answers(pg_temp.t('-1 minute'), '4xx', 'too_large', 2);
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('1 minute')) order by rule $$,
  $$ values ('failed_runs'::text, 'clear'::text), ('webhook_failure_rate', 'clear'), ('webhook_refusals', 'opened') $$,
  'a flood of 527 refusals opens webhook_refusals only');
select is_empty($$ select i.rule from ops.alert_incidents i join ops.alert_rules r using (rule)
                    where i.status = 'open' and r.severity <> 'info' $$,
  'no critical or warning incident is open');
select results_eq($$ select x from pg_temp.notices('webhook_refusals') x $$,
  $$ values ('slack_alert_opened:team'::text) $$,
  'the info incident posts to Slack and sends the founder no email (no page)');
select is((select summary from ops.alert_incidents where rule = 'webhook_refusals' and status = 'open'),
  '527 requests to the Stripe webhook refused before a valid signature in 15 min (signature 500, payload 20, '
  'method 5, too_large 2); 0 signed deliveries accepted',
  'its summary names the reasons and how many signed deliveries were accepted');
select results_eq($$ select rule, firing from ops.alert_status
                     where rule in ('webhook_failure_rate', 'webhook_refusals') order by rule $$,
  $$ values ('webhook_failure_rate'::text, false), ('webhook_refusals', true) $$,
  'ops.alert_status shows the refusals rule firing and the failure rule not');
select results_eq($$ select reason, counts_in, kept::int from ops.webhook_answers where last_minute > '2100-01-01'
                     order by reason $$,
  $$ values ('method'::text, 'webhook_refusals'::text, 5), ('payload', 'webhook_refusals', 20),
            ('signature', 'webhook_refusals', 500), ('too_large', 'webhook_refusals', 2) $$,
  'ops.webhook_answers shows each reason and the rule it counts in');

-- ---------------------------------------------------------------- a real outage during the flood still pages
select pg_temp.answers(pg_temp.t('1 minute'), '4xx', 'signature', 1000);
select pg_temp.failed_dispatches(2100000100, 4, pg_temp.t('1 minute'));
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('2 minutes')) order by rule $$,
  $$ values ('failed_runs'::text, 'opened'::text), ('webhook_failure_rate', 'clear'), ('webhook_refusals', 'seen') $$,
  'four failed worker dispatches open failed_runs while forged requests flood');
select set_eq($$ select x from pg_temp.notices('failed_runs') x $$,
  $$ values ('slack_alert_opened:team'), ('founder_alert_opened:founder') $$,
  'the worker outage pages the founder');
select is(((select c.detail from pg_temp.check('failed_runs', pg_temp.t('2 minutes')) c) ->> 'endpoint_5xx')::int, 0,
  'the refusals are no failed runs of ours');
-- the webhook failing after a valid signature: 5xx answers and a signed event it could not take
select pg_temp.answers(pg_temp.t('2 minutes'), '5xx', 'unavailable', 3);
select pg_temp.answers(pg_temp.t('2 minutes'), '4xx', 'signed_payload', 1);
select results_eq($$ select rule, action from ops.evaluate_alerts(pg_temp.t('3 minutes')) order by rule $$,
  $$ values ('failed_runs'::text, 'seen'::text), ('webhook_failure_rate', 'opened'), ('webhook_refusals', 'seen') $$,
  'four failures after a valid signature open webhook_failure_rate during the flood');
select is((select c.detail from pg_temp.check('webhook_failure_rate', pg_temp.t('3 minutes')) c) -> 'answers_failed',
  '{"5xx:unavailable": 3, "4xx:signed_payload": 1}'::jsonb,
  'webhook_failure_rate saw the failures and none of the 1527 refusals');
select is((select c.value from pg_temp.check('failed_runs', pg_temp.t('3 minutes')) c), 4::numeric,
  'the webhook''s 5xx are webhook_failure_rate''s, not counted again in failed_runs (one cause, one rule)');
select set_eq($$ select x from pg_temp.notices('webhook_failure_rate') x $$,
  $$ values ('slack_alert_opened:team'), ('founder_alert_opened:founder') $$,
  'the webhook outage pages the founder');

-- ---------------------------------------------------------------- inhibition never goes down the severities
-- a founder's edit that would let the refusals mute failed_runs: the evaluator does not follow it
update ops.alert_incidents set status = 'resolved', resolved_at = pg_temp.t('4 minutes')
 where rule = 'failed_runs' and status = 'open';
update ops.alert_rules set inhibited_by = '{webhook_refusals}' where rule = 'failed_runs';
select pg_temp.failed_dispatches(2100000200, 4, pg_temp.t('5 minutes'));
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('6 minutes')) where rule = 'failed_runs' $$,
  $$ values ('opened'::text) $$, 'an open info incident does not inhibit a critical rule, whatever inhibited_by says');
-- the same edit with a rule of the same severity: inhibition as before
update ops.alert_incidents set status = 'resolved', resolved_at = pg_temp.t('7 minutes')
 where rule = 'failed_runs' and status = 'open';
update ops.alert_rules set inhibited_by = '{webhook_failure_rate}' where rule = 'failed_runs';
select pg_temp.failed_dispatches(2100000300, 4, pg_temp.t('8 minutes'));
select results_eq($$ select action from ops.evaluate_alerts(pg_temp.t('9 minutes')) where rule = 'failed_runs' $$,
  $$ values ('inhibited'::text) $$, 'an open critical incident still inhibits a critical rule that names it');

select * from finish();
rollback;
