-- Reconciliation against Stripe (#10): the `reconcile` job kind, run by the reconcile function as the
-- login role `reconciler`; the checkpoint of its pass over Stripe's events; the doors it calls (which
-- listed events the ledger lacks, ingest them as source 'reconciliation', advance the checkpoint, record
-- the cross-checks' findings, one verdict function per finding kind, registered in
-- ops.reconciliation_kinds); and pg_cron's hourly enqueue. Adds rows to ops.job_kinds; changes no data.

insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms,
                           backoff_max_ms)
-- lease 300 s: one invocation works for at most RECONCILE_BUDGET_MS (90 s by default), then defers itself
values ('reconcile', 'reconcile', 5, 150000, 300, 60000, 3600000)
on conflict (kind) do update set function_name = excluded.function_name;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'reconciler') then
    -- The reconcile function's login role: its jobs, and the reconciliation doors below. Not
    -- pipeline_worker: that role serves crm-sync, notify and support-desk, which must not ingest events.
    create role reconciler nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to reconciler;
-- as the other login roles (migration 1500); the cross-checks' statement compares a few thousand
-- objects at most, so 30 s
alter role reconciler set lock_timeout = '3s';
alter role reconciler set statement_timeout = '30s';
alter role reconciler set idle_in_transaction_session_timeout = '30s';

-- One row per Stripe scope (mode and account): switching to live mode starts a checkpoint of its own.
create table if not exists ops.reconciliation_checkpoints (
  -- 'test' or 'live', then ':acct_...' for a Connect platform
  scope text primary key,
  -- every applicable event Stripe created before this was compared with the ledger (null: no pass
  -- has finished yet, the first one looks back RECONCILE_LOOKBACK_DAYS)
  events_checked_until timestamptz,
  -- nothing Stripe created (events, payments, subscriptions) or we recorded before this is
  -- reconciled: set it to when this project started taking this scope's events (going live)
  not_before timestamptz,
  -- the pass under way: the window of event creation times it lists, and the last event of the last
  -- page it fully processed (Stripe's starting_after); null when no pass is under way
  pass_from timestamptz,
  pass_until timestamptz,
  pass_cursor text,
  -- the job whose counts run_stats holds (a job that defers itself carries on with them)
  run_job_id bigint,
  run_stats jsonb not null default '{}'::jsonb,
  last_finished_at timestamptz,
  last_summary jsonb,
  updated_at timestamptz not null default now(),
  check ((pass_from is null) = (pass_until is null))
);
comment on table ops.reconciliation_checkpoints is 'Where reconciliation against Stripe stands, per Stripe mode and '
  'account: events checked until when, the pass under way (window and cursor), the floor not_before, and the last '
  'run''s summary.';

create index if not exists reconciliation_findings_open_idx on ops.reconciliation_findings (kind) where status = 'open';

-- resolved findings go after their retention (migration 1100's registry); open ones stay until resolved
create or replace function ops.purge_reconciliation_findings(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from ops.reconciliation_findings where status = 'resolved' and resolved_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;
insert into ops.retention_policies (name, description, purge_fn, keep)
values ('reconciliation_findings', 'Reconciliation findings resolved this long ago (open ones stay)',
        'ops.purge_reconciliation_findings(interval)', interval '90 days')
on conflict (name) do nothing;

-- The event types ops.apply_stripe_event applies (its switch, migration 0800; pgTAP 11-reconciliation
-- checks that the two agree). Reconciliation recovers only these: an account emits many more, which
-- the webhook endpoint is not subscribed to and the ledger must not fill with.
create or replace function ops.stripe_event_type_applied(p_type text) returns boolean
language sql immutable
set search_path = ''
as $$
  select p_type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                    'checkout.session.async_payment_failed', 'checkout.session.expired',
                    'payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled',
                    'charge.refunded', 'charge.succeeded', 'charge.captured',
                    'refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated',
                    'invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed',
                    'customer.subscription.created', 'customer.subscription.updated',
                    'customer.subscription.deleted', 'customer.subscription.paused',
                    'customer.subscription.resumed', 'customer.created', 'customer.updated', 'customer.deleted')
         or p_type like 'charge.dispute.%'
$$;

-- The reconcile job this worker holds, or an error (every door below starts here).
create or replace function ops.require_reconcile_job(p_job_id bigint, p_worker text) returns ops.jobs
language plpgsql
set search_path = ''
as $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
begin
  if j.kind <> 'reconcile' then
    raise exception 'job % is a % job, not a reconcile job', p_job_id, j.kind using errcode = 'insufficient_privilege';
  end if;
  return j;
end
$$;

-- security definer: the reconciler holds no table privileges; this door only answers for a reconcile
-- job it holds. Checks the caller's scope (its key's mode, its STRIPE_ACCOUNT_ID) against ops.settings
-- as ingest does, then starts a pass over the events (or resumes the one under way) and returns what
-- the worker needs: the pass's window and cursor, and from when to cross-check payments.
create or replace function ops.reconcile_begin(p_job_id bigint, p_worker text, p_livemode boolean, p_account_id text,
  p_lookback interval, p_grace interval, p_check_window interval)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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

-- security definer: the reconciler may not write the checkpoint. Notes about this run (the cross-checks
-- ran out of time once) merged into its counts.
create or replace function ops.reconcile_note(p_job_id bigint, p_worker text, p_scope text, p_note jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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

-- security definer: the reconciler may not read the ledger. Of a page of listed events ([{id, type}]),
-- the ids of those the ledger lacks and ops.apply_stripe_event applies.
create or replace function ops.reconcile_missing_events(p_job_id bigint, p_worker text, p_events jsonb)
returns text[]
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  return array(
    select e.id from jsonb_to_recordset(coalesce(p_events, '[]'::jsonb)) as e(id text, type text)
     where ops.stripe_event_type_applied(e.type)
       and not exists (select 1 from ops.stripe_events s where s.event_id = e.id));
end
$$;

-- security definer: the one way the reconciler ingests, and only while it holds a reconcile job.
-- The same path as a webhook delivery (ops.ingest_stripe_event: scope checks, apply, record once),
-- marked source 'reconciliation'; an event the webhook recorded meanwhile is a duplicate and changes
-- nothing. A recovered event is a missing_event_recovered finding, resolved at once (the recovery was
-- the repair) unless its apply failed, which stays open until it is re-applied.
create or replace function ops.reconcile_ingest_event(p_job_id bigint, p_worker text, p_event text,
  p_livemode boolean, p_account_id text, p_sanitized boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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

-- security definer: the reconciler may not write the checkpoint. Called after a page of events was
-- fully processed (every missing event ingested): the pass resumes after p_cursor from now on. With
-- p_done the pass is over and the checkpoint moves to its upper bound (never backwards).
create or replace function ops.reconcile_advance(p_job_id bigint, p_worker text, p_scope text, p_cursor text,
  p_listed integer, p_recovered integer, p_recovered_failed integer, p_done boolean default false)
returns void
language plpgsql
security definer
set search_path = ''
as $$
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

-- security definer: reads orders and open findings for the reconciler. The Stripe objects the
-- cross-checks need that the worker's listings (objects created since checks_from) did not return:
-- the payments of orders paid since then, and the objects of open findings (so that a finding can
-- resolve once its object is fine again, however old). At most p_limit of each.
create or replace function ops.reconcile_objects_to_fetch(p_job_id bigint, p_worker text, p_checks_from bigint,
  p_listed_sessions text[], p_listed_payment_intents text[], p_limit integer default 100)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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

-- ---------------------------------------------------------------- the cross-checks: one function per kind
-- Each finding kind is a row of ops.reconciliation_kinds naming its verdict function, which judges the
-- objects the cross-checks examined: one row per object, with whether it is a problem now. Every verdict
-- function has one shape (the kinds' trigger enforces it):
--   (p_objects jsonb) returns table (object_id text, problem boolean, order_id uuid, customer_id uuid,
--                                    detail jsonb, next_action text)
-- p_objects: {checks_from (epoch), not_before (epoch or null), sessions, payment_intents,
-- subscriptions (Stripe's complete list of subscriptions not canceled)}, each a compact object
-- (reconcile/stripe.ts); an object Stripe answered 404 for is {id, missing: true}. A new kind is a
-- function of that shape and a row:
--   insert into ops.reconciliation_kinds (kind, description, verdict_fn)
--   values ('my_kind', '...', 'ops.reconcile_verdicts_my_kind(jsonb)');

-- The Stripe objects of p_objects, as rows.
create or replace function ops.reconcile_sessions(p_objects jsonb)
returns table (id text, status text, payment_status text, mode text, amount_total bigint, currency text,
               payment_intent text, order_ref text, created bigint, missing boolean)
language sql immutable
set search_path = ''
as $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'sessions', '[]')) as x(
    id text, status text, payment_status text, mode text, amount_total bigint, currency text,
    payment_intent text, order_ref text, created bigint, missing boolean)
$$;
create or replace function ops.reconcile_payment_intents(p_objects jsonb)
returns table (id text, status text, amount bigint, amount_received bigint, currency text, order_ref text,
               created bigint, missing boolean)
language sql immutable
set search_path = ''
as $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'payment_intents', '[]')) as x(
    id text, status text, amount bigint, amount_received bigint, currency text, order_ref text,
    created bigint, missing boolean)
$$;
create or replace function ops.reconcile_subscriptions(p_objects jsonb)
returns table (id text, status text, customer text, created bigint)
language sql immutable
set search_path = ''
as $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'subscriptions', '[]')) as x(
    id text, status text, customer text, created bigint)
$$;

-- Open findings of p_kind whose Stripe object Stripe no longer has: nothing left to compare, so they
-- are fine (an order such an object paid is judged by order_without_payment).
create or replace function ops.reconcile_gone_verdicts(p_kind text, p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
  select f.object_id, false, f.order_id, f.customer_id, f.detail, f.next_action
    from ops.reconciliation_findings f
   where f.status = 'open' and f.kind = p_kind
     and (exists (select 1 from ops.reconcile_sessions(p_objects) s where s.id = f.object_id and s.missing)
          or exists (select 1 from ops.reconcile_payment_intents(p_objects) p where p.id = f.object_id and p.missing))
$$;

-- amount_mismatch: what Stripe charged (paid sessions, succeeded payment intents) against the order's
-- amount_charged; an order in review is the review's, not drift
create or replace function ops.reconcile_verdicts_amount_mismatch(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
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

-- order_without_payment: our paid orders (since checks_from, or with an open finding) whose payment
-- Stripe shows as not succeeded, or does not have
create or replace function ops.reconcile_verdicts_order_without_payment(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
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

-- payment_without_order: what Stripe says was paid (paid sessions, and succeeded payment intents of no
-- session) that no paid order of ours accounts for; payments our mirrors know as paid are left out
-- (double payments and reviews are in pipeline_exceptions)
create or replace function ops.reconcile_verdicts_payment_without_order(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
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

-- crm_deal_missing: paid orders (since checks_from, or with an open finding) without a CRM deal; it
-- waits while a deal job is queued, running or retrying
create or replace function ops.reconcile_verdicts_crm_deal_missing(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
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

-- billing_status_drift: the mirror's status and the customer's billing against the highest-precedence
-- Stripe status; Stripe's list of live subscriptions being complete, ours live there no more too
create or replace function ops.reconcile_verdicts_billing_status_drift(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
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

-- missing_event_recovered: recovered events whose apply failed are fine once the ledger applied them
-- after all (the finding itself is written by ops.reconcile_ingest_event)
create or replace function ops.reconcile_verdicts_missing_event_recovered(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
  select f.object_id, e.status not in ('processed', 'ignored'), null::uuid, null::uuid, f.detail, f.next_action
    from ops.reconciliation_findings f join ops.stripe_events e on e.event_id = f.object_id
   where f.kind = 'missing_event_recovered' and f.status = 'open'
$$;

-- ---------------------------------------------------------------- the kinds
create table if not exists ops.reconciliation_kinds (
  kind text primary key check (kind ~ '^[a-z][a-z0-9_]{1,62}$'),
  description text not null,
  -- the function judging this kind's objects (shaped as the section above says)
  verdict_fn text not null
);
comment on table ops.reconciliation_kinds is 'The kinds of reconciliation findings, each with the function that '
  'judges it (ops.reconcile_verdicts runs them all); a new kind is a verdict function and a row.';
alter table ops.reconciliation_kinds enable row level security;
revoke all on ops.reconciliation_kinds from public, anon, authenticated;
grant select on ops.reconciliation_kinds to service_role;

-- A typo in Studio is refused when saved, not by a failing reconcile job every hour.
create or replace function ops.reconciliation_kinds_require_verdict_fn() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.verdict_fn := ops.require_function_shape(new.verdict_fn,
    '(jsonb) returns setof object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, '
    'next_action text', format('verdict_fn of reconciliation kind %s', new.kind));
  return new;
end
$$;
drop trigger if exists reconciliation_kinds_100_require_verdict_fn on ops.reconciliation_kinds;
create trigger reconciliation_kinds_100_require_verdict_fn
  before insert or update of verdict_fn on ops.reconciliation_kinds
  for each row execute function ops.reconciliation_kinds_require_verdict_fn();

insert into ops.reconciliation_kinds (kind, description, verdict_fn)
values
  ('missing_event_recovered', 'An event Stripe sent that never reached the webhook, recovered by reconciliation '
   '(open while its apply failed)', 'ops.reconcile_verdicts_missing_event_recovered(jsonb)'),
  ('amount_mismatch', 'Stripe charged another amount or currency than the order records',
   'ops.reconcile_verdicts_amount_mismatch(jsonb)'),
  ('order_without_payment', 'A paid order whose payment Stripe shows as not succeeded, or does not have',
   'ops.reconcile_verdicts_order_without_payment(jsonb)'),
  ('payment_without_order', 'A payment Stripe took that no paid order of ours accounts for',
   'ops.reconcile_verdicts_payment_without_order(jsonb)'),
  ('crm_deal_missing', 'A paid order without a CRM deal and no deal job under way',
   'ops.reconcile_verdicts_crm_deal_missing(jsonb)'),
  ('billing_status_drift', 'A subscription whose status, or its customer''s billing, differs from Stripe''s',
   'ops.reconcile_verdicts_billing_status_drift(jsonb)')
on conflict (kind) do nothing;

-- a finding is of a registered kind (migration 1900 leaves the column open for this)
alter table ops.reconciliation_findings drop constraint if exists reconciliation_findings_kind_fkey;
alter table ops.reconciliation_findings add constraint reconciliation_findings_kind_fkey
  foreign key (kind) references ops.reconciliation_kinds (kind) on update cascade;

-- The cross-checks' verdicts: every kind's, one row per (kind, object) examined, with whether it is a
-- problem now. A failing verdict function fails the run (the job retries), as an object not judged
-- must not resolve or open anything.
create or replace function ops.reconcile_verdicts(p_objects jsonb)
returns table (kind text, object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb,
               next_action text)
language plpgsql
stable
set search_path = ''
as $$
declare
  k ops.reconciliation_kinds;
begin
  for k in select * from ops.reconciliation_kinds rk order by rk.kind loop
    return query execute format('select $1, v.* from %s($2) v',
                                ops.registered_function(k.verdict_fn, 'reconciliation kind ' || k.kind))
      using k.kind, p_objects;
  end loop;
end
$$;

-- security definer: the reconciler may not read orders or write findings. Records the cross-checks:
-- a problem opens (or refreshes) its finding, one row per (kind, object); an open finding whose
-- object was examined and is fine now is resolved. Ends the run: the summary goes to the checkpoint
-- (and to the job's result, through the worker).
create or replace function ops.reconcile_record_checks(p_job_id bigint, p_worker text, p_scope text, p_objects jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
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

-- The one way to ask for a run (pg_cron hourly, npm run reconcile, an admin back end): at most one
-- reconcile job waits or runs at a time (its queue key, and this check under a lock). Returns the job
-- that will run. On demand (p_requested_by other than pg_cron), a run waiting for its retry starts now.
create or replace function ops.enqueue_reconcile(p_requested_by text default 'pg_cron') returns bigint
language plpgsql
set search_path = ''
as $$
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
comment on function ops.enqueue_reconcile(text) is 'Asks for a reconciliation run against Stripe (one waits or runs '
  'at a time); returns its job id. Usage: select ops.enqueue_reconcile(''me'');';

select cron.schedule('ops-reconcile', '7 * * * *', $$select ops.enqueue_reconcile('pg_cron')$$);

grant execute on function ops.claim_job(bigint, text), ops.complete_job(bigint, text, jsonb, boolean),
  ops.fail_job(bigint, text, text, boolean, integer, boolean), ops.defer_job(bigint, text, integer, text, boolean),
  ops.claim_next_job(text[], text), ops.next_job_due_in_ms(text[]), ops.dispatch_due_job(text[]),
  ops.end_job_drain(text[]),
  ops.reconcile_begin(bigint, text, boolean, text, interval, interval, interval),
  ops.reconcile_missing_events(bigint, text, jsonb),
  ops.reconcile_ingest_event(bigint, text, text, boolean, text, boolean),
  ops.reconcile_advance(bigint, text, text, text, integer, integer, integer, boolean),
  ops.reconcile_objects_to_fetch(bigint, text, bigint, text[], text[], integer),
  ops.reconcile_record_checks(bigint, text, text, jsonb), ops.reconcile_note(bigint, text, text, jsonb) to reconciler;
grant execute on function ops.enqueue_reconcile(text) to service_role;
