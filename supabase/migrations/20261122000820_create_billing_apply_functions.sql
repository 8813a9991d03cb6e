-- Billing facts from Stripe: customers, subscriptions and invoices. ops.upsert_customer_link ties a
-- Stripe customer to a customer row (a user's, or its own) by the linking rules of
-- docs/architecture.md; ops.recompute_customer derives billing status from all the row's
-- subscriptions. Admin doors: ops.link_stripe_customer, ops.resolve_customer_review; the server's:
-- ops.register_stripe_customer. Replaces functions only; touches no data.

-- The "customer" lock, first in the lock order: events about one Stripe customer take turns from
-- here to commit, so its link and row are created once.
create or replace function ops.lock_stripe_customer(p_stripe_customer_id text) returns void
language sql
set search_path = ''
as $$
  select pg_advisory_xact_lock(hashtextextended('ops.stripe_customers:' || p_stripe_customer_id, 0))
$$;

-- The customer row of an app user, created if missing, and locked. Race-free: concurrent callers for
-- one user meet at the unique user_id (the loser's insert waits, then does nothing) and lock one row.
create or replace function ops.customer_for_user(p_user_id uuid, p_email text) returns uuid
language plpgsql
set search_path = ''
as $$
declare
  cid uuid;
begin
  insert into public.customers (user_id, email)
  select u.id, coalesce(p_email, lower(trim(u.email))) from auth.users u where u.id = p_user_id
  on conflict (user_id) do nothing;
  select id into cid from public.customers where user_id = p_user_id for update;
  return cid;
end
$$;

-- Puts a customer row in review with its reason, unless it is in review already (the first reason
-- stays). The reason is kept after an admin resolves it: a row without a user that ever needed
-- review is never a CRM contact (crm triggers), since its email may be someone else's.
create or replace function ops.flag_customer_review(p_customer_id uuid, p_reason text) returns void
language sql
set search_path = ''
as $$
  update public.customers set needs_review = true, review_reason = left(p_reason, 1000)
   where id = p_customer_id and not needs_review
$$;

-- Why a Stripe customer whose email belongs to app users is not linked to them (null: no user has it).
create or replace function ops.email_match_reason(p_email text) returns text
language sql stable
set search_path = ''
as $$
  select format('email-only match: the Stripe customer''s email belongs to %s; an email never links (only a '
                'server-set user id does: metadata.user_id, the client_reference_id of a session the server created, '
                'ops.register_stripe_customer)',
                string_agg(format('user %s (%s)', u.id, case when u.email_confirmed_at is null then 'unconfirmed'
                                  else 'confirmed' end),
                           ', ' order by u.id))
    from auth.users u
   where lower(u.email) = lower(trim(p_email)) and not u.is_anonymous
  having count(*) > 0
$$;

-- Moves a Stripe customer, with its subscriptions, to the user's row (creating the row or the link
-- when missing). The row it leaves is deleted when it was the Stripe customer's own and now holds
-- nothing, else re-derived. The caller holds the Stripe customer lock. Returns the user's row.
create or replace function ops.move_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_linked_by text,
                                                    p_note text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  m ops.stripe_customers;
  src public.customers;
  target uuid := ops.customer_for_user(p_user_id, null);
begin
  if target is null then
    raise exception 'no user %', p_user_id using errcode = 'foreign_key_violation';
  end if;
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, linked_at, linked_note)
    values (p_stripe_customer_id, target, p_linked_by, now(), p_note);
    return target;
  end if;
  update ops.stripe_customers set customer_id = target, linked_by = p_linked_by, linked_at = now(), linked_note = p_note
   where stripe_customer_id = p_stripe_customer_id;
  if m.customer_id = target then
    return target;
  end if;
  select * into src from public.customers where id = m.customer_id for update;
  update public.subscriptions set customer_id = target where stripe_customer_id = p_stripe_customer_id;
  if src.user_id is null then
    -- the Stripe customer's own row: what it knew of payments and of the person moves along
    update public.customers t set
      last_paid_at = greatest(t.last_paid_at, src.last_paid_at),
      last_payment_failed_at = greatest(t.last_payment_failed_at, src.last_payment_failed_at),
      email = coalesce(t.email, src.email),
      name = coalesce(t.name, src.name)
    where t.id = target;
  end if;
  if src.user_id is null and not exists (select 1 from ops.stripe_customers x where x.customer_id = src.id) then
    delete from public.customers where id = src.id;
  else
    perform ops.recompute_customer(src.id);
  end if;
  perform ops.recompute_customer(target);
  return target;
end
$$;

-- Finds or creates the customer row of a Stripe customer, and locks it. p_claims: the user ids the
-- event states in fields only our server can set (metadata.user_id; the client_reference_id of a
-- Checkout session the server created); p_email: what Stripe says, which never links by itself.
--   known and linked to a user: stays (first claim wins); a claim for another user -> review
--   its own row (no user yet): a valid claim moves it to the user's row; an email of a user -> review
--   new: a valid claim links it to the user's row; else its own row, in review if its email is a user's
-- Several or unknown claims are ambiguous: review, no link.
create or replace function ops.upsert_customer_link(p_stripe_customer_id text, p_claims text[], p_email text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  claims text[] := array(select distinct trim(c) from unnest(coalesce(p_claims, '{}'::text[])) as c
                          where nullif(trim(c), '') is not null order by 1);
  uid uuid;
  problem text;
  m ops.stripe_customers;
  cur public.customers;
  cid uuid;
begin
  if p_stripe_customer_id is null then
    raise exception 'a Stripe customer id is required' using errcode = 'not_null_violation';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  if cardinality(claims) > 1 then
    problem := format('ambiguous: the event names several users (%s); not linked',
                      left(array_to_string(claims, ', '), 300));
  elsif cardinality(claims) = 1 then
    select u.id into uid from auth.users u where u.id = ops.as_uuid(claims[1]);
    if uid is null then
      problem := format('the server-set user id %s names no user; not linked', left(claims[1], 64));
    end if;
  end if;

  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    if uid is not null then
      cid := ops.customer_for_user(uid, p_email);
      insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, linked_at)
      values (p_stripe_customer_id, cid, 'metadata', now());
      return cid;
    end if;
    problem := coalesce(problem, ops.email_match_reason(p_email));
    insert into public.customers (email, needs_review, review_reason)
    values (p_email, problem is not null, left(problem, 1000))
    returning id into cid;
    insert into ops.stripe_customers (stripe_customer_id, customer_id) values (p_stripe_customer_id, cid);
    return cid;
  end if;

  select * into cur from public.customers where id = m.customer_id for update;
  if m.linked_by is not null then
    if uid is not null and uid is distinct from cur.user_id then
      perform ops.flag_customer_review(cur.id, format(
        'conflicting claim: Stripe customer %s is linked to user %s (by %s); an event names user %s. '
        'The first claim stays',
        p_stripe_customer_id, cur.user_id, m.linked_by, uid));
    elsif problem is not null then
      perform ops.flag_customer_review(cur.id, format('Stripe customer %s: %s', p_stripe_customer_id, problem));
    end if;
  elsif uid is not null then
    return ops.move_stripe_customer(p_stripe_customer_id, uid, 'metadata', null);
  elsif problem is not null then
    perform ops.flag_customer_review(cur.id, problem);
  elsif cur.review_reason is null then
    -- an email that became a user's since: review (once; a resolved review does not reopen)
    problem := ops.email_match_reason(coalesce(p_email, cur.email));
    if problem is not null then
      perform ops.flag_customer_review(cur.id, problem);
    end if;
  end if;
  if cur.email is null and p_email is not null then
    update public.customers set email = p_email where id = cur.id;
  end if;
  return cur.id;
end
$$;

-- Subscription and setup Checkout sessions: the customer, and the user the server created the session
-- for. A Payment Link's session is not the server's: its client_reference_id comes from the link's URL,
-- which anyone can edit, so only its metadata (API-set) counts.
create or replace function ops.link_checkout_customer(s jsonb) returns uuid
language sql
set search_path = ''
as $$
  select case when s ->> 'customer' is not null then ops.upsert_customer_link(
    s ->> 'customer',
    array[s -> 'metadata' ->> 'user_id', case when s ->> 'payment_link' is null then s ->> 'client_reference_id' end],
    coalesce(s -> 'customer_details' ->> 'email', s ->> 'customer_email')) end
$$;

-- Derives billing status from the subscriptions of every Stripe customer of the row (highest
-- precedence wins); a row whose Stripe customers are all deleted is canceled, and one left without
-- subscriptions (an admin moved them) is canceled unless it never left lead.
create or replace function ops.recompute_customer(p_customer_id uuid) returns text
language plpgsql
set search_path = ''
as $$
declare
  c public.customers;
  target text;
  links bigint;
  live bigint;
  last_deleted timestamptz;
  gone_at timestamptz;
begin
  select * into c from public.customers where id = p_customer_id for update;
  if not found then
    return null;
  end if;
  select count(*), count(*) filter (where m.deleted_at is null), max(m.deleted_at)
    into links, live, last_deleted
    from ops.stripe_customers m where m.customer_id = c.id;
  gone_at := case when links > 0 and live = 0 then last_deleted end;
  if gone_at is not null then
    target := 'canceled';
  else
    select m.billing_status into target
      from public.subscriptions s
      join ops.stripe_subscription_statuses m on m.stripe_status = s.status
     where s.customer_id = c.id
       and not exists (select 1 from ops.stripe_customers x where x.stripe_customer_id = s.stripe_customer_id
                       and x.deleted_at is not null)
     order by m.precedence desc
     limit 1;
    target := coalesce(target, case when c.billing_status = 'lead' then 'lead' else 'canceled' end);
  end if;
  if gone_at is distinct from c.deleted_at then
    update public.customers set deleted_at = gone_at where id = c.id;
  end if;
  if target is distinct from c.billing_status and exists (
    select 1 from ops.billing_status_transitions t where t.from_status = c.billing_status and t.to_status = target
  ) then
    update public.customers set billing_status = target where id = c.id;
  end if;
  return target;
end
$$;

-- customer.subscription.created | updated | deleted | paused | resumed | pending_update_*
create or replace function ops.apply_subscription(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  s jsonb := evt -> 'data' -> 'object';
  status text := case when evt ->> 'type' = 'customer.subscription.deleted' then 'canceled' else s ->> 'status' end;
  at timestamptz := ops.ts(evt ->> 'created');
  event_rank int;
  cid uuid;
begin
  select m.event_rank into event_rank from ops.stripe_subscription_statuses m where m.stripe_status = status;
  if event_rank is null then
    raise exception 'unknown subscription status %', status;
  end if;
  cid := ops.upsert_customer_link(s ->> 'customer', array[s -> 'metadata' ->> 'user_id'], null);
  insert into public.subscriptions as x (stripe_subscription_id, customer_id, stripe_customer_id, status, price_id,
    quantity, cancel_at_period_end, current_period_end, trial_end, canceled_at, stripe_event_created,
    stripe_event_rank, stripe_event_id)
  values (
    s ->> 'id', cid, s ->> 'customer', status,
    coalesce(s -> 'items' -> 'data' -> 0 -> 'price' ->> 'id', s -> 'plan' ->> 'id'),
    coalesce((s -> 'items' -> 'data' -> 0 ->> 'quantity')::int, (s ->> 'quantity')::int),
    coalesce((s ->> 'cancel_at_period_end')::boolean, false),
    ops.ts(coalesce(s ->> 'current_period_end', s -> 'items' -> 'data' -> 0 ->> 'current_period_end')),
    ops.ts(s ->> 'trial_end'), ops.ts(s ->> 'canceled_at'), at, event_rank, evt ->> 'id'
  )
  on conflict (stripe_subscription_id) do update set
    customer_id = excluded.customer_id, status = excluded.status, price_id = excluded.price_id,
    quantity = excluded.quantity, cancel_at_period_end = excluded.cancel_at_period_end,
    current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
    canceled_at = excluded.canceled_at, stripe_event_created = excluded.stripe_event_created,
    stripe_event_rank = excluded.stripe_event_rank, stripe_event_id = excluded.stripe_event_id
  -- an older event never overwrites a newer one; within one second the later status wins (then
  -- the event id, so any delivery order ends the same); a canceled subscription stays canceled
  where x.status <> 'canceled'
    and (excluded.stripe_event_created, excluded.stripe_event_rank, excluded.stripe_event_id)
        >= (x.stripe_event_created, x.stripe_event_rank, x.stripe_event_id);
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;

-- customer.created | updated | deleted
create or replace function ops.apply_customer(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  c jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  cid uuid := ops.upsert_customer_link(c ->> 'id', array[c -> 'metadata' ->> 'user_id'], c ->> 'email');
begin
  -- the Stripe customer as last reported; deletion is its own fact (the row is canceled only when
  -- every Stripe customer of it is deleted: ops.recompute_customer)
  update ops.stripe_customers set
    email = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'email', email)
      else email end,
    name = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'name', name)
      else name end,
    deleted_at = case when evt ->> 'type' = 'customer.deleted' then coalesce(deleted_at, at) else deleted_at end,
    stripe_event_created = greatest(stripe_event_created, at)
  where stripe_customer_id = c ->> 'id';
  -- the row shows the newest any of its Stripe customers reported
  update public.customers set
    email = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'email', email)
      else email end,
    name = case when stripe_event_created is null or at >= stripe_event_created then coalesce(c ->> 'name', name)
      else name end,
    stripe_event_created = greatest(stripe_event_created, at)
  where id = cid;
  perform ops.recompute_customer(cid);
  return 'processed';
end
$$;

-- invoice.paid | invoice.payment_succeeded | invoice.payment_failed
create or replace function ops.apply_invoice(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  i jsonb := evt -> 'data' -> 'object';
  at timestamptz := ops.ts(evt ->> 'created');
  failed boolean := evt ->> 'type' = 'invoice.payment_failed';
  cid uuid;
begin
  if i ->> 'customer' is not null then
    -- the subscription's metadata, copied by Stripe onto its invoices, is the server's too
    cid := ops.upsert_customer_link(i ->> 'customer',
      array[i -> 'subscription_details' -> 'metadata' ->> 'user_id',
            i -> 'parent' -> 'subscription_details' -> 'metadata' ->> 'user_id'],
      i ->> 'customer_email');
  end if;
  insert into ops.invoices as x (stripe_invoice_id, stripe_customer_id, stripe_subscription_id, status, amount_due,
    amount_paid, currency, paid, attempt_count, last_failed_at, stripe_event_created)
  values (i ->> 'id', i ->> 'customer', i ->> 'subscription', i ->> 'status', (i ->> 'amount_due')::bigint,
    (i ->> 'amount_paid')::bigint, lower(i ->> 'currency'), not failed, (i ->> 'attempt_count')::int,
    case when failed then at end, at)
  on conflict (stripe_invoice_id) do update set
    paid = x.paid or excluded.paid,
    status = case when x.paid or excluded.paid then 'paid' else excluded.status end,
    amount_paid = greatest(x.amount_paid, excluded.amount_paid),
    attempt_count = greatest(x.attempt_count, excluded.attempt_count),
    last_failed_at = greatest(x.last_failed_at, excluded.last_failed_at),
    stripe_event_created = greatest(x.stripe_event_created, excluded.stripe_event_created),
    updated_at = now();
  if cid is not null then
    update public.customers set
      last_paid_at = case when failed then last_paid_at else greatest(last_paid_at, at) end,
      last_payment_failed_at = case when failed then greatest(last_payment_failed_at, at)
        else last_payment_failed_at end
    where id = cid;
  end if;
  return 'processed';
end
$$;

-- An admin's decision that a Stripe customer belongs to a user (resolving a review, or moving a
-- link the first claim got wrong): moves it and its subscriptions to the user's row, closes the
-- review of the row it leaves, records who decided and why. Returns the user's customer row.
-- security definer: the server and Studio (service_role) hold no privileges on ops.stripe_customers;
-- this is their door to change a link.
create or replace function ops.link_stripe_customer(p_stripe_customer_id text, p_user_id uuid, p_note text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  m ops.stripe_customers;
  cid uuid;
begin
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): the link is an admin decision and is kept with its reason'
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if not found then
    raise exception 'no Stripe customer % is known yet; for one the server just created use '
                    'ops.register_stripe_customer',
      p_stripe_customer_id using errcode = 'no_data_found';
  end if;
  cid := ops.move_stripe_customer(p_stripe_customer_id, p_user_id, 'admin', left(trim(p_note), 1000));
  -- the row it left, when it still exists (a user's row with a conflicting claim), is reviewed
  update public.customers set needs_review = false where id = m.customer_id and needs_review;
  update ops.stripe_customers set reviewed_at = now(), reviewed_note = left(trim(p_note), 1000)
   where stripe_customer_id = p_stripe_customer_id;
  return cid;
end
$$;

-- An admin's decision that a customer row in review stays as it is (the Stripe customer is not the
-- matched user's, or the first claim is right). The reason stays on the row; the same email match
-- does not reopen it; a row without a user that needed review stays out of the CRM.
-- security definer: as ops.link_stripe_customer.
create or replace function ops.resolve_customer_review(p_customer_id uuid, p_note text) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if nullif(trim(p_note), '') is null then
    raise exception 'say why (p_note): the decision is kept with its reason' using errcode = 'invalid_parameter_value';
  end if;
  update public.customers set needs_review = false where id = p_customer_id;
  if not found then
    raise exception 'no customer %', p_customer_id using errcode = 'no_data_found';
  end if;
  update ops.stripe_customers set reviewed_at = now(), reviewed_note = left(trim(p_note), 1000)
   where customer_id = p_customer_id;
end
$$;

-- The app's server records a Stripe customer it created for a user (before or after Stripe's
-- events arrive): linked_by 'server'. First claim wins: a customer linked to another user is refused.
-- security definer: as ops.link_stripe_customer.
create or replace function ops.register_stripe_customer(p_stripe_customer_id text, p_user_id uuid) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  m ops.stripe_customers;
  owner uuid;
begin
  if coalesce(p_stripe_customer_id, '') !~ '^cus_[A-Za-z0-9]+$' then
    raise exception 'not a Stripe customer id: %', left(p_stripe_customer_id, 64)
      using errcode = 'invalid_parameter_value';
  end if;
  if not exists (select 1 from auth.users u where u.id = p_user_id) then
    raise exception 'no user %', p_user_id using errcode = 'no_data_found';
  end if;
  perform ops.lock_stripe_customer(p_stripe_customer_id);
  select * into m from ops.stripe_customers where stripe_customer_id = p_stripe_customer_id;
  if m.linked_by is not null then
    select c.user_id into owner from public.customers c where c.id = m.customer_id;
    if owner is distinct from p_user_id then
      raise exception 'Stripe customer % is linked to another user: the first claim stays (an admin may move it: '
                      'ops.link_stripe_customer)',
        p_stripe_customer_id using errcode = 'unique_violation';
    end if;
    return m.customer_id;
  end if;
  return ops.move_stripe_customer(p_stripe_customer_id, p_user_id, 'server', null);
end
$$;

grant execute on function ops.link_stripe_customer(text, uuid, text), ops.resolve_customer_review(uuid, text),
  ops.register_stripe_customer(text, uuid) to service_role;
comment on function ops.link_stripe_customer(text, uuid, text) is 'Admin: the Stripe customer belongs to this user '
  '(moves it and its subscriptions, closes the review). '
  'Usage: select ops.link_stripe_customer(''cus_...'', ''<user id>'', ''why'');';
comment on function ops.resolve_customer_review(uuid, text) is 'Admin: a customer row in review stays as it is. Usage: '
  'select ops.resolve_customer_review(''<customer id>'', ''why'');';
comment on function ops.register_stripe_customer(text, uuid) is 'Server: records a Stripe customer it created for a '
  'user (linked_by server; first claim wins).';
