-- Fulfilment (#18): the app's doors through the order lifecycle after payment. The seller (or an admin) marks a
-- paid order shipped (in_fulfillment, optional tracking) and completed, the buyer confirms receipt, and pg_cron
-- completes orders left in fulfilment for ops.settings.auto_complete_after_days. Adds tracking and fulfilment
-- times to public.orders, who made each status change to ops.status_changes, and the buyer's two emails.

-- ---------------------------------------------------------------- settings and columns
alter table ops.settings add column if not exists auto_complete_after_days integer not null default 14
  check (auto_complete_after_days between 1 and 365);
comment on column ops.settings.auto_complete_after_days is 'An order in fulfilment (shipped) this many days is '
  'completed by pg_cron (ops.auto_complete_orders), as if the buyer had confirmed receipt. Default 14.';

alter table public.orders add column if not exists tracking_carrier text
  constraint orders_tracking_carrier_check check (tracking_carrier ~ '^[^[:cntrl:]]{1,100}$');
alter table public.orders add column if not exists tracking_number text
  constraint orders_tracking_number_check check (tracking_number ~ '^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$');
alter table public.orders add column if not exists tracking_url text
  constraint orders_tracking_url_check check (length(tracking_url) <= 500
    and tracking_url ~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^[:space:][:cntrl:]]*)?$');
-- when the order last entered in_fulfillment / completed (the auto-complete clock), set by a trigger
alter table public.orders add column if not exists fulfillment_started_at timestamptz;
alter table public.orders add column if not exists completed_at timestamptz;
create index if not exists orders_auto_complete_idx on public.orders (fulfillment_started_at)
  where status = 'in_fulfillment';

-- Buyer, seller and admins read the tracking and the fulfilment times; the seller (or an admin) writes the
-- tracking and both parties move the status, under the policy and the guard below (column grants first).
grant select (tracking_carrier, tracking_number, tracking_url, fulfillment_started_at, completed_at)
  on public.orders to authenticated;
grant update (status, tracking_carrier, tracking_number, tracking_url) on public.orders to authenticated;

drop policy if exists "Buyers, sellers and admins move their orders through fulfilment" on public.orders;
create policy "Buyers, sellers and admins move their orders through fulfilment" on public.orders
  for update to authenticated
  using ((buyer_id = (select auth.uid()) or seller_id = (select auth.uid()) or (select private.is_admin()))
         and not (select private.is_anonymous()))
  with check ((buyer_id = (select auth.uid()) or seller_id = (select auth.uid()) or (select private.is_admin()))
              and not (select private.is_anonymous()));

-- ---------------------------------------------------------------- the guard of the app's moves
-- The app (role authenticated, through the doors below or a Data API update) may make the fulfilment moves
-- and nothing else: paid -> in_fulfillment and tracking by the seller or an admin; in_fulfillment ->
-- completed by the seller, an admin or the buyer. Refusals carry SQLSTATE PT<http status> (PostgREST answers
-- that status, supabase-js hands the code over) and a sentence for the person; nothing changes.
-- security definer: it reads ops.order_status_transitions, which the app's roles cannot read.
create or replace function ops.orders_guard_app_moves() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  uid uuid := auth.uid();
  ref text := upper(left(old.id::text, 8));
  is_admin boolean := private.is_admin();
  is_seller boolean := old.seller_id = uid;
  is_buyer boolean := old.buyer_id = uid;
begin
  if uid is null or private.is_anonymous() then
    raise exception 'sign in with an account to change an order' using errcode = 'PT403';
  end if;
  if new.status is distinct from old.status then
    if new.status not in ('in_fulfillment', 'completed') then
      raise exception 'order % cannot be moved to % by the app: payments, refunds and disputes come from Stripe',
        ref, new.status using errcode = 'PT403';
    end if;
    if new.status = 'in_fulfillment' and not (is_seller or is_admin) then
      raise exception 'only the seller of order % (or an admin) can mark it shipped', ref using errcode = 'PT403';
    end if;
    if new.status = 'completed' and not (is_seller or is_admin or is_buyer) then
      raise exception 'only the buyer or the seller of order % can complete it', ref using errcode = 'PT403';
    end if;
    if not exists (select 1 from ops.order_status_transitions t
                    where t.from_status = old.status and t.to_status = new.status) then
      raise exception 'order % is %, so it cannot move to %: %', ref, old.status, new.status,
        case new.status when 'in_fulfillment' then 'only a paid order can be marked shipped'
                        else 'only an order in fulfilment (shipped) can be completed' end
        using errcode = 'PT409';
    end if;
  end if;
  if (new.tracking_carrier, new.tracking_number, new.tracking_url)
     is distinct from (old.tracking_carrier, old.tracking_number, old.tracking_url) then
    if not (is_seller or is_admin) then
      raise exception 'only the seller of order % (or an admin) can set its tracking', ref using errcode = 'PT403';
    end if;
    if new.status <> 'in_fulfillment' then
      raise exception 'order % is %: tracking is set when it ships (in fulfilment)', ref, new.status
        using errcode = 'PT409';
    end if;
  end if;
  return new;
end
$$;
drop trigger if exists orders_150_guard_app_moves on public.orders;
create trigger orders_150_guard_app_moves before update on public.orders
  for each row when (current_user in ('authenticated', 'anon'))
  execute function ops.orders_guard_app_moves();

-- The fulfilment clock, for every writer (the app, Studio, the pipeline): when the order entered each state.
create or replace function ops.orders_fulfilment_times() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.status = 'in_fulfillment' and old.status is distinct from 'in_fulfillment' then
    new.fulfillment_started_at := now();
  elsif new.status = 'completed' and old.status is distinct from 'completed' then
    new.completed_at := now();
  end if;
  return new;
end
$$;
drop trigger if exists orders_210_fulfilment_times on public.orders;
create trigger orders_210_fulfilment_times before update of status on public.orders
  for each row when (new.status is distinct from old.status)
  execute function ops.orders_fulfilment_times();

-- ---------------------------------------------------------------- who moved it
alter table ops.status_changes add column if not exists changed_by uuid;
alter table ops.status_changes add column if not exists actor text;
comment on column ops.status_changes.changed_by is 'The signed-in user (auth.uid()) whose request made the change.';
comment on column ops.status_changes.actor is 'Who made the change: seller, buyer, admin, requester or user (an app '
  'request), stripe (an event), auto_complete (pg_cron), else system:<login> (Studio, a worker).';

-- security definer: status changes are written by the pipeline, the app (tickets, fulfilment) and operators,
-- and none of them may write the history directly. Now also records who made the change.
create or replace function ops.record_status_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  old_status text := case when tg_op = 'UPDATE' then to_jsonb(old) ->> tg_argv[1] end;
  new_status text := to_jsonb(new) ->> tg_argv[1];
  row_json jsonb := to_jsonb(new);
  uid uuid := auth.uid();
  event_id text := nullif(current_setting('ops.stripe_event_id', true), '');
begin
  if new_status is distinct from old_status then
    insert into ops.status_changes (entity, from_status, to_status, stripe_event_id, changed_by, actor)
    values (tg_argv[0] || ':' || new.id, old_status, new_status, event_id, uid,
            coalesce(nullif(current_setting('ops.status_actor', true), ''),
                     case when uid is null and event_id is not null then 'stripe'
                          when uid is null then 'system:' || session_user
                          when private.is_admin() then 'admin'
                          when uid::text = row_json ->> 'seller_id' then 'seller'
                          when uid::text = row_json ->> 'buyer_id' then 'buyer'
                          when uid::text = row_json ->> 'requester_id' then 'requester'
                          else 'user' end));
  end if;
  return null;
end
$$;

-- ---------------------------------------------------------------- the buyer's emails
-- One email when the order ships (with its tracking when given) and one when it is completed, keyed by the
-- order: a replay, a retry, or the order shipping again after a refund is taken back sends nothing twice.
-- What they say is frozen at the move (payload data and to), so the shipping email names the tracking the
-- seller gave when shipping. security definer: the movers (the app's buyer or seller, pg_cron) may not write
-- the job queue or read auth.users.
create or replace function ops.orders_notify_fulfilment() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  to_email text;
  data jsonb;
begin
  select lower(trim(u.email)) into to_email from auth.users u where u.id = new.buyer_id;
  if to_email is null then
    return null;
  end if;
  select jsonb_strip_nulls(jsonb_build_object(
           'order_ref', upper(left(new.id::text, 8)), 'item', l.title,
           'customer_name', coalesce(c.name, p.display_name),
           'carrier', new.tracking_carrier, 'tracking_number', new.tracking_number, 'tracking_url', new.tracking_url,
           'completed_by', case when new.status = 'completed' then
                             case nullif(current_setting('ops.status_actor', true), '')
                               when 'auto_complete' then 'auto'
                               else case when auth.uid() = new.buyer_id then 'buyer' else 'seller' end end end))
    into data
    from (select 1) x
    left join public.listings l on l.id = new.listing_id
    left join public.profiles p on p.id = new.buyer_id
    left join public.customers c on c.user_id = new.buyer_id;
  perform ops.enqueue_notification('email', case new.status when 'in_fulfillment' then 'order_shipped'
                                                            else 'order_completed' end,
    'order:' || new.id, 'user:' || new.buyer_id,
    jsonb_build_object('order_id', new.id, 'to', to_email, 'data', data));
  return null;
end
$$;
drop trigger if exists orders_610_notify_fulfilment on public.orders;
create trigger orders_610_notify_fulfilment after update of status on public.orders
  for each row when (new.status is distinct from old.status and new.status in ('in_fulfillment', 'completed')
                     and new.buyer_id is not null)
  execute function ops.orders_notify_fulfilment();

-- ---------------------------------------------------------------- the app's doors (supabase-js rpc)
-- security invoker: they run as the signed-in user, so RLS (the update policy above), the column grants and
-- the guard decide; they add checks worded for the person and make a repeated call change nothing.

-- The caller's relation to an order they can see (RLS): seller, admin or buyer; PT404 when they cannot see it.
-- In private, as the policies' helpers: the API does not expose it.
create or replace function private.order_party(p_order_id uuid) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  o record;
begin
  if auth.uid() is null or private.is_anonymous() then
    raise exception 'sign in with an account to change an order' using errcode = 'PT403';
  end if;
  select x.buyer_id, x.seller_id into o from public.orders x where x.id = p_order_id;
  if not found then
    raise exception 'order % is not one of your orders', p_order_id using errcode = 'PT404';
  end if;
  return case when o.seller_id = auth.uid() then 'seller' when private.is_admin() then 'admin'
              when o.buyer_id = auth.uid() then 'buyer' end;
end
$$;
grant execute on function private.order_party(uuid) to authenticated;

-- The seller (or an admin) marks a paid order shipped, with optional tracking; on an order already in
-- fulfilment it sets or corrects the tracking (no second email). Refusals: PT400 bad tracking, PT403 not the
-- seller, PT404 not your order, PT409 the order is not paid (or already past fulfilment).
create or replace function public.ship_order(p_order_id uuid, p_carrier text default null,
  p_tracking_number text default null, p_tracking_url text default null)
returns table (order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text,
               fulfillment_started_at timestamptz, completed_at timestamptz)
language plpgsql
set search_path = ''
as $$
declare
  carrier text := nullif(trim(p_carrier), '');
  tracking text := nullif(trim(p_tracking_number), '');
  url text := nullif(trim(p_tracking_url), '');
  cur text;
begin
  if private.order_party(p_order_id) not in ('seller', 'admin') then
    raise exception 'only the seller of this order (or an admin) can mark it shipped' using errcode = 'PT403';
  end if;
  if carrier is not null and carrier !~ '^[^[:cntrl:]]{1,100}$' then
    raise exception 'carrier must be one line of at most 100 characters' using errcode = 'PT400';
  end if;
  if tracking is not null and tracking !~ '^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$' then
    raise exception 'tracking_number must be 1 to 64 letters, digits, spaces or . _ / -' using errcode = 'PT400';
  end if;
  if url is not null and (length(url) > 500
      or url !~ '^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^[:space:][:cntrl:]]*)?$') then
    raise exception 'tracking_url must be an https:// address of at most 500 characters' using errcode = 'PT400';
  end if;
  select o.status into cur from public.orders o where o.id = p_order_id for update;
  -- shipped already and nothing new to say: a repeated call changes nothing
  if not (cur = 'in_fulfillment' and carrier is null and tracking is null and url is null) then
    update public.orders o
       set status = 'in_fulfillment', tracking_carrier = coalesce(carrier, o.tracking_carrier),
           tracking_number = coalesce(tracking, o.tracking_number), tracking_url = coalesce(url, o.tracking_url)
     where o.id = p_order_id;
  end if;
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$$;

-- The seller (or an admin) completes an order in fulfilment. PT403 / PT404 / PT409 as ship_order.
create or replace function public.complete_order(p_order_id uuid)
returns table (order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text,
               fulfillment_started_at timestamptz, completed_at timestamptz)
language plpgsql
set search_path = ''
as $$
begin
  if private.order_party(p_order_id) not in ('seller', 'admin') then
    raise exception 'only the seller of this order (or an admin) can complete it; the buyer confirms receipt '
      '(confirm_order_received)' using errcode = 'PT403';
  end if;
  -- completed already: a repeated call changes nothing
  update public.orders o set status = 'completed' where o.id = p_order_id and o.status <> 'completed';
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$$;

-- The buyer confirms receipt of an order in fulfilment: it is completed. PT403 / PT404 / PT409.
create or replace function public.confirm_order_received(p_order_id uuid)
returns table (order_id uuid, status text, tracking_carrier text, tracking_number text, tracking_url text,
               fulfillment_started_at timestamptz, completed_at timestamptz)
language plpgsql
set search_path = ''
as $$
begin
  if private.order_party(p_order_id) is distinct from 'buyer' then
    raise exception 'only the buyer of this order can confirm receipt' using errcode = 'PT403';
  end if;
  update public.orders o set status = 'completed' where o.id = p_order_id and o.status <> 'completed';
  return query select o.id, o.status, o.tracking_carrier, o.tracking_number, o.tracking_url,
                      o.fulfillment_started_at, o.completed_at
                 from public.orders o where o.id = p_order_id;
end
$$;

grant execute on function public.ship_order(uuid, text, text, text), public.complete_order(uuid),
  public.confirm_order_received(uuid) to authenticated;

-- ---------------------------------------------------------------- auto-complete (pg_cron)
-- Orders in fulfilment for ops.settings.auto_complete_after_days are completed, at most p_limit per run
-- (oldest first, skipping rows another transaction holds), each in the history as auto_complete and with the
-- buyer's completion email. p_now is the clock (tests pass their own). Returns how many it completed.
create or replace function ops.auto_complete_orders(p_now timestamptz default now(), p_limit integer default 200)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  days integer := (ops.current_settings()).auto_complete_after_days;
  n integer;
begin
  perform set_config('ops.status_actor', 'auto_complete', true);
  with due as (
    select o.id from public.orders o
     where o.status = 'in_fulfillment' and o.fulfillment_started_at <= p_now - make_interval(days => days)
     order by o.fulfillment_started_at
     limit greatest(p_limit, 0)
       for update skip locked
  )
  update public.orders o set status = 'completed' from due where o.id = due.id;
  get diagnostics n = row_count;
  perform set_config('ops.status_actor', '', true);
  return n;
end
$$;
comment on function ops.auto_complete_orders(timestamptz, integer) is 'pg_cron (hourly): completes orders in '
  'fulfilment for ops.settings.auto_complete_after_days, at most p_limit per run.';

-- hourly, off the hour like the other schedules; cron.schedule with an existing name updates it
select cron.schedule('ops-auto-complete-orders', '23 * * * *', 'select ops.auto_complete_orders()');
