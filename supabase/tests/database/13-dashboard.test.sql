-- The dashboard's functions (#10): every admin function refuses a non-admin (a buyer, a buyer who claims
-- admin in user_metadata) and anon; as an admin each override changes its row and writes one audit row
-- with actor, before, after and reason in the same transaction; refusals change nothing; an access
-- override beats billing while in force, never changes billing_status, and falls back when it expires.
-- pgTAP runs as supabase_admin: it acts as the dashboard's login (set session authorization)
begin;
set search_path = public, extensions;
select plan(32);
\set refusal 'admins only: sign in with an account whose app_metadata.role is admin'

-- arrange (as the owner): a buyer with a lead customer row, a dead job, a dead Stripe event, an order
-- flagged for review, an open ticket of the buyer's
call tests.create_user('00000000-0000-4000-8000-00000000d0b1', 'pgtap-dash-buyer@example.com');
insert into ops.jobs (kind, payload, dedupe_key, max_attempts, status, attempts, run_at, last_error)
values ('crm.contact', jsonb_build_object('customer_id', (select id from public.customers where user_id = '00000000-0000-4000-8000-00000000d0b1')), 'pgtap:dashboard:dead', 15, 'dead', 15,
        now() + interval '1 day', 'pgtap: HubSpot 400');
create temp table fx as
select (select id from public.customers where user_id = '00000000-0000-4000-8000-00000000d0b1') as customer_id,
       (select id from ops.jobs where dedupe_key = 'pgtap:dashboard:dead') as job_id;
grant select on fx to authenticated, anon;

insert into ops.stripe_events (event_id, type, livemode, object_id, event_created, payload, status, attempts, last_error)
values ('evt_pgtap_dashboard', 'customer.updated', false, 'cus_pgtap_dashboard', now(),
        '{"id": "evt_pgtap_dashboard", "object": "event", "type": "customer.updated", "created": 1700000000, "livemode": false,
          "data": {"object": {"id": "cus_pgtap_dashboard", "object": "customer", "email": null, "metadata": {}}}}',
        'dead', 5, 'pgtap: lock timeout');
insert into public.orders (id, buyer_id, listing_id)
select '00000000-0000-4000-8000-00000000d0a1', '00000000-0000-4000-8000-00000000d0b1', l.id
  from public.listings l where l.active limit 1;
update public.orders set needs_review = true, review_reason = 'pgtap: flagged by hand' where id = '00000000-0000-4000-8000-00000000d0a1';

call tests.authenticate_as('00000000-0000-4000-8000-00000000d0b1', p_via => 'support_intake');
create temp table tk on commit drop as
select * from public.submit_support_request('technical', 'pgtap dashboard', 'it breaks', null, null, '{}'::jsonb, null);
reset session authorization;
grant select on tk to authenticated, anon;

-- ---------------------------------------------------------------- non-admins are refused
-- acting as a buyer
call tests.authenticate_as('00000000-0000-4000-8000-00000000d0b1', '{"email": "pgtap-dash-buyer@example.com"}');
select throws_ok($$ select ops.dashboard_snapshot() $$, '42501', :'refusal', 'a buyer cannot read the dashboard snapshot');
select throws_ok($$ select * from ops.dashboard_journey('pgtap-dash-buyer@example.com') $$, '42501', :'refusal',
  'a buyer cannot trace a journey, not even their own');
select throws_ok($$ select ops.admin_set_access((select customer_id from fx), 'granted', 'me', now() + interval '1 day') $$,
  '42501', :'refusal', 'a buyer cannot grant themselves access');
select throws_ok($$ select ops.admin_clear_access_override((select customer_id from fx), 'me') $$, '42501', :'refusal',
  'a buyer cannot clear an override');
select throws_ok($$ select ops.admin_resolve_order_review('00000000-0000-4000-8000-00000000d0a1', true, 'me') $$, '42501', :'refusal',
  'a buyer cannot resolve an order review');
select throws_ok($$ select ops.admin_replay_job((select job_id from fx), 'me') $$,
  '42501', :'refusal', 'a buyer cannot replay a job');
select throws_ok($$ select ops.admin_replay_stripe_event('evt_pgtap_dashboard', 'me') $$, '42501', :'refusal',
  'a buyer cannot re-apply a Stripe event');
select throws_ok($$ select ops.admin_escalate_ticket((select ticket_id from tk), 'urgent', null, 'me') $$, '42501', :'refusal',
  'a buyer cannot escalate their ticket');
select throws_ok($$ select ops.admin_close_ticket((select ticket_id from tk), 'me') $$, '42501', :'refusal',
  'a buyer cannot close a ticket through the admin door');
-- acting as a buyer who claims admin where users write (user_metadata)
call tests.authenticate_as('00000000-0000-4000-8000-00000000d0b1', '{"user_metadata": {"role": "admin"}}');
select throws_ok($$ select ops.dashboard_snapshot() $$, '42501', :'refusal', 'admin in user_metadata is no admin');
select throws_ok($$ select ops.admin_set_access((select customer_id from fx), 'granted', 'me', now() + interval '1 day') $$,
  '42501', :'refusal', 'admin in user_metadata grants nothing');
select throws_ok($$ select * from ops.access_overrides $$, '42501', null, 'authenticated cannot read access overrides directly');
-- acting as an admin, but through support-intake's login (its database URL leaked): claims it set itself
call tests.authenticate_as('00000000-0000-4000-8000-0000000000ad', '{"app_metadata": {"role": "admin"}}', p_via => 'support_intake');
select throws_ok($$ select ops.admin_set_access((select customer_id from fx), 'granted', 'me', now() + interval '1 day') $$,
  '42501', :'refusal', 'admin claims set through support-intake''s login grant nothing');
reset session authorization;
-- acting as anon
set local role anon;
select throws_ok($$ select ops.dashboard_snapshot() $$, '42501', null, 'anon cannot execute the dashboard functions');
reset role;
select is((select count(*) from ops.audit_log where reason = 'me'), 0::bigint, 'no refused call left an audit row');
select is((select access_status from public.customers where id = (select customer_id from fx)), 'blocked',
  'no refused call changed access');

-- ---------------------------------------------------------------- as an admin
-- acting as an admin
call tests.authenticate_as('00000000-0000-4000-8000-0000000000ad', '{"email": "pgtap-admin@example.com", "app_metadata": {"role": "admin"}}');
select ok(ops.dashboard_snapshot() ? 'customers', 'an admin reads the snapshot');
select throws_ok($$ select ops.admin_set_access((select customer_id from fx), 'granted', 'x', now() - interval '1 minute') $$,
  '22023', 'an override needs an expiry in the future, at most a year away', 'an override without a future expiry is refused');
select throws_ok($$ select ops.admin_replay_job((select job_id from fx), '  ') $$,
  '22023', 'a reason is required: say why (it is kept in the audit log)', 'an override without a reason is refused');

create temp table a1 on commit drop as
select ops.admin_set_access((select customer_id from fx), 'granted', 'pgtap: paid by bank transfer', now() + interval '1 day') as id;
select results_eq(
  $$ select actor_id::text, actor_email, action, before -> 'customer' ->> 'access_status', after -> 'customer' ->> 'access_status',
            after -> 'customer' ->> 'billing_status', after -> 'override' ->> 'access_status', reason
       from ops.audit_log where id = (select id from a1) $$,
  $$ values ('00000000-0000-4000-8000-0000000000ad', 'pgtap-admin@example.com', 'access.grant', 'blocked', 'granted', 'lead', 'granted',
             'pgtap: paid by bank transfer') $$,
  'a grant writes its audit row: actor from the JWT, the customer before and after, the override, the reason');
select is((select access_status from public.customers where id = (select customer_id from fx)), 'granted',
  'the grant gives access while billing says lead');

select ops.admin_set_access((select customer_id from fx), 'blocked', 'pgtap: abuse', now() + interval '1 hour');
reset role;
update public.customers set billing_status = 'active' where id = (select customer_id from fx);
select results_eq($$ select billing_status, access_status from public.customers where id = (select customer_id from fx) $$,
  $$ values ('active', 'blocked') $$, 'a revoke in force beats a billing change, which still lands in billing_status');
select matches((select blocked_reason from ops.customer_access where customer_id = (select customer_id from fx)),
  '^access revoked by pgtap-admin@example\.com until .*: pgtap: abuse$', 'ops.customer_access says why the customer is blocked');

-- the override expires (the clock moved two hours): the sweep ends it and access follows billing again
update ops.access_overrides set created_at = created_at - interval '2 hours', expires_at = expires_at - interval '2 hours'
 where customer_id = (select customer_id from fx) and ended_at is null;
select is(ops.expire_access_overrides(), 1, 'the sweep ends the expired override');
select results_eq($$ select billing_status, access_status from public.customers where id = (select customer_id from fx) $$,
  $$ values ('active', 'granted') $$, 'after expiry access follows billing (active: granted)');
select results_eq(
  $$ select actor_id, action, before -> 'override' ->> 'access_status', jsonb_typeof(after -> 'override')
       from ops.audit_log where target = 'customer:' || (select customer_id from fx) order by id desc limit 1 $$,
  $$ values (null::uuid, 'access.override_expired', 'blocked', 'null') $$,
  'the expiry is audited, by the system');

call tests.authenticate_as('00000000-0000-4000-8000-0000000000ad', '{"email": "pgtap-admin@example.com", "app_metadata": {"role": "admin"}}');
select ops.admin_replay_job((select job_id from fx), 'pgtap: fixed');
select ops.admin_replay_stripe_event('evt_pgtap_dashboard', 'pgtap: lock is gone');
select ops.admin_resolve_order_review('00000000-0000-4000-8000-00000000d0a1', true, 'pgtap: checked in Stripe');
select ops.admin_escalate_ticket((select ticket_id from tk), 'urgent', 'billing', 'pgtap: cannot pay');
select ops.admin_close_ticket((select ticket_id from tk), 'pgtap: answered');
select throws_ok($$ select ops.admin_close_ticket((select ticket_id from tk), 'pgtap: twice') $$, '23514', null,
  'closing a closed ticket is refused');
reset role;

select results_eq($$ select status, attempts from ops.jobs where dedupe_key = 'pgtap:dashboard:dead' $$,
  $$ values ('queued', 0) $$, 'the replayed job is queued with a fresh attempt budget');
select results_eq($$ select status, attempts from ops.stripe_events where event_id = 'evt_pgtap_dashboard' $$,
  $$ values ('processed', 6) $$, 'the re-applied event is processed');
select results_eq($$ select needs_review, (select decided_by from ops.order_reviews r where r.order_id = o.id)
                       from public.orders o where o.id = '00000000-0000-4000-8000-00000000d0a1' $$,
  $$ values (false, 'pgtap-admin@example.com (dashboard)') $$, 'the review is resolved in the admin''s name');
select results_eq($$ select priority, queue, status from public.support_tickets where id = (select ticket_id from tk) $$,
  $$ values ('urgent', 'billing', 'closed') $$, 'the ticket was escalated, then closed');
select results_eq(
  $$ select action, before ->> 'status', after ->> 'status', before ? 'payload', reason from ops.audit_log
      where actor_email = 'pgtap-admin@example.com' and action not like 'access.%' order by id $$,
  $$ values ('job.replay', 'dead', 'queued', false, 'pgtap: fixed'),
            ('stripe_event.reapply', 'dead', 'processed', false, 'pgtap: lock is gone'),
            ('order.accept_review', 'pending_payment', 'pending_payment', false, 'pgtap: checked in Stripe'),
            ('ticket.escalate', 'open', 'open', false, 'pgtap: cannot pay'),
            ('ticket.close', 'open', 'closed', false, 'pgtap: answered') $$,
  'each override wrote one audit row with before and after (jobs and events without their payload)');

select * from finish();
rollback;
