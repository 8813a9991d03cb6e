-- The founder's dashboard (#10): Studio views of what the page shows, admin-only functions the page
-- calls (reads, and manual overrides that each write one ops.audit_log row in their transaction),
-- access overrides recorded beside billing truth (they expire; billing_status is never touched),
-- and the dashboard function's login role, which can only become `authenticated` as the signed-in user.

-- ---------------------------------------------------------------- access overrides
create table if not exists ops.access_overrides (
  id bigint generated always as identity primary key,
  customer_id uuid not null references public.customers (id) on delete cascade,
  -- what the app grants while the override counts: granted (a grant) or blocked (a revoke)
  access_status text not null check (access_status in ('granted', 'blocked')),
  reason text not null check (length(btrim(reason)) between 1 and 1000),
  expires_at timestamptz not null,
  created_by uuid,
  created_by_email text,
  created_at timestamptz not null default now(),
  -- when it stopped counting, and why: replaced (a newer override), cleared (by an admin) or expired
  ended_at timestamptz,
  ended_reason text check (ended_reason in ('replaced', 'cleared', 'expired')),
  check (expires_at > created_at),
  check ((ended_at is null) = (ended_reason is null))
);
comment on table ops.access_overrides is 'Manual access grants and revokes (dashboard), beside billing truth: while '
  'one is current and not expired, customers.access_status follows it; billing_status never changes. At most one '
  'current per customer; the sweep ends expired ones.';
create unique index if not exists access_overrides_one_current_idx on ops.access_overrides (customer_id)
  where ended_at is null;
create index if not exists access_overrides_expiry_idx on ops.access_overrides (expires_at) where ended_at is null;
alter table ops.access_overrides enable row level security;
revoke all on ops.access_overrides from public, anon, authenticated;

-- The override in force for a customer, if any (current and not yet expired).
create or replace function ops.current_access_override(p_customer_id uuid) returns ops.access_overrides
language sql stable
set search_path = ''
as $$
  select o.* from ops.access_overrides o
   where o.customer_id = p_customer_id and o.ended_at is null and o.expires_at > now()
$$;

-- Runs after customers_200_enforce_billing_transition, which derived access from billing: an override
-- in force replaces that; without one (none, ended or past its expiry) billing's access stands.
-- On updates of the columns 200 re-derives access from (billing, access, email, user, review), as 200
-- fires on; an update of anything else (an invoice's last_paid_at) leaves access as it was. Granting,
-- revoking and expiring an override touch access_status so that this runs.
-- security definer: reads ops.access_overrides, which the app's roles cannot read.
create or replace function ops.apply_access_override() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  new.access_status := coalesce((ops.current_access_override(new.id)).access_status, new.access_status);
  return new;
end
$$;
drop trigger if exists customers_210_apply_access_override on public.customers;
create trigger customers_210_apply_access_override
  before update of billing_status, access_status, email, user_id, needs_review on public.customers
  for each row execute function ops.apply_access_override();

-- ---------------------------------------------------------------- audit helpers (not granted)
-- Admin functions call it first: the JWT's app_metadata.role must be admin (private.is_admin()).
create or replace function ops.require_admin() returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if not coalesce(private.is_admin(), false) then
    raise exception 'admins only: sign in with an account whose app_metadata.role is admin'
      using errcode = 'insufficient_privilege';
  end if;
end
$$;

create or replace function ops.require_reason(p_reason text) returns text
language plpgsql immutable
set search_path = ''
as $$
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

-- One audit row for one override, written in the caller's transaction; the actor is the JWT's subject
-- and email (null for the system, e.g. an override's expiry).
create or replace function ops.write_audit(p_action text, p_target text, p_before jsonb, p_after jsonb, p_reason text)
returns bigint
language sql
set search_path = ''
as $$
  insert into ops.audit_log (actor_id, actor_email, action, target, before, after, reason)
  values (ops.as_uuid(auth.jwt() ->> 'sub'), auth.jwt() ->> 'email', p_action, p_target, p_before, p_after, p_reason)
  returning id
$$;

-- A customer row and its override in force, as the audit log keeps them.
create or replace function ops.customer_access_state(p_customer_id uuid) returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'customer', (select to_jsonb(c) from public.customers c where c.id = p_customer_id),
    'override', (select to_jsonb(o) from ops.current_access_override(p_customer_id) o where o.id is not null))
$$;

-- ---------------------------------------------------------------- expiry sweep
-- Ends overrides past their expiry and re-derives the customer's access from billing, with an audit
-- row (actor: the system). pg_cron runs it every minute; reads already fall back at expiry since the
-- trigger ignores expired overrides. Locks the customer first, as the admin functions do.
create or replace function ops.expire_access_overrides() returns integer
language plpgsql
set search_path = ''
as $$
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
select cron.schedule('ops-expire-access-overrides', '* * * * *', 'select ops.expire_access_overrides()');

-- ---------------------------------------------------------------- Studio views
-- security_invoker views in ops, which the API does not expose (as ops.pipeline_health): Studio and
-- service_role read them with their own privileges; the dashboard reads them through
-- ops.dashboard_snapshot(). "Today" is the database's day (UTC on hosted Supabase).
-- what the views below look up by time, on tables that only grow: small partial indexes, so a page
-- load reads today's rows, not the history
create index if not exists orders_paid_today_idx on public.orders (paid_at) where payment_confirmed;
create index if not exists status_changes_money_moves_idx on ops.status_changes (changed_at)
  where to_status in ('refunded', 'partially_refunded', 'disputed');
create index if not exists notifications_delivered_idx on ops.notifications (channel, created_at)
  where status in ('sent', 'captured');

create or replace view ops.revenue_today with (security_invoker = true) as
with since as (
  select date_trunc('day', now()) as t
), paid as (
  select coalesce(o.currency_charged, o.currency) as currency, count(*) as n,
    sum(coalesce(o.amount_charged, 0)) as amount
    from public.orders o, since where o.payment_confirmed and o.paid_at >= since.t group by 1
), moves as (
  -- orders that became refunded or disputed today (one count per order, whatever the number of moves)
  select coalesce(o.currency_charged, o.currency) as currency,
         count(distinct o.id) filter (where s.to_status in ('refunded', 'partially_refunded')) as refunded,
         count(distinct o.id) filter (where s.to_status = 'disputed') as disputed
    from ops.status_changes s join public.orders o on s.entity = 'order:' || o.id::text, since
   where s.changed_at >= since.t and s.to_status in ('refunded', 'partially_refunded', 'disputed')
   group by 1
), refunds as (
  select lower(r.currency) as currency, sum(r.amount) as amount
    from ops.refunds r, since where r.status = 'succeeded' and r.stripe_event_created >= since.t group by 1
), currencies as (
  select currency from paid union select currency from moves union select currency from refunds
)
select (select t from since)::date as day, c.currency,
       coalesce(p.amount, 0) as revenue, coalesce(r.amount, 0) as refunded_amount,
       coalesce(p.amount, 0) - coalesce(r.amount, 0) as net,
       coalesce(p.n, 0) as paid, coalesce(m.refunded, 0) as refunded, coalesce(m.disputed, 0) as disputed
  from currencies c
  left join paid p on p.currency = c.currency
  left join moves m on m.currency = c.currency
  left join refunds r on r.currency = c.currency
 where c.currency is not null;
comment on view ops.revenue_today is 'Today (the database''s day) per currency: revenue of orders paid today (amounts '
  'in the smallest unit), refunds succeeded today, net, and the number of orders paid, refunded and disputed today.';

create or replace view ops.customer_access with (security_invoker = true) as
select c.id as customer_id, c.email, c.user_id, c.billing_status, b.access_status as billing_access,
       c.access_status, o.access_status as override_access, o.reason as override_reason,
       o.expires_at as override_expires_at, o.created_by_email as override_by,
       case
         when c.access_status = 'granted' then null
         when o.access_status = 'blocked'
           then format('access revoked by %s until %s: %s',
                       coalesce(o.created_by_email, 'an admin'), o.expires_at, o.reason)
         when c.access_status = 'grace'
           then format('past due since %s: Stripe is retrying the renewal (access in grace)',
                       coalesce(c.last_payment_failed_at::text, 'a failed renewal'))
         when c.billing_status = 'lead' then 'never paid: no active subscription'
         when c.billing_status = 'unpaid'
           then format('unpaid: Stripe''s retries are exhausted (last failed payment %s)',
                       coalesce(c.last_payment_failed_at::text, 'unknown'))
         when c.billing_status = 'canceled' and c.deleted_at is not null
           then format('canceled: its Stripe customer was deleted on %s', c.deleted_at)
         when c.billing_status = 'canceled' then 'canceled: the subscription ended'
         else b.description
       end as blocked_reason,
       c.needs_review, c.review_reason, c.last_paid_at, c.last_payment_failed_at, c.updated_at
  from public.customers c
  join ops.billing_statuses b on b.status = c.billing_status
  left join lateral (select * from ops.current_access_override(c.id) x where x.id is not null) o on true;
comment on view ops.customer_access is 'Billing (Stripe''s truth) next to access (what the app grants) per customer, '
  'the override in force if any, and why a customer without access is blocked.';

create or replace view ops.last_successes with (security_invoker = true) as
select 'crm_sync' as what, greatest((select max(synced_at) from ops.crm_contacts),
                                    (select max(synced_at) from ops.crm_deals)) as last_success_at,
       'last contact or deal written to the CRM' as detail
union all
select 'email_send', (select max(created_at) from ops.notifications where channel = 'email'
                      and status in ('sent', 'captured')),
       'last email sent (or captured by the local adapter)'
union all
select 'slack_post', (select max(created_at) from ops.notifications where channel = 'slack'
                      and status in ('sent', 'captured')),
       'last Slack alert posted (or captured)'
union all
select 'stripe_event', (select max(received_at) from ops.stripe_events where status = 'processed'),
       'last Stripe event received and applied';
comment on view ops.last_successes is 'When the CRM sync, an email, a Slack post and a Stripe event last succeeded.';

create or replace view ops.support_backlog with (security_invoker = true) as
select q.queue,
       count(t.id) filter (where t.status = 'open') as open,
       count(t.id) filter (where t.status = 'pending') as pending,
       count(t.id) filter (where t.priority in ('high', 'urgent')) as high_or_urgent,
       min(t.created_at) as oldest_at,
       now() - min(t.created_at) as oldest_age
  from ops.support_queues q
  left join public.support_tickets t on t.queue = q.queue and t.status in ('open', 'pending')
 group by q.queue;
comment on view ops.support_backlog is 'Open and pending tickets per support queue, how many are high or urgent, and '
  'the oldest one''s age.';

create or replace view ops.open_incidents with (security_invoker = true) as
select i.id, i.rule, r.severity, i.summary, i.detail, i.opened_at, i.last_seen_at,
       now() - i.opened_at as open_for, r.runbook
  from ops.alert_incidents i join ops.alert_rules r on r.rule = i.rule
 where i.status = 'open';
comment on view ops.open_incidents is 'Open alert incidents with their rule''s severity and one-line runbook.';

revoke all on ops.revenue_today, ops.customer_access, ops.last_successes, ops.support_backlog, ops.open_incidents
  from public, anon, authenticated;
grant select on ops.revenue_today, ops.customer_access, ops.last_successes, ops.support_backlog, ops.open_incidents
  to service_role;
-- security_invoker views read with the reader's privileges: service_role needs the tables behind them
grant select on ops.refunds, ops.status_changes, ops.billing_statuses, ops.access_overrides, ops.crm_contacts,
  ops.crm_deals, ops.notifications, ops.support_queues to service_role;
grant execute on function ops.current_access_override(uuid) to service_role;

-- ---------------------------------------------------------------- the page's reads
-- security definer: the page shows Stripe ids, jobs, events and exceptions that `authenticated` may
-- not read; each function lets an admin's JWT through (ops.require_admin()) and nobody else.
create or replace function ops.dashboard_snapshot() returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
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
comment on function ops.dashboard_snapshot() is 'Everything the dashboard page shows, as one JSON document (admins '
  'only).';

-- security definer: ops.journey reads the ledger, jobs and notifications; admins only.
create or replace function ops.dashboard_journey(p_query text)
returns table (at timestamptz, source text, entity text, what text, detail text, correlation_id text)
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  perform ops.require_admin();
  if p_query is null or length(btrim(p_query)) not between 1 and 200 then
    raise exception 'search for an email, an order id, evt_..., a ticket id or T-000123 (at most 200 characters)'
      using errcode = 'invalid_parameter_value';
  end if;
  return query select * from ops.journey(btrim(p_query)) j limit 500;
end
$$;

-- ---------------------------------------------------------------- manual overrides
-- Each: admins only, a reason, one audit row (before and after) in the same transaction as the change,
-- and the audit row's id as the answer. security definer: they change rows (overrides, jobs, the
-- ledger's outcome, orders through their review, tickets' queue and priority) the API may not write.

-- Grant (p_access 'granted') or revoke ('blocked') access until p_expires_at, beside billing truth.
create or replace function ops.admin_set_access(p_customer_id uuid, p_access text, p_reason text,
                                                p_expires_at timestamptz)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- Ends the override in force before its expiry: access follows billing again.
create or replace function ops.admin_clear_access_override(p_customer_id uuid, p_reason text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- ops.resolve_order_review with an audit row; the decision names the admin (ops.order_reviews.decided_by).
create or replace function ops.admin_resolve_order_review(p_order_id uuid, p_accept boolean,
                                                          p_reason text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- Replays a dead or failed job (ops.replay_job: same row, payload and idempotency key, a fresh attempt
-- budget). The audit row keeps the job without its payload and result (personal data ages out of
-- jobs, never out of the audit log).
create or replace function ops.admin_replay_job(p_job_id bigint, p_reason text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- Re-applies a failed or dead Stripe event now (ops.try_apply_stripe_event, as npm run replay does);
-- its outcome (processed, failed again, ignored) is in the audit row's after.
create or replace function ops.admin_replay_stripe_event(p_event_id text, p_reason text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- Moves a ticket to another priority and/or queue (null keeps it).
create or replace function ops.admin_escalate_ticket(p_ticket_id uuid, p_priority text, p_queue text, p_reason text)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

-- Closes a ticket (final: a new message opens a follow-up).
create or replace function ops.admin_close_ticket(p_ticket_id uuid, p_reason text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
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

grant execute on function ops.dashboard_snapshot(), ops.dashboard_journey(text),
  ops.admin_set_access(uuid, text, text, timestamptz), ops.admin_clear_access_override(uuid, text),
  ops.admin_resolve_order_review(uuid, boolean, text), ops.admin_replay_job(bigint, text),
  ops.admin_replay_stripe_event(text, text), ops.admin_escalate_ticket(uuid, text, text, text),
  ops.admin_close_ticket(uuid, text)
  to authenticated;

-- ---------------------------------------------------------------- the dashboard's login role
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'dashboard') then
    -- the dashboard function's login role: it owns nothing and may do nothing but become authenticated
    -- (set local role, with the verified admin's claims), so every read and write runs as that user.
    create role dashboard nologin noinherit;
  end if;
end
$$;
grant authenticated to dashboard;
alter role dashboard set lock_timeout = '3s';
alter role dashboard set statement_timeout = '15s';
alter role dashboard set idle_in_transaction_session_timeout = '30s';
