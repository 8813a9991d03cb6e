-- Sellers on Stripe Connect (#18), accounts and payouts: the seller-onboarding function's login role and doors,
-- ops.apply_connect_account (account.updated, account.application.deauthorized) and ops.apply_payout (payout.*)
-- replacing 3100's placeholders, a seller's readable account status, listings of blocked sellers hidden from
-- buyers, the sellers' requirement and failed-payout emails, the payouts support queue and the payout_failed rule.

-- ---------------------------------------------------------------- columns
alter table public.seller_accounts add column if not exists deauthorized_at timestamptz;
comment on column public.seller_accounts.deauthorized_at is 'When the seller disconnected their account from the '
  'platform (account.application.deauthorized): final, the seller can no longer be paid.';
alter table public.seller_payouts add column if not exists failed_at timestamptz;
comment on column public.seller_payouts.failed_at is 'Stripe''s time (event created) of the payout.failed that failed '
  'it: the payout_failed alert counts these.';
create index if not exists seller_payouts_failed_idx on public.seller_payouts (failed_at) where failed_at is not null;

-- ---------------------------------------------------------------- why a seller is blocked, in words
-- Stripe's requirements.disabled_reason (Accounts v1) as a sentence for the seller and the next step.
create or replace function private.seller_block_reason(p_disabled_reason text, p_past_due text[],
                                                       p_currently_due text[], p_details_submitted boolean,
                                                       p_deauthorized boolean, p_current_deadline timestamptz,
                                                       out why text, out next_step text)
language sql immutable
set search_path = ''
as $$
  select x.why, x.next_step from (select
    case
      when p_deauthorized then 'You disconnected your Stripe account from this platform.'
      when p_disabled_reason = 'requirements.past_due' then 'Stripe needs information that is now overdue: '
        || array_to_string(p_past_due[1:5], ', ') || '.'
      when p_disabled_reason = 'requirements.pending_verification' then 'Stripe is verifying the information you '
        || 'gave; payments resume once it is verified.'
      when p_disabled_reason = 'action_required.requested_capabilities' then 'Your account must be set up to accept '
        || 'card payments and transfers.'
      when p_disabled_reason in ('listed', 'rejected.listed') then 'Stripe found your business on a prohibited or '
        || 'sanctions list.'
      when p_disabled_reason = 'under_review' then 'Stripe is reviewing your account.'
      when p_disabled_reason = 'platform_paused' then 'The platform paused payments to your account.'
      when p_disabled_reason in ('rejected.fraud', 'rejected.platform_fraud') then 'Your account was closed for '
        || 'suspected fraud.'
      when p_disabled_reason in ('rejected.terms_of_service', 'rejected.platform_terms_of_service') then 'Your '
        || 'account was closed for a breach of the terms of service.'
      when p_disabled_reason = 'rejected.incomplete_verification' then 'Your account was closed: verification was '
        || 'not completed in time.'
      when p_disabled_reason like 'rejected.%' then 'Your account was closed.'
      when p_disabled_reason is not null then 'Stripe disabled payments to your account (' || p_disabled_reason || ').'
      when not coalesce(p_details_submitted, false) then 'You have not finished setting up payouts with Stripe.'
      when cardinality(p_past_due) > 0 then 'Stripe needs information that is now overdue: '
        || array_to_string(p_past_due[1:5], ', ') || '.'
      when cardinality(p_currently_due) > 0 then 'Stripe needs more information'
        || coalesce(' by ' || to_char(p_current_deadline at time zone 'UTC', 'YYYY-MM-DD'), '') || ': '
        || array_to_string(p_currently_due[1:5], ', ') || '.'
    end as why,
    case
      when p_deauthorized then 'Contact support to connect a new Stripe account.'
      when p_disabled_reason in ('requirements.past_due', 'action_required.requested_capabilities')
        or (p_disabled_reason is null and (not coalesce(p_details_submitted, false) or cardinality(p_past_due) > 0
                                           or cardinality(p_currently_due) > 0))
        then 'Open seller onboarding and complete what Stripe asks for.'
      when p_disabled_reason in ('requirements.pending_verification', 'under_review') then 'Nothing to do now: '
        || 'Stripe will email you if it needs more.'
      when p_disabled_reason = 'platform_paused' then 'Contact support.'
      when p_disabled_reason like 'rejected.%' or p_disabled_reason = 'listed' then 'Contact Stripe support from '
        || 'your Express dashboard if you think this is a mistake.'
      when p_disabled_reason is not null then 'Open seller onboarding and check your account, or contact support.'
    end as next_step) x
$$;
comment on function private.seller_block_reason(text, text[], text[], boolean, boolean, timestamptz) is 'A seller''s '
  'connected account state (Stripe''s requirements.disabled_reason, due and past-due requirements) as a sentence '
  'and the next step; null when nothing blocks or is asked.';

-- The seller's own view: RLS of seller_accounts decides (security invoker): a seller reads their row, admins all.
create or replace view public.seller_account_status with (security_invoker = true) as
select a.seller_id, a.stripe_account_id, a.charges_enabled, a.payouts_enabled, a.details_submitted,
       case
         when a.deauthorized_at is not null then 'disconnected'
         when a.disabled_reason like 'rejected.%' then 'rejected'
         when a.charges_enabled and a.payouts_enabled and cardinality(a.requirements_past_due) = 0
              and cardinality(a.requirements_currently_due) = 0 then 'active'
         when a.charges_enabled then 'action_required'
         when a.disabled_reason in ('requirements.pending_verification', 'under_review') then 'pending'
         else 'blocked'
       end as status,
       r.why as why_blocked, r.next_step,
       a.requirements_currently_due, a.requirements_past_due, a.requirements_eventually_due, a.current_deadline,
       a.disabled_reason, a.stripe_updated_at, a.deauthorized_at
  from public.seller_accounts a
  cross join lateral private.seller_block_reason(a.disabled_reason, a.requirements_past_due,
                                                 a.requirements_currently_due, a.details_submitted,
                                                 a.deauthorized_at is not null, a.current_deadline) r;
comment on view public.seller_account_status is 'Each seller''s connected account in words: status (active, '
  'action_required, pending, blocked, rejected, disconnected), why it is blocked and the next step. Sellers read '
  'their own row, admins all (RLS of seller_accounts).';
revoke all on public.seller_account_status from anon, authenticated;
grant select on public.seller_account_status to authenticated;
grant execute on function private.seller_block_reason(text, text[], text[], boolean, boolean, timestamptz)
  to authenticated;

-- Studio: sellers who cannot take payments (while Connect is on), or whom Stripe asks for something.
create or replace view ops.blocked_sellers as
select s.seller_id, p.display_name, u.email, s.status, s.why_blocked, s.next_step, s.charges_enabled,
       s.payouts_enabled, s.requirements_past_due, s.requirements_currently_due, s.current_deadline,
       s.disabled_reason, s.stripe_account_id, s.stripe_updated_at
  from public.seller_account_status s
  join public.profiles p on p.id = s.seller_id
  left join auth.users u on u.id = s.seller_id
 where s.status <> 'active';
comment on view ops.blocked_sellers is 'Sellers whose connected account cannot take payments or is asked for '
  'information, with why and the next step (Studio, the dashboard).';
revoke all on ops.blocked_sellers from public, anon, authenticated;

-- The dashboard's section (admins only), kept apart from ops.dashboard_snapshot so features add their own.
-- security definer: the dashboard's admin reads every seller's account and email, which authenticated may not.
create or replace function ops.dashboard_blocked_sellers() returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  perform ops.require_admin();
  return coalesce((select jsonb_agg(to_jsonb(x)) from (
    select b.seller_id, b.display_name, b.email, b.status, b.why_blocked, b.next_step, b.current_deadline,
           b.stripe_account_id
      from ops.blocked_sellers b
     order by cardinality(b.requirements_past_due) > 0 desc, b.current_deadline nulls last, b.seller_id
     limit 50) x), '[]');
end
$$;
revoke all on function ops.dashboard_blocked_sellers() from public;
grant execute on function ops.dashboard_blocked_sellers() to authenticated;

-- ---------------------------------------------------------------- listings of sellers who cannot be paid
-- Whether a seller's active listings are for sale: with Connect on, only when their account accepts charges.
-- security definer: anon and authenticated read no settings and no other seller's account.
create or replace function private.seller_listings_open(p_seller_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select not coalesce((select s.connect_enabled from ops.settings s where s.id), false)
      or private.seller_can_accept_charges(p_seller_id)
$$;
revoke all on function private.seller_listings_open(uuid) from public;
grant execute on function private.seller_listings_open(uuid) to anon, authenticated;

drop policy if exists "Visitors can read active listings" on public.listings;
create policy "Visitors can read active listings" on public.listings
  for select to anon using (active and private.seller_listings_open(seller_id));
drop policy if exists "Users can read active listings, sellers their own, admins all" on public.listings;
create policy "Users can read active listings, sellers their own, admins all" on public.listings
  for select to authenticated
  using ((active and private.seller_listings_open(seller_id)) or seller_id = (select auth.uid())
         or (select private.is_admin()));

-- ---------------------------------------------------------------- sellers' emails
-- A seller's email, its content frozen at enqueue (ops.notify_job_context sends a payload's `data` as it is):
-- the state that triggered it, not a later one. No email address: nothing to send (false).
create or replace function ops.enqueue_seller_email(p_seller_id uuid, p_template text, p_entity text, p_data jsonb)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_to text := ops.notify_recipient_email('user:' || p_seller_id);
begin
  if v_to is null then
    return false;
  end if;
  perform ops.enqueue_notification('email', p_template, p_entity, 'user:' || p_seller_id,
    jsonb_build_object('to', v_to, 'data', jsonb_strip_nulls(p_data || jsonb_build_object(
      'seller_name', (select p.display_name from public.profiles p where p.id = p_seller_id)))));
  return true;
end
$$;

-- ---------------------------------------------------------------- account.updated, deauthorized
-- Newest state wins (event created vs stripe_updated_at; equal times apply, Stripe's order within a second is
-- unknown). A seller is emailed once when requirements become due after onboarding and once when some become
-- past due; each resets when Stripe no longer asks, so a later episode is told again.
create or replace function ops.apply_connect_account(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  obj jsonb := evt -> 'data' -> 'object';
  acct text := coalesce(evt ->> 'account', case when obj ->> 'object' = 'account' then obj ->> 'id' end);
  at timestamptz := to_timestamp((evt ->> 'created')::bigint);
  a public.seller_accounts;
  req jsonb;
  due text[];
  past text[];
  r record;
begin
  if acct is null then
    return 'ignored';
  end if;
  select * into a from public.seller_accounts where stripe_account_id = acct for update;
  if not found then
    return 'ignored'; -- the platform's own account, or one that is not a seller's (the scope rule says which)
  end if;
  if evt ->> 'type' = 'account.application.deauthorized' then
    update public.seller_accounts
       set deauthorized_at = coalesce(deauthorized_at, at), charges_enabled = false, payouts_enabled = false,
           stripe_updated_at = greatest(stripe_updated_at, at)
     where seller_id = a.seller_id;
    return 'processed';
  end if;
  if obj ->> 'object' is distinct from 'account' or obj ->> 'id' is distinct from acct then
    raise exception 'account.updated %: data.object is not account %', evt ->> 'id', acct
      using errcode = 'invalid_parameter_value';
  end if;
  if a.stripe_updated_at is not null and at < a.stripe_updated_at then
    return 'processed'; -- an older state than the one held: recorded, changes nothing
  end if;
  req := coalesce(obj -> 'requirements', '{}');
  due := array(select jsonb_array_elements_text(coalesce(req -> 'currently_due', '[]')));
  past := array(select jsonb_array_elements_text(coalesce(req -> 'past_due', '[]')));
  update public.seller_accounts
     set charges_enabled = a.deauthorized_at is null and coalesce((obj ->> 'charges_enabled')::boolean, false),
         payouts_enabled = a.deauthorized_at is null and coalesce((obj ->> 'payouts_enabled')::boolean, false),
         details_submitted = coalesce((obj ->> 'details_submitted')::boolean, false),
         country = coalesce(obj ->> 'country', country),
         requirements_currently_due = due,
         requirements_past_due = past,
         requirements_eventually_due = array(select jsonb_array_elements_text(
                                               coalesce(req -> 'eventually_due', '[]'))),
         current_deadline = to_timestamp(nullif(req ->> 'current_deadline', '')::bigint),
         disabled_reason = req ->> 'disabled_reason',
         stripe_updated_at = at,
         due_notified_at = case when cardinality(due) = 0 then null else due_notified_at end,
         past_due_notified_at = case when cardinality(past) = 0 then null else past_due_notified_at end
   where seller_id = a.seller_id
  returning * into a;
  select * into r from private.seller_block_reason(a.disabled_reason, a.requirements_past_due,
    a.requirements_currently_due, a.details_submitted, a.deauthorized_at is not null, a.current_deadline);
  if cardinality(past) > 0 and a.past_due_notified_at is null then
    if ops.enqueue_seller_email(a.seller_id, 'seller_requirements_past_due',
         'seller_account:' || a.seller_id || ':past_due:' || (evt ->> 'id'),
         jsonb_build_object('requirements', to_jsonb(past[1:10]), 'why', r.why, 'next_step', r.next_step,
                            'charges_enabled', a.charges_enabled)) then
      update public.seller_accounts set past_due_notified_at = now(), due_notified_at = coalesce(due_notified_at, now())
       where seller_id = a.seller_id;
    end if;
  elsif cardinality(due) > 0 and a.details_submitted and a.due_notified_at is null then
    -- during onboarding everything is due: the app's onboarding page says so; email once Stripe asks for more
    if ops.enqueue_seller_email(a.seller_id, 'seller_requirements_due',
         'seller_account:' || a.seller_id || ':due:' || (evt ->> 'id'),
         jsonb_build_object('requirements', to_jsonb(due[1:10]), 'deadline', a.current_deadline,
                            'why', r.why, 'next_step', r.next_step)) then
      update public.seller_accounts set due_notified_at = now() where seller_id = a.seller_id;
    end if;
  end if;
  return 'processed';
end
$$;

-- ---------------------------------------------------------------- payouts
create or replace function ops.payout_failure_advice(p_code text) returns text
language sql immutable
set search_path = ''
as $$
  select case p_code
    when 'account_closed' then 'The bank account is closed: add a new bank account in your Stripe Express dashboard.'
    when 'no_account' then 'The bank could not find this account: check the account number or add another account.'
    when 'invalid_account_number' then 'The account number is wrong: correct it in your Stripe Express dashboard.'
    when 'incorrect_account_holder_name' then 'The account holder''s name does not match the bank''s: correct it.'
    when 'incorrect_account_holder_address' then 'The account holder''s address does not match the bank''s: '
      || 'correct it.'
    when 'incorrect_account_holder_tax_id' then 'The account holder''s tax id does not match the bank''s: correct it.'
    when 'account_frozen' then 'The bank account is frozen: contact your bank, or add another account.'
    when 'bank_account_restricted' then 'The bank account takes no such deposits: contact your bank or add '
      || 'another account.'
    when 'bank_ownership_changed' then 'The bank account changed hands: add the account again with its new details.'
    when 'debit_not_authorized' then 'Your bank refused a debit from Stripe: authorize Stripe with your bank.'
    when 'insufficient_funds' then 'Your Stripe balance could not cover the payout (refunds or disputes took it): '
      || 'Stripe retries once the balance is positive.'
    when 'invalid_currency' then 'The bank account cannot take this currency: add an account in that currency.'
    when 'declined' then 'The bank declined the payout: contact your bank or add another account.'
    when 'could_not_process' then 'The bank could not process the payout: check the account, Stripe retries.'
    when 'unsupported_card' then 'This debit card takes no payouts: add a bank account or another card.'
    when 'expired_card' then 'The debit card has expired: add a current card or a bank account.'
    when 'lost_or_stolen_card' then 'The debit card was reported lost or stolen: add another card or a bank account.'
    else 'Check your payout details in your Stripe Express dashboard, or contact support.'
  end
$$;

-- Newest state wins (event created vs stripe_updated_at); a payout that failed (or was paid or canceled) keeps
-- that final status against older events. The first failure opens one ticket in the payouts queue (case
-- payout_failed:<payout>), emails the seller once and counts in the payout_failed alert (failed_at).
create or replace function ops.apply_payout(evt jsonb) returns text
language plpgsql
set search_path = ''
as $$
declare
  obj jsonb := evt -> 'data' -> 'object';
  acct text := evt ->> 'account';
  at timestamptz := to_timestamp((evt ->> 'created')::bigint);
  v_seller uuid;
  p public.seller_payouts;
  v_new_failure boolean;
  t public.support_tickets;
  advice text;
begin
  if acct is null then
    return 'ignored'; -- the platform's own payouts are not a seller's
  end if;
  select a.seller_id into v_seller from public.seller_accounts a where a.stripe_account_id = acct;
  if not found then
    return 'ignored';
  end if;
  if obj ->> 'object' is distinct from 'payout' or coalesce(obj ->> 'id', '') !~ '^po_[A-Za-z0-9]+$' then
    raise exception 'payout event %: data.object is not a payout', evt ->> 'id'
      using errcode = 'invalid_parameter_value';
  end if;
  insert into public.seller_payouts as x (id, seller_id, stripe_account_id, amount, currency, status, arrival_date,
                                          failure_code, failure_message, stripe_updated_at, failed_at)
  values (obj ->> 'id', v_seller, acct, (obj ->> 'amount')::bigint, lower(obj ->> 'currency'), obj ->> 'status',
          to_timestamp(nullif(obj ->> 'arrival_date', '')::bigint), obj ->> 'failure_code',
          obj ->> 'failure_message', at, case when obj ->> 'status' = 'failed' then at end)
  on conflict (id) do update
     set amount = excluded.amount, currency = excluded.currency, status = excluded.status,
         arrival_date = excluded.arrival_date,
         failure_code = coalesce(excluded.failure_code, x.failure_code),
         failure_message = coalesce(excluded.failure_message, x.failure_message),
         stripe_updated_at = excluded.stripe_updated_at,
         failed_at = coalesce(x.failed_at, excluded.failed_at)
   -- newer wins; a final status (paid, failed, canceled) is never replaced by an older or pending one
   where x.stripe_updated_at is null or (excluded.stripe_updated_at >= x.stripe_updated_at
                                         and not (x.status in ('failed', 'canceled')
                                                  and excluded.status in ('pending', 'in_transit', 'paid'))
                                         and not (x.status = 'paid' and excluded.status in ('pending', 'in_transit')))
  returning * into p;
  -- the failure's ticket and email are keyed by the payout, so a replay or a second failed event adds nothing
  v_new_failure := obj ->> 'status' = 'failed'
    and not exists (select 1 from public.support_tickets x where x.case_key = 'payout_failed:' || (obj ->> 'id'));
  if v_new_failure then
    select * into p from public.seller_payouts where id = obj ->> 'id';
    if p.failed_at is null then
      update public.seller_payouts set failed_at = at where id = p.id returning * into p;
    end if;
    advice := ops.payout_failure_advice(p.failure_code);
    insert into public.support_tickets (source, category, subject, requester_id, case_key, context)
    values ('system', 'payout_failed',
            left(format('Payout %s to %s failed: %s', p.id,
                        coalesce((select x.display_name from public.profiles x where x.id = v_seller), v_seller::text),
                        coalesce(p.failure_code, 'no code')), 200),
            -- the platform's case with Stripe and the seller's bank, not a request of the seller's
            null, 'payout_failed:' || p.id,
            jsonb_build_object('stripe_event_id', evt ->> 'id', 'payout_id', p.id, 'seller_id', v_seller,
                               'stripe_account_id', acct, 'failure_code', p.failure_code))
    returning * into t;
    insert into public.ticket_messages (ticket_id, author_id, author_kind, body)
    values (t.id, null, 'system',
            format('Payout %s of %s %s to seller %s (%s) failed: %s (%s). Told the seller: %s', p.id, p.amount,
                   upper(p.currency), v_seller, acct, coalesce(p.failure_message, 'no message'),
                   coalesce(p.failure_code, 'no code'), advice));
    perform ops.enqueue_seller_email(v_seller, 'seller_payout_failed', 'payout:' || p.id,
      jsonb_build_object('payout_id', p.id, 'amount', p.amount, 'currency', p.currency,
                         'failure_code', p.failure_code, 'failure_message', p.failure_message,
                         'advice', advice, 'ticket_ref', t.ref));
  end if;
  return 'processed';
end
$$;

-- ---------------------------------------------------------------- the payouts queue
insert into ops.support_queues (queue, description) values
  ('payouts', 'Sellers'' payouts that failed: the seller''s bank details or balance')
on conflict (queue) do nothing;
alter table public.support_tickets drop constraint if exists support_tickets_category_check;
alter table public.support_tickets add constraint support_tickets_category_check
  check (category in ('billing', 'order', 'technical', 'account', 'other', 'dispute', 'payment_failed',
                      'payout_failed'));
insert into ops.support_routing_rules (position, description, match_categories, set_queue, set_priority, add_tags)
select 15, 'Failed payouts to sellers go to the payouts queue, high: the seller is not paid', array['payout_failed'],
       'payouts', 'high', array['payout']
 where not exists (select 1 from ops.support_routing_rules r where 'payout_failed' = any (r.match_categories));

-- ---------------------------------------------------------------- the payout_failed alert
create or replace function ops.alert_check_payout_failed(r ops.alert_rules, p_now timestamptz, p_since timestamptz,
  out firing boolean, out value numeric, out summary text, out detail jsonb, out recovered boolean)
language plpgsql stable
set search_path = ''
as $$
declare
  n bigint;
  last_failed timestamptz;
  x jsonb;
begin
  select count(*), max(p.failed_at),
         coalesce(jsonb_agg(jsonb_build_object('payout', p.id, 'seller', p.seller_id, 'code', p.failure_code)
                            order by p.failed_at desc) filter (where p.id is not null), '[]')
    into n, last_failed, x
    from (select * from public.seller_payouts q
           where q.failed_at > p_since and q.failed_at <= p_now order by q.failed_at desc limit 20) p;
  value := n;
  firing := n > r.threshold and n >= r.min_count;
  recovered := last_failed is null or last_failed <= p_now - r.clear_after;
  summary := format('%s seller payout%s failed in %s', n, case when n = 1 then '' else 's' end,
                    ops.interval_words(r.window_interval));
  detail := jsonb_build_object('failed_payouts', x);
end
$$;
insert into ops.alert_rules (rule, description, threshold, window_interval, min_count, clear_after, severity,
                             inhibited_by, runbook, check_fn)
values ('payout_failed', 'Sellers'' payouts that failed (payout.failed of a connected account) in the window', 0,
        interval '24 hours', 1, interval '1 hour', 'warning', '{}',
        'Open the payouts queue: each failed payout has a ticket and the seller was emailed what to fix; Stripe '
        'retries once the seller''s bank details are fixed.',
        'ops.alert_check_payout_failed(ops.alert_rules,timestamptz,timestamptz)')
on conflict (rule) do update set check_fn = excluded.check_fn
 where to_regprocedure(ops.alert_rules.check_fn)
       = 'ops.alert_check_undefined(ops.alert_rules,timestamptz,timestamptz)'::regprocedure;

-- ---------------------------------------------------------------- the seller-onboarding function's doors
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'seller_onboarding') then
    -- the seller-onboarding function's login role: it owns nothing; rate tokens and the two doors below
    create role seller_onboarding nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to seller_onboarding;
grant execute on function ops.take_rate_tokens(text, integer, integer, integer) to seller_onboarding;
grant execute on function ops.record_endpoint_outcome(text, integer, text) to seller_onboarding;
alter role seller_onboarding set lock_timeout = '3s';
alter role seller_onboarding set statement_timeout = '15s';
alter role seller_onboarding set idle_in_transaction_session_timeout = '30s';

-- What the function needs to create a seller's account: who they are (a seller, not anonymous), their country and
-- email, and the account already recorded. Refusals raise SQLSTATE SO<http status> with a sentence.
-- security definer: the role seller_onboarding reads no table; this reads p_user_id's own rows only.
create or replace function ops.seller_onboarding_begin(p_user_id uuid, p_livemode boolean, p_account_id text)
returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  u auth.users;
  p public.profiles;
  a public.seller_accounts;
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the seller-onboarding key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'SO401';
  end if;
  if coalesce(u.is_anonymous, false) then
    raise exception 'anonymous sessions cannot sell: sign up with an email first' using errcode = 'SO403';
  end if;
  select * into p from public.profiles where id = p_user_id;
  if not found or p.role is distinct from 'seller' then
    raise exception 'only sellers get a payout account: ask the platform to make your account a seller'
      using errcode = 'SO403';
  end if;
  select * into a from public.seller_accounts where seller_id = p_user_id;
  if a.deauthorized_at is not null then
    raise exception 'your Stripe account was disconnected from this platform: contact support to connect a new one'
      using errcode = 'SO409';
  end if;
  if a.seller_id is null and p.country is null then
    raise exception 'set your country first (profiles.country, e.g. US or FR): your payout account is created '
      'in it and cannot move' using errcode = 'SO409';
  end if;
  if a.seller_id is null and nullif(trim(u.email), '') is null then
    raise exception 'your account has no email address: add one first' using errcode = 'SO409';
  end if;
  return jsonb_build_object('email', lower(trim(u.email)), 'country', coalesce(a.country, p.country),
    'stripe_account_id', a.stripe_account_id, 'charges_enabled', coalesce(a.charges_enabled, false),
    'payouts_enabled', coalesce(a.payouts_enabled, false), 'details_submitted', coalesce(a.details_submitted, false));
end
$$;

-- The account Stripe created (or replayed) for the seller, recorded once: a concurrent call's row wins and is
-- answered. Its state comes from account.updated; only the creation's answer is taken when nothing newer is held.
-- security definer: the role seller_onboarding cannot write public.seller_accounts.
create or replace function ops.seller_onboarding_record(p_user_id uuid, p_account jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  a public.seller_accounts;
begin
  if not exists (select 1 from public.profiles p where p.id = p_user_id and p.role = 'seller') then
    raise exception 'only sellers get a payout account' using errcode = 'SO403';
  end if;
  insert into public.seller_accounts (seller_id, stripe_account_id, livemode, country, charges_enabled,
                                      payouts_enabled, details_submitted)
  values (p_user_id, p_account ->> 'id', coalesce((p_account ->> 'livemode')::boolean, false),
          p_account ->> 'country', coalesce((p_account ->> 'charges_enabled')::boolean, false),
          coalesce((p_account ->> 'payouts_enabled')::boolean, false),
          coalesce((p_account ->> 'details_submitted')::boolean, false))
  on conflict (seller_id) do nothing;
  select * into a from public.seller_accounts where seller_id = p_user_id;
  return jsonb_build_object('stripe_account_id', a.stripe_account_id, 'charges_enabled', a.charges_enabled,
    'payouts_enabled', a.payouts_enabled, 'details_submitted', a.details_submitted);
end
$$;

revoke all on function ops.seller_onboarding_begin(uuid, boolean, text), ops.seller_onboarding_record(uuid, jsonb)
  from public;
grant execute on function ops.seller_onboarding_begin(uuid, boolean, text), ops.seller_onboarding_record(uuid, jsonb)
  to seller_onboarding;
comment on function ops.seller_onboarding_begin(uuid, boolean, text) is 'seller-onboarding function: who the seller '
  'is, their country and email, and their recorded account (refusals: SQLSTATE SO<status>).';
comment on function ops.seller_onboarding_record(uuid, jsonb) is 'seller-onboarding function: records the seller''s '
  'connected account once; answers the recorded one.';
