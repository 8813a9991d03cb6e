-- #16: the outside review's findings on the support desk and the admin doors. Tickets from the app are
-- opened only through support-intake (its rate limits and checks), not by the Data API; each reader of a
-- ticket gets only its columns (no context, tags or device); and admin rights need a session that came
-- through a door which verified the token (PostgREST or the dashboard), never support-intake's login.

-- ---------------------------------------------------------------------------------------------------
-- Admin: the JWT's app_metadata.role, in a session whose login verified that JWT. support-intake and the
-- dashboard both set request.jwt.claims themselves; only the dashboard (which lets admins only) may set
-- an admin's, so a leaked support-intake database URL can act as any user but never as an admin.
create or replace function private.is_admin() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(auth.jwt() -> 'app_metadata' ->> 'role' = 'admin', false)
     and session_user in ('authenticator', 'dashboard', 'postgres', 'supabase_admin')
$$;

-- ---------------------------------------------------------------------------------------------------
-- Tickets: opened through support-intake only. The trigger already ran for every insert and cannot be
-- skipped; it now also refuses app tickets from any other login (the Data API's authenticator above
-- all), and categories a requester may not choose, whoever inserts.
-- security definer: the requester (role authenticated) cannot read the routing rules, the jobs, or
-- another table the context comes from; this trigger reads them for the row being inserted only.
create or replace function ops.support_tickets_prepare() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  ctx jsonb;
  route record;
  earlier text;
begin
  if new.source = 'app' then
    if session_user <> 'support_intake' then
      raise exception 'support requests are opened through the support-intake function, not the Data API'
        using errcode = 'insufficient_privilege';
    end if;
    if new.category not in ('billing', 'order', 'technical', 'account', 'other') then
      raise exception 'category must be one of billing, order, technical, account, other'
        using errcode = 'check_violation';
    end if;
    new.requester_id := auth.uid();
    if new.requester_id is null then
      raise exception 'a support request needs a signed-in user' using errcode = 'insufficient_privilege';
    end if;
    if new.order_id is not null and not exists (
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

update public.support_tickets set context = context - 'customer_id' where context ? 'customer_id';

-- The app's door, as before, returning only the columns its caller may read (see the grants below).
create or replace function public.submit_support_request(
  p_category text, p_subject text, p_message text, p_order_id uuid default null,
  p_idempotency_key text default null, p_client_context jsonb default '{}'::jsonb, p_follow_up_of uuid default null
) returns table (ticket_id uuid, ref text, status text, queue text, created boolean)
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.support_tickets as x (category, subject, order_id, idempotency_key, client_context, follow_up_of)
  values (p_category, p_subject, p_order_id, p_idempotency_key, coalesce(p_client_context, '{}'::jsonb), p_follow_up_of)
  on conflict (requester_id, idempotency_key) where idempotency_key is not null do nothing
  returning x.id into v_id;
  if v_id is not null then
    insert into public.ticket_messages (ticket_id, body) values (v_id, p_message);
  end if;
  -- a repeat: the prepare trigger left the key it matched (the client's, or the earlier request's)
  return query
    select x.id, x.ref, x.status, x.queue, v_id is not null from public.support_tickets x
     where (v_id is not null and x.id = v_id)
        or (v_id is null and x.requester_id = auth.uid()
            and x.idempotency_key = current_setting('support.request_key', true));
end
$$;

-- ---------------------------------------------------------------------------------------------------
-- Readers' columns. Buyers (their own tickets) and sellers (dispute tickets on their orders) are both
-- `authenticated`, and column grants are per role: so the role reads what both may see, the ticket's
-- state, never what the server knew (context: lifetime value, billing, VIP, last pipeline error),
-- routing internals (priority, tags, case) or the requester's device (client_context). Admins read
-- those through the dashboard's doors; the server through service_role.
revoke select on public.support_tickets from authenticated;
grant select (id, ref, requester_id, order_id, source, category, subject, status, queue, idempotency_key,
              follow_up_of, reopened_count, last_message_at, solved_at, closed_at, created_at, updated_at)
  on public.support_tickets to authenticated;

-- Sellers see that a dispute on their order is being handled (the ticket), not its conversation.
drop policy if exists "Requesters read their messages, sellers disputes', admins all" on public.ticket_messages;
drop policy if exists "Requesters read their messages, admins all" on public.ticket_messages;
create policy "Requesters read their messages, admins all" on public.ticket_messages
  for select to authenticated using (
    ticket_id in (select t.id from public.support_tickets t where t.requester_id = (select auth.uid()))
    or (select private.is_admin())
  );
