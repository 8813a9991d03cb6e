-- One customer's journey on one timeline, for the founder (Studio: select * from ops.journey('...');
-- the terminal: npm run trace -- <email | order id | event id | ticket id or ref>): Stripe events in
-- the ledger, status changes, jobs with their attempts and errors, CRM syncs, tickets and messages,
-- emails and Slack posts, joined by the objects they share.

-- Status changes of orders, customers and tickets, with the Stripe event that caused them.
create table if not exists ops.status_changes (
  id bigint generated always as identity primary key,
  entity text not null,
  from_status text,
  to_status text not null,
  stripe_event_id text,
  changed_at timestamptz not null default now()
);
comment on table ops.status_changes is 'Every status change of an order, customer (billing) or ticket, and the Stripe '
  'event behind it: the history ops.journey shows.';
create index if not exists status_changes_entity_idx on ops.status_changes (entity, changed_at);

-- security definer: status changes are written by the pipeline, the app (tickets) and operators,
-- and none of them may write the history directly.
create or replace function ops.record_status_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  old_status text := case when tg_op = 'UPDATE' then to_jsonb(old) ->> tg_argv[1] end;
  new_status text := to_jsonb(new) ->> tg_argv[1];
begin
  if new_status is distinct from old_status then
    insert into ops.status_changes (entity, from_status, to_status, stripe_event_id)
    values (tg_argv[0] || ':' || new.id, old_status, new_status,
            nullif(current_setting('ops.stripe_event_id', true), ''));
  end if;
  return null;
end
$$;
-- an insert always records; an update only when the status really changed (the WHEN clause, so an
-- update that names the column without changing it, as ops.recompute_order's do, costs no call)
drop trigger if exists orders_700_status_history on public.orders;
create trigger orders_700_status_history after insert on public.orders
  for each row execute function ops.record_status_change('order', 'status');
drop trigger if exists orders_701_status_change on public.orders;
create trigger orders_701_status_change after update of status on public.orders
  for each row when (old.status is distinct from new.status)
  execute function ops.record_status_change('order', 'status');
drop trigger if exists customers_700_status_history on public.customers;
create trigger customers_700_status_history after insert on public.customers
  for each row execute function ops.record_status_change('customer', 'billing_status');
drop trigger if exists customers_701_status_change on public.customers;
create trigger customers_701_status_change after update of billing_status on public.customers
  for each row when (old.billing_status is distinct from new.billing_status)
  execute function ops.record_status_change('customer', 'billing_status');
drop trigger if exists support_tickets_700_status_history on public.support_tickets;
create trigger support_tickets_700_status_history after insert on public.support_tickets
  for each row execute function ops.record_status_change('ticket', 'status');
drop trigger if exists support_tickets_701_status_change on public.support_tickets;
create trigger support_tickets_701_status_change after update of status on public.support_tickets
  for each row when (old.status is distinct from new.status)
  execute function ops.record_status_change('ticket', 'status');

create or replace function ops.journey(p_query text)
returns table (at timestamptz, source text, entity text, what text, detail text, correlation_id text)
language plpgsql stable
set search_path = ''
as $$
declare
  q text := trim(p_query);
  users uuid[] := '{}'::uuid[];
  orders uuid[] := '{}'::uuid[];
  tickets uuid[] := '{}'::uuid[];
  customers uuid[];
  objects text[];
  entities text[];
  q_id uuid := ops.as_uuid(trim(p_query));
begin
  if q is null or q = '' then
    raise exception 'trace what? an email, an order id, a Stripe event id (evt_...), a ticket id or ref (T-000123)'
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
  else
    raise exception 'cannot trace "%": give an email, an order id, a Stripe event id (evt_...), a ticket id or ref '
                    '(T-000123)', left(q, 80)
      using errcode = 'invalid_parameter_value';
  end if;
  orders := coalesce(orders, '{}');
  -- widen to the person: their user, customer rows, orders and tickets
  users := array(select distinct x from unnest(users || array(select o.buyer_id from public.orders o
                                                              where o.id = any (orders))
                                                      || array(select t.requester_id from public.support_tickets t
                                                               where t.id = any (tickets))
                                                      || array(select c.user_id from public.customers c
                                                               where c.id = any (coalesce(customers, '{}')))) x
                 where x is not null);
  customers := array(select distinct c.id from public.customers c where c.id = any (coalesce(customers, '{}'))
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
         a.error, coalesce(j.stripe_event_id, j.correlation_id)
    from ops.jobs j join ops.job_attempts a on a.job_id = j.id
   where j.payload ->> 'order_id' = any (orders::text[]) or j.payload ->> 'customer_id' = any (customers::text[])
      or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
      or j.payload ->> 'dispute_id' = any (objects)
  union all
  select j.created_at, 'job', coalesce(j.payload ->> 'entity', j.queue_key),
    format('%s queued (%s now)', j.kind, j.status),
         j.last_error, coalesce(j.stripe_event_id, j.correlation_id)
    from ops.jobs j
   where j.payload ->> 'order_id' = any (orders::text[]) or j.payload ->> 'customer_id' = any (customers::text[])
      or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
      or j.payload ->> 'dispute_id' = any (objects)
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
    format('%s opened in %s (%s): %s', t.ref, t.queue, t.priority, t.subject), array_to_string(t.tags, ' '), t.case_key
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
$$;
comment on function ops.journey(text) is 'One customer''s timeline: select * from ops.journey(''jane@example.com'') '
  '(or an order id, evt_..., a ticket id or T-000123).';
