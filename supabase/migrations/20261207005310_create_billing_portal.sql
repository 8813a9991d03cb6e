-- The billing-portal function (#20): the signed-in customer gets a Stripe Billing Portal session for their own
-- Stripe customer. Creates its login role billing_portal (rate tokens, the answer counter and one door) and the
-- door ops.billing_portal_customer. Touches no data.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'billing_portal') then
    -- the billing-portal function's login role: it owns nothing; rate tokens, its answer counter and one door
    create role billing_portal nologin noinherit;
  end if;
end
$$;
grant usage on schema ops to billing_portal;
grant execute on function ops.take_rate_tokens(text, integer, integer, integer) to billing_portal;
grant execute on function ops.record_endpoint_outcome(text, integer, text) to billing_portal;
alter role billing_portal set lock_timeout = '3s';
alter role billing_portal set statement_timeout = '15s';
alter role billing_portal set idle_in_transaction_session_timeout = '30s';

-- Which Stripe customer the user's portal opens: of their customer row's Stripe customers not deleted, the one
-- with a live subscription (past_due first: the one that needs a card), else the one the server created, else the
-- newest link. Refusals raise SQLSTATE BP<http status> with a sentence for the customer.
-- security definer: the role billing_portal reads no table; this reads p_user_id's own rows only.
create or replace function ops.billing_portal_customer(p_user_id uuid, p_livemode boolean, p_account_id text)
returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  u auth.users;
  v_customer text;
begin
  perform ops.require_stripe_scope(s, p_livemode, p_account_id, 'the billing-portal key (STRIPE_SECRET_KEY)')
    from ops.settings s;
  select * into u from auth.users where id = p_user_id;
  if not found then
    raise exception 'your account no longer exists: sign in again' using errcode = 'BP401';
  end if;
  if coalesce(u.is_anonymous, false) then
    raise exception 'anonymous sessions have no billing: sign up with an email first' using errcode = 'BP403';
  end if;
  select m.stripe_customer_id into v_customer
    from public.customers c
    join ops.stripe_customers m on m.customer_id = c.id and m.deleted_at is null
   where c.user_id = p_user_id
   order by (select max(case s.status when 'past_due' then 3 when 'unpaid' then 3 when 'active' then 2
                                        when 'trialing' then 2 when 'paused' then 2 else 0 end)
               from public.subscriptions s where s.stripe_customer_id = m.stripe_customer_id) desc nulls last,
            (m.linked_by = 'server') desc nulls last, m.linked_at desc nulls last, m.created_at desc
   limit 1;
  if v_customer is null then
    raise exception 'you have no billing account yet: subscribe to a plan first' using errcode = 'BP404';
  end if;
  return jsonb_build_object('stripe_customer_id', v_customer);
end
$$;
revoke all on function ops.billing_portal_customer(uuid, boolean, text) from public;
grant execute on function ops.billing_portal_customer(uuid, boolean, text) to billing_portal;
comment on function ops.billing_portal_customer(uuid, boolean, text) is 'billing-portal function: the signed-in '
  'user''s Stripe customer (refusals: SQLSTATE BP<status>).';
