-- Customer notifications and system tickets on the job engine. Domain changes enqueue
-- notify.email / notify.slack / support.ticket jobs whose dedupe key names (template, entity,
-- recipient), so retries, duplicate events and replays send once. The notify worker reads what to
-- send at run time (ops.notify_job_context), skips suppressed addresses, and records each send.
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms)
values ('notify.email', 'notify', 8, 30000, 60, 5000),
       ('notify.slack', 'notify', 8, 30000, 60, 5000),
       ('support.ticket', 'support-desk', 8, 30000, 60, 2000)
on conflict (kind) do update set function_name = excluded.function_name;

create table if not exists ops.notifications (
  id bigint generated always as identity primary key,
  job_id bigint references ops.jobs (id) on delete set null,
  dedupe_key text not null unique,
  channel text not null check (channel in ('email', 'slack')),
  template text not null,
  entity text not null,
  -- masked in the log line, whole here (the founder needs to see who was told)
  recipient text not null,
  status text not null check (status in ('sent', 'captured', 'suppressed', 'skipped')),
  adapter text not null,
  provider_id text,
  detail text,
  created_at timestamptz not null default now()
);
comment on table ops.notifications is 'Every notification that went out (or was captured locally, or skipped because '
  'the address bounced), once per (template, entity, recipient).';
create index if not exists notifications_entity_idx on ops.notifications (entity);
-- the daily purge deletes succeeded jobs: each delete sets job_id null here, found by this index
create index if not exists notifications_job_idx on ops.notifications (job_id);

create table if not exists ops.notification_captures (
  id bigint generated always as identity primary key,
  channel text not null check (channel in ('email', 'slack')),
  key text not null unique,
  body jsonb not null,
  created_at timestamptz not null default now(),
  -- the retention purge reduced the body to its id and tags (ops.purge_notifications)
  cleared_at timestamptz
);
comment on table ops.notification_captures is 'What the local capture adapters would have sent to Resend and Slack '
  '(the default without RESEND_API_KEY / SLACK_WEBHOOK_URL): readable in Studio.';

create table if not exists ops.email_suppressions (
  email text primary key check (email = lower(email)),
  reason text not null check (reason in ('bounced', 'complained')),
  provider_event_id text,
  detail text,
  suppressed_at timestamptz not null default now()
);
comment on table ops.email_suppressions is 'Addresses that bounced or complained (Resend webhooks): later emails to '
  'them are skipped, and visible in ops.notifications.';

create table if not exists ops.provider_events (
  provider text not null,
  event_id text not null,
  type text not null,
  received_at timestamptz not null default now(),
  primary key (provider, event_id)
);
comment on table ops.provider_events is 'Webhook events from providers other than Stripe (Resend), recorded once.';

-- Communication that could not be delivered after every retry: the order or ticket it was about is
-- "communication degraded" while its notification job is dead (a replay that succeeds clears it).
-- Business state is untouched. pipeline_exceptions lists the same jobs with their next action.
create or replace view ops.degraded_communications with (security_invoker = true) as
select j.payload ->> 'entity' as entity, j.payload ->> 'template' as template, j.id as job_id,
       j.last_error as reason, j.updated_at as since
  from ops.jobs j where j.status = 'dead' and j.kind like 'notify.%';
comment on view ops.degraded_communications is 'Orders, tickets and users whose notification went dead: communication '
  'degraded until the job is replayed and succeeds.';
revoke all on ops.degraded_communications from public, anon, authenticated;
grant select on ops.degraded_communications to service_role;

-- ---------------------------------------------------------------- retention (migration 1100's registry)
-- Personal data: captured emails and Slack texts keep their id and tags; the send log keeps template,
-- entity and status, not the address. Returns the send log's rows cleared.
create or replace function ops.purge_notifications(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
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
insert into ops.retention_policies (name, description, purge_fn, keep)
values ('notifications', 'Personal data: captured emails and Slack texts keep their id and tags, the send log its '
        'template, entity and status, not the address', 'ops.purge_notifications(interval)', null)
on conflict (name) do nothing;

-- Enqueues one notification: the dedupe key is (channel, template, entity, recipient).
create or replace function ops.enqueue_notification(p_channel text, p_template text, p_entity text, p_recipient text,
  p_payload jsonb default '{}'::jsonb) returns bigint
language sql
set search_path = ''
as $$
  select ops.enqueue_job('notify.' || p_channel,
    coalesce(p_payload, '{}'::jsonb)
      || jsonb_build_object('template', p_template, 'entity', p_entity, 'recipient', p_recipient),
    format('notify:%s:%s:%s', p_template, p_entity, p_recipient),
    p_correlation_id => nullif(current_setting('ops.stripe_event_id', true), ''))
$$;

-- Order changes that tell the buyer something. security definer: runs as the pipeline's writer.
--   paid (from an unpaid state): receipt for the order, welcome once per user
--   payment_failed: the billing email and/or a billing ticket, per failed_payment_policy, once per event
--   refunded more: a refund confirmation per refunded total
create or replace function ops.orders_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
drop trigger if exists orders_600_notify on public.orders;
create trigger orders_600_notify after update of status, amount_refunded on public.orders
  for each row when (new.status is distinct from old.status or new.amount_refunded is distinct from old.amount_refunded)
  execute function ops.orders_notify();

-- A subscription that becomes paying welcomes its user (the same job as a first paid order's welcome).
-- security definer: runs as the pipeline's writer.
create or replace function ops.customers_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.user_id is not null and new.access_status = 'granted' and new.billing_status = 'active'
     and old.billing_status is distinct from 'active' then
    perform ops.enqueue_notification('email', 'welcome', 'user:' || new.user_id, 'user:' || new.user_id);
  end if;
  return null;
end
$$;
drop trigger if exists customers_600_notify on public.customers;
create trigger customers_600_notify after update of billing_status on public.customers
  for each row execute function ops.customers_notify();

-- A dispute opens a ticket in disputes and alerts the team; each later status is a note on the ticket.
-- security definer: runs as the pipeline's writer.
create or replace function ops.disputes_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
drop trigger if exists disputes_600_notify on ops.disputes;
create trigger disputes_600_notify after insert or update of status on ops.disputes
  for each row execute function ops.disputes_notify();

-- Every new ticket: the requester's acknowledgement (app requests) and the founder's notice, both
-- enqueued in the ticket's own transaction, so neither exists unless the ticket does.
-- security definer: the requester (authenticated) may not write the job queue.
create or replace function ops.support_tickets_notify() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.source = 'app' and new.requester_id is not null then
    perform ops.enqueue_notification('email', 'support_ack', 'ticket:' || new.id, 'user:' || new.requester_id);
  end if;
  perform ops.enqueue_notification('email', 'founder_new_ticket', 'ticket:' || new.id, 'founder');
  return null;
end
$$;
drop trigger if exists support_tickets_600_notify on public.support_tickets;
create trigger support_tickets_600_notify after insert on public.support_tickets
  for each row execute function ops.support_tickets_notify();

-- A dead job sends no notice of its own: the dead_jobs alert rule opens one incident for all of them
-- (migration 2000), whose notices go to Slack and the founder once.

-- The people a job addresses: user:<id> -> their email; founder/team are the worker's config.
create or replace function ops.notify_recipient_email(p_recipient text) returns text
language sql stable
set search_path = ''
as $$
  select lower(trim(u.email)) from auth.users u
   where p_recipient like 'user:%' and u.id = ops.as_uuid(substr(p_recipient, 6))
$$;

-- What a notify job sends, read at run time (the newest state; the dedupe key already made it once).
-- security definer: the worker role reads nothing else; only a job it holds answers.
create or replace function ops.notify_job_context(p_job_id bigint, p_worker text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
$$;

-- The notify worker's record of a send (or a skip) for a job it holds.
-- security definer: the worker role writes this log and nothing else.
create or replace function ops.record_notification(p_job_id bigint, p_worker text, p_status text, p_adapter text,
  p_recipient text, p_provider_id text default null, p_detail text default null) returns void
language plpgsql
security definer
set search_path = ''
as $$
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

-- The capture adapters' recorder: one row per message they would have sent (the key makes it once).
-- security definer: the worker role may append here and nothing else.
create or replace function ops.record_notification_capture(p_channel text, p_key text, p_body jsonb) returns void
language sql
security definer
set search_path = ''
as $$
  insert into ops.notification_captures (channel, key, body) values (p_channel, p_key, p_body)
  on conflict (key) do nothing
$$;

-- A Resend webhook event, recorded once (by its delivery id); a hard bounce or a complaint suppresses
-- its addresses. security definer: the provider webhook's login role may call this and nothing else.
create or replace function ops.record_email_event(p_event_id text, p_type text, p_emails text[],
  p_undeliverable boolean, p_detail text default null) returns text
language plpgsql
security definer
set search_path = ''
as $$
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

-- A system ticket job: a dispute's ticket (one per dispute; each later status a note, which reopens
-- a solved ticket and opens a follow-up of a closed one), or a failed payment's billing ticket.
-- security definer: the worker role writes tickets only through here.
create or replace function ops.run_support_ticket_job(p_job_id bigint, p_worker text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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


grant execute on function ops.notify_job_context(bigint, text),
  ops.record_notification(bigint, text, text, text, text, text, text),
  ops.record_notification_capture(text, text, jsonb), ops.run_support_ticket_job(bigint, text) to pipeline_worker;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'provider_webhook') then
    -- The login role of webhooks from providers other than Stripe (resend-webhook): it may only
    -- record their events.
    create role provider_webhook nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to provider_webhook;
grant execute on function ops.record_email_event(text, text, text[], boolean, text) to provider_webhook;
alter role provider_webhook set lock_timeout = '3s';
alter role provider_webhook set statement_timeout = '15s';
alter role provider_webhook set idle_in_transaction_session_timeout = '30s';
