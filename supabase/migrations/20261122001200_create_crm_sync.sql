-- CRM sync, the job engine's first consumer: users who confirm their email become leads; customer
-- and order changes enqueue crm-sync jobs; the worker upserts contacts/deals and stores the mapping.
-- Also a shared rate budget so all worker instances together stay under the CRM's limit, and the
-- retention of both (captured calls' personal data, idle budgets) in ops.retention_policies.
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms)
-- lease 180 s: a deal job makes up to ~10 HubSpot calls of at most 10 s each
values ('crm.contact', 'crm-sync', 15, 30000, 180, 5000),
       ('crm.deal', 'crm-sync', 15, 30000, 180, 5000)
on conflict (kind) do update set function_name = excluded.function_name;

create table if not exists ops.crm_contacts (
  customer_id uuid primary key references public.customers (id) on delete cascade,
  email text not null,
  adapter text not null,
  crm_contact_id text not null,
  lifecycle_stage text,
  synced_version integer not null default 0,
  synced_at timestamptz not null default now()
);
comment on table ops.crm_contacts is 'Mapping customer <-> CRM contact (keyed in the CRM by lower-cased email).';

create table if not exists ops.crm_deals (
  order_id uuid primary key references public.orders (id) on delete cascade,
  adapter text not null,
  crm_deal_id text not null,
  stage text,
  synced_version integer not null default 0,
  synced_at timestamptz not null default now()
);
comment on table ops.crm_deals is 'Mapping order <-> CRM deal (keyed in the CRM by the order id).';

create table if not exists ops.crm_capture (
  id bigint generated always as identity primary key,
  adapter text not null default 'capture',
  operation text not null,
  -- null once the retention cleared it (a contact's key is its email); deal and note keys are ids
  key text,
  -- after the retention only ids, stages and amounts (ops.crm_capture_skeleton, below)
  body jsonb not null,
  created_at timestamptz not null default now(),
  cleared_at timestamptz
);
comment on table ops.crm_capture is 'What the local capture adapter would have sent to the CRM (the default when no '
  'HubSpot token is set); personal data cleared after ops.settings.personal_data_retention_days.';
create index if not exists crm_capture_key_idx on ops.crm_capture (operation, key);

create table if not exists ops.rate_limit_buckets (
  bucket text primary key
);
comment on table ops.rate_limit_buckets is 'Request budgets shared by every worker instance (e.g. HubSpot: 100 '
  'requests per 10 s); the row serialises takers.';

create table if not exists ops.rate_limit_grants (
  bucket text not null references ops.rate_limit_buckets (bucket) on delete cascade,
  granted_at timestamptz not null,
  tokens integer not null check (tokens > 0)
);
comment on table ops.rate_limit_grants is 'Tokens granted in the current sliding window, per bucket (older rows are '
  'deleted as the window moves).';
create index if not exists rate_limit_grants_bucket_idx on ops.rate_limit_grants (bucket, granted_at);

-- Takes p_tokens from a sliding window of p_window_ms holding p_capacity (HubSpot counts any 10 s,
-- so a fixed window would allow twice the limit across its edge). Returns 0 when granted, else
-- the milliseconds until the oldest grant leaves the window (nothing taken).
-- security definer: workers and support-intake take tokens; the buckets and grants are not theirs to
-- read or write.
create or replace function ops.take_rate_tokens(p_bucket text, p_tokens integer, p_capacity integer,
                                                p_window_ms integer)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  window_len interval := make_interval(secs => p_window_ms / 1000.0);
  at timestamptz;
  used bigint;
  oldest timestamptz;
begin
  -- a request larger than the whole budget waits for an empty window rather than forever
  p_tokens := least(p_tokens, p_capacity);
  -- one statement creates or locks the bucket row: the lock serialises takers, and a purge of idle
  -- buckets (ops.purge_rate_limit_buckets) cannot remove it between a lookup and the lock
  insert into ops.rate_limit_buckets (bucket) values (p_bucket)
  on conflict (bucket) do update set bucket = excluded.bucket;
  at := clock_timestamp();
  delete from ops.rate_limit_grants where bucket = p_bucket and granted_at <= at - window_len;
  select coalesce(sum(tokens), 0), min(granted_at) into used, oldest from ops.rate_limit_grants where bucket = p_bucket;
  if used + p_tokens > p_capacity then
    return greatest(1, ceil(extract(epoch from (oldest + window_len - at)) * 1000))::integer;
  end if;
  insert into ops.rate_limit_grants (bucket, granted_at, tokens) values (p_bucket, at, p_tokens);
  return 0;
end
$$;

-- ---------------------------------------------------------------- retention (migration 1100's registry)
-- What a captured CRM call keeps after the retention: ids, stages, amounts (not emails, names, notes).
create or replace function ops.crm_capture_skeleton(body jsonb) returns jsonb
language sql immutable
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
    from jsonb_each(case when jsonb_typeof(body) = 'object' then body else '{}' end) f
   where jsonb_typeof(f.value) in ('string', 'number', 'boolean')
     and f.key in ('id', 'orderKey', 'dealId', 'contactId', 'stage', 'lifecycleStage', 'billingStatus',
                   'amount', 'currency', 'refundedAmount', 'needsReview', 'occurredAt')
$$;

-- Personal data: captured CRM calls keep ids, stages and amounts; a contact's key, its email, goes.
create or replace function ops.purge_crm_captures(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    update ops.crm_capture
       set body = ops.crm_capture_skeleton(body), key = case when operation in ('deal', 'note') then key end,
           cleared_at = now()
     where created_at < now() - p_keep and cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;

-- Windows last a minute at most (HubSpot 10 s, support-intake per user and per address 60 s), so older
-- grants count for nothing; a taker deletes its bucket's own as it goes, these are of buckets no one
-- takes from any more.
create or replace function ops.purge_rate_limit_grants(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from ops.rate_limit_grants where granted_at < now() - p_keep
    returning 1
  )
  select count(*) from gone
$$;

-- A bucket no one took from for p_keep (one per support-intake user and address ever seen) goes, with
-- its grants. A bucket a taker holds is skipped: the taker's upsert locks it (ops.take_rate_tokens), or
-- re-creates it once this delete commits.
create or replace function ops.purge_rate_limit_buckets(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    delete from ops.rate_limit_buckets b
     where b.bucket in (select x.bucket from ops.rate_limit_buckets x
                         where not exists (select 1 from ops.rate_limit_grants g
                                            where g.bucket = x.bucket and g.granted_at >= now() - p_keep)
                         for update skip locked)
    returning 1
  )
  select count(*) from gone
$$;

insert into ops.retention_policies (name, description, purge_fn, keep)
values
  ('crm_captures', 'Personal data: captured CRM calls keep ids, stages and amounts (ops.crm_capture_skeleton); a '
   'contact''s key, its email, goes', 'ops.purge_crm_captures(interval)', null),
  ('rate_limit_grants', 'Rate budget grants older than any window', 'ops.purge_rate_limit_grants(interval)',
   interval '1 day'),
  ('rate_limit_buckets', 'Rate budgets no one took from (with their grants)', 'ops.purge_rate_limit_buckets(interval)',
   interval '1 day')
on conflict (name) do nothing;

-- What a crm-sync job needs, read at run time so a late retry sends the newest state.
-- security definer: the worker role reads nothing else; only jobs it holds (running) answer.
create or replace function ops.crm_job_context(p_job_id bigint, p_worker text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs := ops.held_job(p_job_id, p_worker);
  ctx jsonb;
begin
  if j.id is null then
    return null;
  end if;
  if j.kind = 'crm.contact' then
    select jsonb_build_object('customer_id', c.id, 'email', lower(trim(c.email)), 'name', c.name,
             'billing_status', c.billing_status, 'version', c.version,
             'has_paid_order', exists (select 1 from public.orders o where o.buyer_id = c.user_id
                                       and o.paid_at is not null))
      into ctx from public.customers c where c.id = (j.payload ->> 'customer_id')::uuid
       -- held: a row without a user that needed review is no contact (see ops.flag_customer_review)
       and (c.user_id is not null or c.review_reason is null);
  elsif j.kind = 'crm.deal' then
    -- the deal is worth what was charged (tax and discounts included), not the list price
    select jsonb_build_object('order_id', o.id, 'status', o.status, 'amount_total', o.amount_total,
             'currency', o.currency, 'amount_charged', o.amount_charged, 'currency_charged', o.currency_charged,
             'amount_refunded', o.amount_refunded, 'needs_review', o.needs_review,
             'version', o.version, 'listing_title', l.title,
             -- the newest dispute of the order's payment: one CRM note per dispute, whatever job notes it
             'dispute_id', (select d.stripe_dispute_id from ops.disputes d
                             where d.stripe_payment_intent_id = o.stripe_payment_intent_id
                             order by d.stripe_event_created desc, d.stripe_dispute_id desc limit 1),
             'buyer', case when u.email is null then null else jsonb_build_object(
               'customer_id', c.id, 'email', lower(trim(u.email)), 'name', coalesce(c.name, p.display_name),
               'billing_status', coalesce(c.billing_status, 'lead'),
               'has_paid_order', exists (select 1 from public.orders o2 where o2.buyer_id = o.buyer_id
                                         and o2.paid_at is not null),
               'crm_contact_id', cc.crm_contact_id, 'crm_adapter', cc.adapter,
               'crm_lifecycle_stage', cc.lifecycle_stage) end)
      into ctx
      from public.orders o
      left join public.listings l on l.id = o.listing_id
      left join auth.users u on u.id = o.buyer_id
      left join public.profiles p on p.id = o.buyer_id
      left join public.customers c on c.user_id = o.buyer_id
      left join ops.crm_contacts cc on cc.customer_id = c.id and cc.email = lower(trim(u.email))
     where o.id = (j.payload ->> 'order_id')::uuid;
  end if;
  return ctx;
end
$$;

-- Stores what the CRM answered (contact and deal ids) for a job the worker holds.
-- security definer: the worker role may not write ops.crm_contacts or ops.crm_deals; this writes
-- only its held job's own customer and order.
create or replace function ops.record_crm_sync(p_job_id bigint, p_worker text, p_adapter text, p_result jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  j ops.jobs := ops.require_held_job(p_job_id, p_worker);
  contact jsonb;
  allowed uuid[];
begin
  -- a job records only its own entities: its customer, or its order and that order's buyer
  allowed := array_remove(array[
    (j.payload ->> 'customer_id')::uuid,
    (select c.id from public.orders o join public.customers c on c.user_id = o.buyer_id
      where o.id = (j.payload ->> 'order_id')::uuid)], null);
  for contact in select * from jsonb_array_elements(coalesce(p_result -> 'contacts', '[]'::jsonb)) loop
    continue when contact ->> 'customer_id' is null;
    if not (contact ->> 'customer_id')::uuid = any (allowed) then
      raise exception 'job % may not record customer %', p_job_id, contact ->> 'customer_id'
        using errcode = 'insufficient_privilege';
    end if;
    insert into ops.crm_contacts as x (customer_id, email, adapter, crm_contact_id, lifecycle_stage, synced_version)
    values ((contact ->> 'customer_id')::uuid, contact ->> 'email', p_adapter, contact ->> 'crm_id',
            contact ->> 'lifecycle_stage', coalesce((contact ->> 'version')::int, 0))
    on conflict (customer_id) do update set email = excluded.email, adapter = excluded.adapter,
      crm_contact_id = excluded.crm_contact_id, lifecycle_stage = excluded.lifecycle_stage,
      synced_version = excluded.synced_version, synced_at = now()
    -- an older sync never overwrites what a newer one recorded
    where excluded.synced_version >= x.synced_version;
  end loop;
  if p_result ? 'deal' then
    if (p_result -> 'deal' ->> 'order_id') is distinct from (j.payload ->> 'order_id') then
      raise exception 'job % may not record order %', p_job_id, p_result -> 'deal' ->> 'order_id'
        using errcode = 'insufficient_privilege';
    end if;
    insert into ops.crm_deals as x (order_id, adapter, crm_deal_id, stage, synced_version)
    values ((p_result -> 'deal' ->> 'order_id')::uuid, p_adapter, p_result -> 'deal' ->> 'crm_id',
            p_result -> 'deal' ->> 'stage', coalesce((p_result -> 'deal' ->> 'version')::int, 0))
    on conflict (order_id) do update set adapter = excluded.adapter, crm_deal_id = excluded.crm_deal_id,
      stage = excluded.stage, synced_version = excluded.synced_version, synced_at = now()
    where excluded.synced_version >= x.synced_version;
  end if;
end
$$;

-- The capture adapter's recorder: one row per call it would have made.
-- security definer: the worker role has no privilege on ops.crm_capture; this appends one row.
create or replace function ops.record_crm_capture(p_operation text, p_key text, p_body jsonb) returns void
language sql
security definer
set search_path = ''
as $$
  insert into ops.crm_capture (operation, key, body) values (p_operation, p_key, p_body)
$$;

-- One trigger function for every crm-sync source: arguments name the job kind, the entity (its
-- payload key, dedupe key and queue key) and the column that correlates the job with the outside
-- world (a Checkout session, an app user).
-- security definer: triggers run as whoever writes the row (pipeline, service role, GoTrue);
-- the job queue is not theirs to write, only this enqueue is.
create or replace function ops.enqueue_crm_sync() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text := tg_argv[0];
  entity text := tg_argv[1];
begin
  perform ops.enqueue_job(kind, jsonb_build_object(entity || '_id', new.id),
    format('%s:%s:v%s', kind, new.id, new.version),
    p_correlation_id => to_jsonb(new) ->> tg_argv[2],
    p_queue_key => entity || ':' || new.id);
  return null;
end
$$;
drop function if exists ops.customers_enqueue_crm_sync() cascade;
drop function if exists ops.orders_enqueue_crm_sync() cascade;

-- Two triggers so the update's can ask for a new version: an update that changes nothing the CRM
-- mirrors (a customer.updated repeating the email) keeps its version, so its dedupe key names a job
-- that exists already; skipping it saves an enqueue attempt per event. A row without a user that
-- ever needed review is held: its email may be a user's, whose contact it must not touch.
drop trigger if exists customers_500_enqueue_crm_sync on public.customers;
create trigger customers_500_enqueue_crm_sync after insert on public.customers
  for each row when (new.email is not null and (new.user_id is not null or new.review_reason is null))
  execute function ops.enqueue_crm_sync('crm.contact', 'customer', 'user_id');
drop trigger if exists customers_510_enqueue_crm_sync_on_change on public.customers;
create trigger customers_510_enqueue_crm_sync_on_change
  after update of billing_status, email, user_id, needs_review on public.customers
  for each row when (new.email is not null and new.version <> old.version
                     and (new.user_id is not null or new.review_reason is null))
  execute function ops.enqueue_crm_sync('crm.contact', 'customer', 'user_id');

-- only an order whose payment is confirmed is a deal: one in review (amount or currency mismatch) is not
drop trigger if exists orders_500_enqueue_crm_sync on public.orders;
create trigger orders_500_enqueue_crm_sync
  after update of status, amount_refunded, needs_review, amount_charged on public.orders
  for each row when (new.version <> old.version and new.payment_confirmed)
  execute function ops.enqueue_crm_sync('crm.deal', 'order', 'stripe_checkout_session_id');

-- security definer: runs as the auth.users write (GoTrue's role), which cannot write customers.
-- A user who confirmed their email is a lead before any payment, and so a CRM contact: not before
-- (anyone can sign up with any address and any name), and never an anonymous user. A customer row
-- the user already has (a Stripe customer linked first) stays as it is.
create or replace function public.handle_new_user_customer() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.customers (user_id, email, name, billing_status)
  values (new.id, lower(trim(new.email)), left(new.raw_user_meta_data ->> 'display_name', 200), 'lead')
  on conflict (user_id) do nothing;
  return new;
end
$$;
drop trigger if exists users_200_create_customer on auth.users;
create trigger users_200_create_customer after insert on auth.users
  for each row when (new.email is not null and new.email_confirmed_at is not null and not new.is_anonymous)
  execute function public.handle_new_user_customer();
-- GoTrue confirms by update (the link in the email; an anonymous user adding an email)
drop trigger if exists users_210_create_customer_on_confirm on auth.users;
create trigger users_210_create_customer_on_confirm after update of email_confirmed_at, is_anonymous on auth.users
  for each row when (new.email is not null and new.email_confirmed_at is not null and not new.is_anonymous
                     and (old.email_confirmed_at is null or old.is_anonymous))
  execute function public.handle_new_user_customer();

grant execute on function ops.crm_job_context(bigint, text), ops.record_crm_sync(bigint, text, text, jsonb),
  ops.record_crm_capture(text, text, jsonb), ops.take_rate_tokens(text, integer, integer, integer) to pipeline_worker;
