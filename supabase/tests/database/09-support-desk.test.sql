-- The support desk: who reads which tickets and messages (requesters, sellers, admins, anon), what a
-- requester may write, routing rules, reopening, system tickets per case, and the notifications
-- each business change enqueues (once per template, entity and recipient).
-- pgTAP runs as supabase_admin: it acts as support_intake's login (set session authorization)
begin;
set search_path = public, extensions;
select plan(57);

call tests.create_user('00000000-0000-4000-8000-0000000005a1', 'req_a@support.test');
call tests.create_user('00000000-0000-4000-8000-0000000005b1', 'req_b@support.test');
call tests.create_user('00000000-0000-4000-8000-0000000005c1', 'seller_a@support.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000005c2', 'seller_b@support.test', p_app_metadata => '{"role":"seller"}');
call tests.create_user('00000000-0000-4000-8000-0000000005d1', 'admin@support.test', p_app_metadata => '{"role":"admin"}');
update public.profiles set role = 'seller' where id in ('00000000-0000-4000-8000-0000000005c1', '00000000-0000-4000-8000-0000000005c2');
insert into public.listings (id, seller_id, title, price_amount, currency) values
  ('00000000-0000-4000-8000-0000000051a1', '00000000-0000-4000-8000-0000000005c1', 'A lamp', 60000, 'usd');
insert into public.orders (id, buyer_id, listing_id, amount_total, currency, stripe_payment_intent_id) values
  ('00000000-0000-4000-8000-00000005da01', '00000000-0000-4000-8000-0000000005a1', '00000000-0000-4000-8000-0000000051a1', 60000, 'usd', 'pi_support_a'),
  ('00000000-0000-4000-8000-00000005db01', '00000000-0000-4000-8000-0000000005b1', '00000000-0000-4000-8000-0000000051a1', 60000, 'usd', null);

-- a support.ticket job as the support-desk worker runs it: claim, run, complete
create function pg_temp.run_ticket_job(p_dedupe_key text) returns text
language plpgsql as $$
declare
  jid bigint := (select id from ops.jobs where dedupe_key = p_dedupe_key);
  result jsonb;
begin
  perform ops.claim_job(jid, 'pgtap');
  result := ops.run_support_ticket_job(jid, 'pgtap');
  perform ops.complete_job(jid, 'pgtap', result, p_hand_on => false);
  return result ->> 'created';
end
$$;
grant execute on all functions in schema pg_temp to authenticated, anon;

-- requester A opens a request on their (high-value) order, requester B a general one, through
-- support-intake (its login, session_user support_intake, sets their claims as PostgREST would)
call tests.authenticate_as('00000000-0000-4000-8000-0000000005a1', p_via => 'support_intake');
select is((select queue || '/' || created from public.submit_support_request('order', 'Lamp broken', 'It arrived broken',
  '00000000-0000-4000-8000-00000005da01')), 'general/true', 'a requester opens a request on their own order');
select is((select created from public.submit_support_request('order', 'Lamp broken', 'It arrived broken',
  '00000000-0000-4000-8000-00000005da01')), false, 'the same request again within 10 minutes is the same ticket');
select is(split_part(tests.row_count_or_error($$select * from public.submit_support_request('order', 'x', 'y', '00000000-0000-4000-8000-00000005db01')$$), ':', 1),
  '42501', 'an order that is not theirs is refused');
select is(split_part(tests.row_count_or_error($$insert into public.support_tickets (category, subject, queue) values ('other', 'x', 'disputes')$$), ':', 1),
  '42501', 'the requester cannot choose the queue');
select is(split_part(tests.row_count_or_error($$insert into public.support_tickets (category, subject, source) values ('other', 'x', 'system')$$), ':', 1),
  '42501', 'the requester cannot open system tickets');
select is(tests.row_count_or_error($$select * from public.submit_support_request('dispute', 'x', 'y')$$),
  '23514: category must be one of billing, order, technical, account, other, seller_problem, buyer_problem',
  'the database refuses a category the app may not choose (dispute lands in the urgent queue sellers read)');
select is(split_part(tests.row_count_or_error($$update public.support_tickets set status = 'solved'$$), ':', 1), '0', 'the requester cannot change the status');
reset session authorization;
call tests.authenticate_as('00000000-0000-4000-8000-0000000005a1', '{"is_anonymous": true}', p_via => 'support_intake');
select is(split_part(tests.row_count_or_error($$insert into public.support_tickets (category, subject) values ('other', 'anon')$$), ':', 1), '42501',
  'an anonymous session cannot open a request');
reset session authorization;
-- the Data API (PostgREST: session_user authenticator) opens nothing, by RPC or by insert: the rate
-- limits and checks of support-intake would be skipped, and each ticket emails the founder and the user
call tests.authenticate_as('00000000-0000-4000-8000-0000000005a1', p_via => 'authenticator');
select is(tests.row_count_or_error($$select * from public.submit_support_request('other', 'rpc', 'via the Data API')$$),
  '42501: support requests are opened through the support-intake function, not the Data API',
  'the Data API cannot call submit_support_request');
select is(tests.row_count_or_error($$insert into public.support_tickets (category, subject) values ('other', 'insert')$$),
  '42501: support requests are opened through the support-intake function, not the Data API',
  'the Data API cannot insert a ticket');
reset session authorization;
select is((select count(*)::int from public.support_tickets where requester_id = '00000000-0000-4000-8000-0000000005a1'), 1,
  'only the request through support-intake was written');
select id as a_ticket from public.support_tickets where requester_id = '00000000-0000-4000-8000-0000000005a1' \gset
call tests.authenticate_as('00000000-0000-4000-8000-0000000005b1', p_via => 'support_intake');
select is((select created from public.submit_support_request('technical', 'App crashes', 'On start')), true, 'B opens one');
select is((select count(*)::int from public.support_tickets), 1, 'B reads only their own ticket');
select is((select count(*)::int from public.ticket_messages), 1, 'B reads only their own messages');
select is(split_part(tests.row_count_or_error(format($$insert into public.ticket_messages (ticket_id, body) values (%L, 'me too')$$,
  (select id from public.support_tickets where true limit 1))), ':', 1), '1', 'B writes on their own ticket');
select is(split_part(tests.row_count_or_error('select context from public.support_tickets'), ':', 1), '42501',
  'B cannot read what the server knew of them (context: VIP, lifetime value, last pipeline error)');
select is(split_part(tests.row_count_or_error('select tags, priority, client_context from public.support_tickets'), ':', 1),
  '42501', 'nor the routing (tags, priority) or their device');
reset session authorization;
call tests.authenticate_as('00000000-0000-4000-8000-0000000005b1');
select is(split_part(tests.row_count_or_error(format($$insert into public.ticket_messages (ticket_id, body) values (%L, 'hi')$$, :'a_ticket')), ':', 1),
  '42501', 'B cannot write on A''s ticket');
reset role;

-- the request's context and route were set by the server
select is((select context -> 'order' ->> 'payment_state' from public.support_tickets where requester_id = '00000000-0000-4000-8000-0000000005a1'),
  'pending_payment', 'the ticket carries the order''s payment state');
select ok((select 'high-value' = any (tags) and priority = 'high' from public.support_tickets
            where requester_id = '00000000-0000-4000-8000-0000000005a1'), 'an order of 600.00 is high priority, tagged high-value');
select ok((select tags @> array['plan:none', 'payment:pending_payment'] from public.support_tickets
            where requester_id = '00000000-0000-4000-8000-0000000005a1'), 'tags record the plan tier and payment state');

-- routing rules
select is((select queue || '/' || priority from ops.route_ticket('dispute', 'active', null, 100, 0, false)), 'disputes/urgent', 'disputes: urgent in disputes');
select is((select queue || '/' || priority from ops.route_ticket('other', 'past_due', null, null, 0, false)), 'billing/high', 'payments failing: billing, high');
select is((select queue || '/' || priority from ops.route_ticket('technical', 'active', null, null, 0, true)), 'technical/high', 'VIP: high, in its own queue');
select is((select queue || '/' || priority from ops.route_ticket('other', 'lead', null, null, 0, false)), 'general/normal', 'no rule: general, normal');
-- a VIP the founder marked: the request itself (not just the rule) comes out high, tagged vip
insert into ops.support_vips (user_id, note) values ('00000000-0000-4000-8000-0000000005b1', 'pgtap');
call tests.authenticate_as('00000000-0000-4000-8000-0000000005b1', p_via => 'support_intake');
select is((select queue || '/' || created from public.submit_support_request('account', 'Cannot log in', 'Locked out')),
  'general/true', 'a VIP''s account question stays in its queue');
reset session authorization;
select ok((select priority = 'high' and 'vip' = any (tags) from public.support_tickets
            where requester_id = '00000000-0000-4000-8000-0000000005b1' and category = 'account'),
  'a VIP''s request is high priority, tagged vip');
update ops.support_routing_rules set set_priority = 'low' where position = 40;
select is((select priority from ops.route_ticket('technical', 'active', null, null, 0, false)), 'low', 'a rule edited in Studio applies at once');

-- sellers and admins, anon
insert into ops.disputes (stripe_dispute_id, stripe_payment_intent_id, amount, currency, reason, status, stripe_event_created)
values ('dp_support_a', 'pi_support_a', 60000, 'usd', 'fraudulent', 'needs_response', now());
select is(pg_temp.run_ticket_job('support.ticket:dispute:dp_support_a:needs_response'), 'true', 'a dispute opens a ticket');
select is((select queue || '/' || priority || '/' || coalesce(requester_id::text, 'nobody') from public.support_tickets
            where case_key = 'dispute:dp_support_a'),
  'disputes/urgent/nobody', 'in disputes, urgent, not the buyer''s to read');
select is((select count(*)::int from ops.jobs where dedupe_key = 'notify:slack_dispute_alert:dispute:dp_support_a:team'), 1, 'the team is alerted in Slack');
call tests.authenticate_as('00000000-0000-4000-8000-0000000005c1');
select is((select count(*)::int from public.support_tickets), 1, 'the seller reads the dispute ticket on their order, and no other ticket');
select is((select count(*)::int from public.ticket_messages), 1,
  'and its system note (the dispute''s status, visibility parties: #18 lets the seller follow and add notes)');
select is(split_part(tests.row_count_or_error('select context from public.support_tickets'), ':', 1), '42501',
  'nor the buyer''s context (lifetime value across sellers, billing, access)');
reset role;
call tests.authenticate_as('00000000-0000-4000-8000-0000000005c2');
select is((select count(*)::int from public.support_tickets), 0, 'another seller reads nothing');
reset role;
call tests.authenticate_as('00000000-0000-4000-8000-0000000005a1');
select is((select count(*)::int from public.support_tickets where queue = 'disputes'), 0, 'the buyer does not read the dispute ticket');
reset role;
call tests.authenticate_as('00000000-0000-4000-8000-0000000005d1');
select is((select count(*)::int from public.support_tickets
            where requester_id::text like '00000000-0000-4000-8000-0000000005%' or order_id = '00000000-0000-4000-8000-00000005da01'),
  4, 'the admin reads every ticket');
select is(split_part(tests.row_count_or_error($$update public.support_tickets set status = 'solved' where queue = 'technical' and requester_id::text like '00000000-0000-4000-8000-0000000005%'$$), ':', 1), '1', 'the admin solves a ticket');
reset role;
-- an admin's claims count only in a session whose login verified them: the Data API's or the
-- dashboard's, never support-intake's (whose database URL, leaked, must not be an admin credential)
call tests.authenticate_as('00000000-0000-4000-8000-0000000005d1', p_via => 'support_intake');
select is((select count(*)::int from public.support_tickets), 0, 'admin claims through support-intake''s login read nothing');
select is(split_part(tests.row_count_or_error('select ops.dashboard_snapshot()'), ':', 1), '42501',
  'and open no admin door');
call tests.authenticate_as('00000000-0000-4000-8000-0000000005d1', p_via => 'dashboard');
select ok((select count(*)::int from public.support_tickets) >= 4, 'through the dashboard''s login the admin reads every ticket');
call tests.authenticate_as('00000000-0000-4000-8000-0000000005d1', p_via => 'authenticator');
select ok((select private.is_admin()), 'and through the Data API''s');
reset session authorization;
set local role anon;
select is(split_part(tests.row_count_or_error('select * from public.support_tickets'), ':', 1), '42501', 'anon reads nothing');
select is(split_part(tests.row_count_or_error('select * from public.ticket_messages'), ':', 1), '42501', 'anon reads no messages');
reset role;

-- reopening: a message reopens a solved ticket; closed is final, its next event opens a follow-up
call tests.authenticate_as('00000000-0000-4000-8000-0000000005b1');
insert into public.ticket_messages (ticket_id, body) select id, 'still crashing' from public.support_tickets where queue = 'technical';
reset role;
select is((select status || '/' || reopened_count from public.support_tickets where queue = 'technical' and requester_id::text like '00000000-0000-4000-8000-0000000005%'), 'open/1', 'a new message reopens a solved ticket');
update public.support_tickets set status = 'solved' where case_key = 'dispute:dp_support_a';
update public.support_tickets set status = 'closed' where case_key = 'dispute:dp_support_a';
select is(split_part(tests.row_count_or_error($$update public.support_tickets set status = 'open' where case_key = 'dispute:dp_support_a'$$), ':', 1), '23514', 'a closed ticket does not reopen');
update ops.disputes set status = 'lost' where stripe_dispute_id = 'dp_support_a';
select is(pg_temp.run_ticket_job('support.ticket:dispute:dp_support_a:lost'), 'true', 'a new event for a closed case opens a follow-up ticket');
select is((select count(*)::int from public.support_tickets f join public.support_tickets c on c.id = f.follow_up_of
            where c.case_key = 'dispute:dp_support_a'), 1, 'which links back to the closed one');
update ops.disputes set status = 'warning_closed' where stripe_dispute_id = 'dp_support_a';
select is(pg_temp.run_ticket_job('support.ticket:dispute:dp_support_a:warning_closed'), 'false', 'the next event of the case is a note on the follow-up');

-- notifications: once per (template, entity, recipient)
create temp table my_tickets as select 'ticket:' || id as entity from public.support_tickets
 where requester_id::text like '00000000-0000-4000-8000-0000000005%' or case_key like 'dispute:dp_support_a%';
select is((select count(*)::int from ops.jobs where kind = 'notify.email' and payload ->> 'template' = 'support_ack'
            and payload ->> 'entity' in (select entity from my_tickets)), 3,
  'each app request is acknowledged once');
select is((select count(*)::int from ops.jobs where kind = 'notify.email' and payload ->> 'template' = 'founder_new_ticket'
            and payload ->> 'entity' in (select entity from my_tickets)), 5,
  'the founder hears of each ticket once (3 requests, a dispute ticket, its follow-up)');
update public.orders set status = 'payment_failed' where id = '00000000-0000-4000-8000-00000005db01';
select is((select array_agg(payload ->> 'template' order by id) from ops.jobs
            where kind like 'notify.%' and payload ->> 'recipient' = 'user:00000000-0000-4000-8000-0000000005b1'
              and payload ->> 'template' <> 'support_ack'),
  array['payment_failed'], 'a failed payment sends the billing email, and no welcome');
update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-00000005db01';
update public.orders set status = 'paid' where id = '00000000-0000-4000-8000-00000005db01';
select is((select array_agg(payload ->> 'template' order by id) from ops.jobs
            where kind like 'notify.%' and payload ->> 'recipient' = 'user:00000000-0000-4000-8000-0000000005b1'
              and payload ->> 'template' in ('payment_receipt', 'welcome')),
  array['payment_receipt', 'welcome'], 'paying sends a receipt and the welcome, once');
update public.orders set amount_total = 60000, status = 'partially_refunded', amount_refunded = 1000 where id = '00000000-0000-4000-8000-00000005db01';
update public.orders set amount_refunded = 1000 where id = '00000000-0000-4000-8000-00000005db01';
update public.orders set status = 'refunded', amount_refunded = 60000 where id = '00000000-0000-4000-8000-00000005db01';
select is((select count(*)::int from ops.jobs where payload ->> 'template' = 'refund_confirmation'
            and payload ->> 'order_id' = '00000000-0000-4000-8000-00000005db01'), 2, 'one refund confirmation per refunded total');
update ops.settings set failed_payment_policy = 'both';
insert into public.orders (id, buyer_id, listing_id) values
  ('00000000-0000-4000-8000-00000005dc01', '00000000-0000-4000-8000-0000000005b1', '00000000-0000-4000-8000-0000000051a1');
update public.orders set status = 'payment_failed' where id = '00000000-0000-4000-8000-00000005dc01';
select is((select count(*)::int from ops.jobs where kind = 'support.ticket' and payload ->> 'order_id' = '00000000-0000-4000-8000-00000005dc01'),
  1, 'with the policy "both", a failed payment also routes the customer to billing with a ticket');

-- retention: old captured emails and the send log lose the address, keep what happened
insert into ops.notification_captures (channel, key, body, created_at)
values ('email', 'pgtap:old-capture', '{"id": "capture-email-x", "to": "req_a@support.test", "subject": "Receipt", "tags": {"template": "payment_receipt"}}', now() - interval '100 days');
insert into ops.notifications (dedupe_key, channel, template, entity, recipient, status, adapter, created_at)
values ('pgtap:old-send', 'email', 'payment_receipt', 'order:x', 'req_a@support.test', 'captured', 'capture', now() - interval '100 days');
select ops.clear_personal_data();
select is((select body from ops.notification_captures where key = 'pgtap:old-capture'),
  '{"id": "capture-email-x", "tags": {"template": "payment_receipt"}}'::jsonb, 'an old captured email keeps only its id and tags');
select is((select recipient || '/' || template || '/' || status from ops.notifications where dedupe_key = 'pgtap:old-send'),
  'cleared/payment_receipt/captured', 'an old send keeps what happened, not the address');

select * from finish();
rollback;
