-- Following one action across everything (#20): support-intake, checkout and the dashboard set the request's id
-- (x-request-id, or one they made) as the transaction-local setting backbone.request_id; the rows those requests
-- write take it as a column default (x_request_id), so no enqueue or door needs a new parameter: ops.jobs (what the
-- request caused), ops.checkout_requests and ops.audit_log. ops.journey shows it and finds everything by it. Named
-- x_request_id, not request_id: ops.dispatch_job's plpgsql variable request_id (pg_net's id) would turn ambiguous.
-- Adds nullable columns whose default is stable (no table rewrite); replaces ops.journey (same columns).

alter table ops.jobs add column if not exists x_request_id text
  default nullif(pg_catalog.current_setting('backbone.request_id', true), '');
comment on column ops.jobs.x_request_id is 'The x-request-id of the HTTP request whose transaction enqueued the job '
  '(support-intake, checkout, dashboard), else null.';
alter table ops.checkout_requests add column if not exists x_request_id text
  default nullif(pg_catalog.current_setting('backbone.request_id', true), '');
comment on column ops.checkout_requests.x_request_id is 'The x-request-id of the checkout call that started it.';
alter table ops.audit_log add column if not exists x_request_id text
  default nullif(pg_catalog.current_setting('backbone.request_id', true), '');
comment on column ops.audit_log.x_request_id is 'The x-request-id of the dashboard request that made the change.';

-- The journey, as migration 0100 left it, plus: a request id (x-request-id) as a query; checkout requests and
-- dashboard changes on the timeline; correlation_id is what a row correlates with: its Stripe event, else the
-- request id that caused it, else the job's own correlation. The return type stays (migrations 1800 and 0100
-- run again over this one, and every caller's columns hold).
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
$$;
comment on function ops.journey(text) is 'One customer''s timeline: select * from ops.journey(''jane@example.com'') '
  '(or an order id, evt_..., a ticket id or T-000123, or a request id: x-request-id). correlation_id: the Stripe '
  'event, else the request id behind the row.';

-- security definer: ops.journey reads the ledger, jobs and notifications; admins only. As migration 2200 made
-- it; its refusal names request ids too.
create or replace function ops.dashboard_journey(p_query text)
returns table (at timestamptz, source text, entity text, what text, detail text, correlation_id text)
language plpgsql stable
security definer
set search_path = ''
as $$
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
