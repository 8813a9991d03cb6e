-- pgTAP runs as supabase_admin: it acts as the dashboard's and resend-webhook's logins (set session authorization)
-- Support both ways (#20): an agent's reply (Studio's ops.reply_to_ticket, the dashboard's
-- ops.admin_reply_to_ticket) is one agent message and one ticket_reply email with the thread's ids; a requester's
-- email reply (ops.record_inbound_email, as resend-webhook's role) is appended once, reopens a solved ticket, and
-- is ignored with a reason when forged, automatic, from another sender or for a closed ticket.
begin;
set search_path = public, extensions;
select plan(31);

call tests.create_user('00000000-0000-4000-8000-0000000027a1', 'jane@replies.test');
call tests.create_user('00000000-0000-4000-8000-0000000027b1', 'bob@replies.test');
call tests.create_user('00000000-0000-4000-8000-0000000027d1', 'alice@replies.test', p_app_metadata => '{"role":"admin"}');
insert into public.support_tickets (id, requester_id, source, category, subject) values
  ('00000000-0000-4000-8000-00000027f001', '00000000-0000-4000-8000-0000000027a1', 'system', 'order', 'Where is my mug?'),
  ('00000000-0000-4000-8000-00000027f002', '00000000-0000-4000-8000-0000000027a1', 'system', 'billing', 'Closed one'),
  ('00000000-0000-4000-8000-00000027f003', null, 'system', 'dispute', 'A dispute');
insert into public.ticket_messages (ticket_id, author_id, author_kind, body) values
  ('00000000-0000-4000-8000-00000027f001', '00000000-0000-4000-8000-0000000027a1', 'requester', 'Where is it?');
update public.support_tickets set status = 'closed' where id = '00000000-0000-4000-8000-00000027f002';

create function pg_temp.reply_job(p_message uuid) returns ops.jobs
language sql as $$
  select * from ops.jobs j where j.kind = 'notify.email' and j.payload ->> 'entity' = 'message:' || p_message
$$;
create function pg_temp.inbound(p_email text, p_ticket uuid, p_sender text, p_reason text default null,
                                p_message_id text default null) returns text
language sql as $$
  select ops.record_inbound_email(p_email, 'msg_' || p_email, p_ticket, p_sender, 'j***@replies.test',
                                  coalesce(p_message_id, '<' || p_email || '@mail.replies.test>'),
                                  'Thanks, got it', p_reason)
$$;
-- the SQLSTATE of a statement run as a role that may not use the tests schema, or 'ok'
create function pg_temp.sqlstate_of(p_statement text) returns text
language plpgsql as $$
begin
  execute p_statement;
  return 'ok';
exception when others then
  return sqlstate;
end
$$;
grant execute on all functions in schema pg_temp to provider_webhook, authenticated;

-- ---------------------------------------------------------------- Studio: ops.reply_to_ticket
create temp table replies (n int, id uuid);
-- what resend-webhook's role answered (it may not run pgTAP's functions: asserted after reset role)
create temp table outcomes (k text primary key, v text);
grant select on replies to public;
grant insert, select on outcomes to public;
insert into replies select 1, ops.reply_to_ticket('00000000-0000-4000-8000-00000027f001', '  It shipped today.  ',
                                                  'Alice (support)');
select is((select row(m.author_kind, m.author_name, m.via, m.visibility, m.body, m.author_id)::text
             from public.ticket_messages m where m.id = (select id from replies where n = 1)),
  row('agent', 'Alice (support)', 'studio', 'requester', 'It shipped today.', null::uuid)::text,
  'a reply from Studio is an agent message, marked as such (author_kind agent, the agent named, via studio)');
select is((select j.dedupe_key from pg_temp.reply_job((select id from replies where n = 1)) j),
  'notify:ticket_reply:message:' || (select id from replies where n = 1) || ':user:00000000-0000-4000-8000-0000000027a1',
  'it enqueues one ticket_reply email, keyed by the message');
select is((select j.payload -> 'data' ->> 'to' || ' ' || (j.payload -> 'data' ->> 'ticket_ref' like 'T-%')
                  || ' ' || (j.payload -> 'data' ->> 'first_reply_id' = (select id::text from replies where n = 1))
                  || ' ' || coalesce(j.payload -> 'data' ->> 'parent_reply_id', 'no parent')
             from pg_temp.reply_job((select id from replies where n = 1)) j),
  'jane@replies.test true true no parent',
  'the email is frozen for the requester, with the ticket reference, and is the thread''s root');
select is((select status from public.support_tickets where id = '00000000-0000-4000-8000-00000027f001'), 'pending',
  'an answered open ticket waits for the requester (pending)');
insert into replies select 2, ops.reply_to_ticket('T-' || lpad(substr((select ref from public.support_tickets
  where id = '00000000-0000-4000-8000-00000027f001'), 3), 6, '0'), 'Tracking: 1Z999.', 'Alice (support)');
select is((select (j.payload -> 'data' ->> 'parent_reply_id') || ' ' || (j.payload -> 'data' ->> 'first_reply_id')
             from pg_temp.reply_job((select id from replies where n = 2)) j),
  (select id from replies where n = 1)::text || ' ' || (select id from replies where n = 1)::text,
  'a second reply (named by the ticket''s reference) answers our first, the thread''s root');
select is(tests.row_count_or_error($$select ops.reply_to_ticket('00000000-0000-4000-8000-00000027f001', '  ', 'Alice')$$),
  '22023: the reply is empty: write what the requester should read', 'an empty reply is refused');
select is(tests.row_count_or_error($$select ops.reply_to_ticket('00000000-0000-4000-8000-00000027f002', 'Hi', 'Alice')$$),
  '23514: ticket ' || (select ref from public.support_tickets where id = '00000000-0000-4000-8000-00000027f002')
    || ' is closed: the requester opens a follow-up to continue', 'a closed ticket takes no reply');
select is(split_part(tests.row_count_or_error($$select ops.reply_to_ticket('00000000-0000-4000-8000-00000027f003', 'Hi', 'Alice')$$), ':', 1),
  '23514', 'a system ticket without a requester has nobody to email: refused');

-- ---------------------------------------------------------------- the requester's email reply
set local role provider_webhook;
insert into outcomes select 'em_1', pg_temp.inbound('em_1', '00000000-0000-4000-8000-00000027f001', 'Jane@Replies.test');
insert into outcomes select 'em_1 again', pg_temp.inbound('em_1', '00000000-0000-4000-8000-00000027f001', 'jane@replies.test');
reset role;
select is((select v from outcomes where k = 'em_1'), 'appended', 'resend-webhook''s role appends a verified reply from the requester');
select is((select v from outcomes where k = 'em_1 again'), 'duplicate', 'the same Resend email again is a duplicate');
select is((select count(*)::int from public.ticket_messages m where m.via = 'email'), 1, 'one message for two deliveries');
select is((select row(m.author_kind, m.author_id, m.visibility, m.body, m.email_message_id)::text
             from public.ticket_messages m where m.via = 'email'),
  row('requester', '00000000-0000-4000-8000-0000000027a1'::uuid, 'requester', 'Thanks, got it',
      '<em_1@mail.replies.test>')::text,
  'the reply is the requester''s message, with its Message-ID for threading');
select is((select status from public.support_tickets where id = '00000000-0000-4000-8000-00000027f001'), 'open',
  'the requester''s reply reopens the pending ticket (today''s rule)');
insert into replies select 3, ops.reply_to_ticket('00000000-0000-4000-8000-00000027f001', 'Glad to help.', 'Alice');
select is((select j.payload -> 'data' ->> 'parent_email_message_id' from pg_temp.reply_job((select id from replies where n = 3)) j),
  '<em_1@mail.replies.test>', 'the next reply answers the requester''s email (In-Reply-To their Message-ID)');

update public.support_tickets set status = 'solved' where id = '00000000-0000-4000-8000-00000027f001';
set local role provider_webhook;
insert into outcomes select 'em_auto', pg_temp.inbound('em_auto', '00000000-0000-4000-8000-00000027f001', 'jane@replies.test',
  'auto-reply (Auto-Submitted: auto-replied)');
reset role;
select is((select v from outcomes where k = 'em_auto'), 'ignored', 'an auto-reply is recorded as ignored');
select is((select status from public.support_tickets where id = '00000000-0000-4000-8000-00000027f001'), 'solved',
  'an auto-reply never reopens a solved ticket');
select is((select row(e.outcome, e.reason, e.ticket_id, e.message_id)::text from ops.inbound_emails e where e.email_id = 'em_auto'),
  row('ignored', 'auto-reply (Auto-Submitted: auto-replied)', '00000000-0000-4000-8000-00000027f001'::uuid, null::uuid)::text,
  'it is recorded with its reason and its ticket, and appends nothing');
set local role provider_webhook;
insert into outcomes select 'em_2', pg_temp.inbound('em_2', '00000000-0000-4000-8000-00000027f001', 'jane@replies.test');
reset role;
select is((select v from outcomes where k = 'em_2'), 'appended', 'a real reply to the solved ticket is appended');
select is((select status || '/' || reopened_count from public.support_tickets where id = '00000000-0000-4000-8000-00000027f001'),
  'open/1', 'and reopens it (reopened_count)');
set local role provider_webhook;
insert into outcomes select 'em_forged', pg_temp.inbound('em_forged', null, 'jane@replies.test', 'forged reply address: its token does not verify');
insert into outcomes select 'em_bob', pg_temp.inbound('em_bob', '00000000-0000-4000-8000-00000027f001', 'bob@replies.test');
insert into outcomes select 'em_closed', pg_temp.inbound('em_closed', '00000000-0000-4000-8000-00000027f002', 'jane@replies.test');
reset role;
select is((select v from outcomes where k = 'em_forged'), 'ignored', 'a forged token is recorded as ignored');
select is((select v from outcomes where k = 'em_bob'), 'ignored', 'a valid token from another sender is ignored');
select is((select v from outcomes where k = 'em_closed'), 'ignored', 'a reply to a closed ticket is ignored');
select is((select string_agg(e.email_id || ': ' || e.reason, '; ' order by e.email_id) from ops.inbound_emails e
            where e.email_id in ('em_bob', 'em_closed')),
  'em_bob: the sender is not the requester of ticket ' || (select ref from public.support_tickets where id = '00000000-0000-4000-8000-00000027f001')
    || '; em_closed: ticket ' || (select ref from public.support_tickets where id = '00000000-0000-4000-8000-00000027f002')
    || ' is closed: the requester opens a follow-up in the app',
  'each says why');
select is((select count(*)::int from public.ticket_messages m where m.via = 'email'), 2,
  'forged, automatic, foreign and closed replies wrote no message');

-- ---------------------------------------------------------------- who may answer
call tests.authenticate_as('00000000-0000-4000-8000-0000000027d1', '{"email":"alice@replies.test"}', p_via => 'dashboard');
select ok(ops.admin_reply_to_ticket('00000000-0000-4000-8000-00000027f001', 'From the dashboard.') > 0,
  'an admin on the dashboard answers (an audit row)');
reset session authorization;
select is((select row(m.author_kind, m.author_id, m.author_name, m.via)::text from public.ticket_messages m
            where m.body = 'From the dashboard.'),
  row('agent', '00000000-0000-4000-8000-0000000027d1'::uuid, 'alice@replies.test', 'dashboard')::text,
  'the dashboard''s reply names the admin');
call tests.authenticate_as('00000000-0000-4000-8000-0000000027a1', p_via => 'dashboard');
select is(split_part(tests.row_count_or_error($$select ops.admin_reply_to_ticket('00000000-0000-4000-8000-00000027f001', 'x')$$), ':', 1),
  '42501', 'a requester cannot answer as support on the dashboard');
select is(split_part(tests.row_count_or_error($$select ops.reply_to_ticket('00000000-0000-4000-8000-00000027f001', 'x', 'me')$$), ':', 1),
  '42501', 'nor call Studio''s door (service_role and the owner only)');
reset session authorization;
set local role provider_webhook;
insert into outcomes select 'webhook replies',
  pg_temp.sqlstate_of($$select ops.reply_to_ticket('00000000-0000-4000-8000-00000027f001', 'x', 'me')$$);
reset role;
select is((select v from outcomes where k = 'webhook replies'), '42501', 'resend-webhook''s role cannot answer as support');
select is(split_part(tests.row_count_or_error($$update public.ticket_messages set author_name = 'Mallory' where via = 'studio'$$), ':', 1),
  '42501', 'who answered never changes (audit trail)');
select ok((select relrowsecurity from pg_class where oid = 'ops.inbound_emails'::regclass), 'RLS is on for ops.inbound_emails');

select * from finish();
rollback;
