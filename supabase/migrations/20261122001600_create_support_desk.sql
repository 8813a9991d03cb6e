-- The support desk: tickets and their messages (the embedded helpdesk and the source of truth for
-- support), the queues, the routing rules a founder edits in Studio, and the server-side enrichment
-- of requests from the app. Users write their own requests under RLS (support-intake runs as the
-- user); the server decides queue, priority, tags and context, in triggers the user cannot skip.

create table if not exists ops.support_queues (
  queue text primary key check (queue ~ '^[a-z][a-z0-9_-]{0,39}$'),
  description text not null
);
comment on table ops.support_queues is 'Support queues. Add a row to add a queue; routing rules name them.';
insert into ops.support_queues (queue, description) values
  ('billing', 'Payments, invoices, failed charges, refunds'),
  ('disputes', 'Chargebacks: evidence is due by a date'),
  ('general', 'Everything else'),
  ('technical', 'The product does not work as expected')
on conflict (queue) do nothing;

create table if not exists ops.support_priorities (
  priority text primary key,
  rank integer not null unique
);
insert into ops.support_priorities (priority, rank) values ('low', 1), ('normal', 2), ('high', 3), ('urgent', 4)
on conflict (priority) do nothing;

create table if not exists public.support_tickets (
  id uuid primary key default gen_random_uuid(),
  -- what people quote: T-000123
  ref text not null unique,
  requester_id uuid references auth.users (id) on delete set null,
  order_id uuid references public.orders (id) on delete set null,
  customer_id uuid references public.customers (id) on delete set null,
  source text not null default 'app' check (source in ('app', 'system')),
  category text not null check (category in ('billing', 'order', 'technical', 'account', 'other', 'dispute',
                                             'payment_failed')),
  subject text not null check (length(subject) between 1 and 200),
  status text not null default 'open' check (status in ('open', 'pending', 'solved', 'closed')),
  queue text not null default 'general' references ops.support_queues (queue),
  priority text not null default 'normal' references ops.support_priorities (priority),
  tags text[] not null default '{}',
  -- what the server knew when the request arrived (plan, billing, order, last pipeline action)
  context jsonb not null default '{}'::jsonb,
  -- what the app said about itself (version, device): informative, never trusted
  client_context jsonb not null default '{}'::jsonb,
  -- a double tap is one ticket: the client's key, or the key of the same request made in the last 10 minutes
  idempotency_key text check (length(idempotency_key) between 1 and 200),
  -- system tickets: the case they are about (dispute:<id>, payment_failed:<event id>); one ticket per case
  case_key text unique,
  -- a closed ticket is final: a new message on it opens a follow-up that points back
  follow_up_of uuid references public.support_tickets (id) on delete set null,
  reopened_count integer not null default 0,
  last_message_at timestamptz,
  solved_at timestamptz,
  closed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.support_tickets is 'Support tickets: from the app (support-intake, written as the user) or '
  'from the pipeline (disputes, failed payments). Queue, priority, tags and context are the server''s '
  '(ops.support_routing_rules).';
create unique index if not exists support_tickets_idempotency_idx
  on public.support_tickets (requester_id, idempotency_key)
  where idempotency_key is not null;
create index if not exists support_tickets_requester_idx on public.support_tickets (requester_id, created_at desc);
create index if not exists support_tickets_order_idx on public.support_tickets (order_id);
create index if not exists support_tickets_backlog_idx on public.support_tickets (queue, created_at)
  where status in ('open', 'pending');
-- foreign keys whose parent may be deleted (a customer, a ticket): the delete finds the children by index
create index if not exists support_tickets_customer_idx on public.support_tickets (customer_id);
create index if not exists support_tickets_follow_up_of_idx on public.support_tickets (follow_up_of);

create sequence if not exists ops.support_ticket_ref_seq;

create table if not exists public.ticket_messages (
  id uuid primary key default gen_random_uuid(),
  ticket_id uuid not null references public.support_tickets (id) on delete cascade,
  author_id uuid default auth.uid() references auth.users (id) on delete set null,
  author_kind text not null default 'requester' check (author_kind in ('requester', 'agent', 'system')),
  body text not null check (length(body) between 1 and 10000),
  created_at timestamptz not null default now()
);
comment on table public.ticket_messages is 'The conversation of a ticket: the requester''s messages, agents'' replies '
  'and system notes.';
create index if not exists ticket_messages_ticket_idx on public.ticket_messages (ticket_id, created_at);
-- deleting an auth user sets author_id null on their messages
create index if not exists ticket_messages_author_idx on public.ticket_messages (author_id);

-- A support request names the last pipeline action on the requester's order or customer
-- (ops.support_context): partial indexes keep that a lookup, and cost nothing for other jobs.
create index if not exists jobs_order_recent_idx on ops.jobs ((payload ->> 'order_id'), updated_at desc)
  where payload ? 'order_id';
create index if not exists jobs_customer_recent_idx on ops.jobs ((payload ->> 'customer_id'), updated_at desc)
  where payload ? 'customer_id';

drop trigger if exists support_tickets_100_set_updated_at on public.support_tickets;
create trigger support_tickets_100_set_updated_at before update on public.support_tickets
  for each row execute function public.set_updated_at();

-- Routing: every enabled rule whose conditions all hold (a null condition always holds) applies.
-- The first matching rule (by position) that names a queue gives the queue; the highest priority
-- of the matching rules wins; tags add up. Edit in Studio; ops.route_ticket shows the outcome.
create table if not exists ops.support_routing_rules (
  id bigint generated always as identity primary key,
  position integer not null,
  description text not null,
  enabled boolean not null default true,
  match_categories text[],
  match_billing_statuses text[],
  match_plans text[],
  min_order_amount bigint,
  min_lifetime_value bigint,
  match_vip boolean,
  set_queue text references ops.support_queues (queue),
  set_priority text references ops.support_priorities (priority),
  add_tags text[] not null default '{}'
);
comment on table ops.support_routing_rules is 'Ticket routing a founder edits: conditions (category, billing status, '
  'plan, order value, lifetime value, VIP) -> queue, priority, tags. First queue by position, highest priority, all '
  'tags.';
insert into ops.support_routing_rules (position, description, match_categories, match_billing_statuses,
  min_order_amount, min_lifetime_value, match_vip, set_queue, set_priority, add_tags)
overriding system value
select * from (values
  (10, 'Disputes go to the disputes queue, urgent: evidence has a due date',
   array['dispute'], null::text[], null::bigint, null::bigint, null::boolean, 'disputes', 'urgent', array['dispute']),
  (20, 'Failed payments and billing questions go to billing',
   array['payment_failed', 'billing'], null, null, null, null, 'billing', null, array['billing']),
  (30, 'Customers whose payments are failing get high priority in billing',
   null, array['past_due', 'unpaid'], null, null, null, 'billing', 'high', array['payment-problem']),
  (40, 'Technical problems go to technical',
   array['technical'], null, null, null, null, 'technical', null, array[]::text[]),
  (50, 'VIP customers get high priority', null, null, null, null, true, null, 'high', array['vip']),
  (60, 'Orders of 500.00 or more get high priority', null, null, 50000, null, null, null, 'high', array['high-value']),
  (70, 'Customers who paid 1,000.00 or more in total get high priority', null, null, null, 100000, null, null, 'high',
   array['high-value'])
) as v(position, description, match_categories, match_billing_statuses, min_order_amount, min_lifetime_value, match_vip,
       set_queue, set_priority, add_tags)
where not exists (select 1 from ops.support_routing_rules);

create table if not exists ops.support_vips (
  user_id uuid primary key references auth.users (id) on delete cascade,
  note text,
  added_at timestamptz not null default now()
);
comment on table ops.support_vips is 'Users the founder marks as VIP (routing rules with match_vip).';

-- The routing outcome for a ticket's facts. Pure read; usable in Studio to try a rule change.
create or replace function ops.route_ticket(
  p_category text, p_billing_status text, p_plan text, p_order_amount bigint, p_lifetime_value bigint, p_vip boolean,
  out queue text, out priority text, out tags text[]
)
language sql stable
set search_path = ''
as $$
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

-- What the server knows about a requester (and one of their orders) when a ticket is opened.
create or replace function ops.support_context(p_user_id uuid, p_order_id uuid) returns jsonb
language sql stable
set search_path = ''
as $$
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

-- Fills in everything a ticket's requester may not choose: who they are, the context, the route.
-- security definer: the requester (role authenticated) cannot read the routing rules, the jobs, or
-- another table the context comes from; this trigger reads them for the row being inserted only.
create or replace function ops.support_tickets_prepare() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ctx jsonb;
  route record;
  earlier text;
begin
  if new.source = 'app' then
    new.requester_id := auth.uid();
    if new.requester_id is null then
      raise exception 'a support request needs a signed-in user' using errcode = 'insufficient_privilege';
    end if;
    if new.order_id is not null and not exists (
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
  new.context := ctx || coalesce(new.context, '{}'::jsonb) - 'customer_id';
  new.ref := 'T-' || lpad(nextval('ops.support_ticket_ref_seq')::text, 6, '0');
  new.reopened_count := 0;
  new.last_message_at := now();
  return new;
end
$$;
drop trigger if exists support_tickets_050_prepare on public.support_tickets;
create trigger support_tickets_050_prepare before insert on public.support_tickets
  for each row execute function ops.support_tickets_prepare();

-- Ticket statuses: open <-> pending, either -> solved, solved -> open (reopened) or closed.
-- Closed is final: a new message on a closed ticket opens a follow-up (ops.ticket_messages_route).
create or replace function ops.support_tickets_guard() returns trigger
language plpgsql
set search_path = ''
as $$
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
drop trigger if exists support_tickets_200_guard on public.support_tickets;
create trigger support_tickets_200_guard before update on public.support_tickets
  for each row execute function ops.support_tickets_guard();

-- Who wrote a message is the server's call: the signed-in user, as requester on their own ticket and
-- as agent on another's (only admins may, by policy). Pipeline inserts (system notes) keep theirs.
create or replace function ops.ticket_messages_author() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user in ('anon', 'authenticated') then
    new.author_id := auth.uid();
    new.author_kind := case when exists (select 1 from public.support_tickets t
                                          where t.id = new.ticket_id and t.requester_id = new.author_id)
                            then 'requester' else 'agent' end;
  end if;
  return new;
end
$$;
drop trigger if exists ticket_messages_050_author on public.ticket_messages;
create trigger ticket_messages_050_author before insert on public.ticket_messages
  for each row execute function ops.ticket_messages_author();

-- A message from the requester (or a system note about the same case) reopens a solved ticket and
-- marks a pending one open again; on a closed ticket it is refused here and support-intake opens a
-- follow-up instead. security definer: the requester may insert messages but not update tickets.
create or replace function ops.ticket_messages_route() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.author_kind in ('requester', 'system') then
    update public.support_tickets t
       set status = case when t.status in ('solved', 'pending') then 'open' else t.status end,
           last_message_at = new.created_at
     where t.id = new.ticket_id and t.status <> 'closed';
    if not found then
      raise exception 'ticket is closed: send the message as a new request (it links back to the closed ticket)'
        using errcode = 'check_violation';
    end if;
  else
    update public.support_tickets t
       set status = case when t.status = 'open' then 'pending' else t.status end, last_message_at = new.created_at
     where t.id = new.ticket_id;
  end if;
  return null;
end
$$;
drop trigger if exists ticket_messages_500_route on public.ticket_messages;
create trigger ticket_messages_500_route after insert on public.ticket_messages
  for each row execute function ops.ticket_messages_route();

-- The app's door: one request, one ticket with its first message. A repeated request (same key, or
-- the same user + order + category within 10 minutes) returns the first ticket and adds nothing.
-- security invoker: it runs as the user, so RLS and column privileges decide what it may write.
create or replace function public.submit_support_request(
  p_category text, p_subject text, p_message text, p_order_id uuid default null,
  p_idempotency_key text default null, p_client_context jsonb default '{}'::jsonb, p_follow_up_of uuid default null
) returns table (ticket_id uuid, ref text, status text, queue text, created boolean)
language plpgsql
set search_path = ''
as $$
declare
  t public.support_tickets;
begin
  insert into public.support_tickets as x (category, subject, order_id, idempotency_key, client_context, follow_up_of)
  values (p_category, p_subject, p_order_id, p_idempotency_key, coalesce(p_client_context, '{}'::jsonb), p_follow_up_of)
  on conflict (requester_id, idempotency_key) where idempotency_key is not null do nothing
  returning x.* into t;
  if t.id is not null then
    insert into public.ticket_messages (ticket_id, body) values (t.id, p_message);
    return query select t.id, t.ref, t.status, t.queue, true;
    return;
  end if;
  -- the prepare trigger left the key it matched (the client's, or the earlier request's)
  return query
    select x.id, x.ref, x.status, x.queue, false from public.support_tickets x
     where x.requester_id = auth.uid() and x.idempotency_key = current_setting('support.request_key', true);
end
$$;

-- RLS: requesters read their own tickets and messages and write requests and messages; sellers read
-- dispute tickets on their own orders; admins read and answer everything; nobody else reads anything.
alter table public.support_tickets enable row level security;
alter table public.ticket_messages enable row level security;
revoke all on public.support_tickets, public.ticket_messages from anon, authenticated;
grant select on public.support_tickets, public.ticket_messages to authenticated;
grant insert (category, subject, order_id, idempotency_key, client_context, follow_up_of)
  on public.support_tickets to authenticated;
grant insert (ticket_id, body) on public.ticket_messages to authenticated;
grant update (status) on public.support_tickets to authenticated;

-- One permissive policy per operation and role (lint 0006), as in create_rls_policies.
drop policy if exists "Requesters read their tickets, sellers disputes, admins all" on public.support_tickets;
create policy "Requesters read their tickets, sellers disputes, admins all" on public.support_tickets
  for select to authenticated using (
    requester_id = (select auth.uid())
    or (queue = 'disputes' and order_id in (select o.id from public.orders o where o.seller_id = (select auth.uid())))
    or (select private.is_admin())
  );
drop policy if exists "Signed-in users open requests for themselves" on public.support_tickets;
create policy "Signed-in users open requests for themselves" on public.support_tickets
  for insert to authenticated with check (
    requester_id = (select auth.uid()) and source = 'app'
    and not (select private.is_anonymous())
  );
drop policy if exists "Admins change ticket status" on public.support_tickets;
create policy "Admins change ticket status" on public.support_tickets
  for update to authenticated using ((select private.is_admin()) and not (select private.is_anonymous()))
  with check ((select private.is_admin()) and not (select private.is_anonymous()));

drop policy if exists "Requesters read their messages, sellers disputes', admins all" on public.ticket_messages;
create policy "Requesters read their messages, sellers disputes', admins all" on public.ticket_messages
  for select to authenticated using (
    ticket_id in (select t.id from public.support_tickets t where t.requester_id = (select auth.uid()))
    or ticket_id in (select t.id from public.support_tickets t join public.orders o on o.id = t.order_id
                      where t.queue = 'disputes' and o.seller_id = (select auth.uid()))
    or (select private.is_admin())
  );
drop policy if exists "Requesters write on their own tickets, admins on every ticket" on public.ticket_messages;
create policy "Requesters write on their own tickets, admins on every ticket" on public.ticket_messages
  for insert to authenticated with check (
    author_id = (select auth.uid()) and not (select private.is_anonymous())
    and ((author_kind = 'requester'
          and ticket_id in (select t.id from public.support_tickets t where t.requester_id = (select auth.uid())))
         or (select private.is_admin()))
  );

grant execute on function public.submit_support_request(text, text, text, uuid, text, jsonb, uuid) to authenticated;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'support_intake') then
    -- support-intake's login role: it owns nothing and may do nothing but take rate tokens and become
    -- authenticated (set local role, with the verified user's claims), as PostgREST's authenticator does.
    create role support_intake nologin noinherit;
  end if;
end
$$;
grant authenticated to support_intake;
grant usage on schema ops to support_intake;
grant execute on function ops.take_rate_tokens(text, integer, integer, integer) to support_intake;
alter role support_intake set lock_timeout = '3s';
alter role support_intake set statement_timeout = '15s';
alter role support_intake set idle_in_transaction_session_timeout = '30s';
