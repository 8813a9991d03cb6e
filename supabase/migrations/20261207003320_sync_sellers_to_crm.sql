-- The seller as a CRM contact (#18): a seller's connected account row created, or its state changed (charges or
-- payouts enabled, requirements past due, disabled), enqueues a crm.seller job; crm-sync upserts the contact
-- by email with the property backbone_seller_status (onboarding | active | restricted | disabled). Replaces
-- ops.crm_job_context (migration 0100's, unchanged for its kinds) to answer the new kind.

insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms)
values ('crm.seller', 'crm-sync', 15, 30000, 180, 5000)
on conflict (kind) do update set function_name = excluded.function_name;

-- The seller's status as the CRM shows it: disabled (Stripe or the platform rejected the account), active
-- (charges and payouts enabled, nothing past due), restricted (submitted, or once enabled, and now blocked by
-- requirements or a disabled reason), onboarding (details not submitted yet).
create or replace function ops.seller_crm_status(a public.seller_accounts) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when a.disabled_reason like 'rejected.%' then 'disabled'
    when a.charges_enabled and a.payouts_enabled and cardinality(a.requirements_past_due) = 0 then 'active'
    when a.details_submitted or a.charges_enabled or a.payouts_enabled or a.disabled_reason is not null
         or cardinality(a.requirements_past_due) > 0 then 'restricted'
    else 'onboarding'
  end
$$;

-- One job per change of the seller's CRM status: the key names the status and the row's time (a seller
-- restricted, then active again, is synced each time); a replayed account.updated changes no row, so
-- enqueues nothing. The job reads the seller as they are when it runs.
-- security definer: seller_accounts is written by the server's roles; the job queue is not theirs to write.
create or replace function ops.seller_accounts_enqueue_crm_sync() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_status text := ops.seller_crm_status(new);
begin
  perform ops.enqueue_job('crm.seller', jsonb_build_object('seller_id', new.seller_id),
    format('crm.seller:%s:%s:%s', new.seller_id, v_status,
           (extract(epoch from coalesce(new.updated_at, now())) * 1000000)::bigint),
    p_correlation_id => new.stripe_account_id,
    p_queue_key => 'seller:' || new.seller_id);
  return null;
end
$$;
revoke all on function ops.seller_accounts_enqueue_crm_sync() from public;
drop trigger if exists seller_accounts_500_enqueue_crm_sync on public.seller_accounts;
create trigger seller_accounts_500_enqueue_crm_sync after insert on public.seller_accounts
  for each row execute function ops.seller_accounts_enqueue_crm_sync();
drop trigger if exists seller_accounts_510_enqueue_crm_sync_on_change on public.seller_accounts;
create trigger seller_accounts_510_enqueue_crm_sync_on_change
  after update of charges_enabled, payouts_enabled, details_submitted, disabled_reason, requirements_past_due
  on public.seller_accounts
  for each row when (ops.seller_crm_status(new) is distinct from ops.seller_crm_status(old))
  execute function ops.seller_accounts_enqueue_crm_sync();

-- As migration 0100, plus crm.seller: the seller's email, name and CRM status now.
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
               'billing_status', coalesce(c.billing_status, 'lead'), 'version', c.version,
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
  elsif j.kind = 'crm.seller' then
    -- the seller as they are now: a late retry never sends an old status
    select jsonb_build_object('seller_id', a.seller_id, 'email', lower(trim(u.email)), 'name', p.display_name,
             'seller_status', ops.seller_crm_status(a), 'stripe_account_id', a.stripe_account_id)
      into ctx
      from public.seller_accounts a
      join auth.users u on u.id = a.seller_id
      left join public.profiles p on p.id = a.seller_id
     where a.seller_id = (j.payload ->> 'seller_id')::uuid;
  end if;
  return ctx;
end
$$;
