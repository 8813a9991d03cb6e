-- Support both ways (#20): an agent's reply (Studio: ops.reply_to_ticket; the dashboard:
-- ops.admin_reply_to_ticket) is a ticket_messages row marked author_kind 'agent' and emailed to the requester
-- once (notify.email ticket_reply, dedupe key per message); the requester's email reply comes back through
-- resend-webhook (ops.record_inbound_email, once per Resend email id). Adds columns and a table; destroys nothing.

-- ---------------------------------------------------------------- who wrote a message, and through what

alter table public.ticket_messages
  add column if not exists author_name text check (length(author_name) between 1 and 200),
  add column if not exists via text check (via in ('app', 'dashboard', 'studio', 'email')),
  add column if not exists email_message_id text check (length(email_message_id) between 1 and 998);
comment on column public.ticket_messages.author_kind is
  'Who wrote it: requester, agent (support: the dashboard, Studio or the Data API as an admin), system, party. '
  'The support side is author_kind = ''agent''; a ticket is answered when its newest non-internal message is one.';
comment on column public.ticket_messages.author_name is
  'The agent as the requester reads it (the admin''s email, or the name given to ops.reply_to_ticket); '
  'null for requesters, parties and system notes.';
comment on column public.ticket_messages.via is
  'How it arrived: app (the Data API), dashboard, studio (ops.reply_to_ticket), email (a reply to our email).';
comment on column public.ticket_messages.email_message_id is
  'The Message-ID header of the requester''s email that carried it (via email): later replies thread to it.';

-- the audit trail's rule (ticket_messages_010_append_only) covers the columns of #9; these are as final
create or replace function ops.ticket_messages_authorship_final() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (new.author_name, new.via, new.email_message_id) is distinct from (old.author_name, old.via, old.email_message_id)
  then
    raise exception 'ticket messages are an audit trail: who wrote what, for whom and when never changes'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;
drop trigger if exists ticket_messages_011_authorship_final on public.ticket_messages;
create trigger ticket_messages_011_authorship_final before update on public.ticket_messages
  for each row execute function ops.ticket_messages_authorship_final();

-- ---------------------------------------------------------------- inbound emails, each recorded once

create table if not exists ops.inbound_emails (
  email_id text primary key check (length(email_id) between 1 and 255),
  delivery_id text check (length(delivery_id) <= 255),
  received_at timestamptz not null default now(),
  ticket_id uuid references public.support_tickets (id) on delete set null,
  message_id uuid references public.ticket_messages (id) on delete set null,
  outcome text not null check (outcome in ('appended', 'ignored')),
  reason text check (length(reason) <= 500),
  sender_masked text check (length(sender_masked) <= 320),
  check ((outcome = 'ignored') = (reason is not null))
);
comment on table ops.inbound_emails is
  'Emails received on the inbound domain (Resend email.received), once per Resend email id: appended to their '
  'ticket, or ignored with the reason (forged or unknown token, auto-reply, closed ticket, another sender). '
  'The sender is kept masked.';
create index if not exists inbound_emails_ticket_idx on ops.inbound_emails (ticket_id);
create index if not exists inbound_emails_message_idx on ops.inbound_emails (message_id);
alter table ops.inbound_emails enable row level security;

-- ---------------------------------------------------------------- an agent's reply

-- security definer: Studio (the owner) and service_role answer for support; the function writes an agent's
-- message (the author trigger would take a caller of the API for the requester) and enqueues its email, which
-- service_role may not do itself. One door for both: ops.admin_reply_to_ticket (the dashboard) calls it too.
create or replace function ops.reply_to_ticket(p_ticket text, p_body text, p_agent text, p_via text default 'studio')
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  t public.support_tickets;
  body text := trim(p_body);
  agent text := nullif(trim(p_agent), '');
  msg uuid;
begin
  if body is null or body = '' then
    raise exception 'the reply is empty: write what the requester should read'
      using errcode = 'invalid_parameter_value';
  elsif length(body) > 10000 then
    raise exception 'the reply is longer than 10,000 characters' using errcode = 'invalid_parameter_value';
  elsif agent is null or length(agent) > 200 or agent ~ '[\r\n]' then
    raise exception 'name the agent who answers (p_agent: one line, at most 200 characters)'
      using errcode = 'invalid_parameter_value';
  elsif p_via is null or p_via not in ('studio', 'dashboard') then
    raise exception 'p_via must be studio or dashboard' using errcode = 'invalid_parameter_value';
  end if;
  select * into t from public.support_tickets x
   where x.id = ops.as_uuid(trim(p_ticket)) or x.ref = upper(trim(p_ticket))
   for update;
  if not found then
    raise exception 'no ticket %', left(p_ticket, 60) using errcode = 'no_data_found';
  elsif t.requester_id is null then
    raise exception 'ticket % has no requester (a system ticket): nobody to answer by email; '
      'write an internal note instead', t.ref using errcode = 'check_violation';
  elsif t.status = 'closed' then
    raise exception 'ticket % is closed: the requester opens a follow-up to continue', t.ref
      using errcode = 'check_violation';
  end if;
  -- clock_timestamp(): replies and inbound emails of one transaction keep their order in the thread
  insert into public.ticket_messages (ticket_id, author_id, author_kind, author_name, via, body, visibility, created_at)
  values (t.id, case when p_via = 'dashboard' then auth.uid() end, 'agent', agent, p_via, body,
          case when t.category in ('seller_problem', 'buyer_problem') then 'parties' else 'requester' end,
          clock_timestamp())
  returning id into msg;
  return msg;
end
$$;
comment on function ops.reply_to_ticket(text, text, text, text) is
  'Answers a ticket as support: one agent message and one ticket_reply email to the requester. Usage (Studio): '
  'select ops.reply_to_ticket(''T-000012'', ''Your refund is on its way.'', ''Alice (support)'');';
revoke all on function ops.reply_to_ticket(text, text, text, text) from public;
grant execute on function ops.reply_to_ticket(text, text, text, text) to service_role;

-- security definer: as every dashboard door (ops.admin_*), for the signed-in admin (private.is_admin()),
-- who may not call ops.reply_to_ticket directly; the agent is the admin's verified email, the audit row says so.
create or replace function ops.admin_reply_to_ticket(p_ticket_id uuid, p_body text) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  msg uuid;
  t public.support_tickets;
begin
  perform ops.require_admin();
  msg := ops.reply_to_ticket(p_ticket_id::text, p_body,
                             coalesce(auth.jwt() ->> 'email', 'support'), 'dashboard');
  select * into t from public.support_tickets x where x.id = p_ticket_id;
  return ops.write_audit('ticket.reply', 'ticket:' || t.ref, null,
                         jsonb_build_object('message_id', msg, 'status', t.status), 'agent reply');
end
$$;
revoke all on function ops.admin_reply_to_ticket(uuid, text) from public;
grant execute on function ops.admin_reply_to_ticket(uuid, text) to authenticated;

-- ---------------------------------------------------------------- the reply's email

-- security definer: an agent writing through the Data API (an admin) may not enqueue jobs or read auth.users;
-- this reads only the row's ticket, its requester's address and the thread before the row.
create or replace function ops.ticket_messages_email_reply() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  t record;
  to_email text;
  first_reply uuid;
  parent record;
begin
  select x.id, x.ref, x.subject, x.requester_id into t from public.support_tickets x where x.id = new.ticket_id;
  if t.requester_id is null then
    return null;
  end if;
  to_email := ops.notify_recipient_email('user:' || t.requester_id);
  if to_email is null then
    return null;
  end if;
  -- the thread: our first reply's Message-ID is the ticket's root; a reply answers the newest earlier email
  -- of the thread, the requester's (their Message-ID) or ours
  select m.id into first_reply from public.ticket_messages m
   where m.ticket_id = new.ticket_id and m.author_kind = 'agent' and m.visibility <> 'internal'
   order by m.created_at, m.id limit 1;
  select m.id, m.author_kind, m.email_message_id into parent from public.ticket_messages m
   where m.ticket_id = new.ticket_id and m.id <> new.id and m.created_at <= new.created_at
     and ((m.author_kind = 'agent' and m.visibility <> 'internal') or m.email_message_id is not null)
   order by m.created_at desc, m.id desc limit 1;
  perform ops.enqueue_notification('email', 'ticket_reply', 'message:' || new.id, 'user:' || t.requester_id,
    jsonb_build_object('to', to_email, 'data', jsonb_strip_nulls(jsonb_build_object(
      'to', to_email,
      'customer_name', (select coalesce(c.name, p.display_name) from public.profiles p
                          left join public.customers c on c.user_id = p.id where p.id = t.requester_id),
      'ticket_id', t.id, 'ticket_ref', t.ref, 'subject', t.subject,
      'message_id', new.id, 'message', new.body, 'agent_name', new.author_name,
      'first_reply_id', coalesce(first_reply, new.id),
      'parent_reply_id', case when parent.author_kind = 'agent' then parent.id end,
      'parent_email_message_id',
        case when parent.author_kind <> 'agent' then parent.email_message_id end))));
  return null;
end
$$;
revoke all on function ops.ticket_messages_email_reply() from public;
drop trigger if exists ticket_messages_600_email_reply on public.ticket_messages;
create trigger ticket_messages_600_email_reply after insert on public.ticket_messages
  for each row when (new.author_kind = 'agent' and new.visibility <> 'internal')
  execute function ops.ticket_messages_email_reply();

-- ---------------------------------------------------------------- the requester's reply by email

-- security definer: the role provider_webhook reads and writes no table; resend-webhook verified the Svix
-- signature and the reply address's token (which names p_ticket_id) before calling. This records the email once
-- by Resend's id and appends it to its ticket as the requester's, or records why not.
create or replace function ops.record_inbound_email(
  p_email_id text, p_delivery_id text, p_ticket_id uuid, p_sender text, p_sender_masked text,
  p_email_message_id text, p_body text, p_ignored_reason text
) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  reason text := left(nullif(trim(p_ignored_reason), ''), 500);
  body text := left(trim(p_body), 10000);
  v_ticket uuid;
  v_ref text;
  v_status text;
  v_requester uuid;
  v_email text;
  msg uuid;
begin
  if p_email_id is null or length(p_email_id) not between 1 and 255 then
    raise exception 'an inbound email needs Resend''s email id' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('inbound_email:' || p_email_id, 0));
  if exists (select 1 from ops.inbound_emails e where e.email_id = p_email_id) then
    return 'duplicate';
  end if;
  if reason is null then
    select x.id, x.ref, x.status, x.requester_id, lower(trim(u.email))
      into v_ticket, v_ref, v_status, v_requester, v_email
      from public.support_tickets x left join auth.users u on u.id = x.requester_id
     where x.id = p_ticket_id for update of x;
    if v_ticket is null then
      reason := 'the token names no ticket (deleted)';
    elsif v_email is null then
      reason := format('ticket %s has no requester address to match', v_ref);
    elsif v_email is distinct from lower(trim(p_sender)) then
      reason := format('the sender is not the requester of ticket %s', v_ref);
    elsif v_status = 'closed' then
      reason := format('ticket %s is closed: the requester opens a follow-up in the app', v_ref);
    elsif body is null or body = '' then
      reason := 'no text above the quoted history';
    end if;
  end if;
  if reason is null then
    -- visibility as the author trigger chooses for the requester (parties on a buyer/seller problem)
    insert into public.ticket_messages (ticket_id, author_id, author_kind, via, email_message_id, body, created_at)
    values (v_ticket, v_requester, 'requester', 'email', left(nullif(trim(p_email_message_id), ''), 998), body,
            clock_timestamp())
    returning id into msg;
  end if;
  insert into ops.inbound_emails (email_id, delivery_id, ticket_id, message_id, outcome, reason, sender_masked)
  values (p_email_id, left(p_delivery_id, 255),
          coalesce(v_ticket, (select x.id from public.support_tickets x where x.id = p_ticket_id)), msg,
          case when msg is null then 'ignored' else 'appended' end, reason, left(p_sender_masked, 320));
  return case when msg is null then 'ignored' else 'appended' end;
end
$$;
revoke all on function ops.record_inbound_email(text, text, uuid, text, text, text, text, text) from public;
grant execute on function ops.record_inbound_email(text, text, uuid, text, text, text, text, text) to provider_webhook;
