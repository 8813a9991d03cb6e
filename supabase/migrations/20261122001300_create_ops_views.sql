-- Studio admin views: pipeline health at a glance, and every exception with its next action.
-- security_invoker views in ops, which the API does not expose: operators (Studio, service role)
-- see them with their own privileges. Read-only; touches no data.
create or replace view ops.pipeline_health with (security_invoker = true) as
with depth as (
  select kind,
         count(*) filter (where status = 'queued') as queued,
         count(*) filter (where status = 'running') as running,
         count(*) filter (where status = 'failed') as retrying,
         count(*) filter (where status = 'dead') as dead,
         count(*) filter (where status = 'succeeded') as succeeded,
         min(run_at) filter (where status in ('queued', 'failed') and run_at <= now()) as oldest_due_at
    from ops.jobs group by kind
), attempts as (
  select j.kind,
         count(*) as attempts_last_hour,
         count(*) filter (where a.outcome in ('failed', 'dead', 'lease_expired')) as failed_attempts_last_hour
    from ops.job_attempts a join ops.jobs j on j.id = a.job_id
   where a.started_at > now() - interval '1 hour'
   group by j.kind
), latency as (
  select kind,
         percentile_cont(0.5) within group (order by extract(epoch from succeeded_at - created_at)) as p50_seconds,
         percentile_cont(0.95) within group (order by extract(epoch from succeeded_at - created_at)) as p95_seconds
    from ops.jobs where status = 'succeeded' and succeeded_at > now() - interval '1 hour'
   group by kind
)
select k.kind,
       coalesce(d.queued, 0) as queued, coalesce(d.running, 0) as running, coalesce(d.retrying, 0) as retrying,
       coalesce(d.dead, 0) as dead, coalesce(d.succeeded, 0) as succeeded,
       d.oldest_due_at, now() - d.oldest_due_at as oldest_due_age,
       coalesce(a.attempts_last_hour, 0) as attempts_last_hour,
       round(coalesce(a.failed_attempts_last_hour::numeric / nullif(a.attempts_last_hour, 0), 0), 3)
         as failure_rate_last_hour,
       round(l.p50_seconds::numeric, 3) as p50_enqueue_to_success_s,
       round(l.p95_seconds::numeric, 3) as p95_enqueue_to_success_s
  from ops.job_kinds k
  left join depth d on d.kind = k.kind
  left join attempts a on a.kind = k.kind
  left join latency l on l.kind = k.kind
union all
select 'stripe_events', count(*) filter (where status = 'received'), 0, count(*) filter (where status = 'failed'),
       count(*) filter (where status = 'dead'), count(*) filter (where status in ('processed', 'ignored')),
       null, null, count(*) filter (where received_at > now() - interval '1 hour'),
       round(coalesce((count(*) filter (where status = 'failed' and received_at > now() - interval '1 hour'))::numeric
         / nullif(count(*) filter (where received_at > now() - interval '1 hour'), 0), 0), 3),
       null, null
  from ops.stripe_events;
comment on view ops.pipeline_health is 'One row per job kind (and one for the Stripe ledger): queue depth by status, '
  'oldest due job, failure rate and enqueue-to-success p50/p95 over the last hour.';

create or replace view ops.pipeline_exceptions with (security_invoker = true) as
-- a dead job that still counts dispatches since its last claim was dead-lettered by the sweep:
-- its dispatches never reached a worker (every other way to dead passes through a claim)
-- a dead notification leaves its order or ticket "communication degraded": the customer was not told
select case when j.unclaimed_dispatches > 0 then 'undeliverable job'
            when j.kind like 'notify.%' then 'communication degraded' else 'dead job' end as exception,
       case when j.kind like 'notify.%' then coalesce(j.payload ->> 'entity', j.kind) else j.kind end as subject,
       j.id::text as ref, j.updated_at as since, j.attempts, j.last_error as error,
       case when j.unclaimed_dispatches > 0
            then format('check the vault secrets functions_base_url and worker_secret, that the function %s '
                        'is deployed and that its WORKER_SECRET holds the vault''s worker_secret; '
                        'then: select ops.replay_job(%s);', k.function_name, j.id)
            else format('fix the cause, then: select ops.replay_job(%s);  (or npm run replay -- jobs %s)',
                        j.id, j.id) end as next_action
  from ops.jobs j join ops.job_kinds k on k.kind = j.kind where j.status = 'dead'
union all
select 'retrying job', j.kind, j.id::text, j.updated_at, j.attempts, j.last_error,
       format('retries automatically at %s (attempt %s of %s)', j.run_at, j.attempts + 1, j.max_attempts)
  from ops.jobs j where j.status = 'failed' and j.run_at >= now() - interval '5 minutes'
union all
-- due for over 5 minutes and still not claimed: its dispatches lead nowhere (the sweep explains why in last_error)
select 'stuck job', j.kind, j.id::text, j.run_at, j.attempts, coalesce(j.last_error, 'not claimed since it became due'),
       format('dispatched %s times since its last claim; the sweep re-sends it with backoff and dead-letters it '
              'if that goes on: check the vault secrets functions_base_url and worker_secret, the function %s '
              'and its WORKER_SECRET',
              j.unclaimed_dispatches, k.function_name)
  from ops.jobs j join ops.job_kinds k on k.kind = j.kind
 where j.status in ('queued', 'failed') and j.run_at < now() - interval '5 minutes'
union all
select 'failed Stripe event', e.type, e.event_id, e.received_at, e.attempts, e.last_error,
       format('fix the cause, then: select * from ops.reapply_stripe_events(array[%L]);', e.event_id)
  from ops.stripe_events e where e.status in ('failed', 'dead')
union all
select 'ignored Stripe event', e.type, e.event_id, e.received_at, e.attempts, e.ignored_reason,
       format('nothing was applied. If this project should take such events, set ops.settings and the webhook''s '
              'STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID alike, then: select * from ops.reapply_stripe_events(array[%L]); '
              'else remove the Stripe endpoint that sends them to this project. Then: '
              'update ops.stripe_events set reviewed_at = now() where event_id = %L;', e.event_id, e.event_id)
  from ops.stripe_events e where e.ignored_reason is not null and e.reviewed_at is null
union all
select 'sanitized Stripe event', e.type, e.event_id, e.received_at, e.attempts,
       'a string held the NUL character (\u0000), which Postgres cannot store; '
       'stored and applied with U+FFFD in its place',
       format('check the text fields of %s (a customer''s name, a Checkout custom field) in Stripe and here, '
              'correct them if needed, then: update ops.stripe_events set reviewed_at = now() where event_id = %L;',
              coalesce(e.object_id, 'the event''s object'), e.event_id)
  from ops.stripe_events e where e.sanitized and e.reviewed_at is null
union all
-- in_review: Stripe took a payment that is not the order's price; nothing downstream runs until resolved
select case when o.status = 'in_review' then 'order payment in review' else 'order needs review' end,
       o.status, o.id::text, o.updated_at, null, o.review_reason,
       case when o.status = 'in_review'
            then format('compare the payment with the order in Stripe; accept it (the order becomes paid): '
                        'select ops.resolve_order_review(%L, true, ''why''); or refund it in Stripe and refuse it '
                        '(the order is canceled): select ops.resolve_order_review(%L, false, ''why'');', o.id, o.id)
            else format('check it in Stripe (refund a double payment; match an order-less payment to its buyer and '
                        'listing), then: select ops.resolve_order_review(%L, true, ''what you did'');', o.id) end
  from public.orders o where o.needs_review
union all
-- an email-only or ambiguous match, or a conflicting claim (docs/architecture.md, Linking rules)
select 'customer needs review', coalesce(sc.ids, 'no Stripe customer'), c.id::text, c.updated_at, null, c.review_reason,
       format('if %s belongs to a user: select ops.link_stripe_customer(%L, ''<user id>'', ''<why>'');  '
              'if the row is right as it is: select ops.resolve_customer_review(%L, ''<why>'');',
              coalesce(sc.ids, 'its Stripe customer'), coalesce(sc.first_id, '<cus_...>'), c.id)
  from public.customers c
  left join lateral (select string_agg(m.stripe_customer_id, ', ' order by m.created_at) as ids,
                            (array_agg(m.stripe_customer_id order by m.created_at))[1] as first_id
                       from ops.stripe_customers m where m.customer_id = c.id) sc on true
 where c.needs_review;
comment on view ops.pipeline_exceptions is 'Everything that needs a person: dead, undeliverable and retrying jobs, '
  'stuck jobs, communication degraded, failed Stripe events, ignored (other mode or account) and sanitized Stripe '
  'events, orders to review and payments in review, customers to review; with the next action for each.';

revoke all on ops.pipeline_health, ops.pipeline_exceptions from public, anon, authenticated;
grant select on ops.pipeline_health, ops.pipeline_exceptions to service_role;
-- security_invoker views read with the reader's privileges: service_role needs the tables behind them
grant select on ops.jobs, ops.job_kinds, ops.job_attempts, ops.stripe_events, ops.stripe_customers to service_role;
