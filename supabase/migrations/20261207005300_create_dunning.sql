-- Dunning for subscriptions (#20): a failed renewal (invoice.payment_failed, billing_reason subscription_cycle)
-- opens one case per invoice: one renewal_failed email, reminders on a schedule, a billing ticket per the
-- renewal policy, and access that follows a grace period; invoice.paid closes it (access back, one
-- payment_recovered email, reminders cancelled). Adds settings, ops.dunning_cases, a customers trigger between
-- 200 and 210, and the pg_cron sweep; replaces ops.apply_invoice. Touches no existing data.

-- ---------------------------------------------------------------- settings
alter table ops.settings add column if not exists dunning_reminder_days integer[] not null default '{3,7}';
alter table ops.settings drop constraint if exists settings_dunning_reminder_days_check;
alter table ops.settings add constraint settings_dunning_reminder_days_check
  check (cardinality(dunning_reminder_days) <= 10 and 1 <= all (dunning_reminder_days)
         and 90 >= all (dunning_reminder_days));
alter table ops.settings add column if not exists dunning_grace_days integer not null default 10
  check (dunning_grace_days between 0 and 90);
alter table ops.settings add column if not exists renewal_failed_policy text not null default 'email'
  check (renewal_failed_policy in ('email', 'ticket', 'both'));
comment on column ops.settings.dunning_reminder_days is 'Days after a renewal first failed on which the customer '
  'gets a renewal_reminder email while it stays unpaid (default {3,7}; empty: no reminders).';
comment on column ops.settings.dunning_grace_days is 'Days after a renewal first failed during which a past_due '
  'customer keeps access (access_status grace); then access is blocked until the invoice is paid (default 10).';
comment on column ops.settings.renewal_failed_policy is 'What a failed renewal does: email (the customer gets '
  'renewal_failed, the reminders and payment_recovered), ticket (a billing ticket, no emails: the founder writes) '
  'or both. Read when the case opens.';

-- ---------------------------------------------------------------- cases
create table if not exists ops.dunning_cases (
  stripe_invoice_id text primary key,
  stripe_customer_id text not null,
  stripe_subscription_id text,
  -- Stripe's time (event created) of the earliest failed attempt heard of: reminders and grace count from it
  failed_at timestamptz not null,
  failed_event_id text not null,
  last_failed_at timestamptz not null,
  attempt_count integer,
  amount_due bigint,
  currency text,
  invoice_number text,
  hosted_invoice_url text,
  description text,
  -- ops.settings.renewal_failed_policy when the case opened
  policy text not null check (policy in ('email', 'ticket', 'both')),
  reminders_sent integer not null default 0,
  -- the sweep's clock when the grace period was found over: access is blocked from then until paid
  grace_ended_at timestamptz,
  -- Stripe's time of the paid event, and when we applied it (the bench's "access restored" starts there)
  recovered_at timestamptz,
  recovered_event_id text,
  recovered_applied_at timestamptz,
  opened_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table ops.dunning_cases is 'Failed subscription renewals, one per Stripe invoice: open until the invoice '
  'is paid (recovered_at). The customer row is found through ops.stripe_customers at use time, so a link moved by '
  'an admin carries its cases.';
create index if not exists dunning_cases_open_idx on ops.dunning_cases (stripe_customer_id) where recovered_at is null;
create index if not exists dunning_cases_customer_idx on ops.dunning_cases (stripe_customer_id, recovered_at);
alter table ops.dunning_cases enable row level security;
revoke all on ops.dunning_cases from public, anon, authenticated;
grant select on ops.dunning_cases to service_role;
drop trigger if exists dunning_cases_100_set_updated_at on ops.dunning_cases;
create trigger dunning_cases_100_set_updated_at before update on ops.dunning_cases
  for each row execute function public.set_updated_at();

-- ---------------------------------------------------------------- access
-- Between customers_200 (access from billing) and customers_210 (an override in force wins): a past_due customer
-- with an open case keeps access (grace) until the sweep found its grace period over (blocked); with no open case
-- and their newest failure paid, access is granted before Stripe's subscription update says active.
-- security definer: reads ops.dunning_cases and ops.stripe_customers, which the app's roles cannot read.
create or replace function ops.apply_dunning_access() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
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
drop trigger if exists customers_205_apply_dunning_access on public.customers;
create trigger customers_205_apply_dunning_access
  before update of billing_status, access_status, email, user_id, needs_review on public.customers
  for each row execute function ops.apply_dunning_access();

-- Re-derives a customer's access (200, 205, 210 run on an update of access_status).
create or replace function ops.rederive_access(p_stripe_customer_id text) returns void
language sql
set search_path = ''
as $$
  update public.customers c set access_status = c.access_status
    from ops.stripe_customers m where m.stripe_customer_id = p_stripe_customer_id and c.id = m.customer_id
$$;

-- ---------------------------------------------------------------- emails
-- A dunning email to the case's user, its content frozen at enqueue (as sellers' emails: what was true when it was
-- decided). Only when the policy emails and the customer row has a user with an address. Key:
-- notify:<template>:invoice:<id>[:reminder:<n>]:user:<id>, so replays and overlapping sweeps send once.
create or replace function ops.enqueue_dunning_email(p_case ops.dunning_cases, p_template text, p_entity text,
                                                     p_extra jsonb default '{}') returns boolean
language plpgsql
set search_path = ''
as $$
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

-- ---------------------------------------------------------------- the invoice events
-- A failure of a renewal opens (or updates) its case: the first one enqueues renewal_failed and, per the policy, a
-- billing ticket. A paid event closes the open case: reminders not yet sent are cancelled, payment_recovered is
-- enqueued, the ticket gets a note. Stripe's order: an invoice once paid stays paid, so a failure heard after the
-- invoice's paid event (ops.invoices.paid) opens nothing. Replays find the case as they left it and do nothing.
create or replace function ops.apply_dunning(evt jsonb) returns void
language plpgsql
set search_path = ''
as $$
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

-- invoice.paid | invoice.payment_succeeded | invoice.payment_failed (0820's facts, then dunning)
create or replace function ops.apply_invoice(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
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

-- ---------------------------------------------------------------- the sweep (pg_cron, every minute)
-- p_now is the clock (tests move it instead of waiting days). For each open case: the newest reminder day that
-- has come (ops.settings.dunning_reminder_days, counted from failed_at) and was not sent yet is enqueued (reminders
-- missed while the sweep was down collapse into that one); a case past its grace period gets grace_ended_at and its
-- customer's access is re-derived (blocked unless an override says otherwise). Returns what it did.
create or replace function ops.sweep_dunning(p_now timestamptz default now()) returns jsonb
language plpgsql
set search_path = ''
as $$
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
comment on function ops.sweep_dunning(timestamptz) is 'pg_cron (every minute): due renewal reminders and grace '
  'periods that ended. p_now: the clock (tests pass a later one).';
select cron.schedule('ops-dunning-sweep', '* * * * *', 'select ops.sweep_dunning()');

-- ---------------------------------------------------------------- retention (migration 1100's registry)
-- Personal data: a closed case keeps its ids, amounts and times; the hosted invoice page (which shows the customer's
-- billing details to whoever holds the link) and the invoice's line text go. Returns the cases cleared.
create or replace function ops.purge_dunning_cases(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    update ops.dunning_cases set hosted_invoice_url = null, description = null
     where recovered_at is not null and recovered_applied_at < now() - p_keep
       and (hosted_invoice_url is not null or description is not null)
    returning 1
  )
  select count(*) from gone
$$;
insert into ops.retention_policies (name, description, purge_fn, keep)
values ('dunning_cases', 'Personal data: paid dunning cases keep ids, amounts and times, not the hosted invoice link',
        'ops.purge_dunning_cases(interval)', null)
on conflict (name) do nothing;

-- ---------------------------------------------------------------- Studio
create or replace view ops.open_dunning_cases with (security_invoker = true) as
select d.stripe_invoice_id, c.id as customer_id, c.user_id, c.email, c.billing_status, c.access_status,
       d.amount_due, d.currency, d.attempt_count, d.failed_at,
       d.failed_at + make_interval(days => s.dunning_grace_days) as grace_ends_at, d.grace_ended_at,
       d.reminders_sent, d.policy, d.hosted_invoice_url
  from ops.dunning_cases d
  join ops.stripe_customers m on m.stripe_customer_id = d.stripe_customer_id
  join public.customers c on c.id = m.customer_id
  cross join ops.settings s
 where d.recovered_at is null;
comment on view ops.open_dunning_cases is 'Failed renewals not paid yet, with their customer''s access and when '
  'their grace period ends (Studio).';
revoke all on ops.open_dunning_cases from public, anon, authenticated;
grant select on ops.open_dunning_cases to service_role;
