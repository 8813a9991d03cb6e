-- Disputes between people (#18): a buyer's "problem with the seller" (category seller_problem, an order they
-- bought) and a seller's problem with a buyer (buyer_problem, an order they sold), opened through support-intake
-- only, routed to a new seller_disputes queue (chargebacks stay in disputes). Both parties of the order read the
-- ticket's state and the messages meant for them (ticket_messages.visibility); the seller reads the chargeback
-- ticket of their order and adds notes. Messages become an append-only audit trail. Replaces the support desk's
-- prepare, author and route triggers and its ticket and message policies (0200, 1600).

insert into ops.support_queues (queue, description) values
  ('seller_disputes', 'Problems between a buyer and a seller about an order (not chargebacks: those are disputes)')
on conflict (queue) do nothing;

alter table public.support_tickets drop constraint if exists support_tickets_category_check;
alter table public.support_tickets add constraint support_tickets_category_check check (category in (
  'billing', 'order', 'technical', 'account', 'other', 'dispute', 'payment_failed', 'payout_failed', 'seller_problem',
  'buyer_problem'));

-- first by position: a founder's later rules still add priority and tags
insert into ops.support_routing_rules (position, description, match_categories, set_queue, add_tags)
select 5, 'Problems between a buyer and a seller go to seller_disputes', array['seller_problem', 'buyer_problem'],
       'seller_disputes', array['between-parties']
 where not exists (select 1 from ops.support_routing_rules r where r.set_queue = 'seller_disputes');

-- ---------------------------------------------------------------- messages: audience, author, audit trail
-- visibility: requester = the requester and support (every message before 0.4.0); parties = everyone who reads
-- the ticket (both parties of a seller_disputes ticket, the seller of a chargeback's); internal = support only.
alter table public.ticket_messages add column if not exists visibility text;
update public.ticket_messages set visibility = 'requester' where visibility is null;
alter table public.ticket_messages alter column visibility set not null;
alter table public.ticket_messages drop constraint if exists ticket_messages_visibility_check;
alter table public.ticket_messages add constraint ticket_messages_visibility_check
  check (visibility in ('requester', 'parties', 'internal'));
-- party: the order's other party (or the seller of a chargeback), writing on a ticket they did not open
alter table public.ticket_messages drop constraint if exists ticket_messages_author_kind_check;
alter table public.ticket_messages add constraint ticket_messages_author_kind_check
  check (author_kind in ('requester', 'agent', 'system', 'party'));
-- a door call repeated with its key adds one message
alter table public.ticket_messages add column if not exists idempotency_key text
  check (length(idempotency_key) between 1 and 200);
create unique index if not exists ticket_messages_idempotency_idx on public.ticket_messages (author_id, idempotency_key)
  where idempotency_key is not null;
-- the per-author rate limit counts an author's recent messages
create index if not exists ticket_messages_author_recent_idx on public.ticket_messages (author_id, created_at);
comment on column public.ticket_messages.visibility is 'Who reads the message: requester (the requester and '
  'support), parties (everyone who reads the ticket: both parties of an order''s seller_disputes ticket, the seller '
  'of its chargeback ticket), internal (support only).';

-- Who wrote a message, and for whom, is the server's call: the signed-in user as requester on their own
-- ticket, agent (admins), or party (the order's other party; the seller of a chargeback); each may address
-- only their own audience. Pipeline inserts keep their author; every message gets its default audience:
-- parties on tickets between people and for a chargeback's notes (its seller follows it), else requester.
-- At most 20 messages per author in 10 minutes from the app (PT429).
create or replace function ops.ticket_messages_author() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  t record;
  uid uuid := auth.uid();
begin
  select x.requester_id, x.category into t from public.support_tickets x where x.id = new.ticket_id;
  if current_user in ('anon', 'authenticated') then
    new.author_id := uid;
    new.author_kind := case when t.requester_id = uid then 'requester' when private.is_admin() then 'agent'
                            else 'party' end;
    new.visibility := coalesce(new.visibility, case when new.author_kind = 'party' then 'parties' end);
    if new.author_kind = 'requester' and new.visibility = 'internal' then
      raise exception 'internal notes are for support agents: send your message as requester or parties'
        using errcode = 'PT403';
    elsif new.author_kind = 'party' and new.visibility is distinct from 'parties' then
      raise exception 'you take part in this ticket through its order: your messages are read by both parties '
        '(visibility parties); to write to support alone, open a request of your own' using errcode = 'PT403';
    end if;
    if (select count(*) from public.ticket_messages m
         where m.author_id = uid and m.created_at > now() - interval '10 minutes') >= 20 then
      raise exception 'too many messages: wait a few minutes, then send it again' using errcode = 'PT429';
    end if;
  end if;
  new.visibility := coalesce(new.visibility,
    case when t.category in ('seller_problem', 'buyer_problem')
              or (t.category = 'dispute' and new.author_kind = 'system') then 'parties'
         else 'requester' end);
  return new;
end
$$;

-- A message from the requester or a party (or a system note about the same case) reopens a solved ticket and
-- marks a pending one open again; an agent's reply marks an open one pending; an internal note changes nothing.
-- On a closed ticket it is refused (support-intake opens a follow-up instead).
-- security definer: the requester and the parties may insert messages but not update tickets.
create or replace function ops.ticket_messages_route() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.author_kind in ('requester', 'system', 'party') then
    update public.support_tickets t
       set status = case when t.status in ('solved', 'pending') then 'open' else t.status end,
           last_message_at = new.created_at
     where t.id = new.ticket_id and t.status <> 'closed';
    if not found then
      raise exception 'ticket is closed: send the message as a new request (it links back to the closed ticket)'
        using errcode = 'check_violation';
    end if;
  elsif new.visibility <> 'internal' then
    update public.support_tickets t
       set status = case when t.status = 'open' then 'pending' else t.status end, last_message_at = new.created_at
     where t.id = new.ticket_id;
  end if;
  return null;
end
$$;

-- The audit trail: what was written, by whom, for whom and when never changes and is never deleted. Only
-- erasure (#16) rewrites a body ('[erased]', or a system note's emails scrubbed) and a deleted user's messages
-- lose their author; a ticket deleted with its messages (the cascade) is the one delete.
create or replace function ops.ticket_messages_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    if pg_trigger_depth() > 1 then
      return old;
    end if;
    raise exception 'ticket messages are an audit trail: they are never deleted (erasure redacts them)'
      using errcode = 'insufficient_privilege';
  end if;
  if (new.id, new.ticket_id, new.author_kind, new.visibility, new.created_at, new.idempotency_key)
       is distinct from (old.id, old.ticket_id, old.author_kind, old.visibility, old.created_at, old.idempotency_key)
     or (new.author_id is distinct from old.author_id and new.author_id is not null)
     or (new.body is distinct from old.body and new.body <> '[erased]' and old.author_kind <> 'system') then
    raise exception 'ticket messages are an audit trail: who wrote what, for whom and when never changes'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$$;
drop trigger if exists ticket_messages_010_append_only on public.ticket_messages;
create trigger ticket_messages_010_append_only before update or delete on public.ticket_messages
  for each row execute function ops.ticket_messages_append_only();

-- ---------------------------------------------------------------- opening a request (support-intake only)
-- security definer: the requester (role authenticated) cannot read the routing rules, the jobs, or
-- another table the context comes from; this trigger reads them for the row being inserted only.
-- As 0200's, plus the requests between people: seller_problem names an order the requester bought,
-- buyer_problem one they sold (42501 otherwise; P0002 for an order that does not exist).
create or replace function ops.support_tickets_prepare() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ctx jsonb;
  route record;
  earlier text;
  ord record;
begin
  if new.source = 'app' then
    if session_user <> 'support_intake' then
      raise exception 'support requests are opened through the support-intake function, not the Data API'
        using errcode = 'insufficient_privilege';
    end if;
    if new.category not in ('billing', 'order', 'technical', 'account', 'other', 'seller_problem',
                            'buyer_problem') then
      raise exception 'category must be one of billing, order, technical, account, other, seller_problem, '
        'buyer_problem' using errcode = 'check_violation';
    end if;
    new.requester_id := auth.uid();
    if new.requester_id is null then
      raise exception 'a support request needs a signed-in user' using errcode = 'insufficient_privilege';
    end if;
    if new.category in ('seller_problem', 'buyer_problem') then
      if new.order_id is null then
        raise exception 'a % request names the order it is about (order_id)', new.category
          using errcode = 'check_violation';
      end if;
      select x.buyer_id, x.seller_id into ord from public.orders x where x.id = new.order_id;
      if not found then
        raise exception 'order % does not exist', new.order_id using errcode = 'no_data_found';
      elsif new.category = 'seller_problem' and ord.buyer_id is distinct from new.requester_id then
        raise exception 'order % is not an order you bought: a problem with the seller is reported by the buyer',
          new.order_id using errcode = 'insufficient_privilege';
      elsif new.category = 'buyer_problem' and ord.seller_id is distinct from new.requester_id then
        raise exception 'order % is not an order you sold: a problem with the buyer is reported by the seller',
          new.order_id using errcode = 'insufficient_privilege';
      end if;
    elsif new.order_id is not null and not exists (
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
  -- `-` binds tighter than `||`: without the parentheses customer_id stayed (it is a column already)
  new.context := (ctx || coalesce(new.context, '{}'::jsonb)) - 'customer_id';
  new.ref := 'T-' || lpad(nextval('ops.support_ticket_ref_seq')::text, 6, '0');
  new.reopened_count := 0;
  new.last_message_at := now();
  return new;
end
$$;

-- ---------------------------------------------------------------- who reads and writes what
-- Tickets: requesters theirs; the seller of an order its chargeback ticket and both parties its tickets between
-- people; admins all. The columns stay 0200's (never context, tags, priority, device).
drop policy if exists "Requesters read their tickets, sellers disputes, admins all" on public.support_tickets;
drop policy if exists "Requesters and the order's parties read tickets, admins all" on public.support_tickets;
create policy "Requesters and the order's parties read tickets, admins all" on public.support_tickets
  for select to authenticated using (
    requester_id = (select auth.uid())
    or ((queue = 'disputes' or category in ('seller_problem', 'buyer_problem'))
        and order_id in (select o.id from public.orders o where o.seller_id = (select auth.uid())))
    or (category in ('seller_problem', 'buyer_problem')
        and order_id in (select o.id from public.orders o where o.buyer_id = (select auth.uid())))
    or (select private.is_admin())
  );

-- Messages: parties messages to everyone who reads the ticket (the ticket's own policy decides), requester
-- messages to the requester, internal notes to admins only.
grant insert (ticket_id, body, visibility, idempotency_key) on public.ticket_messages to authenticated;
drop policy if exists "Requesters read their messages, admins all" on public.ticket_messages;
drop policy if exists "Ticket readers read the messages meant for them, admins all" on public.ticket_messages;
create policy "Ticket readers read the messages meant for them, admins all" on public.ticket_messages
  for select to authenticated using (
    (visibility = 'parties' and ticket_id in (select t.id from public.support_tickets t))
    or (visibility = 'requester'
        and ticket_id in (select t.id from public.support_tickets t where t.requester_id = (select auth.uid())))
    or (select private.is_admin())
  );
drop policy if exists "Requesters write on their own tickets, admins on every ticket" on public.ticket_messages;
drop policy if exists "Requesters and parties write on their tickets, admins on all" on public.ticket_messages;
create policy "Requesters and parties write on their tickets, admins on all" on public.ticket_messages
  for insert to authenticated with check (
    author_id = (select auth.uid()) and not (select private.is_anonymous())
    and ((author_kind = 'requester' and visibility in ('requester', 'parties')
          and ticket_id in (select t.id from public.support_tickets t where t.requester_id = (select auth.uid())))
         or (author_kind = 'party' and visibility = 'parties'
             and ticket_id in (select t.id from public.support_tickets t))
         or (select private.is_admin()))
  );

-- ---------------------------------------------------------------- the app's door for messages and notes
-- A requester, a party or an admin adds a message to a ticket they read (supabase-js rpc). security invoker:
-- RLS and the triggers above decide; this words the refusals (PT400 body or visibility, PT403 not yours to
-- address so, PT404 no such ticket of yours, PT409 closed, PT429 too many) and makes a call repeated with its
-- p_idempotency_key add one message. p_visibility null: the author's default audience.
create or replace function public.add_ticket_message(p_ticket_id uuid, p_body text, p_visibility text default null,
  p_idempotency_key text default null)
returns table (message_id uuid, ticket_id uuid, author_kind text, visibility text, created_at timestamptz,
               created boolean)
language plpgsql
set search_path = ''
as $$
declare
  body text := trim(p_body);
  t_status text;
  v_id uuid;
begin
  if auth.uid() is null or private.is_anonymous() then
    raise exception 'sign in with an account to write on a ticket' using errcode = 'PT403';
  end if;
  if body is null or length(body) not between 1 and 10000 then
    raise exception 'the message must be 1 to 10,000 characters' using errcode = 'PT400';
  end if;
  if p_visibility is not null and p_visibility not in ('requester', 'parties', 'internal') then
    raise exception 'visibility must be requester, parties or internal' using errcode = 'PT400';
  end if;
  if p_idempotency_key is not null and length(p_idempotency_key) not between 1 and 200 then
    raise exception 'idempotency_key must be 1 to 200 characters' using errcode = 'PT400';
  end if;
  select t.status into t_status from public.support_tickets t where t.id = p_ticket_id;
  if not found then
    raise exception 'ticket % is not one of your tickets', p_ticket_id using errcode = 'PT404';
  elsif t_status = 'closed' then
    raise exception 'the ticket is closed: open a new request about it' using errcode = 'PT409';
  end if;
  insert into public.ticket_messages as m (ticket_id, body, visibility, idempotency_key)
  values (p_ticket_id, body, p_visibility, p_idempotency_key)
  on conflict (author_id, idempotency_key) where idempotency_key is not null do nothing
  returning m.id into v_id;
  return query
    select m.id, m.ticket_id, m.author_kind, m.visibility, m.created_at, v_id is not null
      from public.ticket_messages m
     where (v_id is not null and m.id = v_id)
        or (v_id is null and m.author_id = auth.uid() and m.idempotency_key = p_idempotency_key);
end
$$;
grant execute on function public.add_ticket_message(uuid, text, text, text) to authenticated;
