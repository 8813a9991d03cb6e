-- Issue #16: a deal job that finds a remembered CRM contact gone (deleted or merged in HubSpot) finds it
-- again by email and records the new id. Two functions are replaced, nothing is dropped or rewritten:
-- ops.crm_job_context gives the buyer its customer version, so the contact mapping a deal job records
-- is not refused as older than the one it replaces; ops.journey shows what a job healed.

-- The buyer's 'version': without it a deal job's contact mapping counted as version 0, below any
-- mapping a contact job recorded for a customer whose billing changed, so the new id was not kept.
-- security definer: the worker role reads nothing else; only jobs it holds (running) answer.
create or replace function ops.crm_job_context(p_job_id bigint, p_worker text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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
  end if;
  return ctx;
end
$$;

-- The journey: a succeeded job attempt's detail says what the job healed (ops.jobs.result's 'healed', e.g.
-- "contact 123 was gone in HubSpot; found or created by email as 456"); the rest as migration 1800 made it.
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
         coalesce(a.error, case when a.outcome = 'succeeded' then j.result ->> 'healed' end),
         coalesce(j.stripe_event_id, j.correlation_id)
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
