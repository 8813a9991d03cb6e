-- The current schema (public, ops, private), dumped from the local stack by `npm run schema:dump`.
-- Generated: change a migration, reset the stack, then dump again (tests/schema-dump.test.ts
-- fails while this file differs from what the migrations build). Read it; nothing applies it.

--
-- PostgreSQL database dump
--


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: ops; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA ops;


--
-- Name: SCHEMA ops; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA ops IS 'Pipeline internals: Stripe event ledger, Stripe object mirrors, state machines, outbox. Not exposed through the API.';


--
-- Name: private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA private;


--
-- Name: SCHEMA private; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA private IS 'Helpers for RLS policies. Not exposed through the API.';


--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA public;


--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA public IS 'standard public schema';


--
-- Name: admin_clear_access_override(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_clear_access_override(p_customer_id uuid, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_before jsonb;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  perform 1 from public.customers c where c.id = p_customer_id for update;
  if not found then
    raise exception 'no customer %', p_customer_id using errcode = 'no_data_found';
  end if;
  v_before := ops.customer_access_state(p_customer_id);
  update ops.access_overrides set ended_at = now(), ended_reason = 'cleared'
   where customer_id = p_customer_id and ended_at is null and expires_at > now();
  if not found then
    raise exception 'customer % has no access override in force', p_customer_id using errcode = 'no_data_found';
  end if;
  update public.customers set access_status = access_status where id = p_customer_id;
  return ops.write_audit('access.clear_override', 'customer:' || p_customer_id, v_before,
                         ops.customer_access_state(p_customer_id), v_reason);
end
$$;


--
-- Name: admin_close_ticket(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_close_ticket(p_ticket_id uuid, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_ticket public.support_tickets;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  select * into v_ticket from public.support_tickets t where t.id = p_ticket_id for update;
  if not found then
    raise exception 'no ticket %', p_ticket_id using errcode = 'no_data_found';
  end if;
  if v_ticket.status = 'closed' then
    raise exception 'ticket % is already closed', v_ticket.ref using errcode = 'check_violation';
  end if;
  update public.support_tickets set status = 'closed' where id = p_ticket_id;
  return ops.write_audit('ticket.close', 'ticket:' || v_ticket.ref, to_jsonb(v_ticket) - 'context' - 'client_context',
                         (select to_jsonb(t) - 'context' - 'client_context' from public.support_tickets t
                          where t.id = p_ticket_id),
                         v_reason);
end
$$;


--
-- Name: admin_erase_person(text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_erase_person(p_who text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform ops.require_admin();
  return ops.erase_person(p_who, p_reason);
end
$$;


--
-- Name: admin_escalate_ticket(uuid, text, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_escalate_ticket(p_ticket_id uuid, p_priority text, p_queue text, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_ticket public.support_tickets;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  if p_priority is not null and not exists (select 1 from ops.support_priorities p where p.priority = p_priority) then
    raise exception 'unknown priority %: one of %', p_priority,
      (select string_agg(p.priority, ', ' order by p.rank) from ops.support_priorities p)
        using errcode = 'invalid_parameter_value';
  end if;
  if p_queue is not null and not exists (select 1 from ops.support_queues q where q.queue = p_queue) then
    raise exception 'unknown queue %: one of %', p_queue,
      (select string_agg(q.queue, ', ' order by q.queue) from ops.support_queues q)
        using errcode = 'invalid_parameter_value';
  end if;
  select * into v_ticket from public.support_tickets t where t.id = p_ticket_id for update;
  if not found then
    raise exception 'no ticket %', p_ticket_id using errcode = 'no_data_found';
  end if;
  if v_ticket.status = 'closed' then
    raise exception 'ticket % is closed', v_ticket.ref using errcode = 'check_violation';
  end if;
  if coalesce(p_priority, v_ticket.priority) = v_ticket.priority
     and coalesce(p_queue, v_ticket.queue) = v_ticket.queue then
    raise exception 'ticket % is already % in %: choose another priority or queue',
      v_ticket.ref, v_ticket.priority, v_ticket.queue
      using errcode = 'invalid_parameter_value';
  end if;
  update public.support_tickets set priority = coalesce(p_priority, priority), queue = coalesce(p_queue, queue)
   where id = p_ticket_id;
  return ops.write_audit('ticket.escalate', 'ticket:' || v_ticket.ref,
                         to_jsonb(v_ticket) - 'context' - 'client_context',
                         (select to_jsonb(t) - 'context' - 'client_context' from public.support_tickets t
                          where t.id = p_ticket_id),
                         v_reason);
end
$$;


--
-- Name: admin_replay_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_replay_job(p_job_id bigint, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_job ops.jobs;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  select * into v_job from ops.jobs j where j.id = p_job_id for update;
  if not found then
    raise exception 'no job %', p_job_id using errcode = 'no_data_found';
  end if;
  if v_job.status not in ('dead', 'failed') then
    raise exception 'job % is %: only dead or failed jobs are replayed', p_job_id, v_job.status
      using errcode = 'check_violation';
  end if;
  perform ops.replay_job(p_job_id);
  return ops.write_audit('job.replay', 'job:' || p_job_id, to_jsonb(v_job) - 'payload' - 'result',
                         (select to_jsonb(j) - 'payload' - 'result' from ops.jobs j where j.id = p_job_id), v_reason);
end
$$;


--
-- Name: admin_replay_stripe_event(text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_replay_stripe_event(p_event_id text, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_event ops.stripe_events;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  select * into v_event from ops.stripe_events e where e.event_id = p_event_id for update;
  if not found then
    raise exception 'no Stripe event % in the ledger', p_event_id using errcode = 'no_data_found';
  end if;
  if v_event.status not in ('failed', 'dead') then
    raise exception 'Stripe event % is %: only failed or dead events are re-applied', p_event_id, v_event.status
      using errcode = 'check_violation';
  end if;
  perform ops.try_apply_stripe_event(p_event_id);
  return ops.write_audit('stripe_event.reapply', 'stripe_event:' || p_event_id, to_jsonb(v_event) - 'payload',
                         (select to_jsonb(e) - 'payload' from ops.stripe_events e where e.event_id = p_event_id),
                         v_reason);
end
$$;


--
-- Name: admin_reply_to_ticket(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_reply_to_ticket(p_ticket_id uuid, p_body text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  msg uuid;
  t public.support_tickets;
begin
  perform ops.require_admin();
  msg := ops.reply_to_ticket(p_ticket_id::text, p_body,
                             coalesce(auth.jwt() ->> 'email', 'support'), 'dashboard');
  select * into t from public.support_tickets x where x.id = p_ticket_id;
  return ops.write_audit('ticket.reply', 'ticket:' || t.ref, null,
                         jsonb_build_object('message_id', msg, 'status', t.status), 'agent reply');
end
$$;


--
-- Name: admin_resolve_order_review(uuid, boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_resolve_order_review(p_order_id uuid, p_accept boolean, p_reason text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_before jsonb;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  if p_accept is null then
    raise exception 'say whether the payment is accepted (true) or refused (false)'
      using errcode = 'invalid_parameter_value';
  end if;
  select to_jsonb(o) into v_before from public.orders o where o.id = p_order_id for update;
  if not found then
    raise exception 'no order %', p_order_id using errcode = 'no_data_found';
  end if;
  perform ops.resolve_order_review(p_order_id, p_accept, v_reason,
                                   coalesce(auth.jwt() ->> 'email', auth.jwt() ->> 'sub') || ' (dashboard)');
  return ops.write_audit(case when p_accept then 'order.accept_review' else 'order.refuse_review' end,
                         'order:' || p_order_id, v_before,
                         (select to_jsonb(o) from public.orders o where o.id = p_order_id), v_reason);
end
$$;


--
-- Name: admin_set_access(uuid, text, text, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.admin_set_access(p_customer_id uuid, p_access text, p_reason text, p_expires_at timestamp with time zone) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_reason text;
  v_before jsonb;
begin
  perform ops.require_admin();
  v_reason := ops.require_reason(p_reason);
  if p_access is null or p_access not in ('granted', 'blocked') then
    raise exception 'access must be granted or blocked' using errcode = 'invalid_parameter_value';
  end if;
  if p_expires_at is null or p_expires_at <= now() or p_expires_at > now() + interval '366 days' then
    raise exception 'an override needs an expiry in the future, at most a year away'
      using errcode = 'invalid_parameter_value';
  end if;
  perform 1 from public.customers c where c.id = p_customer_id for update;
  if not found then
    raise exception 'no customer %', p_customer_id using errcode = 'no_data_found';
  end if;
  v_before := ops.customer_access_state(p_customer_id);
  update ops.access_overrides set ended_at = now(), ended_reason = 'replaced'
   where customer_id = p_customer_id and ended_at is null;
  insert into ops.access_overrides (customer_id, access_status, reason, expires_at, created_by, created_by_email)
  values (p_customer_id, p_access, v_reason, p_expires_at, ops.as_uuid(auth.jwt() ->> 'sub'), auth.jwt() ->> 'email');
  update public.customers set access_status = access_status where id = p_customer_id;
  return ops.write_audit(case when p_access = 'granted' then 'access.grant' else 'access.revoke' end,
                         'customer:' || p_customer_id, v_before, ops.customer_access_state(p_customer_id), v_reason);
end
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alert_rules; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.alert_rules (
    rule text NOT NULL,
    description text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    threshold numeric NOT NULL,
    window_interval interval DEFAULT '00:15:00'::interval NOT NULL,
    severity text DEFAULT 'warning'::text NOT NULL,
    runbook text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    min_count integer DEFAULT 1 NOT NULL,
    clear_after interval DEFAULT '00:05:00'::interval NOT NULL,
    inhibited_by text[] DEFAULT '{}'::text[] NOT NULL,
    check_fn text DEFAULT 'ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::text NOT NULL,
    CONSTRAINT alert_rules_clear_after_check CHECK ((clear_after >= '00:00:00'::interval)),
    CONSTRAINT alert_rules_min_count_check CHECK ((min_count >= 1)),
    CONSTRAINT alert_rules_rule_check CHECK ((rule ~ '^[a-z][a-z0-9_]{1,62}$'::text)),
    CONSTRAINT alert_rules_runbook_check CHECK (((length(runbook) >= 1) AND (length(runbook) <= 500))),
    CONSTRAINT alert_rules_severity_check CHECK ((severity = ANY (ARRAY['info'::text, 'warning'::text, 'critical'::text])))
);


--
-- Name: TABLE alert_rules; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.alert_rules IS 'Alert rules the evaluator checks every minute: threshold and window per rule, editable in Studio, each with its one-line runbook.';


--
-- Name: COLUMN alert_rules.check_fn; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.alert_rules.check_fn IS 'The function that checks this rule (ops.alert_check_<rule>), shaped as ops.alert_check_undefined: (ops.alert_rules, p_now, p_since) -> firing, value, summary, detail, recovered. A row without one never fires.';


--
-- Name: alert_check_crm_failure_rate(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_crm_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  bad bigint;
  good bigint;
  last_bad timestamptz;
  last_good timestamptz;
  last_error text;
begin
  select count(*) filter (where a.outcome in ('failed', 'dead')), count(*) filter (where a.outcome = 'succeeded'),
         max(a.finished_at) filter (where a.outcome in ('failed', 'dead')),
         max(a.finished_at) filter (where a.outcome = 'succeeded'),
         (array_agg(left(a.error, 200) order by a.finished_at desc) filter (where a.outcome in ('failed', 'dead')))[1]
    into bad, good, last_bad, last_good, last_error
    from ops.job_attempts a join ops.jobs j on j.id = a.job_id
   where j.kind like 'crm.%' and a.started_at > p_since and a.finished_at <= p_now
     and a.outcome in ('succeeded', 'failed', 'dead');
  value := round(bad::numeric / nullif(bad + good, 0), 4);
  firing := bad >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  detail := jsonb_build_object('failed_attempts', bad, 'succeeded_attempts', good, 'last_error', last_error);
  summary := format('%s of %s CRM job attempts failed in %s (%s%%)', bad, bad + good,
                    ops.interval_words(r.window_interval), round(coalesce(value, 0) * 100, 1));
end
$$;


--
-- Name: alert_check_dead_jobs(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_dead_jobs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select coalesce(sum(k.n), 0), coalesce(jsonb_object_agg(k.kind, k.n), '{}'), min(k.since)
    into n, x, oldest
    from (select j.kind, count(*) as n, min(j.updated_at) as since from ops.jobs j
           where j.status = 'dead' and coalesce(j.payload ->> 'entity', '') not like 'incident:%'
           group by j.kind) k;
  value := n;
  firing := n > r.threshold;
  summary := format('%s dead job%s', n, case when n = 1 then '' else 's' end);
  detail := jsonb_build_object('dead_by_kind', x, 'oldest_since', oldest);
end
$$;


--
-- Name: alert_check_email_bounce_rate(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_email_bounce_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  bounced bigint;
  sent bigint;
  last_bounce timestamptz;
  last_sent timestamptz;
begin
  select count(*), max(p.received_at) into bounced, last_bounce from ops.provider_events p
   where p.provider = 'resend' and p.type = 'email.bounced' and p.received_at > p_since and p.received_at <= p_now;
  select count(*), max(n.created_at) into sent, last_sent from ops.notifications n
   where n.channel = 'email' and n.status in ('sent', 'captured') and n.created_at > p_since and n.created_at <= p_now;
  value := round(bounced::numeric / nullif(greatest(sent, bounced), 0), 4);
  firing := bounced >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bounce is null or (last_bounce <= p_now - r.clear_after and last_sent > last_bounce);
  detail := jsonb_build_object('bounced', bounced, 'sent', sent, 'last_bounce_at', last_bounce);
  summary := format('%s of %s emails bounced in %s (%s%%)', bounced, sent, ops.interval_words(r.window_interval),
                    round(coalesce(value, 0) * 100, 1));
end
$$;


--
-- Name: alert_check_failed_runs(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_failed_runs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  bad bigint;
  n bigint;
  last_bad timestamptz;
  t timestamptz;
begin
  select coalesce(sum(o.count), 0), max(o.minute) + interval '1 minute' into n, last_bad
    from ops.endpoint_outcomes o
   where o.status_class = '5xx' and o.endpoint <> 'stripe-webhook'
     and o.minute >= date_trunc('minute', p_since) and o.minute <= p_now;
  detail := jsonb_build_object('endpoint_5xx', n);
  bad := n;
  select count(*), max(a.finished_at) into n, t
    from ops.job_attempts a
   where a.outcome = 'lease_expired' and a.finished_at > p_since and a.finished_at <= p_now;
  detail := detail || jsonb_build_object('leases_lost', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  select count(*), max(j.updated_at) into n, t
    from ops.jobs j
   where j.status = 'dead' and j.unclaimed_dispatches > 0 and j.updated_at > p_since and j.updated_at <= p_now;
  detail := detail || jsonb_build_object('undeliverable_jobs', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  -- dispatches our worker functions answered with an error (5xx, a refused secret) or not at all;
  -- net._http_response belongs to pg_net's owner: a reader without access counts none
  begin
    select count(*), max(h.created) into n, t
      from net._http_response h
     where h.created > p_since and h.created <= p_now and (h.status_code is null or h.status_code >= 400);
  exception when insufficient_privilege then
    n := 0;
    t := null;
  end;
  detail := detail || jsonb_build_object('dispatches_failed', n);
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  value := bad;
  firing := bad > r.threshold and bad >= r.min_count;
  recovered := last_bad is null or last_bad <= p_now - r.clear_after;
  summary := format('%s failed runs of our functions in %s', bad, ops.interval_words(r.window_interval));
end
$$;


--
-- Name: alert_check_payment_access_lag(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_payment_access_lag(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  slow bigint;
  fast bigint;
  worst numeric;
  last_slow timestamptz;
  last_fast timestamptz;
  waiting bigint;
  oldest numeric;
  example text;
begin
  select count(*) filter (where x.lag_s > r.threshold), count(*) filter (where x.lag_s <= r.threshold),
         max(x.lag_s), max(x.at) filter (where x.lag_s > r.threshold), max(x.at) filter (where x.lag_s <= r.threshold),
         (array_agg(x.event_id order by x.lag_s desc))[1]
    into slow, fast, worst, last_slow, last_fast, example
    from (select s.changed_at as at, e.event_id,
                 greatest(extract(epoch from s.changed_at - e.event_created), 0)::numeric as lag_s
            from ops.status_changes s join ops.stripe_events e on e.event_id = s.stripe_event_id
           where s.to_status in ('paid', 'active') and s.stripe_event_id is not null
             and s.changed_at > p_since and s.changed_at <= p_now
             and (s.entity like 'order:%' and s.to_status = 'paid'
                  or s.entity like 'customer:%' and s.to_status = 'active')) x;
  select count(*), max(extract(epoch from p_now - e.event_created))::numeric
    into waiting, oldest
    from ops.stripe_events e
   where e.status in ('received', 'failed') and e.received_at <= p_now
     and e.type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                    'payment_intent.succeeded', 'invoice.paid')
     and p_now - e.event_created > make_interval(secs => r.threshold::double precision);
  value := round(greatest(coalesce(worst, 0), coalesce(oldest, 0)), 1);
  firing := slow + waiting >= r.min_count and value > r.threshold;
  recovered := waiting = 0 and (last_slow is null or (last_slow <= p_now - r.clear_after and last_fast > last_slow));
  detail := jsonb_build_object('slow_grants', slow, 'grants_in_time', fast, 'worst_lag_s', round(worst, 1),
                               'waiting_payment_events', waiting, 'oldest_waiting_s', round(oldest, 1),
                               'slowest_event', example);
  summary := format('%s payment%s took over %s s to grant access in %s (worst %s s); %s paid event%s not applied yet',
                    slow, case when slow = 1 then '' else 's' end, r.threshold, ops.interval_words(r.window_interval),
                    coalesce(round(worst), 0), waiting, case when waiting = 1 then '' else 's' end);
end
$$;


--
-- Name: alert_check_payout_failed(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_payout_failed(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  last_failed timestamptz;
  x jsonb;
begin
  select count(*), max(p.failed_at),
         coalesce(jsonb_agg(jsonb_build_object('payout', p.id, 'seller', p.seller_id, 'code', p.failure_code)
                            order by p.failed_at desc) filter (where p.id is not null), '[]')
    into n, last_failed, x
    from (select * from public.seller_payouts q
           where q.failed_at > p_since and q.failed_at <= p_now order by q.failed_at desc limit 20) p;
  value := n;
  firing := n > r.threshold and n >= r.min_count;
  recovered := last_failed is null or last_failed <= p_now - r.clear_after;
  summary := format('%s seller payout%s failed in %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('failed_payouts', x);
end
$$;


--
-- Name: alert_check_reconciliation_drift(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_reconciliation_drift(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  x jsonb;
begin
  select coalesce(sum(k.n), 0), coalesce(jsonb_object_agg(k.kind, k.n), '{}')
    into n, x
    from (select f.kind, count(*) as n from ops.reconciliation_findings f where f.status = 'open' group by f.kind) k;
  value := n;
  firing := n > r.threshold;
  summary := format('%s open reconciliation finding%s', n, case when n = 1 then '' else 's' end);
  detail := jsonb_build_object('open_by_kind', x);
end
$$;


--
-- Name: alert_check_refund_dispute_unapplied(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_refund_dispute_unapplied(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select count(*), coalesce(jsonb_agg(e.event_id order by e.received_at) filter (where e.rn <= 20), '[]'),
         min(e.received_at)
    into n, x, oldest
    from (select e.event_id, e.received_at, row_number() over (order by e.received_at) as rn
            from ops.stripe_events e
           where e.status in ('received', 'failed', 'dead') and e.received_at <= p_now - r.window_interval
             and (e.type in ('charge.refunded', 'charge.refund.updated') or e.type like 'refund.%'
                  or e.type like 'charge.dispute.%')) e;
  value := n;
  firing := n > r.threshold;
  summary := format('%s refund or dispute event%s not applied after %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('event_ids', x, 'oldest_received_at', oldest);
end
$$;


--
-- Name: alert_check_stripe_quiet(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_stripe_quiet(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  s ops.settings := ops.current_settings();
  last_event timestamptz;
  quiet_since timestamptz;
begin
  if not s.stripe_livemode then
    firing := false;
    summary := 'test mode: the quiet period is watched only while live';
    detail := jsonb_build_object('livemode', false);
    return;
  end if;
  select max(e.received_at) into last_event from ops.stripe_events e
   where e.livemode and e.source = 'webhook' and e.received_at <= p_now;
  -- quiet since the last live event, or since going live when that came later (greatest skips nulls)
  quiet_since := greatest(last_event, s.stripe_live_since);
  value := round(extract(epoch from p_now - quiet_since) / 60);
  firing := quiet_since is null or quiet_since < p_now - r.window_interval;
  summary := case when last_event is null or last_event < s.stripe_live_since
                  then format('live for %s minutes, and no live-mode Stripe event received since (quiet period %s)',
                              coalesce(value::text, 'an unknown number of'), ops.interval_words(r.window_interval))
                  else format('no live-mode Stripe event for %s minutes (quiet period %s)', value,
                              ops.interval_words(r.window_interval)) end;
  detail := jsonb_build_object('livemode', true, 'last_event_at', last_event, 'live_since', s.stripe_live_since);
end
$$;


--
-- Name: alert_check_support_backlog(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_support_backlog(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  oldest timestamptz;
  x jsonb;
begin
  select coalesce(sum(q.n), 0), coalesce(jsonb_object_agg(q.queue, q.n), '{}'), min(q.oldest)
    into n, x, oldest
    from (select t.queue, count(*) as n, min(t.created_at) as oldest from public.support_tickets t
           where t.status = 'open' and t.created_at <= p_now - r.window_interval group by t.queue) q;
  value := n;
  firing := n > r.threshold;
  summary := format('%s ticket%s open for more than %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('open_by_queue', x, 'oldest_created_at', oldest);
end
$$;


--
-- Name: alert_check_sync_p95(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_sync_p95(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  last_bad timestamptz;
  last_good timestamptz;
  slow interval := make_interval(secs => r.threshold::double precision);
begin
  select count(*), percentile_cont(0.95) within group (order by extract(epoch from j.succeeded_at - j.created_at)),
         max(j.succeeded_at) filter (where j.succeeded_at - j.created_at > slow),
         max(j.succeeded_at) filter (where j.succeeded_at - j.created_at <= slow)
    into n, value, last_bad, last_good
    from ops.jobs j
   where j.status = 'succeeded' and j.kind like 'crm.%' and j.attempts = 1
     and j.succeeded_at > p_since and j.succeeded_at <= p_now;
  value := round(value, 3);
  firing := n >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  summary := format('CRM sync p95 %s s over %s first-try jobs in %s', coalesce(value, 0), n,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('p95_seconds', value, 'jobs', n);
end
$$;


--
-- Name: alert_check_ticket_creation_failing(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_ticket_creation_failing(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  bad bigint;
  last_error text;
begin
  select count(*), count(*) filter (where l.outcome <> 'succeeded'),
         (array_agg(left(l.error, 200) order by l.finished_at desc))[1]
    into n, bad, last_error
    from (select a.outcome, a.error, a.finished_at from ops.job_attempts a join ops.jobs j on j.id = a.job_id
           where j.kind = 'support.ticket' and a.finished_at > p_now - r.window_interval and a.finished_at <= p_now
             and a.outcome in ('succeeded', 'failed', 'dead', 'lease_expired')
           order by a.finished_at desc limit greatest(r.threshold, 1)::int) l;
  value := bad;
  firing := n >= greatest(r.threshold, 1) and bad = n;
  detail := jsonb_build_object('last_attempts', n, 'failed', bad, 'last_error', last_error);
  summary := format('the last %s attempts at creating a ticket failed', bad);
end
$$;


--
-- Name: alert_check_ticket_spike(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_ticket_spike(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  n bigint;
  before_window bigint;
  trail_daily numeric;
begin
  select count(*) filter (where t.created_at > p_now - r.window_interval),
         count(*) filter (where t.created_at <= p_now - r.window_interval)
    into n, before_window
    from public.support_tickets t
   where t.created_at > p_now - r.window_interval - interval '7 days' and t.created_at <= p_now;
  trail_daily := before_window / 7.0;
  value := round(n * extract(epoch from interval '1 day') / extract(epoch from r.window_interval), 2);
  firing := n >= r.min_count and value > r.threshold * trail_daily;
  summary := format('%s tickets in %s (%s a day) against %s a day over the 7 days before', n,
                    ops.interval_words(r.window_interval), value, round(trail_daily, 2));
  detail := jsonb_build_object('tickets_in_window', n, 'daily_rate', value,
                               'trailing_daily_rate', round(trail_daily, 2));
end
$$;


--
-- Name: alert_check_undefined(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_undefined(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select false, null::numeric, 'no check is defined for this rule', jsonb_build_object('no_check', true), null::boolean
$$;


--
-- Name: alert_check_webhook_failure_rate(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_webhook_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  bad bigint;
  good bigint;
  n bigint;
  last_bad timestamptz;
  last_good timestamptz;
  t timestamptz;
  x jsonb;
begin
  select coalesce(sum(o.n), 0), max(o.minute) + interval '1 minute', coalesce(jsonb_object_agg(o.k, o.n), '{}')
    into bad, last_bad, x
    from (select status_class || ':' || reason as k, sum(count) as n, max(minute) as minute
            from ops.endpoint_outcomes
           where endpoint = 'stripe-webhook' and minute >= date_trunc('minute', p_since) and minute <= p_now
             and not ops.stripe_webhook_refusal(status_class, reason)
           group by 1) o;
  select count(*) filter (where e.status in ('failed', 'dead')),
         count(*) filter (where e.status not in ('failed', 'dead')),
         max(e.received_at) filter (where e.status in ('failed', 'dead')),
         max(e.received_at) filter (where e.status not in ('failed', 'dead'))
    into n, good, t, last_good
    from ops.stripe_events e
   -- deliveries only: events reconciliation recovered did not come through the webhook
   where e.received_at > p_since and e.received_at <= p_now and e.source = 'webhook';
  bad := bad + n;
  last_bad := greatest(last_bad, t);
  value := round(bad::numeric / nullif(bad + good, 0), 4);
  firing := bad >= r.min_count and coalesce(value, 0) > r.threshold;
  recovered := last_bad is null or (last_bad <= p_now - r.clear_after and last_good > last_bad);
  summary := format('%s of %s signed Stripe deliveries failed in %s (%s%%)', bad, bad + good,
                    ops.interval_words(r.window_interval), round(coalesce(value, 0) * 100, 1));
  detail := jsonb_build_object('answers_failed', x, 'failed_applies', n, 'deliveries_ok', good);
end
$$;


--
-- Name: alert_check_webhook_refusals(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_check_webhook_refusals(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  bad bigint;
  good bigint;
  last_bad timestamptz;
  x jsonb;
begin
  select coalesce(sum(o.n), 0), max(o.minute) + interval '1 minute', coalesce(jsonb_object_agg(o.reason, o.n), '{}')
    into bad, last_bad, x
    from (select reason, sum(count) as n, max(minute) as minute
            from ops.endpoint_outcomes
           where endpoint = 'stripe-webhook' and minute >= date_trunc('minute', p_since) and minute <= p_now
             and ops.stripe_webhook_refusal(status_class, reason)
           group by 1) o;
  select count(*) into good
    from ops.stripe_events e
   where e.received_at > p_since and e.received_at <= p_now and e.source = 'webhook';
  value := bad;
  firing := bad > r.threshold and bad >= r.min_count;
  recovered := last_bad is null or last_bad <= p_now - r.clear_after;
  summary := format('%s requests to the Stripe webhook refused before a valid signature in %s (%s); '
                    '%s signed deliveries accepted', bad, ops.interval_words(r.window_interval),
                    coalesce((select string_agg(k || ' ' || v, ', ' order by v::bigint desc, k)
                                from jsonb_each_text(x) as e(k, v)), 'none'), good);
  detail := jsonb_build_object('refused', x, 'deliveries_accepted', good);
end
$$;


--
-- Name: alert_incidents_notify(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_incidents_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  page boolean := coalesce((select r.severity <> 'info' from ops.alert_rules r where r.rule = new.rule), true);
begin
  if tg_op = 'INSERT' and new.status = 'open' then
    perform ops.enqueue_notification('slack', 'slack_alert_opened', 'incident:' || new.id, 'team');
    if page then
      perform ops.enqueue_notification('email', 'founder_alert_opened', 'incident:' || new.id, 'founder');
    end if;
  elsif new.status = 'resolved' and (tg_op = 'INSERT' or old.status = 'open') then
    perform ops.enqueue_notification('slack', 'slack_alert_resolved', 'incident:' || new.id, 'team');
    if page then
      perform ops.enqueue_notification('email', 'founder_alert_resolved', 'incident:' || new.id, 'founder');
    end if;
  end if;
  return null;
end
$$;


--
-- Name: alert_rules_require_check_fn(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.alert_rules_require_check_fn() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.check_fn := ops.require_function_shape(new.check_fn,
    ops.function_shape('ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::regprocedure),
    format('check_fn of alert rule %s', new.rule));
  return new;
end
$$;


--
-- Name: apply_access_override(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_access_override() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  new.access_status := coalesce((ops.current_access_override(new.id)).access_status, new.access_status);
  return new;
end
$$;


--
-- Name: apply_application_fee(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_application_fee(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  f jsonb := evt -> 'data' -> 'object';
  v_charge text := coalesce(ops.stripe_ref(f -> 'originating_transaction'), ops.stripe_ref(f -> 'charge'));
begin
  if f ->> 'object' is distinct from 'application_fee' then
    return 'ignored';
  end if;
  perform ops.lock_connect_charge(v_charge);
  insert into ops.connect_application_fees as x (fee_id, charge_id, account_id, amount, amount_refunded, currency,
                                                 stripe_event_created)
  values (f ->> 'id', v_charge, ops.stripe_ref(f -> 'account'), (f ->> 'amount')::bigint,
          coalesce((f ->> 'amount_refunded')::bigint, 0), lower(f ->> 'currency'), ops.ts(evt ->> 'created'))
  on conflict (fee_id) do update set
    amount = excluded.amount, amount_refunded = excluded.amount_refunded,
    charge_id = coalesce(x.charge_id, excluded.charge_id), account_id = coalesce(x.account_id, excluded.account_id),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  where (excluded.stripe_event_created, excluded.amount_refunded) > (x.stripe_event_created, x.amount_refunded);
  perform ops.refresh_order_share(v_charge);
  return 'processed';
end
$$;


--
-- Name: apply_charge(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_charge(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c jsonb := evt -> 'data' -> 'object';
  pi_id text := c ->> 'payment_intent';
  at timestamptz := ops.ts(evt ->> 'created');
  captured boolean := c ->> 'status' = 'succeeded' or coalesce((c ->> 'captured')::boolean, false);
  orphan text;
  known ops.payment_intents;
  newer boolean;
  r jsonb;
begin
  if pi_id is null then
    return 'ignored'; -- a charge outside a payment intent is not one of our orders
  end if;
  orphan := ops.lock_payment(pi_id);
  select * into known from ops.payment_intents where stripe_payment_intent_id = pi_id;
  newer := ops.newer_charge(captured, at, c ->> 'id', known.latest_charge_succeeded, known.latest_charge_at,
                            known.latest_charge_id);
  update ops.payment_intents set
    latest_charge_id = case when newer then c ->> 'id' else latest_charge_id end,
    latest_charge_succeeded = case when newer then captured else latest_charge_succeeded end,
    latest_charge_at = case when newer then at else latest_charge_at end,
    amount = coalesce(amount, (c ->> 'amount')::bigint),
    currency = coalesce(currency, lower(c ->> 'currency')),
    -- the charge's refunded total at this event's time: the newest wins (the larger within a second)
    amount_refunded = case when (at, coalesce((c ->> 'amount_refunded')::bigint, 0))
                                > (coalesce(amount_refunded_at, '-infinity'), amount_refunded)
                           then coalesce((c ->> 'amount_refunded')::bigint, 0) else amount_refunded end,
    amount_refunded_at = greatest(amount_refunded_at, at),
    succeeded_at = case when captured then least(coalesce(succeeded_at, at), at) else succeeded_at end
  where stripe_payment_intent_id = pi_id;
  -- older API versions embed the refunds list in the charge
  for r in select * from jsonb_array_elements(coalesce(c -> 'refunds' -> 'data', '[]'::jsonb)) loop
    perform ops.upsert_refund(r, pi_id, at);
  end loop;
  perform ops.record_connect_charge(evt);
  if orphan is not null then
    perform ops.claim_orphan_session(orphan);
  end if;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;


--
-- Name: apply_checkout_session(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_checkout_session(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  s jsonb := evt -> 'data' -> 'object';
  session_id text := s ->> 'id';
  pi_id text := s ->> 'payment_intent';
  at timestamptz := ops.ts(evt ->> 'created');
  ref_text text := coalesce(s -> 'metadata' ->> 'order_id', s ->> 'client_reference_id');
  named uuid;
  pay_status text;
  status_rank text[] := array['open', 'complete', 'expired'];
  pay_rank text[] := array['unpaid', 'failed', 'paid'];
begin
  if session_id is null then
    raise exception 'checkout session without an id';
  end if;
  if coalesce(s ->> 'mode', 'payment') <> 'payment' then
    -- subscription and setup sessions: the subscription and customer events carry the state
    perform ops.link_checkout_customer(s);
    return 'processed';
  end if;

  select o.id into named from public.orders o where o.id = ops.as_uuid(ref_text);
  pay_status := case evt ->> 'type'
    when 'checkout.session.async_payment_succeeded' then 'paid'
    when 'checkout.session.async_payment_failed' then 'failed'
    when 'checkout.session.expired' then null
    else s ->> 'payment_status'
  end;

  -- one upsert, which also takes the session's lock (before the payment intent's). Facts only move
  -- forward (open < complete < expired; unpaid < failed < paid); a session names its order once,
  -- when it is created, so the first answer stands.
  insert into ops.checkout_sessions as x (
    stripe_checkout_session_id, order_id, claim_review, review_buyer_id, review_listing_id, stripe_payment_intent_id,
    stripe_customer_id, status, payment_status, amount_subtotal, amount_total, currency, paid_at, stripe_event_created)
  values (
    session_id, named,
    case when named is null then case
      when ref_text is null then 'checkout session completed without client_reference_id or metadata.order_id'
      else format('checkout session names order %s, which does not exist', left(ref_text, 64))
    end end,
    -- only a confirmed email names a buyer: anyone can sign up with someone else's address
    case when named is null then (select p.id from public.profiles p
       join auth.users u on u.id = p.id
      where lower(u.email) = lower(coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email'))
        and u.email_confirmed_at is not null and not u.is_anonymous
      limit 1) end,
    case when named is null then (select l.id from public.listings l
                                  where l.id = ops.as_uuid(s -> 'metadata' ->> 'listing_id')) end,
    pi_id, s ->> 'customer',
    case when evt ->> 'type' = 'checkout.session.expired' then 'expired' else coalesce(s ->> 'status', 'complete') end,
    pay_status, (s ->> 'amount_subtotal')::bigint, (s ->> 'amount_total')::bigint, lower(s ->> 'currency'),
    case when pay_status in ('paid', 'no_payment_required') then at end, at)
  on conflict (stripe_checkout_session_id) do update set
    order_id = coalesce(x.order_id, excluded.order_id),
    claim_review = case when excluded.order_id is null then coalesce(x.claim_review, excluded.claim_review) end,
    review_buyer_id = coalesce(x.review_buyer_id, excluded.review_buyer_id),
    review_listing_id = coalesce(x.review_listing_id, excluded.review_listing_id),
    stripe_payment_intent_id = coalesce(excluded.stripe_payment_intent_id, x.stripe_payment_intent_id),
    stripe_customer_id = coalesce(excluded.stripe_customer_id, x.stripe_customer_id),
    status = case when array_position(status_rank, excluded.status) > coalesce(array_position(status_rank, x.status), 0)
                  then excluded.status else x.status end,
    payment_status = case
      when coalesce(array_position(pay_rank, replace(excluded.payment_status, 'no_payment_required', 'paid')), 0)
           > coalesce(array_position(pay_rank, replace(x.payment_status, 'no_payment_required', 'paid')), 0)
        then excluded.payment_status
      else x.payment_status end,
    amount_subtotal = coalesce(excluded.amount_subtotal, x.amount_subtotal),
    amount_total = coalesce(excluded.amount_total, x.amount_total),
    currency = coalesce(excluded.currency, x.currency),
    paid_at = least(x.paid_at, excluded.paid_at),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now();
  -- the payment intent's lock, and its order (the session's, unless it named one first)
  if pi_id is not null then
    insert into ops.payment_intents as p (stripe_payment_intent_id, order_id)
    values (pi_id, (select c.order_id from ops.checkout_sessions c where c.stripe_checkout_session_id = session_id))
    on conflict (stripe_payment_intent_id) do update set order_id = coalesce(p.order_id, excluded.order_id),
      updated_at = now();
  end if;
  perform ops.claim_orphan_session(session_id);
  perform ops.recompute_order(c.order_id) from ops.checkout_sessions c where c.stripe_checkout_session_id = session_id;
  return 'processed';
end
$$;


--
-- Name: apply_connect_account(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_connect_account(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  obj jsonb := evt -> 'data' -> 'object';
  acct text := coalesce(evt ->> 'account', case when obj ->> 'object' = 'account' then obj ->> 'id' end);
  at timestamptz := to_timestamp((evt ->> 'created')::bigint);
  a public.seller_accounts;
  req jsonb;
  due text[];
  past text[];
  r record;
begin
  if acct is null then
    return 'ignored';
  end if;
  select * into a from public.seller_accounts where stripe_account_id = acct for update;
  if not found then
    return 'ignored'; -- the platform's own account, or one that is not a seller's (the scope rule says which)
  end if;
  if evt ->> 'type' = 'account.application.deauthorized' then
    update public.seller_accounts
       set deauthorized_at = coalesce(deauthorized_at, at), charges_enabled = false, payouts_enabled = false,
           stripe_updated_at = greatest(stripe_updated_at, at)
     where seller_id = a.seller_id;
    return 'processed';
  end if;
  if obj ->> 'object' is distinct from 'account' or obj ->> 'id' is distinct from acct then
    raise exception 'account.updated %: data.object is not account %', evt ->> 'id', acct
      using errcode = 'invalid_parameter_value';
  end if;
  if a.stripe_updated_at is not null and at < a.stripe_updated_at then
    return 'processed'; -- an older state than the one held: recorded, changes nothing
  end if;
  req := coalesce(obj -> 'requirements', '{}');
  due := array(select jsonb_array_elements_text(coalesce(req -> 'currently_due', '[]')));
  past := array(select jsonb_array_elements_text(coalesce(req -> 'past_due', '[]')));
  update public.seller_accounts
     set charges_enabled = a.deauthorized_at is null and coalesce((obj ->> 'charges_enabled')::boolean, false),
         payouts_enabled = a.deauthorized_at is null and coalesce((obj ->> 'payouts_enabled')::boolean, false),
         details_submitted = coalesce((obj ->> 'details_submitted')::boolean, false),
         country = coalesce(obj ->> 'country', country),
         requirements_currently_due = due,
         requirements_past_due = past,
         requirements_eventually_due = array(select jsonb_array_elements_text(
                                               coalesce(req -> 'eventually_due', '[]'))),
         current_deadline = to_timestamp(nullif(req ->> 'current_deadline', '')::bigint),
         disabled_reason = req ->> 'disabled_reason',
         stripe_updated_at = at,
         due_notified_at = case when cardinality(due) = 0 then null else due_notified_at end,
         past_due_notified_at = case when cardinality(past) = 0 then null else past_due_notified_at end
   where seller_id = a.seller_id
  returning * into a;
  select * into r from private.seller_block_reason(a.disabled_reason, a.requirements_past_due,
    a.requirements_currently_due, a.details_submitted, a.deauthorized_at is not null, a.current_deadline);
  if cardinality(past) > 0 and a.past_due_notified_at is null then
    if ops.enqueue_seller_email(a.seller_id, 'seller_requirements_past_due',
         'seller_account:' || a.seller_id || ':past_due:' || (evt ->> 'id'),
         jsonb_build_object('requirements', to_jsonb(past[1:10]), 'why', r.why, 'next_step', r.next_step,
                            'charges_enabled', a.charges_enabled)) then
      update public.seller_accounts set past_due_notified_at = now(), due_notified_at = coalesce(due_notified_at, now())
       where seller_id = a.seller_id;
    end if;
  elsif cardinality(due) > 0 and a.details_submitted and a.due_notified_at is null then
    -- during onboarding everything is due: the app's onboarding page says so; email once Stripe asks for more
    if ops.enqueue_seller_email(a.seller_id, 'seller_requirements_due',
         'seller_account:' || a.seller_id || ':due:' || (evt ->> 'id'),
         jsonb_build_object('requirements', to_jsonb(due[1:10]), 'deadline', a.current_deadline,
                            'why', r.why, 'next_step', r.next_step)) then
      update public.seller_accounts set due_notified_at = now() where seller_id = a.seller_id;
    end if;
  end if;
  return 'processed';
end
$$;


--
-- Name: apply_customer(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_customer(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  cid uuid := ops.upsert_customer_link(c ->> 'id', array[c -> 'metadata' ->> 'user_id'], c ->> 'email');
begin
  -- the Stripe customer as last reported; deletion is its own fact (the row is canceled only when
  -- every Stripe customer of it is deleted: ops.recompute_customer)
  update ops.stripe_customers set
    email = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'email', email)
      else email end,
    name = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'name', name)
      else name end,
    deleted_at = case when evt ->> 'type' = 'customer.deleted' then coalesce(deleted_at, at) else deleted_at end,
    stripe_event_created = greatest(stripe_event_created, at)
  where stripe_customer_id = c ->> 'id';
  -- the row shows the newest any of its Stripe customers reported
  update public.customers set
    email = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'email', email)
      else email end,
    name = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'name', name)
      else name end,
    stripe_event_created = greatest(stripe_event_created, at)
  where id = cid;
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;


--
-- Name: apply_dispute(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_dispute(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  d jsonb := evt -> 'data' -> 'object';
  pi_id text := coalesce(d ->> 'payment_intent',
    (select p.stripe_payment_intent_id from ops.payment_intents p where p.latest_charge_id = d ->> 'charge' limit 1));
  at timestamptz := ops.ts(evt ->> 'created');
begin
  if pi_id is not null then
    perform ops.lock_payment_intent(pi_id);
    -- a disputed charge was a captured payment
    update ops.payment_intents x set
      succeeded_at = coalesce(succeeded_at, at),
      latest_charge_id = case when n.newer then d ->> 'charge' else latest_charge_id end,
      latest_charge_succeeded = case when n.newer then true else latest_charge_succeeded end,
      latest_charge_at = case when n.newer then at else latest_charge_at end
    from (select ops.newer_charge(true, at, d ->> 'charge', k.latest_charge_succeeded, k.latest_charge_at,
                                  k.latest_charge_id) as newer
            from ops.payment_intents k where k.stripe_payment_intent_id = pi_id) n
    where x.stripe_payment_intent_id = pi_id;
  end if;
  insert into ops.disputes as x (stripe_dispute_id, stripe_payment_intent_id, stripe_charge_id, amount, currency,
    reason, status, evidence_due_by, stripe_event_created)
  values (d ->> 'id', pi_id, d ->> 'charge', (d ->> 'amount')::bigint, lower(d ->> 'currency'), d ->> 'reason',
    d ->> 'status', ops.ts(d -> 'evidence_details' ->> 'due_by'), at)
  on conflict (stripe_dispute_id) do update set
    stripe_payment_intent_id = coalesce(x.stripe_payment_intent_id, excluded.stripe_payment_intent_id),
    status = excluded.status, reason = excluded.reason, amount = excluded.amount,
    evidence_due_by = coalesce(excluded.evidence_due_by, x.evidence_due_by),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  -- a closed dispute never reopens; otherwise newer wins, ties broken by how far along it is
  where x.status not in ('won', 'lost', 'warning_closed')
    and (excluded.stripe_event_created, excluded.status in ('won', 'lost', 'warning_closed'),
         excluded.status like '%under_review')
      >= (x.stripe_event_created, false, x.status like '%under_review');
  if pi_id is not null then
    perform ops.recompute_orders_for_payment_intent(pi_id);
  end if;
  return 'processed';
end
$$;


--
-- Name: apply_dunning(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_dunning(evt jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  i jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  v_invoice text := i ->> 'id';
  c ops.dunning_cases;
  inserted boolean;
  v_user uuid;
  t public.support_tickets;
begin
  if evt ->> 'type' = 'invoice.payment_failed' then
    if i ->> 'billing_reason' is distinct from 'subscription_cycle' or i ->> 'customer' is null
       or exists (select 1 from ops.invoices x where x.stripe_invoice_id = v_invoice and x.paid) then
      return;
    end if;
    insert into ops.dunning_cases as x (stripe_invoice_id, stripe_customer_id, stripe_subscription_id, failed_at,
      failed_event_id, last_failed_at, attempt_count, amount_due, currency, invoice_number, hosted_invoice_url,
      description, policy)
    values (v_invoice, i ->> 'customer',
            coalesce(i ->> 'subscription', i -> 'parent' -> 'subscription_details' ->> 'subscription'),
            at, evt ->> 'id', at, (i ->> 'attempt_count')::int, (i ->> 'amount_due')::bigint, lower(i ->> 'currency'),
            i ->> 'number', i ->> 'hosted_invoice_url',
            left(coalesce(i -> 'lines' -> 'data' -> 0 ->> 'description', i ->> 'description'), 200),
            (ops.current_settings()).renewal_failed_policy)
    on conflict (stripe_invoice_id) do update set
      failed_at = least(x.failed_at, excluded.failed_at),
      failed_event_id = case when excluded.failed_at < x.failed_at then excluded.failed_event_id
                             else x.failed_event_id end,
      last_failed_at = greatest(x.last_failed_at, excluded.last_failed_at),
      attempt_count = greatest(x.attempt_count, excluded.attempt_count),
      hosted_invoice_url = coalesce(x.hosted_invoice_url, excluded.hosted_invoice_url)
    returning (xmax = 0) into inserted;
    select * into c from ops.dunning_cases where stripe_invoice_id = v_invoice;
    if inserted then
      perform ops.enqueue_dunning_email(c, 'renewal_failed', 'invoice:' || v_invoice);
      select x.user_id into v_user from public.customers x join ops.stripe_customers m on m.customer_id = x.id
       where m.stripe_customer_id = c.stripe_customer_id;
      if c.policy in ('ticket', 'both')
         and not exists (select 1 from public.support_tickets x where x.case_key = 'renewal_failed:' || v_invoice) then
        insert into public.support_tickets (source, category, subject, requester_id, case_key, context)
        values ('system', 'payment_failed',
                left(format('Renewal failed: %s %s (invoice %s)', coalesce(c.amount_due::text, '?'),
                            upper(coalesce(c.currency, '')), coalesce(c.invoice_number, v_invoice)), 200),
                v_user, 'renewal_failed:' || v_invoice,
                jsonb_build_object('stripe_event_id', evt ->> 'id', 'stripe_invoice_id', v_invoice,
                                   'stripe_subscription_id', c.stripe_subscription_id))
        returning * into t;
        insert into public.ticket_messages (ticket_id, author_id, author_kind, body)
        values (t.id, null, 'system',
                format('The renewal invoice %s (%s %s) could not be charged (attempt %s). Stripe retries it; the '
                       'customer keeps access for %s days from the first failure.',
                       coalesce(c.invoice_number, v_invoice), coalesce(c.amount_due::text, '?'),
                       upper(coalesce(c.currency, '')), coalesce(c.attempt_count::text, '?'),
                       (ops.current_settings()).dunning_grace_days));
      end if;
      perform ops.rederive_access(c.stripe_customer_id);
    end if;
  elsif evt ->> 'type' in ('invoice.paid', 'invoice.payment_succeeded') then
    update ops.dunning_cases set recovered_at = at, recovered_event_id = evt ->> 'id', recovered_applied_at = now()
     where stripe_invoice_id = v_invoice and recovered_at is null
    returning * into c;
    if not found then
      return;
    end if;
    -- a reminder queued or retrying is not sent once the invoice is paid (one already running may still go out)
    update ops.jobs set status = 'succeeded', succeeded_at = now(), locked_by = null, locked_until = null,
                        result = jsonb_build_object('canceled', 'the invoice was paid', 'stripe_event_id', evt ->> 'id')
     where dedupe_key like 'notify:renewal_reminder:invoice:' || v_invoice || ':%' and status in ('queued', 'failed');
    perform ops.enqueue_dunning_email(c, 'payment_recovered', 'invoice:' || v_invoice,
      jsonb_build_object('amount', coalesce((i ->> 'amount_paid')::bigint, c.amount_due, 0)));
    select * into t from public.support_tickets x where x.case_key = 'renewal_failed:' || v_invoice;
    if t.id is not null and t.status in ('open', 'pending') then
      insert into public.ticket_messages (ticket_id, author_id, author_kind, body)
      values (t.id, null, 'system', format('Invoice %s was paid: access is restored.',
                                           coalesce(c.invoice_number, v_invoice)));
    end if;
    perform ops.rederive_access(c.stripe_customer_id);
  end if;
end
$$;


--
-- Name: apply_dunning_access(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_dunning_access() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  open_cases bigint;
  ended boolean;
begin
  if new.billing_status is distinct from 'past_due' then
    return new;
  end if;
  select count(*), coalesce(bool_or(d.grace_ended_at is not null), false) into open_cases, ended
    from ops.dunning_cases d join ops.stripe_customers m on m.stripe_customer_id = d.stripe_customer_id
   where m.customer_id = new.id and d.recovered_at is null;
  if open_cases > 0 then
    new.access_status := case when ended then 'blocked' else 'grace' end;
  elsif exists (
    select 1 from ops.dunning_cases d join ops.stripe_customers m on m.stripe_customer_id = d.stripe_customer_id
     where m.customer_id = new.id and d.recovered_at >= coalesce(new.last_payment_failed_at, '-infinity')
  ) then
    new.access_status := 'granted';
  end if;
  return new;
end
$$;


--
-- Name: apply_invoice(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_invoice(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  i jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  failed boolean := evt ->> 'type' = 'invoice.payment_failed';
  cid uuid;
begin
  if i ->> 'customer' is not null then
    -- the subscription's metadata, copied by Stripe onto its invoices, is the server's too
    cid := ops.upsert_customer_link(i ->> 'customer',
      array[i -> 'subscription_details' -> 'metadata' ->> 'user_id',
            i -> 'parent' -> 'subscription_details' -> 'metadata' ->> 'user_id'],
      i ->> 'customer_email');
  end if;
  insert into ops.invoices as x (stripe_invoice_id, stripe_customer_id, stripe_subscription_id, status, amount_due,
    amount_paid, currency, paid, attempt_count, last_failed_at, stripe_event_created)
  values (i ->> 'id', i ->> 'customer',
    coalesce(i ->> 'subscription', i -> 'parent' -> 'subscription_details' ->> 'subscription'), i ->> 'status',
    (i ->> 'amount_due')::bigint, (i ->> 'amount_paid')::bigint, lower(i ->> 'currency'), not failed,
    (i ->> 'attempt_count')::int, case when failed then at end, at)
  on conflict (stripe_invoice_id) do update set
    paid = x.paid or excluded.paid,
    status = case when x.paid or excluded.paid then 'paid' else excluded.status end,
    amount_paid = greatest(x.amount_paid, excluded.amount_paid),
    attempt_count = greatest(x.attempt_count, excluded.attempt_count),
    last_failed_at = greatest(x.last_failed_at, excluded.last_failed_at),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now();
  if cid is not null then
    update public.customers set
      last_paid_at = case when failed then last_paid_at else greatest(last_paid_at, at) end,
      last_payment_failed_at = case when failed then greatest(last_payment_failed_at, at)
        else last_payment_failed_at end
    where id = cid;
  end if;
  perform ops.apply_dunning(evt);
  return 'processed';
end
$$;


--
-- Name: apply_payment_intent(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_payment_intent(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  p jsonb := evt -> 'data' -> 'object';
  pi_id text := p ->> 'id';
  at timestamptz := ops.ts(evt ->> 'created');
  succeeded boolean := evt ->> 'type' = 'payment_intent.succeeded';
  order_ref uuid := ops.as_uuid(p -> 'metadata' ->> 'order_id');
  charge text := coalesce(p ->> 'latest_charge', p -> 'charges' -> 'data' -> 0 ->> 'id');
  orphan text;
  known ops.payment_intents;
  newer boolean;
begin
  orphan := ops.lock_payment(pi_id);
  select * into known from ops.payment_intents where stripe_payment_intent_id = pi_id;
  newer := ops.newer_charge(succeeded, at, charge, known.latest_charge_succeeded, known.latest_charge_at,
                            known.latest_charge_id);
  -- the event type is the fact; snapshot objects can carry a stale status. A success's amounts are
  -- final; before one, the first known stand.
  update ops.payment_intents set
    stripe_customer_id = coalesce(p ->> 'customer', stripe_customer_id),
    latest_charge_id = case when newer then charge else latest_charge_id end,
    latest_charge_succeeded = case when newer then succeeded else latest_charge_succeeded end,
    latest_charge_at = case when newer then at else latest_charge_at end,
    amount = case when succeeded then coalesce((p ->> 'amount')::bigint, amount)
      else coalesce(amount, (p ->> 'amount')::bigint) end,
    currency = case when succeeded then coalesce(lower(p ->> 'currency'), currency)
      else coalesce(currency, lower(p ->> 'currency')) end,
    amount_received = case when succeeded then coalesce((p ->> 'amount_received')::bigint, amount_received)
      else amount_received end,
    succeeded_at = case when succeeded then least(coalesce(succeeded_at, at), at) else succeeded_at end,
    last_failed_at = case when evt ->> 'type' = 'payment_intent.payment_failed'
      then greatest(coalesce(last_failed_at, at), at) else last_failed_at end,
    last_error = case when evt ->> 'type' = 'payment_intent.payment_failed'
                       and at >= coalesce(last_failed_at, at)
                      then left(coalesce(p -> 'last_payment_error' ->> 'code', p -> 'last_payment_error' ->> 'message',
                                         'payment failed'), 200)
                      else last_error end,
    canceled_at = case when evt ->> 'type' = 'payment_intent.canceled' then coalesce(canceled_at, at)
      else canceled_at end,
    -- a payment intent created with metadata.order_id belongs to that order (when it is one of ours)
    order_id = coalesce(order_id, (select o.id from public.orders o where o.id = order_ref))
  where stripe_payment_intent_id = pi_id;
  if orphan is not null then
    perform ops.claim_orphan_session(orphan);
  end if;
  perform ops.recompute_orders_for_payment_intent(pi_id);
  return 'processed';
end
$$;


--
-- Name: apply_payout(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_payout(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  obj jsonb := evt -> 'data' -> 'object';
  acct text := evt ->> 'account';
  at timestamptz := to_timestamp((evt ->> 'created')::bigint);
  v_seller uuid;
  p public.seller_payouts;
  v_new_failure boolean;
  t public.support_tickets;
  advice text;
begin
  if acct is null then
    return 'ignored'; -- the platform's own payouts are not a seller's
  end if;
  select a.seller_id into v_seller from public.seller_accounts a where a.stripe_account_id = acct;
  if not found then
    return 'ignored';
  end if;
  if obj ->> 'object' is distinct from 'payout' or coalesce(obj ->> 'id', '') !~ '^po_[A-Za-z0-9]+$' then
    raise exception 'payout event %: data.object is not a payout', evt ->> 'id'
      using errcode = 'invalid_parameter_value';
  end if;
  insert into public.seller_payouts as x (id, seller_id, stripe_account_id, amount, currency, status, arrival_date,
                                          failure_code, failure_message, stripe_updated_at, failed_at)
  values (obj ->> 'id', v_seller, acct, (obj ->> 'amount')::bigint, lower(obj ->> 'currency'), obj ->> 'status',
          to_timestamp(nullif(obj ->> 'arrival_date', '')::bigint), obj ->> 'failure_code',
          obj ->> 'failure_message', at, case when obj ->> 'status' = 'failed' then at end)
  on conflict (id) do update
     set amount = excluded.amount, currency = excluded.currency, status = excluded.status,
         arrival_date = excluded.arrival_date,
         failure_code = coalesce(excluded.failure_code, x.failure_code),
         failure_message = coalesce(excluded.failure_message, x.failure_message),
         stripe_updated_at = excluded.stripe_updated_at,
         failed_at = coalesce(x.failed_at, excluded.failed_at)
   -- newer wins; a final status (paid, failed, canceled) is never replaced by an older or pending one
   where x.stripe_updated_at is null or (excluded.stripe_updated_at >= x.stripe_updated_at
                                         and not (x.status in ('failed', 'canceled')
                                                  and excluded.status in ('pending', 'in_transit', 'paid'))
                                         and not (x.status = 'paid' and excluded.status in ('pending', 'in_transit')))
  returning * into p;
  -- the failure's ticket and email are keyed by the payout, so a replay or a second failed event adds nothing
  v_new_failure := obj ->> 'status' = 'failed'
    and not exists (select 1 from public.support_tickets x where x.case_key = 'payout_failed:' || (obj ->> 'id'));
  if v_new_failure then
    select * into p from public.seller_payouts where id = obj ->> 'id';
    if p.failed_at is null then
      update public.seller_payouts set failed_at = at where id = p.id returning * into p;
    end if;
    advice := ops.payout_failure_advice(p.failure_code);
    insert into public.support_tickets (source, category, subject, requester_id, case_key, context)
    values ('system', 'payout_failed',
            left(format('Payout %s to %s failed: %s', p.id,
                        coalesce((select x.display_name from public.profiles x where x.id = v_seller), v_seller::text),
                        coalesce(p.failure_code, 'no code')), 200),
            -- the platform's case with Stripe and the seller's bank, not a request of the seller's
            null, 'payout_failed:' || p.id,
            jsonb_build_object('stripe_event_id', evt ->> 'id', 'payout_id', p.id, 'seller_id', v_seller,
                               'stripe_account_id', acct, 'failure_code', p.failure_code))
    returning * into t;
    insert into public.ticket_messages (ticket_id, author_id, author_kind, body)
    values (t.id, null, 'system',
            format('Payout %s of %s %s to seller %s (%s) failed: %s (%s). Told the seller: %s', p.id, p.amount,
                   upper(p.currency), v_seller, acct, coalesce(p.failure_message, 'no message'),
                   coalesce(p.failure_code, 'no code'), advice));
    perform ops.enqueue_seller_email(v_seller, 'seller_payout_failed', 'payout:' || p.id,
      jsonb_build_object('payout_id', p.id, 'amount', p.amount, 'currency', p.currency,
                         'failure_code', p.failure_code, 'failure_message', p.failure_message,
                         'advice', advice, 'ticket_ref', t.ref));
  end if;
  return 'processed';
end
$_$;


--
-- Name: apply_refund(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_refund(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  r jsonb := evt -> 'data' -> 'object';
  pi_id text := coalesce(r ->> 'payment_intent',
    (select p.stripe_payment_intent_id from ops.payment_intents p where p.latest_charge_id = r ->> 'charge' limit 1));
begin
  if pi_id is not null then
    perform ops.lock_payment_intent(pi_id);
  end if;
  perform ops.upsert_refund(r, pi_id, ops.ts(evt ->> 'created'));
  if pi_id is not null then
    perform ops.recompute_orders_for_payment_intent(pi_id);
  end if;
  return 'processed';
end
$$;


--
-- Name: apply_stripe_event(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_stripe_event(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  return case
    when evt ->> 'type' in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                            'checkout.session.async_payment_failed', 'checkout.session.expired')
      then ops.apply_checkout_session(evt)
    when evt ->> 'type' in ('payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled')
      then ops.apply_payment_intent(evt)
    when evt ->> 'type' in ('charge.refunded', 'charge.succeeded', 'charge.captured')
      then ops.apply_charge(evt)
    when evt ->> 'type' in ('refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated')
      then ops.apply_refund(evt)
    when evt ->> 'type' like 'charge.dispute.%'
      then ops.apply_dispute(evt)
    when evt ->> 'type' in ('invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed')
      then ops.apply_invoice(evt)
    when evt ->> 'type' in ('customer.subscription.created', 'customer.subscription.updated',
                            'customer.subscription.deleted', 'customer.subscription.paused',
                            'customer.subscription.resumed')
      then ops.apply_subscription(evt)
    when evt ->> 'type' in ('customer.created', 'customer.updated', 'customer.deleted')
      then ops.apply_customer(evt)
    when evt ->> 'type' in ('account.updated', 'account.application.deauthorized')
      then ops.apply_connect_account(evt)
    when evt ->> 'type' in ('payout.created', 'payout.updated', 'payout.paid', 'payout.failed', 'payout.canceled')
      then ops.apply_payout(evt)
    when evt ->> 'type' in ('transfer.created', 'transfer.updated', 'transfer.reversed')
      then ops.apply_transfer(evt)
    when evt ->> 'type' in ('application_fee.created', 'application_fee.refunded')
      then ops.apply_application_fee(evt)
    else 'ignored'
  end;
end
$$;


--
-- Name: apply_stripe_event_guarded(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_stripe_event_guarded(evt jsonb, OUT outcome text, OUT error text) RETURNS record
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  err_state text;
  err_message text;
begin
  -- jobs enqueued while applying carry the event id (ops.enqueue_job reads it), for tracing
  perform set_config('ops.stripe_event_id', evt ->> 'id', true);
  for attempt in 1..3 loop
    begin
      outcome := ops.apply_stripe_event(evt);
      return;
    exception when others then
      get stacked diagnostics err_state = returned_sqlstate, err_message = message_text;
      if err_state like '40%' and attempt < 3 then
        perform pg_sleep(0.01 * attempt);
        continue;
      end if;
      -- a passing condition (lock or statement timeout, resources, serialization) is no verdict on
      -- the event: fail the whole delivery so nothing is recorded and Stripe delivers it again
      if err_state like '40%' or err_state like '53%' or err_state in ('55P03', '57014') then
        raise;
      end if;
      outcome := 'failed';
      error := left(err_state || ': ' || err_message, 1000);
      return;
    end;
  end loop;
end
$$;


--
-- Name: apply_subscription(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_subscription(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  s jsonb := evt -> 'data' -> 'object';
  status text := case when evt ->> 'type' = 'customer.subscription.deleted' then 'canceled' else s ->> 'status' end;
  at timestamptz := ops.ts(evt ->> 'created');
  event_rank int;
  cid uuid;
begin
  select m.event_rank into event_rank from ops.stripe_subscription_statuses m where m.stripe_status = status;
  if event_rank is null then
    raise exception 'unknown subscription status %', status;
  end if;
  cid := ops.upsert_customer_link(s ->> 'customer', array[s -> 'metadata' ->> 'user_id'], null);
  insert into public.subscriptions as x (stripe_subscription_id, customer_id, stripe_customer_id, status, price_id,
    quantity, cancel_at_period_end, current_period_end, trial_end, canceled_at, stripe_event_created,
    stripe_event_rank, stripe_event_id)
  values (
    s ->> 'id', cid, s ->> 'customer', status,
    coalesce(s -> 'items' -> 'data' -> 0 -> 'price' ->> 'id', s -> 'plan' ->> 'id'),
    coalesce((s -> 'items' -> 'data' -> 0 ->> 'quantity')::int, (s ->> 'quantity')::int),
    coalesce((s ->> 'cancel_at_period_end')::boolean, false),
    ops.ts(coalesce(s ->> 'current_period_end', s -> 'items' -> 'data' -> 0 ->> 'current_period_end')),
    ops.ts(s ->> 'trial_end'), ops.ts(s ->> 'canceled_at'), at, event_rank, evt ->> 'id'
  )
  on conflict (stripe_subscription_id) do update set
    customer_id = excluded.customer_id, status = excluded.status, price_id = excluded.price_id,
    quantity = excluded.quantity, cancel_at_period_end = excluded.cancel_at_period_end,
    current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
    canceled_at = excluded.canceled_at, stripe_event_created = excluded.stripe_event_created,
    stripe_event_rank = excluded.stripe_event_rank, stripe_event_id = excluded.stripe_event_id
  -- an older event never overwrites a newer one; within one second the later status wins (then
  -- the event id, so any delivery order ends the same); a canceled subscription stays canceled
  where x.status <> 'canceled'
    and (excluded.stripe_event_created, excluded.stripe_event_rank, excluded.stripe_event_id)
        >= (x.stripe_event_created, x.stripe_event_rank, x.stripe_event_id);
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;


--
-- Name: apply_transfer(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.apply_transfer(evt jsonb) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  t jsonb := evt -> 'data' -> 'object';
  v_charge text := ops.stripe_ref(t -> 'source_transaction');
  r jsonb;
begin
  if v_charge is null or t ->> 'object' is distinct from 'transfer' then
    return 'ignored';
  end if;
  perform ops.lock_connect_charge(v_charge);
  insert into ops.connect_transfers as x (transfer_id, charge_id, destination_account_id, amount, amount_reversed,
                                          currency, transfer_group, stripe_event_created)
  values (t ->> 'id', v_charge, ops.stripe_ref(t -> 'destination'), (t ->> 'amount')::bigint,
          coalesce((t ->> 'amount_reversed')::bigint, 0), lower(t ->> 'currency'), t ->> 'transfer_group',
          ops.ts(evt ->> 'created'))
  on conflict (transfer_id) do update set
    amount = excluded.amount, amount_reversed = excluded.amount_reversed,
    charge_id = coalesce(x.charge_id, excluded.charge_id),
    destination_account_id = coalesce(x.destination_account_id, excluded.destination_account_id),
    transfer_group = coalesce(x.transfer_group, excluded.transfer_group),
    stripe_event_created = excluded.stripe_event_created, updated_at = now()
  -- the newest event's state; within a second the larger reversed amount (reversals only add up)
  where (excluded.stripe_event_created, excluded.amount_reversed) > (x.stripe_event_created, x.amount_reversed);
  for r in select * from jsonb_array_elements(coalesce(t -> 'reversals' -> 'data', '[]'::jsonb)) loop
    perform ops.upsert_transfer_reversal(r, t ->> 'id');
  end loop;
  perform ops.refresh_order_share(v_charge);
  return 'processed';
end
$$;


--
-- Name: as_uuid(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.as_uuid(value text) RETURNS uuid
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $_$
  select case when value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then value::uuid end
$_$;


--
-- Name: audit_profile_role(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.audit_profile_role() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into ops.role_grants (user_id, old_role, new_role, note, granted_by_role, granted_by_user)
  values (new.id, case when tg_op = 'UPDATE' then old.role end, new.role,
          coalesce(nullif(current_setting('ops.role_note', true), ''),
                   case when tg_op = 'INSERT' then 'at sign-up, from app_metadata.role' end),
          coalesce(nullif(current_setting('role', true), 'none'), session_user), auth.uid());
  return null;
end
$$;


--
-- Name: auto_complete_orders(timestamp with time zone, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.auto_complete_orders(p_now timestamp with time zone DEFAULT now(), p_limit integer DEFAULT 200) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  days integer := (ops.current_settings()).auto_complete_after_days;
  n integer;
begin
  perform set_config('ops.status_actor', 'auto_complete', true);
  with due as (
    select o.id from public.orders o
     where o.status = 'in_fulfillment' and o.fulfillment_started_at <= p_now - make_interval(days => days)
     order by o.fulfillment_started_at
     limit greatest(p_limit, 0)
       for update skip locked
  )
  update public.orders o set status = 'completed' from due where o.id = due.id;
  get diagnostics n = row_count;
  perform set_config('ops.status_actor', '', true);
  return n;
end
$$;


--
-- Name: FUNCTION auto_complete_orders(p_now timestamp with time zone, p_limit integer); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.auto_complete_orders(p_now timestamp with time zone, p_limit integer) IS 'pg_cron (hourly): completes orders in fulfilment for ops.settings.auto_complete_after_days, at most p_limit per run.';


--
-- Name: backoff_delay(integer, integer, integer, double precision); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.backoff_delay(p_attempt integer, p_base_ms integer, p_max_ms integer, p_jitter double precision DEFAULT random()) RETURNS interval
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select make_interval(secs => least(p_max_ms::double precision, p_base_ms * power(2, greatest(p_attempt, 1) - 1))
                               * (0.5 + 0.5 * p_jitter) / 1000.0)
$$;


--
-- Name: billing_portal_customer(uuid, boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  u auth.users;
  v_customer text;
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the billing-portal key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'BP401';
  end if;
  if coalesce(u.is_anonymous, false) then
    raise exception 'anonymous sessions have no billing: sign up with an email first' using errcode = 'BP403';
  end if;
  select m.stripe_customer_id into v_customer
    from public.customers c
    join ops.stripe_customers m on m.customer_id = c.id and m.deleted_at is null
   where c.user_id = p_user_id
   order by (select max(case s.status when 'past_due' then 3 when 'unpaid' then 3 when 'active' then 2
                                        when 'trialing' then 2 when 'paused' then 2 else 0 end)
               from public.subscriptions s where s.stripe_customer_id = m.stripe_customer_id) desc nulls last,
            (m.linked_by = 'server') desc nulls last, m.linked_at desc nulls last, m.created_at desc
   limit 1;
  if v_customer is null then
    raise exception 'you have no billing account yet: subscribe to a plan first' using errcode = 'BP404';
  end if;
  return jsonb_build_object('stripe_customer_id', v_customer);
end
$$;


--
-- Name: FUNCTION billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text) IS 'billing-portal function: the signed-in user''s Stripe customer (refusals: SQLSTATE BP<status>).';


--
-- Name: check_alert_rule(ops.alert_rules, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.check_alert_rule(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $_$
begin
  execute format('select * from %s($1, $2, $3)', ops.registered_function(r.check_fn, 'alert rule ' || r.rule))
     into firing, value, summary, detail, recovered
    using r, p_now, p_since;
  firing := coalesce(firing, false);
  detail := coalesce(detail, '{}'::jsonb);
end
$_$;


--
-- Name: FUNCTION check_alert_rule(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.check_alert_rule(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) IS 'What one alert rule sees at p_now (events counted from p_since), by its row''s check_fn: firing, the measured value, a summary, details, and for rules over events whether the outage has recovered.';


--
-- Name: checkout_begin(uuid, text, text, uuid, integer, text, boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  r ops.checkout_requests;
  l record;
  p public.plans;
  u auth.users;
  cus text;
  v_title text;
  v_created boolean := false;
  v_seller uuid;
  v_amount bigint;
  v_connect jsonb;
  v_connect_enabled boolean := coalesce((select s.connect_enabled from ops.settings s where s.id), false);
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the checkout key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'CK401';
  end if;
  -- a double tap's second call waits here for the first one's transaction
  perform pg_advisory_xact_lock(hashtextextended('checkout:' || p_user_id || ':' || p_key, 0));
  select * into r from ops.checkout_requests where user_id = p_user_id and idempotency_key = p_key;
  if found and r.fingerprint <> p_fingerprint then
    raise exception 'idempotency_key % was used for another checkout: send a new key for a new checkout',
      left(p_key, 64) using errcode = 'CK422';
  end if;
  if not found then
    if p_kind = 'order' then
      select x.id, x.seller_id, x.active, x.title, x.price_amount, x.currency into l
        from public.listings x where x.id = p_target;
      if not found or not l.active then
        raise exception 'listing % is not for sale (unknown or no longer active)', p_target using errcode = 'CK404';
      end if;
      if l.seller_id = p_user_id then
        raise exception 'you cannot buy your own listing' using errcode = 'CK403';
      end if;
      if not private.seller_can_accept_charges(l.seller_id) then
        raise exception 'the seller of listing % cannot accept payments yet: try again later', p_target
          using errcode = 'CK409';
      end if;
      v_seller := l.seller_id;
      -- what orders_price_from_listing will make the buyer's order cost
      v_amount := l.price_amount * coalesce(p_quantity, 1);
    else
      select * into p from public.plans where id = p_target;
      if not found or not p.active then
        raise exception 'plan % is not offered (unknown or no longer active)', p_target using errcode = 'CK404';
      end if;
      if exists (
        select 1 from public.subscriptions x join public.customers c on c.id = x.customer_id
         where c.user_id = p_user_id and x.price_id = p.stripe_price_id
           and x.status in ('trialing', 'active', 'past_due', 'unpaid', 'paused')) then
        raise exception 'you already have a live subscription to plan %: manage it instead of subscribing again',
          p.name using errcode = 'CK409';
      end if;
    end if;
    insert into ops.checkout_requests (user_id, idempotency_key, kind, fingerprint, listing_id, plan_id)
    values (p_user_id, p_key, p_kind, p_fingerprint,
            case when p_kind = 'order' then p_target end, case when p_kind = 'subscription' then p_target end)
    returning * into r;
    v_created := true;
  elsif r.kind = 'subscription' then
    select * into p from public.plans where id = r.plan_id;
  else
    select o.seller_id, o.amount_total into v_seller, v_amount from public.orders o where o.id = r.order_id;
    -- a retry whose session was never sent is a new charge to the seller: they must still accept charges
    if v_connect_enabled and r.session_params is null and r.stripe_checkout_session_id is null
       and not private.seller_can_accept_charges(v_seller) then
      raise exception 'the seller of this order cannot accept payments any more: nothing was charged'
        using errcode = 'CK409';
    end if;
  end if;
  if r.kind = 'order' then
    select x.title into v_title from public.listings x where x.id = r.listing_id;
    -- destination charge: the seller's connected account receives the payment less the platform's fee
    if v_connect_enabled then
      v_connect := jsonb_build_object(
        'destination', (select a.stripe_account_id from public.seller_accounts a where a.seller_id = v_seller),
        'application_fee_amount', ops.platform_fee(v_amount));
    end if;
  end if;
  -- the user's Stripe customer by the linking rules: one linked to them (metadata, server or admin), not
  -- deleted; the server's own first, then the newest link
  select m.stripe_customer_id into cus
    from ops.stripe_customers m join public.customers c on c.id = m.customer_id
   where c.user_id = p_user_id and m.linked_by is not null and m.deleted_at is null
   order by (m.linked_by = 'server') desc, m.linked_at desc
   limit 1;
  return jsonb_build_object(
    'request_id', r.id, 'created', v_created, 'kind', r.kind, 'order_id', r.order_id, 'listing_title', v_title,
    'order', (select jsonb_build_object('amount_total', o.amount_total, 'currency', o.currency, 'quantity', o.quantity)
                from public.orders o where o.id = r.order_id),
    'plan', case when p.id is not null then jsonb_build_object('id', p.id, 'name', p.name,
                                                               'stripe_price_id', p.stripe_price_id) end,
    'stripe_customer_id', coalesce(r.stripe_customer_id, cus), 'email', u.email,
    'connect', v_connect,
    'session_params', r.session_params, 'session_id', r.stripe_checkout_session_id, 'url', r.url,
    'expires_at', r.expires_at);
end
$$;


--
-- Name: FUNCTION checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text) IS 'checkout function: the request for (user, idempotency key), existing or new after the refusal checks (SQLSTATE CK<status>).';


--
-- Name: checkout_finish(uuid, text, text, timestamp with time zone, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.checkout_finish(p_request_id uuid, p_session_id text, p_url text, p_expires_at timestamp with time zone, p_error text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update ops.checkout_requests
     set stripe_checkout_session_id = coalesce(stripe_checkout_session_id, p_session_id),
         url = coalesce(url, p_url), expires_at = coalesce(expires_at, p_expires_at),
         last_error = case when p_session_id is null then left(p_error, 1000) end
   where id = p_request_id;
end
$$;


--
-- Name: checkout_prepare_session(uuid, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.checkout_prepare_session(p_request_id uuid, p_stripe_customer_id text, p_params jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  r ops.checkout_requests;
begin
  select * into r from ops.checkout_requests where id = p_request_id for update;
  if not found then
    raise exception 'no checkout request %', p_request_id using errcode = 'P0002';
  end if;
  if r.stripe_checkout_session_id is null then
    if r.stripe_customer_id is null then
      perform ops.register_stripe_customer(p_stripe_customer_id, r.user_id);
    end if;
    update ops.checkout_requests set stripe_customer_id = coalesce(stripe_customer_id, p_stripe_customer_id),
           session_params = coalesce(session_params, p_params), attempts = attempts + 1
     where id = p_request_id
    returning * into r;
  end if;
  return jsonb_build_object('params', r.session_params, 'session_id', r.stripe_checkout_session_id, 'url', r.url,
                            'expires_at', r.expires_at);
end
$$;


--
-- Name: checkout_set_order(uuid, uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.checkout_set_order(p_request_id uuid, p_order_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update ops.checkout_requests r set order_id = p_order_id
   where r.id = p_request_id and r.kind = 'order' and r.order_id is null
     and exists (select 1 from public.orders o where o.id = p_order_id and o.buyer_id = r.user_id
                 and o.listing_id = r.listing_id and o.status = 'pending_payment');
  if not found then
    raise exception 'checkout request % cannot take order %', p_request_id, p_order_id using errcode = 'P0002';
  end if;
end
$$;


--
-- Name: jobs; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.jobs (
    id bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    dedupe_key text NOT NULL,
    queue_key text,
    status text DEFAULT 'queued'::text NOT NULL,
    priority integer DEFAULT 0 NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer NOT NULL,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_by text,
    locked_until timestamp with time zone,
    last_error text,
    last_dispatched_at timestamp with time zone,
    dispatch_count integer DEFAULT 0 NOT NULL,
    unclaimed_dispatches integer DEFAULT 0 NOT NULL,
    last_request_id bigint,
    correlation_id text,
    stripe_event_id text,
    result jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    succeeded_at timestamp with time zone,
    payload_cleared_at timestamp with time zone,
    x_request_id text DEFAULT NULLIF(current_setting('backbone.request_id'::text, true), ''::text),
    CONSTRAINT jobs_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text, 'dead'::text])))
)
WITH (fillfactor='80');


--
-- Name: TABLE jobs; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.jobs IS 'Transactional outbox of side effects (CRM, tickets, notifications): one row per dedupe_key; queued | running | succeeded | failed (retrying) | dead.';


--
-- Name: COLUMN jobs.payload_cleared_at; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.jobs.payload_cleared_at IS 'When the retention or an erasure cut the payload and result to ops.job_payload_skeleton (what a message said and to whom went; ids, template and entity stay).';


--
-- Name: COLUMN jobs.x_request_id; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.jobs.x_request_id IS 'The x-request-id of the HTTP request whose transaction enqueued the job (support-intake, checkout, dashboard), else null.';


--
-- Name: claim_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.claim_job(p_job_id bigint, p_worker text) RETURNS SETOF ops.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: claim_jobs(text[], text, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer DEFAULT 1) RETURNS SETOF ops.jobs
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: FUNCTION claim_jobs(p_kinds text[], p_worker text, p_limit integer); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer) IS 'A drainer''s claim: up to p_limit due jobs of these kinds, highest priority then oldest first, one per queue key, each leased to p_worker.';


--
-- Name: claim_next_job(text[], text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.claim_next_job(p_kinds text[], p_worker text) RETURNS SETOF ops.jobs
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select * from ops.claim_jobs(p_kinds, p_worker, 1)
$$;


--
-- Name: claim_orphan_session(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.claim_orphan_session(p_session_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  s ops.checkout_sessions;
  oid uuid;
begin
  select * into s from ops.checkout_sessions where stripe_checkout_session_id = p_session_id;
  if s.order_id is not null or s.claim_review is null
     or not (coalesce(s.payment_status in ('paid', 'no_payment_required'), false)
             or exists (select 1 from ops.payment_intents p
                         where p.stripe_payment_intent_id = s.stripe_payment_intent_id
                           and p.succeeded_at is not null)) then
    return;
  end if;
  insert into public.orders (status, buyer_id, listing_id, amount_total, currency)
  values ('pending_payment', s.review_buyer_id, s.review_listing_id, coalesce(s.amount_subtotal, s.amount_total),
          s.currency)
  returning id into oid;
  update ops.checkout_sessions set order_id = oid where stripe_checkout_session_id = p_session_id;
  update ops.payment_intents set order_id = coalesce(order_id, oid)
    where stripe_payment_intent_id = s.stripe_payment_intent_id;
end
$$;


--
-- Name: clear_personal_data(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.clear_personal_data(p_after interval DEFAULT NULL::interval) RETURNS jsonb
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select ops.run_retention_policies(true, p_after)
$$;


--
-- Name: complete_job(bigint, text, jsonb, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.complete_job(p_job_id bigint, p_worker text, p_result jsonb DEFAULT NULL::jsonb, p_hand_on boolean DEFAULT true) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: connect_charge_order(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.connect_charge_order(p_charge_id text) RETURNS uuid
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with pi as (
    select coalesce((select c.payment_intent_id from ops.connect_charges c where c.charge_id = p_charge_id),
                    (select p.stripe_payment_intent_id from ops.payment_intents p
                      where p.latest_charge_id = p_charge_id order by 1 limit 1)) as id
  )
  select coalesce(
    (select y.id from public.orders y, pi where y.stripe_payment_intent_id = pi.id order by y.id limit 1),
    (select p.order_id from ops.payment_intents p, pi where p.stripe_payment_intent_id = pi.id),
    (select s.order_id from ops.checkout_sessions s, pi where s.stripe_payment_intent_id = pi.id
        and s.order_id is not null order by s.stripe_checkout_session_id limit 1))
$$;


--
-- Name: crm_capture_skeleton(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.crm_capture_skeleton(body jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
    from jsonb_each(case when jsonb_typeof(body) = 'object' then body else '{}' end) f
   where jsonb_typeof(f.value) in ('string', 'number', 'boolean')
     and f.key in ('id', 'orderKey', 'dealId', 'contactId', 'stage', 'lifecycleStage', 'billingStatus',
                   'amount', 'currency', 'refundedAmount', 'needsReview', 'occurredAt')
$$;


--
-- Name: crm_job_context(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.crm_job_context(p_job_id bigint, p_worker text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
  ctx jsonb;
begin
  if j.id is null then
    return null;
  end if;
  if j.kind = 'crm.contact' then
    select jsonb_build_object('customer_id', c.id, 'email', lower(trim(c.email)), 'name', c.name,
             'billing_status', c.billing_status, 'version', c.version,
             'has_paid_order', exists (select 1 from public.orders o where o.buyer_id = c.user_id
                                       and o.paid_at is not null))
      into ctx from public.customers c where c.id = (j.payload ->> 'customer_id')::uuid
       -- held: a row without a user that needed review is no contact (see ops.flag_customer_review)
       and (c.user_id is not null or c.review_reason is null);
  elsif j.kind = 'crm.deal' then
    -- the deal is worth what was charged (tax and discounts included), not the list price
    select jsonb_build_object('order_id', o.id, 'status', o.status, 'amount_total', o.amount_total,
             'currency', o.currency, 'amount_charged', o.amount_charged, 'currency_charged', o.currency_charged,
             'amount_refunded', o.amount_refunded, 'needs_review', o.needs_review,
             'version', o.version, 'listing_title', l.title,
             -- the newest dispute of the order's payment: one CRM note per dispute, whatever job notes it
             'dispute_id', (select d.stripe_dispute_id from ops.disputes d
                             where d.stripe_payment_intent_id = o.stripe_payment_intent_id
                             order by d.stripe_event_created desc, d.stripe_dispute_id desc limit 1),
             'buyer', case when u.email is null then null else jsonb_build_object(
               'customer_id', c.id, 'email', lower(trim(u.email)), 'name', coalesce(c.name, p.display_name),
               'billing_status', coalesce(c.billing_status, 'lead'), 'version', c.version,
               'has_paid_order', exists (select 1 from public.orders o2 where o2.buyer_id = o.buyer_id
                                         and o2.paid_at is not null),
               'crm_contact_id', cc.crm_contact_id, 'crm_adapter', cc.adapter,
               'crm_lifecycle_stage', cc.lifecycle_stage) end)
      into ctx
      from public.orders o
      left join public.listings l on l.id = o.listing_id
      left join auth.users u on u.id = o.buyer_id
      left join public.profiles p on p.id = o.buyer_id
      left join public.customers c on c.user_id = o.buyer_id
      left join ops.crm_contacts cc on cc.customer_id = c.id and cc.email = lower(trim(u.email))
     where o.id = (j.payload ->> 'order_id')::uuid;
  elsif j.kind = 'crm.seller' then
    -- the seller as they are now: a late retry never sends an old status
    select jsonb_build_object('seller_id', a.seller_id, 'email', lower(trim(u.email)), 'name', p.display_name,
             'seller_status', ops.seller_crm_status(a), 'stripe_account_id', a.stripe_account_id)
      into ctx
      from public.seller_accounts a
      join auth.users u on u.id = a.seller_id
      left join public.profiles p on p.id = a.seller_id
     where a.seller_id = (j.payload ->> 'seller_id')::uuid;
  end if;
  return ctx;
end
$$;


--
-- Name: access_overrides; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.access_overrides (
    id bigint NOT NULL,
    customer_id uuid NOT NULL,
    access_status text NOT NULL,
    reason text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_by uuid,
    created_by_email text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    ended_at timestamp with time zone,
    ended_reason text,
    CONSTRAINT access_overrides_access_status_check CHECK ((access_status = ANY (ARRAY['granted'::text, 'blocked'::text]))),
    CONSTRAINT access_overrides_check CHECK ((expires_at > created_at)),
    CONSTRAINT access_overrides_check1 CHECK (((ended_at IS NULL) = (ended_reason IS NULL))),
    CONSTRAINT access_overrides_ended_reason_check CHECK ((ended_reason = ANY (ARRAY['replaced'::text, 'cleared'::text, 'expired'::text]))),
    CONSTRAINT access_overrides_reason_check CHECK (((length(btrim(reason)) >= 1) AND (length(btrim(reason)) <= 1000)))
);


--
-- Name: TABLE access_overrides; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.access_overrides IS 'Manual access grants and revokes (dashboard), beside billing truth: while one is current and not expired, customers.access_status follows it; billing_status never changes. At most one current per customer; the sweep ends expired ones.';


--
-- Name: current_access_override(uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.current_access_override(p_customer_id uuid) RETURNS ops.access_overrides
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select o.* from ops.access_overrides o
   where o.customer_id = p_customer_id and o.ended_at is null and o.expires_at > now()
$$;


--
-- Name: settings; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.settings (
    id boolean DEFAULT true NOT NULL,
    stripe_livemode boolean DEFAULT false NOT NULL,
    stripe_account_id text,
    personal_data_retention_days integer DEFAULT 90 NOT NULL,
    failed_payment_policy text DEFAULT 'email'::text NOT NULL,
    stripe_live_since timestamp with time zone,
    connect_enabled boolean DEFAULT false NOT NULL,
    platform_fee_percent numeric(5,2) DEFAULT 0 NOT NULL,
    platform_fee_fixed bigint DEFAULT 0 NOT NULL,
    auto_complete_after_days integer DEFAULT 14 NOT NULL,
    dunning_reminder_days integer[] DEFAULT '{3,7}'::integer[] NOT NULL,
    dunning_grace_days integer DEFAULT 10 NOT NULL,
    renewal_failed_policy text DEFAULT 'email'::text NOT NULL,
    CONSTRAINT settings_auto_complete_after_days_check CHECK (((auto_complete_after_days >= 1) AND (auto_complete_after_days <= 365))),
    CONSTRAINT settings_dunning_grace_days_check CHECK (((dunning_grace_days >= 0) AND (dunning_grace_days <= 90))),
    CONSTRAINT settings_dunning_reminder_days_check CHECK (((cardinality(dunning_reminder_days) <= 10) AND (1 <= ALL (dunning_reminder_days)) AND (90 >= ALL (dunning_reminder_days)))),
    CONSTRAINT settings_failed_payment_policy_check CHECK ((failed_payment_policy = ANY (ARRAY['email'::text, 'ticket'::text, 'both'::text]))),
    CONSTRAINT settings_id_check CHECK (id),
    CONSTRAINT settings_personal_data_retention_days_check CHECK ((personal_data_retention_days >= 1)),
    CONSTRAINT settings_platform_fee_fixed_check CHECK ((platform_fee_fixed >= 0)),
    CONSTRAINT settings_platform_fee_percent_check CHECK (((platform_fee_percent >= (0)::numeric) AND (platform_fee_percent < (100)::numeric))),
    CONSTRAINT settings_renewal_failed_policy_check CHECK ((renewal_failed_policy = ANY (ARRAY['email'::text, 'ticket'::text, 'both'::text]))),
    CONSTRAINT settings_stripe_account_id_check CHECK ((stripe_account_id ~ '^acct_[A-Za-z0-9]+$'::text))
);


--
-- Name: TABLE settings; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.settings IS 'Pipeline settings (one row): the Stripe mode and Connect account events must belong to, the retention of personal data in days, and what a failed payment does for the customer (email | ticket | both). Change with e.g. update ops.settings set stripe_livemode = true;';


--
-- Name: COLUMN settings.stripe_live_since; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.stripe_live_since IS 'When stripe_livemode last turned true (kept by a trigger; null in test mode); the stripe_quiet alert counts its quiet period from here at the earliest.';


--
-- Name: COLUMN settings.connect_enabled; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.connect_enabled IS 'Sellers are paid through Stripe Connect: a seller takes payments only once their connected account can accept charges, and checkout makes destination charges to it with the platform fee. false (the default): every payment stays on the platform''s account (service businesses, or a marketplace paying sellers by hand).';


--
-- Name: COLUMN settings.platform_fee_percent; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.platform_fee_percent IS 'The founder''s fee on each destination charge: this percent of the order''s amount (rounded half up to the currency''s minor unit) plus platform_fee_fixed.';


--
-- Name: COLUMN settings.platform_fee_fixed; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.platform_fee_fixed IS 'The fixed part of the founder''s fee, in the order currency''s minor unit (cents), added to platform_fee_percent of the amount; the fee never exceeds the amount.';


--
-- Name: COLUMN settings.auto_complete_after_days; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.auto_complete_after_days IS 'An order in fulfilment (shipped) this many days is completed by pg_cron (ops.auto_complete_orders), as if the buyer had confirmed receipt. Default 14.';


--
-- Name: COLUMN settings.dunning_reminder_days; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.dunning_reminder_days IS 'Days after a renewal first failed on which the customer gets a renewal_reminder email while it stays unpaid (default {3,7}; empty: no reminders).';


--
-- Name: COLUMN settings.dunning_grace_days; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.dunning_grace_days IS 'Days after a renewal first failed during which a past_due customer keeps access (access_status grace); then access is blocked until the invoice is paid (default 10).';


--
-- Name: COLUMN settings.renewal_failed_policy; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.settings.renewal_failed_policy IS 'What a failed renewal does: email (the customer gets renewal_failed, the reminders and payment_recovered), ticket (a billing ticket, no emails: the founder writes) or both. Read when the case opens.';


--
-- Name: current_settings(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.current_settings() RETURNS ops.settings
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  s ops.settings;
begin
  select * into s from ops.settings where id;
  if not found then
    raise exception 'ops.settings has no row: insert into ops.settings default values, then set the Stripe mode'
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  return s;
end
$$;


--
-- Name: customer_access_state(uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.customer_access_state(p_customer_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'customer', (select to_jsonb(c) from public.customers c where c.id = p_customer_id),
    'override', (select to_jsonb(o) from ops.current_access_override(p_customer_id) o where o.id is not null))
$$;


--
-- Name: customer_for_user(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.customer_for_user(p_user_id uuid, p_email text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  cid uuid;
begin
  insert into public.customers (user_id, email)
  select u.id, coalesce(p_email, lower(trim(u.email))) from auth.users u where u.id = p_user_id
  on conflict (user_id) do nothing;
  select id into cid from public.customers where user_id = p_user_id for update;
  return cid;
end
$$;


--
-- Name: customers_notify(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.customers_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if new.user_id is not null and new.access_status = 'granted' and new.billing_status = 'active'
     and old.billing_status is distinct from 'active' then
    perform ops.enqueue_notification('email', 'welcome', 'user:' || new.user_id, 'user:' || new.user_id);
  end if;
  return null;
end
$$;


--
-- Name: dashboard_blocked_sellers(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_blocked_sellers() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform ops.require_admin();
  return coalesce((select jsonb_agg(to_jsonb(x)) from (
    select b.seller_id, b.display_name, b.email, b.status, b.why_blocked, b.next_step, b.current_deadline,
           b.stripe_account_id
      from ops.blocked_sellers b
     order by cardinality(b.requirements_past_due) > 0 desc, b.current_deadline nulls last, b.seller_id
     limit 50) x), '[]');
end
$$;


--
-- Name: dashboard_figures(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_figures() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  week_start date := date_trunc('week', now())::date;
begin
  perform ops.require_admin();
  return jsonb_build_object(
    'payments_7d', (select jsonb_build_object(
                      'succeeded', coalesce(sum(p.succeeded), 0),
                      'failed_attempts', coalesce(sum(p.failed_attempts), 0),
                      'success_rate',
                        round(sum(p.succeeded)::numeric / nullif(sum(p.succeeded + p.failed_attempts), 0), 4))
                      from ops.payment_success_daily p where p.day > current_date - 7),
    'duplicates_today', (select coalesce(sum(d.duplicates), 0) from ops.duplicate_deliveries_daily d
                          where d.day = current_date),
    'duplicates_7d', (select coalesce(sum(d.duplicates), 0) from ops.duplicate_deliveries_daily d
                       where d.day > current_date - 7),
    'overrides_this_week', (select coalesce(sum(o.overrides), 0) from ops.overrides_weekly o where o.week = week_start),
    'overrides_last_week', (select coalesce(sum(o.overrides), 0) from ops.overrides_weekly o
                             where o.week = week_start - 7),
    'lag_7d', (select jsonb_build_object(
                 'grants', count(*),
                 'p95_s', round(extract(epoch from percentile_cont(0.95) within group (order by l.lag))::numeric, 1),
                 'max_s', round(extract(epoch from max(l.lag))::numeric, 1),
                 'over_5_min', count(*) filter (where l.lag > interval '5 minutes'))
                 from ops.payment_access_lag l where l.granted_at > now() - interval '7 days'),
    'bounces_7d', (select jsonb_build_object('sent', coalesce(sum(b.sent), 0), 'bounced', coalesce(sum(b.bounced), 0),
                                             'bounce_rate', round(sum(b.bounced)::numeric / nullif(sum(b.sent), 0), 4))
                     from ops.email_bounce_daily b where b.day > current_date - 7));
end
$$;


--
-- Name: FUNCTION dashboard_figures(); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.dashboard_figures() IS 'The founder''s figures for the dashboard: payment success rate, duplicate deliveries, overrides, payment -> access lag, bounce rate (admins only; the ops.*_daily views in Studio).';


--
-- Name: dashboard_journey(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_journey(p_query text) RETURNS TABLE(at timestamp with time zone, source text, entity text, what text, detail text, correlation_id text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform ops.require_admin();
  if p_query is null or length(btrim(p_query)) not between 1 and 200 then
    raise exception 'search for an email, an order id, evt_..., a ticket id, T-000123 or a request id (at most 200 '
                    'characters)'
      using errcode = 'invalid_parameter_value';
  end if;
  return query select * from ops.journey(btrim(p_query)) j limit 500;
end
$$;


--
-- Name: dashboard_lists(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_lists(p_pages jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  -- rows per page, as the page showed them before (#10)
  sizes constant jsonb := '{"exceptions": 100, "customers": 100, "tickets": 50, "findings": 50, "audit": 20}';
  pages jsonb := '{}';
  l text;
  n integer;
begin
  perform ops.require_admin();
  for l in select jsonb_object_keys(sizes) loop
    n := ops.dashboard_page_of(coalesce(p_pages, '{}'), l);
    pages := pages || jsonb_build_object(l, jsonb_build_object('page', n, 'size', (sizes ->> l)::integer,
                                                               'offset', (n - 1) * (sizes ->> l)::integer));
  end loop;
  return jsonb_build_object(
    'pages', pages,
    'exceptions_total', (select count(*) from ops.pipeline_exceptions),
    'exceptions', coalesce((select jsonb_agg(to_jsonb(x) order by x.since desc nulls last, x.exception, x.ref)
        from (select * from ops.pipeline_exceptions e order by e.since desc nulls last, e.exception, e.ref
               offset (pages #>> '{exceptions,offset}')::integer limit (pages #>> '{exceptions,size}')::integer) x),
        '[]'),
    'customers_total', (select count(*) from public.customers),
    'customers', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select * from ops.customer_access a
         order by a.override_access is not null desc, a.access_status <> 'granted' desc, a.updated_at desc,
                  a.customer_id
         offset (pages #>> '{customers,offset}')::integer limit (pages #>> '{customers,size}')::integer) x), '[]'),
    'tickets_total', (select count(*) from public.support_tickets t where t.status in ('open', 'pending')),
    'tickets', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select t.id, t.ref, t.subject, t.queue, t.priority, t.status, t.category, t.created_at
          from public.support_tickets t join ops.support_priorities p on p.priority = t.priority
         where t.status in ('open', 'pending') order by p.rank desc, t.created_at, t.id
         offset (pages #>> '{tickets,offset}')::integer limit (pages #>> '{tickets,size}')::integer) x), '[]'),
    'findings_total', (select count(*) from ops.reconciliation_findings f where f.status = 'open'),
    'findings', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select f.id, f.kind, f.object_id, f.order_id, f.customer_id, f.next_action, f.found_at, f.last_seen_at
          from ops.reconciliation_findings f where f.status = 'open' order by f.found_at desc, f.id desc
         offset (pages #>> '{findings,offset}')::integer limit (pages #>> '{findings,size}')::integer) x), '[]'),
    'audit_total', (select count(*) from ops.audit_log),
    'audit', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select a.id, a.at, a.actor_email, a.action, a.target, a.reason, a.before, a.after, a.x_request_id as request_id
          from ops.audit_log a order by a.id desc
         offset (pages #>> '{audit,offset}')::integer limit (pages #>> '{audit,size}')::integer) x), '[]'));
end
$$;


--
-- Name: FUNCTION dashboard_lists(p_pages jsonb); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.dashboard_lists(p_pages jsonb) IS 'The dashboard''s lists (exceptions, customers, tickets, findings, audit), each one page of a total order with its total: ops.dashboard_lists(''{"findings": 2}'') (admins only).';


--
-- Name: dashboard_page_of(jsonb, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_page_of(p_pages jsonb, p_list text) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
declare
  v text := p_pages ->> p_list;
begin
  if v is null then
    return 1;
  end if;
  if v !~ '^\d{1,6}$' or v::integer < 1 then
    raise exception 'page % of % is not a page number: 1 or more', left(v, 20), p_list
      using errcode = 'invalid_parameter_value';
  end if;
  return v::integer;
end
$_$;


--
-- Name: dashboard_snapshot(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dashboard_snapshot() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform ops.require_admin();
  return jsonb_build_object(
    'now', now(),
    'revenue_today', coalesce((select jsonb_agg(to_jsonb(r) order by r.currency) from ops.revenue_today r), '[]'),
    'customers_total', (select count(*) from public.customers),
    'customers', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select * from ops.customer_access a
         order by a.override_access is not null desc, a.access_status <> 'granted' desc, a.updated_at desc
         limit 100) x), '[]'),
    'last_successes', coalesce((select jsonb_agg(to_jsonb(l)) from ops.last_successes l), '[]'),
    'incidents', coalesce((select jsonb_agg(to_jsonb(i) order by i.opened_at desc) from ops.open_incidents i), '[]'),
    'exceptions', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select * from ops.pipeline_exceptions e order by e.since desc nulls last limit 100) x), '[]'),
    'queues', coalesce((select jsonb_agg(to_jsonb(h)) from ops.pipeline_health h), '[]'),
    'support_backlog', coalesce((select jsonb_agg(to_jsonb(b) order by b.queue) from ops.support_backlog b), '[]'),
    'tickets', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select t.id, t.ref, t.subject, t.queue, t.priority, t.status, t.category, t.created_at
          from public.support_tickets t join ops.support_priorities p on p.priority = t.priority
         where t.status in ('open', 'pending') order by p.rank desc, t.created_at limit 50) x), '[]'),
    'queue_names', (select jsonb_agg(q.queue order by q.queue) from ops.support_queues q),
    'priorities', (select jsonb_agg(p.priority order by p.rank) from ops.support_priorities p),
    'findings', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select f.id, f.kind, f.object_id, f.order_id, f.customer_id, f.next_action, f.found_at, f.last_seen_at
          from ops.reconciliation_findings f where f.status = 'open' order by f.found_at desc limit 50) x), '[]'),
    'audit', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select a.id, a.at, a.actor_email, a.action, a.target, a.reason, a.before, a.after
          from ops.audit_log a order by a.id desc limit 20) x), '[]'));
end
$$;


--
-- Name: FUNCTION dashboard_snapshot(); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.dashboard_snapshot() IS 'Everything the dashboard page shows, as one JSON document (admins only).';


--
-- Name: defer_job(bigint, text, integer, text, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text, p_hand_on boolean DEFAULT true) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: dispatch_due_job(text[]); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dispatch_due_job(p_kinds text[]) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: dispatch_job(bigint); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dispatch_job(p_job_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j record;
  base_url text;
  worker_secret text;
  request_id bigint;
  -- long enough for a request waiting in a busy pg_net queue; an expired one is refused (403) and the
  -- sweep sends the job again with a fresh proof
  expires_at bigint := ceil(extract(epoch from clock_timestamp() + interval '10 minutes'))::bigint;
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
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization',
                                  'Bearer ' || ops.dispatch_proof(worker_secret, j.function_name, j.id, expires_at)),
    timeout_milliseconds := j.timeout_ms
  );
  update ops.jobs
     set last_dispatched_at = now(), dispatch_count = dispatch_count + 1,
         unclaimed_dispatches = unclaimed_dispatches + 1, last_request_id = request_id
   where id = p_job_id;
  return request_id;
end
$$;


--
-- Name: dispatch_next(bigint); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dispatch_next(p_job_id bigint) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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


--
-- Name: dispatch_proof(text, text, bigint, bigint); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.dispatch_proof(p_secret text, p_function text, p_job_id bigint, p_expires_at bigint) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    SET search_path TO ''
    AS $$
  select format('v1.%s.%s.%s', p_job_id, p_expires_at,
                encode(extensions.hmac(format('v1.%s.%s.%s', p_function, p_job_id, p_expires_at), p_secret, 'sha256'),
                       'hex'))
$$;


--
-- Name: disputes_notify(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.disputes_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  event_id text := nullif(current_setting('ops.stripe_event_id', true), '');
begin
  if tg_op = 'INSERT' then
    perform ops.enqueue_notification('slack', 'slack_dispute_alert', 'dispute:' || new.stripe_dispute_id, 'team');
  end if;
  if tg_op = 'INSERT' or new.status is distinct from old.status then
    perform ops.enqueue_job('support.ticket',
      jsonb_build_object('case', 'dispute', 'dispute_id', new.stripe_dispute_id, 'status', new.status,
                         'event_id', event_id),
      format('support.ticket:dispute:%s:%s', new.stripe_dispute_id, new.status),
      p_correlation_id => event_id, p_queue_key => 'dispute:' || new.stripe_dispute_id);
  end if;
  return null;
end
$$;


--
-- Name: email_match_reason(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.email_match_reason(p_email text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select format('email-only match: the Stripe customer''s email belongs to %s; an email never links (only a '
                'server-set user id does: metadata.user_id, the client_reference_id of a session the server created, '
                'ops.register_stripe_customer)',
                string_agg(format('user %s (%s)', u.id, case when u.email_confirmed_at is null then 'unconfirmed'
                                  else 'confirmed' end),
                           ', ' order by u.id))
    from auth.users u
   where lower(u.email) = lower(trim(p_email)) and not u.is_anonymous
  having count(*) > 0
$$;


--
-- Name: end_job_drain(text[]); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.end_job_drain(p_kinds text[]) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  delete from ops.job_drains where kind = any (p_kinds)
$$;


--
-- Name: enforce_billing_transition(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enforce_billing_transition() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'UPDATE' and new.billing_status is distinct from old.billing_status and not exists (
    select 1 from ops.billing_status_transitions t where t.from_status = old.billing_status
      and t.to_status = new.billing_status
  ) then
    raise exception 'customer % cannot move from % to %', old.id, old.billing_status, new.billing_status
      using errcode = 'check_violation';
  end if;
  -- access always follows billing: nobody sets it by hand
  select b.access_status into new.access_status from ops.billing_statuses b where b.status = new.billing_status;
  -- every change the CRM mirrors or holds for (a row in review is no contact) gets a new version
  if tg_op = 'UPDATE' and (new.billing_status is distinct from old.billing_status
                           or new.email is distinct from old.email
                           or new.user_id is distinct from old.user_id
                           or new.needs_review is distinct from old.needs_review) then
    new.version := old.version + 1;
  end if;
  return new;
end
$$;


--
-- Name: enforce_order_transition(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enforce_order_transition() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'INSERT' then
    -- auth.role() is the API caller's role; current_user is this function's owner
    if coalesce((select auth.role()), '') in ('anon', 'authenticated') and new.status <> 'pending_payment' then
      raise exception 'orders are created as pending_payment' using errcode = 'check_violation';
    end if;
  elsif new.status is distinct from old.status and not exists (
    select 1 from ops.order_status_transitions t where t.from_status = old.status and t.to_status = new.status
  ) then
    raise exception 'order % cannot move from % to %', old.id, old.status, new.status using errcode = 'check_violation';
  end if;
  -- a confirmed payment always follows the status: nobody sets it by hand
  select s.payment_confirmed into new.payment_confirmed from ops.order_statuses s where s.status = new.status;
  -- every change the CRM mirrors gets a new version, and so exactly one sync job
  if tg_op = 'UPDATE' and (new.status is distinct from old.status
                           or new.amount_refunded is distinct from old.amount_refunded
                           or new.needs_review is distinct from old.needs_review
                           or new.amount_charged is distinct from old.amount_charged) then
    new.version := old.version + 1;
  end if;
  if new.payment_confirmed and new.paid_at is null then
    new.paid_at := now();
  end if;
  return new;
end
$$;


--
-- Name: enqueue_crm_sync(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_crm_sync() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  kind text := tg_argv[0];
  entity text := tg_argv[1];
begin
  perform ops.enqueue_job(kind, jsonb_build_object(entity || '_id', new.id),
    format('%s:%s:v%s', kind, new.id, new.version),
    p_correlation_id => to_jsonb(new) ->> tg_argv[2],
    p_queue_key => entity || ':' || new.id);
  return null;
end
$$;


--
-- Name: dunning_cases; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.dunning_cases (
    stripe_invoice_id text NOT NULL,
    stripe_customer_id text NOT NULL,
    stripe_subscription_id text,
    failed_at timestamp with time zone NOT NULL,
    failed_event_id text NOT NULL,
    last_failed_at timestamp with time zone NOT NULL,
    attempt_count integer,
    amount_due bigint,
    currency text,
    invoice_number text,
    hosted_invoice_url text,
    description text,
    policy text NOT NULL,
    reminders_sent integer DEFAULT 0 NOT NULL,
    grace_ended_at timestamp with time zone,
    recovered_at timestamp with time zone,
    recovered_event_id text,
    recovered_applied_at timestamp with time zone,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT dunning_cases_policy_check CHECK ((policy = ANY (ARRAY['email'::text, 'ticket'::text, 'both'::text])))
);


--
-- Name: TABLE dunning_cases; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.dunning_cases IS 'Failed subscription renewals, one per Stripe invoice: open until the invoice is paid (recovered_at). The customer row is found through ops.stripe_customers at use time, so a link moved by an admin carries its cases.';


--
-- Name: enqueue_dunning_email(ops.dunning_cases, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_dunning_email(p_case ops.dunning_cases, p_template text, p_entity text, p_extra jsonb DEFAULT '{}'::jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c public.customers;
  v_to text;
begin
  if p_case.policy not in ('email', 'both') then
    return false;
  end if;
  select x.* into c from public.customers x join ops.stripe_customers m on m.customer_id = x.id
   where m.stripe_customer_id = p_case.stripe_customer_id;
  v_to := ops.notify_recipient_email('user:' || c.user_id);
  if c.user_id is null or v_to is null then
    return false;
  end if;
  perform ops.enqueue_notification('email', p_template, p_entity, 'user:' || c.user_id,
    jsonb_build_object('invoice_id', p_case.stripe_invoice_id, 'to', v_to, 'data', jsonb_strip_nulls(
      jsonb_build_object(
        'customer_name', coalesce(c.name, (select p.display_name from public.profiles p where p.id = c.user_id)),
        'amount', coalesce(p_case.amount_due, 0), 'currency', coalesce(p_case.currency, 'usd'),
        'invoice_number', p_case.invoice_number, 'description', p_case.description,
        'hosted_invoice_url', case when p_case.hosted_invoice_url ~ '^https://' then p_case.hosted_invoice_url end,
        'grace_ends_at', p_case.failed_at + make_interval(days => (ops.current_settings()).dunning_grace_days))
      || p_extra)));
  return true;
end
$$;


--
-- Name: enqueue_job(text, jsonb, text, interval, integer, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_job(p_kind text, p_payload jsonb, p_dedupe_key text, p_delay interval DEFAULT '00:00:00'::interval, p_priority integer DEFAULT 0, p_correlation_id text DEFAULT NULL::text, p_queue_key text DEFAULT NULL::text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  job_id bigint;
begin
  insert into ops.jobs (kind, payload, dedupe_key, run_at, priority, max_attempts, correlation_id, stripe_event_id,
                        queue_key)
  select p_kind, coalesce(p_payload, '{}'::jsonb), p_dedupe_key, now() + coalesce(p_delay, interval '0'),
         greatest(coalesce(p_priority, 0), ops.job_priority(p_kind, p_payload)),
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


--
-- Name: enqueue_notification(text, text, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_notification(p_channel text, p_template text, p_entity text, p_recipient text, p_payload jsonb DEFAULT '{}'::jsonb) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select ops.enqueue_job('notify.' || p_channel,
    coalesce(p_payload, '{}'::jsonb)
      || jsonb_build_object('template', p_template, 'entity', p_entity, 'recipient', p_recipient),
    format('notify:%s:%s:%s', p_template, p_entity, p_recipient),
    p_correlation_id => nullif(current_setting('ops.stripe_event_id', true), ''))
$$;


--
-- Name: enqueue_reconcile(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_reconcile(p_requested_by text DEFAULT 'pg_cron'::text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  job_id bigint;
begin
  perform pg_advisory_xact_lock(hashtextextended('ops.enqueue_reconcile', 0));
  select jb.id into job_id from ops.jobs jb
   where jb.kind = 'reconcile' and jb.status in ('queued', 'running', 'failed') order by jb.id limit 1;
  if job_id is not null then
    if coalesce(p_requested_by, 'pg_cron') <> 'pg_cron' then
      update ops.jobs set run_at = now() where id = job_id and status in ('queued', 'failed') and run_at > now();
      if found then
        perform ops.dispatch_job(job_id);
      end if;
    end if;
    return job_id;
  end if;
  return ops.enqueue_job('reconcile', jsonb_build_object('requested_by', coalesce(p_requested_by, 'pg_cron')),
                         'reconcile:' || gen_random_uuid(), p_queue_key => 'reconcile');
end
$$;


--
-- Name: FUNCTION enqueue_reconcile(p_requested_by text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.enqueue_reconcile(p_requested_by text) IS 'Asks for a reconciliation run against Stripe (one waits or runs at a time); returns its job id. Usage: select ops.enqueue_reconcile(''me'');';


--
-- Name: enqueue_seller_email(uuid, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.enqueue_seller_email(p_seller_id uuid, p_template text, p_entity text, p_data jsonb) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_to text := ops.notify_recipient_email('user:' || p_seller_id);
begin
  if v_to is null then
    return false;
  end if;
  perform ops.enqueue_notification('email', p_template, p_entity, 'user:' || p_seller_id,
    jsonb_build_object('to', v_to, 'data', jsonb_strip_nulls(p_data || jsonb_build_object(
      'seller_name', (select p.display_name from public.profiles p where p.id = p_seller_id)))));
  return true;
end
$$;


--
-- Name: erase_emails_in_jsonb(jsonb, text[]); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.erase_emails_in_jsonb(p jsonb, p_emails text[]) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select ops.erase_emails_in_text(p::text, p_emails)::jsonb
$$;


--
-- Name: erase_emails_in_text(text, text[]); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.erase_emails_in_text(p_text text, p_emails text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
declare
  e text;
  r text := p_text;
begin
  if r is null then
    return null;
  end if;
  foreach e in array coalesce(p_emails, '{}'::text[]) loop
    r := regexp_replace(r, regexp_replace(e, '([^A-Za-z0-9@])', '\\\1', 'g'), '[erased]', 'gi');
  end loop;
  return r;
end
$$;


--
-- Name: erase_person(text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.erase_person(p_who text, p_reason text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  who text := lower(btrim(p_who));
  who_id uuid := ops.as_uuid(btrim(p_who));
  v_reason text;
  erasure uuid := gen_random_uuid();
  base_emails text[] := '{}'::text[];
  emails text[];
  patterns text[];
  users uuid[] := '{}'::uuid[];
  customers uuid[];
  stripe_ids text[];
  orders uuid[];
  tickets uuid[];
  refs text[];
  objects text[];
  entities text[];
  entity_keys text[];
  jobs bigint[];
  v_crm_contacts jsonb;
  crm_emails text[];
  crm_queue text;
  crm_job bigint;
  auth_user text := 'none';
  counts jsonb := '{}'::jsonb;
  n bigint;
  total bigint := 0;
  v_subject text;
  audit_id bigint;
  failure text;
begin
  v_reason := ops.require_reason(p_reason);
  if who is null or who = '' or (strpos(who, '@') = 0 and who_id is null) then
    raise exception 'erase whom? give an email address or a user id' using errcode = 'invalid_parameter_value';
  end if;
  -- one erasure at a time: two of one person would both find them and both write an audit row
  perform pg_advisory_xact_lock(hashtext('ops.erase_person'));

  -- who: the address asked about and the app user's, then every row they name (an address typed at Checkout
  -- that is not the user's is scrubbed where it appears, but does not widen the search to other people)
  if strpos(who, '@') > 0 then
    base_emails := array[who];
    users := array(select u.id from auth.users u where lower(btrim(u.email)) = who);
  else
    users := array(select u.id from auth.users u where u.id = who_id
                   union select c.user_id from public.customers c where c.id = who_id and c.user_id is not null);
  end if;
  base_emails := array(select distinct x from unnest(base_emails || array(
                         select lower(btrim(u.email)) from auth.users u where u.id = any (users))) x
                        where x is not null and x <> '');
  customers := array(select c.id from public.customers c
                      where c.user_id = any (users) or c.id = who_id or lower(btrim(c.email)) = any (base_emails)
                     union select m.customer_id from ops.stripe_customers m
                      where lower(btrim(m.email)) = any (base_emails));
  stripe_ids := array(select m.stripe_customer_id from ops.stripe_customers m where m.customer_id = any (customers));
  emails := array(select distinct x from unnest(base_emails
                    || array(select lower(btrim(c.email)) from public.customers c where c.id = any (customers))
                    || array(select lower(btrim(m.email)) from ops.stripe_customers m
                              where m.stripe_customer_id = any (stripe_ids))
                    || array(select cc.email from ops.crm_contacts cc where cc.customer_id = any (customers))) x
                   where x is not null and x <> '');
  -- LIKE patterns of the addresses (an address's _ and % are literal)
  patterns := array(select '%' || replace(replace(replace(e, '\', '\\'), '%', '\%'), '_', '\_') || '%'
                      from unnest(emails) e);
  orders := array(select o.id from public.orders o
                   where o.buyer_id = any (users) or o.stripe_customer_id = any (stripe_ids));
  tickets := array(select t.id from public.support_tickets t
                    where t.requester_id = any (users) or t.customer_id = any (customers) or t.order_id = any (orders));
  refs := array(select 'ticket:' || t.ref from public.support_tickets t where t.id = any (tickets));
  objects := array(
    select o.stripe_checkout_session_id from public.orders o
     where o.id = any (orders) and o.stripe_checkout_session_id is not null
    union select s.stripe_checkout_session_id from ops.checkout_sessions s where s.order_id = any (orders)
    union select o.stripe_payment_intent_id from public.orders o
            where o.id = any (orders) and o.stripe_payment_intent_id is not null
    union select p.stripe_payment_intent_id from ops.payment_intents p where p.order_id = any (orders)
    union select p.latest_charge_id from ops.payment_intents p
            where (p.order_id = any (orders) or p.stripe_customer_id = any (stripe_ids))
              and p.latest_charge_id is not null
    union select r.stripe_refund_id from ops.refunds r join ops.payment_intents p
            on p.stripe_payment_intent_id = r.stripe_payment_intent_id where p.order_id = any (orders)
    union select d.stripe_dispute_id from ops.disputes d join public.orders o
            on o.stripe_payment_intent_id = d.stripe_payment_intent_id where o.id = any (orders)
    union select i.stripe_invoice_id from ops.invoices i where i.stripe_customer_id = any (stripe_ids)
    union select s.stripe_subscription_id from public.subscriptions s
            where s.customer_id = any (customers) or s.stripe_customer_id = any (stripe_ids)
    union select x from unnest(stripe_ids) x);
  entities := array(select 'order:' || x from unnest(orders) x
                    union all select 'customer:' || x from unnest(customers) x
                    union all select 'ticket:' || x from unnest(tickets) x
                    union all select 'user:' || x from unnest(users) x
                    union all select 'dispute:' || d.stripe_dispute_id from ops.disputes d
                               where d.stripe_dispute_id = any (objects));
  -- notification dedupe keys name their entity and recipient: notify:<template>:<entity>:<recipient>
  entity_keys := array(select '%:' || x || '%' from unnest(entities) x);
  jobs := array(select j.id from ops.jobs j
                 where j.status <> 'running' and j.kind <> 'crm.gdpr_delete'
                   and (j.payload ->> 'customer_id' = any (customers::text[])
                        or j.payload ->> 'order_id' = any (orders::text[])
                        or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
                        or j.payload ->> 'dispute_id' = any (objects) or j.payload::text ilike any (patterns)
                        or j.result::text ilike any (patterns) or j.last_error ilike any (patterns)));

  -- the CRM: a customer row with an address is (or may have become) a contact keyed by it; remembered ids
  -- are deleted by id, the addresses looked up (a contact made by an answer we never saw, or merged since)
  select jsonb_agg(distinct jsonb_build_object('adapter', cc.adapter, 'contact_id', cc.crm_contact_id)),
         min('customer:' || cc.customer_id::text)
    into v_crm_contacts, crm_queue
    from ops.crm_contacts cc where cc.customer_id = any (customers);
  crm_emails := array(select distinct lower(btrim(c.email)) from public.customers c
                       where c.id = any (customers) and c.email is not null
                         and (c.user_id is not null or c.review_reason is null)
                      union select cc.email from ops.crm_contacts cc where cc.customer_id = any (customers));
  crm_queue := coalesce(crm_queue, (select min('customer:' || c.id::text) from public.customers c
                                     where c.id = any (customers) and c.email is not null));
  delete from ops.crm_contacts cc where cc.customer_id = any (customers);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.crm_contacts', n);
  total := total + n;

  -- their pending emails and contact syncs will never be needed: completed as skipped
  update ops.jobs j
     set status = 'succeeded', succeeded_at = now(), locked_by = null, locked_until = null, last_error = null,
         result = jsonb_build_object('skipped', 'the person was erased')
   where j.id = any (jobs) and j.status in ('queued', 'failed', 'dead')
     and (j.kind = 'crm.contact' or (j.kind = 'notify.email' and (j.payload ->> 'recipient' = any (entities)
                                                                  or lower(j.payload ->> 'to') = any (emails))));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.jobs skipped', n);
  total := total + n;
  update ops.jobs j
     set payload = ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.payload), emails),
         result = ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.result), emails),
         last_error = ops.erase_emails_in_text(j.last_error, emails),
         payload_cleared_at = coalesce(j.payload_cleared_at, now())
   where j.id = any (jobs)
     and (j.payload is distinct from ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.payload), emails)
          or j.result is distinct from ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.result), emails)
          or j.last_error is distinct from ops.erase_emails_in_text(j.last_error, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.jobs', n);
  total := total + n;
  update ops.job_attempts a set error = ops.erase_emails_in_text(a.error, emails)
   where a.error ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.job_attempts', n);
  total := total + n;

  -- the ledger: their objects' events, and any event naming an address (a Checkout session without an order)
  update ops.stripe_events e
     set payload = ops.stripe_payload_skeleton(e.payload),
         payload_cleared_at = coalesce(e.payload_cleared_at, now()),
         last_error = ops.erase_emails_in_text(e.last_error, emails),
         ignored_reason = ops.erase_emails_in_text(e.ignored_reason, emails)
   where (e.object_id = any (objects) or e.payload #>> '{data,object,customer}' = any (stripe_ids)
          or e.payload #>> '{data,object,payment_intent}' = any (objects)
          or e.payload #>> '{data,object,charge}' = any (objects) or e.payload::text ilike any (patterns)
          or e.last_error ilike any (patterns))
     and (e.payload is distinct from ops.stripe_payload_skeleton(e.payload)
          or e.last_error is distinct from ops.erase_emails_in_text(e.last_error, emails)
          or e.ignored_reason is distinct from ops.erase_emails_in_text(e.ignored_reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.stripe_events', n);
  total := total + n;

  -- who they are: names and addresses go, statuses and links stay
  update public.customers c
     set email = null, name = null, review_reason = ops.erase_emails_in_text(c.review_reason, emails)
   where c.id = any (customers)
     and (c.email is not null or c.name is not null
          or c.review_reason is distinct from ops.erase_emails_in_text(c.review_reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.customers', n);
  total := total + n;
  update ops.stripe_customers m
     set email = null, name = null, linked_note = ops.erase_emails_in_text(m.linked_note, emails),
         reviewed_note = ops.erase_emails_in_text(m.reviewed_note, emails)
   where m.stripe_customer_id = any (stripe_ids)
     and (m.email is not null or m.name is not null
          or m.linked_note is distinct from ops.erase_emails_in_text(m.linked_note, emails)
          or m.reviewed_note is distinct from ops.erase_emails_in_text(m.reviewed_note, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.stripe_customers', n);
  total := total + n;
  update public.profiles p set display_name = null where p.id = any (users) and p.display_name is not null;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.profiles', n);
  total := total + n;

  -- tickets: what they wrote, and what anyone wrote on their tickets; system notes name ids only
  update public.support_tickets t
     set subject = case when t.source = 'app' then '[erased]' else ops.erase_emails_in_text(t.subject, emails) end,
         context = ops.erase_emails_in_jsonb(ops.erase_personal_fields(t.context), emails), client_context = '{}'
   where t.id = any (tickets)
     and (t.subject is distinct from case when t.source = 'app' then '[erased]'
                                          else ops.erase_emails_in_text(t.subject, emails) end
          or t.context is distinct from ops.erase_emails_in_jsonb(ops.erase_personal_fields(t.context), emails)
          or t.client_context <> '{}');
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.support_tickets', n);
  total := total + n;
  update public.ticket_messages m
     set body = case when m.author_kind = 'system' then ops.erase_emails_in_text(m.body, emails) else '[erased]' end
   where (m.ticket_id = any (tickets) or m.author_id = any (users) or m.body ilike any (patterns))
     and m.body is distinct from case when m.author_kind = 'system' then ops.erase_emails_in_text(m.body, emails)
                                      else '[erased]' end;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.ticket_messages', n);
  total := total + n;

  -- notifications: the send log keeps template, entity and status; captures keep their id and tags
  update ops.notifications x set recipient = 'erased', detail = ops.erase_emails_in_text(x.detail, emails)
   where (lower(x.recipient) = any (emails) or x.recipient = any (entities) or x.detail ilike any (patterns))
     and (x.recipient <> 'erased' or x.detail is distinct from ops.erase_emails_in_text(x.detail, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.notifications', n);
  total := total + n;
  update ops.notification_captures x
     set body = jsonb_build_object('id', x.body -> 'id', 'tags', x.body -> 'tags'),
         cleared_at = coalesce(x.cleared_at, now())
   where (x.key like any (entity_keys) or x.body::text ilike any (patterns))
     and x.body is distinct from jsonb_build_object('id', x.body -> 'id', 'tags', x.body -> 'tags');
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.notification_captures', n);
  total := total + n;
  delete from ops.email_suppressions s where s.email = any (emails);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.email_suppressions', n);
  total := total + n;
  update ops.crm_capture x
     set body = ops.erase_emails_in_jsonb(ops.crm_capture_skeleton(x.body), emails),
         key = case when x.operation in ('deal', 'note') then ops.erase_emails_in_text(x.key, emails) end,
         cleared_at = coalesce(x.cleared_at, now())
   where (lower(x.key) = any (emails) or x.body::text ilike any (patterns))
     and (x.body is distinct from ops.erase_emails_in_jsonb(ops.crm_capture_skeleton(x.body), emails)
          or x.key is distinct from case when x.operation in ('deal', 'note')
                                         then ops.erase_emails_in_text(x.key, emails) end);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.crm_capture', n);
  total := total + n;

  -- the audit log: entries about them lose names and free text; an admin's own address goes from theirs
  update ops.audit_log a
     set before = ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                 then ops.erase_personal_fields(a.before) else a.before end, emails),
         after = ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                then ops.erase_personal_fields(a.after) else a.after end, emails),
         actor_email = case when lower(a.actor_email) = any (emails) then null else a.actor_email end,
         reason = ops.erase_emails_in_text(a.reason, emails)
   where (a.target = any (entities || refs) or lower(a.actor_email) = any (emails) or a.reason ilike any (patterns)
          or a.before::text ilike any (patterns) or a.after::text ilike any (patterns))
     and (a.before is distinct from ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                                   then ops.erase_personal_fields(a.before)
                                                                   else a.before end, emails)
          or a.after is distinct from ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                                     then ops.erase_personal_fields(a.after)
                                                                     else a.after end, emails)
          or lower(a.actor_email) = any (emails)
          or a.reason is distinct from ops.erase_emails_in_text(a.reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.audit_log', n);
  total := total + n;

  -- free text that may quote an address: override reasons (and the admin's own address), review notes, role
  -- grant notes, findings, incidents
  update ops.access_overrides o
     set reason = ops.erase_emails_in_text(o.reason, emails),
         created_by_email = case when lower(o.created_by_email) = any (emails) then null else o.created_by_email end
   where (o.customer_id = any (customers) or lower(o.created_by_email) = any (emails) or o.reason ilike any (patterns))
     and (o.reason is distinct from ops.erase_emails_in_text(o.reason, emails)
          or lower(o.created_by_email) = any (emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.access_overrides', n);
  total := total + n;
  update ops.order_reviews r
     set note = ops.erase_emails_in_text(r.note, emails), reason = ops.erase_emails_in_text(r.reason, emails),
         decided_by = ops.erase_emails_in_text(r.decided_by, emails)
   where (r.note ilike any (patterns) or r.reason ilike any (patterns) or r.decided_by ilike any (patterns));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.order_reviews', n);
  total := total + n;
  update ops.role_grants g set note = ops.erase_emails_in_text(g.note, emails) where g.note ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.role_grants', n);
  total := total + n;
  update ops.reconciliation_findings f set detail = ops.erase_emails_in_jsonb(f.detail, emails)
   where f.detail::text ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.reconciliation_findings', n);
  total := total + n;
  update ops.alert_incidents i
     set summary = ops.erase_emails_in_text(i.summary, emails), detail = ops.erase_emails_in_jsonb(i.detail, emails)
   where i.summary ilike any (patterns) or i.detail::text ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.alert_incidents', n);
  total := total + n;
  delete from ops.support_vips v where v.user_id = any (users);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.support_vips', n);
  total := total + n;

  -- the app user: orders, tickets and messages keep their rows (buyer, requester and author become null), the
  -- profile goes (and a seller's listings with it). Where another role owns auth (hosted), a refusal is reported:
  -- the founder deletes the user with the Auth admin API.
  if cardinality(users) > 0 then
    begin
      delete from auth.users u where u.id = any (users);
      get diagnostics n = row_count;
      auth_user := 'deleted';
      counts := counts || jsonb_build_object('auth.users', n);
      total := total + n;
    exception when insufficient_privilege then
      get stacked diagnostics failure = message_text;
      auth_user := 'left: delete the user with the Auth admin API (' || failure || ')';
    end;
  end if;

  -- GDPR delete in the CRM, after every scrub (its own payload holds the addresses until it succeeded)
  if v_crm_contacts is not null or cardinality(crm_emails) > 0 then
    crm_job := ops.enqueue_job('crm.gdpr_delete',
      jsonb_build_object('erasure_id', erasure, 'contacts', coalesce(v_crm_contacts, '[]'::jsonb),
                         'emails', to_jsonb(crm_emails)),
      'crm.gdpr_delete:' || erasure, p_queue_key => crm_queue);
  end if;

  counts := (select coalesce(jsonb_object_agg(k, v), '{}'::jsonb) from jsonb_each(counts) x(k, v) where v <> '0');
  if total = 0 and crm_job is null then
    return jsonb_build_object('status', 'nothing_to_erase', 'auth_user', auth_user);
  end if;
  v_subject := coalesce('user:' || users[1], 'customer:' || customers[1], 'erasure:' || erasure);
  audit_id := ops.write_audit('person.erase', v_subject, null,
    jsonb_build_object('erasure_id', erasure, 'counts', counts, 'crm_job_id', crm_job, 'auth_user', auth_user,
                       'users', cardinality(users), 'customers', cardinality(customers), 'orders', cardinality(orders),
                       'tickets', cardinality(tickets)),
    ops.erase_emails_in_text(v_reason, emails));
  return jsonb_build_object('status', 'erased', 'erasure_id', erasure, 'audit_id', audit_id, 'subject', v_subject,
                            'counts', counts, 'crm_job_id', crm_job, 'auth_user', auth_user);
end
$$;


--
-- Name: FUNCTION erase_person(p_who text, p_reason text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.erase_person(p_who text, p_reason text) IS 'Erases one person on request: select ops.erase_person(''jane@example.com'' or ''<user id>'', ''why''). Idempotent; see docs/architecture.md "Erasure on request".';


--
-- Name: erase_personal_fields(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.erase_personal_fields(p jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
declare
  personal constant text[] := array['email', 'name', 'display_name', 'customer_name', 'requester_email',
    'created_by_email', 'actor_email', 'phone', 'address', 'shipping', 'customer_details', 'billing_details',
    'to', 'subject', 'message', 'body', 'text', 'html', 'description', 'reviewed_note', 'linked_note'];
  r jsonb;
begin
  if jsonb_typeof(p) = 'object' then
    select coalesce(jsonb_object_agg(f.key, case when f.key = any (personal) then 'null'::jsonb
                                               else ops.erase_personal_fields(f.value) end), '{}'::jsonb)
      into r from jsonb_each(p) f;
    return r;
  elsif jsonb_typeof(p) = 'array' then
    select coalesce(jsonb_agg(ops.erase_personal_fields(x.v) order by x.n), '[]'::jsonb)
      into r from jsonb_array_elements(p) with ordinality x(v, n);
    return r;
  end if;
  return p;
end
$$;


--
-- Name: evaluate_alerts(timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.evaluate_alerts(p_now timestamp with time zone DEFAULT now()) RETURNS TABLE(rule text, firing boolean, action text, incident_id bigint, summary text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  r ops.alert_rules;
  o record;
  inc ops.alert_incidents;
  since timestamptz;
  failure text;
begin
  -- one evaluation at a time (pg_cron's and a manual one): the second waits and sees the first's incidents
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ops.evaluate_alerts', 0));
  for r in select * from ops.alert_rules ar where ar.enabled order by cardinality(ar.inhibited_by), ar.rule loop
    select * into inc from ops.alert_incidents i where i.rule = r.rule and i.status = 'open' for update;
    select greatest(p_now - r.window_interval, max(i.resolved_at)) into since
      from ops.alert_incidents i where i.rule = r.rule and i.resolved_at <= p_now;
    since := coalesce(since, p_now - r.window_interval);
    failure := null;
    begin
      select * into o from ops.check_alert_rule(r, p_now, since);
    exception when others then
      -- a rule's own bug (or a check_fn dropped since) must not silence every other rule
      get stacked diagnostics failure = message_text;
      raise warning 'alert rule %: its check % failed: %', r.rule, r.check_fn, failure;
      select false as firing, null::numeric as value, left('check failed: ' || failure, 500) as summary,
             jsonb_build_object('check_failed', failure) as detail, null::boolean as recovered
        into o;
    end;
    insert into ops.alert_rule_state as st (rule, evaluated_at, firing, value, summary, detail)
    values (r.rule, p_now, o.firing, o.value, o.summary, o.detail)
    on conflict on constraint alert_rule_state_pkey do update
      set evaluated_at = excluded.evaluated_at, firing = excluded.firing, value = excluded.value,
          summary = excluded.summary, detail = excluded.detail;
    evaluate_alerts.rule := r.rule;
    evaluate_alerts.firing := o.firing;
    evaluate_alerts.summary := o.summary;
    evaluate_alerts.incident_id := inc.id;
    if failure is not null then
      action := 'error';
    elsif inc.id is null then
      if not o.firing then
        action := 'clear';
      elsif exists (select 1 from ops.alert_incidents i join ops.alert_rules ir on ir.rule = i.rule
                     where i.rule = any (r.inhibited_by) and i.status = 'open'
                       and array_position(array['info', 'warning', 'critical'], ir.severity)
                           >= array_position(array['info', 'warning', 'critical'], r.severity)) then
        action := 'inhibited';
      else
        insert into ops.alert_incidents (rule, summary, detail, opened_at, last_seen_at)
        values (r.rule, o.summary, o.detail, p_now, p_now)
        returning id into evaluate_alerts.incident_id;
        action := 'opened';
      end if;
    elsif o.firing and not coalesce(o.recovered, false) then
      update ops.alert_incidents i set last_seen_at = p_now, summary = o.summary, detail = o.detail, clear_since = null
       where i.id = inc.id;
      action := 'seen';
    elsif coalesce(o.recovered, false) or p_now - coalesce(inc.clear_since, p_now) >= r.clear_after then
      update ops.alert_incidents i
         set status = 'resolved', resolved_at = p_now, clear_since = coalesce(i.clear_since, p_now)
       where i.id = inc.id;
      action := 'resolved';
    else
      update ops.alert_incidents i set clear_since = coalesce(i.clear_since, p_now) where i.id = inc.id;
      action := 'clearing';
    end if;
    return next;
  end loop;
end
$$;


--
-- Name: FUNCTION evaluate_alerts(p_now timestamp with time zone); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.evaluate_alerts(p_now timestamp with time zone) IS 'Evaluates every enabled alert rule at p_now (default now()) by its check_fn: opens an incident once, sees it again while open, resolves it once clear; a rule whose check fails is reported (action error) and the others still run. pg_cron runs it every minute.';


--
-- Name: expire_access_overrides(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.expire_access_overrides() RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_customer uuid;
  v_override ops.access_overrides;
  v_before jsonb;
  n integer := 0;
begin
  for v_customer in
    select o.customer_id from ops.access_overrides o where o.ended_at is null and o.expires_at <= now()
      order by o.expires_at
  loop
    perform 1 from public.customers c where c.id = v_customer for update;
    select * into v_override from ops.access_overrides o
     where o.customer_id = v_customer and o.ended_at is null and o.expires_at <= now() for update;
    continue when not found;
    v_before := jsonb_build_object('customer', (select to_jsonb(c) from public.customers c where c.id = v_customer),
                                   'override', to_jsonb(v_override));
    update ops.access_overrides set ended_at = now(), ended_reason = 'expired' where id = v_override.id;
    update public.customers set access_status = access_status where id = v_customer;
    insert into ops.audit_log (actor_id, actor_email, action, target, before, after, reason)
    values (null, null, 'access.override_expired', 'customer:' || v_customer,
            v_before, ops.customer_access_state(v_customer),
            format('the %s override expired at %s; access follows billing again',
                   case when v_override.access_status = 'granted' then 'grant' else 'revoke' end,
                   v_override.expires_at));
    n := n + 1;
  end loop;
  return n;
end
$$;


--
-- Name: fail_job(bigint, text, text, boolean, integer, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean DEFAULT true, p_retry_after_ms integer DEFAULT NULL::integer, p_hand_on boolean DEFAULT true) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: finish_crm_job(bigint, text, text, jsonb, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- raises 55P03 when the job is not held: nothing is recorded, and the worker's failure finds no lease
  perform ops.record_crm_sync(p_job_id, p_worker, p_adapter, p_mapping);
  return exists (select 1 from ops.finish_jobs(p_worker, jsonb_build_array(
    jsonb_build_object('id', p_job_id, 'outcome', 'succeeded', 'result', p_result))));
end
$$;


--
-- Name: FUNCTION finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb) IS 'crm-sync: stores a job''s CRM mappings (ops.record_crm_sync) and completes it, in one transaction.';


--
-- Name: finish_jobs(text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.finish_jobs(p_worker text, p_outcomes jsonb) RETURNS TABLE(job_id bigint, status text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: FUNCTION finish_jobs(p_worker text, p_outcomes jsonb); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.finish_jobs(p_worker text, p_outcomes jsonb) IS 'A worker''s outcomes for jobs it holds, in one statement: succeeded, failed (backoff or dead) or deferred.';


--
-- Name: flag_customer_review(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.flag_customer_review(p_customer_id uuid, p_reason text) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update public.customers set needs_review = true, review_reason = left(p_reason, 1000)
   where id = p_customer_id and not needs_review
$$;


--
-- Name: function_shape(regprocedure); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.function_shape(p_fn regprocedure) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select format('(%s) returns %s%s', pg_catalog.oidvectortypes(p.proargtypes),
                case when p.proretset then 'setof ' end,
                coalesce((select string_agg(a.name || ' ' || pg_catalog.format_type(a.type, null), ', ' order by a.i)
                            from unnest(p.proallargtypes, p.proargnames, p.proargmodes)
                                 with ordinality as a(type, name, mode, i)
                           where a.mode in ('o', 'b', 't')),
                         pg_catalog.format_type(p.prorettype, null)))
    from pg_catalog.pg_proc p
   where p.oid = p_fn
$$;


--
-- Name: health_snapshot(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.health_snapshot() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'oldest_due_job_age_s', coalesce(floor(extract(epoch from now() - (
        select min(j.run_at) from ops.jobs j
         where j.status in ('queued', 'failed') and j.run_at <= now()))), 0)::bigint,
    'dead_jobs', (select count(*) from ops.jobs j where j.status = 'dead'),
    'open_critical_incidents', (select count(*) from ops.alert_incidents i join ops.alert_rules r on r.rule = i.rule
                                 where i.status = 'open' and r.severity = 'critical'),
    'stripe_livemode', s.stripe_livemode,
    -- while live: since the last live event, or since going live when none came yet
    'last_stripe_event_age_s', case when s.stripe_livemode then floor(extract(epoch from now() - coalesce(
        (select max(e.received_at) from ops.stripe_events e where e.livemode), s.stripe_live_since, now())))::bigint
      end,
    'cron_jobs_active', (select count(*) from cron.job c where c.active),
    'evaluator_active', exists (select 1 from cron.job c where c.jobname = 'ops-evaluate-alerts' and c.active),
    -- the evaluator writes every rule's state on each run: its age is pg_cron's pulse (a server that started since
    -- counts from its start: pg_cron has had no minute yet)
    'last_evaluation_age_s', floor(extract(epoch from now() - coalesce(
        (select max(st.evaluated_at) from ops.alert_rule_state st), pg_catalog.pg_postmaster_start_time())))::bigint
  )
  from ops.settings s
$$;


--
-- Name: FUNCTION health_snapshot(); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.health_snapshot() IS 'The health function''s one door: the oldest due job''s age, dead jobs, open critical incidents, the last live Stripe event''s age (live mode only) and pg_cron''s pulse; aggregates only.';


--
-- Name: held_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.held_job(p_job_id bigint, p_worker text) RETURNS ops.jobs
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select * from ops.jobs where id = p_job_id and status = 'running' and locked_by = p_worker for update
$$;


--
-- Name: ingest_stripe_event(jsonb, boolean, text, boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ingest_stripe_event(event jsonb, p_livemode boolean DEFAULT NULL::boolean, p_account_id text DEFAULT NULL::text, p_sanitized boolean DEFAULT false, p_source text DEFAULT 'webhook'::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_event_id text := event ->> 'id';
  cfg ops.settings := ops.current_settings();
  existing text;
  reason text;
  applied record;
begin
  if p_livemode is not null then
    perform ops.require_stripe_scope(cfg, p_livemode, p_account_id, 'the ' || p_source);
  end if;
  if jsonb_typeof(event) <> 'object' or v_event_id is null or event ->> 'type' is null
     or jsonb_typeof(event -> 'data' -> 'object') is distinct from 'object'
     or coalesce(event ->> 'created', '') !~ '^\d+$' then
    raise exception 'not a Stripe event: id, type, created and data.object are required'
      using errcode = 'invalid_parameter_value';
  end if;
  -- concurrent copies of one event take turns here; the second reads the first's row once it committed
  perform pg_advisory_xact_lock(hashtextextended('ops.stripe_events:' || v_event_id, 0));
  select s.status into existing from ops.stripe_events s where s.event_id = v_event_id;
  if found then
    -- a redelivery, or a concurrent copy that committed first: nothing changes
    return jsonb_build_object('event_id', v_event_id, 'status', existing, 'duplicate', true);
  end if;
  -- another mode's or account's event is recorded and answered, never applied (no facts, no jobs)
  reason := ops.stripe_event_scope_problem(event, cfg);
  if reason is null then
    select * into applied from ops.apply_stripe_event_guarded(event);
  else
    select 'ignored' as outcome, null::text as error into applied;
  end if;
  -- recorded with its outcome in one insert, in the apply's transaction (a row inserted as 'received'
  -- and then updated would write the payload twice); a plain insert: a copy that got here anyway fails
  insert into ops.stripe_events (event_id, type, api_version, livemode, object_id, event_created, payload,
                                 status, attempts, last_error, processed_at, ignored_reason, sanitized, source)
  values (v_event_id, event ->> 'type', event ->> 'api_version', coalesce(event -> 'livemode' = 'true'::jsonb, false),
          event -> 'data' -> 'object' ->> 'id', to_timestamp((event ->> 'created')::bigint), event,
          applied.outcome, 1, applied.error, case when applied.outcome <> 'failed' then now() end,
          reason, coalesce(p_sanitized, false), coalesce(p_source, 'webhook'));
  return jsonb_build_object('event_id', v_event_id, 'status', applied.outcome, 'duplicate', false)
         || case when reason is null then '{}'::jsonb else jsonb_build_object('reason', reason) end;
end
$_$;


--
-- Name: FUNCTION ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text) IS 'Records a Stripe event once (by id) and applies it when it belongs to the mode and account ops.settings names (else: ignored, with its reason); duplicates change nothing. Returns {event_id, status, duplicate[, reason]}.';


--
-- Name: ingest_stripe_events(text[], boolean[], boolean, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[] DEFAULT NULL::boolean[], p_livemode boolean DEFAULT NULL::boolean, p_account_id text DEFAULT NULL::text, p_source text DEFAULT 'webhook'::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  cfg ops.settings := ops.current_settings();
  n integer := coalesce(cardinality(p_bodies), 0);
  evs jsonb[] := array_fill(null::jsonb, array[n]);
  results jsonb[] := array_fill(null::jsonb, array[n]);
  ids text[] := '{}';
  lock_keys bigint[];
  lock_key bigint;
  seen jsonb;
  ev jsonb;
  v_id text;
  reason text;
  outcome text;
  err text;
  err_state text;
  err_message text;
  -- the rows recorded, one insert at the end (columns of ops.stripe_events)
  r_id text[] := '{}';
  r_ev jsonb[] := '{}';
  r_status text[] := '{}';
  r_error text[] := '{}';
  r_reason text[] := '{}';
  r_sanitized boolean[] := '{}';
begin
  if p_livemode is not null then
    perform ops.require_stripe_scope(cfg, p_livemode, p_account_id, 'the ' || coalesce(p_source, 'webhook'));
  end if;
  if n > 1000 then
    raise exception 'at most 1000 events per call (got %)', n using errcode = 'program_limit_exceeded';
  end if;
  -- parse and check each body on its own: one unstorable body is that event's answer only
  for i in 1..n loop
    begin
      ev := p_bodies[i]::jsonb;
      if jsonb_typeof(ev) <> 'object' or ev ->> 'id' is null or ev ->> 'type' is null
         or jsonb_typeof(ev -> 'data' -> 'object') is distinct from 'object'
         or coalesce(ev ->> 'created', '') !~ '^\d+$' or length(ev ->> 'id') > 255 or length(ev ->> 'type') > 255 then
        raise exception 'not a Stripe event' using errcode = 'invalid_parameter_value';
      end if;
      evs[i] := ev;
      ids := ids || (ev ->> 'id');
    exception when data_exception then
      get stacked diagnostics err_state = returned_sqlstate;
      results[i] := jsonb_build_object('invalid', err_state);
    end;
  end loop;
  -- concurrent copies of an event take turns on its lock (in one order for all batches: no deadlock);
  -- a copy waits for the batch holding it to commit or roll back, then reads its row or records its own
  lock_keys := array(select distinct hashtextextended('ops.stripe_events:' || x, 0) from unnest(ids) x order by 1);
  foreach lock_key in array lock_keys loop
    perform pg_advisory_xact_lock(lock_key);
  end loop;
  select coalesce(jsonb_object_agg(s.event_id, s.status), '{}') into seen
    from ops.stripe_events s where s.event_id = any (ids);
  for i in 1..n loop
    continue when evs[i] is null;
    ev := evs[i];
    v_id := ev ->> 'id';
    if seen ? v_id then
      -- a redelivery, a copy another batch committed first, or an earlier copy in this batch
      results[i] := jsonb_build_object('event_id', v_id, 'status', seen ->> v_id, 'duplicate', true);
      continue;
    end if;
    -- another mode's or account's event is recorded and answered, never applied (no facts, no jobs)
    reason := ops.stripe_event_scope_problem(ev, cfg);
    outcome := 'ignored';
    err := null;
    if reason is null then
      -- jobs enqueued while applying carry the event id (ops.enqueue_job reads it), for tracing
      perform set_config('ops.stripe_event_id', v_id, true);
      for attempt in 1..3 loop
        begin
          outcome := ops.apply_stripe_event(ev);
          exit;
        exception when others then
          get stacked diagnostics err_state = returned_sqlstate, err_message = message_text;
          if err_state like '40%' and attempt < 3 then
            perform pg_sleep(0.01 * attempt);
            continue;
          end if;
          -- a passing condition is no verdict on the event: not recorded, Stripe delivers it again
          if err_state like '40%' or err_state like '53%' or err_state = '55P03' then
            outcome := null;
            results[i] := jsonb_build_object('unavailable', err_state);
            exit;
          end if;
          outcome := 'failed';
          err := left(err_state || ': ' || err_message, 1000);
          exit;
        end;
      end loop;
      continue when outcome is null;
    end if;
    seen := seen || jsonb_build_object(v_id, outcome);
    r_id := r_id || v_id;
    r_ev := r_ev || ev;
    r_status := r_status || outcome;
    r_error := r_error || err;
    r_reason := r_reason || reason;
    r_sanitized := r_sanitized || coalesce(p_sanitized[i], false);
    results[i] := jsonb_build_object('event_id', v_id, 'status', outcome, 'duplicate', false)
                  || case when reason is null then '{}'::jsonb else jsonb_build_object('reason', reason) end;
  end loop;
  -- recorded with their outcomes in one insert, in the applies' transaction; a plain insert: a copy that
  -- got here anyway fails the batch (503 for all), and Stripe delivers again
  insert into ops.stripe_events (event_id, type, api_version, livemode, object_id, event_created, payload,
                                 status, attempts, last_error, processed_at, ignored_reason, sanitized, source)
  select r.id, r.ev ->> 'type', r.ev ->> 'api_version', coalesce(r.ev -> 'livemode' = 'true'::jsonb, false),
         r.ev -> 'data' -> 'object' ->> 'id', to_timestamp((r.ev ->> 'created')::bigint), r.ev,
         r.status, 1, r.error, case when r.status <> 'failed' then now() end, r.reason, r.sanitized,
         coalesce(p_source, 'webhook')
    from unnest(r_id, r_ev, r_status, r_error, r_reason, r_sanitized) as r (id, ev, status, error, reason, sanitized);
  return to_jsonb(results);
end
$_$;


--
-- Name: FUNCTION ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text) IS 'Group commit: records and applies several Stripe events (raw bodies) in one transaction, each in its own subtransaction, each once (by id). Returns one element per body: {event_id, status, duplicate[, reason]}, {invalid} or {unavailable}.';


--
-- Name: interval_words(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.interval_words(i interval) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case when i < interval '1 minute' then round(extract(epoch from i))::text || ' s'
              when i < interval '1 hour' then round(extract(epoch from i) / 60)::text || ' min'
              when i < interval '2 days'
                then rtrim(to_char(extract(epoch from i) / 3600, 'FM999990.##'), '.') || ' h'
              else rtrim(to_char(extract(epoch from i) / 86400, 'FM999990.#'), '.') || ' days' end
$$;


--
-- Name: job_payload_skeleton(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.job_payload_skeleton(p jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case when jsonb_typeof(p) = 'object' then (
    select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
      from jsonb_each(p) f
     where f.key not in ('data', 'to', 'email', 'emails', 'name')
       and not (jsonb_typeof(f.value) = 'string' and strpos(f.value #>> '{}', '@') > 0))
  else p end
$$;


--
-- Name: job_priority(text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.job_priority(p_kind text, p_payload jsonb) RETURNS integer
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(
    (select p.priority from ops.job_priorities p where p.kind = p_kind and p.template = p_payload ->> 'template'),
    (select p.priority from ops.job_priorities p where p.kind = p_kind and p.template = '%'),
    0)
$$;


--
-- Name: jobs_dispatch_on_insert(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.jobs_dispatch_on_insert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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


--
-- Name: jobs_forget_erased_emails(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.jobs_forget_erased_emails() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.payload := new.payload - 'emails';
  return new;
end
$$;


--
-- Name: journey(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.journey(p_query text) RETURNS TABLE(at timestamp with time zone, source text, entity text, what text, detail text, correlation_id text)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $_$
declare
  q text := trim(p_query);
  users uuid[] := '{}'::uuid[];
  orders uuid[] := '{}'::uuid[];
  tickets uuid[] := '{}'::uuid[];
  customers uuid[];
  objects text[];
  entities text[];
  refs text[];
  q_id uuid := ops.as_uuid(trim(p_query));
  -- a request id is ours to make (a uuid) or the caller's (x-request-id: 1-128 of A-Z a-z 0-9 . _ : -)
  q_request text := case when trim(p_query) ~ '^[A-Za-z0-9._:-]{1,128}$' then trim(p_query) end;
  by_request boolean := false;
begin
  if q is null or q = '' then
    raise exception 'trace what? an email, an order id, a Stripe event id (evt_...), a ticket id or ref (T-000123), '
                    'or a request id (x-request-id)'
      using errcode = 'invalid_parameter_value';
  end if;
  -- what the query names
  if q like '%@%' then
    users := array(select u.id from auth.users u where lower(u.email) = lower(q)
                   union select c.user_id from public.customers c where lower(c.email) = lower(q)
                     and c.user_id is not null);
    customers := array(select c.id from public.customers c where lower(c.email) = lower(q));
  elsif q like 'evt\_%' then
    select array_agg(o.id) into orders from public.orders o, ops.stripe_events e
     where e.event_id = q
       and (o.stripe_checkout_session_id = e.object_id or o.stripe_payment_intent_id in (
              e.object_id, e.payload #>> '{data,object,payment_intent}',
              (select p.stripe_payment_intent_id from ops.payment_intents p
               where p.latest_charge_id in (e.object_id, e.payload #>> '{data,object,charge}')))
            or o.stripe_customer_id = e.payload #>> '{data,object,customer}');
    customers := array(select m.customer_id from ops.stripe_customers m, ops.stripe_events e
                        where e.event_id = q
                          and m.stripe_customer_id in (e.object_id, e.payload #>> '{data,object,customer}'));
  elsif q ~* '^T-\d+$' then
    tickets := array(select t.id from public.support_tickets t where t.ref = upper(q));
  elsif q_id is not null then
    orders := array(select o.id from public.orders o where o.id = q_id);
    tickets := array(select t.id from public.support_tickets t where t.id = q_id);
    users := array(select u.id from auth.users u where u.id = q_id);
    customers := array(select c.id from public.customers c where c.id = q_id);
    -- the request ids we make are uuids too
    by_request := true;
  elsif q_request is not null then
    by_request := true;
  else
    raise exception 'cannot trace "%": give an email, an order id, a Stripe event id (evt_...), a ticket id or ref '
                    '(T-000123), or a request id', left(q, 80)
      using errcode = 'invalid_parameter_value';
  end if;
  orders := coalesce(orders, '{}');
  customers := coalesce(customers, '{}');
  if not by_request then
    q_request := null;
  else
    -- what the request wrote: a checkout request (its order, its buyer), jobs (their order, customer or entity)
    -- and dashboard changes (their target)
    orders := orders || array(select r.order_id from ops.checkout_requests r
                               where r.x_request_id = q_request and r.order_id is not null)
                     || array(select ops.as_uuid(j.payload ->> 'order_id') from ops.jobs j
                               where j.x_request_id = q_request and j.payload ? 'order_id')
                     || array(select ops.as_uuid(substr(a.target, 7)) from ops.audit_log a
                               where a.x_request_id = q_request and a.target like 'order:%');
    users := users || array(select r.user_id from ops.checkout_requests r where r.x_request_id = q_request);
    customers := customers || array(select ops.as_uuid(j.payload ->> 'customer_id') from ops.jobs j
                                     where j.x_request_id = q_request and j.payload ? 'customer_id')
                           || array(select ops.as_uuid(substr(a.target, 10)) from ops.audit_log a
                                     where a.x_request_id = q_request and a.target like 'customer:%');
    tickets := tickets || array(select ops.as_uuid(substr(j.payload ->> 'entity', 8)) from ops.jobs j
                                 where j.x_request_id = q_request and j.payload ->> 'entity' like 'ticket:%')
                       || array(select t.id from ops.audit_log a join public.support_tickets t
                                  on a.target = 'ticket:' || t.ref where a.x_request_id = q_request);
    orders := array(select x from unnest(orders) x where x is not null);
    customers := array(select x from unnest(customers) x where x is not null);
    tickets := array(select x from unnest(tickets) x where x is not null);
  end if;
  -- widen to the person: their user, customer rows, orders and tickets
  users := array(select distinct x from unnest(users || array(select o.buyer_id from public.orders o
                                                              where o.id = any (orders))
                                                      || array(select t.requester_id from public.support_tickets t
                                                               where t.id = any (tickets))
                                                      || array(select c.user_id from public.customers c
                                                               where c.id = any (customers))) x
                 where x is not null);
  customers := array(select distinct c.id from public.customers c where c.id = any (customers)
                     or c.user_id = any (users));
  orders := array(select distinct o.id from public.orders o where o.id = any (orders) or o.buyer_id = any (users)
                  or o.id in (select t.order_id from public.support_tickets t where t.id = any (tickets)));
  tickets := array(select distinct t.id from public.support_tickets t
                    where t.id = any (tickets) or t.requester_id = any (users) or t.order_id = any (orders));
  objects := array(
    select o.stripe_checkout_session_id from public.orders o where o.id = any (orders)
      and o.stripe_checkout_session_id is not null
    union select o.stripe_payment_intent_id from public.orders o where o.id = any (orders)
      and o.stripe_payment_intent_id is not null
    union select p.latest_charge_id from ops.payment_intents p
      join public.orders o on o.stripe_payment_intent_id = p.stripe_payment_intent_id
           where o.id = any (orders) and p.latest_charge_id is not null
    union select r.stripe_refund_id from ops.refunds r
      join public.orders o on o.stripe_payment_intent_id = r.stripe_payment_intent_id where o.id = any (orders)
    union select d.stripe_dispute_id from ops.disputes d
      join public.orders o on o.stripe_payment_intent_id = d.stripe_payment_intent_id where o.id = any (orders)
    union select m.stripe_customer_id from ops.stripe_customers m where m.customer_id = any (customers)
    union select s.stripe_subscription_id from public.subscriptions s where s.customer_id = any (customers));
  entities := array(select 'order:' || x from unnest(orders) x
                    union all select 'customer:' || x from unnest(customers) x
                    union all select 'ticket:' || x from unnest(tickets) x
                    union all select 'user:' || x from unnest(users) x
                    union all select 'dispute:' || d.stripe_dispute_id from ops.disputes d
                                join public.orders o on o.stripe_payment_intent_id = d.stripe_payment_intent_id
                               where o.id = any (orders));
  -- how the audit log names them (a ticket by its ref)
  refs := array(select 'order:' || x from unnest(orders) x
                union all select 'customer:' || x from unnest(customers) x
                union all select 'ticket:' || t.ref from public.support_tickets t where t.id = any (tickets));

  return query
  select e.received_at, 'stripe', e.object_id,
         e.type || ' -> ' || e.status || case when e.source = 'webhook' then '' else ' (via ' || e.source || ')' end,
         coalesce(e.last_error, e.ignored_reason), e.event_id
    from ops.stripe_events e
   where e.object_id = any (objects) or e.payload #>> '{data,object,payment_intent}' = any (objects)
      or e.payload #>> '{data,object,customer}' = any (objects)
  union all
  select s.changed_at, 'status', s.entity, coalesce(s.from_status, 'new') || ' -> ' || s.to_status, null,
    s.stripe_event_id
    from ops.status_changes s where s.entity = any (entities)
  union all
  select a.started_at, 'job', coalesce(j.payload ->> 'entity', j.queue_key),
    format('%s attempt %s: %s', j.kind, a.attempt, coalesce(a.outcome, 'running')),
         coalesce(a.error, case when a.outcome = 'succeeded' then j.result ->> 'healed' end),
         coalesce(j.stripe_event_id, j.x_request_id, j.correlation_id)
    from ops.jobs j join ops.job_attempts a on a.job_id = j.id
   where j.payload ->> 'order_id' = any (orders::text[]) or j.payload ->> 'customer_id' = any (customers::text[])
      or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
      or j.payload ->> 'dispute_id' = any (objects) or j.x_request_id = q_request
  union all
  select j.created_at, 'job', coalesce(j.payload ->> 'entity', j.queue_key),
    format('%s queued (%s now)', j.kind, j.status),
         j.last_error, coalesce(j.stripe_event_id, j.x_request_id, j.correlation_id)
    from ops.jobs j
   where j.payload ->> 'order_id' = any (orders::text[]) or j.payload ->> 'customer_id' = any (customers::text[])
      or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
      or j.payload ->> 'dispute_id' = any (objects) or j.x_request_id = q_request
  union all
  select r.created_at, 'checkout', coalesce('order:' || r.order_id, 'plan:' || r.plan_id),
    format('checkout %s requested (%s)', r.kind,
           case when r.stripe_checkout_session_id is not null then 'session created'
                when r.last_error is not null then 'Stripe refused or failed' else 'no session yet' end),
    coalesce(r.last_error, 'session ' || r.stripe_checkout_session_id), r.x_request_id
    from ops.checkout_requests r where r.order_id = any (orders) or r.user_id = any (users)
      or r.x_request_id = q_request
  union all
  select a.at, 'audit', a.target, format('%s by %s', a.action, coalesce(a.actor_email, 'the system')), a.reason,
    a.x_request_id
    from ops.audit_log a where a.target = any (refs) or a.x_request_id = q_request
  union all
  select c.synced_at, 'crm', 'customer:' || c.customer_id,
    format('contact %s (%s, %s)', c.crm_contact_id, c.adapter, c.lifecycle_stage), null, null
    from ops.crm_contacts c where c.customer_id = any (customers)
  union all
  select d.synced_at, 'crm', 'order:' || d.order_id,
    format('deal %s at stage %s (%s)', d.crm_deal_id, d.stage, d.adapter), null, null
    from ops.crm_deals d where d.order_id = any (orders)
  union all
  select t.created_at, 'ticket', 'ticket:' || t.id,
    format('%s opened in %s (%s): %s', t.ref, t.queue, t.priority, t.subject), array_to_string(t.tags, ' '),
    t.case_key
    from public.support_tickets t where t.id = any (tickets)
  union all
  select m.created_at, 'ticket', 'ticket:' || m.ticket_id, m.author_kind || ' wrote', left(m.body, 200), null
    from public.ticket_messages m where m.ticket_id = any (tickets)
  union all
  select n.created_at, n.channel, n.entity, format('%s to %s: %s', n.template, n.recipient, n.status), n.detail,
    n.provider_id
    from ops.notifications n where n.entity = any (entities) or n.recipient = any (entities)
     or n.entity like any (array(select x || ':%' from unnest(entities) x))
  order by 1, 2;
end
$_$;


--
-- Name: FUNCTION journey(p_query text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.journey(p_query text) IS 'One customer''s timeline: select * from ops.journey(''jane@example.com'') (or an order id, evt_..., a ticket id or T-000123, or a request id: x-request-id). correlation_id: the Stripe event, else the request id behind the row.';


--
-- Name: link_checkout_customer(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.link_checkout_customer(s jsonb) RETURNS uuid
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select case when s ->> 'customer' is not null then ops.upsert_customer_link(
    s ->> 'customer',
    array[s -> 'metadata' ->> 'user_id', case when s ->> 'payment_link' is null then s ->> 'client_reference_id' end],
    coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email')) end
$$;


--
-- Name: link_stripe_customer(text, uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  m ops.stripe_customers;
  cid uuid;
begin
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): the link is an admin decision and is kept with its reason'
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    raise exception 'no Stripe customer % is known yet; for one the server just created use '
                    'ops.register_stripe_customer',
      p_stripe_customer_id using errcode = 'no_data_found';
  end if;
  cid := ops.move_stripe_customer(p_stripe_customer_id, p_user_id, 'admin', left(trim(p_note), 1000));
  -- the row it left, when it still exists (a user's row with a conflicting claim), is reviewed
  update public.customers set needs_review = false where id = m.customer_id and needs_review;
  update ops.stripe_customers set reviewed_at = now(), reviewed_note = left(trim(p_note), 1000)
   where stripe_customer_id = p_stripe_customer_id;
  return cid;
end
$$;


--
-- Name: FUNCTION link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text) IS 'Admin: the Stripe customer belongs to this user (moves it and its subscriptions, closes the review). Usage: select ops.link_stripe_customer(''cus_...'', ''<user id>'', ''why'');';


--
-- Name: lock_checkout_session(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.lock_checkout_session(p_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  insert into ops.checkout_sessions as s (stripe_checkout_session_id) values (p_id)
  on conflict (stripe_checkout_session_id) do update set updated_at = now();
end
$$;


--
-- Name: lock_connect_charge(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.lock_connect_charge(p_charge_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if p_charge_id is null then
    return;
  end if;
  perform 1 from public.orders o where o.id = ops.connect_charge_order(p_charge_id) for update;
  perform pg_advisory_xact_lock(hashtextextended('connect-charge:' || p_charge_id, 0));
end
$$;


--
-- Name: lock_payment(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.lock_payment(p_pi_id text) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  orphan text := (select s.stripe_checkout_session_id from ops.checkout_sessions s
                   where s.stripe_payment_intent_id = p_pi_id and s.order_id is null order by 1 limit 1);
begin
  if orphan is not null then
    perform ops.lock_checkout_session(orphan);
  end if;
  perform ops.lock_payment_intent(p_pi_id);
  return orphan;
end
$$;


--
-- Name: lock_payment_intent(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.lock_payment_intent(p_id text) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into ops.payment_intents as p (stripe_payment_intent_id) values (p_id)
  on conflict (stripe_payment_intent_id) do update set updated_at = now()
$$;


--
-- Name: lock_stripe_customer(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.lock_stripe_customer(p_stripe_customer_id text) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select pg_advisory_xact_lock(hashtextextended('ops.stripe_customers:' || p_stripe_customer_id, 0))
$$;


--
-- Name: move_stripe_customer(text, uuid, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.move_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_linked_by text, p_note text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  m ops.stripe_customers;
  src public.customers;
  target uuid := ops.customer_for_user(p_user_id, null);
begin
  if target is null then
    raise exception 'no user %', p_user_id using errcode = 'foreign_key_violation';
  end if;
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, linked_at, linked_note)
    values (p_stripe_customer_id, target, p_linked_by, now(), p_note);
    return target;
  end if;
  update ops.stripe_customers set customer_id = target, linked_by = p_linked_by, linked_at = now(), linked_note = p_note
   where stripe_customer_id = p_stripe_customer_id;
  if m.customer_id = target then
    return target;
  end if;
  select * into src from public.customers where id = m.customer_id for update;
  update public.subscriptions set customer_id = target where stripe_customer_id = p_stripe_customer_id;
  if src.user_id is null then
    -- the Stripe customer's own row: what it knew of payments and of the person moves along
    update public.customers t set
      last_paid_at = greatest(t.last_paid_at, src.last_paid_at),
      last_payment_failed_at = greatest(t.last_payment_failed_at, src.last_payment_failed_at),
      email = coalesce(t.email, src.email),
      name = coalesce(t.name, src.name)
    where t.id = target;
  end if;
  if src.user_id is null and not exists (select 1 from ops.stripe_customers x where x.customer_id = src.id) then
    delete from public.customers where id = src.id;
  else
    perform ops.recompute_customer(src.id);
  end if;
  perform ops.recompute_customer(target);
  return target;
end
$$;


--
-- Name: newer_charge(boolean, timestamp with time zone, text, boolean, timestamp with time zone, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.newer_charge(p_succeeded boolean, p_at timestamp with time zone, p_charge text, p_known_succeeded boolean, p_known_at timestamp with time zone, p_known_charge text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return p_charge is not null
     and (p_succeeded, p_at, p_charge) > (coalesce(p_known_succeeded, false), coalesce(p_known_at, '-infinity'),
                                          coalesce(p_known_charge, ''));
end
$$;


--
-- Name: next_job_due_in_ms(text[]); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.next_job_due_in_ms(p_kinds text[]) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  -- greatest() ignores nulls, so the null of "nothing waits" is kept apart
  select case when min(run_at) is not null
              then greatest(0, ceil(extract(epoch from min(run_at) - now()) * 1000))::integer end
    from ops.jobs where kind = any (p_kinds) and status in ('queued', 'failed')
$$;


--
-- Name: notify_job_context(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.notify_job_context(p_job_id bigint, p_worker text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
  template text := j.payload ->> 'template';
  entity text := j.payload ->> 'entity';
  entity_id text := split_part(j.payload ->> 'entity', ':', 2);
  recipient text := j.payload ->> 'recipient';
  to_email text;
  data jsonb;
begin
  if j.id is null then
    return null;
  end if;
  -- the first attempt freezes what the message says (and to whom): a retry must send the same body
  -- under the same idempotency key (Resend refuses the key with another body), and a replay too
  if j.payload ? 'data' then
    data := j.payload -> 'data';
    to_email := j.payload ->> 'to';
  else
    to_email := ops.notify_recipient_email(recipient);
    if recipient like 'user:%' and to_email is null then
      raise exception 'recipient % has no email address', recipient using errcode = 'no_data_found';
    end if;
    -- each template's payload, named as its zod schema in _shared/notify/templates.ts names it
    data := jsonb_strip_nulls(case
      when template in ('payment_receipt', 'payment_failed', 'refund_confirmation') then (
        select jsonb_build_object('order_ref', upper(left(o.id::text, 8)),
                 -- what the buyer was charged (tax and discounts included), else the list price
                 'amount', coalesce(o.amount_charged, o.amount_total, 0),
                 'currency', coalesce(o.currency_charged, o.currency, 'usd'),
                 'item', l.title,
                 'paid_at', o.paid_at, 'customer_name', coalesce(c.name, p.display_name),
                 'reason', (select pi.last_error from ops.payment_intents pi
                            where pi.stripe_payment_intent_id = o.stripe_payment_intent_id),
                 -- a refund's amounts as they were when it was enqueued (this refund, and the total with it)
                 'amount_refunded', (j.payload ->> 'refunded_total')::bigint
                                    - coalesce((j.payload ->> 'refunded_before')::bigint, 0),
                 'total_refunded', (j.payload ->> 'refunded_total')::bigint,
                 'order_amount', coalesce(o.amount_charged, o.amount_total, 0))
          from public.orders o
          left join public.listings l on l.id = o.listing_id
          left join public.profiles p on p.id = o.buyer_id
          left join public.customers c on c.user_id = o.buyer_id
         where o.id = ops.as_uuid(coalesce(j.payload ->> 'order_id', entity_id)))
      when template = 'welcome' then (
        select jsonb_build_object('customer_name', coalesce(c.name, p.display_name))
          from auth.users u left join public.customers c on c.user_id = u.id left join public.profiles p on p.id = u.id
         where u.id = ops.as_uuid(entity_id))
      when template in ('support_ack', 'founder_new_ticket') then (
        select jsonb_build_object('ticket_ref', t.ref, 'subject', t.subject, 'category', t.category,
                 'queue', t.queue, 'priority', t.priority, 'tags', to_jsonb(t.tags),
                 'requester_email', lower(u.email), 'order_ref', upper(left(t.order_id::text, 8)),
                 'customer_name', coalesce(c.name, p.display_name),
                 'message', (select m.body from public.ticket_messages m where m.ticket_id = t.id
                             order by m.created_at limit 1))
          from public.support_tickets t
          left join auth.users u on u.id = t.requester_id
          left join public.customers c on c.user_id = t.requester_id
          left join public.profiles p on p.id = t.requester_id
         where t.id = ops.as_uuid(entity_id))
      when template = 'slack_dispute_alert' then (
        select jsonb_build_object('dispute_id', d.stripe_dispute_id, 'amount', coalesce(d.amount, 0),
                                  'currency', coalesce(d.currency, 'usd'),
                 'reason', coalesce(d.reason, 'not given'), 'evidence_due_by', d.evidence_due_by,
                 'order_ref', upper(left(o.id::text, 8)),
                 'ticket_ref', (select t.ref from public.support_tickets t
                                where t.case_key = 'dispute:' || d.stripe_dispute_id))
          from ops.disputes d
          left join public.orders o on o.stripe_payment_intent_id = d.stripe_payment_intent_id
         where d.stripe_dispute_id = entity_id
         limit 1)
      -- an incident's notices (migration 2000): the rule, what it saw, its runbook, and on resolve how long it lasted
      when template in ('slack_alert_opened', 'founder_alert_opened', 'slack_alert_resolved',
                        'founder_alert_resolved') then (
        select jsonb_build_object('incident_id', i.id, 'rule', i.rule, 'severity', r.severity,
                                  'description', r.description,
                 'summary', i.summary, 'observed', i.detail, 'runbook', r.runbook, 'opened_at', i.opened_at,
                 'resolved_at', i.resolved_at,
                 'duration_seconds', floor(extract(epoch from i.resolved_at - i.opened_at))::bigint)
          from ops.alert_incidents i join ops.alert_rules r on r.rule = i.rule
         where entity_id ~ '^[0-9]{1,18}$' and i.id = entity_id::bigint
           -- a resolve notice needs the resolve; an open notice is sent even if it already resolved
           and (template like '%_opened' or i.resolved_at is not null))
    end);
    if data is null then
      raise exception '% for % has nothing to say: % is gone', template, recipient, entity
        using errcode = 'no_data_found';
    end if;
    update ops.jobs set payload = payload || jsonb_build_object('data', data, 'to', to_email) where id = j.id;
  end if;
  return jsonb_build_object('template', template, 'channel', split_part(j.kind, '.', 2), 'entity', entity,
    'recipient', recipient, 'to', to_email, 'key', j.dedupe_key,
    'suppressed', (select s.reason from ops.email_suppressions s where s.email = to_email),
    'data', data);
end
$_$;


--
-- Name: notify_recipient_email(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.notify_recipient_email(p_recipient text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select lower(trim(u.email)) from auth.users u
   where p_recipient like 'user:%' and u.id = ops.as_uuid(substr(p_recipient, 6))
$$;


--
-- Name: order_payments(uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.order_payments(p_order_id uuid) RETURNS TABLE(payment_ref text, stripe_checkout_session_id text, stripe_payment_intent_id text, stripe_customer_id text, paid boolean, paid_at timestamp with time zone, ended boolean, failed boolean, asked_amount bigint, asked_currency text, charged_amount bigint, charged_currency text, accepted boolean, refunded bigint, disputed boolean, mismatch text, role text, review text, blocking boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return query
  with o as (
    select amount_total, currency from public.orders where id = p_order_id
  ), attempts as (
    select s.stripe_checkout_session_id as payment_ref, s.stripe_checkout_session_id, s.stripe_payment_intent_id,
           coalesce(s.stripe_customer_id, p.stripe_customer_id) as stripe_customer_id,
           coalesce(s.payment_status in ('paid', 'no_payment_required'), false) or p.succeeded_at is not null as paid,
           least(s.paid_at, p.succeeded_at) as paid_at,
           coalesce(s.status = 'expired', false) or p.canceled_at is not null as ended,
           coalesce(s.payment_status = 'failed', false) or p.last_failed_at is not null as failed,
           coalesce(s.amount_subtotal, s.amount_total) as asked_amount, s.currency as asked_currency,
           coalesce(s.amount_total, nullif(p.amount_received, 0), p.amount) as charged_amount,
           coalesce(s.currency, p.currency) as charged_currency,
           s.claim_review
      from ops.checkout_sessions s
      left join ops.payment_intents p on p.stripe_payment_intent_id = s.stripe_payment_intent_id
     where s.order_id = p_order_id
    union all
    -- the app's own payment intent (no Checkout): it asked for its amount
    select p.stripe_payment_intent_id, null, p.stripe_payment_intent_id, p.stripe_customer_id,
           p.succeeded_at is not null, p.succeeded_at, p.canceled_at is not null, p.last_failed_at is not null,
           p.amount, p.currency, coalesce(nullif(p.amount_received, 0), p.amount), p.currency, null
      from ops.payment_intents p
     where p.order_id = p_order_id
       -- a scalar subquery (not an anti join): one index probe, whatever the planner's statistics
       and (select true from ops.checkout_sessions s where s.stripe_payment_intent_id = p.stripe_payment_intent_id
            limit 1) is null
  ), judged as (
    select a.*, r.accepted,
           ops.payment_intent_refunded(a.stripe_payment_intent_id) as refunded,
           ops.payment_intent_disputed(a.stripe_payment_intent_id) as disputed,
           ops.payment_mismatch(o.amount_total, o.currency, a.asked_amount, a.asked_currency, a.payment_ref) as mismatch
      from attempts a
     cross join o
      left join ops.order_reviews r on r.order_id = p_order_id and r.payment_ref = a.payment_ref
  ), ranked as (
    select j.*,
           case when j.paid and j.accepted is distinct from false then
             row_number() over (partition by j.paid and j.accepted is distinct from false
                                order by (j.mismatch is null or coalesce(j.accepted, false)) desc,
                                         j.paid_at nulls last, j.payment_ref)
           end as rank
      from judged j
  )
  select x.payment_ref, x.stripe_checkout_session_id, x.stripe_payment_intent_id, x.stripe_customer_id,
         x.paid, x.paid_at, x.ended, x.failed, x.asked_amount, x.asked_currency, x.charged_amount, x.charged_currency,
         x.accepted, x.refunded, x.disputed, x.mismatch,
         case when not x.paid then 'unpaid' when x.accepted = false then 'refused' when x.rank = 1 then 'paying'
           else 'extra' end,
         case
           when not x.paid or x.accepted is not null then null
           when x.rank = 1 then coalesce(x.mismatch, x.claim_review)
           -- a second payment for one order: until it is refunded or resolved, someone holds two payments
           when x.refunded < coalesce(x.charged_amount, 1) then
             format('%s also paid this order (%s %s): refund the double payment in Stripe, or resolve', x.payment_ref,
                    x.charged_amount, x.charged_currency)
         end,
         x.rank = 1 and x.mismatch is not null and x.accepted is null
    from ranked x;
end
$$;


--
-- Name: orders_fulfilment_times(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.orders_fulfilment_times() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if new.status = 'in_fulfillment' and old.status is distinct from 'in_fulfillment' then
    new.fulfillment_started_at := now();
  elsif new.status = 'completed' and old.status is distinct from 'completed' then
    new.completed_at := now();
  end if;
  return new;
end
$$;


--
-- Name: orders_guard_app_moves(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.orders_guard_app_moves() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  uid uuid := auth.uid();
  ref text := upper(left(old.id::text, 8));
  is_admin boolean := private.is_admin();
  is_seller boolean := old.seller_id = uid;
  is_buyer boolean := old.buyer_id = uid;
begin
  if uid is null or private.is_anonymous() then
    raise exception 'sign in with an account to change an order' using errcode = 'PT403';
  end if;
  if new.status is distinct from old.status then
    if new.status not in ('in_fulfillment', 'completed') then
      raise exception 'order % cannot be moved to % by the app: payments, refunds and disputes come from Stripe',
        ref, new.status using errcode = 'PT403';
    end if;
    if new.status = 'in_fulfillment' and not (is_seller or is_admin) then
      raise exception 'only the seller of order % (or an admin) can mark it shipped', ref using errcode = 'PT403';
    end if;
    if new.status = 'completed' and not (is_seller or is_admin or is_buyer) then
      raise exception 'only the buyer or the seller of order % can complete it', ref using errcode = 'PT403';
    end if;
    if not exists (select 1 from ops.order_status_transitions t
                    where t.from_status = old.status and t.to_status = new.status) then
      raise exception 'order % is %, so it cannot move to %: %', ref, old.status, new.status,
        case new.status when 'in_fulfillment' then 'only a paid order can be marked shipped'
                        else 'only an order in fulfilment (shipped) can be completed' end
        using errcode = 'PT409';
    end if;
  end if;
  if (new.tracking_carrier, new.tracking_number, new.tracking_url)
     is distinct from (old.tracking_carrier, old.tracking_number, old.tracking_url) then
    if not (is_seller or is_admin) then
      raise exception 'only the seller of order % (or an admin) can set its tracking', ref using errcode = 'PT403';
    end if;
    if new.status <> 'in_fulfillment' then
      raise exception 'order % is %: tracking is set when it ships (in fulfilment)', ref, new.status
        using errcode = 'PT409';
    end if;
  end if;
  return new;
end
$$;


--
-- Name: orders_notify(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.orders_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  event_id text := nullif(current_setting('ops.stripe_event_id', true), '');
  policy text;
begin
  if new.buyer_id is null then
    return null;
  end if;
  -- payment_confirmed (ops.order_statuses) is the one rule: a payment in review sends nothing
  if new.payment_confirmed and not old.payment_confirmed then
    perform ops.enqueue_notification('email', 'payment_receipt', 'order:' || new.id, 'user:' || new.buyer_id);
    perform ops.enqueue_notification('email', 'welcome', 'user:' || new.buyer_id, 'user:' || new.buyer_id);
  end if;
  if new.status = 'payment_failed' and old.status is distinct from 'payment_failed' then
    policy := (ops.current_settings()).failed_payment_policy;
    if policy in ('email', 'both') then
      perform ops.enqueue_notification('email', 'payment_failed', coalesce('event:' || event_id, 'order:' || new.id),
        'user:' || new.buyer_id, jsonb_build_object('order_id', new.id));
    end if;
    if policy in ('ticket', 'both') then
      perform ops.enqueue_job('support.ticket', jsonb_build_object('case', 'payment_failed', 'order_id', new.id,
                                                                   'event_id', event_id),
        'support.ticket:payment_failed:' || coalesce(event_id, new.id::text), p_correlation_id => event_id);
    end if;
  end if;
  if new.amount_refunded > old.amount_refunded and new.payment_confirmed then
    perform ops.enqueue_notification('email', 'refund_confirmation',
      format('order:%s:refunded:%s', new.id, new.amount_refunded),
      'user:' || new.buyer_id,
      jsonb_build_object('order_id', new.id, 'refunded_before', old.amount_refunded,
                         'refunded_total', new.amount_refunded));
  end if;
  return null;
end
$$;


--
-- Name: orders_notify_fulfilment(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.orders_notify_fulfilment() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  to_email text;
  data jsonb;
begin
  select lower(trim(u.email)) into to_email from auth.users u where u.id = new.buyer_id;
  if to_email is null then
    return null;
  end if;
  select jsonb_strip_nulls(jsonb_build_object(
           'order_ref', upper(left(new.id::text, 8)), 'item', l.title,
           'customer_name', coalesce(c.name, p.display_name),
           'carrier', new.tracking_carrier, 'tracking_number', new.tracking_number, 'tracking_url', new.tracking_url,
           'completed_by', case when new.status = 'completed' then
                             case nullif(current_setting('ops.status_actor', true), '')
                               when 'auto_complete' then 'auto'
                               else case when auth.uid() = new.buyer_id then 'buyer' else 'seller' end end end))
    into data
    from (select 1) x
    left join public.listings l on l.id = new.listing_id
    left join public.profiles p on p.id = new.buyer_id
    left join public.customers c on c.user_id = new.buyer_id;
  perform ops.enqueue_notification('email', case new.status when 'in_fulfillment' then 'order_shipped'
                                                            else 'order_completed' end,
    'order:' || new.id, 'user:' || new.buyer_id,
    jsonb_build_object('order_id', new.id, 'to', to_email, 'data', data));
  return null;
end
$$;


--
-- Name: orders_refresh_order_share(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.orders_refresh_order_share() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  ch text;
begin
  for ch in select x.charge_id from ops.connect_charges x where x.payment_intent_id = new.stripe_payment_intent_id
            union select p.latest_charge_id from ops.payment_intents p
                   where p.stripe_payment_intent_id = new.stripe_payment_intent_id and p.latest_charge_id is not null
            order by 1 loop
    perform ops.lock_connect_charge(ch);
    perform ops.refresh_order_share(ch);
  end loop;
  return null;
end
$$;


--
-- Name: payment_intent_disputed(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.payment_intent_disputed(p_pi text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return exists (
    select 1 from ops.disputes d
      left join ops.payment_intents p on p.stripe_payment_intent_id = p_pi
     where (d.stripe_payment_intent_id = p_pi or d.stripe_charge_id = p.latest_charge_id)
       and d.status not in ('won', 'warning_closed'));
end
$$;


--
-- Name: payment_intent_refund_pending(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.payment_intent_refund_pending(p_pi text) RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(sum(x.amount), 0)::bigint
    from ops.refunds x
    left join ops.payment_intents p on p.stripe_payment_intent_id = p_pi
   where (x.stripe_payment_intent_id = p_pi or x.stripe_charge_id = p.latest_charge_id)
     and x.status in ('pending', 'requires_action')
$$;


--
-- Name: payment_intent_refunded(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.payment_intent_refunded(p_pi text) RETURNS bigint
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  return coalesce((
    select case
             when p.amount_refunded_at is null then coalesce(r.total, 0)
             when r.newest is null or p.amount_refunded_at > r.newest then p.amount_refunded
             when p.amount_refunded_at = r.newest then greatest(p.amount_refunded, coalesce(r.total, 0))
             else coalesce(r.total, 0)
           end
      from ops.payment_intents p
     cross join lateral (
       select (sum(x.amount) filter (where x.status = 'succeeded'))::bigint as total,
              max(x.stripe_event_created) as newest
         from ops.refunds x
        where x.stripe_payment_intent_id = p.stripe_payment_intent_id or x.stripe_charge_id = p.latest_charge_id) r
     where p.stripe_payment_intent_id = p_pi), 0);
end
$$;


--
-- Name: payment_mismatch(bigint, text, bigint, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.payment_mismatch(p_price bigint, p_currency text, p_asked bigint, p_asked_currency text, p_ref text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  return case
    when p_currency is not null and p_asked_currency is distinct from p_currency then
      format('currency mismatch: the order costs %s %s, %s asked %s %s', p_price, p_currency, p_ref, p_asked,
             coalesce(p_asked_currency, '(none)'))
    when p_price is not null and p_asked is distinct from p_price then
      format('amount mismatch: the order costs %s %s, %s asked %s %s', p_price, p_currency, p_ref,
             coalesce(p_asked::text, '(unknown)'), p_asked_currency)
  end;
end
$$;


--
-- Name: payout_failure_advice(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.payout_failure_advice(p_code text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case p_code
    when 'account_closed' then 'The bank account is closed: add a new bank account in your Stripe Express dashboard.'
    when 'no_account' then 'The bank could not find this account: check the account number or add another account.'
    when 'invalid_account_number' then 'The account number is wrong: correct it in your Stripe Express dashboard.'
    when 'incorrect_account_holder_name' then 'The account holder''s name does not match the bank''s: correct it.'
    when 'incorrect_account_holder_address' then 'The account holder''s address does not match the bank''s: '
      || 'correct it.'
    when 'incorrect_account_holder_tax_id' then 'The account holder''s tax id does not match the bank''s: correct it.'
    when 'account_frozen' then 'The bank account is frozen: contact your bank, or add another account.'
    when 'bank_account_restricted' then 'The bank account takes no such deposits: contact your bank or add '
      || 'another account.'
    when 'bank_ownership_changed' then 'The bank account changed hands: add the account again with its new details.'
    when 'debit_not_authorized' then 'Your bank refused a debit from Stripe: authorize Stripe with your bank.'
    when 'insufficient_funds' then 'Your Stripe balance could not cover the payout (refunds or disputes took it): '
      || 'Stripe retries once the balance is positive.'
    when 'invalid_currency' then 'The bank account cannot take this currency: add an account in that currency.'
    when 'declined' then 'The bank declined the payout: contact your bank or add another account.'
    when 'could_not_process' then 'The bank could not process the payout: check the account, Stripe retries.'
    when 'unsupported_card' then 'This debit card takes no payouts: add a bank account or another card.'
    when 'expired_card' then 'The debit card has expired: add a current card or a bank account.'
    when 'lost_or_stolen_card' then 'The debit card was reported lost or stolen: add another card or a bank account.'
    else 'Check your payout details in your Stripe Express dashboard, or contact support.'
  end
$$;


--
-- Name: ping_heartbeat(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ping_heartbeat() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  url text;
begin
  select nullif(btrim(decrypted_secret), '') into url from vault.decrypted_secrets where name = 'heartbeat_url';
  if url is null then
    return null;
  end if;
  begin
    return net.http_get(url := url, timeout_milliseconds := 10000);
  exception when others then
    raise warning 'heartbeat: pg_net refused the vault''s heartbeat_url (%): no ping sent', sqlstate;
    return null;
  end;
end
$$;


--
-- Name: FUNCTION ping_heartbeat(); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.ping_heartbeat() IS 'Pings the vault secret heartbeat_url (GET through pg_net) and returns the request id; null when no heartbeat_url is set or pg_net refused it. Called after each alert evaluation.';


--
-- Name: platform_fee(bigint); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.platform_fee(p_amount bigint) RETURNS bigint
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select least(p_amount, round(p_amount * s.platform_fee_percent / 100.0)::bigint + s.platform_fee_fixed)
    from ops.settings s where s.id
$$;


--
-- Name: purge_crm_captures(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_crm_captures(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    update ops.crm_capture
       set body = ops.crm_capture_skeleton(body), key = case when operation in ('deal', 'note') then key end,
           cleared_at = now()
     where created_at < now() - p_keep and cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_cron_runs(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_cron_runs(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from cron.job_run_details where end_time < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_dunning_cases(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_dunning_cases(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    update ops.dunning_cases set hosted_invoice_url = null, description = null
     where recovered_at is not null and recovered_applied_at < now() - p_keep
       and (hosted_invoice_url is not null or description is not null)
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_endpoint_outcomes(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_endpoint_outcomes(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from ops.endpoint_outcomes where minute < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_event_payloads(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_event_payloads(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    update ops.stripe_events
       set payload = ops.stripe_payload_skeleton(payload), payload_cleared_at = now()
     where received_at < now() - p_keep and status in ('processed', 'ignored') and payload_cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_http_responses(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_http_responses(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from net._http_response where created < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_job_payloads(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_job_payloads(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    update ops.jobs
       set payload = ops.job_payload_skeleton(payload), result = ops.job_payload_skeleton(result),
           payload_cleared_at = now()
     where status in ('succeeded', 'dead') and coalesce(succeeded_at, updated_at) < now() - p_keep
       and payload_cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_jobs(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_jobs(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from ops.jobs where status = 'succeeded' and succeeded_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_notifications(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_notifications(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with captures as (
    update ops.notification_captures
       set body = jsonb_build_object('id', body -> 'id', 'tags', body -> 'tags'), cleared_at = now()
     where created_at < now() - p_keep and cleared_at is null
  ), gone as (
    update ops.notifications set recipient = 'cleared', detail = null
     where created_at < now() - p_keep and recipient <> 'cleared' and channel = 'email'
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_pipeline_history(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_pipeline_history() RETURNS jsonb
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  select ops.run_retention_policies(false)
$$;


--
-- Name: FUNCTION purge_pipeline_history(); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.purge_pipeline_history() IS 'Runs every enabled retention policy (ops.retention_policies) and reports the rows each purged; pg_cron runs it daily.';


--
-- Name: purge_rate_limit_buckets(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_rate_limit_buckets(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from ops.rate_limit_buckets b
     where b.bucket in (select x.bucket from ops.rate_limit_buckets x
                         where not exists (select 1 from ops.rate_limit_grants g
                                            where g.bucket = x.bucket and g.granted_at >= now() - p_keep)
                         for update skip locked)
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_rate_limit_grants(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_rate_limit_grants(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from ops.rate_limit_grants where granted_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: purge_reconciliation_findings(interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.purge_reconciliation_findings(p_keep interval) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (
    delete from ops.reconciliation_findings where status = 'resolved' and resolved_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;


--
-- Name: reapply_stripe_events(text[], integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reapply_stripe_events(p_event_ids text[] DEFAULT NULL::text[], p_limit integer DEFAULT 100) RETURNS TABLE(event_id text, status text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  id text;
begin
  for id in
    select e.event_id from ops.stripe_events e
     where (p_event_ids is null and e.status = 'failed') or e.event_id = any (p_event_ids)
     order by e.event_created, e.received_at
     limit p_limit
  loop
    event_id := id;
    status := ops.try_apply_stripe_event(id);
    return next;
  end loop;
end
$$;


--
-- Name: FUNCTION reapply_stripe_events(p_event_ids text[], p_limit integer); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.reapply_stripe_events(p_event_ids text[], p_limit integer) IS 'Re-applies failed Stripe events (or the named ones), oldest first. Usage: select * from ops.reapply_stripe_events();';


--
-- Name: recompute_customer(uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.recompute_customer(p_customer_id uuid) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c public.customers;
  target text;
  links bigint;
  live bigint;
  last_deleted timestamptz;
  gone_at timestamptz;
begin
  select * into c from public.customers where id = p_customer_id for update;
  if not found then
    return null;
  end if;
  select count(*), count(*) filter (where m.deleted_at is null), max(m.deleted_at)
    into links, live, last_deleted
    from ops.stripe_customers m where m.customer_id = c.id;
  gone_at := case when links > 0 and live = 0 then last_deleted end;
  if gone_at is not null then
    target := 'canceled';
  else
    select m.billing_status into target
      from public.subscriptions s
      join ops.stripe_subscription_statuses m on m.stripe_status = s.status
     where s.customer_id = c.id
       and not exists (select 1 from ops.stripe_customers x where x.stripe_customer_id = s.stripe_customer_id
                       and x.deleted_at is not null)
     order by m.precedence desc
     limit 1;
    target := coalesce(target, case when c.billing_status = 'lead' then 'lead' else 'canceled' end);
  end if;
  if gone_at is distinct from c.deleted_at then
    update public.customers set deleted_at = gone_at where id = c.id;
  end if;
  if target is distinct from c.billing_status and exists (
    select 1 from ops.billing_status_transitions t where t.from_status = c.billing_status and t.to_status = target
  ) then
    update public.customers set billing_status = target where id = c.id;
  end if;
  return target;
end
$$;


--
-- Name: recompute_order(uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.recompute_order(p_order_id uuid) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  o public.orders;
  pay record;
  have_pay boolean := false;
  reasons text[];
  refunded bigint := 0;
  refund_pending bigint := 0;
  processing boolean := false;
  target text;
  next_status text;
  confirmed boolean;
begin
  select * into o from public.orders where id = p_order_id for update;
  if not found then
    return null;
  end if;

  -- one pass: the paying payment (all nulls when none pays), with what all payments add up to
  select x.role = 'paying' as paying,
         case when x.role = 'paying' then x.stripe_checkout_session_id end as stripe_checkout_session_id,
         case when x.role = 'paying' then x.stripe_payment_intent_id end as stripe_payment_intent_id,
         case when x.role = 'paying' then x.stripe_customer_id end as stripe_customer_id,
         case when x.role = 'paying' then x.paid_at end as paid_at,
         case when x.role = 'paying' then x.asked_amount end as asked_amount,
         case when x.role = 'paying' then x.asked_currency end as asked_currency,
         case when x.role = 'paying' then x.charged_amount end as charged_amount,
         case when x.role = 'paying' then x.charged_currency end as charged_currency,
         case when x.role = 'paying' then x.refunded end as refunded,
         x.role = 'paying' and x.disputed as disputed,
         x.role = 'paying' and x.blocking as blocking,
         array_agg(x.review) filter (where x.review is not null) over w as reasons,
         bool_or(x.role = 'refused') over w as any_refused, bool_or(x.ended) over w as any_ended,
         bool_or(x.failed) over w as any_failed
    into pay
    from ops.order_payments(o.id) x
  window w as (order by x.blocking desc, x.role = 'paying' desc, x.payment_ref
               rows between unbounded preceding and unbounded following)
   order by x.role = 'paying' desc
   limit 1;
  have_pay := coalesce(pay.paying, false);
  reasons := pay.reasons;

  if have_pay then
    refunded := pay.refunded;
    refund_pending := ops.payment_intent_refund_pending(pay.stripe_payment_intent_id);
    target := case
      when pay.blocking then 'in_review'
      when pay.disputed then 'disputed'
      -- with the charged amount unknown yet, a refund counts as partial until it is known
      when refunded > 0 and refunded >= pay.charged_amount then 'refunded'
      when refunded > 0 then 'partially_refunded'
      when o.status in ('in_fulfillment', 'completed') then o.status
      else 'paid'
    end;
  else
    target := case
      when pay.any_refused or pay.any_ended then 'canceled'
      when pay.any_failed then 'payment_failed'
      else o.status
    end;
    -- Checkout finished with an async method: Stripe confirms (or fails) the payment later
    processing := not coalesce(pay.any_failed, false) and exists (
      select 1 from ops.checkout_sessions s
       where s.order_id = o.id and s.status = 'complete' and s.payment_status = 'unpaid');
  end if;

  next_status := case when target is distinct from o.status and exists (
    select 1 from ops.order_status_transitions t where t.from_status = o.status and t.to_status = target
  ) then target else o.status end;
  select s.payment_confirmed into confirmed from ops.order_statuses s where s.status = next_status;

  -- pay's payment columns are null when nothing pays the order
  update public.orders x set
    status = next_status,
    -- an order without a price of its own (made by the pipeline or by hand) takes its payment's
    amount_total = coalesce(x.amount_total, pay.asked_amount),
    currency = coalesce(x.currency, pay.asked_currency),
    amount_charged = pay.charged_amount,
    currency_charged = pay.charged_currency,
    amount_refunded = refunded,
    amount_refund_pending = refund_pending,
    payment_processing = processing,
    stripe_checkout_session_id = pay.stripe_checkout_session_id,
    stripe_payment_intent_id = pay.stripe_payment_intent_id,
    stripe_customer_id = coalesce(pay.stripe_customer_id, x.stripe_customer_id),
    needs_review = reasons is not null,
    review_reason = array_to_string(reasons, '; '),
    paid_at = coalesce(x.paid_at, case when confirmed then coalesce(pay.paid_at, now()) end)
  where x.id = o.id
    -- an update that changes nothing is skipped: no row version, no trigger
    and (x.status, x.amount_total, x.currency, x.amount_charged, x.currency_charged, x.amount_refunded,
         x.amount_refund_pending, x.payment_processing,
         x.stripe_checkout_session_id, x.stripe_payment_intent_id, x.stripe_customer_id,
         x.needs_review, x.review_reason, x.paid_at is null)
        is distinct from
        (next_status, coalesce(x.amount_total, pay.asked_amount), coalesce(x.currency, pay.asked_currency),
         pay.charged_amount, pay.charged_currency, refunded, refund_pending, processing,
         pay.stripe_checkout_session_id, pay.stripe_payment_intent_id,
         coalesce(pay.stripe_customer_id, x.stripe_customer_id), reasons is not null, array_to_string(reasons, '; '),
         x.paid_at is null and not confirmed);
  return next_status;
end
$$;


--
-- Name: recompute_orders_for_payment_intent(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.recompute_orders_for_payment_intent(p_payment_intent_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  oid uuid;
begin
  for oid in
    select x.order_id from (
      select p.order_id from ops.payment_intents p where p.stripe_payment_intent_id = p_payment_intent_id
      union select s.order_id from ops.checkout_sessions s where s.stripe_payment_intent_id = p_payment_intent_id
      union select o.id from public.orders o where o.stripe_payment_intent_id = p_payment_intent_id
    ) x where x.order_id is not null order by 1
  loop
    perform ops.recompute_order(oid);
  end loop;
end
$$;


--
-- Name: reconcile_advance(bigint, text, text, text, integer, integer, integer, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_advance(p_job_id bigint, p_worker text, p_scope text, p_cursor text, p_listed integer, p_recovered integer, p_recovered_failed integer, p_done boolean DEFAULT false) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_reconcile_job(p_job_id, p_worker);
begin
  update ops.reconciliation_checkpoints c
     set pass_cursor = case when p_done then null else coalesce(p_cursor, c.pass_cursor) end,
         events_checked_until = case when p_done then greatest(c.events_checked_until, c.pass_until)
                                     else c.events_checked_until end,
         pass_from = case when p_done then null else c.pass_from end,
         pass_until = case when p_done then null else c.pass_until end,
         run_stats = c.run_stats || jsonb_build_object(
           'events_listed', coalesce((c.run_stats ->> 'events_listed')::int, 0) + greatest(p_listed, 0),
           'recovered', coalesce((c.run_stats ->> 'recovered')::int, 0) + greatest(p_recovered, 0),
           'recovered_failed', coalesce((c.run_stats ->> 'recovered_failed')::int, 0) + greatest(p_recovered_failed, 0),
           'pages', coalesce((c.run_stats ->> 'pages')::int, 0) + 1,
           'passes', coalesce((c.run_stats ->> 'passes')::int, 0) + p_done::int),
         updated_at = now()
   where c.scope = p_scope and c.run_job_id = j.id and c.pass_from is not null;
  if not found then
    raise exception 'no reconciliation pass of job % under way in scope %', j.id, p_scope
      using errcode = 'no_data_found';
  end if;
end
$$;


--
-- Name: reconcile_begin(bigint, text, boolean, text, interval, interval, interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_begin(p_job_id bigint, p_worker text, p_livemode boolean, p_account_id text, p_lookback interval, p_grace interval, p_check_window interval) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_reconcile_job(p_job_id, p_worker);
  cfg ops.settings := ops.current_settings();
  v_scope text;
  c ops.reconciliation_checkpoints;
  -- Stripe keeps events for 30 days
  oldest timestamptz := now() - interval '30 days' + interval '5 minutes';
  gap_from timestamptz;
begin
  perform ops.require_stripe_scope(cfg, p_livemode, p_account_id, 'the reconcile key (STRIPE_RECONCILE_KEY)');
  if p_lookback is null or p_lookback <= interval '0' or p_lookback > interval '30 days'
     or p_grace is null or p_grace < interval '0' or p_check_window is null or p_check_window <= interval '0' then
    raise exception 'reconcile: lookback must be within 30 days, grace and check window positive'
      using errcode = 'invalid_parameter_value';
  end if;
  v_scope := case when cfg.stripe_livemode then 'live' else 'test' end || coalesce(':' || cfg.stripe_account_id, '');
  insert into ops.reconciliation_checkpoints (scope) values (v_scope) on conflict (scope) do nothing;
  select * into c from ops.reconciliation_checkpoints where scope = v_scope for update;
  if c.run_job_id is distinct from j.id then
    c.run_job_id := j.id;
    c.run_stats := jsonb_build_object('recovered', 0, 'recovered_failed', 0, 'events_listed', 0, 'pages', 0,
                                      'passes', 0, 'started_at', now());
  end if;
  if c.pass_from is null then
    c.pass_from := greatest(coalesce(c.events_checked_until, now() - p_lookback), c.not_before, oldest);
    c.pass_until := now() - p_grace;
    c.pass_cursor := null;
    -- the last pass finished longer ago than Stripe keeps events: what fell in between cannot be recovered
    gap_from := greatest(c.events_checked_until, c.not_before);
    if gap_from < oldest then
      c.run_stats := c.run_stats
                     || jsonb_build_object('unrecoverable_gap', jsonb_build_object('from', gap_from, 'until', oldest));
    end if;
  end if;
  update ops.reconciliation_checkpoints
     set run_job_id = c.run_job_id, run_stats = c.run_stats, pass_from = c.pass_from, pass_until = c.pass_until,
         pass_cursor = c.pass_cursor, updated_at = now()
   where scope = v_scope;
  return jsonb_build_object('scope', v_scope, 'pass_from', extract(epoch from c.pass_from)::bigint,
    'pass_until', extract(epoch from c.pass_until)::bigint, 'cursor', c.pass_cursor,
    'checks_from', extract(epoch from greatest(now() - p_check_window, c.not_before))::bigint,
    'checks_deferred', coalesce((c.run_stats ->> 'checks_deferred')::boolean, false));
end
$$;


--
-- Name: reconcile_connect_accounts(bigint, text, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_connect_accounts(p_job_id bigint, p_worker text, p_limit integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_accounts text[];
  v_enabled boolean := coalesce((select s.connect_enabled from ops.settings s where s.id), false);
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  if not v_enabled then
    return jsonb_build_object('connect_enabled', false, 'accounts', '[]'::jsonb);
  end if;
  select coalesce(array_agg(x.stripe_account_id order by x.stripe_account_id), '{}') into v_accounts from (
    select a.stripe_account_id from public.seller_accounts a
      left join ops.reconcile_connect_accounts_checked k on k.stripe_account_id = a.stripe_account_id
     order by k.checked_at nulls first, a.stripe_account_id
     limit greatest(p_limit, 0)) x;
  insert into ops.reconcile_connect_accounts_checked (stripe_account_id, checked_at)
  select unnest(v_accounts), now()
  on conflict (stripe_account_id) do update set checked_at = excluded.checked_at;
  return jsonb_build_object('connect_enabled', true, 'accounts', to_jsonb(v_accounts));
end
$$;


--
-- Name: reconcile_gone_verdicts(text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_gone_verdicts(p_kind text, p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select f.object_id, false, f.order_id, f.customer_id, f.detail, f.next_action
    from ops.reconciliation_findings f
   where f.status = 'open' and f.kind = p_kind
     and (exists (select 1 from ops.reconcile_sessions(p_objects) s where s.id = f.object_id and s.missing)
          or exists (select 1 from ops.reconcile_payment_intents(p_objects) p where p.id = f.object_id and p.missing))
$$;


--
-- Name: reconcile_ingest_event(bigint, text, text, boolean, text, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_ingest_event(p_job_id bigint, p_worker text, p_event text, p_livemode boolean, p_account_id text, p_sanitized boolean DEFAULT false) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  evt jsonb := p_event::jsonb;
  result jsonb;
  failed boolean;
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  result := ops.ingest_stripe_event(evt, p_livemode => p_livemode, p_account_id => p_account_id,
                                    p_sanitized => p_sanitized, p_source => 'reconciliation');
  if not (result ->> 'duplicate')::boolean then
    failed := result ->> 'status' = 'failed';
    insert into ops.reconciliation_findings (kind, object_id, detail, next_action, status, resolved_at)
    values ('missing_event_recovered', evt ->> 'id',
            jsonb_build_object('type', evt ->> 'type', 'object_id', evt -> 'data' -> 'object' ->> 'id',
                               'event_created', ops.ts(evt ->> 'created'), 'outcome', result ->> 'status'),
            case when failed then format('Event %s (%s) never reached the webhook; reconciliation recovered it but '
                                         'applying it failed: read ops.stripe_events.last_error, fix the cause, then '
                                         'select * from ops.reapply_stripe_events(array[%L]);',
                                         evt ->> 'id', evt ->> 'type', evt ->> 'id')
                 else format('Nothing to repair: event %s (%s) never reached the webhook and reconciliation applied '
                             'it. If recoveries keep appearing, check the endpoint''s failed deliveries and enabled '
                             'event types in the Stripe dashboard.',
                             evt ->> 'id', evt ->> 'type') end,
            case when failed then 'open' else 'resolved' end, case when failed then null else now() end)
    on conflict (kind, object_id) do nothing;
  end if;
  return result;
end
$$;


--
-- Name: reconcile_missing_events(bigint, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_missing_events(p_job_id bigint, p_worker text, p_events jsonb) RETURNS text[]
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  return array(
    select e.id from jsonb_to_recordset(coalesce(p_events, '[]'::jsonb)) as e(id text, type text)
     where ops.stripe_event_type_applied(e.type)
       and not exists (select 1 from ops.stripe_events s where s.event_id = e.id));
end
$$;


--
-- Name: reconcile_note(bigint, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_note(p_job_id bigint, p_worker text, p_scope text, p_note jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_reconcile_job(p_job_id, p_worker);
  stats jsonb;
begin
  update ops.reconciliation_checkpoints c
     set run_stats = c.run_stats || coalesce(p_note, '{}'::jsonb), updated_at = now()
   where c.scope = p_scope and c.run_job_id = j.id
  returning c.run_stats into stats;
  if stats is null then
    raise exception 'no reconciliation run of job % in scope %', j.id, p_scope using errcode = 'no_data_found';
  end if;
  return stats || jsonb_build_object('checkpoint', (select c.events_checked_until
                                                       from ops.reconciliation_checkpoints c where c.scope = p_scope));
end
$$;


--
-- Name: reconcile_objects_to_fetch(bigint, text, bigint, text[], text[], integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_objects_to_fetch(p_job_id bigint, p_worker text, p_checks_from bigint, p_listed_sessions text[], p_listed_payment_intents text[], p_limit integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  since timestamptz := to_timestamp(p_checks_from);
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  return jsonb_build_object(
    'checkout_sessions', coalesce((select jsonb_agg(x.id) from (
      select distinct id from (
        select o.stripe_checkout_session_id as id from public.orders o
         where o.payment_confirmed and o.paid_at >= since and o.stripe_checkout_session_id is not null
        union all
        select f.object_id from ops.reconciliation_findings f
         where f.status = 'open' and f.kind in ('amount_mismatch', 'payment_without_order') and f.object_id like 'cs\_%'
        union all
        select o.stripe_checkout_session_id from ops.reconciliation_findings f join public.orders o on o.id = f.order_id
         where f.status = 'open' and f.kind = 'order_without_payment' and o.stripe_checkout_session_id is not null
      ) ids where id <> all (coalesce(p_listed_sessions, '{}')) limit p_limit) x), '[]'::jsonb),
    'payment_intents', coalesce((select jsonb_agg(x.id) from (
      select distinct id from (
        select o.stripe_payment_intent_id as id from public.orders o
         where o.payment_confirmed and o.paid_at >= since and o.stripe_payment_intent_id is not null
           and (o.stripe_checkout_session_id is null
                or o.stripe_checkout_session_id <> all (coalesce(p_listed_sessions, '{}')))
        union all
        select f.object_id from ops.reconciliation_findings f
         where f.status = 'open' and f.kind in ('amount_mismatch', 'payment_without_order') and f.object_id like 'pi\_%'
        union all
        select o.stripe_payment_intent_id from ops.reconciliation_findings f join public.orders o on o.id = f.order_id
         where f.status = 'open' and f.kind = 'order_without_payment' and o.stripe_payment_intent_id is not null
      ) ids where id <> all (coalesce(p_listed_payment_intents, '{}')) limit p_limit) x), '[]'::jsonb));
end
$$;


--
-- Name: reconcile_payment_intents(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_payment_intents(p_objects jsonb) RETURNS TABLE(id text, status text, amount bigint, amount_received bigint, currency text, order_ref text, created bigint, missing boolean)
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'payment_intents', '[]')) as x(
    id text, status text, amount bigint, amount_received bigint, currency text, order_ref text,
    created bigint, missing boolean)
$$;


--
-- Name: reconcile_record_checks(bigint, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_record_checks(p_job_id bigint, p_worker text, p_scope text, p_objects jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_reconcile_job(p_job_id, p_worker);
  c ops.reconciliation_checkpoints;
  verdicts jsonb;
  opened integer;
  resolved integer;
  summary jsonb;
begin
  select * into c from ops.reconciliation_checkpoints where scope = p_scope and run_job_id = j.id for update;
  if not found then
    raise exception 'no reconciliation run of job % in scope %', j.id, p_scope using errcode = 'no_data_found';
  end if;
  select coalesce(jsonb_agg(to_jsonb(v)), '[]') into verdicts
    from (select distinct on (x.kind, x.object_id) x.*
            from ops.reconcile_verdicts(p_objects
                                        || jsonb_build_object('not_before', extract(epoch from c.not_before)::bigint)) x
           order by x.kind, x.object_id, x.problem desc) v;
  with v as (
    select * from jsonb_to_recordset(verdicts) as x(kind text, object_id text, problem boolean, order_id uuid,
                                                      customer_id uuid, detail jsonb, next_action text)
  ), up as (
    insert into ops.reconciliation_findings as f (kind, object_id, order_id, customer_id, detail, next_action)
    select v.kind, v.object_id, v.order_id, v.customer_id, v.detail, v.next_action from v where v.problem
    on conflict (kind, object_id) do update
       set status = 'open', resolved_at = null, last_seen_at = now(), detail = excluded.detail,
           next_action = excluded.next_action, order_id = coalesce(excluded.order_id, f.order_id),
           customer_id = coalesce(excluded.customer_id, f.customer_id),
           -- a finding that comes back is found again
           found_at = case when f.status = 'resolved' then now() else f.found_at end
    returning f.xmax = 0 as inserted
  )
  select count(*) filter (where inserted) into opened from up;
  update ops.reconciliation_findings f
     set status = 'resolved', resolved_at = now(), last_seen_at = now(),
         detail = f.detail || jsonb_build_object('resolved_by', 'reconciliation: no longer seen')
    from jsonb_to_recordset(verdicts) as v(kind text, object_id text, problem boolean)
   where not v.problem and f.kind = v.kind and f.object_id = v.object_id and f.status = 'open';
  get diagnostics resolved = row_count;
  summary := c.run_stats || jsonb_build_object(
    'checked', jsonb_build_object('checkout_sessions', jsonb_array_length(coalesce(p_objects -> 'sessions', '[]')),
                                  'payment_intents', jsonb_array_length(coalesce(p_objects -> 'payment_intents', '[]')),
                                  'subscriptions', jsonb_array_length(coalesce(p_objects -> 'subscriptions', '[]'))),
    'findings_new', opened,
    'findings_resolved', resolved,
    'open_findings', coalesce((select jsonb_object_agg(k.kind, k.n) from (
        select f.kind, count(*) as n from ops.reconciliation_findings f where f.status = 'open' group by f.kind) k),
      '{}'::jsonb),
    'checkpoint', c.events_checked_until,
    'finished_at', now());
  update ops.reconciliation_checkpoints
     set last_finished_at = now(), last_summary = summary, run_stats = summary, updated_at = now()
   where scope = p_scope;
  return summary;
end
$$;


--
-- Name: reconcile_sessions(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_sessions(p_objects jsonb) RETURNS TABLE(id text, status text, payment_status text, mode text, amount_total bigint, currency text, payment_intent text, order_ref text, created bigint, missing boolean)
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'sessions', '[]')) as x(
    id text, status text, payment_status text, mode text, amount_total bigint, currency text,
    payment_intent text, order_ref text, created bigint, missing boolean)
$$;


--
-- Name: reconcile_subscriptions(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_subscriptions(p_objects jsonb) RETURNS TABLE(id text, status text, customer text, created bigint)
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'subscriptions', '[]')) as x(
    id text, status text, customer text, created bigint)
$$;


--
-- Name: reconcile_transfers(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_transfers(p_objects jsonb) RETURNS TABLE(id text, charge text, destination text, amount bigint, created bigint)
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'transfers', '[]')) as x(
    id text, charge text, destination text, amount bigint, created bigint)
$$;


--
-- Name: reconcile_verdicts(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts(p_objects jsonb) RETURNS TABLE(kind text, object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $_$
declare
  k ops.reconciliation_kinds;
begin
  for k in select * from ops.reconciliation_kinds rk order by rk.kind loop
    return query execute format('select $1, v.* from %s($2) v',
                                ops.registered_function(k.verdict_fn, 'reconciliation kind ' || k.kind))
      using k.kind, p_objects;
  end loop;
end
$_$;


--
-- Name: reconcile_verdicts_amount_mismatch(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_amount_mismatch(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select y.id,
         o.payment_confirmed
           and (o.amount_charged is distinct from y.charged or o.currency_charged is distinct from y.currency),
         o.id, null::uuid,
         jsonb_build_object('stripe_amount', y.charged, 'stripe_currency', y.currency,
                            'order_amount_charged', o.amount_charged, 'order_currency_charged', o.currency_charged,
                            'order_status', o.status),
         format('Stripe charged %s %s for order %s through %s %s, but the order records %s %s: compare both in the '
                'Stripe dashboard. If Stripe is right, re-send the payment''s events to the webhook from the '
                'dashboard (the order follows them); if the order was edited by hand, undo the edit.',
                y.charged, upper(y.currency), o.id, y.what, y.id, coalesce(o.amount_charged::text, 'no amount'),
                upper(coalesce(o.currency_charged, '-')))
    from (select s.id, 'checkout session' as what, s.amount_total as charged, s.currency
            from ops.reconcile_sessions(p_objects) s
           where not coalesce(s.missing, false) and coalesce(s.mode, 'payment') = 'payment'
             and s.payment_status = 'paid'
          union all
          select p.id, 'payment intent', p.amount_received, p.currency
            from ops.reconcile_payment_intents(p_objects) p
           where not coalesce(p.missing, false) and p.status = 'succeeded') y
    join public.orders o on o.stripe_checkout_session_id = y.id
                         or (o.stripe_checkout_session_id is null and o.stripe_payment_intent_id = y.id)
  union all
  select * from ops.reconcile_gone_verdicts('amount_mismatch', p_objects)
$$;


--
-- Name: reconcile_verdicts_billing_status_drift(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_billing_status_drift(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with sub as (
    select * from ops.reconcile_subscriptions(p_objects)
  ), expected_billing as (
    -- what each customer's billing is by Stripe's subscriptions (the highest precedence, as recompute_customer)
    select r.customer_id, (array_agg(ss.billing_status order by ss.precedence desc))[1] as billing_status
      from sub x join public.subscriptions r on r.stripe_subscription_id = x.id
      join ops.stripe_subscription_statuses ss on ss.stripe_status = x.status
     where r.customer_id is not null
     group by r.customer_id
  ), floor as (
    select to_timestamp((p_objects ->> 'not_before')::bigint) as at
  )
  select x.id,
         r.id is null or r.status is distinct from x.status or c.billing_status is distinct from eb.billing_status,
         null::uuid, r.customer_id,
         jsonb_build_object('stripe_status', x.status, 'stripe_customer', x.customer, 'our_status', r.status,
                            'billing_status', c.billing_status, 'expected_billing_status', eb.billing_status,
                            'access_status', c.access_status),
         format('Stripe says subscription %s (customer %s) is %s; we have %s, billing %s (expected %s): re-send the '
                'subscription''s latest event to the webhook from the Stripe dashboard; billing and access follow '
                'the mirror.',
                x.id, x.customer, x.status, coalesce('it ' || r.status, 'no such subscription'),
                coalesce(c.billing_status, 'unknown'), coalesce(eb.billing_status, 'unknown'))
    from sub x
    cross join floor
    left join public.subscriptions r on r.stripe_subscription_id = x.id
    left join public.customers c on c.id = r.customer_id
    left join expected_billing eb on eb.customer_id = r.customer_id
   where floor.at is null or to_timestamp(x.created) >= floor.at
  union all
  -- ours, live here, that Stripe no longer lists among subscriptions not canceled (canceled there, or gone)
  select r.stripe_subscription_id,
         r.status not in ('canceled', 'incomplete', 'incomplete_expired'),
         null::uuid, r.customer_id,
         jsonb_build_object('stripe_status', 'canceled or not found', 'our_status', r.status,
                            'billing_status', c.billing_status, 'access_status', c.access_status),
         format('Stripe no longer lists subscription %s among live ones (canceled or deleted there), but we have it '
                '%s and the customer''s billing %s (access %s): re-send its customer.subscription.deleted event '
                'from the Stripe dashboard, or check it there.',
                r.stripe_subscription_id, r.status, coalesce(c.billing_status, 'unknown'),
                coalesce(c.access_status, 'unknown'))
    from public.subscriptions r
    cross join floor
    left join public.customers c on c.id = r.customer_id
   where not exists (select 1 from sub x where x.id = r.stripe_subscription_id)
     and ((r.status not in ('canceled', 'incomplete', 'incomplete_expired')
           and (floor.at is null or r.created_at >= floor.at))
          or exists (select 1 from ops.reconciliation_findings f
                      where f.kind = 'billing_status_drift' and f.status = 'open'
                        and f.object_id = r.stripe_subscription_id))
$$;


--
-- Name: reconcile_verdicts_connect_transfer_missing(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_connect_transfer_missing(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with o as (
    select o.id, o.status, o.paid_at, o.payment_confirmed, a.stripe_account_id, sh.transfer_id, sh.transfer_amount,
           coalesce(sh.charge_id, (select p.latest_charge_id from ops.payment_intents p
                                    where p.stripe_payment_intent_id = o.stripe_payment_intent_id)) as charge
      from public.orders o
      left join public.seller_accounts a on a.seller_id = o.seller_id
      left join public.order_shares sh on sh.order_id = o.id
     where ((o.payment_confirmed and o.paid_at >= to_timestamp((p_objects ->> 'checks_from')::bigint)
             and o.paid_at <= now() - make_interval(secs => coalesce((p_objects ->> 'grace_seconds')::int, 0)))
            or exists (select 1 from ops.reconciliation_findings f
                        where f.kind = 'connect_transfer_missing' and f.status = 'open' and f.object_id = o.id::text))
       -- a destination charge: its charge said so, or checkout asked Stripe for one
       and (sh.destination_account_id is not null
            or exists (select 1 from ops.checkout_requests r where r.order_id = o.id
                        and r.session_params #> '{payment_intent_data,transfer_data,destination}' is not null))
  )
  -- the transfer object recorded (its amount), not only named by the charge
  select o.id::text, o.payment_confirmed and o.transfer_amount is null, o.id, null::uuid,
         jsonb_build_object('order_status', o.status, 'paid_at', o.paid_at, 'charge', o.charge,
                            'seller_account', o.stripe_account_id, 'stripe_transfer', t.id),
         case when t.id is not null then
           format('Paid order %s: Stripe made transfer %s (%s) from its charge %s to %s, but its transfer.created '
                  'event never reached us. In the Stripe dashboard (Developers > Events) resend the transfer''s '
                  'events to the webhook endpoint; the order''s share follows.',
                  o.id, t.id, t.amount, o.charge, t.destination)
         else
           format('Paid order %s (charge %s) has no transfer to the seller''s account %s: check in the Stripe '
                  'dashboard that the payment was a destination charge (Connect, transfer_data). If Stripe made no '
                  'transfer, pay the seller by a manual transfer to that account, or refund the buyer.',
                  o.id, coalesce(o.charge, 'unknown'), coalesce(o.stripe_account_id, 'none'))
         end
    from o
    left join lateral (select x.* from ops.reconcile_transfers(p_objects) x
                        where x.charge = o.charge or x.id = o.transfer_id order by x.created desc limit 1) t on true
$$;


--
-- Name: reconcile_verdicts_crm_deal_missing(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_crm_deal_missing(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select o.id::text,
         o.payment_confirmed and not exists (select 1 from ops.crm_deals d where d.order_id = o.id)
           and not exists (select 1 from ops.jobs jb where jb.queue_key = 'order:' || o.id and jb.kind = 'crm.deal'
                                                      and jb.status in ('queued', 'running', 'failed')),
         o.id, null::uuid,
         jsonb_build_object('order_status', o.status, 'paid_at', o.paid_at, 'last_deal_job', lj.id,
                            'last_deal_job_status', lj.status, 'last_deal_job_error', lj.last_error),
         case when lj.id is not null then
           format('Paid order %s has no CRM deal: its last crm.deal job %s is %s (%s). Fix the cause, then '
                  'select ops.replay_job(%s);',
                  o.id, lj.id, lj.status, coalesce(left(lj.last_error, 200), 'no error recorded'), lj.id)
         else
           format('Paid order %s has no CRM deal and no crm.deal job: select ops.enqueue_job(''crm.deal'', '
                  'jsonb_build_object(''order_id'', %L), ''crm.deal:%s:v%s'', p_queue_key => ''order:%s'');',
                  o.id, o.id::text, o.id, o.version, o.id)
         end
    from public.orders o
    left join lateral (select jb.id, jb.status, jb.last_error from ops.jobs jb
                        where jb.kind = 'crm.deal' and jb.payload ->> 'order_id' = o.id::text
                          and not exists (select 1 from ops.crm_deals d where d.order_id = o.id)
                        order by jb.id desc limit 1) lj on true
   where (o.payment_confirmed and o.paid_at >= to_timestamp((p_objects ->> 'checks_from')::bigint))
      or exists (select 1 from ops.reconciliation_findings f
                  where f.kind = 'crm_deal_missing' and f.status = 'open' and f.object_id = o.id::text)
$$;


--
-- Name: reconcile_verdicts_missing_event_recovered(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_missing_event_recovered(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select f.object_id, e.status not in ('processed', 'ignored'), null::uuid, null::uuid, f.detail, f.next_action
    from ops.reconciliation_findings f join ops.stripe_events e on e.event_id = f.object_id
   where f.kind = 'missing_event_recovered' and f.status = 'open'
$$;


--
-- Name: reconcile_verdicts_order_without_payment(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_order_without_payment(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select o.id::text,
         o.payment_confirmed and not (coalesce(ss.payment_status = 'paid' and not coalesce(ss.missing, false), false)
                                      or coalesce(pp.status = 'succeeded' and not coalesce(pp.missing, false), false)),
         o.id, null::uuid,
         jsonb_build_object('order_status', o.status, 'checkout_session', o.stripe_checkout_session_id,
                            'checkout_session_in_stripe',
                            case when ss.missing then 'not found' else ss.payment_status end,
                            'payment_intent', o.stripe_payment_intent_id,
                            'payment_intent_in_stripe', case when pp.missing then 'not found' else pp.status end),
         format('Order %s is %s but Stripe has no succeeded payment for it (session %s: %s; payment intent %s: %s): '
                'hold its fulfilment, look the payment up in the Stripe dashboard, and if it was never paid correct '
                'the order by hand and ask the buyer to pay.',
                o.id, o.status, coalesce(o.stripe_checkout_session_id, 'none'),
                case when ss.missing then 'not found' else coalesce(ss.payment_status, 'not checked') end,
                coalesce(o.stripe_payment_intent_id, 'none'),
                case when pp.missing then 'not found' else coalesce(pp.status, 'not checked') end)
    from public.orders o
    left join ops.reconcile_sessions(p_objects) ss on ss.id = o.stripe_checkout_session_id
    left join ops.reconcile_payment_intents(p_objects) pp on pp.id = o.stripe_payment_intent_id
   where ((o.payment_confirmed and o.paid_at >= to_timestamp((p_objects ->> 'checks_from')::bigint))
          or exists (select 1 from ops.reconciliation_findings f
                      where f.kind = 'order_without_payment' and f.status = 'open' and f.object_id = o.id::text))
     and (ss.id is not null or pp.id is not null
          or (o.stripe_checkout_session_id is null and o.stripe_payment_intent_id is null))
$$;


--
-- Name: reconcile_verdicts_payment_without_order(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_payment_without_order(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with s as (
    select * from ops.reconcile_sessions(p_objects)
  ), payments as (
    select ps.id, 'checkout session' as what, ps.payment_intent, ps.amount_total as charged, ps.currency, ps.order_ref
      from s ps
     where not coalesce(ps.missing, false) and coalesce(ps.mode, 'payment') = 'payment' and ps.payment_status = 'paid'
    union all
    select sp.id, 'payment intent', sp.id, sp.amount_received, sp.currency, sp.order_ref
      from ops.reconcile_payment_intents(p_objects) sp
     where not coalesce(sp.missing, false) and sp.status = 'succeeded'
       and not exists (select 1 from s where s.payment_intent = sp.id)
       and not exists (select 1 from ops.checkout_sessions c where c.stripe_payment_intent_id = sp.id)
  )
  select y.id,
         not exists (select 1 from public.orders o
                      where o.payment_confirmed
                        and (o.stripe_checkout_session_id = y.id or o.stripe_payment_intent_id = y.payment_intent))
           -- our mirrors know the payment paid: its order is in review or it is a double payment
           and not exists (select 1 from ops.checkout_sessions c join public.orders o on o.id = c.order_id
                            where c.stripe_checkout_session_id = y.id and c.payment_status = 'paid')
           and not exists (select 1 from ops.payment_intents pi join public.orders o on o.id = pi.order_id
                            where pi.stripe_payment_intent_id = y.payment_intent and pi.succeeded_at is not null),
         ord.id, null::uuid,
         jsonb_build_object('stripe_amount', y.charged, 'stripe_currency', y.currency, 'order_ref', y.order_ref,
                            'order_status', ord.status,
                            'ignored_events', (select jsonb_agg(jsonb_build_object('event_id', e.event_id,
                                                                                   'reason', e.ignored_reason))
                                                 from ops.stripe_events e
                                                where e.object_id = y.id and e.status = 'ignored')),
         case when ord.id is null then
           format('Stripe has a paid %s %s (%s %s) that no order of ours accounts for (it names %s) and whose events '
                  'never applied here: find the buyer in the Stripe dashboard, then match it to an order (re-send '
                  'its events if it names one) or refund it.',
                  y.what, y.id, y.charged, upper(y.currency), coalesce('order ' || y.order_ref, 'no order'))
         else
           format('Stripe says %s %s paid order %s (%s %s) but the order is %s: re-send the payment''s events to '
                  'the webhook from the Stripe dashboard (ops.stripe_events shows whether they were ignored, and '
                  'why), then check the order.',
                  y.what, y.id, ord.id, y.charged, upper(y.currency), ord.status)
         end
    from payments y
    left join public.orders ord on ord.id = ops.as_uuid(y.order_ref)
  union all
  select * from ops.reconcile_gone_verdicts('payment_without_order', p_objects)
$$;


--
-- Name: reconcile_verdicts_seller_payout_missing(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconcile_verdicts_seller_payout_missing(p_objects jsonb) RETURNS TABLE(object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select p.id, not exists (select 1 from public.seller_payouts x where x.id = p.id), null::uuid, null::uuid,
         jsonb_build_object('account', p.account, 'seller_id', a.seller_id, 'amount', p.amount, 'currency',
                            p.currency, 'status', p.status, 'arrival_date', to_timestamp(p.arrival_date)),
         format('Stripe lists payout %s (%s %s, %s) of the connected account %s (seller %s), which we never recorded: '
                'its payout events did not reach the Connect endpoint. Check that endpoint in the Stripe dashboard '
                '(Developers > Webhooks, events of connected accounts, payout.*) and resend the payout''s events.',
                p.id, p.amount, upper(p.currency), p.status, p.account, coalesce(a.seller_id::text, 'unknown'))
    from jsonb_to_recordset(coalesce(p_objects -> 'payouts', '[]')) as p(
           id text, account text, amount bigint, currency text, status text, created bigint, arrival_date bigint)
    left join public.seller_accounts a on a.stripe_account_id = p.account
   where to_timestamp(p.created) <= now() - make_interval(secs => coalesce((p_objects ->> 'grace_seconds')::int, 0))
$$;


--
-- Name: reconciliation_kinds_require_verdict_fn(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reconciliation_kinds_require_verdict_fn() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.verdict_fn := ops.require_function_shape(new.verdict_fn,
    '(jsonb) returns setof object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, '
    'next_action text', format('verdict_fn of reconciliation kind %s', new.kind));
  return new;
end
$$;


--
-- Name: record_connect_charge(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_connect_charge(evt jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  v_dest text := coalesce(ops.stripe_ref(c #> '{transfer_data,destination}'), ops.stripe_ref(c -> 'destination'));
  r jsonb;
begin
  if v_dest is null and ops.stripe_ref(c -> 'transfer') is null and ops.stripe_ref(c -> 'application_fee') is null then
    return;
  end if;
  perform ops.lock_connect_charge(c ->> 'id');
  insert into ops.connect_charges as x (charge_id, payment_intent_id, destination_account_id, transfer_id,
                                        application_fee_id, application_fee_amount, amount, currency,
                                        stripe_event_created)
  values (c ->> 'id', ops.stripe_ref(c -> 'payment_intent'), v_dest, ops.stripe_ref(c -> 'transfer'),
          ops.stripe_ref(c -> 'application_fee'), (c ->> 'application_fee_amount')::bigint, (c ->> 'amount')::bigint,
          lower(c ->> 'currency'), at)
  on conflict (charge_id) do update set
    payment_intent_id = coalesce(x.payment_intent_id, excluded.payment_intent_id),
    destination_account_id = coalesce(x.destination_account_id, excluded.destination_account_id),
    transfer_id = coalesce(x.transfer_id, excluded.transfer_id),
    application_fee_id = coalesce(x.application_fee_id, excluded.application_fee_id),
    application_fee_amount = coalesce(x.application_fee_amount, excluded.application_fee_amount),
    amount = coalesce(x.amount, excluded.amount),
    currency = coalesce(x.currency, excluded.currency),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now()
  where (x.payment_intent_id, x.destination_account_id, x.transfer_id, x.application_fee_id,
         x.application_fee_amount, x.amount, x.currency) is distinct from
        (coalesce(x.payment_intent_id, excluded.payment_intent_id),
         coalesce(x.destination_account_id, excluded.destination_account_id),
         coalesce(x.transfer_id, excluded.transfer_id), coalesce(x.application_fee_id, excluded.application_fee_id),
         coalesce(x.application_fee_amount, excluded.application_fee_amount), coalesce(x.amount, excluded.amount),
         coalesce(x.currency, excluded.currency));
  -- a refund with reverse_transfer names its reversal (an id, or the object when expanded)
  for r in select * from jsonb_array_elements(coalesce(c -> 'refunds' -> 'data', '[]'::jsonb)) loop
    if jsonb_typeof(r -> 'transfer_reversal') = 'object' then
      perform ops.upsert_transfer_reversal(
        (r -> 'transfer_reversal') || jsonb_build_object('source_refund', r ->> 'id'), ops.stripe_ref(c -> 'transfer'));
    elsif r ->> 'transfer_reversal' is not null then
      update public.seller_transfer_reversals x set refund_id = r ->> 'id'
       where x.id = r ->> 'transfer_reversal' and x.refund_id is null;
    end if;
  end loop;
  perform ops.refresh_order_share(c ->> 'id');
end
$$;


--
-- Name: record_crm_capture(text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_crm_capture(p_operation text, p_key text, p_body jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  insert into ops.crm_capture (operation, key, body) values (p_operation, p_key, p_body)
$$;


--
-- Name: record_crm_sync(bigint, text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_crm_sync(p_job_id bigint, p_worker text, p_adapter text, p_result jsonb) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
  contact jsonb;
  allowed uuid[];
begin
  -- a job records only its own entities: its customer, or its order and that order's buyer
  allowed := array_remove(array[
    (j.payload ->> 'customer_id')::uuid,
    (select c.id from public.orders o join public.customers c on c.user_id = o.buyer_id
      where o.id = (j.payload ->> 'order_id')::uuid)], null);
  for contact in select * from jsonb_array_elements(coalesce(p_result -> 'contacts', '[]'::jsonb)) loop
    continue when contact ->> 'customer_id' is null;
    if not (contact ->> 'customer_id')::uuid = any (allowed) then
      raise exception 'job % may not record customer %', p_job_id, contact ->> 'customer_id'
        using errcode = 'insufficient_privilege';
    end if;
    insert into ops.crm_contacts as x (customer_id, email, adapter, crm_contact_id, lifecycle_stage, synced_version)
    values ((contact ->> 'customer_id')::uuid, contact ->> 'email', p_adapter, contact ->> 'crm_id',
            contact ->> 'lifecycle_stage', coalesce((contact ->> 'version')::int, 0))
    on conflict (customer_id) do update set email = excluded.email, adapter = excluded.adapter,
      crm_contact_id = excluded.crm_contact_id, lifecycle_stage = excluded.lifecycle_stage,
      synced_version = excluded.synced_version, synced_at = now()
    -- an older sync never overwrites what a newer one recorded
    where excluded.synced_version >= x.synced_version;
  end loop;
  if p_result ? 'deal' then
    if (p_result -> 'deal' ->> 'order_id') is distinct from (j.payload ->> 'order_id') then
      raise exception 'job % may not record order %', p_job_id, p_result -> 'deal' ->> 'order_id'
        using errcode = 'insufficient_privilege';
    end if;
    insert into ops.crm_deals as x (order_id, adapter, crm_deal_id, stage, synced_version)
    values ((p_result -> 'deal' ->> 'order_id')::uuid, p_adapter, p_result -> 'deal' ->> 'crm_id',
            p_result -> 'deal' ->> 'stage', coalesce((p_result -> 'deal' ->> 'version')::int, 0))
    on conflict (order_id) do update set adapter = excluded.adapter, crm_deal_id = excluded.crm_deal_id,
      stage = excluded.stage, synced_version = excluded.synced_version, synced_at = now()
    where excluded.synced_version >= x.synced_version;
  end if;
end
$$;


--
-- Name: record_duplicate_delivery(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_duplicate_delivery(p_endpoint text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- a count, not a record: a crash may lose the last increments, a redelivery storm does not wait on WAL flushes
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  insert into ops.duplicate_deliveries as d (day, endpoint, count) values (current_date, p_endpoint, 1)
  on conflict (day, endpoint) do update set count = d.count + 1;
end
$$;


--
-- Name: record_email_event(text, text, text[], boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_email_event(p_event_id text, p_type text, p_emails text[], p_undeliverable boolean, p_detail text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  e text;
begin
  insert into ops.provider_events (provider, event_id, type) values ('resend', p_event_id, p_type)
  on conflict do nothing;
  if not found then
    return 'duplicate';
  end if;
  if not p_undeliverable then
    return 'ignored';
  end if;
  foreach e in array coalesce(p_emails, '{}') loop
    insert into ops.email_suppressions (email, reason, provider_event_id, detail)
    values (lower(trim(e)), case when p_type = 'email.complained' then 'complained' else 'bounced' end, p_event_id,
            left(p_detail, 500))
    on conflict (email) do nothing;
  end loop;
  return 'processed';
end
$$;


--
-- Name: record_endpoint_outcome(text, integer, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_status is null or p_status < 400 or p_status > 599 then
    raise exception 'only 4xx and 5xx answers are counted, not %', p_status using errcode = 'invalid_parameter_value';
  end if;
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  insert into ops.endpoint_outcomes as o (endpoint, minute, status_class, reason, count)
  values (p_endpoint, date_trunc('minute', now()), case when p_status < 500 then '4xx' else '5xx' end,
          coalesce(nullif(p_reason, ''), 'unknown'), 1)
  on conflict (endpoint, minute, status_class, reason) do update set count = o.count + 1;
end
$$;


--
-- Name: record_inbound_email(text, text, uuid, text, text, text, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_inbound_email(p_email_id text, p_delivery_id text, p_ticket_id uuid, p_sender text, p_sender_masked text, p_email_message_id text, p_body text, p_ignored_reason text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  reason text := left(nullif(trim(p_ignored_reason), ''), 500);
  body text := left(trim(p_body), 10000);
  v_ticket uuid;
  v_ref text;
  v_status text;
  v_requester uuid;
  v_email text;
  msg uuid;
begin
  if p_email_id is null or length(p_email_id) not between 1 and 255 then
    raise exception 'an inbound email needs Resend''s email id' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('inbound_email:' || p_email_id, 0));
  if exists (select 1 from ops.inbound_emails e where e.email_id = p_email_id) then
    return 'duplicate';
  end if;
  if reason is null then
    select x.id, x.ref, x.status, x.requester_id, lower(trim(u.email))
      into v_ticket, v_ref, v_status, v_requester, v_email
      from public.support_tickets x left join auth.users u on u.id = x.requester_id
     where x.id = p_ticket_id for update of x;
    if v_ticket is null then
      reason := 'the token names no ticket (deleted)';
    elsif v_email is null then
      reason := format('ticket %s has no requester address to match', v_ref);
    elsif v_email is distinct from lower(trim(p_sender)) then
      reason := format('the sender is not the requester of ticket %s', v_ref);
    elsif v_status = 'closed' then
      reason := format('ticket %s is closed: the requester opens a follow-up in the app', v_ref);
    elsif body is null or body = '' then
      reason := 'no text above the quoted history';
    end if;
  end if;
  if reason is null then
    -- visibility as the author trigger chooses for the requester (parties on a buyer/seller problem)
    insert into public.ticket_messages (ticket_id, author_id, author_kind, via, email_message_id, body, created_at)
    values (v_ticket, v_requester, 'requester', 'email', left(nullif(trim(p_email_message_id), ''), 998), body,
            clock_timestamp())
    returning id into msg;
  end if;
  insert into ops.inbound_emails (email_id, delivery_id, ticket_id, message_id, outcome, reason, sender_masked)
  values (p_email_id, left(p_delivery_id, 255),
          coalesce(v_ticket, (select x.id from public.support_tickets x where x.id = p_ticket_id)), msg,
          case when msg is null then 'ignored' else 'appended' end, reason, left(p_sender_masked, 320));
  return case when msg is null then 'ignored' else 'appended' end;
end
$$;


--
-- Name: record_notification(bigint, text, text, text, text, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_notification(p_job_id bigint, p_worker text, p_status text, p_adapter text, p_recipient text, p_provider_id text DEFAULT NULL::text, p_detail text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
begin
  insert into ops.notifications (job_id, dedupe_key, channel, template, entity, recipient, status, adapter,
                                 provider_id, detail)
  values (j.id, j.dedupe_key, split_part(j.kind, '.', 2), j.payload ->> 'template', j.payload ->> 'entity', p_recipient,
          p_status, p_adapter, p_provider_id, left(p_detail, 500))
  on conflict (dedupe_key) do update set status = excluded.status, adapter = excluded.adapter,
    provider_id = excluded.provider_id, detail = excluded.detail, job_id = excluded.job_id;
end
$$;


--
-- Name: record_notification_capture(text, text, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_notification_capture(p_channel text, p_key text, p_body jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  insert into ops.notification_captures (channel, key, body) values (p_channel, p_key, p_body)
  on conflict (key) do nothing
$$;


--
-- Name: record_status_change(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.record_status_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  old_status text := case when tg_op = 'UPDATE' then to_jsonb(old) ->> tg_argv[1] end;
  new_status text := to_jsonb(new) ->> tg_argv[1];
  row_json jsonb := to_jsonb(new);
  uid uuid := auth.uid();
  event_id text := nullif(current_setting('ops.stripe_event_id', true), '');
begin
  if new_status is distinct from old_status then
    insert into ops.status_changes (entity, from_status, to_status, stripe_event_id, changed_by, actor)
    values (tg_argv[0] || ':' || new.id, old_status, new_status, event_id, uid,
            coalesce(nullif(current_setting('ops.status_actor', true), ''),
                     case when uid is null and event_id is not null then 'stripe'
                          when uid is null then 'system:' || session_user
                          when private.is_admin() then 'admin'
                          when uid::text = row_json ->> 'seller_id' then 'seller'
                          when uid::text = row_json ->> 'buyer_id' then 'buyer'
                          when uid::text = row_json ->> 'requester_id' then 'requester'
                          else 'user' end));
  end if;
  return null;
end
$$;


--
-- Name: rederive_access(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.rederive_access(p_stripe_customer_id text) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update public.customers c set access_status = c.access_status
    from ops.stripe_customers m where m.stripe_customer_id = p_stripe_customer_id and c.id = m.customer_id
$$;


--
-- Name: refresh_order_share(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.refresh_order_share(p_charge_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  c ops.connect_charges;
  t ops.connect_transfers;
  f ops.connect_application_fees;
  v_pi text;
  o record;
begin
  if p_charge_id is null then
    return;
  end if;
  select * into c from ops.connect_charges x where x.charge_id = p_charge_id;
  select * into t from ops.connect_transfers x where x.charge_id = p_charge_id or x.transfer_id = c.transfer_id
   order by (x.transfer_id = c.transfer_id) desc nulls last, x.transfer_id limit 1;
  select * into f from ops.connect_application_fees x
   where x.charge_id = p_charge_id or x.fee_id = c.application_fee_id
   order by (x.fee_id = c.application_fee_id) desc nulls last, x.fee_id limit 1;
  if c.charge_id is null and t.transfer_id is null and f.fee_id is null then
    return; -- not a destination charge, or nothing of it known yet
  end if;
  v_pi := coalesce(c.payment_intent_id, (select p.stripe_payment_intent_id from ops.payment_intents p
                                          where p.latest_charge_id = p_charge_id order by 1 limit 1));
  if v_pi is null then
    return; -- its payment arrives later, and refreshes then
  end if;
  select x.id, x.seller_id, x.currency, x.stripe_payment_intent_id into o from public.orders x
   where x.id = ops.connect_charge_order(p_charge_id);
  if o.id is null or (o.stripe_payment_intent_id is not null and o.stripe_payment_intent_id <> v_pi) then
    return;
  end if;
  insert into public.order_shares as s (order_id, seller_id, destination_account_id, currency, charge_id,
                                        charge_amount, application_fee_id, application_fee_amount,
                                        application_fee_refunded, transfer_id, transfer_amount, transfer_reversed)
  values (o.id, o.seller_id, coalesce(c.destination_account_id, t.destination_account_id),
          coalesce(c.currency, t.currency, f.currency, o.currency), p_charge_id, c.amount,
          coalesce(f.fee_id, c.application_fee_id), coalesce(f.amount, c.application_fee_amount),
          coalesce(f.amount_refunded, 0), coalesce(t.transfer_id, c.transfer_id), t.amount,
          coalesce(t.amount_reversed, 0))
  on conflict (order_id) do update set
    seller_id = excluded.seller_id, destination_account_id = excluded.destination_account_id,
    currency = excluded.currency, charge_id = excluded.charge_id, charge_amount = excluded.charge_amount,
    application_fee_id = excluded.application_fee_id, application_fee_amount = excluded.application_fee_amount,
    application_fee_refunded = excluded.application_fee_refunded, transfer_id = excluded.transfer_id,
    transfer_amount = excluded.transfer_amount, transfer_reversed = excluded.transfer_reversed
  -- a replay changes nothing, not even updated_at
  where (s.seller_id, s.destination_account_id, s.currency, s.charge_id, s.charge_amount, s.application_fee_id,
         s.application_fee_amount, s.application_fee_refunded, s.transfer_id, s.transfer_amount, s.transfer_reversed)
        is distinct from
        (excluded.seller_id, excluded.destination_account_id, excluded.currency, excluded.charge_id,
         excluded.charge_amount, excluded.application_fee_id, excluded.application_fee_amount,
         excluded.application_fee_refunded, excluded.transfer_id, excluded.transfer_amount, excluded.transfer_reversed);
  update public.seller_transfer_reversals r set order_id = o.id, seller_id = o.seller_id
   where r.transfer_id = coalesce(t.transfer_id, c.transfer_id)
     and (r.order_id, r.seller_id) is distinct from (o.id, o.seller_id);
end
$$;


--
-- Name: register_stripe_customer(text, uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.register_stripe_customer(p_stripe_customer_id text, p_user_id uuid) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  m ops.stripe_customers;
  owner uuid;
begin
  if coalesce(p_stripe_customer_id, '') !~ '^cus_[A-Za-z0-9]+$' then
    raise exception 'not a Stripe customer id: %', left(p_stripe_customer_id, 64)
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if m.linked_by is not null then
    select c.user_id into owner from public.customers c where c.id = m.customer_id;
    if owner is distinct from p_user_id then
      raise exception 'Stripe customer % is linked to another user: the first claim stays (an admin may move it: '
                      'ops.link_stripe_customer)',
        p_stripe_customer_id using errcode = 'unique_violation';
    end if;
    return m.customer_id;
  end if;
  return ops.move_stripe_customer(p_stripe_customer_id, p_user_id, 'server', null);
end
$_$;


--
-- Name: FUNCTION register_stripe_customer(p_stripe_customer_id text, p_user_id uuid); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.register_stripe_customer(p_stripe_customer_id text, p_user_id uuid) IS 'Server: records a Stripe customer it created for a user (linked_by server; first claim wins).';


--
-- Name: registered_function(text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.registered_function(p_fn text, p_what text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  fn regprocedure := pg_catalog.to_regprocedure(p_fn);
begin
  if fn is null then
    raise exception '% names function %, which no longer exists', p_what, p_fn using errcode = 'undefined_function';
  end if;
  return fn::regproc::text;
end
$$;


--
-- Name: replay_job(bigint); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.replay_job(p_job_id bigint) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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


--
-- Name: replay_jobs(text, text, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.replay_jobs(p_status text DEFAULT 'dead'::text, p_kind text DEFAULT NULL::text, p_limit integer DEFAULT 1000) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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


--
-- Name: reply_to_ticket(text, text, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text DEFAULT 'studio'::text) RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  t public.support_tickets;
  body text := trim(p_body);
  agent text := nullif(trim(p_agent), '');
  msg uuid;
begin
  if body is null or body = '' then
    raise exception 'the reply is empty: write what the requester should read'
      using errcode = 'invalid_parameter_value';
  elsif length(body) > 10000 then
    raise exception 'the reply is longer than 10,000 characters' using errcode = 'invalid_parameter_value';
  elsif agent is null or length(agent) > 200 or agent ~ '[\r\n]' then
    raise exception 'name the agent who answers (p_agent: one line, at most 200 characters)'
      using errcode = 'invalid_parameter_value';
  elsif p_via is null or p_via not in ('studio', 'dashboard') then
    raise exception 'p_via must be studio or dashboard' using errcode = 'invalid_parameter_value';
  end if;
  select * into t from public.support_tickets x
   where x.id = ops.as_uuid(trim(p_ticket)) or x.ref = upper(trim(p_ticket))
   for update;
  if not found then
    raise exception 'no ticket %', left(p_ticket, 60) using errcode = 'no_data_found';
  elsif t.requester_id is null then
    raise exception 'ticket % has no requester (a system ticket): nobody to answer by email; '
      'write an internal note instead', t.ref using errcode = 'check_violation';
  elsif t.status = 'closed' then
    raise exception 'ticket % is closed: the requester opens a follow-up to continue', t.ref
      using errcode = 'check_violation';
  end if;
  -- clock_timestamp(): replies and inbound emails of one transaction keep their order in the thread
  insert into public.ticket_messages (ticket_id, author_id, author_kind, author_name, via, body, visibility, created_at)
  values (t.id, case when p_via = 'dashboard' then auth.uid() end, 'agent', agent, p_via, body,
          case when t.category in ('seller_problem', 'buyer_problem') then 'parties' else 'requester' end,
          clock_timestamp())
  returning id into msg;
  return msg;
end
$$;


--
-- Name: FUNCTION reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text) IS 'Answers a ticket as support: one agent message and one ticket_reply email to the requester. Usage (Studio): select ops.reply_to_ticket(''T-000012'', ''Your refund is on its way.'', ''Alice (support)'');';


--
-- Name: require_admin(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_admin() RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if not coalesce(private.is_admin(), false) then
    raise exception 'admins only: sign in with an account whose app_metadata.role is admin'
      using errcode = 'insufficient_privilege';
  end if;
end
$$;


--
-- Name: require_function_shape(text, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_function_shape(p_fn text, p_shape text, p_what text) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  fn regprocedure := pg_catalog.to_regprocedure(p_fn);
  fn_shape text := ops.function_shape(fn);
begin
  if fn_shape is null or fn_shape <> p_shape
     or (select p.pronamespace from pg_catalog.pg_proc p where p.oid = fn) <> 'ops'::regnamespace then
    raise exception '% must be a function of schema ops shaped %', p_what, p_shape
      using errcode = 'invalid_parameter_value',
            detail = format('%s is %s', p_fn, coalesce(fn_shape, 'no function')),
            hint = 'Name a function of that shape by schema, name and argument types (ops.f(jsonb)), '
                   'or create it first.';
  end if;
  return fn::text;
end
$$;


--
-- Name: require_held_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_held_job(p_job_id bigint, p_worker text) RETURNS ops.jobs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
begin
  if j.id is null then
    raise exception 'job % is not held by %', p_job_id, p_worker using errcode = 'lock_not_available';
  end if;
  return j;
end
$$;


--
-- Name: require_reason(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_reason(p_reason text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $$
begin
  if p_reason is null or length(btrim(p_reason)) = 0 then
    raise exception 'a reason is required: say why (it is kept in the audit log)'
      using errcode = 'invalid_parameter_value';
  end if;
  if length(btrim(p_reason)) > 1000 then
    raise exception 'the reason is at most 1,000 characters' using errcode = 'invalid_parameter_value';
  end if;
  return btrim(p_reason);
end
$$;


--
-- Name: require_reconcile_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_reconcile_job(p_job_id bigint, p_worker text) RETURNS ops.jobs
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
begin
  if j.kind <> 'reconcile' then
    raise exception 'job % is a % job, not a reconcile job', p_job_id, j.kind using errcode = 'insufficient_privilege';
  end if;
  return j;
end
$$;


--
-- Name: require_stripe_scope(ops.settings, boolean, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.require_stripe_scope(cfg ops.settings, p_livemode boolean, p_account_id text, p_who text) RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if p_livemode <> cfg.stripe_livemode or nullif(p_account_id, '') is distinct from cfg.stripe_account_id then
    raise exception '% takes % events (STRIPE_ACCOUNT_ID=%) but ops.settings says % (%): make them agree',
      p_who, case when p_livemode then 'live-mode' else 'test-mode' end, coalesce(nullif(p_account_id, ''), 'unset'),
      case when cfg.stripe_livemode then 'live mode' else 'test mode' end, coalesce(cfg.stripe_account_id, 'no account')
      using errcode = 'object_not_in_prerequisite_state';
  end if;
end
$$;


--
-- Name: resolve_customer_review(uuid, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.resolve_customer_review(p_customer_id uuid, p_note text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): the decision is kept with its reason' using errcode = 'invalid_parameter_value';
  end if;
  update public.customers set needs_review = false where id = p_customer_id;
  if not found then
    raise exception 'no customer %', p_customer_id using errcode = 'no_data_found';
  end if;
  update ops.stripe_customers set reviewed_at = now(), reviewed_note = left(trim(p_note), 1000)
   where customer_id = p_customer_id;
end
$$;


--
-- Name: FUNCTION resolve_customer_review(p_customer_id uuid, p_note text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.resolve_customer_review(p_customer_id uuid, p_note text) IS 'Admin: a customer row in review stays as it is. Usage: select ops.resolve_customer_review(''<customer id>'', ''why'');';


--
-- Name: resolve_order_review(uuid, boolean, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.resolve_order_review(p_order_id uuid, p_accept boolean, p_note text, p_decided_by text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  o public.orders;
  subject record;
begin
  if p_order_id is null or p_accept is null or nullif(trim(p_note), '') is null then
    raise exception 'resolve_order_review(order_id, accept, note): the order, accept (true or false) and a note saying '
                    'why are required'
      using errcode = 'invalid_parameter_value';
  end if;
  select * into o from public.orders where id = p_order_id for update;
  if not found then
    raise exception 'no order %', p_order_id using errcode = 'no_data_found';
  end if;
  select * into subject from ops.order_payments(o.id) x where x.review is not null
   order by x.blocking desc, x.role = 'paying' desc, x.payment_ref limit 1;
  if not found then
    if not o.needs_review then
      raise exception 'order % has nothing to review', p_order_id using errcode = 'no_data_found';
    end if;
    insert into ops.order_reviews (order_id, payment_ref, accepted, reason, note, decided_by)
    values (o.id, null, p_accept, o.review_reason, trim(p_note), coalesce(p_decided_by, current_user));
    update public.orders set needs_review = false, review_reason = null where id = o.id;
    return o.status;
  end if;
  if not p_accept and subject.role = 'paying' and not subject.blocking then
    raise exception 'order %: its payment % is confirmed and cannot be refused; refund it in Stripe (the order follows '
                    'the refund), or accept to clear the review',
      p_order_id, subject.payment_ref using errcode = 'check_violation';
  end if;
  insert into ops.order_reviews (order_id, payment_ref, accepted, reason, note, decided_by)
  values (o.id, subject.payment_ref, p_accept, subject.review, trim(p_note), coalesce(p_decided_by, current_user));
  return ops.recompute_order(o.id);
end
$$;


--
-- Name: retention_policies_require_purge_fn(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.retention_policies_require_purge_fn() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.purge_fn := ops.require_function_shape(new.purge_fn, '(interval) returns bigint',
                                             format('purge_fn of retention policy %s', new.name));
  return new;
end
$$;


--
-- Name: retry_failed_stripe_event(text, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.retry_failed_stripe_event(p_event_id text, p_max_attempts integer DEFAULT 5) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    SET lock_timeout TO '3s'
    AS $$
declare
  v_attempts integer;
  v_state text;
  v_message text;
begin
  select e.attempts into v_attempts from ops.stripe_events e where e.event_id = p_event_id and e.status = 'failed';
  if not found then
    return null;
  end if;
  if v_attempts < p_max_attempts then
    begin
      perform ops.try_apply_stripe_event(p_event_id);
    exception when others then
      -- only passing conditions reach here (ops.try_apply_stripe_event records every verdict)
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'Stripe event % not retried this time (%: %); the next run tries it again', p_event_id, v_state,
        v_message;
      return 'failed';
    end;
  end if;
  update ops.stripe_events set status = 'dead'
   where event_id = p_event_id and status = 'failed' and attempts >= p_max_attempts;
  return (select e.status from ops.stripe_events e where e.event_id = p_event_id);
end
$$;


--
-- Name: route_ticket(text, text, text, bigint, bigint, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.route_ticket(p_category text, p_billing_status text, p_plan text, p_order_amount bigint, p_lifetime_value bigint, p_vip boolean, OUT queue text, OUT priority text, OUT tags text[]) RETURNS record
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with matched as (
    select r.* from ops.support_routing_rules r
     where r.enabled
       and (r.match_categories is null or p_category = any (r.match_categories))
       and (r.match_billing_statuses is null or p_billing_status = any (r.match_billing_statuses))
       and (r.match_plans is null or p_plan = any (r.match_plans))
       and (r.min_order_amount is null or coalesce(p_order_amount, 0) >= r.min_order_amount)
       and (r.min_lifetime_value is null or coalesce(p_lifetime_value, 0) >= r.min_lifetime_value)
       and (r.match_vip is null or coalesce(p_vip, false) = r.match_vip)
  )
  select coalesce((select m.set_queue from matched m where m.set_queue is not null order by m.position, m.id limit 1),
                  'general'),
         coalesce((select m.set_priority from matched m join ops.support_priorities p on p.priority = m.set_priority
                    order by p.rank desc limit 1), 'normal'),
         coalesce((select array_agg(distinct t order by t) from matched m, unnest(m.add_tags) t), '{}')
$$;


--
-- Name: run_alert_evaluation(timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.run_alert_evaluation(p_now timestamp with time zone DEFAULT now()) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  n integer;
begin
  select count(*) into n from ops.evaluate_alerts(p_now);
  perform ops.ping_heartbeat();
  return n;
end
$$;


--
-- Name: FUNCTION run_alert_evaluation(p_now timestamp with time zone); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.run_alert_evaluation(p_now timestamp with time zone) IS 'pg_cron''s alert job: ops.evaluate_alerts(p_now), then the dead-man''s switch ping (ops.ping_heartbeat); returns the number of rules evaluated.';


--
-- Name: run_retention_policies(boolean, interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.run_retention_policies(p_personal_only boolean, p_personal_keep interval DEFAULT NULL::interval) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  p ops.retention_policies;
  personal_keep interval := coalesce(p_personal_keep,
                                     make_interval(days => (ops.current_settings()).personal_data_retention_days));
  report jsonb := '{}'::jsonb;
  errors jsonb := '{}'::jsonb;
  n bigint;
  failure text;
begin
  for p in select * from ops.retention_policies rp
            where rp.enabled and (rp.keep is null or not p_personal_only) order by rp.name loop
    begin
      execute format('select %s($1)', ops.registered_function(p.purge_fn, 'retention policy ' || p.name))
         into n using coalesce(p.keep, personal_keep);
      report := report || jsonb_build_object(p.name, n);
    exception when others then
      get stacked diagnostics failure = message_text;
      raise warning 'retention policy %: its purge % failed: %', p.name, p.purge_fn, failure;
      report := report || jsonb_build_object(p.name, null);
      errors := errors || jsonb_build_object(p.name, failure);
    end;
  end loop;
  return report || case when errors <> '{}'::jsonb then jsonb_build_object('errors', errors) else '{}'::jsonb end;
end
$_$;


--
-- Name: run_support_ticket_job(bigint, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.run_support_ticket_job(p_job_id bigint, p_worker text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
  case_name text := j.payload ->> 'case';
  the_case text;
  d ops.disputes;
  o public.orders;
  t public.support_tickets;
  note text;
begin
  if case_name = 'dispute' then
    select * into d from ops.disputes where stripe_dispute_id = j.payload ->> 'dispute_id';
    if not found then
      raise exception 'dispute % is not known', j.payload ->> 'dispute_id' using errcode = 'no_data_found';
    end if;
    select * into o from public.orders where stripe_payment_intent_id = d.stripe_payment_intent_id
     order by created_at limit 1;
    the_case := 'dispute:' || d.stripe_dispute_id;
    note := format('Dispute %s is %s: %s %s, reason %s%s.', d.stripe_dispute_id, j.payload ->> 'status',
      coalesce(d.amount::text, '?'), upper(coalesce(d.currency, '')), coalesce(d.reason, 'not given'),
      coalesce(', evidence due by ' || to_char(d.evidence_due_by at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), ''));
  elsif case_name = 'payment_failed' then
    select * into o from public.orders where id = ops.as_uuid(j.payload ->> 'order_id');
    if not found then
      raise exception 'order % is not known', j.payload ->> 'order_id' using errcode = 'no_data_found';
    end if;
    the_case := 'payment_failed:' || coalesce(j.payload ->> 'event_id', o.id::text);
    note := format('A payment for order %s failed: %s.', upper(left(o.id::text, 8)),
      coalesce((select pi.last_error from ops.payment_intents pi
                where pi.stripe_payment_intent_id = o.stripe_payment_intent_id), 'no reason given'));
  else
    raise exception 'unknown ticket case %', case_name using errcode = 'invalid_parameter_value';
  end if;

  -- the case's live ticket: the first, or the follow-up of a closed one (<case>:<job id>)
  select * into t from public.support_tickets x where x.case_key = the_case or starts_with(x.case_key, the_case || ':')
   order by x.status <> 'closed' desc, x.created_at desc limit 1;
  if t.id is not null and t.status <> 'closed' then
    -- the same case again: a note (which reopens a solved ticket)
    insert into public.ticket_messages (ticket_id, author_id, author_kind, body) values (t.id, null, 'system', note);
    return jsonb_build_object('ticket_id', t.id, 'ref', t.ref, 'created', false);
  end if;
  insert into public.support_tickets (source, category, subject, requester_id, order_id, case_key,
                                      follow_up_of, context)
  values ('system', case_name,
          case case_name when 'dispute' then format('Dispute on order %s: %s', upper(left(o.id::text, 8)),
                                                    coalesce(d.reason, 'no reason'))
                         else format('Payment failed for order %s', upper(left(o.id::text, 8))) end,
          -- a dispute is between the founder and the bank: its ticket is not the buyer's to read
          case when case_name = 'payment_failed' then o.buyer_id end,
          o.id,
          case when t.id is null then the_case else the_case || ':' || j.id end,
          t.id,
          jsonb_build_object('stripe_event_id', j.payload ->> 'event_id', 'dispute_id', d.stripe_dispute_id,
                             'evidence_due_by', d.evidence_due_by))
  returning * into t;
  insert into public.ticket_messages (ticket_id, author_id, author_kind, body) values (t.id, null, 'system', note);
  return jsonb_build_object('ticket_id', t.id, 'ref', t.ref, 'created', true);
end
$$;


--
-- Name: seller_accounts_enqueue_crm_sync(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.seller_accounts_enqueue_crm_sync() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_status text := ops.seller_crm_status(new);
begin
  perform ops.enqueue_job('crm.seller', jsonb_build_object('seller_id', new.seller_id),
    format('crm.seller:%s:%s:%s', new.seller_id, v_status,
           (extract(epoch from coalesce(new.updated_at, now())) * 1000000)::bigint),
    p_correlation_id => new.stripe_account_id,
    p_queue_key => 'seller:' || new.seller_id);
  return null;
end
$$;


--
-- Name: seller_accounts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seller_accounts (
    seller_id uuid NOT NULL,
    stripe_account_id text NOT NULL,
    livemode boolean DEFAULT false NOT NULL,
    country text,
    charges_enabled boolean DEFAULT false NOT NULL,
    payouts_enabled boolean DEFAULT false NOT NULL,
    details_submitted boolean DEFAULT false NOT NULL,
    requirements_currently_due text[] DEFAULT '{}'::text[] NOT NULL,
    requirements_past_due text[] DEFAULT '{}'::text[] NOT NULL,
    requirements_eventually_due text[] DEFAULT '{}'::text[] NOT NULL,
    current_deadline timestamp with time zone,
    disabled_reason text,
    stripe_updated_at timestamp with time zone,
    due_notified_at timestamp with time zone,
    past_due_notified_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deauthorized_at timestamp with time zone,
    CONSTRAINT seller_accounts_stripe_account_id_check CHECK ((stripe_account_id ~ '^acct_[A-Za-z0-9]+$'::text))
);


--
-- Name: TABLE seller_accounts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.seller_accounts IS 'Each seller''s Stripe connected account (created once by seller-onboarding) and its state from account.updated: charges and payouts enabled, requirements due and past due, the disabled reason. Sellers read their own row, admins all; only the server writes.';


--
-- Name: COLUMN seller_accounts.deauthorized_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.seller_accounts.deauthorized_at IS 'When the seller disconnected their account from the platform (account.application.deauthorized): final, the seller can no longer be paid.';


--
-- Name: seller_crm_status(public.seller_accounts); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.seller_crm_status(a public.seller_accounts) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case
    when a.disabled_reason like 'rejected.%' then 'disabled'
    when a.charges_enabled and a.payouts_enabled and cardinality(a.requirements_past_due) = 0 then 'active'
    when a.details_submitted or a.charges_enabled or a.payouts_enabled or a.disabled_reason is not null
         or cardinality(a.requirements_past_due) > 0 then 'restricted'
    else 'onboarding'
  end
$$;


--
-- Name: seller_onboarding_begin(uuid, boolean, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  u auth.users;
  p public.profiles;
  a public.seller_accounts;
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the seller-onboarding key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'SO401';
  end if;
  if coalesce(u.is_anonymous, false) then
    raise exception 'anonymous sessions cannot sell: sign up with an email first' using errcode = 'SO403';
  end if;
  select * into p from public.profiles where id = p_user_id;
  if not found or p.role is distinct from 'seller' then
    raise exception 'only sellers get a payout account: ask the platform to make your account a seller'
      using errcode = 'SO403';
  end if;
  select * into a from public.seller_accounts where seller_id = p_user_id;
  if a.deauthorized_at is not null then
    raise exception 'your Stripe account was disconnected from this platform: contact support to connect a new one'
      using errcode = 'SO409';
  end if;
  if a.seller_id is null and p.country is null then
    raise exception 'set your country first (profiles.country, e.g. US or FR): your payout account is created '
      'in it and cannot move' using errcode = 'SO409';
  end if;
  if a.seller_id is null and nullif(trim(u.email), '') is null then
    raise exception 'your account has no email address: add one first' using errcode = 'SO409';
  end if;
  return jsonb_build_object('email', lower(trim(u.email)), 'country', coalesce(a.country, p.country),
    'stripe_account_id', a.stripe_account_id, 'charges_enabled', coalesce(a.charges_enabled, false),
    'payouts_enabled', coalesce(a.payouts_enabled, false), 'details_submitted', coalesce(a.details_submitted, false));
end
$$;


--
-- Name: FUNCTION seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text) IS 'seller-onboarding function: who the seller is, their country and email, and their recorded account (refusals: SQLSTATE SO<status>).';


--
-- Name: seller_onboarding_record(uuid, jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.seller_onboarding_record(p_user_id uuid, p_account jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  a public.seller_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = p_user_id and p.role = 'seller') then
    raise exception 'only sellers get a payout account' using errcode = 'SO403';
  end if;
  insert into public.seller_accounts (seller_id, stripe_account_id, livemode, country, charges_enabled,
                                      payouts_enabled, details_submitted)
  values (p_user_id, p_account ->> 'id', coalesce((p_account ->> 'livemode')::boolean, false),
          p_account ->> 'country', coalesce((p_account ->> 'charges_enabled')::boolean, false),
          coalesce((p_account ->> 'payouts_enabled')::boolean, false),
          coalesce((p_account ->> 'details_submitted')::boolean, false))
  on conflict (seller_id) do nothing;
  select * into a from public.seller_accounts where seller_id = p_user_id;
  return jsonb_build_object('stripe_account_id', a.stripe_account_id, 'charges_enabled', a.charges_enabled,
    'payouts_enabled', a.payouts_enabled, 'details_submitted', a.details_submitted);
end
$$;


--
-- Name: FUNCTION seller_onboarding_record(p_user_id uuid, p_account jsonb); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.seller_onboarding_record(p_user_id uuid, p_account jsonb) IS 'seller-onboarding function: records the seller''s connected account once; answers the recorded one.';


--
-- Name: set_user_role(uuid, text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.set_user_role(p_user_id uuid, p_role text, p_note text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_role is null or p_role not in ('buyer', 'seller') then
    raise exception 'role must be buyer or seller (admins are app_metadata.role)'
      using errcode = 'invalid_parameter_value';
  end if;
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): role changes are audited' using errcode = 'invalid_parameter_value';
  end if;
  if p_role = 'seller' and exists (select 1 from auth.users u where u.id = p_user_id and u.is_anonymous) then
    raise exception 'an anonymous user cannot sell: they must sign up first' using errcode = 'check_violation';
  end if;
  perform set_config('ops.role_note', left(trim(p_note), 1000), true);
  update public.profiles set role = p_role where id = p_user_id;
  if not found then
    raise exception 'no profile for user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform set_config('ops.role_note', '', true);
  return p_role;
end
$$;


--
-- Name: FUNCTION set_user_role(p_user_id uuid, p_role text, p_note text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.set_user_role(p_user_id uuid, p_role text, p_note text) IS 'Server/admin: make a user a seller (or a buyer again), with the reason; audited in ops.role_grants. Usage: select ops.set_user_role(''<user id>'', ''seller'', ''why'');';


--
-- Name: settings_track_live_since(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.settings_track_live_since() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if not new.stripe_livemode then
    new.stripe_live_since := null;
  elsif tg_op = 'INSERT' or not old.stripe_livemode then
    -- an explicit value in the same statement (a restore, a test's clock) is kept
    new.stripe_live_since := coalesce(case when tg_op = 'UPDATE'
                                                and new.stripe_live_since is distinct from old.stripe_live_since
                                           then new.stripe_live_since end, now());
  end if;
  return new;
end
$$;


--
-- Name: stripe_event_scope_problem(jsonb, ops.settings); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.stripe_event_scope_problem(evt jsonb, s ops.settings) RETURNS text
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select case
    when coalesce(evt -> 'livemode' = 'true'::jsonb, false) <> s.stripe_livemode
      then format('a %s-mode event; this project takes %s-mode events only (ops.settings.stripe_livemode)',
                  case when s.stripe_livemode then 'test' else 'live' end,
                  case when s.stripe_livemode then 'live' else 'test' end)
    when evt ->> 'account' is null or evt ->> 'account' = s.stripe_account_id
      then null
    when exists (select 1 from public.seller_accounts a where a.stripe_account_id = evt ->> 'account')
      then null
    else format('an event of the connected account %s, which is not one of our sellers'' accounts; this project '
                'takes events of the platform (%s) and its sellers'' connected accounts only', evt ->> 'account',
                coalesce(s.stripe_account_id, 'ops.settings.stripe_account_id is not set'))
  end
$$;


--
-- Name: stripe_event_type_applied(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.stripe_event_type_applied(p_type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select p_type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                    'checkout.session.async_payment_failed', 'checkout.session.expired',
                    'payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled',
                    'charge.refunded', 'charge.succeeded', 'charge.captured',
                    'refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated',
                    'invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed',
                    'customer.subscription.created', 'customer.subscription.updated',
                    'customer.subscription.deleted', 'customer.subscription.paused',
                    'customer.subscription.resumed', 'customer.created', 'customer.updated', 'customer.deleted',
                    'transfer.created', 'transfer.updated', 'transfer.reversed',
                    'application_fee.created', 'application_fee.refunded')
         or p_type like 'charge.dispute.%'
$$;


--
-- Name: stripe_payload_skeleton(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.stripe_payload_skeleton(evt jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select jsonb_strip_nulls(jsonb_build_object(
    'id', evt -> 'id', 'object', evt -> 'object', 'type', evt -> 'type', 'created', evt -> 'created',
    'livemode', evt -> 'livemode', 'api_version', evt -> 'api_version', 'account', evt -> 'account',
    'data', jsonb_build_object('object', (
      select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
           || jsonb_strip_nulls(jsonb_build_object('metadata', nullif(jsonb_strip_nulls(jsonb_build_object(
                'order_id', evt -> 'data' -> 'object' -> 'metadata' -> 'order_id',
                'user_id', evt -> 'data' -> 'object' -> 'metadata' -> 'user_id')), '{}'::jsonb)))
        from jsonb_each(case when jsonb_typeof(evt -> 'data' -> 'object') = 'object' then evt -> 'data' -> 'object'
                        else '{}' end) f
       where jsonb_typeof(f.value) in ('string', 'number', 'boolean')
         and f.key in ('id', 'object', 'status', 'payment_status', 'mode', 'livemode', 'created', 'currency',
                       'amount', 'amount_total', 'amount_subtotal', 'amount_received', 'amount_capturable',
                       'amount_refunded', 'amount_paid', 'amount_due', 'amount_remaining', 'total', 'subtotal',
                       'refunded', 'paid', 'captured', 'disputed', 'reason', 'client_reference_id',
                       'customer', 'payment_intent', 'latest_charge', 'charge', 'invoice', 'subscription',
                       'cancel_at_period_end', 'canceled_at', 'ended_at', 'current_period_end')))))
$$;


--
-- Name: stripe_ref(jsonb); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.stripe_ref(v jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select case jsonb_typeof(v) when 'string' then v #>> '{}' when 'object' then v ->> 'id' end
$$;


--
-- Name: stripe_webhook_refusal(text, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.stripe_webhook_refusal(p_status_class text, p_reason text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select p_status_class = '4xx' and p_reason is distinct from 'signed_payload'
$$;


--
-- Name: FUNCTION stripe_webhook_refusal(p_status_class text, p_reason text); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.stripe_webhook_refusal(p_status_class text, p_reason text) IS 'Whether a counted stripe-webhook answer (ops.endpoint_outcomes) is a refusal anyone can cause without the signing secret (webhook_refusals), rather than a failure after a valid signature (webhook_failure_rate).';


--
-- Name: support_context(uuid, uuid); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.support_context(p_user_id uuid, p_order_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with c as (
    select c.id, c.billing_status, c.access_status from public.customers c where c.user_id = p_user_id
  ), sub as (
    select s.price_id, s.status from public.subscriptions s join c on s.customer_id = c.id
     order by (s.status in ('active', 'trialing', 'past_due')) desc, s.current_period_end desc nulls last limit 1
  ), o as (
    select o.id, o.status, o.amount_total, o.currency, o.amount_refunded, o.paid_at, o.needs_review
      from public.orders o where o.id = p_order_id
  ), last_job as (
    -- two index lookups (jobs_order_recent_idx, jobs_customer_recent_idx), not a scan of ops.jobs
    select x.* from (
      (select j.kind, j.status, j.updated_at, j.last_error from ops.jobs j
        where j.payload ? 'order_id' and j.payload ->> 'order_id' = p_order_id::text
        order by j.updated_at desc limit 1)
      union all
      (select j.kind, j.status, j.updated_at, j.last_error from ops.jobs j
        where j.payload ? 'customer_id' and j.payload ->> 'customer_id' = (select c.id::text from c)
        order by j.updated_at desc limit 1)
    ) x order by x.updated_at desc limit 1
  )
  select jsonb_strip_nulls(jsonb_build_object(
    'customer_id', (select id from c),
    'billing_status', coalesce((select billing_status from c), 'lead'),
    'access_status', coalesce((select access_status from c), 'blocked'),
    'plan', (select price_id from sub),
    'subscription_status', (select status from sub),
    'order', (select jsonb_build_object('id', o.id, 'payment_state', o.status, 'amount_total', o.amount_total,
                'currency', o.currency, 'amount_refunded', o.amount_refunded, 'paid_at', o.paid_at,
                'in_review', o.needs_review) from o),
    'lifetime_value', (select coalesce(sum(o2.amount_total - o2.amount_refunded), 0) from public.orders o2
                        where o2.buyer_id = p_user_id and o2.paid_at is not null),
    'vip', exists (select 1 from ops.support_vips v where v.user_id = p_user_id),
    'last_pipeline_action', (select jsonb_build_object('kind', kind, 'status', status, 'at', updated_at, 'error',
                                                       left(last_error, 200))
                               from last_job)
  ))
$$;


--
-- Name: support_tickets_guard(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.support_tickets_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if new.status is distinct from old.status then
    if old.status = 'closed' then
      raise exception 'ticket % is closed; a new message opens a follow-up ticket', old.ref
        using errcode = 'check_violation';
    end if;
    if new.status = 'open' and old.status = 'solved' then
      new.reopened_count := old.reopened_count + 1;
    end if;
    new.solved_at := case when new.status = 'solved' then now() when new.status in ('open', 'pending') then null
      else old.solved_at end;
    new.closed_at := case when new.status = 'closed' then now() else null end;
  end if;
  return new;
end
$$;


--
-- Name: support_tickets_notify(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.support_tickets_notify() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if new.source = 'app' and new.requester_id is not null then
    perform ops.enqueue_notification('email', 'support_ack', 'ticket:' || new.id, 'user:' || new.requester_id);
  end if;
  perform ops.enqueue_notification('email', 'founder_new_ticket', 'ticket:' || new.id, 'founder');
  return null;
end
$$;


--
-- Name: support_tickets_prepare(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.support_tickets_prepare() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  ctx jsonb;
  route record;
  earlier text;
  ord record;
begin
  if new.source = 'app' then
    if session_user <> 'support_intake' then
      raise exception 'support requests are opened through the support-intake function, not the Data API'
        using errcode = 'insufficient_privilege';
    end if;
    if new.category not in ('billing', 'order', 'technical', 'account', 'other', 'seller_problem',
                            'buyer_problem') then
      raise exception 'category must be one of billing, order, technical, account, other, seller_problem, '
        'buyer_problem' using errcode = 'check_violation';
    end if;
    new.requester_id := auth.uid();
    if new.requester_id is null then
      raise exception 'a support request needs a signed-in user' using errcode = 'insufficient_privilege';
    end if;
    if new.category in ('seller_problem', 'buyer_problem') then
      if new.order_id is null then
        raise exception 'a % request names the order it is about (order_id)', new.category
          using errcode = 'check_violation';
      end if;
      select x.buyer_id, x.seller_id into ord from public.orders x where x.id = new.order_id;
      if not found then
        raise exception 'order % does not exist', new.order_id using errcode = 'no_data_found';
      elsif new.category = 'seller_problem' and ord.buyer_id is distinct from new.requester_id then
        raise exception 'order % is not an order you bought: a problem with the seller is reported by the buyer',
          new.order_id using errcode = 'insufficient_privilege';
      elsif new.category = 'buyer_problem' and ord.seller_id is distinct from new.requester_id then
        raise exception 'order % is not an order you sold: a problem with the buyer is reported by the seller',
          new.order_id using errcode = 'insufficient_privilege';
      end if;
    elsif new.order_id is not null and not exists (
      select 1 from public.orders o where o.id = new.order_id and o.buyer_id = new.requester_id
    ) then
      raise exception 'order % is not one of your orders', new.order_id using errcode = 'insufficient_privilege';
    end if;
    -- a double tap: the same user, order and category within 10 minutes is the same request
    perform pg_advisory_xact_lock(hashtext('support_request:' || new.requester_id::text));
    if new.idempotency_key is null then
      select t.idempotency_key into earlier from public.support_tickets t
       where t.requester_id = new.requester_id and t.source = 'app' and t.category = new.category
         and t.order_id is not distinct from new.order_id and t.created_at > now() - interval '10 minutes'
       order by t.created_at desc limit 1;
      new.idempotency_key := coalesce(earlier, 'auto:' || gen_random_uuid());
    end if;
    perform set_config('support.request_key', new.idempotency_key, true);
    -- a follow-up continues one of the requester's own closed tickets
    if new.follow_up_of is not null and not exists (
      select 1 from public.support_tickets c
       where c.id = new.follow_up_of and c.requester_id = new.requester_id and c.status = 'closed'
    ) then
      raise exception 'ticket % is not one of your closed tickets', new.follow_up_of
        using errcode = 'insufficient_privilege';
    end if;
    new.status := 'open';
    new.case_key := null;
  end if;
  ctx := ops.support_context(new.requester_id, new.order_id);
  new.customer_id := coalesce(new.customer_id, (ctx ->> 'customer_id')::uuid);
  route := ops.route_ticket(new.category, ctx ->> 'billing_status', ctx ->> 'plan',
    (ctx -> 'order' ->> 'amount_total')::bigint, (ctx ->> 'lifetime_value')::bigint, (ctx ->> 'vip')::boolean);
  new.queue := route.queue;
  new.priority := route.priority;
  new.tags := array(select distinct t from unnest(route.tags || array[
    'plan:' || coalesce(ctx ->> 'plan', 'none'),
    'payment:' || coalesce(ctx -> 'order' ->> 'payment_state', ctx ->> 'billing_status')
  ]) t order by t);
  -- `-` binds tighter than `||`: without the parentheses customer_id stayed (it is a column already)
  new.context := (ctx || coalesce(new.context, '{}'::jsonb)) - 'customer_id';
  new.ref := 'T-' || lpad(nextval('ops.support_ticket_ref_seq')::text, 6, '0');
  new.reopened_count := 0;
  new.last_message_at := now();
  return new;
end
$$;


--
-- Name: sweep_dunning(timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.sweep_dunning(p_now timestamp with time zone DEFAULT now()) RETURNS jsonb
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  s ops.settings := ops.current_settings();
  days integer[] := array(select d from unnest(s.dunning_reminder_days) d order by d);
  c ops.dunning_cases;
  due integer;
  reminded integer := 0;
  blocked integer := 0;
begin
  -- only the cases with something due are locked (a minute's sweep of quiet cases writes nothing)
  for c in
    select * from ops.dunning_cases d
     where d.recovered_at is null
       and ((select count(*) from unnest(days) x where d.failed_at + make_interval(days => x) <= p_now)
              > d.reminders_sent
            or (d.grace_ended_at is null and d.failed_at + make_interval(days => s.dunning_grace_days) <= p_now))
     order by d.failed_at
       for update skip locked
  loop
    due := (select count(*) from unnest(days) d where c.failed_at + make_interval(days => d) <= p_now);
    if due > c.reminders_sent then
      update ops.dunning_cases set reminders_sent = due where stripe_invoice_id = c.stripe_invoice_id
      returning * into c;
      if ops.enqueue_dunning_email(c, 'renewal_reminder', format('invoice:%s:reminder:%s', c.stripe_invoice_id, due),
                                   jsonb_build_object('reminder', due, 'days_since_failure', days[due])) then
        reminded := reminded + 1;
      end if;
    end if;
    if c.grace_ended_at is null and c.failed_at + make_interval(days => s.dunning_grace_days) <= p_now then
      update ops.dunning_cases set grace_ended_at = p_now where stripe_invoice_id = c.stripe_invoice_id;
      perform ops.rederive_access(c.stripe_customer_id);
      blocked := blocked + 1;
    end if;
  end loop;
  return jsonb_build_object('reminders', reminded, 'grace_ended', blocked);
end
$$;


--
-- Name: FUNCTION sweep_dunning(p_now timestamp with time zone); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.sweep_dunning(p_now timestamp with time zone) IS 'pg_cron (every minute): due renewal reminders and grace periods that ended. p_now: the clock (tests pass a later one).';


--
-- Name: sweep_jobs(integer, interval, integer, interval); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.sweep_jobs(p_limit integer DEFAULT 500, p_lost_after interval DEFAULT '00:00:30'::interval, p_max_unclaimed integer DEFAULT 8, p_max_wait interval DEFAULT '00:10:00'::interval) RETURNS integer
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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


--
-- Name: take_rate_tokens(text, integer, integer, integer); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select ops.take_rate_tokens(p_bucket, p_tokens, p_capacity, p_window_ms, true)
$$;


--
-- Name: take_rate_tokens(text, integer, integer, integer, boolean); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  window_len interval := make_interval(secs => p_window_ms / 1000.0);
  at timestamptz;
  used bigint;
  oldest timestamptz;
  held_until timestamptz;
  wait integer;
begin
  -- a request larger than the whole budget waits for an empty window rather than forever
  p_tokens := least(p_tokens, p_capacity);
  -- one statement creates or locks the bucket row: the lock serialises takers, and a purge of idle
  -- buckets (ops.purge_rate_limit_buckets) cannot remove it between a lookup and the lock
  insert into ops.rate_limit_buckets as b (bucket) values (p_bucket)
  on conflict (bucket) do update set bucket = excluded.bucket
  returning b.urgent_until into held_until;
  at := clock_timestamp();
  if not coalesce(p_urgent, true) and held_until > at then
    return greatest(1, ceil(extract(epoch from (held_until - at)) * 1000))::integer;
  end if;
  delete from ops.rate_limit_grants where bucket = p_bucket and granted_at <= at - window_len;
  select coalesce(sum(tokens), 0), min(granted_at) into used, oldest from ops.rate_limit_grants where bucket = p_bucket;
  if used + p_tokens > p_capacity then
    wait := greatest(1, ceil(extract(epoch from (oldest + window_len - at)) * 1000))::integer;
    if coalesce(p_urgent, true) then
      -- the urgent job is deferred until the token frees; the margin covers its claim by a drain loop
      update ops.rate_limit_buckets set urgent_until = greatest(urgent_until, at + make_interval(secs => wait / 1000.0)
                                                                + interval '500 milliseconds')
       where bucket = p_bucket;
    end if;
    return wait;
  end if;
  insert into ops.rate_limit_grants (bucket, granted_at, tokens) values (p_bucket, at, p_tokens);
  return 0;
end
$$;


--
-- Name: FUNCTION take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean); Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean) IS 'Takes p_tokens of a shared budget (p_capacity per p_window_ms): 0 when granted, else the ms to wait. While an urgent taker waits for the bucket, non-urgent takers wait too.';


--
-- Name: ticket_messages_append_only(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ticket_messages_append_only() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'DELETE' then
    if pg_trigger_depth() > 1 then
      return old;
    end if;
    raise exception 'ticket messages are an audit trail: they are never deleted (erasure redacts them)'
      using errcode = 'insufficient_privilege';
  end if;
  if (new.id, new.ticket_id, new.author_kind, new.visibility, new.created_at, new.idempotency_key)
       is distinct from (old.id, old.ticket_id, old.author_kind, old.visibility, old.created_at, old.idempotency_key)
     or (new.author_id is distinct from old.author_id and new.author_id is not null)
     or (new.body is distinct from old.body and new.body <> '[erased]' and old.author_kind <> 'system') then
    raise exception 'ticket messages are an audit trail: who wrote what, for whom and when never changes'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;


--
-- Name: ticket_messages_author(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ticket_messages_author() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  t record;
  uid uuid := auth.uid();
begin
  select x.requester_id, x.category into t from public.support_tickets x where x.id = new.ticket_id;
  if current_user in ('anon', 'authenticated') then
    new.author_id := uid;
    new.author_kind := case when t.requester_id = uid then 'requester' when private.is_admin() then 'agent'
                            else 'party' end;
    new.visibility := coalesce(new.visibility, case when new.author_kind = 'party' then 'parties' end);
    if new.author_kind = 'requester' and new.visibility = 'internal' then
      raise exception 'internal notes are for support agents: send your message as requester or parties'
        using errcode = 'PT403';
    elsif new.author_kind = 'party' and new.visibility is distinct from 'parties' then
      raise exception 'you take part in this ticket through its order: your messages are read by both parties '
        '(visibility parties); to write to support alone, open a request of your own' using errcode = 'PT403';
    end if;
    if (select count(*) from public.ticket_messages m
         where m.author_id = uid and m.created_at > now() - interval '10 minutes') >= 20 then
      raise exception 'too many messages: wait a few minutes, then send it again' using errcode = 'PT429';
    end if;
  end if;
  new.visibility := coalesce(new.visibility,
    case when t.category in ('seller_problem', 'buyer_problem')
              or (t.category = 'dispute' and new.author_kind = 'system') then 'parties'
         else 'requester' end);
  return new;
end
$$;


--
-- Name: ticket_messages_authorship_final(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ticket_messages_authorship_final() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if (new.author_name, new.via, new.email_message_id) is distinct from (old.author_name, old.via, old.email_message_id)
  then
    raise exception 'ticket messages are an audit trail: who wrote what, for whom and when never changes'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;


--
-- Name: ticket_messages_email_reply(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ticket_messages_email_reply() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  t record;
  to_email text;
  first_reply uuid;
  parent record;
begin
  select x.id, x.ref, x.subject, x.requester_id into t from public.support_tickets x where x.id = new.ticket_id;
  if t.requester_id is null then
    return null;
  end if;
  to_email := ops.notify_recipient_email('user:' || t.requester_id);
  if to_email is null then
    return null;
  end if;
  -- the thread: our first reply's Message-ID is the ticket's root; a reply answers the newest earlier email
  -- of the thread, the requester's (their Message-ID) or ours
  select m.id into first_reply from public.ticket_messages m
   where m.ticket_id = new.ticket_id and m.author_kind = 'agent' and m.visibility <> 'internal'
   order by m.created_at, m.id limit 1;
  select m.id, m.author_kind, m.email_message_id into parent from public.ticket_messages m
   where m.ticket_id = new.ticket_id and m.id <> new.id and m.created_at <= new.created_at
     and ((m.author_kind = 'agent' and m.visibility <> 'internal') or m.email_message_id is not null)
   order by m.created_at desc, m.id desc limit 1;
  perform ops.enqueue_notification('email', 'ticket_reply', 'message:' || new.id, 'user:' || t.requester_id,
    jsonb_build_object('to', to_email, 'data', jsonb_strip_nulls(jsonb_build_object(
      'to', to_email,
      'customer_name', (select coalesce(c.name, p.display_name) from public.profiles p
                          left join public.customers c on c.user_id = p.id where p.id = t.requester_id),
      'ticket_id', t.id, 'ticket_ref', t.ref, 'subject', t.subject,
      'message_id', new.id, 'message', new.body, 'agent_name', new.author_name,
      'first_reply_id', coalesce(first_reply, new.id),
      'parent_reply_id', case when parent.author_kind = 'agent' then parent.id end,
      'parent_email_message_id',
        case when parent.author_kind <> 'agent' then parent.email_message_id end))));
  return null;
end
$$;


--
-- Name: ticket_messages_route(); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ticket_messages_route() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if new.author_kind in ('requester', 'system', 'party') then
    update public.support_tickets t
       set status = case when t.status in ('solved', 'pending') then 'open' else t.status end,
           last_message_at = new.created_at
     where t.id = new.ticket_id and t.status <> 'closed';
    if not found then
      raise exception 'ticket is closed: send the message as a new request (it links back to the closed ticket)'
        using errcode = 'check_violation';
    end if;
  elsif new.visibility <> 'internal' then
    update public.support_tickets t
       set status = case when t.status = 'open' then 'pending' else t.status end, last_message_at = new.created_at
     where t.id = new.ticket_id;
  end if;
  return null;
end
$$;


--
-- Name: try_apply_stripe_event(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.try_apply_stripe_event(p_event_id text) RETURNS text
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  e ops.stripe_events;
  reason text;
  applied record;
begin
  select * into e from ops.stripe_events where event_id = p_event_id for update;
  if not found then
    raise exception 'no Stripe event % in the ledger', p_event_id using errcode = 'no_data_found';
  end if;
  if e.payload_cleared_at is not null then
    raise exception 'Stripe event % cannot be re-applied: its payload was cleared on % (personal data retention, '
                    'ops.settings.personal_data_retention_days); what it changed then stays applied. For the current '
                    'state, look up % in Stripe', p_event_id, e.payload_cleared_at::date,
                    coalesce(e.object_id, 'its object')
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  reason := ops.stripe_event_scope_problem(e.payload, ops.current_settings());
  if reason is not null then
    update ops.stripe_events
       set status = 'ignored', ignored_reason = reason, attempts = attempts + 1, last_error = null, processed_at = now()
     where event_id = p_event_id;
    return 'ignored';
  end if;
  select * into applied from ops.apply_stripe_event_guarded(e.payload);
  update ops.stripe_events
     set status = applied.outcome, attempts = attempts + 1, last_error = applied.error, ignored_reason = null,
         processed_at = case when applied.outcome = 'failed' then processed_at else now() end
   where event_id = p_event_id;
  return applied.outcome;
end
$$;


--
-- Name: ts(text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.ts(epoch text) RETURNS timestamp with time zone
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$ select to_timestamp(epoch::bigint) $$;


--
-- Name: upsert_customer_link(text, text[], text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.upsert_customer_link(p_stripe_customer_id text, p_claims text[], p_email text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  claims text[] := array(select distinct trim(c) from unnest(coalesce(p_claims, '{}'::text[])) as c
                          where nullif(trim(c), '') is not null order by 1);
  uid uuid;
  problem text;
  m ops.stripe_customers;
  cur public.customers;
  cid uuid;
begin
  if p_stripe_customer_id is null then
    raise exception 'a Stripe customer id is required' using errcode = 'not_null_violation';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  if cardinality(claims) > 1 then
    problem := format('ambiguous: the event names several users (%s); not linked',
                      left(array_to_string(claims, ', '), 300));
  elsif cardinality(claims) = 1 then
    select u.id into uid from auth.users u where u.id = ops.as_uuid(claims[1]);
    if uid is null then
      problem := format('the server-set user id %s names no user; not linked', left(claims[1], 64));
    end if;
  end if;

  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    if uid is not null then
      cid := ops.customer_for_user(uid, p_email);
      insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, linked_at)
      values (p_stripe_customer_id, cid, 'metadata', now());
      return cid;
    end if;
    problem := coalesce(problem, ops.email_match_reason(p_email));
    insert into public.customers (email, needs_review, review_reason)
    values (p_email, problem is not null, left(problem, 1000))
    returning id into cid;
    insert into ops.stripe_customers (stripe_customer_id, customer_id) values (p_stripe_customer_id, cid);
    return cid;
  end if;

  select * into cur from public.customers where id = m.customer_id for update;
  if m.linked_by is not null then
    if uid is not null and uid is distinct from cur.user_id then
      perform ops.flag_customer_review(cur.id, format(
        'conflicting claim: Stripe customer %s is linked to user %s (by %s); an event names user %s. '
        'The first claim stays',
        p_stripe_customer_id, cur.user_id, m.linked_by, uid));
    elsif problem is not null then
      perform ops.flag_customer_review(cur.id, format('Stripe customer %s: %s', p_stripe_customer_id, problem));
    end if;
  elsif uid is not null then
    return ops.move_stripe_customer(p_stripe_customer_id, uid, 'metadata', null);
  elsif problem is not null then
    perform ops.flag_customer_review(cur.id, problem);
  elsif cur.review_reason is null then
    -- an email that became a user's since: review (once; a resolved review does not reopen)
    problem := ops.email_match_reason(coalesce(p_email, cur.email));
    if problem is not null then
      perform ops.flag_customer_review(cur.id, problem);
    end if;
  end if;
  if cur.email is null and p_email is not null then
    update public.customers set email = p_email where id = cur.id;
  end if;
  return cur.id;
end
$$;


--
-- Name: upsert_refund(jsonb, text, timestamp with time zone); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.upsert_refund(r jsonb, pi_id text, at timestamp with time zone) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into ops.refunds as x (stripe_refund_id, stripe_payment_intent_id, stripe_charge_id, amount, currency, status,
                                stripe_event_created)
  values (r ->> 'id', coalesce(r ->> 'payment_intent', pi_id), r ->> 'charge', (r ->> 'amount')::bigint,
          lower(r ->> 'currency'), r ->> 'status', at)
  on conflict (stripe_refund_id) do update set
    stripe_payment_intent_id = coalesce(x.stripe_payment_intent_id, excluded.stripe_payment_intent_id),
    stripe_charge_id = coalesce(x.stripe_charge_id, excluded.stripe_charge_id),
    amount = excluded.amount,
    status = excluded.status,
    stripe_event_created = excluded.stripe_event_created,
    updated_at = now()
  -- newer wins; in the same second a final status (succeeded, failed, canceled) beats pending
  where (excluded.stripe_event_created, excluded.status in ('succeeded', 'failed', 'canceled'))
      > (x.stripe_event_created, x.status in ('succeeded', 'failed', 'canceled'))
$$;


--
-- Name: upsert_transfer_reversal(jsonb, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.upsert_transfer_reversal(r jsonb, p_transfer_id text) RETURNS void
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into public.seller_transfer_reversals as x (id, transfer_id, amount, currency, refund_id, stripe_created)
  values (r ->> 'id', coalesce(ops.stripe_ref(r -> 'transfer'), p_transfer_id), (r ->> 'amount')::bigint,
          lower(r ->> 'currency'), ops.stripe_ref(r -> 'source_refund'), ops.ts(r ->> 'created'))
  on conflict (id) do update set
    refund_id = coalesce(x.refund_id, excluded.refund_id),
    stripe_created = coalesce(x.stripe_created, excluded.stripe_created)
  where x.refund_id is null and excluded.refund_id is not null
$$;


--
-- Name: write_audit(text, text, jsonb, jsonb, text); Type: FUNCTION; Schema: ops; Owner: -
--

CREATE FUNCTION ops.write_audit(p_action text, p_target text, p_before jsonb, p_after jsonb, p_reason text) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into ops.audit_log (actor_id, actor_email, action, target, before, after, reason)
  values (ops.as_uuid(auth.jwt() ->> 'sub'), auth.jwt() ->> 'email', p_action, p_target, p_before, p_after, p_reason)
  returning id
$$;


--
-- Name: is_admin(); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.is_admin() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
     and session_user in ('authenticator', 'dashboard', 'postgres', 'supabase_admin')
$$;


--
-- Name: is_anonymous(); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.is_anonymous() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce((auth.jwt() ->> 'is_anonymous')::boolean, false)
$$;


--
-- Name: is_seller(); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.is_seller() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'seller')
$$;


--
-- Name: order_party(uuid); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.order_party(p_order_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  o record;
begin
  if auth.uid() is null or private.is_anonymous() then
    raise exception 'sign in with an account to change an order' using errcode = 'PT403';
  end if;
  select x.buyer_id, x.seller_id into o from public.orders x where x.id = p_order_id;
  if not found then
    raise exception 'order % is not one of your orders', p_order_id using errcode = 'PT404';
  end if;
  return case when o.seller_id = auth.uid() then 'seller' when private.is_admin() then 'admin'
              when o.buyer_id = auth.uid() then 'buyer' end;
end
$$;


--
-- Name: seller_block_reason(text, text[], text[], boolean, boolean, timestamp with time zone); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text) RETURNS record
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select x.why, x.next_step from (select
    case
      when p_deauthorized then 'You disconnected your Stripe account from this platform.'
      when p_disabled_reason = 'requirements.past_due' then 'Stripe needs information that is now overdue: '
        || array_to_string(p_past_due[1:5], ', ') || '.'
      when p_disabled_reason = 'requirements.pending_verification' then 'Stripe is verifying the information you '
        || 'gave; payments resume once it is verified.'
      when p_disabled_reason = 'action_required.requested_capabilities' then 'Your account must be set up to accept '
        || 'card payments and transfers.'
      when p_disabled_reason in ('listed', 'rejected.listed') then 'Stripe found your business on a prohibited or '
        || 'sanctions list.'
      when p_disabled_reason = 'under_review' then 'Stripe is reviewing your account.'
      when p_disabled_reason = 'platform_paused' then 'The platform paused payments to your account.'
      when p_disabled_reason in ('rejected.fraud', 'rejected.platform_fraud') then 'Your account was closed for '
        || 'suspected fraud.'
      when p_disabled_reason in ('rejected.terms_of_service', 'rejected.platform_terms_of_service') then 'Your '
        || 'account was closed for a breach of the terms of service.'
      when p_disabled_reason = 'rejected.incomplete_verification' then 'Your account was closed: verification was '
        || 'not completed in time.'
      when p_disabled_reason like 'rejected.%' then 'Your account was closed.'
      when p_disabled_reason is not null then 'Stripe disabled payments to your account (' || p_disabled_reason || ').'
      when not coalesce(p_details_submitted, false) then 'You have not finished setting up payouts with Stripe.'
      when cardinality(p_past_due) > 0 then 'Stripe needs information that is now overdue: '
        || array_to_string(p_past_due[1:5], ', ') || '.'
      when cardinality(p_currently_due) > 0 then 'Stripe needs more information'
        || coalesce(' by ' || to_char(p_current_deadline at time zone 'UTC', 'YYYY-MM-DD'), '') || ': '
        || array_to_string(p_currently_due[1:5], ', ') || '.'
    end as why,
    case
      when p_deauthorized then 'Contact support to connect a new Stripe account.'
      when p_disabled_reason in ('requirements.past_due', 'action_required.requested_capabilities')
        or (p_disabled_reason is null and (not coalesce(p_details_submitted, false) or cardinality(p_past_due) > 0
                                           or cardinality(p_currently_due) > 0))
        then 'Open seller onboarding and complete what Stripe asks for.'
      when p_disabled_reason in ('requirements.pending_verification', 'under_review') then 'Nothing to do now: '
        || 'Stripe will email you if it needs more.'
      when p_disabled_reason = 'platform_paused' then 'Contact support.'
      when p_disabled_reason like 'rejected.%' or p_disabled_reason = 'listed' then 'Contact Stripe support from '
        || 'your Express dashboard if you think this is a mistake.'
      when p_disabled_reason is not null then 'Open seller onboarding and check your account, or contact support.'
    end as next_step) x
$$;


--
-- Name: FUNCTION seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text); Type: COMMENT; Schema: private; Owner: -
--

COMMENT ON FUNCTION private.seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text) IS 'A seller''s connected account state (Stripe''s requirements.disabled_reason, due and past-due requirements) as a sentence and the next step; null when nothing blocks or is asked.';


--
-- Name: seller_can_accept_charges(uuid); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.seller_can_accept_charges(p_seller_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce((select p.charges_enabled from public.profiles p where p.id = p_seller_id), false)
     and (not coalesce((select s.connect_enabled from ops.settings s where s.id), false)
          or coalesce((select a.charges_enabled from public.seller_accounts a where a.seller_id = p_seller_id), false))
$$;


--
-- Name: FUNCTION seller_can_accept_charges(p_seller_id uuid); Type: COMMENT; Schema: private; Owner: -
--

COMMENT ON FUNCTION private.seller_can_accept_charges(p_seller_id uuid) IS 'Buyers may pay this seller now: not switched off (profiles.charges_enabled) and, with ops.settings.connect_enabled, their connected account accepts charges.';


--
-- Name: seller_listings_open(uuid); Type: FUNCTION; Schema: private; Owner: -
--

CREATE FUNCTION private.seller_listings_open(p_seller_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select not coalesce((select s.connect_enabled from ops.settings s where s.id), false)
      or private.seller_can_accept_charges(p_seller_id)
$$;


--
-- Name: add_ticket_message(uuid, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text) RETURNS TABLE(message_id uuid, ticket_id uuid, author_kind text, visibility text, created_at timestamp with time zone, created boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  body text := trim(p_body);
  t_status text;
  v_id uuid;
begin
  if auth.uid() is null or private.is_anonymous() then
    raise exception 'sign in with an account to write on a ticket' using errcode = 'PT403';
  end if;
  if body is null or length(body) not between 1 and 10000 then
    raise exception 'the message must be 1 to 10,000 characters' using errcode = 'PT400';
  end if;
  if p_visibility is not null and p_visibility not in ('requester', 'parties', 'internal') then
    raise exception 'visibility must be requester, parties or internal' using errcode = 'PT400';
  end if;
  if p_idempotency_key is not null and length(p_idempotency_key) not between 1 and 200 then
    raise exception 'idempotency_key must be 1 to 200 characters' using errcode = 'PT400';
  end if;
  select t.status into t_status from public.support_tickets t where t.id = p_ticket_id;
  if not found then
    raise exception 'ticket % is not one of your tickets', p_ticket_id using errcode = 'PT404';
  elsif t_status = 'closed' then
    raise exception 'the ticket is closed: open a new request about it' using errcode = 'PT409';
  end if;
  insert into public.ticket_messages as m (ticket_id, body, visibility, idempotency_key)
  values (p_ticket_id, body, p_visibility, p_idempotency_key)
  on conflict (author_id, idempotency_key) where idempotency_key is not null do nothing
  returning m.id into v_id;
  return query
    select m.id, m.ticket_id, m.author_kind, m.visibility, m.created_at, v_id is not null
      from public.ticket_messages m
     where (v_id is not null and m.id = v_id)
        or (v_id is null and m.author_id = auth.uid() and m.idempotency_key = p_idempotency_key);
end
$$;


--
-- Name: complete_order(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.complete_order(p_order_id uuid) RETURNS TABLE(order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text, fulfillment_started_at timestamp with time zone, completed_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if private.order_party(p_order_id) not in ('seller', 'admin') then
    raise exception 'only the seller of this order (or an admin) can complete it; the buyer confirms receipt '
      '(confirm_order_received)' using errcode = 'PT403';
  end if;
  -- completed already: a repeated call changes nothing
  update public.orders o set status = 'completed' where o.id = p_order_id and o.status <> 'completed';
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$$;


--
-- Name: confirm_order_received(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.confirm_order_received(p_order_id uuid) RETURNS TABLE(order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text, fulfillment_started_at timestamp with time zone, completed_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if private.order_party(p_order_id) is distinct from 'buyer' then
    raise exception 'only the buyer of this order can confirm receipt' using errcode = 'PT403';
  end if;
  update public.orders o set status = 'completed' where o.id = p_order_id and o.status <> 'completed';
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$$;


--
-- Name: handle_new_user(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.handle_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into public.profiles (id, role, display_name)
  values (
    new.id,
    case when new.raw_app_meta_data ->> 'role' = 'seller' and not new.is_anonymous then 'seller' else 'buyer' end,
    left(new.raw_user_meta_data ->> 'display_name', 200)
  )
  on conflict (id) do nothing;
  return new;
end
$$;


--
-- Name: handle_new_user_customer(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.handle_new_user_customer() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  insert into public.customers (user_id, email, name, billing_status)
  values (new.id, lower(trim(new.email)), left(new.raw_user_meta_data ->> 'display_name', 200), 'lead')
  on conflict (user_id) do nothing;
  return new;
end
$$;


--
-- Name: orders_price_from_listing(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.orders_price_from_listing() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  l record;
begin
  if new.listing_id is null then
    return new;
  end if;
  select seller_id, price_amount, currency, active into l from public.listings where id = new.listing_id;
  if not found then
    raise exception 'listing % does not exist', new.listing_id using errcode = 'foreign_key_violation';
  end if;
  if current_user in ('anon', 'authenticated') then
    if not l.active then
      raise exception 'listing % is not for sale', new.listing_id using errcode = 'check_violation';
    end if;
    new.amount_total := l.price_amount * coalesce(new.quantity, 1);
    new.currency := l.currency;
  end if;
  new.seller_id := coalesce(new.seller_id, l.seller_id);
  return new;
end
$$;


--
-- Name: set_updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.updated_at := now();
  return new;
end
$$;


--
-- Name: ship_order(uuid, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.ship_order(p_order_id uuid, p_carrier text DEFAULT NULL::text, p_tracking_number text DEFAULT NULL::text, p_tracking_url text DEFAULT NULL::text) RETURNS TABLE(order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text, fulfillment_started_at timestamp with time zone, completed_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  carrier text := nullif(trim(p_carrier), '');
  tracking text := nullif(trim(p_tracking_number), '');
  url text := nullif(trim(p_tracking_url), '');
  cur text;
begin
  if private.order_party(p_order_id) not in ('seller', 'admin') then
    raise exception 'only the seller of this order (or an admin) can mark it shipped' using errcode = 'PT403';
  end if;
  if carrier is not null and carrier !~ '^[^[:cntrl:]]{1,100}$' then
    raise exception 'carrier must be one line of at most 100 characters' using errcode = 'PT400';
  end if;
  if tracking is not null and tracking !~ '^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$' then
    raise exception 'tracking_number must be 1 to 64 letters, digits, spaces or . _ / -' using errcode = 'PT400';
  end if;
  if url is not null and (length(url) > 500
      or url !~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^[:space:][:cntrl:]]*)?$') then
    raise exception 'tracking_url must be an https:// address of at most 500 characters' using errcode = 'PT400';
  end if;
  select o.status into cur from public.orders o where o.id = p_order_id for update;
  -- shipped already and nothing new to say: a repeated call changes nothing
  if not (cur = 'in_fulfillment' and carrier is null and tracking is null and url is null) then
    update public.orders o
       set status = 'in_fulfillment', tracking_carrier = coalesce(carrier, o.tracking_carrier),
           tracking_number = coalesce(tracking, o.tracking_number), tracking_url = coalesce(url, o.tracking_url)
     where o.id = p_order_id;
  end if;
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$_$;


--
-- Name: submit_support_request(text, text, text, uuid, text, jsonb, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submit_support_request(p_category text, p_subject text, p_message text, p_order_id uuid DEFAULT NULL::uuid, p_idempotency_key text DEFAULT NULL::text, p_client_context jsonb DEFAULT '{}'::jsonb, p_follow_up_of uuid DEFAULT NULL::uuid) RETURNS TABLE(ticket_id uuid, ref text, status text, queue text, created boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_id uuid;
begin
  insert into public.support_tickets as x (category, subject, order_id, idempotency_key, client_context, follow_up_of)
  values (p_category, p_subject, p_order_id, p_idempotency_key, coalesce(p_client_context, '{}'::jsonb), p_follow_up_of)
  on conflict (requester_id, idempotency_key) where idempotency_key is not null do nothing
  returning x.id into v_id;
  if v_id is not null then
    insert into public.ticket_messages (ticket_id, body) values (v_id, p_message);
  end if;
  -- a repeat: the prepare trigger left the key it matched (the client's, or the earlier request's)
  return query
    select x.id, x.ref, x.status, x.queue, v_id is not null from public.support_tickets x
     where (v_id is not null and x.id = v_id)
        or (v_id is null and x.requester_id = auth.uid()
            and x.idempotency_key = current_setting('support.request_key', true));
end
$$;


--
-- Name: access_overrides_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.access_overrides ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.access_overrides_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: alert_incidents; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.alert_incidents (
    id bigint NOT NULL,
    rule text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    summary text NOT NULL,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    opened_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    clear_since timestamp with time zone,
    CONSTRAINT alert_incidents_check CHECK (((status = 'resolved'::text) = (resolved_at IS NOT NULL))),
    CONSTRAINT alert_incidents_status_check CHECK ((status = ANY (ARRAY['open'::text, 'resolved'::text])))
);


--
-- Name: TABLE alert_incidents; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.alert_incidents IS 'Alert incidents: at most one open per rule (deduplicated while open), with what the rule saw; a resolve notice goes out once when the condition clears.';


--
-- Name: alert_incidents_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.alert_incidents ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.alert_incidents_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: alert_rule_state; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.alert_rule_state (
    rule text NOT NULL,
    evaluated_at timestamp with time zone NOT NULL,
    firing boolean NOT NULL,
    value numeric,
    summary text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL
);


--
-- Name: TABLE alert_rule_state; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.alert_rule_state IS 'The last evaluation of each alert rule (ops.evaluate_alerts): firing or not, the value it measured and what it saw.';


--
-- Name: alert_status; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.alert_status WITH (security_invoker='true') AS
 SELECT r.rule,
    r.enabled,
    r.severity,
    r.threshold,
    r.window_interval,
    r.min_count,
    r.clear_after,
    s.firing,
    s.value,
    s.summary AS last_summary,
    s.evaluated_at,
    i.id AS open_incident_id,
    i.opened_at,
    i.last_seen_at,
    (now() - i.opened_at) AS open_for,
    ( SELECT max(x.resolved_at) AS max
           FROM ops.alert_incidents x
          WHERE (x.rule = r.rule)) AS last_resolved_at,
    r.runbook
   FROM ((ops.alert_rules r
     LEFT JOIN ops.alert_rule_state s ON ((s.rule = r.rule)))
     LEFT JOIN ops.alert_incidents i ON (((i.rule = r.rule) AND (i.status = 'open'::text))))
  ORDER BY (i.id IS NULL), r.rule;


--
-- Name: VIEW alert_status; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.alert_status IS 'Each alert rule: enabled, firing at its last evaluation (and the value it measured), its open incident if any, its last resolve and its runbook.';


--
-- Name: audit_log; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor_id uuid,
    actor_email text,
    action text NOT NULL,
    target text NOT NULL,
    before jsonb,
    after jsonb,
    reason text NOT NULL,
    x_request_id text DEFAULT NULLIF(current_setting('backbone.request_id'::text, true), ''::text),
    CONSTRAINT audit_log_reason_check CHECK (((length(btrim(reason)) >= 1) AND (length(btrim(reason)) <= 1000)))
);


--
-- Name: TABLE audit_log; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.audit_log IS 'Every manual override (dashboard or ops function): who, what, on which target, the row before and after, the reason and when. Append-only.';


--
-- Name: COLUMN audit_log.x_request_id; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.audit_log.x_request_id IS 'The x-request-id of the dashboard request that made the change.';


--
-- Name: audit_log_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: billing_status_transitions; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.billing_status_transitions (
    from_status text NOT NULL,
    to_status text NOT NULL,
    CONSTRAINT billing_status_transitions_check CHECK ((from_status <> to_status))
);


--
-- Name: TABLE billing_status_transitions; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.billing_status_transitions IS 'Allowed billing status changes: anything but back to lead.';


--
-- Name: billing_statuses; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.billing_statuses (
    status text NOT NULL,
    access_status text NOT NULL,
    description text NOT NULL,
    CONSTRAINT billing_statuses_access_status_check CHECK ((access_status = ANY (ARRAY['granted'::text, 'grace'::text, 'blocked'::text])))
);


--
-- Name: TABLE billing_statuses; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.billing_statuses IS 'Customer billing statuses and the access each one grants.';


--
-- Name: profiles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.profiles (
    id uuid NOT NULL,
    role text DEFAULT 'buyer'::text NOT NULL,
    display_name text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    charges_enabled boolean DEFAULT true NOT NULL,
    country text,
    CONSTRAINT profiles_country_check CHECK ((country ~ '^[A-Z]{2}$'::text)),
    CONSTRAINT profiles_display_name_check CHECK ((length(display_name) <= 200)),
    CONSTRAINT profiles_role_check CHECK ((role = ANY (ARRAY['buyer'::text, 'seller'::text, 'admin'::text])))
);


--
-- Name: TABLE profiles; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.profiles IS 'One row per auth user: marketplace role (buyer | seller | admin) and display name. Seller is granted by the server (app_metadata at sign-up, ops.set_user_role later; audited in ops.role_grants); admin rights come from the JWT app_metadata, not from this column.';


--
-- Name: COLUMN profiles.charges_enabled; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.profiles.charges_enabled IS 'The founder''s switch: false stops new checkouts of this seller''s listings (with Connect, their account must accept charges too). Set in Studio, never by the user.';


--
-- Name: COLUMN profiles.country; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.profiles.country IS 'ISO 3166-1 alpha-2 country (US, FR, ...): the country a seller''s connected account is created in (it cannot change afterwards).';


--
-- Name: seller_account_status; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.seller_account_status WITH (security_invoker='true') AS
 SELECT a.seller_id,
    a.stripe_account_id,
    a.charges_enabled,
    a.payouts_enabled,
    a.details_submitted,
        CASE
            WHEN (a.deauthorized_at IS NOT NULL) THEN 'disconnected'::text
            WHEN (a.disabled_reason ~~ 'rejected.%'::text) THEN 'rejected'::text
            WHEN (a.charges_enabled AND a.payouts_enabled AND (cardinality(a.requirements_past_due) = 0) AND (cardinality(a.requirements_currently_due) = 0)) THEN 'active'::text
            WHEN a.charges_enabled THEN 'action_required'::text
            WHEN (a.disabled_reason = ANY (ARRAY['requirements.pending_verification'::text, 'under_review'::text])) THEN 'pending'::text
            ELSE 'blocked'::text
        END AS status,
    r.why AS why_blocked,
    r.next_step,
    a.requirements_currently_due,
    a.requirements_past_due,
    a.requirements_eventually_due,
    a.current_deadline,
    a.disabled_reason,
    a.stripe_updated_at,
    a.deauthorized_at
   FROM (public.seller_accounts a
     CROSS JOIN LATERAL private.seller_block_reason(a.disabled_reason, a.requirements_past_due, a.requirements_currently_due, a.details_submitted, (a.deauthorized_at IS NOT NULL), a.current_deadline) r(why, next_step));


--
-- Name: VIEW seller_account_status; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.seller_account_status IS 'Each seller''s connected account in words: status (active, action_required, pending, blocked, rejected, disconnected), why it is blocked and the next step. Sellers read their own row, admins all (RLS of seller_accounts).';


--
-- Name: blocked_sellers; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.blocked_sellers AS
 SELECT s.seller_id,
    p.display_name,
    u.email,
    s.status,
    s.why_blocked,
    s.next_step,
    s.charges_enabled,
    s.payouts_enabled,
    s.requirements_past_due,
    s.requirements_currently_due,
    s.current_deadline,
    s.disabled_reason,
    s.stripe_account_id,
    s.stripe_updated_at
   FROM ((public.seller_account_status s
     JOIN public.profiles p ON ((p.id = s.seller_id)))
     LEFT JOIN auth.users u ON ((u.id = s.seller_id)))
  WHERE (s.status <> 'active'::text);


--
-- Name: VIEW blocked_sellers; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.blocked_sellers IS 'Sellers whose connected account cannot take payments or is asked for information, with why and the next step (Studio, the dashboard).';


--
-- Name: checkout_requests; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.checkout_requests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    kind text NOT NULL,
    fingerprint text NOT NULL,
    listing_id uuid,
    plan_id uuid,
    order_id uuid,
    stripe_customer_id text,
    session_params jsonb,
    stripe_checkout_session_id text,
    url text,
    expires_at timestamp with time zone,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    x_request_id text DEFAULT NULLIF(current_setting('backbone.request_id'::text, true), ''::text),
    CONSTRAINT checkout_requests_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT checkout_requests_kind_check CHECK ((kind = ANY (ARRAY['order'::text, 'subscription'::text])))
);


--
-- Name: TABLE checkout_requests; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.checkout_requests IS 'One row per checkout the app asked for (user, idempotency key): its order or plan, the Stripe customer and the Checkout Session created for it. Rows without a session: Stripe failed.';


--
-- Name: COLUMN checkout_requests.x_request_id; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.checkout_requests.x_request_id IS 'The x-request-id of the checkout call that started it.';


--
-- Name: checkout_sessions; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.checkout_sessions (
    stripe_checkout_session_id text NOT NULL,
    order_id uuid,
    stripe_payment_intent_id text,
    stripe_customer_id text,
    status text,
    payment_status text,
    amount_subtotal bigint,
    amount_total bigint,
    currency text,
    claim_review text,
    review_buyer_id uuid,
    review_listing_id uuid,
    paid_at timestamp with time zone,
    stripe_event_created timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT checkout_sessions_payment_status_check CHECK ((payment_status = ANY (ARRAY['unpaid'::text, 'failed'::text, 'paid'::text, 'no_payment_required'::text]))),
    CONSTRAINT checkout_sessions_status_check CHECK ((status = ANY (ARRAY['open'::text, 'complete'::text, 'expired'::text])))
);


--
-- Name: TABLE checkout_sessions; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.checkout_sessions IS 'Stripe Checkout sessions in payment mode, several per order (an expired session and its replacement). Facts only grow; ops.recompute_order derives the order from all of them.';


--
-- Name: connect_application_fees; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.connect_application_fees (
    fee_id text NOT NULL,
    charge_id text,
    account_id text,
    amount bigint NOT NULL,
    amount_refunded bigint DEFAULT 0 NOT NULL,
    currency text,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE connect_application_fees; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.connect_application_fees IS 'The platform''s application fees as their application_fee.* events say; amount_refunded is the newest event''s (the larger within a second).';


--
-- Name: connect_charges; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.connect_charges (
    charge_id text NOT NULL,
    payment_intent_id text,
    destination_account_id text,
    transfer_id text,
    application_fee_id text,
    application_fee_amount bigint,
    amount bigint,
    currency text,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE connect_charges; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.connect_charges IS 'Destination charges as their charge.* events say (the seller''s account, the transfer and application fee ids); ids are set once, never cleared by an older event.';


--
-- Name: connect_transfers; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.connect_transfers (
    transfer_id text NOT NULL,
    charge_id text,
    destination_account_id text,
    amount bigint NOT NULL,
    amount_reversed bigint DEFAULT 0 NOT NULL,
    currency text,
    transfer_group text,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE connect_transfers; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.connect_transfers IS 'Transfers to sellers'' connected accounts as their transfer.* events say; amount_reversed is the newest event''s (the larger within a second).';


--
-- Name: crm_capture; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.crm_capture (
    id bigint NOT NULL,
    adapter text DEFAULT 'capture'::text NOT NULL,
    operation text NOT NULL,
    key text,
    body jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    cleared_at timestamp with time zone
);


--
-- Name: TABLE crm_capture; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.crm_capture IS 'What the local capture adapter would have sent to the CRM (the default when no HubSpot token is set); personal data cleared after ops.settings.personal_data_retention_days.';


--
-- Name: crm_capture_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.crm_capture ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.crm_capture_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: crm_contacts; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.crm_contacts (
    customer_id uuid NOT NULL,
    email text NOT NULL,
    adapter text NOT NULL,
    crm_contact_id text NOT NULL,
    lifecycle_stage text,
    synced_version integer DEFAULT 0 NOT NULL,
    synced_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE crm_contacts; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.crm_contacts IS 'Mapping customer <-> CRM contact (keyed in the CRM by lower-cased email).';


--
-- Name: crm_deals; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.crm_deals (
    order_id uuid NOT NULL,
    adapter text NOT NULL,
    crm_deal_id text NOT NULL,
    stage text,
    synced_version integer DEFAULT 0 NOT NULL,
    synced_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE crm_deals; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.crm_deals IS 'Mapping order <-> CRM deal (keyed in the CRM by the order id).';


--
-- Name: customers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid,
    email text,
    name text,
    billing_status text DEFAULT 'lead'::text NOT NULL,
    access_status text DEFAULT 'blocked'::text NOT NULL,
    last_paid_at timestamp with time zone,
    last_payment_failed_at timestamp with time zone,
    deleted_at timestamp with time zone,
    stripe_event_created timestamp with time zone,
    needs_review boolean DEFAULT false NOT NULL,
    review_reason text,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE customers; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.customers IS 'Billing customers, one per app user (or per Stripe customer linked to no user): billing_status (truth from Stripe, over all the user''s subscriptions) and access_status (what the app grants) are separate columns, linked by ops.billing_statuses.';


--
-- Name: customer_access; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.customer_access WITH (security_invoker='true') AS
 SELECT c.id AS customer_id,
    c.email,
    c.user_id,
    c.billing_status,
    b.access_status AS billing_access,
    c.access_status,
    o.access_status AS override_access,
    o.reason AS override_reason,
    o.expires_at AS override_expires_at,
    o.created_by_email AS override_by,
        CASE
            WHEN (c.access_status = 'granted'::text) THEN NULL::text
            WHEN (o.access_status = 'blocked'::text) THEN format('access revoked by %s until %s: %s'::text, COALESCE(o.created_by_email, 'an admin'::text), o.expires_at, o.reason)
            WHEN (c.access_status = 'grace'::text) THEN format('past due since %s: Stripe is retrying the renewal (access in grace)'::text, COALESCE((c.last_payment_failed_at)::text, 'a failed renewal'::text))
            WHEN (c.billing_status = 'lead'::text) THEN 'never paid: no active subscription'::text
            WHEN (c.billing_status = 'unpaid'::text) THEN format('unpaid: Stripe''s retries are exhausted (last failed payment %s)'::text, COALESCE((c.last_payment_failed_at)::text, 'unknown'::text))
            WHEN ((c.billing_status = 'canceled'::text) AND (c.deleted_at IS NOT NULL)) THEN format('canceled: its Stripe customer was deleted on %s'::text, c.deleted_at)
            WHEN (c.billing_status = 'canceled'::text) THEN 'canceled: the subscription ended'::text
            ELSE b.description
        END AS blocked_reason,
    c.needs_review,
    c.review_reason,
    c.last_paid_at,
    c.last_payment_failed_at,
    c.updated_at
   FROM ((public.customers c
     JOIN ops.billing_statuses b ON ((b.status = c.billing_status)))
     LEFT JOIN LATERAL ( SELECT x.id,
            x.customer_id,
            x.access_status,
            x.reason,
            x.expires_at,
            x.created_by,
            x.created_by_email,
            x.created_at,
            x.ended_at,
            x.ended_reason
           FROM ops.current_access_override(c.id) x(id, customer_id, access_status, reason, expires_at, created_by, created_by_email, created_at, ended_at, ended_reason)
          WHERE (x.id IS NOT NULL)) o ON (true));


--
-- Name: VIEW customer_access; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.customer_access IS 'Billing (Stripe''s truth) next to access (what the app grants) per customer, the override in force if any, and why a customer without access is blocked.';


--
-- Name: degraded_communications; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.degraded_communications WITH (security_invoker='true') AS
 SELECT (j.payload ->> 'entity'::text) AS entity,
    (j.payload ->> 'template'::text) AS template,
    j.id AS job_id,
    j.last_error AS reason,
    j.updated_at AS since
   FROM ops.jobs j
  WHERE ((j.status = 'dead'::text) AND (j.kind ~~ 'notify.%'::text));


--
-- Name: VIEW degraded_communications; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.degraded_communications IS 'Orders, tickets and users whose notification went dead: communication degraded until the job is replayed and succeeds.';


--
-- Name: disputes; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.disputes (
    stripe_dispute_id text NOT NULL,
    stripe_payment_intent_id text,
    stripe_charge_id text,
    amount bigint,
    currency text,
    reason text,
    status text NOT NULL,
    evidence_due_by timestamp with time zone,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE disputes; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.disputes IS 'Stripe disputes; a closed dispute (won | lost | warning_closed) never reopens.';


--
-- Name: duplicate_deliveries; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.duplicate_deliveries (
    day date NOT NULL,
    endpoint text NOT NULL,
    count bigint DEFAULT 0 NOT NULL,
    CONSTRAINT duplicate_deliveries_count_check CHECK ((count >= 0)),
    CONSTRAINT duplicate_deliveries_endpoint_check CHECK ((endpoint ~ '^[a-z][a-z0-9-]{0,62}$'::text))
);


--
-- Name: TABLE duplicate_deliveries; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.duplicate_deliveries IS 'Deliveries of an event the ledger already held (Stripe delivers at least once), per day and endpoint: answered 2xx, nothing applied twice. Counted by the webhook.';


--
-- Name: stripe_events; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.stripe_events (
    event_id text NOT NULL,
    type text NOT NULL,
    api_version text,
    livemode boolean DEFAULT false NOT NULL,
    object_id text,
    event_created timestamp with time zone NOT NULL,
    payload jsonb NOT NULL,
    status text DEFAULT 'received'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    processed_at timestamp with time zone,
    ignored_reason text,
    sanitized boolean DEFAULT false NOT NULL,
    source text DEFAULT 'webhook'::text NOT NULL,
    reviewed_at timestamp with time zone,
    payload_cleared_at timestamp with time zone,
    CONSTRAINT stripe_events_event_id_check CHECK (((length(event_id) >= 1) AND (length(event_id) <= 255))),
    CONSTRAINT stripe_events_source_check CHECK ((source = ANY (ARRAY['webhook'::text, 'reconciliation'::text]))),
    CONSTRAINT stripe_events_status_check CHECK ((status = ANY (ARRAY['received'::text, 'processed'::text, 'ignored'::text, 'failed'::text, 'dead'::text]))),
    CONSTRAINT stripe_events_type_check CHECK (((length(type) >= 1) AND (length(type) <= 255)))
);


--
-- Name: TABLE stripe_events; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.stripe_events IS 'Ledger of Stripe webhook events: one row per event_id, with the outcome of applying it (received | processed | ignored | failed | dead) and its source (webhook | reconciliation).';


--
-- Name: duplicate_deliveries_daily; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.duplicate_deliveries_daily WITH (security_invoker='true') AS
 WITH days AS (
         SELECT (d.d)::date AS day
           FROM generate_series((date_trunc('day'::text, now()) - '29 days'::interval), now(), '1 day'::interval) d(d)
        )
 SELECT days.day,
    COALESCE(sum(dd.count), (0)::numeric) AS duplicates,
    ( SELECT count(*) AS count
           FROM ops.stripe_events e
          WHERE ((e.source = 'webhook'::text) AND (e.received_at >= days.day) AND (e.received_at < (days.day + 1)))) AS first_deliveries
   FROM (days
     LEFT JOIN ops.duplicate_deliveries dd ON ((dd.day = days.day)))
  GROUP BY days.day;


--
-- Name: VIEW duplicate_deliveries_daily; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.duplicate_deliveries_daily IS 'Per day (last 30): deliveries of an event already in the ledger (answered, applied nowhere) next to events delivered for the first time. Duplicates are normal (Stripe delivers at least once); duplicate side effects are what must be 0.';


--
-- Name: notifications; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.notifications (
    id bigint NOT NULL,
    job_id bigint,
    dedupe_key text NOT NULL,
    channel text NOT NULL,
    template text NOT NULL,
    entity text NOT NULL,
    recipient text NOT NULL,
    status text NOT NULL,
    adapter text NOT NULL,
    provider_id text,
    detail text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT notifications_channel_check CHECK ((channel = ANY (ARRAY['email'::text, 'slack'::text]))),
    CONSTRAINT notifications_status_check CHECK ((status = ANY (ARRAY['sent'::text, 'captured'::text, 'suppressed'::text, 'skipped'::text])))
);


--
-- Name: TABLE notifications; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.notifications IS 'Every notification that went out (or was captured locally, or skipped because the address bounced), once per (template, entity, recipient).';


--
-- Name: provider_events; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.provider_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    type text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE provider_events; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.provider_events IS 'Webhook events from providers other than Stripe (Resend), recorded once.';


--
-- Name: email_bounce_daily; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.email_bounce_daily WITH (security_invoker='true') AS
 WITH days AS (
         SELECT (d.d)::date AS day
           FROM generate_series((date_trunc('day'::text, now()) - '29 days'::interval), now(), '1 day'::interval) d(d)
        ), sent AS (
         SELECT (n.created_at)::date AS day,
            count(*) AS n
           FROM ops.notifications n
          WHERE ((n.channel = 'email'::text) AND (n.status = ANY (ARRAY['sent'::text, 'captured'::text])) AND (n.created_at >= (date_trunc('day'::text, now()) - '29 days'::interval)))
          GROUP BY ((n.created_at)::date)
        ), back AS (
         SELECT (p.received_at)::date AS day,
            count(*) FILTER (WHERE (p.type = 'email.bounced'::text)) AS bounced,
            count(*) FILTER (WHERE (p.type = 'email.complained'::text)) AS complained
           FROM ops.provider_events p
          WHERE ((p.provider = 'resend'::text) AND (p.type = ANY (ARRAY['email.bounced'::text, 'email.complained'::text])) AND (p.received_at >= (date_trunc('day'::text, now()) - '29 days'::interval)))
          GROUP BY ((p.received_at)::date)
        )
 SELECT days.day,
    COALESCE(sent.n, (0)::bigint) AS sent,
    COALESCE(back.bounced, (0)::bigint) AS bounced,
    COALESCE(back.complained, (0)::bigint) AS complained,
    round(((COALESCE(back.bounced, (0)::bigint))::numeric / (NULLIF(sent.n, 0))::numeric), 4) AS bounce_rate
   FROM ((days
     LEFT JOIN sent ON ((sent.day = days.day)))
     LEFT JOIN back ON ((back.day = days.day)));


--
-- Name: VIEW email_bounce_daily; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.email_bounce_daily IS 'Emails sent (or captured locally) per day (last 30), Resend''s bounces and complaints reported that day, and the bounce rate.';


--
-- Name: email_suppressions; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.email_suppressions (
    email text NOT NULL,
    reason text NOT NULL,
    provider_event_id text,
    detail text,
    suppressed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT email_suppressions_email_check CHECK ((email = lower(email))),
    CONSTRAINT email_suppressions_reason_check CHECK ((reason = ANY (ARRAY['bounced'::text, 'complained'::text])))
);


--
-- Name: TABLE email_suppressions; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.email_suppressions IS 'Addresses that bounced or complained (Resend webhooks): later emails to them are skipped, and visible in ops.notifications.';


--
-- Name: endpoint_outcomes; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.endpoint_outcomes (
    endpoint text NOT NULL,
    minute timestamp with time zone NOT NULL,
    status_class text NOT NULL,
    reason text NOT NULL,
    count bigint DEFAULT 0 NOT NULL,
    CONSTRAINT endpoint_outcomes_count_check CHECK ((count >= 0)),
    CONSTRAINT endpoint_outcomes_endpoint_check CHECK ((endpoint ~ '^[a-z][a-z0-9-]{0,62}$'::text)),
    CONSTRAINT endpoint_outcomes_reason_check CHECK ((reason ~ '^[a-z][a-z0-9_]{0,39}$'::text)),
    CONSTRAINT endpoint_outcomes_status_class_check CHECK ((status_class = ANY (ARRAY['4xx'::text, '5xx'::text])))
);


--
-- Name: TABLE endpoint_outcomes; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.endpoint_outcomes IS 'Per-minute counts of refused (4xx) and failed (5xx) answers of our HTTP endpoints (stripe-webhook: 4xx and 5xx; support-intake, resend-webhook: 5xx), by reason; successes are the ledger. Purged after 7 days.';


--
-- Name: inbound_emails; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.inbound_emails (
    email_id text NOT NULL,
    delivery_id text,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    ticket_id uuid,
    message_id uuid,
    outcome text NOT NULL,
    reason text,
    sender_masked text,
    CONSTRAINT inbound_emails_check CHECK (((outcome = 'ignored'::text) = (reason IS NOT NULL))),
    CONSTRAINT inbound_emails_delivery_id_check CHECK ((length(delivery_id) <= 255)),
    CONSTRAINT inbound_emails_email_id_check CHECK (((length(email_id) >= 1) AND (length(email_id) <= 255))),
    CONSTRAINT inbound_emails_outcome_check CHECK ((outcome = ANY (ARRAY['appended'::text, 'ignored'::text]))),
    CONSTRAINT inbound_emails_reason_check CHECK ((length(reason) <= 500)),
    CONSTRAINT inbound_emails_sender_masked_check CHECK ((length(sender_masked) <= 320))
);


--
-- Name: TABLE inbound_emails; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.inbound_emails IS 'Emails received on the inbound domain (Resend email.received), once per Resend email id: appended to their ticket, or ignored with the reason (forged or unknown token, auto-reply, closed ticket, another sender). The sender is kept masked.';


--
-- Name: invoices; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.invoices (
    stripe_invoice_id text NOT NULL,
    stripe_customer_id text,
    stripe_subscription_id text,
    status text,
    amount_due bigint,
    amount_paid bigint,
    currency text,
    paid boolean DEFAULT false NOT NULL,
    attempt_count integer,
    last_failed_at timestamp with time zone,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE invoices; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.invoices IS 'Stripe invoices: paid and failed attempts, per customer and subscription.';


--
-- Name: job_attempts; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.job_attempts (
    id bigint NOT NULL,
    job_id bigint NOT NULL,
    attempt integer NOT NULL,
    worker text,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    outcome text,
    error text,
    CONSTRAINT job_attempts_outcome_check CHECK ((outcome = ANY (ARRAY['succeeded'::text, 'failed'::text, 'dead'::text, 'deferred'::text, 'lease_expired'::text])))
);


--
-- Name: TABLE job_attempts; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.job_attempts IS 'Each attempt at a job and how it ended: the history behind failure rates and exceptions.';


--
-- Name: job_attempts_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.job_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.job_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: job_drains; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.job_drains (
    kind text NOT NULL,
    held_until timestamp with time zone NOT NULL
);


--
-- Name: TABLE job_drains; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.job_drains IS 'Job kinds a worker is draining now (until held_until): their new jobs are claimed by the drain instead of being dispatched one HTTP request each.';


--
-- Name: job_kinds; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.job_kinds (
    kind text NOT NULL,
    function_name text NOT NULL,
    max_attempts integer DEFAULT 8 NOT NULL,
    timeout_ms integer DEFAULT 30000 NOT NULL,
    lease_seconds integer DEFAULT 120 NOT NULL,
    backoff_base_ms integer DEFAULT 10000 NOT NULL,
    backoff_max_ms integer DEFAULT 3600000 NOT NULL,
    CONSTRAINT job_kinds_backoff_base_ms_check CHECK ((backoff_base_ms > 0)),
    CONSTRAINT job_kinds_backoff_max_ms_check CHECK ((backoff_max_ms > 0)),
    CONSTRAINT job_kinds_lease_seconds_check CHECK (((lease_seconds >= 5) AND (lease_seconds <= 3600))),
    CONSTRAINT job_kinds_max_attempts_check CHECK (((max_attempts >= 1) AND (max_attempts <= 50))),
    CONSTRAINT job_kinds_timeout_ms_check CHECK (((timeout_ms >= 1000) AND (timeout_ms <= 300000)))
);


--
-- Name: TABLE job_kinds; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.job_kinds IS 'Kinds of jobs: the worker function that runs them, attempts, timeout, lease and backoff.';


--
-- Name: job_priorities; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.job_priorities (
    kind text NOT NULL,
    template text DEFAULT '%'::text NOT NULL,
    priority integer NOT NULL,
    why text NOT NULL
);


--
-- Name: TABLE job_priorities; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.job_priorities IS 'Which jobs go first: priority by kind and template (a template without a row takes its kind''s ''%'' row, a kind without one 0). Higher runs first; ties run oldest first. Read at enqueue: a change applies to jobs enqueued after it. Templates added later need no row: they run at their kind''s priority.';


--
-- Name: jobs_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.jobs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: last_successes; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.last_successes WITH (security_invoker='true') AS
 SELECT 'crm_sync'::text AS what,
    GREATEST(( SELECT max(crm_contacts.synced_at) AS max
           FROM ops.crm_contacts), ( SELECT max(crm_deals.synced_at) AS max
           FROM ops.crm_deals)) AS last_success_at,
    'last contact or deal written to the CRM'::text AS detail
UNION ALL
 SELECT 'email_send'::text AS what,
    ( SELECT max(notifications.created_at) AS max
           FROM ops.notifications
          WHERE ((notifications.channel = 'email'::text) AND (notifications.status = ANY (ARRAY['sent'::text, 'captured'::text])))) AS last_success_at,
    'last email sent (or captured by the local adapter)'::text AS detail
UNION ALL
 SELECT 'slack_post'::text AS what,
    ( SELECT max(notifications.created_at) AS max
           FROM ops.notifications
          WHERE ((notifications.channel = 'slack'::text) AND (notifications.status = ANY (ARRAY['sent'::text, 'captured'::text])))) AS last_success_at,
    'last Slack alert posted (or captured)'::text AS detail
UNION ALL
 SELECT 'stripe_event'::text AS what,
    ( SELECT max(stripe_events.received_at) AS max
           FROM ops.stripe_events
          WHERE (stripe_events.status = 'processed'::text)) AS last_success_at,
    'last Stripe event received and applied'::text AS detail;


--
-- Name: VIEW last_successes; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.last_successes IS 'When the CRM sync, an email, a Slack post and a Stripe event last succeeded.';


--
-- Name: notification_captures; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.notification_captures (
    id bigint NOT NULL,
    channel text NOT NULL,
    key text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    cleared_at timestamp with time zone,
    CONSTRAINT notification_captures_channel_check CHECK ((channel = ANY (ARRAY['email'::text, 'slack'::text])))
);


--
-- Name: TABLE notification_captures; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.notification_captures IS 'What the local capture adapters would have sent to Resend and Slack (the default without RESEND_API_KEY / SLACK_WEBHOOK_URL): readable in Studio.';


--
-- Name: notification_captures_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.notification_captures ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.notification_captures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: notifications_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.notifications ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.notifications_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: stripe_customers; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.stripe_customers (
    stripe_customer_id text NOT NULL,
    customer_id uuid NOT NULL,
    linked_by text,
    linked_at timestamp with time zone,
    linked_note text,
    reviewed_at timestamp with time zone,
    reviewed_note text,
    email text,
    name text,
    deleted_at timestamp with time zone,
    stripe_event_created timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT stripe_customers_check CHECK (((linked_by IS NULL) = (linked_at IS NULL))),
    CONSTRAINT stripe_customers_linked_by_check CHECK ((linked_by = ANY (ARRAY['metadata'::text, 'server'::text, 'admin'::text])))
);


--
-- Name: TABLE stripe_customers; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.stripe_customers IS 'Stripe customers and the customer row each belongs to (linked_by: how it was tied to the row''s user; null when the row is its own). First claim wins: a link moves only by ops.link_stripe_customer (an admin).';


--
-- Name: open_dunning_cases; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.open_dunning_cases WITH (security_invoker='true') AS
 SELECT d.stripe_invoice_id,
    c.id AS customer_id,
    c.user_id,
    c.email,
    c.billing_status,
    c.access_status,
    d.amount_due,
    d.currency,
    d.attempt_count,
    d.failed_at,
    (d.failed_at + make_interval(days => s.dunning_grace_days)) AS grace_ends_at,
    d.grace_ended_at,
    d.reminders_sent,
    d.policy,
    d.hosted_invoice_url
   FROM (((ops.dunning_cases d
     JOIN ops.stripe_customers m ON ((m.stripe_customer_id = d.stripe_customer_id)))
     JOIN public.customers c ON ((c.id = m.customer_id)))
     CROSS JOIN ops.settings s)
  WHERE (d.recovered_at IS NULL);


--
-- Name: VIEW open_dunning_cases; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.open_dunning_cases IS 'Failed renewals not paid yet, with their customer''s access and when their grace period ends (Studio).';


--
-- Name: open_incidents; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.open_incidents WITH (security_invoker='true') AS
 SELECT i.id,
    i.rule,
    r.severity,
    i.summary,
    i.detail,
    i.opened_at,
    i.last_seen_at,
    (now() - i.opened_at) AS open_for,
    r.runbook
   FROM (ops.alert_incidents i
     JOIN ops.alert_rules r ON ((r.rule = i.rule)))
  WHERE (i.status = 'open'::text);


--
-- Name: VIEW open_incidents; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.open_incidents IS 'Open alert incidents with their rule''s severity and one-line runbook.';


--
-- Name: order_reviews; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.order_reviews (
    id bigint NOT NULL,
    order_id uuid NOT NULL,
    payment_ref text,
    accepted boolean NOT NULL,
    reason text,
    note text NOT NULL,
    decided_by text DEFAULT CURRENT_USER NOT NULL,
    decided_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT order_reviews_note_check CHECK ((length(TRIM(BOTH FROM note)) > 0))
);


--
-- Name: TABLE order_reviews; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.order_reviews IS 'Operators'' decisions on orders in review (ops.resolve_order_review): accept or refuse one payment of an order, with a note. Kept as the audit trail.';


--
-- Name: order_reviews_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.order_reviews ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.order_reviews_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: order_status_transitions; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.order_status_transitions (
    from_status text NOT NULL,
    to_status text NOT NULL,
    CONSTRAINT order_status_transitions_check CHECK ((from_status <> to_status))
);


--
-- Name: TABLE order_status_transitions; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.order_status_transitions IS 'Every allowed order status change. Nothing moves back to pending_payment, nothing paid moves to payment_failed, canceled or in_review; refunds that fail or are reversed move back towards paid.';


--
-- Name: order_statuses; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.order_statuses (
    status text NOT NULL,
    payment_confirmed boolean NOT NULL,
    description text NOT NULL
);


--
-- Name: TABLE order_statuses; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.order_statuses IS 'The states an order can be in, and whether each means a confirmed payment (orders.payment_confirmed follows it).';


--
-- Name: overrides_weekly; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.overrides_weekly WITH (security_invoker='true') AS
 SELECT w.week,
    sum(w.n) AS overrides,
    jsonb_object_agg(w.action, w.n) AS by_action
   FROM ( SELECT (date_trunc('week'::text, a.at))::date AS week,
            a.action,
            count(*) AS n
           FROM ops.audit_log a
          WHERE ((a.actor_id IS NOT NULL) AND (a.at >= (date_trunc('week'::text, now()) - '77 days'::interval)))
          GROUP BY ((date_trunc('week'::text, a.at))::date), a.action) w
  GROUP BY w.week;


--
-- Name: VIEW overrides_weekly; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.overrides_weekly IS 'Changes a person made on the dashboard (audit rows with an actor: access overrides, replays, review decisions, ticket moves) per ISO week, last 12 weeks, by action.';


--
-- Name: status_changes; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.status_changes (
    id bigint NOT NULL,
    entity text NOT NULL,
    from_status text,
    to_status text NOT NULL,
    stripe_event_id text,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    changed_by uuid,
    actor text
);


--
-- Name: TABLE status_changes; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.status_changes IS 'Every status change of an order, customer (billing) or ticket, and the Stripe event behind it: the history ops.journey shows.';


--
-- Name: COLUMN status_changes.changed_by; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.status_changes.changed_by IS 'The signed-in user (auth.uid()) whose request made the change.';


--
-- Name: COLUMN status_changes.actor; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.status_changes.actor IS 'Who made the change: seller, buyer, admin, requester or user (an app request), stripe (an event), auto_complete (pg_cron), else system:<login> (Studio, a worker).';


--
-- Name: payment_access_lag; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.payment_access_lag WITH (security_invoker='true') AS
 SELECT s.entity,
    s.to_status,
    e.event_id,
    e.type,
    e.event_created AS paid_at,
    s.changed_at AS granted_at,
    GREATEST((s.changed_at - e.event_created), '00:00:00'::interval) AS lag
   FROM (ops.status_changes s
     JOIN ops.stripe_events e ON ((e.event_id = s.stripe_event_id)))
  WHERE ((s.to_status = ANY (ARRAY['paid'::text, 'active'::text])) AND (s.stripe_event_id IS NOT NULL) AND (s.changed_at >= (now() - '30 days'::interval)) AND (((s.entity ~~ 'order:%'::text) AND (s.to_status = 'paid'::text)) OR ((s.entity ~~ 'customer:%'::text) AND (s.to_status = 'active'::text))));


--
-- Name: VIEW payment_access_lag; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.payment_access_lag IS 'Each grant of the last 30 days (an order paid, a customer''s billing active) and its lag: from Stripe creating the event that paid to our status change (delivery, retries, apply).';


--
-- Name: payment_access_lag_daily; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.payment_access_lag_daily WITH (security_invoker='true') AS
 SELECT (date_trunc('day'::text, l.granted_at))::date AS day,
    count(*) AS grants,
    round(EXTRACT(epoch FROM percentile_cont((0.5)::double precision) WITHIN GROUP (ORDER BY l.lag)), 1) AS p50_s,
    round(EXTRACT(epoch FROM percentile_cont((0.95)::double precision) WITHIN GROUP (ORDER BY l.lag)), 1) AS p95_s,
    round(EXTRACT(epoch FROM max(l.lag)), 1) AS max_s,
    count(*) FILTER (WHERE (l.lag > '00:05:00'::interval)) AS over_5_min
   FROM ops.payment_access_lag l
  GROUP BY ((date_trunc('day'::text, l.granted_at))::date);


--
-- Name: VIEW payment_access_lag_daily; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.payment_access_lag_daily IS 'Payment -> access lag per day (last 30): grants, p50 / p95 / max in seconds and how many took over 5 minutes.';


--
-- Name: payment_intents; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.payment_intents (
    stripe_payment_intent_id text NOT NULL,
    stripe_customer_id text,
    latest_charge_id text,
    amount bigint,
    currency text,
    amount_refunded bigint DEFAULT 0 NOT NULL,
    succeeded_at timestamp with time zone,
    last_failed_at timestamp with time zone,
    last_error text,
    canceled_at timestamp with time zone,
    order_id uuid,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    amount_received bigint,
    latest_charge_succeeded boolean DEFAULT false NOT NULL,
    latest_charge_at timestamp with time zone,
    amount_refunded_at timestamp with time zone
);


--
-- Name: TABLE payment_intents; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.payment_intents IS 'Facts about Stripe payment intents and their charges (succeeded, failed, canceled; the paying charge; the charge''s refunded total as of amount_refunded_at). Orders derive their status from them.';


--
-- Name: payment_outcomes; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.payment_outcomes WITH (security_invoker='true') AS
 SELECT date_trunc('day'::text, min(e.received_at)) AS day,
    'succeeded'::text AS outcome,
    COALESCE((e.payload #>> '{data,object,payment_intent}'::text[]), e.object_id) AS payment,
    min(e.received_at) AS at
   FROM ops.stripe_events e
  WHERE ((e.status <> 'ignored'::text) AND ((e.type = ANY (ARRAY['payment_intent.succeeded'::text, 'checkout.session.async_payment_succeeded'::text])) OR ((e.type = 'checkout.session.completed'::text) AND ((e.payload #>> '{data,object,payment_status}'::text[]) = 'paid'::text) AND ((e.payload #>> '{data,object,mode}'::text[]) = 'payment'::text))) AND (e.received_at >= (date_trunc('day'::text, now()) - '29 days'::interval)))
  GROUP BY COALESCE((e.payload #>> '{data,object,payment_intent}'::text[]), e.object_id)
UNION ALL
 SELECT date_trunc('day'::text, e.received_at) AS day,
    'failed'::text AS outcome,
    e.object_id AS payment,
    e.received_at AS at
   FROM ops.stripe_events e
  WHERE ((e.status <> 'ignored'::text) AND (e.type = 'payment_intent.payment_failed'::text) AND (e.received_at >= (date_trunc('day'::text, now()) - '29 days'::interval)));


--
-- Name: VIEW payment_outcomes; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.payment_outcomes IS 'Payments that succeeded (once each) and attempts that failed, last 30 days, from the ledger: what ops.payment_success_daily counts.';


--
-- Name: payment_success_daily; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.payment_success_daily WITH (security_invoker='true') AS
 SELECT (o.day)::date AS day,
    count(*) FILTER (WHERE (o.outcome = 'succeeded'::text)) AS succeeded,
    count(*) FILTER (WHERE (o.outcome = 'failed'::text)) AS failed_attempts,
    round(((count(*) FILTER (WHERE (o.outcome = 'succeeded'::text)))::numeric / (NULLIF(count(*), 0))::numeric), 4) AS success_rate
   FROM ops.payment_outcomes o
  GROUP BY o.day;


--
-- Name: VIEW payment_success_daily; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.payment_success_daily IS 'Payment success rate per day (last 30 days): payments succeeded over payments succeeded plus failed attempts.';


--
-- Name: orders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.orders (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    buyer_id uuid DEFAULT auth.uid(),
    seller_id uuid,
    listing_id uuid,
    status text DEFAULT 'pending_payment'::text NOT NULL,
    amount_total bigint,
    currency text,
    amount_charged bigint,
    currency_charged text,
    amount_refunded bigint DEFAULT 0 NOT NULL,
    stripe_checkout_session_id text,
    stripe_payment_intent_id text,
    stripe_customer_id text,
    payment_confirmed boolean DEFAULT false NOT NULL,
    needs_review boolean DEFAULT false NOT NULL,
    review_reason text,
    paid_at timestamp with time zone,
    version integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    quantity integer DEFAULT 1 NOT NULL,
    tracking_carrier text,
    tracking_number text,
    tracking_url text,
    fulfillment_started_at timestamp with time zone,
    completed_at timestamp with time zone,
    amount_refund_pending bigint DEFAULT 0 NOT NULL,
    payment_processing boolean DEFAULT false NOT NULL,
    CONSTRAINT orders_amount_charged_check CHECK ((amount_charged >= 0)),
    CONSTRAINT orders_amount_refund_pending_check CHECK ((amount_refund_pending >= 0)),
    CONSTRAINT orders_amount_refunded_check CHECK ((amount_refunded >= 0)),
    CONSTRAINT orders_amount_total_check CHECK ((amount_total >= 0)),
    CONSTRAINT orders_currency_check CHECK ((currency ~ '^[a-z]{3}$'::text)),
    CONSTRAINT orders_quantity_check CHECK (((quantity >= 1) AND (quantity <= 100))),
    CONSTRAINT orders_tracking_carrier_check CHECK ((tracking_carrier ~ '^[^[:cntrl:]]{1,100}$'::text)),
    CONSTRAINT orders_tracking_number_check CHECK ((tracking_number ~ '^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$'::text)),
    CONSTRAINT orders_tracking_url_check CHECK (((length(tracking_url) <= 500) AND (tracking_url ~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^[:space:][:cntrl:]]*)?$'::text)))
);


--
-- Name: TABLE orders; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.orders IS 'One-off marketplace orders. The app creates them as pending_payment; only the pipeline moves their status (see ops.order_status_transitions).';


--
-- Name: COLUMN orders.quantity; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.quantity IS 'Units of the listing bought; amount_total is the listing''s price times it.';


--
-- Name: COLUMN orders.amount_refund_pending; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.amount_refund_pending IS 'What refunds of the paying payment that Stripe has not finished (status pending or requires_action) will return; 0 when none. Derived by ops.recompute_order.';


--
-- Name: COLUMN orders.payment_processing; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.orders.payment_processing IS 'A Checkout session of the order is complete and its payment is still being confirmed (an async method), nothing paid or failed yet. Derived by ops.recompute_order.';


--
-- Name: pipeline_exceptions; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.pipeline_exceptions WITH (security_invoker='true') AS
 SELECT
        CASE
            WHEN (j.unclaimed_dispatches > 0) THEN 'undeliverable job'::text
            WHEN (j.kind ~~ 'notify.%'::text) THEN 'communication degraded'::text
            ELSE 'dead job'::text
        END AS exception,
        CASE
            WHEN (j.kind ~~ 'notify.%'::text) THEN COALESCE((j.payload ->> 'entity'::text), j.kind)
            ELSE j.kind
        END AS subject,
    (j.id)::text AS ref,
    j.updated_at AS since,
    j.attempts,
    j.last_error AS error,
        CASE
            WHEN (j.unclaimed_dispatches > 0) THEN format('check the vault secrets functions_base_url and worker_secret, that the function %s is deployed and that its WORKER_SECRET holds the vault''s worker_secret; then: select ops.replay_job(%s);'::text, k.function_name, j.id)
            ELSE format('fix the cause, then: select ops.replay_job(%s);  (or npm run replay -- jobs %s)'::text, j.id, j.id)
        END AS next_action
   FROM (ops.jobs j
     JOIN ops.job_kinds k ON ((k.kind = j.kind)))
  WHERE (j.status = 'dead'::text)
UNION ALL
 SELECT 'retrying job'::text AS exception,
    j.kind AS subject,
    (j.id)::text AS ref,
    j.updated_at AS since,
    j.attempts,
    j.last_error AS error,
    format('retries automatically at %s (attempt %s of %s)'::text, j.run_at, (j.attempts + 1), j.max_attempts) AS next_action
   FROM ops.jobs j
  WHERE ((j.status = 'failed'::text) AND (j.run_at >= (now() - '00:05:00'::interval)))
UNION ALL
 SELECT 'stuck job'::text AS exception,
    j.kind AS subject,
    (j.id)::text AS ref,
    j.run_at AS since,
    j.attempts,
    COALESCE(j.last_error, 'not claimed since it became due'::text) AS error,
    format('dispatched %s times since its last claim; the sweep re-sends it with backoff and dead-letters it if that goes on: check the vault secrets functions_base_url and worker_secret, the function %s and its WORKER_SECRET'::text, j.unclaimed_dispatches, k.function_name) AS next_action
   FROM (ops.jobs j
     JOIN ops.job_kinds k ON ((k.kind = j.kind)))
  WHERE ((j.status = ANY (ARRAY['queued'::text, 'failed'::text])) AND (j.run_at < (now() - '00:05:00'::interval)))
UNION ALL
 SELECT 'failed Stripe event'::text AS exception,
    e.type AS subject,
    e.event_id AS ref,
    e.received_at AS since,
    e.attempts,
    e.last_error AS error,
    format('fix the cause, then: select * from ops.reapply_stripe_events(array[%L]);'::text, e.event_id) AS next_action
   FROM ops.stripe_events e
  WHERE (e.status = ANY (ARRAY['failed'::text, 'dead'::text]))
UNION ALL
 SELECT 'ignored Stripe event'::text AS exception,
    e.type AS subject,
    e.event_id AS ref,
    e.received_at AS since,
    e.attempts,
    e.ignored_reason AS error,
    format('nothing was applied. If this project should take such events, set ops.settings and the webhook''s STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID alike, then: select * from ops.reapply_stripe_events(array[%L]); else remove the Stripe endpoint that sends them to this project. Then: update ops.stripe_events set reviewed_at = now() where event_id = %L;'::text, e.event_id, e.event_id) AS next_action
   FROM ops.stripe_events e
  WHERE ((e.ignored_reason IS NOT NULL) AND (e.reviewed_at IS NULL))
UNION ALL
 SELECT 'sanitized Stripe event'::text AS exception,
    e.type AS subject,
    e.event_id AS ref,
    e.received_at AS since,
    e.attempts,
    'a string held the NUL character (\u0000), which Postgres cannot store; stored and applied with U+FFFD in its place'::text AS error,
    format('check the text fields of %s (a customer''s name, a Checkout custom field) in Stripe and here, correct them if needed, then: update ops.stripe_events set reviewed_at = now() where event_id = %L;'::text, COALESCE(e.object_id, 'the event''s object'::text), e.event_id) AS next_action
   FROM ops.stripe_events e
  WHERE (e.sanitized AND (e.reviewed_at IS NULL))
UNION ALL
 SELECT
        CASE
            WHEN (o.status = 'in_review'::text) THEN 'order payment in review'::text
            ELSE 'order needs review'::text
        END AS exception,
    o.status AS subject,
    (o.id)::text AS ref,
    o.updated_at AS since,
    NULL::integer AS attempts,
    o.review_reason AS error,
        CASE
            WHEN (o.status = 'in_review'::text) THEN format('compare the payment with the order in Stripe; accept it (the order becomes paid): select ops.resolve_order_review(%L, true, ''why''); or refund it in Stripe and refuse it (the order is canceled): select ops.resolve_order_review(%L, false, ''why'');'::text, o.id, o.id)
            ELSE format('check it in Stripe (refund a double payment; match an order-less payment to its buyer and listing), then: select ops.resolve_order_review(%L, true, ''what you did'');'::text, o.id)
        END AS next_action
   FROM public.orders o
  WHERE o.needs_review
UNION ALL
 SELECT 'customer needs review'::text AS exception,
    COALESCE(sc.ids, 'no Stripe customer'::text) AS subject,
    (c.id)::text AS ref,
    c.updated_at AS since,
    NULL::integer AS attempts,
    c.review_reason AS error,
    format('if %s belongs to a user: select ops.link_stripe_customer(%L, ''<user id>'', ''<why>'');  if the row is right as it is: select ops.resolve_customer_review(%L, ''<why>'');'::text, COALESCE(sc.ids, 'its Stripe customer'::text), COALESCE(sc.first_id, '<cus_...>'::text), c.id) AS next_action
   FROM (public.customers c
     LEFT JOIN LATERAL ( SELECT string_agg(m.stripe_customer_id, ', '::text ORDER BY m.created_at) AS ids,
            (array_agg(m.stripe_customer_id ORDER BY m.created_at))[1] AS first_id
           FROM ops.stripe_customers m
          WHERE (m.customer_id = c.id)) sc ON (true))
  WHERE c.needs_review;


--
-- Name: VIEW pipeline_exceptions; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.pipeline_exceptions IS 'Everything that needs a person: dead, undeliverable and retrying jobs, stuck jobs, communication degraded, failed Stripe events, ignored (other mode or account) and sanitized Stripe events, orders to review and payments in review, customers to review; with the next action for each.';


--
-- Name: pipeline_health; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.pipeline_health WITH (security_invoker='true') AS
 WITH depth AS (
         SELECT jobs.kind,
            count(*) FILTER (WHERE (jobs.status = 'queued'::text)) AS queued,
            count(*) FILTER (WHERE (jobs.status = 'running'::text)) AS running,
            count(*) FILTER (WHERE (jobs.status = 'failed'::text)) AS retrying,
            count(*) FILTER (WHERE (jobs.status = 'dead'::text)) AS dead,
            count(*) FILTER (WHERE (jobs.status = 'succeeded'::text)) AS succeeded,
            min(jobs.run_at) FILTER (WHERE ((jobs.status = ANY (ARRAY['queued'::text, 'failed'::text])) AND (jobs.run_at <= now()))) AS oldest_due_at
           FROM ops.jobs
          GROUP BY jobs.kind
        ), attempts AS (
         SELECT j.kind,
            count(*) AS attempts_last_hour,
            count(*) FILTER (WHERE (a.outcome = ANY (ARRAY['failed'::text, 'dead'::text, 'lease_expired'::text]))) AS failed_attempts_last_hour
           FROM (ops.job_attempts a
             JOIN ops.jobs j ON ((j.id = a.job_id)))
          WHERE (a.started_at > (now() - '01:00:00'::interval))
          GROUP BY j.kind
        ), latency AS (
         SELECT jobs.kind,
            percentile_cont((0.5)::double precision) WITHIN GROUP (ORDER BY ((EXTRACT(epoch FROM (jobs.succeeded_at - jobs.created_at)))::double precision)) AS p50_seconds,
            percentile_cont((0.95)::double precision) WITHIN GROUP (ORDER BY ((EXTRACT(epoch FROM (jobs.succeeded_at - jobs.created_at)))::double precision)) AS p95_seconds
           FROM ops.jobs
          WHERE ((jobs.status = 'succeeded'::text) AND (jobs.succeeded_at > (now() - '01:00:00'::interval)))
          GROUP BY jobs.kind
        )
 SELECT k.kind,
    COALESCE(d.queued, (0)::bigint) AS queued,
    COALESCE(d.running, (0)::bigint) AS running,
    COALESCE(d.retrying, (0)::bigint) AS retrying,
    COALESCE(d.dead, (0)::bigint) AS dead,
    COALESCE(d.succeeded, (0)::bigint) AS succeeded,
    d.oldest_due_at,
    (now() - d.oldest_due_at) AS oldest_due_age,
    COALESCE(a.attempts_last_hour, (0)::bigint) AS attempts_last_hour,
    round(COALESCE(((a.failed_attempts_last_hour)::numeric / (NULLIF(a.attempts_last_hour, 0))::numeric), (0)::numeric), 3) AS failure_rate_last_hour,
    round((l.p50_seconds)::numeric, 3) AS p50_enqueue_to_success_s,
    round((l.p95_seconds)::numeric, 3) AS p95_enqueue_to_success_s
   FROM (((ops.job_kinds k
     LEFT JOIN depth d ON ((d.kind = k.kind)))
     LEFT JOIN attempts a ON ((a.kind = k.kind)))
     LEFT JOIN latency l ON ((l.kind = k.kind)))
UNION ALL
 SELECT 'stripe_events'::text AS kind,
    count(*) FILTER (WHERE (stripe_events.status = 'received'::text)) AS queued,
    0 AS running,
    count(*) FILTER (WHERE (stripe_events.status = 'failed'::text)) AS retrying,
    count(*) FILTER (WHERE (stripe_events.status = 'dead'::text)) AS dead,
    count(*) FILTER (WHERE (stripe_events.status = ANY (ARRAY['processed'::text, 'ignored'::text]))) AS succeeded,
    NULL::timestamp with time zone AS oldest_due_at,
    NULL::interval AS oldest_due_age,
    count(*) FILTER (WHERE (stripe_events.received_at > (now() - '01:00:00'::interval))) AS attempts_last_hour,
    round(COALESCE(((count(*) FILTER (WHERE ((stripe_events.status = 'failed'::text) AND (stripe_events.received_at > (now() - '01:00:00'::interval)))))::numeric / (NULLIF(count(*) FILTER (WHERE (stripe_events.received_at > (now() - '01:00:00'::interval))), 0))::numeric), (0)::numeric), 3) AS failure_rate_last_hour,
    NULL::numeric AS p50_enqueue_to_success_s,
    NULL::numeric AS p95_enqueue_to_success_s
   FROM ops.stripe_events;


--
-- Name: VIEW pipeline_health; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.pipeline_health IS 'One row per job kind (and one for the Stripe ledger): queue depth by status, oldest due job, failure rate and enqueue-to-success p50/p95 over the last hour.';


--
-- Name: rate_limit_buckets; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.rate_limit_buckets (
    bucket text NOT NULL,
    urgent_until timestamp with time zone
);


--
-- Name: TABLE rate_limit_buckets; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.rate_limit_buckets IS 'Request budgets shared by every worker instance (e.g. HubSpot: 100 requests per 10 s); the row serialises takers.';


--
-- Name: COLUMN rate_limit_buckets.urgent_until; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON COLUMN ops.rate_limit_buckets.urgent_until IS 'Until when an urgent job waits for this budget: non-urgent takers are refused until then.';


--
-- Name: rate_limit_grants; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.rate_limit_grants (
    bucket text NOT NULL,
    granted_at timestamp with time zone NOT NULL,
    tokens integer NOT NULL,
    CONSTRAINT rate_limit_grants_tokens_check CHECK ((tokens > 0))
);


--
-- Name: TABLE rate_limit_grants; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.rate_limit_grants IS 'Tokens granted in the current sliding window, per bucket (older rows are deleted as the window moves).';


--
-- Name: reconcile_connect_accounts_checked; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.reconcile_connect_accounts_checked (
    stripe_account_id text NOT NULL,
    checked_at timestamp with time zone NOT NULL
);


--
-- Name: TABLE reconcile_connect_accounts_checked; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.reconcile_connect_accounts_checked IS 'When reconciliation last listed a connected account''s payouts: each run takes the accounts checked longest ago, so a bounded run still reaches every seller in turn.';


--
-- Name: reconciliation_checkpoints; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.reconciliation_checkpoints (
    scope text NOT NULL,
    events_checked_until timestamp with time zone,
    not_before timestamp with time zone,
    pass_from timestamp with time zone,
    pass_until timestamp with time zone,
    pass_cursor text,
    run_job_id bigint,
    run_stats jsonb DEFAULT '{}'::jsonb NOT NULL,
    last_finished_at timestamp with time zone,
    last_summary jsonb,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reconciliation_checkpoints_check CHECK (((pass_from IS NULL) = (pass_until IS NULL)))
);


--
-- Name: TABLE reconciliation_checkpoints; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.reconciliation_checkpoints IS 'Where reconciliation against Stripe stands, per Stripe mode and account: events checked until when, the pass under way (window and cursor), the floor not_before, and the last run''s summary.';


--
-- Name: reconciliation_findings; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.reconciliation_findings (
    id bigint NOT NULL,
    kind text NOT NULL,
    object_id text NOT NULL,
    order_id uuid,
    customer_id uuid,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    next_action text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    found_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    resolved_at timestamp with time zone,
    CONSTRAINT reconciliation_findings_status_check CHECK ((status = ANY (ARRAY['open'::text, 'resolved'::text])))
);


--
-- Name: TABLE reconciliation_findings; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.reconciliation_findings IS 'What reconciliation against Stripe found (one row per kind and object), with the next action; open findings are drift and open an alert.';


--
-- Name: reconciliation_findings_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.reconciliation_findings ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.reconciliation_findings_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: reconciliation_kinds; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.reconciliation_kinds (
    kind text NOT NULL,
    description text NOT NULL,
    verdict_fn text NOT NULL,
    CONSTRAINT reconciliation_kinds_kind_check CHECK ((kind ~ '^[a-z][a-z0-9_]{1,62}$'::text))
);


--
-- Name: TABLE reconciliation_kinds; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.reconciliation_kinds IS 'The kinds of reconciliation findings, each with the function that judges it (ops.reconcile_verdicts runs them all); a new kind is a verdict function and a row.';


--
-- Name: refunds; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.refunds (
    stripe_refund_id text NOT NULL,
    stripe_payment_intent_id text,
    stripe_charge_id text,
    amount bigint NOT NULL,
    currency text,
    status text NOT NULL,
    stripe_event_created timestamp with time zone NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT refunds_amount_check CHECK ((amount >= 0))
);


--
-- Name: TABLE refunds; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.refunds IS 'Stripe refunds (full and partial) as last reported.';


--
-- Name: retention_policies; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.retention_policies (
    name text NOT NULL,
    description text NOT NULL,
    purge_fn text NOT NULL,
    keep interval,
    enabled boolean DEFAULT true NOT NULL,
    CONSTRAINT retention_policies_keep_check CHECK ((keep > '00:00:00'::interval)),
    CONSTRAINT retention_policies_name_check CHECK ((name ~ '^[a-z][a-z0-9_]{1,62}$'::text))
);


--
-- Name: TABLE retention_policies; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.retention_policies IS 'What each feature purges and after how long (keep; null: personal data, ops.settings.personal_data_retention_days), by its purge function; ops.purge_pipeline_history runs every enabled one daily. Editable in Studio.';


--
-- Name: revenue_today; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.revenue_today WITH (security_invoker='true') AS
 WITH since AS (
         SELECT date_trunc('day'::text, now()) AS t
        ), paid AS (
         SELECT COALESCE(o.currency_charged, o.currency) AS currency,
            count(*) AS n,
            sum(COALESCE(o.amount_charged, (0)::bigint)) AS amount
           FROM public.orders o,
            since
          WHERE (o.payment_confirmed AND (o.paid_at >= since.t))
          GROUP BY COALESCE(o.currency_charged, o.currency)
        ), moves AS (
         SELECT COALESCE(o.currency_charged, o.currency) AS currency,
            count(DISTINCT o.id) FILTER (WHERE (s.to_status = ANY (ARRAY['refunded'::text, 'partially_refunded'::text]))) AS refunded,
            count(DISTINCT o.id) FILTER (WHERE (s.to_status = 'disputed'::text)) AS disputed
           FROM (ops.status_changes s
             JOIN public.orders o ON ((s.entity = ('order:'::text || (o.id)::text)))),
            since
          WHERE ((s.changed_at >= since.t) AND (s.to_status = ANY (ARRAY['refunded'::text, 'partially_refunded'::text, 'disputed'::text])))
          GROUP BY COALESCE(o.currency_charged, o.currency)
        ), refunds AS (
         SELECT lower(r_1.currency) AS currency,
            sum(r_1.amount) AS amount
           FROM ops.refunds r_1,
            since
          WHERE ((r_1.status = 'succeeded'::text) AND (r_1.stripe_event_created >= since.t))
          GROUP BY (lower(r_1.currency))
        ), currencies AS (
         SELECT paid.currency
           FROM paid
        UNION
         SELECT moves.currency
           FROM moves
        UNION
         SELECT refunds.currency
           FROM refunds
        )
 SELECT (( SELECT since.t
           FROM since))::date AS day,
    c.currency,
    COALESCE(p.amount, (0)::numeric) AS revenue,
    COALESCE(r.amount, (0)::numeric) AS refunded_amount,
    (COALESCE(p.amount, (0)::numeric) - COALESCE(r.amount, (0)::numeric)) AS net,
    COALESCE(p.n, (0)::bigint) AS paid,
    COALESCE(m.refunded, (0)::bigint) AS refunded,
    COALESCE(m.disputed, (0)::bigint) AS disputed
   FROM (((currencies c
     LEFT JOIN paid p ON ((p.currency = c.currency)))
     LEFT JOIN moves m ON ((m.currency = c.currency)))
     LEFT JOIN refunds r ON ((r.currency = c.currency)))
  WHERE (c.currency IS NOT NULL);


--
-- Name: VIEW revenue_today; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.revenue_today IS 'Today (the database''s day) per currency: revenue of orders paid today (amounts in the smallest unit), refunds succeeded today, net, and the number of orders paid, refunded and disputed today.';


--
-- Name: role_grants; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.role_grants (
    id bigint NOT NULL,
    user_id uuid NOT NULL,
    old_role text,
    new_role text NOT NULL,
    note text,
    granted_by_role text NOT NULL,
    granted_by_user uuid,
    granted_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE role_grants; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.role_grants IS 'Every change of a marketplace role (public.profiles.role), by any writer (a trigger on profiles): who, when, why. Role changes stay here; ops.audit_log holds the dashboard''s overrides.';


--
-- Name: role_grants_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.role_grants ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.role_grants_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: status_changes_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.status_changes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.status_changes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: stripe_subscription_statuses; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.stripe_subscription_statuses (
    stripe_status text NOT NULL,
    billing_status text NOT NULL,
    precedence integer NOT NULL,
    event_rank integer NOT NULL
);


--
-- Name: TABLE stripe_subscription_statuses; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.stripe_subscription_statuses IS 'Mapping from Stripe subscription statuses to our billing statuses.';


--
-- Name: support_queues; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.support_queues (
    queue text NOT NULL,
    description text NOT NULL,
    CONSTRAINT support_queues_queue_check CHECK ((queue ~ '^[a-z][a-z0-9_-]{0,39}$'::text))
);


--
-- Name: TABLE support_queues; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.support_queues IS 'Support queues. Add a row to add a queue; routing rules name them.';


--
-- Name: support_tickets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.support_tickets (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    ref text NOT NULL,
    requester_id uuid,
    order_id uuid,
    customer_id uuid,
    source text DEFAULT 'app'::text NOT NULL,
    category text NOT NULL,
    subject text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    queue text DEFAULT 'general'::text NOT NULL,
    priority text DEFAULT 'normal'::text NOT NULL,
    tags text[] DEFAULT '{}'::text[] NOT NULL,
    context jsonb DEFAULT '{}'::jsonb NOT NULL,
    client_context jsonb DEFAULT '{}'::jsonb NOT NULL,
    idempotency_key text,
    case_key text,
    follow_up_of uuid,
    reopened_count integer DEFAULT 0 NOT NULL,
    last_message_at timestamp with time zone,
    solved_at timestamp with time zone,
    closed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT support_tickets_category_check CHECK ((category = ANY (ARRAY['billing'::text, 'order'::text, 'technical'::text, 'account'::text, 'other'::text, 'dispute'::text, 'payment_failed'::text, 'payout_failed'::text, 'seller_problem'::text, 'buyer_problem'::text]))),
    CONSTRAINT support_tickets_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT support_tickets_source_check CHECK ((source = ANY (ARRAY['app'::text, 'system'::text]))),
    CONSTRAINT support_tickets_status_check CHECK ((status = ANY (ARRAY['open'::text, 'pending'::text, 'solved'::text, 'closed'::text]))),
    CONSTRAINT support_tickets_subject_check CHECK (((length(subject) >= 1) AND (length(subject) <= 200)))
);


--
-- Name: TABLE support_tickets; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.support_tickets IS 'Support tickets: from the app (support-intake, written as the user) or from the pipeline (disputes, failed payments). Queue, priority, tags and context are the server''s (ops.support_routing_rules).';


--
-- Name: support_backlog; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.support_backlog WITH (security_invoker='true') AS
 SELECT q.queue,
    count(t.id) FILTER (WHERE (t.status = 'open'::text)) AS open,
    count(t.id) FILTER (WHERE (t.status = 'pending'::text)) AS pending,
    count(t.id) FILTER (WHERE (t.priority = ANY (ARRAY['high'::text, 'urgent'::text]))) AS high_or_urgent,
    min(t.created_at) AS oldest_at,
    (now() - min(t.created_at)) AS oldest_age
   FROM (ops.support_queues q
     LEFT JOIN public.support_tickets t ON (((t.queue = q.queue) AND (t.status = ANY (ARRAY['open'::text, 'pending'::text])))))
  GROUP BY q.queue;


--
-- Name: VIEW support_backlog; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.support_backlog IS 'Open and pending tickets per support queue, how many are high or urgent, and the oldest one''s age.';


--
-- Name: support_priorities; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.support_priorities (
    priority text NOT NULL,
    rank integer NOT NULL
);


--
-- Name: support_routing_rules; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.support_routing_rules (
    id bigint NOT NULL,
    "position" integer NOT NULL,
    description text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    match_categories text[],
    match_billing_statuses text[],
    match_plans text[],
    min_order_amount bigint,
    min_lifetime_value bigint,
    match_vip boolean,
    set_queue text,
    set_priority text,
    add_tags text[] DEFAULT '{}'::text[] NOT NULL
);


--
-- Name: TABLE support_routing_rules; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.support_routing_rules IS 'Ticket routing a founder edits: conditions (category, billing status, plan, order value, lifetime value, VIP) -> queue, priority, tags. First queue by position, highest priority, all tags.';


--
-- Name: support_routing_rules_id_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

ALTER TABLE ops.support_routing_rules ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ops.support_routing_rules_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: support_ticket_ref_seq; Type: SEQUENCE; Schema: ops; Owner: -
--

CREATE SEQUENCE ops.support_ticket_ref_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: support_vips; Type: TABLE; Schema: ops; Owner: -
--

CREATE TABLE ops.support_vips (
    user_id uuid NOT NULL,
    note text,
    added_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE support_vips; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON TABLE ops.support_vips IS 'Users the founder marks as VIP (routing rules with match_vip).';


--
-- Name: webhook_answers; Type: VIEW; Schema: ops; Owner: -
--

CREATE VIEW ops.webhook_answers WITH (security_invoker='true') AS
 SELECT o.status_class,
    o.reason,
        CASE
            WHEN ops.stripe_webhook_refusal(o.status_class, o.reason) THEN 'webhook_refusals'::text
            ELSE 'webhook_failure_rate'::text
        END AS counts_in,
    COALESCE(sum(o.count) FILTER (WHERE (o.minute >= (now() - '00:15:00'::interval))), (0)::numeric) AS last_15_min,
    COALESCE(sum(o.count) FILTER (WHERE (o.minute >= (now() - '24:00:00'::interval))), (0)::numeric) AS last_24_h,
    sum(o.count) AS kept,
    max(o.minute) AS last_minute
   FROM ops.endpoint_outcomes o
  WHERE (o.endpoint = 'stripe-webhook'::text)
  GROUP BY o.status_class, o.reason,
        CASE
            WHEN ops.stripe_webhook_refusal(o.status_class, o.reason) THEN 'webhook_refusals'::text
            ELSE 'webhook_failure_rate'::text
        END
  ORDER BY
        CASE
            WHEN ops.stripe_webhook_refusal(o.status_class, o.reason) THEN 'webhook_refusals'::text
            ELSE 'webhook_failure_rate'::text
        END, COALESCE(sum(o.count) FILTER (WHERE (o.minute >= (now() - '24:00:00'::interval))), (0)::numeric) DESC, o.reason;


--
-- Name: VIEW webhook_answers; Type: COMMENT; Schema: ops; Owner: -
--

COMMENT ON VIEW ops.webhook_answers IS 'The Stripe webhook''s refused and failed answers by reason (the last 15 min, 24 h, and all kept), and the alert rule each counts in: webhook_refusals (before a valid signature, never a page) or webhook_failure_rate.';


--
-- Name: customer_state_texts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.customer_state_texts (
    kind text NOT NULL,
    state text NOT NULL,
    title text NOT NULL,
    explanation text NOT NULL,
    next_step text,
    action text,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT customer_state_texts_action_check CHECK ((action = ANY (ARRAY['resume_checkout'::text, 'retry_checkout'::text, 'start_checkout'::text, 'open_billing_portal'::text, 'contact_support'::text, 'confirm_order_received'::text, 'ship_order'::text, 'reply_to_ticket'::text, 'open_follow_up'::text]))),
    CONSTRAINT customer_state_texts_explanation_check CHECK (((length(explanation) >= 1) AND (length(explanation) <= 500))),
    CONSTRAINT customer_state_texts_kind_check CHECK ((kind = ANY (ARRAY['order'::text, 'sale'::text, 'access'::text, 'ticket'::text]))),
    CONSTRAINT customer_state_texts_next_step_check CHECK (((length(next_step) >= 1) AND (length(next_step) <= 500))),
    CONSTRAINT customer_state_texts_state_check CHECK ((state ~ '^[a-z][a-z_]{0,39}$'::text)),
    CONSTRAINT customer_state_texts_title_check CHECK (((length(title) >= 1) AND (length(title) <= 100)))
);


--
-- Name: TABLE customer_state_texts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.customer_state_texts IS 'What the app shows for each customer-facing state of public.my_orders (kind order), my_sales (sale), my_access (access) and my_tickets (ticket): edit title, explanation and next_step in Studio; kind and state are the stable keys an app may translate, action the key of its button.';


--
-- Name: listings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.listings (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    seller_id uuid DEFAULT auth.uid() NOT NULL,
    title text NOT NULL,
    price_amount bigint NOT NULL,
    currency text DEFAULT 'usd'::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT listings_currency_check CHECK ((currency ~ '^[a-z]{3}$'::text)),
    CONSTRAINT listings_price_amount_check CHECK ((price_amount > 0)),
    CONSTRAINT listings_title_check CHECK (((length(title) >= 1) AND (length(title) <= 200)))
);


--
-- Name: TABLE listings; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.listings IS 'What sellers offer. Sellers manage their own; anyone may read active ones.';


--
-- Name: plans; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.plans (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    description text,
    stripe_price_id text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT plans_description_check CHECK ((length(description) <= 2000)),
    CONSTRAINT plans_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT plans_stripe_price_id_check CHECK ((stripe_price_id ~ '^price_[A-Za-z0-9_]+$'::text))
);


--
-- Name: TABLE plans; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.plans IS 'Service plans buyers subscribe to through the checkout function (one live subscription per customer and plan). Edited in Studio; anyone may read active ones.';


--
-- Name: subscriptions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscriptions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    stripe_subscription_id text NOT NULL,
    customer_id uuid,
    stripe_customer_id text NOT NULL,
    status text NOT NULL,
    price_id text,
    quantity integer,
    cancel_at_period_end boolean DEFAULT false NOT NULL,
    current_period_end timestamp with time zone,
    trial_end timestamp with time zone,
    canceled_at timestamp with time zone,
    stripe_event_created timestamp with time zone NOT NULL,
    stripe_event_rank integer NOT NULL,
    stripe_event_id text DEFAULT ''::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE subscriptions; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.subscriptions IS 'Stripe subscriptions as last reported; guarded so that an older event never overwrites a newer one.';


--
-- Name: my_access; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.my_access WITH (security_invoker='true') AS
 SELECT me.user_id,
    COALESCE((c.access_status = ANY (ARRAY['granted'::text, 'grace'::text])), false) AS has_access,
    s.state,
    t.title,
    t.explanation,
    t.next_step,
    t.action,
    p.name AS plan,
        CASE
            WHEN ((sub.status = ANY (ARRAY['active'::text, 'trialing'::text, 'past_due'::text])) AND (NOT sub.cancel_at_period_end)) THEN sub.current_period_end
            ELSE NULL::timestamp with time zone
        END AS renews_at,
        CASE
            WHEN (sub.cancel_at_period_end AND (sub.status <> ALL (ARRAY['canceled'::text, 'incomplete_expired'::text]))) THEN sub.current_period_end
            ELSE NULL::timestamp with time zone
        END AS ends_at,
        CASE
            WHEN (sub.status = 'trialing'::text) THEN sub.trial_end
            ELSE NULL::timestamp with time zone
        END AS trial_ends_at,
        CASE
            WHEN (c.billing_status = ANY (ARRAY['past_due'::text, 'unpaid'::text])) THEN c.last_payment_failed_at
            ELSE NULL::timestamp with time zone
        END AS payment_failed_at,
    GREATEST(c.updated_at, sub.updated_at) AS updated_at
   FROM (((((( SELECT ( SELECT auth.uid() AS uid) AS user_id) me
     LEFT JOIN public.customers c ON ((c.user_id = me.user_id)))
     LEFT JOIN LATERAL ( SELECT x.status,
            x.price_id,
            x.cancel_at_period_end,
            x.current_period_end,
            x.trial_end,
            x.updated_at
           FROM public.subscriptions x
          WHERE (x.customer_id = c.id)
          ORDER BY
                CASE x.status
                    WHEN 'active'::text THEN 1
                    WHEN 'trialing'::text THEN 2
                    WHEN 'past_due'::text THEN 3
                    WHEN 'paused'::text THEN 4
                    WHEN 'unpaid'::text THEN 5
                    WHEN 'incomplete'::text THEN 6
                    ELSE 9
                END, x.current_period_end DESC NULLS LAST
         LIMIT 1) sub ON (true))
     LEFT JOIN public.plans p ON ((p.stripe_price_id = sub.price_id)))
     CROSS JOIN LATERAL ( SELECT
                CASE
                    WHEN (c.id IS NULL) THEN 'no_subscription'::text
                    WHEN ((c.access_status = 'blocked'::text) AND (c.billing_status = ANY (ARRAY['active'::text, 'trialing'::text]))) THEN 'suspended'::text
                    WHEN ((c.access_status = 'granted'::text) AND (c.billing_status = 'trialing'::text)) THEN 'trialing'::text
                    WHEN ((c.access_status = 'granted'::text) AND COALESCE(sub.cancel_at_period_end, false)) THEN 'ending'::text
                    WHEN (c.access_status = 'granted'::text) THEN 'active'::text
                    WHEN (c.access_status = 'grace'::text) THEN 'payment_failed_grace'::text
                    WHEN (c.billing_status = 'past_due'::text) THEN 'payment_failed_blocked'::text
                    WHEN (c.billing_status = 'unpaid'::text) THEN 'unpaid'::text
                    WHEN (c.billing_status = 'canceled'::text) THEN 'canceled'::text
                    ELSE 'no_subscription'::text
                END AS state) s)
     LEFT JOIN public.customer_state_texts t ON (((t.kind = 'access'::text) AND (t.state = s.state))))
  WHERE (me.user_id IS NOT NULL);


--
-- Name: VIEW my_access; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.my_access IS 'The signed-in user''s access: has_access, the state (active, trialing, ending, payment_failed_grace, payment_failed_blocked, unpaid, canceled, no_subscription, suspended), its wording and action (open_billing_portal: the billing-portal function), the deciding subscription''s plan and dates.';


--
-- Name: my_orders; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.my_orders WITH (security_invoker='true') AS
 SELECT o.id,
    o.listing_id,
    o.quantity,
    o.amount_total,
    o.currency,
    o.amount_refunded,
    o.amount_refund_pending,
    s.state,
    t.title,
    t.explanation,
    t.next_step,
    t.action,
    o.tracking_carrier,
    o.tracking_number,
    o.tracking_url,
    o.created_at,
    o.paid_at,
    o.fulfillment_started_at AS shipped_at,
    o.completed_at,
    o.updated_at
   FROM ((public.orders o
     CROSS JOIN LATERAL ( SELECT
                CASE
                    WHEN (o.status = 'disputed'::text) THEN 'disputed'::text
                    WHEN ((o.amount_refund_pending > 0) AND (o.status = ANY (ARRAY['paid'::text, 'in_fulfillment'::text, 'completed'::text, 'partially_refunded'::text, 'refunded'::text]))) THEN 'refund_pending'::text
                    WHEN (o.status = 'refunded'::text) THEN 'refunded'::text
                    WHEN (o.status = 'partially_refunded'::text) THEN 'partially_refunded'::text
                    WHEN ((o.status = 'in_review'::text) OR (o.needs_review AND (o.status = 'paid'::text))) THEN 'under_review'::text
                    WHEN (o.status = 'completed'::text) THEN 'completed'::text
                    WHEN (o.status = 'in_fulfillment'::text) THEN 'shipped'::text
                    WHEN ((o.status = 'paid'::text) AND (o.seller_id IS NOT NULL)) THEN 'payment_received'::text
                    WHEN (o.status = 'paid'::text) THEN 'paid'::text
                    WHEN o.payment_processing THEN 'processing'::text
                    WHEN (o.status = 'payment_failed'::text) THEN 'payment_failed'::text
                    WHEN (o.status = 'canceled'::text) THEN 'canceled'::text
                    ELSE 'awaiting_payment'::text
                END AS state) s)
     LEFT JOIN public.customer_state_texts t ON (((t.kind = 'order'::text) AND (t.state = s.state))))
  WHERE (o.buyer_id = ( SELECT auth.uid() AS uid));


--
-- Name: VIEW my_orders; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.my_orders IS 'The signed-in buyer''s orders with their customer-facing state (stable keys: awaiting_payment, processing, payment_received, paid, shipped, completed, refund_pending, refunded, partially_refunded, disputed, payment_failed, under_review, canceled) and its wording (public.customer_state_texts).';


--
-- Name: my_sales; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.my_sales WITH (security_invoker='true') AS
 SELECT o.id,
    o.listing_id,
    o.quantity,
    o.amount_total,
    o.currency,
    o.amount_refunded,
    o.amount_refund_pending,
    s.state,
    t.title,
    t.explanation,
    t.next_step,
    t.action,
    o.tracking_carrier,
    o.tracking_number,
    o.tracking_url,
    o.created_at,
    o.paid_at,
    o.fulfillment_started_at AS shipped_at,
    o.completed_at,
    o.updated_at
   FROM ((public.orders o
     CROSS JOIN LATERAL ( SELECT
                CASE
                    WHEN (o.status = 'disputed'::text) THEN 'disputed'::text
                    WHEN (o.amount_refund_pending > 0) THEN 'refund_pending'::text
                    WHEN (o.status = 'refunded'::text) THEN 'refunded'::text
                    WHEN (o.status = 'partially_refunded'::text) THEN 'partially_refunded'::text
                    WHEN (o.status = 'in_review'::text) THEN 'under_review'::text
                    WHEN (o.status = 'completed'::text) THEN 'completed'::text
                    WHEN (o.status = 'in_fulfillment'::text) THEN 'shipped'::text
                    ELSE 'to_ship'::text
                END AS state) s)
     LEFT JOIN public.customer_state_texts t ON (((t.kind = 'sale'::text) AND (t.state = s.state))))
  WHERE ((o.seller_id = ( SELECT auth.uid() AS uid)) AND (o.status = ANY (ARRAY['paid'::text, 'in_fulfillment'::text, 'completed'::text, 'partially_refunded'::text, 'refunded'::text, 'disputed'::text, 'in_review'::text])));


--
-- Name: VIEW my_sales; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.my_sales IS 'The signed-in seller''s paid orders (and those in review) with a seller-facing state (to_ship, shipped, completed, refund_pending, refunded, partially_refunded, disputed, under_review).';


--
-- Name: ticket_messages; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ticket_messages (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    ticket_id uuid NOT NULL,
    author_id uuid DEFAULT auth.uid(),
    author_kind text DEFAULT 'requester'::text NOT NULL,
    body text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    visibility text NOT NULL,
    idempotency_key text,
    author_name text,
    via text,
    email_message_id text,
    CONSTRAINT ticket_messages_author_kind_check CHECK ((author_kind = ANY (ARRAY['requester'::text, 'agent'::text, 'system'::text, 'party'::text]))),
    CONSTRAINT ticket_messages_author_name_check CHECK (((length(author_name) >= 1) AND (length(author_name) <= 200))),
    CONSTRAINT ticket_messages_body_check CHECK (((length(body) >= 1) AND (length(body) <= 10000))),
    CONSTRAINT ticket_messages_email_message_id_check CHECK (((length(email_message_id) >= 1) AND (length(email_message_id) <= 998))),
    CONSTRAINT ticket_messages_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT ticket_messages_via_check CHECK ((via = ANY (ARRAY['app'::text, 'dashboard'::text, 'studio'::text, 'email'::text]))),
    CONSTRAINT ticket_messages_visibility_check CHECK ((visibility = ANY (ARRAY['requester'::text, 'parties'::text, 'internal'::text])))
);


--
-- Name: TABLE ticket_messages; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.ticket_messages IS 'The conversation of a ticket: the requester''s messages, agents'' replies and system notes.';


--
-- Name: COLUMN ticket_messages.author_kind; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ticket_messages.author_kind IS 'Who wrote it: requester, agent (support: the dashboard, Studio or the Data API as an admin), system, party. The support side is author_kind = ''agent''; a ticket is answered when its newest non-internal message is one.';


--
-- Name: COLUMN ticket_messages.visibility; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ticket_messages.visibility IS 'Who reads the message: requester (the requester and support), parties (everyone who reads the ticket: both parties of an order''s seller_disputes ticket, the seller of its chargeback ticket), internal (support only).';


--
-- Name: COLUMN ticket_messages.author_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ticket_messages.author_name IS 'The agent as the requester reads it (the admin''s email, or the name given to ops.reply_to_ticket); null for requesters, parties and system notes.';


--
-- Name: COLUMN ticket_messages.via; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ticket_messages.via IS 'How it arrived: app (the Data API), dashboard, studio (ops.reply_to_ticket), email (a reply to our email).';


--
-- Name: COLUMN ticket_messages.email_message_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.ticket_messages.email_message_id IS 'The Message-ID header of the requester''s email that carried it (via email): later replies thread to it.';


--
-- Name: my_tickets; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.my_tickets WITH (security_invoker='true') AS
 SELECT tk.id,
    tk.ref,
    tk.subject,
    tk.category,
    tk.order_id,
    tk.follow_up_of,
    s.state,
    t.title,
    t.explanation,
    t.next_step,
    t.action,
    tk.created_at,
    tk.last_message_at,
    last.answered_at,
    tk.solved_at,
    tk.closed_at,
    tk.updated_at
   FROM (((public.support_tickets tk
     LEFT JOIN LATERAL ( SELECT (array_agg(m.author_kind ORDER BY m.created_at DESC, m.id DESC))[1] AS newest_author,
            max(m.created_at) FILTER (WHERE (m.author_kind = 'agent'::text)) AS answered_at
           FROM public.ticket_messages m
          WHERE ((m.ticket_id = tk.id) AND (m.visibility <> 'internal'::text))) last ON (true))
     CROSS JOIN LATERAL ( SELECT
                CASE
                    WHEN (tk.status = 'closed'::text) THEN 'closed'::text
                    WHEN (tk.status = 'solved'::text) THEN 'solved'::text
                    WHEN (tk.status = 'pending'::text) THEN 'waiting_for_you'::text
                    WHEN (last.newest_author = 'agent'::text) THEN 'answered'::text
                    ELSE 'received'::text
                END AS state) s)
     LEFT JOIN public.customer_state_texts t ON (((t.kind = 'ticket'::text) AND (t.state = s.state))))
  WHERE (tk.requester_id = ( SELECT auth.uid() AS uid));


--
-- Name: VIEW my_tickets; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON VIEW public.my_tickets IS 'The signed-in user''s support requests with their state (received, waiting_for_you, answered, solved, closed) and wording; no queue, priority, tags or context.';


--
-- Name: order_shares; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.order_shares (
    order_id uuid NOT NULL,
    seller_id uuid,
    destination_account_id text,
    currency text NOT NULL,
    charge_id text,
    charge_amount bigint,
    application_fee_id text,
    application_fee_amount bigint,
    application_fee_refunded bigint DEFAULT 0 NOT NULL,
    transfer_id text,
    transfer_amount bigint,
    transfer_reversed bigint DEFAULT 0 NOT NULL,
    seller_net bigint GENERATED ALWAYS AS ((COALESCE(transfer_amount, (0)::bigint) - transfer_reversed)) STORED,
    platform_net bigint GENERATED ALWAYS AS ((COALESCE(application_fee_amount, (0)::bigint) - application_fee_refunded)) STORED,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: TABLE order_shares; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.order_shares IS 'Each Connect order''s money as Stripe''s objects say it: the charge, the platform''s application fee (and what of it was refunded), the transfer to the seller (and what of it was reversed): seller_net and platform_net. The seller reads their orders'' rows, admins all; only the server writes.';


--
-- Name: seller_payouts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seller_payouts (
    id text NOT NULL,
    seller_id uuid,
    stripe_account_id text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    status text NOT NULL,
    arrival_date timestamp with time zone,
    failure_code text,
    failure_message text,
    stripe_updated_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    failed_at timestamp with time zone,
    CONSTRAINT seller_payouts_id_check CHECK ((id ~ '^po_[A-Za-z0-9]+$'::text)),
    CONSTRAINT seller_payouts_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'in_transit'::text, 'paid'::text, 'failed'::text, 'canceled'::text])))
);


--
-- Name: TABLE seller_payouts; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.seller_payouts IS 'Payouts of sellers'' connected accounts (payout.* events): amount, arrival date, status, failure code and message. Sellers read their own, admins all; only the server writes.';


--
-- Name: COLUMN seller_payouts.failed_at; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.seller_payouts.failed_at IS 'Stripe''s time (event created) of the payout.failed that failed it: the payout_failed alert counts these.';


--
-- Name: seller_transfer_reversals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.seller_transfer_reversals (
    id text NOT NULL,
    transfer_id text NOT NULL,
    order_id uuid,
    seller_id uuid,
    amount bigint NOT NULL,
    currency text NOT NULL,
    refund_id text,
    stripe_created timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT seller_transfer_reversals_id_check CHECK ((id ~ '^trr_[A-Za-z0-9]+$'::text))
);


--
-- Name: TABLE seller_transfer_reversals; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.seller_transfer_reversals IS 'Transfer reversals: money taken back from a seller''s share (a refund or dispute of a destination charge). Sellers read their own, admins all; only the server writes.';


--
-- Name: access_overrides access_overrides_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.access_overrides
    ADD CONSTRAINT access_overrides_pkey PRIMARY KEY (id);


--
-- Name: alert_incidents alert_incidents_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.alert_incidents
    ADD CONSTRAINT alert_incidents_pkey PRIMARY KEY (id);


--
-- Name: alert_rule_state alert_rule_state_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.alert_rule_state
    ADD CONSTRAINT alert_rule_state_pkey PRIMARY KEY (rule);


--
-- Name: alert_rules alert_rules_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.alert_rules
    ADD CONSTRAINT alert_rules_pkey PRIMARY KEY (rule);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);


--
-- Name: billing_status_transitions billing_status_transitions_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.billing_status_transitions
    ADD CONSTRAINT billing_status_transitions_pkey PRIMARY KEY (from_status, to_status);


--
-- Name: billing_statuses billing_statuses_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.billing_statuses
    ADD CONSTRAINT billing_statuses_pkey PRIMARY KEY (status);


--
-- Name: checkout_requests checkout_requests_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_pkey PRIMARY KEY (id);


--
-- Name: checkout_requests checkout_requests_stripe_checkout_session_id_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id);


--
-- Name: checkout_requests checkout_requests_user_id_idempotency_key_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_user_id_idempotency_key_key UNIQUE (user_id, idempotency_key);


--
-- Name: checkout_sessions checkout_sessions_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_sessions
    ADD CONSTRAINT checkout_sessions_pkey PRIMARY KEY (stripe_checkout_session_id);


--
-- Name: connect_application_fees connect_application_fees_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.connect_application_fees
    ADD CONSTRAINT connect_application_fees_pkey PRIMARY KEY (fee_id);


--
-- Name: connect_charges connect_charges_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.connect_charges
    ADD CONSTRAINT connect_charges_pkey PRIMARY KEY (charge_id);


--
-- Name: connect_transfers connect_transfers_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.connect_transfers
    ADD CONSTRAINT connect_transfers_pkey PRIMARY KEY (transfer_id);


--
-- Name: crm_capture crm_capture_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.crm_capture
    ADD CONSTRAINT crm_capture_pkey PRIMARY KEY (id);


--
-- Name: crm_contacts crm_contacts_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.crm_contacts
    ADD CONSTRAINT crm_contacts_pkey PRIMARY KEY (customer_id);


--
-- Name: crm_deals crm_deals_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.crm_deals
    ADD CONSTRAINT crm_deals_pkey PRIMARY KEY (order_id);


--
-- Name: disputes disputes_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.disputes
    ADD CONSTRAINT disputes_pkey PRIMARY KEY (stripe_dispute_id);


--
-- Name: dunning_cases dunning_cases_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.dunning_cases
    ADD CONSTRAINT dunning_cases_pkey PRIMARY KEY (stripe_invoice_id);


--
-- Name: duplicate_deliveries duplicate_deliveries_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.duplicate_deliveries
    ADD CONSTRAINT duplicate_deliveries_pkey PRIMARY KEY (day, endpoint);


--
-- Name: email_suppressions email_suppressions_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.email_suppressions
    ADD CONSTRAINT email_suppressions_pkey PRIMARY KEY (email);


--
-- Name: endpoint_outcomes endpoint_outcomes_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.endpoint_outcomes
    ADD CONSTRAINT endpoint_outcomes_pkey PRIMARY KEY (endpoint, minute, status_class, reason);


--
-- Name: inbound_emails inbound_emails_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.inbound_emails
    ADD CONSTRAINT inbound_emails_pkey PRIMARY KEY (email_id);


--
-- Name: invoices invoices_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.invoices
    ADD CONSTRAINT invoices_pkey PRIMARY KEY (stripe_invoice_id);


--
-- Name: job_attempts job_attempts_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_attempts
    ADD CONSTRAINT job_attempts_pkey PRIMARY KEY (id);


--
-- Name: job_drains job_drains_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_drains
    ADD CONSTRAINT job_drains_pkey PRIMARY KEY (kind);


--
-- Name: job_kinds job_kinds_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_kinds
    ADD CONSTRAINT job_kinds_pkey PRIMARY KEY (kind);


--
-- Name: job_priorities job_priorities_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_priorities
    ADD CONSTRAINT job_priorities_pkey PRIMARY KEY (kind, template);


--
-- Name: jobs jobs_dedupe_key_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.jobs
    ADD CONSTRAINT jobs_dedupe_key_key UNIQUE (dedupe_key);


--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (id);


--
-- Name: notification_captures notification_captures_key_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.notification_captures
    ADD CONSTRAINT notification_captures_key_key UNIQUE (key);


--
-- Name: notification_captures notification_captures_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.notification_captures
    ADD CONSTRAINT notification_captures_pkey PRIMARY KEY (id);


--
-- Name: notifications notifications_dedupe_key_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.notifications
    ADD CONSTRAINT notifications_dedupe_key_key UNIQUE (dedupe_key);


--
-- Name: notifications notifications_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.notifications
    ADD CONSTRAINT notifications_pkey PRIMARY KEY (id);


--
-- Name: order_reviews order_reviews_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_reviews
    ADD CONSTRAINT order_reviews_pkey PRIMARY KEY (id);


--
-- Name: order_status_transitions order_status_transitions_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_status_transitions
    ADD CONSTRAINT order_status_transitions_pkey PRIMARY KEY (from_status, to_status);


--
-- Name: order_statuses order_statuses_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_statuses
    ADD CONSTRAINT order_statuses_pkey PRIMARY KEY (status);


--
-- Name: payment_intents payment_intents_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.payment_intents
    ADD CONSTRAINT payment_intents_pkey PRIMARY KEY (stripe_payment_intent_id);


--
-- Name: provider_events provider_events_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.provider_events
    ADD CONSTRAINT provider_events_pkey PRIMARY KEY (provider, event_id);


--
-- Name: rate_limit_buckets rate_limit_buckets_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.rate_limit_buckets
    ADD CONSTRAINT rate_limit_buckets_pkey PRIMARY KEY (bucket);


--
-- Name: reconcile_connect_accounts_checked reconcile_connect_accounts_checked_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconcile_connect_accounts_checked
    ADD CONSTRAINT reconcile_connect_accounts_checked_pkey PRIMARY KEY (stripe_account_id);


--
-- Name: reconciliation_checkpoints reconciliation_checkpoints_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconciliation_checkpoints
    ADD CONSTRAINT reconciliation_checkpoints_pkey PRIMARY KEY (scope);


--
-- Name: reconciliation_findings reconciliation_findings_kind_object_id_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconciliation_findings
    ADD CONSTRAINT reconciliation_findings_kind_object_id_key UNIQUE (kind, object_id);


--
-- Name: reconciliation_findings reconciliation_findings_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconciliation_findings
    ADD CONSTRAINT reconciliation_findings_pkey PRIMARY KEY (id);


--
-- Name: reconciliation_kinds reconciliation_kinds_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconciliation_kinds
    ADD CONSTRAINT reconciliation_kinds_pkey PRIMARY KEY (kind);


--
-- Name: refunds refunds_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.refunds
    ADD CONSTRAINT refunds_pkey PRIMARY KEY (stripe_refund_id);


--
-- Name: retention_policies retention_policies_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.retention_policies
    ADD CONSTRAINT retention_policies_pkey PRIMARY KEY (name);


--
-- Name: role_grants role_grants_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.role_grants
    ADD CONSTRAINT role_grants_pkey PRIMARY KEY (id);


--
-- Name: settings settings_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (id);


--
-- Name: status_changes status_changes_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.status_changes
    ADD CONSTRAINT status_changes_pkey PRIMARY KEY (id);


--
-- Name: stripe_customers stripe_customers_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.stripe_customers
    ADD CONSTRAINT stripe_customers_pkey PRIMARY KEY (stripe_customer_id);


--
-- Name: stripe_events stripe_events_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.stripe_events
    ADD CONSTRAINT stripe_events_pkey PRIMARY KEY (event_id);


--
-- Name: stripe_subscription_statuses stripe_subscription_statuses_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.stripe_subscription_statuses
    ADD CONSTRAINT stripe_subscription_statuses_pkey PRIMARY KEY (stripe_status);


--
-- Name: support_priorities support_priorities_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_priorities
    ADD CONSTRAINT support_priorities_pkey PRIMARY KEY (priority);


--
-- Name: support_priorities support_priorities_rank_key; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_priorities
    ADD CONSTRAINT support_priorities_rank_key UNIQUE (rank);


--
-- Name: support_queues support_queues_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_queues
    ADD CONSTRAINT support_queues_pkey PRIMARY KEY (queue);


--
-- Name: support_routing_rules support_routing_rules_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_routing_rules
    ADD CONSTRAINT support_routing_rules_pkey PRIMARY KEY (id);


--
-- Name: support_vips support_vips_pkey; Type: CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_vips
    ADD CONSTRAINT support_vips_pkey PRIMARY KEY (user_id);


--
-- Name: customer_state_texts customer_state_texts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customer_state_texts
    ADD CONSTRAINT customer_state_texts_pkey PRIMARY KEY (kind, state);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: customers customers_user_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_user_id_key UNIQUE (user_id);


--
-- Name: listings listings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.listings
    ADD CONSTRAINT listings_pkey PRIMARY KEY (id);


--
-- Name: order_shares order_shares_application_fee_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_application_fee_id_key UNIQUE (application_fee_id);


--
-- Name: order_shares order_shares_charge_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_charge_id_key UNIQUE (charge_id);


--
-- Name: order_shares order_shares_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_pkey PRIMARY KEY (order_id);


--
-- Name: order_shares order_shares_transfer_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_transfer_id_key UNIQUE (transfer_id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: orders orders_stripe_checkout_session_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_stripe_checkout_session_id_key UNIQUE (stripe_checkout_session_id);


--
-- Name: plans plans_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plans
    ADD CONSTRAINT plans_pkey PRIMARY KEY (id);


--
-- Name: plans plans_stripe_price_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.plans
    ADD CONSTRAINT plans_stripe_price_id_key UNIQUE (stripe_price_id);


--
-- Name: profiles profiles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);


--
-- Name: seller_accounts seller_accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_accounts
    ADD CONSTRAINT seller_accounts_pkey PRIMARY KEY (seller_id);


--
-- Name: seller_accounts seller_accounts_stripe_account_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_accounts
    ADD CONSTRAINT seller_accounts_stripe_account_id_key UNIQUE (stripe_account_id);


--
-- Name: seller_payouts seller_payouts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_payouts
    ADD CONSTRAINT seller_payouts_pkey PRIMARY KEY (id);


--
-- Name: seller_transfer_reversals seller_transfer_reversals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_transfer_reversals
    ADD CONSTRAINT seller_transfer_reversals_pkey PRIMARY KEY (id);


--
-- Name: subscriptions subscriptions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);


--
-- Name: subscriptions subscriptions_stripe_subscription_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_stripe_subscription_id_key UNIQUE (stripe_subscription_id);


--
-- Name: support_tickets support_tickets_case_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_case_key_key UNIQUE (case_key);


--
-- Name: support_tickets support_tickets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_pkey PRIMARY KEY (id);


--
-- Name: support_tickets support_tickets_ref_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_ref_key UNIQUE (ref);


--
-- Name: ticket_messages ticket_messages_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_pkey PRIMARY KEY (id);


--
-- Name: access_overrides_expiry_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX access_overrides_expiry_idx ON ops.access_overrides USING btree (expires_at) WHERE (ended_at IS NULL);


--
-- Name: access_overrides_one_current_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE UNIQUE INDEX access_overrides_one_current_idx ON ops.access_overrides USING btree (customer_id) WHERE (ended_at IS NULL);


--
-- Name: alert_incidents_one_open_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE UNIQUE INDEX alert_incidents_one_open_idx ON ops.alert_incidents USING btree (rule) WHERE (status = 'open'::text);


--
-- Name: alert_incidents_opened_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX alert_incidents_opened_idx ON ops.alert_incidents USING btree (opened_at DESC);


--
-- Name: audit_log_at_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX audit_log_at_idx ON ops.audit_log USING btree (at DESC);


--
-- Name: checkout_requests_order_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX checkout_requests_order_idx ON ops.checkout_requests USING btree (order_id);


--
-- Name: checkout_requests_pending_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX checkout_requests_pending_idx ON ops.checkout_requests USING btree (created_at) WHERE (stripe_checkout_session_id IS NULL);


--
-- Name: checkout_sessions_order_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX checkout_sessions_order_idx ON ops.checkout_sessions USING btree (order_id);


--
-- Name: checkout_sessions_payment_intent_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX checkout_sessions_payment_intent_idx ON ops.checkout_sessions USING btree (stripe_payment_intent_id);


--
-- Name: connect_application_fees_charge_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX connect_application_fees_charge_idx ON ops.connect_application_fees USING btree (charge_id);


--
-- Name: connect_charges_payment_intent_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX connect_charges_payment_intent_idx ON ops.connect_charges USING btree (payment_intent_id);


--
-- Name: connect_transfers_charge_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX connect_transfers_charge_idx ON ops.connect_transfers USING btree (charge_id);


--
-- Name: crm_capture_key_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX crm_capture_key_idx ON ops.crm_capture USING btree (operation, key);


--
-- Name: disputes_charge_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX disputes_charge_idx ON ops.disputes USING btree (stripe_charge_id);


--
-- Name: disputes_payment_intent_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX disputes_payment_intent_idx ON ops.disputes USING btree (stripe_payment_intent_id);


--
-- Name: dunning_cases_customer_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX dunning_cases_customer_idx ON ops.dunning_cases USING btree (stripe_customer_id, recovered_at);


--
-- Name: dunning_cases_open_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX dunning_cases_open_idx ON ops.dunning_cases USING btree (stripe_customer_id) WHERE (recovered_at IS NULL);


--
-- Name: endpoint_outcomes_minute_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX endpoint_outcomes_minute_idx ON ops.endpoint_outcomes USING btree (minute);


--
-- Name: inbound_emails_message_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX inbound_emails_message_idx ON ops.inbound_emails USING btree (message_id);


--
-- Name: inbound_emails_ticket_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX inbound_emails_ticket_idx ON ops.inbound_emails USING btree (ticket_id);


--
-- Name: invoices_customer_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX invoices_customer_idx ON ops.invoices USING btree (stripe_customer_id);


--
-- Name: job_attempts_job_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX job_attempts_job_idx ON ops.job_attempts USING btree (job_id, attempt);


--
-- Name: job_attempts_lease_lost_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX job_attempts_lease_lost_idx ON ops.job_attempts USING btree (finished_at) WHERE (outcome = 'lease_expired'::text);


--
-- Name: job_attempts_started_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX job_attempts_started_idx ON ops.job_attempts USING btree (started_at);


--
-- Name: jobs_customer_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_customer_idx ON ops.jobs USING btree (((payload ->> 'customer_id'::text))) WHERE (payload ? 'customer_id'::text);


--
-- Name: jobs_dead_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_dead_idx ON ops.jobs USING btree (kind) WHERE (status = 'dead'::text);


--
-- Name: jobs_due_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_due_idx ON ops.jobs USING btree (kind, priority DESC, run_at) WHERE (status = ANY (ARRAY['queued'::text, 'failed'::text]));


--
-- Name: jobs_finished_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_finished_idx ON ops.jobs USING btree (succeeded_at) WHERE (status = 'succeeded'::text);


--
-- Name: jobs_order_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_order_idx ON ops.jobs USING btree (((payload ->> 'order_id'::text))) WHERE (payload ? 'order_id'::text);


--
-- Name: jobs_queue_key_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_queue_key_idx ON ops.jobs USING btree (queue_key, id) WHERE ((queue_key IS NOT NULL) AND (status = ANY (ARRAY['queued'::text, 'running'::text, 'failed'::text])));


--
-- Name: jobs_running_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX jobs_running_idx ON ops.jobs USING btree (locked_until) WHERE (status = 'running'::text);


--
-- Name: notifications_delivered_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX notifications_delivered_idx ON ops.notifications USING btree (channel, created_at) WHERE (status = ANY (ARRAY['sent'::text, 'captured'::text]));


--
-- Name: notifications_entity_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX notifications_entity_idx ON ops.notifications USING btree (entity);


--
-- Name: notifications_job_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX notifications_job_idx ON ops.notifications USING btree (job_id);


--
-- Name: order_reviews_payment_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE UNIQUE INDEX order_reviews_payment_idx ON ops.order_reviews USING btree (order_id, payment_ref) WHERE (payment_ref IS NOT NULL);


--
-- Name: payment_intents_charge_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX payment_intents_charge_idx ON ops.payment_intents USING btree (latest_charge_id);


--
-- Name: payment_intents_order_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX payment_intents_order_idx ON ops.payment_intents USING btree (order_id);


--
-- Name: provider_events_bounces_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX provider_events_bounces_idx ON ops.provider_events USING btree (received_at) WHERE (type = ANY (ARRAY['email.bounced'::text, 'email.complained'::text]));


--
-- Name: rate_limit_grants_bucket_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX rate_limit_grants_bucket_idx ON ops.rate_limit_grants USING btree (bucket, granted_at);


--
-- Name: reconciliation_findings_open_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX reconciliation_findings_open_idx ON ops.reconciliation_findings USING btree (kind) WHERE (status = 'open'::text);


--
-- Name: reconciliation_findings_open_newest_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX reconciliation_findings_open_newest_idx ON ops.reconciliation_findings USING btree (found_at DESC, id DESC) WHERE (status = 'open'::text);


--
-- Name: refunds_charge_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX refunds_charge_idx ON ops.refunds USING btree (stripe_charge_id);


--
-- Name: refunds_payment_intent_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX refunds_payment_intent_idx ON ops.refunds USING btree (stripe_payment_intent_id);


--
-- Name: role_grants_user_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX role_grants_user_idx ON ops.role_grants USING btree (user_id, granted_at);


--
-- Name: status_changes_entity_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX status_changes_entity_idx ON ops.status_changes USING btree (entity, changed_at);


--
-- Name: status_changes_grants_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX status_changes_grants_idx ON ops.status_changes USING btree (changed_at) WHERE ((to_status = ANY (ARRAY['paid'::text, 'active'::text])) AND (stripe_event_id IS NOT NULL));


--
-- Name: status_changes_money_moves_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX status_changes_money_moves_idx ON ops.status_changes USING btree (changed_at) WHERE (to_status = ANY (ARRAY['refunded'::text, 'partially_refunded'::text, 'disputed'::text]));


--
-- Name: stripe_customers_customer_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX stripe_customers_customer_idx ON ops.stripe_customers USING btree (customer_id);


--
-- Name: stripe_events_attention_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX stripe_events_attention_idx ON ops.stripe_events USING btree (received_at) WHERE (((ignored_reason IS NOT NULL) OR sanitized) AND (reviewed_at IS NULL));


--
-- Name: stripe_events_object_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX stripe_events_object_idx ON ops.stripe_events USING btree (object_id);


--
-- Name: stripe_events_received_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX stripe_events_received_idx ON ops.stripe_events USING btree (received_at);


--
-- Name: stripe_events_status_idx; Type: INDEX; Schema: ops; Owner: -
--

CREATE INDEX stripe_events_status_idx ON ops.stripe_events USING btree (status) WHERE (status = ANY (ARRAY['received'::text, 'failed'::text, 'dead'::text]));


--
-- Name: customers_email_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX customers_email_idx ON public.customers USING btree (lower(email));


--
-- Name: customers_needs_review_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX customers_needs_review_idx ON public.customers USING btree (updated_at) WHERE needs_review;


--
-- Name: listings_seller_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX listings_seller_idx ON public.listings USING btree (seller_id);


--
-- Name: order_shares_seller_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX order_shares_seller_idx ON public.order_shares USING btree (seller_id);


--
-- Name: orders_auto_complete_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_auto_complete_idx ON public.orders USING btree (fulfillment_started_at) WHERE (status = 'in_fulfillment'::text);


--
-- Name: orders_buyer_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_buyer_idx ON public.orders USING btree (buyer_id);


--
-- Name: orders_listing_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_listing_idx ON public.orders USING btree (listing_id);


--
-- Name: orders_needs_review_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_needs_review_idx ON public.orders USING btree (created_at) WHERE needs_review;


--
-- Name: orders_paid_today_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_paid_today_idx ON public.orders USING btree (paid_at) WHERE payment_confirmed;


--
-- Name: orders_payment_intent_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_payment_intent_idx ON public.orders USING btree (stripe_payment_intent_id);


--
-- Name: orders_seller_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX orders_seller_idx ON public.orders USING btree (seller_id);


--
-- Name: seller_payouts_failed_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seller_payouts_failed_idx ON public.seller_payouts USING btree (failed_at) WHERE (failed_at IS NOT NULL);


--
-- Name: seller_payouts_seller_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seller_payouts_seller_idx ON public.seller_payouts USING btree (seller_id, created_at DESC);


--
-- Name: seller_transfer_reversals_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seller_transfer_reversals_order_idx ON public.seller_transfer_reversals USING btree (order_id);


--
-- Name: seller_transfer_reversals_seller_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX seller_transfer_reversals_seller_idx ON public.seller_transfer_reversals USING btree (seller_id);


--
-- Name: subscriptions_customer_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX subscriptions_customer_idx ON public.subscriptions USING btree (customer_id);


--
-- Name: subscriptions_stripe_customer_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX subscriptions_stripe_customer_idx ON public.subscriptions USING btree (stripe_customer_id);


--
-- Name: support_tickets_backlog_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX support_tickets_backlog_idx ON public.support_tickets USING btree (queue, created_at) WHERE (status = ANY (ARRAY['open'::text, 'pending'::text]));


--
-- Name: support_tickets_customer_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX support_tickets_customer_idx ON public.support_tickets USING btree (customer_id);


--
-- Name: support_tickets_follow_up_of_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX support_tickets_follow_up_of_idx ON public.support_tickets USING btree (follow_up_of);


--
-- Name: support_tickets_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX support_tickets_idempotency_idx ON public.support_tickets USING btree (requester_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);


--
-- Name: support_tickets_order_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX support_tickets_order_idx ON public.support_tickets USING btree (order_id);


--
-- Name: support_tickets_requester_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX support_tickets_requester_idx ON public.support_tickets USING btree (requester_id, created_at DESC);


--
-- Name: ticket_messages_author_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ticket_messages_author_idx ON public.ticket_messages USING btree (author_id);


--
-- Name: ticket_messages_author_recent_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ticket_messages_author_recent_idx ON public.ticket_messages USING btree (author_id, created_at);


--
-- Name: ticket_messages_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX ticket_messages_idempotency_idx ON public.ticket_messages USING btree (author_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);


--
-- Name: ticket_messages_ticket_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ticket_messages_ticket_idx ON public.ticket_messages USING btree (ticket_id, created_at);


--
-- Name: alert_incidents alert_incidents_600_notify; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER alert_incidents_600_notify AFTER INSERT OR UPDATE OF status ON ops.alert_incidents FOR EACH ROW EXECUTE FUNCTION ops.alert_incidents_notify();


--
-- Name: alert_rules alert_rules_100_require_check_fn; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER alert_rules_100_require_check_fn BEFORE INSERT OR UPDATE OF check_fn ON ops.alert_rules FOR EACH ROW EXECUTE FUNCTION ops.alert_rules_require_check_fn();


--
-- Name: checkout_requests checkout_requests_100_set_updated_at; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER checkout_requests_100_set_updated_at BEFORE UPDATE ON ops.checkout_requests FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: disputes disputes_600_notify; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER disputes_600_notify AFTER INSERT OR UPDATE OF status ON ops.disputes FOR EACH ROW EXECUTE FUNCTION ops.disputes_notify();


--
-- Name: dunning_cases dunning_cases_100_set_updated_at; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER dunning_cases_100_set_updated_at BEFORE UPDATE ON ops.dunning_cases FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: jobs jobs_100_set_updated_at; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER jobs_100_set_updated_at BEFORE UPDATE ON ops.jobs FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: jobs jobs_300_forget_erased_emails; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER jobs_300_forget_erased_emails BEFORE UPDATE OF status ON ops.jobs FOR EACH ROW WHEN (((new.kind = 'crm.gdpr_delete'::text) AND (new.status = 'succeeded'::text) AND (new.payload ? 'emails'::text))) EXECUTE FUNCTION ops.jobs_forget_erased_emails();


--
-- Name: jobs jobs_900_dispatch; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER jobs_900_dispatch AFTER INSERT ON ops.jobs FOR EACH ROW WHEN ((new.run_at <= now())) EXECUTE FUNCTION ops.jobs_dispatch_on_insert();


--
-- Name: reconciliation_kinds reconciliation_kinds_100_require_verdict_fn; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER reconciliation_kinds_100_require_verdict_fn BEFORE INSERT OR UPDATE OF verdict_fn ON ops.reconciliation_kinds FOR EACH ROW EXECUTE FUNCTION ops.reconciliation_kinds_require_verdict_fn();


--
-- Name: retention_policies retention_policies_100_require_purge_fn; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER retention_policies_100_require_purge_fn BEFORE INSERT OR UPDATE OF purge_fn ON ops.retention_policies FOR EACH ROW EXECUTE FUNCTION ops.retention_policies_require_purge_fn();


--
-- Name: settings settings_track_live_since; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER settings_track_live_since BEFORE INSERT OR UPDATE OF stripe_livemode, stripe_live_since ON ops.settings FOR EACH ROW EXECUTE FUNCTION ops.settings_track_live_since();


--
-- Name: stripe_customers stripe_customers_100_set_updated_at; Type: TRIGGER; Schema: ops; Owner: -
--

CREATE TRIGGER stripe_customers_100_set_updated_at BEFORE UPDATE ON ops.stripe_customers FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: customer_state_texts customer_state_texts_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customer_state_texts_100_set_updated_at BEFORE UPDATE ON public.customer_state_texts FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: customers customers_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_100_set_updated_at BEFORE UPDATE ON public.customers FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: customers customers_200_enforce_billing_transition; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_200_enforce_billing_transition BEFORE INSERT OR UPDATE OF billing_status, access_status, email, user_id, needs_review ON public.customers FOR EACH ROW EXECUTE FUNCTION ops.enforce_billing_transition();


--
-- Name: customers customers_205_apply_dunning_access; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_205_apply_dunning_access BEFORE UPDATE OF billing_status, access_status, email, user_id, needs_review ON public.customers FOR EACH ROW EXECUTE FUNCTION ops.apply_dunning_access();


--
-- Name: customers customers_210_apply_access_override; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_210_apply_access_override BEFORE UPDATE OF billing_status, access_status, email, user_id, needs_review ON public.customers FOR EACH ROW EXECUTE FUNCTION ops.apply_access_override();


--
-- Name: customers customers_500_enqueue_crm_sync; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_500_enqueue_crm_sync AFTER INSERT ON public.customers FOR EACH ROW WHEN (((new.email IS NOT NULL) AND ((new.user_id IS NOT NULL) OR (new.review_reason IS NULL)))) EXECUTE FUNCTION ops.enqueue_crm_sync('crm.contact', 'customer', 'user_id');


--
-- Name: customers customers_510_enqueue_crm_sync_on_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_510_enqueue_crm_sync_on_change AFTER UPDATE OF billing_status, email, user_id, needs_review ON public.customers FOR EACH ROW WHEN (((new.email IS NOT NULL) AND (new.version <> old.version) AND ((new.user_id IS NOT NULL) OR (new.review_reason IS NULL)))) EXECUTE FUNCTION ops.enqueue_crm_sync('crm.contact', 'customer', 'user_id');


--
-- Name: customers customers_600_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_600_notify AFTER UPDATE OF billing_status ON public.customers FOR EACH ROW EXECUTE FUNCTION ops.customers_notify();


--
-- Name: customers customers_700_status_history; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_700_status_history AFTER INSERT ON public.customers FOR EACH ROW EXECUTE FUNCTION ops.record_status_change('customer', 'billing_status');


--
-- Name: customers customers_701_status_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER customers_701_status_change AFTER UPDATE OF billing_status ON public.customers FOR EACH ROW WHEN ((old.billing_status IS DISTINCT FROM new.billing_status)) EXECUTE FUNCTION ops.record_status_change('customer', 'billing_status');


--
-- Name: listings listings_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER listings_100_set_updated_at BEFORE UPDATE ON public.listings FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: order_shares order_shares_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER order_shares_100_set_updated_at BEFORE UPDATE ON public.order_shares FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: orders orders_050_price_from_listing; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_050_price_from_listing BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.orders_price_from_listing();


--
-- Name: orders orders_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_100_set_updated_at BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: orders orders_150_guard_app_moves; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_150_guard_app_moves BEFORE UPDATE ON public.orders FOR EACH ROW WHEN ((CURRENT_USER = ANY (ARRAY['authenticated'::name, 'anon'::name]))) EXECUTE FUNCTION ops.orders_guard_app_moves();


--
-- Name: orders orders_200_enforce_transition; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_200_enforce_transition BEFORE INSERT OR UPDATE OF status, amount_refunded, needs_review, amount_charged, payment_confirmed ON public.orders FOR EACH ROW EXECUTE FUNCTION ops.enforce_order_transition();


--
-- Name: orders orders_210_fulfilment_times; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_210_fulfilment_times BEFORE UPDATE OF status ON public.orders FOR EACH ROW WHEN ((new.status IS DISTINCT FROM old.status)) EXECUTE FUNCTION ops.orders_fulfilment_times();


--
-- Name: orders orders_500_enqueue_crm_sync; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_500_enqueue_crm_sync AFTER UPDATE OF status, amount_refunded, needs_review, amount_charged ON public.orders FOR EACH ROW WHEN (((new.version <> old.version) AND new.payment_confirmed)) EXECUTE FUNCTION ops.enqueue_crm_sync('crm.deal', 'order', 'stripe_checkout_session_id');


--
-- Name: orders orders_520_refresh_order_share; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_520_refresh_order_share AFTER UPDATE OF stripe_payment_intent_id ON public.orders FOR EACH ROW WHEN (((new.stripe_payment_intent_id IS NOT NULL) AND (new.stripe_payment_intent_id IS DISTINCT FROM old.stripe_payment_intent_id))) EXECUTE FUNCTION ops.orders_refresh_order_share();


--
-- Name: orders orders_521_refresh_order_share_on_insert; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_521_refresh_order_share_on_insert AFTER INSERT ON public.orders FOR EACH ROW WHEN ((new.stripe_payment_intent_id IS NOT NULL)) EXECUTE FUNCTION ops.orders_refresh_order_share();


--
-- Name: orders orders_600_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_600_notify AFTER UPDATE OF status, amount_refunded ON public.orders FOR EACH ROW WHEN (((new.status IS DISTINCT FROM old.status) OR (new.amount_refunded IS DISTINCT FROM old.amount_refunded))) EXECUTE FUNCTION ops.orders_notify();


--
-- Name: orders orders_610_notify_fulfilment; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_610_notify_fulfilment AFTER UPDATE OF status ON public.orders FOR EACH ROW WHEN (((new.status IS DISTINCT FROM old.status) AND (new.status = ANY (ARRAY['in_fulfillment'::text, 'completed'::text])) AND (new.buyer_id IS NOT NULL))) EXECUTE FUNCTION ops.orders_notify_fulfilment();


--
-- Name: orders orders_700_status_history; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_700_status_history AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION ops.record_status_change('order', 'status');


--
-- Name: orders orders_701_status_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER orders_701_status_change AFTER UPDATE OF status ON public.orders FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION ops.record_status_change('order', 'status');


--
-- Name: plans plans_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER plans_100_set_updated_at BEFORE UPDATE ON public.plans FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: profiles profiles_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER profiles_100_set_updated_at BEFORE UPDATE ON public.profiles FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: profiles profiles_300_audit_role; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER profiles_300_audit_role AFTER INSERT ON public.profiles FOR EACH ROW WHEN ((new.role <> 'buyer'::text)) EXECUTE FUNCTION ops.audit_profile_role();


--
-- Name: profiles profiles_310_audit_role_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER profiles_310_audit_role_change AFTER UPDATE OF role ON public.profiles FOR EACH ROW WHEN ((new.role IS DISTINCT FROM old.role)) EXECUTE FUNCTION ops.audit_profile_role();


--
-- Name: seller_accounts seller_accounts_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seller_accounts_100_set_updated_at BEFORE UPDATE ON public.seller_accounts FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: seller_accounts seller_accounts_500_enqueue_crm_sync; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seller_accounts_500_enqueue_crm_sync AFTER INSERT ON public.seller_accounts FOR EACH ROW EXECUTE FUNCTION ops.seller_accounts_enqueue_crm_sync();


--
-- Name: seller_accounts seller_accounts_510_enqueue_crm_sync_on_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seller_accounts_510_enqueue_crm_sync_on_change AFTER UPDATE OF charges_enabled, payouts_enabled, details_submitted, disabled_reason, requirements_past_due ON public.seller_accounts FOR EACH ROW WHEN ((ops.seller_crm_status(new.*) IS DISTINCT FROM ops.seller_crm_status(old.*))) EXECUTE FUNCTION ops.seller_accounts_enqueue_crm_sync();


--
-- Name: seller_payouts seller_payouts_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER seller_payouts_100_set_updated_at BEFORE UPDATE ON public.seller_payouts FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: subscriptions subscriptions_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER subscriptions_100_set_updated_at BEFORE UPDATE ON public.subscriptions FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: support_tickets support_tickets_050_prepare; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_050_prepare BEFORE INSERT ON public.support_tickets FOR EACH ROW EXECUTE FUNCTION ops.support_tickets_prepare();


--
-- Name: support_tickets support_tickets_100_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_100_set_updated_at BEFORE UPDATE ON public.support_tickets FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: support_tickets support_tickets_200_guard; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_200_guard BEFORE UPDATE ON public.support_tickets FOR EACH ROW EXECUTE FUNCTION ops.support_tickets_guard();


--
-- Name: support_tickets support_tickets_600_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_600_notify AFTER INSERT ON public.support_tickets FOR EACH ROW EXECUTE FUNCTION ops.support_tickets_notify();


--
-- Name: support_tickets support_tickets_700_status_history; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_700_status_history AFTER INSERT ON public.support_tickets FOR EACH ROW EXECUTE FUNCTION ops.record_status_change('ticket', 'status');


--
-- Name: support_tickets support_tickets_701_status_change; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER support_tickets_701_status_change AFTER UPDATE OF status ON public.support_tickets FOR EACH ROW WHEN ((old.status IS DISTINCT FROM new.status)) EXECUTE FUNCTION ops.record_status_change('ticket', 'status');


--
-- Name: ticket_messages ticket_messages_010_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ticket_messages_010_append_only BEFORE DELETE OR UPDATE ON public.ticket_messages FOR EACH ROW EXECUTE FUNCTION ops.ticket_messages_append_only();


--
-- Name: ticket_messages ticket_messages_011_authorship_final; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ticket_messages_011_authorship_final BEFORE UPDATE ON public.ticket_messages FOR EACH ROW EXECUTE FUNCTION ops.ticket_messages_authorship_final();


--
-- Name: ticket_messages ticket_messages_050_author; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ticket_messages_050_author BEFORE INSERT ON public.ticket_messages FOR EACH ROW EXECUTE FUNCTION ops.ticket_messages_author();


--
-- Name: ticket_messages ticket_messages_500_route; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ticket_messages_500_route AFTER INSERT ON public.ticket_messages FOR EACH ROW EXECUTE FUNCTION ops.ticket_messages_route();


--
-- Name: ticket_messages ticket_messages_600_email_reply; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ticket_messages_600_email_reply AFTER INSERT ON public.ticket_messages FOR EACH ROW WHEN (((new.author_kind = 'agent'::text) AND (new.visibility <> 'internal'::text))) EXECUTE FUNCTION ops.ticket_messages_email_reply();


--
-- Name: access_overrides access_overrides_customer_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.access_overrides
    ADD CONSTRAINT access_overrides_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


--
-- Name: alert_incidents alert_incidents_rule_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.alert_incidents
    ADD CONSTRAINT alert_incidents_rule_fkey FOREIGN KEY (rule) REFERENCES ops.alert_rules(rule) ON UPDATE CASCADE;


--
-- Name: alert_rule_state alert_rule_state_rule_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.alert_rule_state
    ADD CONSTRAINT alert_rule_state_rule_fkey FOREIGN KEY (rule) REFERENCES ops.alert_rules(rule) ON UPDATE CASCADE ON DELETE CASCADE;


--
-- Name: billing_status_transitions billing_status_transitions_from_status_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.billing_status_transitions
    ADD CONSTRAINT billing_status_transitions_from_status_fkey FOREIGN KEY (from_status) REFERENCES ops.billing_statuses(status);


--
-- Name: billing_status_transitions billing_status_transitions_to_status_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.billing_status_transitions
    ADD CONSTRAINT billing_status_transitions_to_status_fkey FOREIGN KEY (to_status) REFERENCES ops.billing_statuses(status);


--
-- Name: checkout_requests checkout_requests_listing_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_listing_id_fkey FOREIGN KEY (listing_id) REFERENCES public.listings(id) ON DELETE SET NULL;


--
-- Name: checkout_requests checkout_requests_order_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;


--
-- Name: checkout_requests checkout_requests_plan_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES public.plans(id) ON DELETE SET NULL;


--
-- Name: checkout_requests checkout_requests_user_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_requests
    ADD CONSTRAINT checkout_requests_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: checkout_sessions checkout_sessions_order_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.checkout_sessions
    ADD CONSTRAINT checkout_sessions_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;


--
-- Name: crm_contacts crm_contacts_customer_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.crm_contacts
    ADD CONSTRAINT crm_contacts_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


--
-- Name: crm_deals crm_deals_order_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.crm_deals
    ADD CONSTRAINT crm_deals_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;


--
-- Name: inbound_emails inbound_emails_message_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.inbound_emails
    ADD CONSTRAINT inbound_emails_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.ticket_messages(id) ON DELETE SET NULL;


--
-- Name: inbound_emails inbound_emails_ticket_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.inbound_emails
    ADD CONSTRAINT inbound_emails_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES public.support_tickets(id) ON DELETE SET NULL;


--
-- Name: job_attempts job_attempts_job_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_attempts
    ADD CONSTRAINT job_attempts_job_id_fkey FOREIGN KEY (job_id) REFERENCES ops.jobs(id) ON DELETE CASCADE;


--
-- Name: job_drains job_drains_kind_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.job_drains
    ADD CONSTRAINT job_drains_kind_fkey FOREIGN KEY (kind) REFERENCES ops.job_kinds(kind) ON DELETE CASCADE;


--
-- Name: jobs jobs_kind_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.jobs
    ADD CONSTRAINT jobs_kind_fkey FOREIGN KEY (kind) REFERENCES ops.job_kinds(kind);


--
-- Name: notifications notifications_job_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.notifications
    ADD CONSTRAINT notifications_job_id_fkey FOREIGN KEY (job_id) REFERENCES ops.jobs(id) ON DELETE SET NULL;


--
-- Name: order_reviews order_reviews_order_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_reviews
    ADD CONSTRAINT order_reviews_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;


--
-- Name: order_status_transitions order_status_transitions_from_status_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_status_transitions
    ADD CONSTRAINT order_status_transitions_from_status_fkey FOREIGN KEY (from_status) REFERENCES ops.order_statuses(status);


--
-- Name: order_status_transitions order_status_transitions_to_status_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.order_status_transitions
    ADD CONSTRAINT order_status_transitions_to_status_fkey FOREIGN KEY (to_status) REFERENCES ops.order_statuses(status);


--
-- Name: rate_limit_grants rate_limit_grants_bucket_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.rate_limit_grants
    ADD CONSTRAINT rate_limit_grants_bucket_fkey FOREIGN KEY (bucket) REFERENCES ops.rate_limit_buckets(bucket) ON DELETE CASCADE;


--
-- Name: reconciliation_findings reconciliation_findings_kind_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.reconciliation_findings
    ADD CONSTRAINT reconciliation_findings_kind_fkey FOREIGN KEY (kind) REFERENCES ops.reconciliation_kinds(kind) ON UPDATE CASCADE;


--
-- Name: stripe_customers stripe_customers_customer_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.stripe_customers
    ADD CONSTRAINT stripe_customers_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


--
-- Name: stripe_subscription_statuses stripe_subscription_statuses_billing_status_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.stripe_subscription_statuses
    ADD CONSTRAINT stripe_subscription_statuses_billing_status_fkey FOREIGN KEY (billing_status) REFERENCES ops.billing_statuses(status);


--
-- Name: support_routing_rules support_routing_rules_set_priority_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_routing_rules
    ADD CONSTRAINT support_routing_rules_set_priority_fkey FOREIGN KEY (set_priority) REFERENCES ops.support_priorities(priority);


--
-- Name: support_routing_rules support_routing_rules_set_queue_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_routing_rules
    ADD CONSTRAINT support_routing_rules_set_queue_fkey FOREIGN KEY (set_queue) REFERENCES ops.support_queues(queue);


--
-- Name: support_vips support_vips_user_id_fkey; Type: FK CONSTRAINT; Schema: ops; Owner: -
--

ALTER TABLE ONLY ops.support_vips
    ADD CONSTRAINT support_vips_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: customers customers_billing_status_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_billing_status_fkey FOREIGN KEY (billing_status) REFERENCES ops.billing_statuses(status);


--
-- Name: customers customers_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE SET NULL;


--
-- Name: listings listings_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.listings
    ADD CONSTRAINT listings_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE CASCADE;


--
-- Name: order_shares order_shares_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;


--
-- Name: order_shares order_shares_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.order_shares
    ADD CONSTRAINT order_shares_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE SET NULL;


--
-- Name: orders orders_buyer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_buyer_id_fkey FOREIGN KEY (buyer_id) REFERENCES public.profiles(id) ON DELETE SET NULL;


--
-- Name: orders orders_listing_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_listing_id_fkey FOREIGN KEY (listing_id) REFERENCES public.listings(id) ON DELETE SET NULL;


--
-- Name: orders orders_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE SET NULL;


--
-- Name: orders orders_status_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_status_fkey FOREIGN KEY (status) REFERENCES ops.order_statuses(status);


--
-- Name: profiles profiles_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.profiles
    ADD CONSTRAINT profiles_id_fkey FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE;


--
-- Name: seller_accounts seller_accounts_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_accounts
    ADD CONSTRAINT seller_accounts_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE CASCADE;


--
-- Name: seller_payouts seller_payouts_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_payouts
    ADD CONSTRAINT seller_payouts_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE SET NULL;


--
-- Name: seller_transfer_reversals seller_transfer_reversals_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_transfer_reversals
    ADD CONSTRAINT seller_transfer_reversals_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE CASCADE;


--
-- Name: seller_transfer_reversals seller_transfer_reversals_seller_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.seller_transfer_reversals
    ADD CONSTRAINT seller_transfer_reversals_seller_id_fkey FOREIGN KEY (seller_id) REFERENCES public.profiles(id) ON DELETE SET NULL;


--
-- Name: subscriptions subscriptions_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE SET NULL;


--
-- Name: support_tickets support_tickets_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE SET NULL;


--
-- Name: support_tickets support_tickets_follow_up_of_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_follow_up_of_fkey FOREIGN KEY (follow_up_of) REFERENCES public.support_tickets(id) ON DELETE SET NULL;


--
-- Name: support_tickets support_tickets_order_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_order_id_fkey FOREIGN KEY (order_id) REFERENCES public.orders(id) ON DELETE SET NULL;


--
-- Name: support_tickets support_tickets_priority_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_priority_fkey FOREIGN KEY (priority) REFERENCES ops.support_priorities(priority);


--
-- Name: support_tickets support_tickets_queue_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_queue_fkey FOREIGN KEY (queue) REFERENCES ops.support_queues(queue);


--
-- Name: support_tickets support_tickets_requester_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.support_tickets
    ADD CONSTRAINT support_tickets_requester_id_fkey FOREIGN KEY (requester_id) REFERENCES auth.users(id) ON DELETE SET NULL;


--
-- Name: ticket_messages ticket_messages_author_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_author_id_fkey FOREIGN KEY (author_id) REFERENCES auth.users(id) ON DELETE SET NULL;


--
-- Name: ticket_messages ticket_messages_ticket_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ticket_messages
    ADD CONSTRAINT ticket_messages_ticket_id_fkey FOREIGN KEY (ticket_id) REFERENCES public.support_tickets(id) ON DELETE CASCADE;


--
-- Name: access_overrides; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.access_overrides ENABLE ROW LEVEL SECURITY;

--
-- Name: alert_rules admins read alert rules; Type: POLICY; Schema: ops; Owner: -
--

CREATE POLICY "admins read alert rules" ON ops.alert_rules FOR SELECT TO authenticated USING (( SELECT private.is_admin() AS is_admin));


--
-- Name: reconciliation_findings admins read findings; Type: POLICY; Schema: ops; Owner: -
--

CREATE POLICY "admins read findings" ON ops.reconciliation_findings FOR SELECT TO authenticated USING (( SELECT private.is_admin() AS is_admin));


--
-- Name: alert_incidents admins read incidents; Type: POLICY; Schema: ops; Owner: -
--

CREATE POLICY "admins read incidents" ON ops.alert_incidents FOR SELECT TO authenticated USING (( SELECT private.is_admin() AS is_admin));


--
-- Name: audit_log admins read the audit log; Type: POLICY; Schema: ops; Owner: -
--

CREATE POLICY "admins read the audit log" ON ops.audit_log FOR SELECT TO authenticated USING (( SELECT private.is_admin() AS is_admin));


--
-- Name: alert_incidents; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.alert_incidents ENABLE ROW LEVEL SECURITY;

--
-- Name: alert_rule_state; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.alert_rule_state ENABLE ROW LEVEL SECURITY;

--
-- Name: alert_rules; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.alert_rules ENABLE ROW LEVEL SECURITY;

--
-- Name: audit_log; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.audit_log ENABLE ROW LEVEL SECURITY;

--
-- Name: checkout_requests; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.checkout_requests ENABLE ROW LEVEL SECURITY;

--
-- Name: connect_application_fees; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.connect_application_fees ENABLE ROW LEVEL SECURITY;

--
-- Name: connect_charges; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.connect_charges ENABLE ROW LEVEL SECURITY;

--
-- Name: connect_transfers; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.connect_transfers ENABLE ROW LEVEL SECURITY;

--
-- Name: dunning_cases; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.dunning_cases ENABLE ROW LEVEL SECURITY;

--
-- Name: duplicate_deliveries; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.duplicate_deliveries ENABLE ROW LEVEL SECURITY;

--
-- Name: endpoint_outcomes; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.endpoint_outcomes ENABLE ROW LEVEL SECURITY;

--
-- Name: inbound_emails; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.inbound_emails ENABLE ROW LEVEL SECURITY;

--
-- Name: reconcile_connect_accounts_checked; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.reconcile_connect_accounts_checked ENABLE ROW LEVEL SECURITY;

--
-- Name: reconciliation_findings; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.reconciliation_findings ENABLE ROW LEVEL SECURITY;

--
-- Name: reconciliation_kinds; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.reconciliation_kinds ENABLE ROW LEVEL SECURITY;

--
-- Name: retention_policies; Type: ROW SECURITY; Schema: ops; Owner: -
--

ALTER TABLE ops.retention_policies ENABLE ROW LEVEL SECURITY;

--
-- Name: support_tickets Admins change ticket status; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Admins change ticket status" ON public.support_tickets FOR UPDATE TO authenticated USING ((( SELECT private.is_admin() AS is_admin) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous)))) WITH CHECK ((( SELECT private.is_admin() AS is_admin) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: orders Buyers and sellers can read their orders, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Buyers and sellers can read their orders, admins all" ON public.orders FOR SELECT TO authenticated USING (((buyer_id = ( SELECT auth.uid() AS uid)) OR (seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: orders Buyers can create pending orders for themselves; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Buyers can create pending orders for themselves" ON public.orders FOR INSERT TO authenticated WITH CHECK (((buyer_id = ( SELECT auth.uid() AS uid)) AND (status = 'pending_payment'::text) AND (listing_id IS NOT NULL) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: orders Buyers, sellers and admins move their orders through fulfilment; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Buyers, sellers and admins move their orders through fulfilment" ON public.orders FOR UPDATE TO authenticated USING ((((buyer_id = ( SELECT auth.uid() AS uid)) OR (seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous)))) WITH CHECK ((((buyer_id = ( SELECT auth.uid() AS uid)) OR (seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: ticket_messages Requesters and parties write on their tickets, admins on all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Requesters and parties write on their tickets, admins on all" ON public.ticket_messages FOR INSERT TO authenticated WITH CHECK (((author_id = ( SELECT auth.uid() AS uid)) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous)) AND (((author_kind = 'requester'::text) AND (visibility = ANY (ARRAY['requester'::text, 'parties'::text])) AND (ticket_id IN ( SELECT t.id
   FROM public.support_tickets t
  WHERE (t.requester_id = ( SELECT auth.uid() AS uid))))) OR ((author_kind = 'party'::text) AND (visibility = 'parties'::text) AND (ticket_id IN ( SELECT t.id
   FROM public.support_tickets t))) OR ( SELECT private.is_admin() AS is_admin))));


--
-- Name: support_tickets Requesters and the order's parties read tickets, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Requesters and the order's parties read tickets, admins all" ON public.support_tickets FOR SELECT TO authenticated USING (((requester_id = ( SELECT auth.uid() AS uid)) OR (((queue = 'disputes'::text) OR (category = ANY (ARRAY['seller_problem'::text, 'buyer_problem'::text]))) AND (order_id IN ( SELECT o.id
   FROM public.orders o
  WHERE (o.seller_id = ( SELECT auth.uid() AS uid))))) OR ((category = ANY (ARRAY['seller_problem'::text, 'buyer_problem'::text])) AND (order_id IN ( SELECT o.id
   FROM public.orders o
  WHERE (o.buyer_id = ( SELECT auth.uid() AS uid))))) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: listings Sellers can create their own listings; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers can create their own listings" ON public.listings FOR INSERT TO authenticated WITH CHECK (((seller_id = ( SELECT auth.uid() AS uid)) AND ( SELECT private.is_seller() AS is_seller) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: listings Sellers can delete their own listings; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers can delete their own listings" ON public.listings FOR DELETE TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) AND ( SELECT private.is_seller() AS is_seller) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: listings Sellers can update their own listings; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers can update their own listings" ON public.listings FOR UPDATE TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) AND ( SELECT private.is_seller() AS is_seller) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous)))) WITH CHECK (((seller_id = ( SELECT auth.uid() AS uid)) AND ( SELECT private.is_seller() AS is_seller) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: order_shares Sellers read their orders' shares, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers read their orders' shares, admins all" ON public.order_shares FOR SELECT TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: seller_accounts Sellers read their own account, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers read their own account, admins all" ON public.seller_accounts FOR SELECT TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: seller_payouts Sellers read their own payouts, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers read their own payouts, admins all" ON public.seller_payouts FOR SELECT TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: seller_transfer_reversals Sellers read their own reversals, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Sellers read their own reversals, admins all" ON public.seller_transfer_reversals FOR SELECT TO authenticated USING (((seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: support_tickets Signed-in users open requests for themselves; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Signed-in users open requests for themselves" ON public.support_tickets FOR INSERT TO authenticated WITH CHECK (((requester_id = ( SELECT auth.uid() AS uid)) AND (source = 'app'::text) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: customer_state_texts Signed-in users read the status wording; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Signed-in users read the status wording" ON public.customer_state_texts FOR SELECT TO authenticated USING (true);


--
-- Name: ticket_messages Ticket readers read the messages meant for them, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Ticket readers read the messages meant for them, admins all" ON public.ticket_messages FOR SELECT TO authenticated USING ((((visibility = 'parties'::text) AND (ticket_id IN ( SELECT t.id
   FROM public.support_tickets t))) OR ((visibility = 'requester'::text) AND (ticket_id IN ( SELECT t.id
   FROM public.support_tickets t
  WHERE (t.requester_id = ( SELECT auth.uid() AS uid))))) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: listings Users can read active listings, sellers their own, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can read active listings, sellers their own, admins all" ON public.listings FOR SELECT TO authenticated USING (((active AND private.seller_listings_open(seller_id)) OR (seller_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: plans Users can read active plans, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can read active plans, admins all" ON public.plans FOR SELECT TO authenticated USING ((active OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: customers Users can read their own customer row, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can read their own customer row, admins all" ON public.customers FOR SELECT TO authenticated USING (((user_id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: profiles Users can read their own profile, admins every profile; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can read their own profile, admins every profile" ON public.profiles FOR SELECT TO authenticated USING (((id = ( SELECT auth.uid() AS uid)) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: subscriptions Users can read their own subscriptions, admins all; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can read their own subscriptions, admins all" ON public.subscriptions FOR SELECT TO authenticated USING (((customer_id IN ( SELECT c.id
   FROM public.customers c
  WHERE (c.user_id = ( SELECT auth.uid() AS uid)))) OR ( SELECT private.is_admin() AS is_admin)));


--
-- Name: profiles Users can update their own profile; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Users can update their own profile" ON public.profiles FOR UPDATE TO authenticated USING (((id = ( SELECT auth.uid() AS uid)) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous)))) WITH CHECK (((id = ( SELECT auth.uid() AS uid)) AND (NOT ( SELECT private.is_anonymous() AS is_anonymous))));


--
-- Name: listings Visitors can read active listings; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Visitors can read active listings" ON public.listings FOR SELECT TO anon USING ((active AND private.seller_listings_open(seller_id)));


--
-- Name: plans Visitors can read active plans; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "Visitors can read active plans" ON public.plans FOR SELECT TO anon USING (active);


--
-- Name: customer_state_texts; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.customer_state_texts ENABLE ROW LEVEL SECURITY;

--
-- Name: customers; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;

--
-- Name: listings; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.listings ENABLE ROW LEVEL SECURITY;

--
-- Name: order_shares; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.order_shares ENABLE ROW LEVEL SECURITY;

--
-- Name: orders; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;

--
-- Name: plans; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.plans ENABLE ROW LEVEL SECURITY;

--
-- Name: profiles; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

--
-- Name: seller_accounts; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.seller_accounts ENABLE ROW LEVEL SECURITY;

--
-- Name: seller_payouts; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.seller_payouts ENABLE ROW LEVEL SECURITY;

--
-- Name: seller_transfer_reversals; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.seller_transfer_reversals ENABLE ROW LEVEL SECURITY;

--
-- Name: subscriptions; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.subscriptions ENABLE ROW LEVEL SECURITY;

--
-- Name: support_tickets; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.support_tickets ENABLE ROW LEVEL SECURITY;

--
-- Name: ticket_messages; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.ticket_messages ENABLE ROW LEVEL SECURITY;

--
-- Name: SCHEMA ops; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA ops TO service_role;
GRANT USAGE ON SCHEMA ops TO stripe_webhook;
GRANT USAGE ON SCHEMA ops TO pipeline_worker;
GRANT USAGE ON SCHEMA ops TO support_intake;
GRANT USAGE ON SCHEMA ops TO provider_webhook;
GRANT USAGE ON SCHEMA ops TO authenticated;
GRANT USAGE ON SCHEMA ops TO reconciler;
GRANT USAGE ON SCHEMA ops TO checkout;
GRANT USAGE ON SCHEMA ops TO seller_onboarding;
GRANT USAGE ON SCHEMA ops TO health;
GRANT USAGE ON SCHEMA ops TO billing_portal;


--
-- Name: SCHEMA private; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA private TO authenticated;


--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA public TO anon;
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT USAGE ON SCHEMA public TO service_role;


--
-- Name: FUNCTION admin_clear_access_override(p_customer_id uuid, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_clear_access_override(p_customer_id uuid, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_clear_access_override(p_customer_id uuid, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_close_ticket(p_ticket_id uuid, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_close_ticket(p_ticket_id uuid, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_close_ticket(p_ticket_id uuid, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_erase_person(p_who text, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_erase_person(p_who text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_erase_person(p_who text, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_escalate_ticket(p_ticket_id uuid, p_priority text, p_queue text, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_escalate_ticket(p_ticket_id uuid, p_priority text, p_queue text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_escalate_ticket(p_ticket_id uuid, p_priority text, p_queue text, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_replay_job(p_job_id bigint, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_replay_job(p_job_id bigint, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_replay_job(p_job_id bigint, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_replay_stripe_event(p_event_id text, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_replay_stripe_event(p_event_id text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_replay_stripe_event(p_event_id text, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_reply_to_ticket(p_ticket_id uuid, p_body text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_reply_to_ticket(p_ticket_id uuid, p_body text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_reply_to_ticket(p_ticket_id uuid, p_body text) TO authenticated;


--
-- Name: FUNCTION admin_resolve_order_review(p_order_id uuid, p_accept boolean, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_resolve_order_review(p_order_id uuid, p_accept boolean, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_resolve_order_review(p_order_id uuid, p_accept boolean, p_reason text) TO authenticated;


--
-- Name: FUNCTION admin_set_access(p_customer_id uuid, p_access text, p_reason text, p_expires_at timestamp with time zone); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.admin_set_access(p_customer_id uuid, p_access text, p_reason text, p_expires_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.admin_set_access(p_customer_id uuid, p_access text, p_reason text, p_expires_at timestamp with time zone) TO authenticated;


--
-- Name: TABLE alert_rules; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.alert_rules TO authenticated;
GRANT SELECT ON TABLE ops.alert_rules TO service_role;


--
-- Name: FUNCTION alert_check_crm_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_crm_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_dead_jobs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_dead_jobs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_email_bounce_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_email_bounce_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_failed_runs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_failed_runs(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_payment_access_lag(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_payment_access_lag(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_payout_failed(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_payout_failed(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_reconciliation_drift(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_reconciliation_drift(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_refund_dispute_unapplied(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_refund_dispute_unapplied(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_stripe_quiet(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_stripe_quiet(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_support_backlog(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_support_backlog(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_sync_p95(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_sync_p95(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_ticket_creation_failing(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_ticket_creation_failing(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_ticket_spike(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_ticket_spike(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_undefined(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_undefined(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_webhook_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_webhook_failure_rate(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_check_webhook_refusals(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_check_webhook_refusals(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION alert_incidents_notify(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_incidents_notify() FROM PUBLIC;


--
-- Name: FUNCTION alert_rules_require_check_fn(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.alert_rules_require_check_fn() FROM PUBLIC;


--
-- Name: FUNCTION apply_access_override(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_access_override() FROM PUBLIC;


--
-- Name: FUNCTION apply_application_fee(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_application_fee(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_charge(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_charge(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_checkout_session(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_checkout_session(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_connect_account(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_connect_account(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_customer(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_customer(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_dispute(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_dispute(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_dunning(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_dunning(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_dunning_access(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_dunning_access() FROM PUBLIC;


--
-- Name: FUNCTION apply_invoice(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_invoice(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_payment_intent(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_payment_intent(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_payout(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_payout(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_refund(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_refund(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_stripe_event(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_stripe_event(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_stripe_event_guarded(evt jsonb, OUT outcome text, OUT error text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_stripe_event_guarded(evt jsonb, OUT outcome text, OUT error text) FROM PUBLIC;


--
-- Name: FUNCTION apply_subscription(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_subscription(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION apply_transfer(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.apply_transfer(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION as_uuid(value text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.as_uuid(value text) FROM PUBLIC;


--
-- Name: FUNCTION audit_profile_role(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.audit_profile_role() FROM PUBLIC;


--
-- Name: FUNCTION auto_complete_orders(p_now timestamp with time zone, p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.auto_complete_orders(p_now timestamp with time zone, p_limit integer) FROM PUBLIC;


--
-- Name: FUNCTION backoff_delay(p_attempt integer, p_base_ms integer, p_max_ms integer, p_jitter double precision); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.backoff_delay(p_attempt integer, p_base_ms integer, p_max_ms integer, p_jitter double precision) FROM PUBLIC;


--
-- Name: FUNCTION billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text) TO billing_portal;


--
-- Name: FUNCTION check_alert_rule(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.check_alert_rule(r ops.alert_rules, p_now timestamp with time zone, p_since timestamp with time zone, OUT firing boolean, OUT value numeric, OUT summary text, OUT detail jsonb, OUT recovered boolean) FROM PUBLIC;


--
-- Name: FUNCTION checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.checkout_begin(p_user_id uuid, p_key text, p_kind text, p_target uuid, p_quantity integer, p_fingerprint text, p_livemode boolean, p_account_id text) TO checkout;


--
-- Name: FUNCTION checkout_finish(p_request_id uuid, p_session_id text, p_url text, p_expires_at timestamp with time zone, p_error text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.checkout_finish(p_request_id uuid, p_session_id text, p_url text, p_expires_at timestamp with time zone, p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.checkout_finish(p_request_id uuid, p_session_id text, p_url text, p_expires_at timestamp with time zone, p_error text) TO checkout;


--
-- Name: FUNCTION checkout_prepare_session(p_request_id uuid, p_stripe_customer_id text, p_params jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.checkout_prepare_session(p_request_id uuid, p_stripe_customer_id text, p_params jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.checkout_prepare_session(p_request_id uuid, p_stripe_customer_id text, p_params jsonb) TO checkout;


--
-- Name: FUNCTION checkout_set_order(p_request_id uuid, p_order_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.checkout_set_order(p_request_id uuid, p_order_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.checkout_set_order(p_request_id uuid, p_order_id uuid) TO checkout;


--
-- Name: TABLE jobs; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.jobs TO service_role;


--
-- Name: FUNCTION claim_job(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.claim_job(p_job_id bigint, p_worker text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.claim_job(p_job_id bigint, p_worker text) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.claim_job(p_job_id bigint, p_worker text) TO reconciler;


--
-- Name: FUNCTION claim_jobs(p_kinds text[], p_worker text, p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.claim_jobs(p_kinds text[], p_worker text, p_limit integer) TO reconciler;


--
-- Name: FUNCTION claim_next_job(p_kinds text[], p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.claim_next_job(p_kinds text[], p_worker text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.claim_next_job(p_kinds text[], p_worker text) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.claim_next_job(p_kinds text[], p_worker text) TO reconciler;


--
-- Name: FUNCTION claim_orphan_session(p_session_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.claim_orphan_session(p_session_id text) FROM PUBLIC;


--
-- Name: FUNCTION clear_personal_data(p_after interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.clear_personal_data(p_after interval) FROM PUBLIC;


--
-- Name: FUNCTION complete_job(p_job_id bigint, p_worker text, p_result jsonb, p_hand_on boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.complete_job(p_job_id bigint, p_worker text, p_result jsonb, p_hand_on boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.complete_job(p_job_id bigint, p_worker text, p_result jsonb, p_hand_on boolean) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.complete_job(p_job_id bigint, p_worker text, p_result jsonb, p_hand_on boolean) TO reconciler;


--
-- Name: FUNCTION connect_charge_order(p_charge_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.connect_charge_order(p_charge_id text) FROM PUBLIC;


--
-- Name: FUNCTION crm_capture_skeleton(body jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.crm_capture_skeleton(body jsonb) FROM PUBLIC;


--
-- Name: FUNCTION crm_job_context(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.crm_job_context(p_job_id bigint, p_worker text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.crm_job_context(p_job_id bigint, p_worker text) TO pipeline_worker;


--
-- Name: TABLE access_overrides; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.access_overrides TO service_role;


--
-- Name: FUNCTION current_access_override(p_customer_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.current_access_override(p_customer_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.current_access_override(p_customer_id uuid) TO service_role;


--
-- Name: FUNCTION current_settings(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.current_settings() FROM PUBLIC;


--
-- Name: FUNCTION customer_access_state(p_customer_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.customer_access_state(p_customer_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION customer_for_user(p_user_id uuid, p_email text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.customer_for_user(p_user_id uuid, p_email text) FROM PUBLIC;


--
-- Name: FUNCTION customers_notify(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.customers_notify() FROM PUBLIC;


--
-- Name: FUNCTION dashboard_blocked_sellers(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_blocked_sellers() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dashboard_blocked_sellers() TO authenticated;


--
-- Name: FUNCTION dashboard_figures(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_figures() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dashboard_figures() TO authenticated;


--
-- Name: FUNCTION dashboard_journey(p_query text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_journey(p_query text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dashboard_journey(p_query text) TO authenticated;


--
-- Name: FUNCTION dashboard_lists(p_pages jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_lists(p_pages jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dashboard_lists(p_pages jsonb) TO authenticated;


--
-- Name: FUNCTION dashboard_page_of(p_pages jsonb, p_list text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_page_of(p_pages jsonb, p_list text) FROM PUBLIC;


--
-- Name: FUNCTION dashboard_snapshot(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dashboard_snapshot() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dashboard_snapshot() TO authenticated;


--
-- Name: FUNCTION defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text, p_hand_on boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text, p_hand_on boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text, p_hand_on boolean) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.defer_job(p_job_id bigint, p_worker text, p_delay_ms integer, p_reason text, p_hand_on boolean) TO reconciler;


--
-- Name: FUNCTION dispatch_due_job(p_kinds text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dispatch_due_job(p_kinds text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.dispatch_due_job(p_kinds text[]) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.dispatch_due_job(p_kinds text[]) TO reconciler;


--
-- Name: FUNCTION dispatch_job(p_job_id bigint); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dispatch_job(p_job_id bigint) FROM PUBLIC;


--
-- Name: FUNCTION dispatch_next(p_job_id bigint); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dispatch_next(p_job_id bigint) FROM PUBLIC;


--
-- Name: FUNCTION dispatch_proof(p_secret text, p_function text, p_job_id bigint, p_expires_at bigint); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.dispatch_proof(p_secret text, p_function text, p_job_id bigint, p_expires_at bigint) FROM PUBLIC;


--
-- Name: FUNCTION disputes_notify(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.disputes_notify() FROM PUBLIC;


--
-- Name: FUNCTION email_match_reason(p_email text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.email_match_reason(p_email text) FROM PUBLIC;


--
-- Name: FUNCTION end_job_drain(p_kinds text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.end_job_drain(p_kinds text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.end_job_drain(p_kinds text[]) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.end_job_drain(p_kinds text[]) TO reconciler;


--
-- Name: FUNCTION enforce_billing_transition(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enforce_billing_transition() FROM PUBLIC;


--
-- Name: FUNCTION enforce_order_transition(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enforce_order_transition() FROM PUBLIC;


--
-- Name: FUNCTION enqueue_crm_sync(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_crm_sync() FROM PUBLIC;


--
-- Name: TABLE dunning_cases; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.dunning_cases TO service_role;


--
-- Name: FUNCTION enqueue_dunning_email(p_case ops.dunning_cases, p_template text, p_entity text, p_extra jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_dunning_email(p_case ops.dunning_cases, p_template text, p_entity text, p_extra jsonb) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_job(p_kind text, p_payload jsonb, p_dedupe_key text, p_delay interval, p_priority integer, p_correlation_id text, p_queue_key text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_job(p_kind text, p_payload jsonb, p_dedupe_key text, p_delay interval, p_priority integer, p_correlation_id text, p_queue_key text) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_notification(p_channel text, p_template text, p_entity text, p_recipient text, p_payload jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_notification(p_channel text, p_template text, p_entity text, p_recipient text, p_payload jsonb) FROM PUBLIC;


--
-- Name: FUNCTION enqueue_reconcile(p_requested_by text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_reconcile(p_requested_by text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.enqueue_reconcile(p_requested_by text) TO service_role;


--
-- Name: FUNCTION enqueue_seller_email(p_seller_id uuid, p_template text, p_entity text, p_data jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.enqueue_seller_email(p_seller_id uuid, p_template text, p_entity text, p_data jsonb) FROM PUBLIC;


--
-- Name: FUNCTION erase_emails_in_jsonb(p jsonb, p_emails text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.erase_emails_in_jsonb(p jsonb, p_emails text[]) FROM PUBLIC;


--
-- Name: FUNCTION erase_emails_in_text(p_text text, p_emails text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.erase_emails_in_text(p_text text, p_emails text[]) FROM PUBLIC;


--
-- Name: FUNCTION erase_person(p_who text, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.erase_person(p_who text, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.erase_person(p_who text, p_reason text) TO service_role;


--
-- Name: FUNCTION erase_personal_fields(p jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.erase_personal_fields(p jsonb) FROM PUBLIC;


--
-- Name: FUNCTION evaluate_alerts(p_now timestamp with time zone); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.evaluate_alerts(p_now timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION expire_access_overrides(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.expire_access_overrides() FROM PUBLIC;


--
-- Name: FUNCTION fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean, p_retry_after_ms integer, p_hand_on boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean, p_retry_after_ms integer, p_hand_on boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean, p_retry_after_ms integer, p_hand_on boolean) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.fail_job(p_job_id bigint, p_worker text, p_error text, p_retryable boolean, p_retry_after_ms integer, p_hand_on boolean) TO reconciler;


--
-- Name: FUNCTION finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.finish_crm_job(p_job_id bigint, p_worker text, p_adapter text, p_mapping jsonb, p_result jsonb) TO pipeline_worker;


--
-- Name: FUNCTION finish_jobs(p_worker text, p_outcomes jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.finish_jobs(p_worker text, p_outcomes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.finish_jobs(p_worker text, p_outcomes jsonb) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.finish_jobs(p_worker text, p_outcomes jsonb) TO reconciler;


--
-- Name: FUNCTION flag_customer_review(p_customer_id uuid, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.flag_customer_review(p_customer_id uuid, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION function_shape(p_fn regprocedure); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.function_shape(p_fn regprocedure) FROM PUBLIC;


--
-- Name: FUNCTION health_snapshot(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.health_snapshot() FROM PUBLIC;
GRANT ALL ON FUNCTION ops.health_snapshot() TO health;


--
-- Name: FUNCTION held_job(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.held_job(p_job_id bigint, p_worker text) FROM PUBLIC;


--
-- Name: FUNCTION ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text) TO stripe_webhook;
GRANT ALL ON FUNCTION ops.ingest_stripe_event(event jsonb, p_livemode boolean, p_account_id text, p_sanitized boolean, p_source text) TO service_role;


--
-- Name: FUNCTION ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text) TO stripe_webhook;
GRANT ALL ON FUNCTION ops.ingest_stripe_events(p_bodies text[], p_sanitized boolean[], p_livemode boolean, p_account_id text, p_source text) TO service_role;


--
-- Name: FUNCTION interval_words(i interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.interval_words(i interval) FROM PUBLIC;


--
-- Name: FUNCTION job_payload_skeleton(p jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.job_payload_skeleton(p jsonb) FROM PUBLIC;


--
-- Name: FUNCTION job_priority(p_kind text, p_payload jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.job_priority(p_kind text, p_payload jsonb) FROM PUBLIC;


--
-- Name: FUNCTION jobs_dispatch_on_insert(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.jobs_dispatch_on_insert() FROM PUBLIC;


--
-- Name: FUNCTION jobs_forget_erased_emails(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.jobs_forget_erased_emails() FROM PUBLIC;


--
-- Name: FUNCTION journey(p_query text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.journey(p_query text) FROM PUBLIC;


--
-- Name: FUNCTION link_checkout_customer(s jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.link_checkout_customer(s jsonb) FROM PUBLIC;


--
-- Name: FUNCTION link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text) TO service_role;


--
-- Name: FUNCTION lock_checkout_session(p_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.lock_checkout_session(p_id text) FROM PUBLIC;


--
-- Name: FUNCTION lock_connect_charge(p_charge_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.lock_connect_charge(p_charge_id text) FROM PUBLIC;


--
-- Name: FUNCTION lock_payment(p_pi_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.lock_payment(p_pi_id text) FROM PUBLIC;


--
-- Name: FUNCTION lock_payment_intent(p_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.lock_payment_intent(p_id text) FROM PUBLIC;


--
-- Name: FUNCTION lock_stripe_customer(p_stripe_customer_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.lock_stripe_customer(p_stripe_customer_id text) FROM PUBLIC;


--
-- Name: FUNCTION move_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_linked_by text, p_note text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.move_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_linked_by text, p_note text) FROM PUBLIC;


--
-- Name: FUNCTION newer_charge(p_succeeded boolean, p_at timestamp with time zone, p_charge text, p_known_succeeded boolean, p_known_at timestamp with time zone, p_known_charge text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.newer_charge(p_succeeded boolean, p_at timestamp with time zone, p_charge text, p_known_succeeded boolean, p_known_at timestamp with time zone, p_known_charge text) FROM PUBLIC;


--
-- Name: FUNCTION next_job_due_in_ms(p_kinds text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.next_job_due_in_ms(p_kinds text[]) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.next_job_due_in_ms(p_kinds text[]) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.next_job_due_in_ms(p_kinds text[]) TO reconciler;


--
-- Name: FUNCTION notify_job_context(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.notify_job_context(p_job_id bigint, p_worker text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.notify_job_context(p_job_id bigint, p_worker text) TO pipeline_worker;


--
-- Name: FUNCTION notify_recipient_email(p_recipient text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.notify_recipient_email(p_recipient text) FROM PUBLIC;


--
-- Name: FUNCTION order_payments(p_order_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.order_payments(p_order_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION orders_fulfilment_times(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.orders_fulfilment_times() FROM PUBLIC;


--
-- Name: FUNCTION orders_guard_app_moves(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.orders_guard_app_moves() FROM PUBLIC;


--
-- Name: FUNCTION orders_notify(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.orders_notify() FROM PUBLIC;


--
-- Name: FUNCTION orders_notify_fulfilment(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.orders_notify_fulfilment() FROM PUBLIC;


--
-- Name: FUNCTION orders_refresh_order_share(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.orders_refresh_order_share() FROM PUBLIC;


--
-- Name: FUNCTION payment_intent_disputed(p_pi text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.payment_intent_disputed(p_pi text) FROM PUBLIC;


--
-- Name: FUNCTION payment_intent_refund_pending(p_pi text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.payment_intent_refund_pending(p_pi text) FROM PUBLIC;


--
-- Name: FUNCTION payment_intent_refunded(p_pi text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.payment_intent_refunded(p_pi text) FROM PUBLIC;


--
-- Name: FUNCTION payment_mismatch(p_price bigint, p_currency text, p_asked bigint, p_asked_currency text, p_ref text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.payment_mismatch(p_price bigint, p_currency text, p_asked bigint, p_asked_currency text, p_ref text) FROM PUBLIC;


--
-- Name: FUNCTION payout_failure_advice(p_code text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.payout_failure_advice(p_code text) FROM PUBLIC;


--
-- Name: FUNCTION ping_heartbeat(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ping_heartbeat() FROM PUBLIC;


--
-- Name: FUNCTION platform_fee(p_amount bigint); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.platform_fee(p_amount bigint) FROM PUBLIC;


--
-- Name: FUNCTION purge_crm_captures(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_crm_captures(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_cron_runs(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_cron_runs(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_dunning_cases(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_dunning_cases(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_endpoint_outcomes(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_endpoint_outcomes(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_event_payloads(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_event_payloads(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_http_responses(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_http_responses(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_job_payloads(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_job_payloads(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_jobs(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_jobs(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_notifications(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_notifications(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_pipeline_history(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_pipeline_history() FROM PUBLIC;


--
-- Name: FUNCTION purge_rate_limit_buckets(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_rate_limit_buckets(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_rate_limit_grants(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_rate_limit_grants(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION purge_reconciliation_findings(p_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.purge_reconciliation_findings(p_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION reapply_stripe_events(p_event_ids text[], p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reapply_stripe_events(p_event_ids text[], p_limit integer) FROM PUBLIC;


--
-- Name: FUNCTION recompute_customer(p_customer_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.recompute_customer(p_customer_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION recompute_order(p_order_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.recompute_order(p_order_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION recompute_orders_for_payment_intent(p_payment_intent_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.recompute_orders_for_payment_intent(p_payment_intent_id text) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_advance(p_job_id bigint, p_worker text, p_scope text, p_cursor text, p_listed integer, p_recovered integer, p_recovered_failed integer, p_done boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_advance(p_job_id bigint, p_worker text, p_scope text, p_cursor text, p_listed integer, p_recovered integer, p_recovered_failed integer, p_done boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_advance(p_job_id bigint, p_worker text, p_scope text, p_cursor text, p_listed integer, p_recovered integer, p_recovered_failed integer, p_done boolean) TO reconciler;


--
-- Name: FUNCTION reconcile_begin(p_job_id bigint, p_worker text, p_livemode boolean, p_account_id text, p_lookback interval, p_grace interval, p_check_window interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_begin(p_job_id bigint, p_worker text, p_livemode boolean, p_account_id text, p_lookback interval, p_grace interval, p_check_window interval) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_begin(p_job_id bigint, p_worker text, p_livemode boolean, p_account_id text, p_lookback interval, p_grace interval, p_check_window interval) TO reconciler;


--
-- Name: FUNCTION reconcile_connect_accounts(p_job_id bigint, p_worker text, p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_connect_accounts(p_job_id bigint, p_worker text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_connect_accounts(p_job_id bigint, p_worker text, p_limit integer) TO reconciler;


--
-- Name: FUNCTION reconcile_gone_verdicts(p_kind text, p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_gone_verdicts(p_kind text, p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_ingest_event(p_job_id bigint, p_worker text, p_event text, p_livemode boolean, p_account_id text, p_sanitized boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_ingest_event(p_job_id bigint, p_worker text, p_event text, p_livemode boolean, p_account_id text, p_sanitized boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_ingest_event(p_job_id bigint, p_worker text, p_event text, p_livemode boolean, p_account_id text, p_sanitized boolean) TO reconciler;


--
-- Name: FUNCTION reconcile_missing_events(p_job_id bigint, p_worker text, p_events jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_missing_events(p_job_id bigint, p_worker text, p_events jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_missing_events(p_job_id bigint, p_worker text, p_events jsonb) TO reconciler;


--
-- Name: FUNCTION reconcile_note(p_job_id bigint, p_worker text, p_scope text, p_note jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_note(p_job_id bigint, p_worker text, p_scope text, p_note jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_note(p_job_id bigint, p_worker text, p_scope text, p_note jsonb) TO reconciler;


--
-- Name: FUNCTION reconcile_objects_to_fetch(p_job_id bigint, p_worker text, p_checks_from bigint, p_listed_sessions text[], p_listed_payment_intents text[], p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_objects_to_fetch(p_job_id bigint, p_worker text, p_checks_from bigint, p_listed_sessions text[], p_listed_payment_intents text[], p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_objects_to_fetch(p_job_id bigint, p_worker text, p_checks_from bigint, p_listed_sessions text[], p_listed_payment_intents text[], p_limit integer) TO reconciler;


--
-- Name: FUNCTION reconcile_payment_intents(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_payment_intents(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_record_checks(p_job_id bigint, p_worker text, p_scope text, p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_record_checks(p_job_id bigint, p_worker text, p_scope text, p_objects jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reconcile_record_checks(p_job_id bigint, p_worker text, p_scope text, p_objects jsonb) TO reconciler;


--
-- Name: FUNCTION reconcile_sessions(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_sessions(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_subscriptions(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_subscriptions(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_transfers(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_transfers(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_amount_mismatch(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_amount_mismatch(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_billing_status_drift(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_billing_status_drift(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_connect_transfer_missing(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_connect_transfer_missing(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_crm_deal_missing(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_crm_deal_missing(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_missing_event_recovered(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_missing_event_recovered(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_order_without_payment(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_order_without_payment(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_payment_without_order(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_payment_without_order(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconcile_verdicts_seller_payout_missing(p_objects jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconcile_verdicts_seller_payout_missing(p_objects jsonb) FROM PUBLIC;


--
-- Name: FUNCTION reconciliation_kinds_require_verdict_fn(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reconciliation_kinds_require_verdict_fn() FROM PUBLIC;


--
-- Name: FUNCTION record_connect_charge(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_connect_charge(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION record_crm_capture(p_operation text, p_key text, p_body jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_crm_capture(p_operation text, p_key text, p_body jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_crm_capture(p_operation text, p_key text, p_body jsonb) TO pipeline_worker;


--
-- Name: FUNCTION record_crm_sync(p_job_id bigint, p_worker text, p_adapter text, p_result jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_crm_sync(p_job_id bigint, p_worker text, p_adapter text, p_result jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_crm_sync(p_job_id bigint, p_worker text, p_adapter text, p_result jsonb) TO pipeline_worker;


--
-- Name: FUNCTION record_duplicate_delivery(p_endpoint text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_duplicate_delivery(p_endpoint text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_duplicate_delivery(p_endpoint text) TO stripe_webhook;


--
-- Name: FUNCTION record_email_event(p_event_id text, p_type text, p_emails text[], p_undeliverable boolean, p_detail text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_email_event(p_event_id text, p_type text, p_emails text[], p_undeliverable boolean, p_detail text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_email_event(p_event_id text, p_type text, p_emails text[], p_undeliverable boolean, p_detail text) TO provider_webhook;


--
-- Name: FUNCTION record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO stripe_webhook;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO support_intake;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO provider_webhook;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO checkout;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO seller_onboarding;
GRANT ALL ON FUNCTION ops.record_endpoint_outcome(p_endpoint text, p_status integer, p_reason text) TO billing_portal;


--
-- Name: FUNCTION record_inbound_email(p_email_id text, p_delivery_id text, p_ticket_id uuid, p_sender text, p_sender_masked text, p_email_message_id text, p_body text, p_ignored_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_inbound_email(p_email_id text, p_delivery_id text, p_ticket_id uuid, p_sender text, p_sender_masked text, p_email_message_id text, p_body text, p_ignored_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_inbound_email(p_email_id text, p_delivery_id text, p_ticket_id uuid, p_sender text, p_sender_masked text, p_email_message_id text, p_body text, p_ignored_reason text) TO provider_webhook;


--
-- Name: FUNCTION record_notification(p_job_id bigint, p_worker text, p_status text, p_adapter text, p_recipient text, p_provider_id text, p_detail text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_notification(p_job_id bigint, p_worker text, p_status text, p_adapter text, p_recipient text, p_provider_id text, p_detail text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_notification(p_job_id bigint, p_worker text, p_status text, p_adapter text, p_recipient text, p_provider_id text, p_detail text) TO pipeline_worker;


--
-- Name: FUNCTION record_notification_capture(p_channel text, p_key text, p_body jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_notification_capture(p_channel text, p_key text, p_body jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.record_notification_capture(p_channel text, p_key text, p_body jsonb) TO pipeline_worker;


--
-- Name: FUNCTION record_status_change(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.record_status_change() FROM PUBLIC;


--
-- Name: FUNCTION rederive_access(p_stripe_customer_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.rederive_access(p_stripe_customer_id text) FROM PUBLIC;


--
-- Name: FUNCTION refresh_order_share(p_charge_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.refresh_order_share(p_charge_id text) FROM PUBLIC;


--
-- Name: FUNCTION register_stripe_customer(p_stripe_customer_id text, p_user_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.register_stripe_customer(p_stripe_customer_id text, p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.register_stripe_customer(p_stripe_customer_id text, p_user_id uuid) TO service_role;


--
-- Name: FUNCTION registered_function(p_fn text, p_what text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.registered_function(p_fn text, p_what text) FROM PUBLIC;


--
-- Name: FUNCTION replay_job(p_job_id bigint); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.replay_job(p_job_id bigint) FROM PUBLIC;


--
-- Name: FUNCTION replay_jobs(p_status text, p_kind text, p_limit integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.replay_jobs(p_status text, p_kind text, p_limit integer) FROM PUBLIC;


--
-- Name: FUNCTION reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text) TO service_role;


--
-- Name: FUNCTION require_admin(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_admin() FROM PUBLIC;


--
-- Name: FUNCTION require_function_shape(p_fn text, p_shape text, p_what text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_function_shape(p_fn text, p_shape text, p_what text) FROM PUBLIC;


--
-- Name: FUNCTION require_held_job(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_held_job(p_job_id bigint, p_worker text) FROM PUBLIC;


--
-- Name: FUNCTION require_reason(p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_reason(p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION require_reconcile_job(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_reconcile_job(p_job_id bigint, p_worker text) FROM PUBLIC;


--
-- Name: FUNCTION require_stripe_scope(cfg ops.settings, p_livemode boolean, p_account_id text, p_who text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.require_stripe_scope(cfg ops.settings, p_livemode boolean, p_account_id text, p_who text) FROM PUBLIC;


--
-- Name: FUNCTION resolve_customer_review(p_customer_id uuid, p_note text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.resolve_customer_review(p_customer_id uuid, p_note text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.resolve_customer_review(p_customer_id uuid, p_note text) TO service_role;


--
-- Name: FUNCTION resolve_order_review(p_order_id uuid, p_accept boolean, p_note text, p_decided_by text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.resolve_order_review(p_order_id uuid, p_accept boolean, p_note text, p_decided_by text) FROM PUBLIC;


--
-- Name: FUNCTION retention_policies_require_purge_fn(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.retention_policies_require_purge_fn() FROM PUBLIC;


--
-- Name: FUNCTION retry_failed_stripe_event(p_event_id text, p_max_attempts integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.retry_failed_stripe_event(p_event_id text, p_max_attempts integer) FROM PUBLIC;


--
-- Name: FUNCTION route_ticket(p_category text, p_billing_status text, p_plan text, p_order_amount bigint, p_lifetime_value bigint, p_vip boolean, OUT queue text, OUT priority text, OUT tags text[]); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.route_ticket(p_category text, p_billing_status text, p_plan text, p_order_amount bigint, p_lifetime_value bigint, p_vip boolean, OUT queue text, OUT priority text, OUT tags text[]) FROM PUBLIC;


--
-- Name: FUNCTION run_alert_evaluation(p_now timestamp with time zone); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.run_alert_evaluation(p_now timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION run_retention_policies(p_personal_only boolean, p_personal_keep interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.run_retention_policies(p_personal_only boolean, p_personal_keep interval) FROM PUBLIC;


--
-- Name: FUNCTION run_support_ticket_job(p_job_id bigint, p_worker text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.run_support_ticket_job(p_job_id bigint, p_worker text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.run_support_ticket_job(p_job_id bigint, p_worker text) TO pipeline_worker;


--
-- Name: FUNCTION seller_accounts_enqueue_crm_sync(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.seller_accounts_enqueue_crm_sync() FROM PUBLIC;


--
-- Name: TABLE seller_accounts; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.seller_accounts TO service_role;
GRANT SELECT ON TABLE public.seller_accounts TO authenticated;


--
-- Name: FUNCTION seller_crm_status(a public.seller_accounts); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.seller_crm_status(a public.seller_accounts) FROM PUBLIC;


--
-- Name: FUNCTION seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text) TO seller_onboarding;


--
-- Name: FUNCTION seller_onboarding_record(p_user_id uuid, p_account jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.seller_onboarding_record(p_user_id uuid, p_account jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.seller_onboarding_record(p_user_id uuid, p_account jsonb) TO seller_onboarding;


--
-- Name: FUNCTION set_user_role(p_user_id uuid, p_role text, p_note text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.set_user_role(p_user_id uuid, p_role text, p_note text) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.set_user_role(p_user_id uuid, p_role text, p_note text) TO service_role;


--
-- Name: FUNCTION settings_track_live_since(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.settings_track_live_since() FROM PUBLIC;


--
-- Name: FUNCTION stripe_event_scope_problem(evt jsonb, s ops.settings); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.stripe_event_scope_problem(evt jsonb, s ops.settings) FROM PUBLIC;


--
-- Name: FUNCTION stripe_event_type_applied(p_type text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.stripe_event_type_applied(p_type text) FROM PUBLIC;


--
-- Name: FUNCTION stripe_payload_skeleton(evt jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.stripe_payload_skeleton(evt jsonb) FROM PUBLIC;


--
-- Name: FUNCTION stripe_ref(v jsonb); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.stripe_ref(v jsonb) FROM PUBLIC;


--
-- Name: FUNCTION stripe_webhook_refusal(p_status_class text, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.stripe_webhook_refusal(p_status_class text, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION support_context(p_user_id uuid, p_order_id uuid); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.support_context(p_user_id uuid, p_order_id uuid) FROM PUBLIC;


--
-- Name: FUNCTION support_tickets_guard(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.support_tickets_guard() FROM PUBLIC;


--
-- Name: FUNCTION support_tickets_notify(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.support_tickets_notify() FROM PUBLIC;


--
-- Name: FUNCTION support_tickets_prepare(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.support_tickets_prepare() FROM PUBLIC;


--
-- Name: FUNCTION sweep_dunning(p_now timestamp with time zone); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.sweep_dunning(p_now timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION sweep_jobs(p_limit integer, p_lost_after interval, p_max_unclaimed integer, p_max_wait interval); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.sweep_jobs(p_limit integer, p_lost_after interval, p_max_unclaimed integer, p_max_wait interval) FROM PUBLIC;


--
-- Name: FUNCTION take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) TO pipeline_worker;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) TO support_intake;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) TO checkout;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) TO seller_onboarding;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer) TO billing_portal;


--
-- Name: FUNCTION take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean) TO pipeline_worker;


--
-- Name: FUNCTION ticket_messages_append_only(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ticket_messages_append_only() FROM PUBLIC;


--
-- Name: FUNCTION ticket_messages_author(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ticket_messages_author() FROM PUBLIC;


--
-- Name: FUNCTION ticket_messages_authorship_final(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ticket_messages_authorship_final() FROM PUBLIC;


--
-- Name: FUNCTION ticket_messages_email_reply(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ticket_messages_email_reply() FROM PUBLIC;


--
-- Name: FUNCTION ticket_messages_route(); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ticket_messages_route() FROM PUBLIC;


--
-- Name: FUNCTION try_apply_stripe_event(p_event_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.try_apply_stripe_event(p_event_id text) FROM PUBLIC;


--
-- Name: FUNCTION ts(epoch text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.ts(epoch text) FROM PUBLIC;


--
-- Name: FUNCTION upsert_customer_link(p_stripe_customer_id text, p_claims text[], p_email text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.upsert_customer_link(p_stripe_customer_id text, p_claims text[], p_email text) FROM PUBLIC;


--
-- Name: FUNCTION upsert_refund(r jsonb, pi_id text, at timestamp with time zone); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.upsert_refund(r jsonb, pi_id text, at timestamp with time zone) FROM PUBLIC;


--
-- Name: FUNCTION upsert_transfer_reversal(r jsonb, p_transfer_id text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.upsert_transfer_reversal(r jsonb, p_transfer_id text) FROM PUBLIC;


--
-- Name: FUNCTION write_audit(p_action text, p_target text, p_before jsonb, p_after jsonb, p_reason text); Type: ACL; Schema: ops; Owner: -
--

REVOKE ALL ON FUNCTION ops.write_audit(p_action text, p_target text, p_before jsonb, p_after jsonb, p_reason text) FROM PUBLIC;


--
-- Name: FUNCTION is_admin(); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.is_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION private.is_admin() TO authenticated;


--
-- Name: FUNCTION is_anonymous(); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.is_anonymous() FROM PUBLIC;
GRANT ALL ON FUNCTION private.is_anonymous() TO authenticated;


--
-- Name: FUNCTION is_seller(); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.is_seller() FROM PUBLIC;
GRANT ALL ON FUNCTION private.is_seller() TO authenticated;


--
-- Name: FUNCTION order_party(p_order_id uuid); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.order_party(p_order_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.order_party(p_order_id uuid) TO authenticated;


--
-- Name: FUNCTION seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text) FROM PUBLIC;
GRANT ALL ON FUNCTION private.seller_block_reason(p_disabled_reason text, p_past_due text[], p_currently_due text[], p_details_submitted boolean, p_deauthorized boolean, p_current_deadline timestamp with time zone, OUT why text, OUT next_step text) TO authenticated;


--
-- Name: FUNCTION seller_can_accept_charges(p_seller_id uuid); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.seller_can_accept_charges(p_seller_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.seller_can_accept_charges(p_seller_id uuid) TO anon;
GRANT ALL ON FUNCTION private.seller_can_accept_charges(p_seller_id uuid) TO authenticated;


--
-- Name: FUNCTION seller_listings_open(p_seller_id uuid); Type: ACL; Schema: private; Owner: -
--

REVOKE ALL ON FUNCTION private.seller_listings_open(p_seller_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION private.seller_listings_open(p_seller_id uuid) TO anon;
GRANT ALL ON FUNCTION private.seller_listings_open(p_seller_id uuid) TO authenticated;


--
-- Name: FUNCTION add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text, p_idempotency_key text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text, p_idempotency_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text, p_idempotency_key text) TO service_role;
GRANT ALL ON FUNCTION public.add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text, p_idempotency_key text) TO authenticated;


--
-- Name: FUNCTION complete_order(p_order_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.complete_order(p_order_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.complete_order(p_order_id uuid) TO service_role;
GRANT ALL ON FUNCTION public.complete_order(p_order_id uuid) TO authenticated;


--
-- Name: FUNCTION confirm_order_received(p_order_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.confirm_order_received(p_order_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.confirm_order_received(p_order_id uuid) TO service_role;
GRANT ALL ON FUNCTION public.confirm_order_received(p_order_id uuid) TO authenticated;


--
-- Name: FUNCTION handle_new_user(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.handle_new_user() FROM PUBLIC;
GRANT ALL ON FUNCTION public.handle_new_user() TO service_role;


--
-- Name: FUNCTION handle_new_user_customer(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.handle_new_user_customer() FROM PUBLIC;
GRANT ALL ON FUNCTION public.handle_new_user_customer() TO service_role;


--
-- Name: FUNCTION orders_price_from_listing(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.orders_price_from_listing() FROM PUBLIC;
GRANT ALL ON FUNCTION public.orders_price_from_listing() TO service_role;


--
-- Name: FUNCTION set_updated_at(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.set_updated_at() FROM PUBLIC;
GRANT ALL ON FUNCTION public.set_updated_at() TO service_role;


--
-- Name: FUNCTION ship_order(p_order_id uuid, p_carrier text, p_tracking_number text, p_tracking_url text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.ship_order(p_order_id uuid, p_carrier text, p_tracking_number text, p_tracking_url text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ship_order(p_order_id uuid, p_carrier text, p_tracking_number text, p_tracking_url text) TO service_role;
GRANT ALL ON FUNCTION public.ship_order(p_order_id uuid, p_carrier text, p_tracking_number text, p_tracking_url text) TO authenticated;


--
-- Name: FUNCTION submit_support_request(p_category text, p_subject text, p_message text, p_order_id uuid, p_idempotency_key text, p_client_context jsonb, p_follow_up_of uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.submit_support_request(p_category text, p_subject text, p_message text, p_order_id uuid, p_idempotency_key text, p_client_context jsonb, p_follow_up_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.submit_support_request(p_category text, p_subject text, p_message text, p_order_id uuid, p_idempotency_key text, p_client_context jsonb, p_follow_up_of uuid) TO service_role;
GRANT ALL ON FUNCTION public.submit_support_request(p_category text, p_subject text, p_message text, p_order_id uuid, p_idempotency_key text, p_client_context jsonb, p_follow_up_of uuid) TO authenticated;


--
-- Name: TABLE alert_incidents; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.alert_incidents TO authenticated;
GRANT SELECT ON TABLE ops.alert_incidents TO service_role;


--
-- Name: TABLE alert_rule_state; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.alert_rule_state TO service_role;


--
-- Name: TABLE alert_status; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.alert_status TO service_role;


--
-- Name: TABLE audit_log; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.audit_log TO authenticated;
GRANT SELECT ON TABLE ops.audit_log TO service_role;


--
-- Name: TABLE billing_statuses; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.billing_statuses TO service_role;


--
-- Name: TABLE profiles; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.profiles TO service_role;
GRANT SELECT ON TABLE public.profiles TO authenticated;


--
-- Name: COLUMN profiles.display_name; Type: ACL; Schema: public; Owner: -
--

GRANT UPDATE(display_name) ON TABLE public.profiles TO authenticated;


--
-- Name: COLUMN profiles.charges_enabled; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(charges_enabled) ON TABLE public.profiles TO authenticated;


--
-- Name: COLUMN profiles.country; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(country),UPDATE(country) ON TABLE public.profiles TO authenticated;


--
-- Name: TABLE seller_account_status; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.seller_account_status TO service_role;
GRANT SELECT ON TABLE public.seller_account_status TO authenticated;


--
-- Name: TABLE crm_contacts; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.crm_contacts TO service_role;


--
-- Name: TABLE crm_deals; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.crm_deals TO service_role;


--
-- Name: TABLE customers; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.customers TO service_role;


--
-- Name: COLUMN customers.id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(id) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.user_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(user_id) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.email; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(email) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.name; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(name) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.billing_status; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(billing_status) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.access_status; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(access_status) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.last_paid_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(last_paid_at) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.last_payment_failed_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(last_payment_failed_at) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.deleted_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(deleted_at) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.created_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(created_at) ON TABLE public.customers TO authenticated;


--
-- Name: COLUMN customers.updated_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(updated_at) ON TABLE public.customers TO authenticated;


--
-- Name: TABLE customer_access; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.customer_access TO service_role;


--
-- Name: TABLE degraded_communications; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.degraded_communications TO service_role;


--
-- Name: TABLE duplicate_deliveries; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.duplicate_deliveries TO service_role;


--
-- Name: TABLE stripe_events; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.stripe_events TO service_role;


--
-- Name: TABLE duplicate_deliveries_daily; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.duplicate_deliveries_daily TO service_role;


--
-- Name: TABLE notifications; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.notifications TO service_role;


--
-- Name: TABLE provider_events; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.provider_events TO service_role;


--
-- Name: TABLE email_bounce_daily; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.email_bounce_daily TO service_role;


--
-- Name: TABLE endpoint_outcomes; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.endpoint_outcomes TO service_role;


--
-- Name: TABLE job_attempts; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.job_attempts TO service_role;


--
-- Name: TABLE job_kinds; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.job_kinds TO service_role;


--
-- Name: TABLE last_successes; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.last_successes TO service_role;


--
-- Name: TABLE stripe_customers; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.stripe_customers TO service_role;


--
-- Name: TABLE open_dunning_cases; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.open_dunning_cases TO service_role;


--
-- Name: TABLE open_incidents; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.open_incidents TO service_role;


--
-- Name: TABLE overrides_weekly; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.overrides_weekly TO service_role;


--
-- Name: TABLE status_changes; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.status_changes TO service_role;


--
-- Name: TABLE payment_access_lag; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.payment_access_lag TO service_role;


--
-- Name: TABLE payment_access_lag_daily; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.payment_access_lag_daily TO service_role;


--
-- Name: TABLE payment_outcomes; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.payment_outcomes TO service_role;


--
-- Name: TABLE payment_success_daily; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.payment_success_daily TO service_role;


--
-- Name: TABLE orders; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.orders TO service_role;


--
-- Name: COLUMN orders.id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(id) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.buyer_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(buyer_id) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.seller_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(seller_id) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.listing_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(listing_id),INSERT(listing_id) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.status; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(status),UPDATE(status) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.amount_total; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(amount_total) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.currency; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(currency) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.amount_refunded; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(amount_refunded) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.needs_review; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(needs_review) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.paid_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(paid_at) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.created_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(created_at) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.updated_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(updated_at) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.quantity; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(quantity),INSERT(quantity) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.tracking_carrier; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(tracking_carrier),UPDATE(tracking_carrier) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.tracking_number; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(tracking_number),UPDATE(tracking_number) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.tracking_url; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(tracking_url),UPDATE(tracking_url) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.fulfillment_started_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(fulfillment_started_at) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.completed_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(completed_at) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.amount_refund_pending; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(amount_refund_pending) ON TABLE public.orders TO authenticated;


--
-- Name: COLUMN orders.payment_processing; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(payment_processing) ON TABLE public.orders TO authenticated;


--
-- Name: TABLE pipeline_exceptions; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.pipeline_exceptions TO service_role;


--
-- Name: TABLE pipeline_health; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.pipeline_health TO service_role;


--
-- Name: TABLE reconciliation_findings; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.reconciliation_findings TO authenticated;


--
-- Name: TABLE reconciliation_kinds; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.reconciliation_kinds TO service_role;


--
-- Name: TABLE refunds; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.refunds TO service_role;


--
-- Name: TABLE retention_policies; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.retention_policies TO service_role;


--
-- Name: TABLE revenue_today; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.revenue_today TO service_role;


--
-- Name: TABLE support_queues; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.support_queues TO service_role;


--
-- Name: TABLE support_tickets; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.support_tickets TO service_role;


--
-- Name: COLUMN support_tickets.id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(id) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.ref; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(ref) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.requester_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(requester_id) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.order_id; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(order_id),INSERT(order_id) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.source; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(source) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.category; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(category),INSERT(category) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.subject; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(subject),INSERT(subject) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.status; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(status),UPDATE(status) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.queue; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(queue) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.client_context; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(client_context) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.idempotency_key; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(idempotency_key),INSERT(idempotency_key) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.follow_up_of; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(follow_up_of),INSERT(follow_up_of) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.reopened_count; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(reopened_count) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.last_message_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(last_message_at) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.solved_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(solved_at) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.closed_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(closed_at) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.created_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(created_at) ON TABLE public.support_tickets TO authenticated;


--
-- Name: COLUMN support_tickets.updated_at; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT(updated_at) ON TABLE public.support_tickets TO authenticated;


--
-- Name: TABLE support_backlog; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.support_backlog TO service_role;


--
-- Name: TABLE webhook_answers; Type: ACL; Schema: ops; Owner: -
--

GRANT SELECT ON TABLE ops.webhook_answers TO service_role;


--
-- Name: TABLE customer_state_texts; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.customer_state_texts TO service_role;
GRANT SELECT ON TABLE public.customer_state_texts TO authenticated;


--
-- Name: TABLE listings; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.listings TO service_role;
GRANT SELECT ON TABLE public.listings TO anon;
GRANT SELECT,DELETE ON TABLE public.listings TO authenticated;


--
-- Name: COLUMN listings.title; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(title),UPDATE(title) ON TABLE public.listings TO authenticated;


--
-- Name: COLUMN listings.price_amount; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(price_amount),UPDATE(price_amount) ON TABLE public.listings TO authenticated;


--
-- Name: COLUMN listings.currency; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(currency),UPDATE(currency) ON TABLE public.listings TO authenticated;


--
-- Name: COLUMN listings.active; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(active),UPDATE(active) ON TABLE public.listings TO authenticated;


--
-- Name: TABLE plans; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.plans TO service_role;
GRANT SELECT ON TABLE public.plans TO anon;
GRANT SELECT ON TABLE public.plans TO authenticated;


--
-- Name: TABLE subscriptions; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.subscriptions TO service_role;
GRANT SELECT ON TABLE public.subscriptions TO authenticated;


--
-- Name: TABLE my_access; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.my_access TO service_role;
GRANT SELECT ON TABLE public.my_access TO authenticated;


--
-- Name: TABLE my_orders; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.my_orders TO service_role;
GRANT SELECT ON TABLE public.my_orders TO authenticated;


--
-- Name: TABLE my_sales; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.my_sales TO service_role;
GRANT SELECT ON TABLE public.my_sales TO authenticated;


--
-- Name: TABLE ticket_messages; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.ticket_messages TO service_role;
GRANT SELECT ON TABLE public.ticket_messages TO authenticated;


--
-- Name: COLUMN ticket_messages.ticket_id; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(ticket_id) ON TABLE public.ticket_messages TO authenticated;


--
-- Name: COLUMN ticket_messages.body; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(body) ON TABLE public.ticket_messages TO authenticated;


--
-- Name: COLUMN ticket_messages.visibility; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(visibility) ON TABLE public.ticket_messages TO authenticated;


--
-- Name: COLUMN ticket_messages.idempotency_key; Type: ACL; Schema: public; Owner: -
--

GRANT INSERT(idempotency_key) ON TABLE public.ticket_messages TO authenticated;


--
-- Name: TABLE my_tickets; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.my_tickets TO service_role;
GRANT SELECT ON TABLE public.my_tickets TO authenticated;


--
-- Name: TABLE order_shares; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.order_shares TO service_role;
GRANT SELECT ON TABLE public.order_shares TO authenticated;


--
-- Name: TABLE seller_payouts; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.seller_payouts TO service_role;
GRANT SELECT ON TABLE public.seller_payouts TO authenticated;


--
-- Name: TABLE seller_transfer_reversals; Type: ACL; Schema: public; Owner: -
--

GRANT ALL ON TABLE public.seller_transfer_reversals TO service_role;
GRANT SELECT ON TABLE public.seller_transfer_reversals TO authenticated;


--
-- Name: DEFAULT PRIVILEGES FOR SEQUENCES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR SEQUENCES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES  TO postgres;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR FUNCTIONS; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR FUNCTIONS; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS  TO postgres;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES  TO service_role;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: -
--

ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES  TO postgres;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES  TO anon;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES  TO authenticated;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES  TO service_role;


--
-- PostgreSQL database dump complete
--


