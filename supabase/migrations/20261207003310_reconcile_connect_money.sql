-- Reconciliation's Connect cross-checks (#18): every paid order of a Connect seller has its transfer, and the
-- payouts Stripe lists for our sellers' connected accounts are in public.seller_payouts. Two finding kinds
-- (verdict functions and rows), one reconciler door naming the accounts to list, and the transfer and
-- application fee events among those reconciliation recovers. Nothing is dropped.

-- The event types ops.apply_stripe_event applies, with the order money of Connect (migration 3300). The
-- connected accounts' own events (account.updated, payout.*) come to the Connect endpoint and are listed per
-- account: they are not in the platform's event list.
create or replace function ops.stripe_event_type_applied(p_type text) returns boolean
language sql immutable
set search_path = ''
as $$
  select p_type in ('checkout.session.completed', 'checkout.session.async_payment_succeeded',
                    'checkout.session.async_payment_failed', 'checkout.session.expired',
                    'payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled',
                    'charge.refunded', 'charge.succeeded', 'charge.captured',
                    'refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated',
                    'invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed',
                    'customer.subscription.created', 'customer.subscription.updated',
                    'customer.subscription.deleted', 'customer.subscription.paused',
                    'customer.subscription.resumed', 'customer.created', 'customer.updated', 'customer.deleted',
                    'transfer.created', 'transfer.updated', 'transfer.reversed',
                    'application_fee.created', 'application_fee.refunded')
         or p_type like 'charge.dispute.%'
$$;

-- ---------------------------------------------------------------- which connected accounts a run lists
create table if not exists ops.reconcile_connect_accounts_checked (
  stripe_account_id text primary key,
  checked_at timestamptz not null
);
comment on table ops.reconcile_connect_accounts_checked is 'When reconciliation last listed a connected account''s '
  'payouts: each run takes the accounts checked longest ago, so a bounded run still reaches every seller in turn.';
alter table ops.reconcile_connect_accounts_checked enable row level security;

-- security definer: the reconciler reads no table; this door answers only for a reconcile job it holds.
-- Whether Connect is on (only then are transfers and payouts cross-checked) and at most p_limit of our sellers'
-- connected accounts whose payouts to list, those checked longest ago (never first), marked checked now.
create or replace function ops.reconcile_connect_accounts(p_job_id bigint, p_worker text, p_limit integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_accounts text[];
  v_enabled boolean := coalesce((select s.connect_enabled from ops.settings s where s.id), false);
begin
  perform ops.require_reconcile_job(p_job_id, p_worker);
  if not v_enabled then
    return jsonb_build_object('connect_enabled', false, 'accounts', '[]'::jsonb);
  end if;
  select coalesce(array_agg(x.stripe_account_id order by x.stripe_account_id), '{}') into v_accounts from (
    select a.stripe_account_id from public.seller_accounts a
      left join ops.reconcile_connect_accounts_checked k on k.stripe_account_id = a.stripe_account_id
     order by k.checked_at nulls first, a.stripe_account_id
     limit greatest(p_limit, 0)) x;
  insert into ops.reconcile_connect_accounts_checked (stripe_account_id, checked_at)
  select unnest(v_accounts), now()
  on conflict (stripe_account_id) do update set checked_at = excluded.checked_at;
  return jsonb_build_object('connect_enabled', true, 'accounts', to_jsonb(v_accounts));
end
$$;
revoke all on function ops.reconcile_connect_accounts(bigint, text, integer) from public;
grant execute on function ops.reconcile_connect_accounts(bigint, text, integer) to reconciler;

-- ---------------------------------------------------------------- the cross-checks
-- p_objects gains (reconcile/stripe.ts): transfers (Stripe's, created since checks_from: id, charge,
-- destination, amount, created), payouts (of the accounts listed: id, account, amount, currency, status,
-- created, arrival_date), and grace_seconds (RECONCILE_GRACE_SECONDS: events younger than that may still be on
-- their way, so objects younger than that are not judged yet).
create or replace function ops.reconcile_transfers(p_objects jsonb)
returns table (id text, charge text, destination text, amount bigint, created bigint)
language sql immutable
set search_path = ''
as $$
  select x.* from jsonb_to_recordset(coalesce(p_objects -> 'transfers', '[]')) as x(
    id text, charge text, destination text, amount bigint, created bigint)
$$;

-- connect_transfer_missing: a paid order (since checks_from, or with an open finding) paid by a destination
-- charge (its charge named a destination, or checkout made its session one) whose share has no transfer (the
-- transfer object, with its amount: a charge naming it is not enough). The detail says whether Stripe lists a
-- transfer of its charge (then its event is what we lack).
create or replace function ops.reconcile_verdicts_connect_transfer_missing(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
  with o as (
    select o.id, o.status, o.paid_at, o.payment_confirmed, a.stripe_account_id, sh.transfer_id, sh.transfer_amount,
           coalesce(sh.charge_id, (select p.latest_charge_id from ops.payment_intents p
                                    where p.stripe_payment_intent_id = o.stripe_payment_intent_id)) as charge
      from public.orders o
      left join public.seller_accounts a on a.seller_id = o.seller_id
      left join public.order_shares sh on sh.order_id = o.id
     where ((o.payment_confirmed and o.paid_at >= to_timestamp((p_objects ->> 'checks_from')::bigint)
             and o.paid_at <= now() - make_interval(secs => coalesce((p_objects ->> 'grace_seconds')::int, 0)))
            or exists (select 1 from ops.reconciliation_findings f
                        where f.kind = 'connect_transfer_missing' and f.status = 'open' and f.object_id = o.id::text))
       -- a destination charge: its charge said so, or checkout asked Stripe for one
       and (sh.destination_account_id is not null
            or exists (select 1 from ops.checkout_requests r where r.order_id = o.id
                        and r.session_params #> '{payment_intent_data,transfer_data,destination}' is not null))
  )
  -- the transfer object recorded (its amount), not only named by the charge
  select o.id::text, o.payment_confirmed and o.transfer_amount is null, o.id, null::uuid,
         jsonb_build_object('order_status', o.status, 'paid_at', o.paid_at, 'charge', o.charge,
                            'seller_account', o.stripe_account_id, 'stripe_transfer', t.id),
         case when t.id is not null then
           format('Paid order %s: Stripe made transfer %s (%s) from its charge %s to %s, but its transfer.created '
                  'event never reached us. In the Stripe dashboard (Developers > Events) resend the transfer''s '
                  'events to the webhook endpoint; the order''s share follows.',
                  o.id, t.id, t.amount, o.charge, t.destination)
         else
           format('Paid order %s (charge %s) has no transfer to the seller''s account %s: check in the Stripe '
                  'dashboard that the payment was a destination charge (Connect, transfer_data). If Stripe made no '
                  'transfer, pay the seller by a manual transfer to that account, or refund the buyer.',
                  o.id, coalesce(o.charge, 'unknown'), coalesce(o.stripe_account_id, 'none'))
         end
    from o
    left join lateral (select x.* from ops.reconcile_transfers(p_objects) x
                        where x.charge = o.charge or x.id = o.transfer_id order by x.created desc limit 1) t on true
$$;

-- seller_payout_missing: a payout Stripe lists for one of our sellers' connected accounts that
-- public.seller_payouts lacks (its payout.* event never reached the Connect endpoint); one we have is fine.
create or replace function ops.reconcile_verdicts_seller_payout_missing(p_objects jsonb)
returns table (object_id text, problem boolean, order_id uuid, customer_id uuid, detail jsonb, next_action text)
language sql stable
set search_path = ''
as $$
  select p.id, not exists (select 1 from public.seller_payouts x where x.id = p.id), null::uuid, null::uuid,
         jsonb_build_object('account', p.account, 'seller_id', a.seller_id, 'amount', p.amount, 'currency',
                            p.currency, 'status', p.status, 'arrival_date', to_timestamp(p.arrival_date)),
         format('Stripe lists payout %s (%s %s, %s) of the connected account %s (seller %s), which we never recorded: '
                'its payout events did not reach the Connect endpoint. Check that endpoint in the Stripe dashboard '
                '(Developers > Webhooks, events of connected accounts, payout.*) and resend the payout''s events.',
                p.id, p.amount, upper(p.currency), p.status, p.account, coalesce(a.seller_id::text, 'unknown'))
    from jsonb_to_recordset(coalesce(p_objects -> 'payouts', '[]')) as p(
           id text, account text, amount bigint, currency text, status text, created bigint, arrival_date bigint)
    left join public.seller_accounts a on a.stripe_account_id = p.account
   where to_timestamp(p.created) <= now() - make_interval(secs => coalesce((p_objects ->> 'grace_seconds')::int, 0))
$$;

insert into ops.reconciliation_kinds (kind, description, verdict_fn)
values
  ('connect_transfer_missing', 'A paid order of a Connect seller without its transfer to the seller''s account',
   'ops.reconcile_verdicts_connect_transfer_missing(jsonb)'),
  ('seller_payout_missing', 'A payout Stripe lists for a seller''s connected account that we never recorded',
   'ops.reconcile_verdicts_seller_payout_missing(jsonb)')
on conflict (kind) do nothing;
