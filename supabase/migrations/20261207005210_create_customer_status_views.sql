-- The app's status contract (#20): views the signed-in user reads under RLS (security invoker) that turn
-- orders, access and tickets into stable state keys with a title, an explanation, a next step and an action
-- key, and the one table of wording the founder edits in Studio. Adds a table (seeded without overwriting
-- edited rows) and four views; changes no existing object.

-- ---------------------------------------------------------------- the wording
create table if not exists public.customer_state_texts (
  kind text not null check (kind in ('order', 'sale', 'access', 'ticket')),
  state text not null check (state ~ '^[a-z][a-z_]{0,39}$'),
  title text not null check (length(title) between 1 and 100),
  explanation text not null check (length(explanation) between 1 and 500),
  next_step text check (length(next_step) between 1 and 500),
  -- what the app's button does; the app maps each key to its own screen or call
  action text check (action in ('resume_checkout', 'retry_checkout', 'start_checkout', 'open_billing_portal',
                                'contact_support', 'confirm_order_received', 'ship_order', 'reply_to_ticket',
                                'open_follow_up')),
  updated_at timestamptz not null default now(),
  primary key (kind, state)
);
comment on table public.customer_state_texts is 'What the app shows for each customer-facing state of public.my_orders '
  '(kind order), my_sales (sale), my_access (access) and my_tickets (ticket): edit title, explanation and next_step '
  'in Studio; kind and state are the stable keys an app may translate, action the key of its button.';
drop trigger if exists customer_state_texts_100_set_updated_at on public.customer_state_texts;
create trigger customer_state_texts_100_set_updated_at before update on public.customer_state_texts
  for each row execute function public.set_updated_at();
alter table public.customer_state_texts enable row level security;
revoke all on public.customer_state_texts from anon, authenticated;
grant select on public.customer_state_texts to authenticated;
drop policy if exists "Signed-in users read the status wording" on public.customer_state_texts;
create policy "Signed-in users read the status wording" on public.customer_state_texts
  for select to authenticated using (true);

-- the founder's edits win: a row that exists is left as it is
insert into public.customer_state_texts (kind, state, title, explanation, next_step, action) values
  ('order', 'awaiting_payment', 'Waiting for payment', 'Your order is saved; it has not been paid yet.',
   'Finish checkout to place it.', 'resume_checkout'),
  ('order', 'processing', 'Payment processing', 'Your bank is confirming the payment; some methods take a few days.',
   'Nothing to do: we email you once it is confirmed.', null),
  ('order', 'payment_received', 'Payment received', 'We got your payment and told the seller.',
   'The seller prepares your order; we email you when it ships.', null),
  ('order', 'paid', 'Paid', 'We got your payment; setup takes a few minutes.', 'Nothing to do: you are all set.', null),
  ('order', 'shipped', 'Shipped', 'The seller sent your order.', 'Follow the tracking link; confirm when it arrives.',
   'confirm_order_received'),
  ('order', 'completed', 'Completed', 'Your order is complete.', 'Something wrong? Contact support.',
   'contact_support'),
  ('order', 'refund_pending', 'Refund pending', 'Your refund is on its way to your bank.',
   'Nothing to do: it reaches your account within 5-10 business days.', null),
  ('order', 'refunded', 'Refunded', 'We refunded your payment.',
   'It shows on your statement within 5-10 business days.', null),
  ('order', 'partially_refunded', 'Partly refunded', 'We refunded part of your payment.',
   'It shows on your statement within 5-10 business days.', null),
  ('order', 'disputed', 'Payment disputed', 'Your bank opened a dispute about this payment.',
   'Your bank handles it and tells you the outcome; questions? Contact support.', 'contact_support'),
  ('order', 'payment_failed', 'Payment failed', 'Your payment did not go through; nothing was charged.',
   'Try again, with another card if needed.', 'retry_checkout'),
  ('order', 'under_review', 'Under review', 'We are checking this payment before going on.',
   'Nothing to do: we email you if we need anything.', null),
  ('order', 'canceled', 'Canceled', 'This order was canceled.',
   'If you were charged, the payment is refunded. You can order again any time.', null),
  ('sale', 'to_ship', 'Paid: ship it', 'The buyer paid this order.', 'Ship it and add the tracking.', 'ship_order'),
  ('sale', 'shipped', 'Shipped', 'You shipped this order.', 'Nothing to do: it completes once the buyer has it.', null),
  ('sale', 'completed', 'Completed', 'This order is complete.', null, null),
  ('sale', 'refund_pending', 'Refund pending', 'A refund of this order is on its way to the buyer.',
   'Do not ship what is not shipped yet.', null),
  ('sale', 'refunded', 'Refunded', 'This order was refunded.', 'Do not ship it.', null),
  ('sale', 'partially_refunded', 'Partly refunded', 'Part of this order was refunded.', null, null),
  ('sale', 'disputed', 'Disputed', 'The buyer''s bank disputes this payment.', 'Support contacts you if needed.', null),
  ('sale', 'under_review', 'Under review', 'We are checking this payment.', 'Do not ship it yet.', null),
  ('access', 'active', 'Active', 'Your subscription is active.', null, null),
  ('access', 'trialing', 'Trial', 'You are in your free trial.', 'Add a card before it ends to keep access.',
   'open_billing_portal'),
  ('access', 'ending', 'Ending', 'Your subscription is canceled and ends at the end of the period.',
   'Changed your mind? Resume it in the billing portal.', 'open_billing_portal'),
  ('access', 'payment_failed_grace', 'Payment failed',
   'Your last renewal payment failed; you keep access while we retry.', 'Update your card.', 'open_billing_portal'),
  ('access', 'payment_failed_blocked', 'Payment failed', 'Your renewal payment failed, so access is paused.',
   'Update your card to restore access.', 'open_billing_portal'),
  ('access', 'unpaid', 'Unpaid', 'Your subscription is unpaid after several attempts, so access is paused.',
   'Update your card and pay the open invoice.', 'open_billing_portal'),
  ('access', 'canceled', 'Ended', 'Your subscription has ended.', 'Subscribe again to get access back.',
   'start_checkout'),
  ('access', 'no_subscription', 'No subscription', 'You have no subscription yet.', 'Choose a plan to get access.',
   'start_checkout'),
  ('access', 'suspended', 'Access paused', 'Your access is paused by our support team.',
   'Contact support to sort it out.', 'contact_support'),
  ('ticket', 'received', 'Received', 'We got your message.', 'Nothing to do: we answer by email.', null),
  ('ticket', 'waiting_for_you', 'Waiting for you', 'We need something from you to go on.',
   'Read our last message and reply.', 'reply_to_ticket'),
  ('ticket', 'answered', 'Answered', 'We answered your request.', 'Reply if it is not solved.', 'reply_to_ticket'),
  ('ticket', 'solved', 'Solved', 'This request is solved.', 'Reply to reopen it.', 'reply_to_ticket'),
  ('ticket', 'closed', 'Closed', 'This request is closed.', 'Still need help? Open a follow-up.', 'open_follow_up')
on conflict (kind, state) do nothing;

-- ---------------------------------------------------------------- orders: the buyer's
-- Security invoker: RLS and column grants of public.orders apply; the filter keeps an admin to their
-- own.
-- What is internal (Stripe ids, amount_charged, review_reason, customer ids) is neither granted nor named.
create or replace view public.my_orders with (security_invoker = true) as
select o.id, o.listing_id, o.quantity, o.amount_total, o.currency, o.amount_refunded, o.amount_refund_pending,
       s.state, t.title, t.explanation, t.next_step, t.action,
       o.tracking_carrier, o.tracking_number, o.tracking_url,
       o.created_at, o.paid_at, o.fulfillment_started_at as shipped_at, o.completed_at, o.updated_at
  from public.orders o
 cross join lateral (select case
     when o.status = 'disputed' then 'disputed'
     -- Stripe took the refund but has not finished it: the money is not back yet
     when o.amount_refund_pending > 0 and o.status in ('paid', 'in_fulfillment', 'completed', 'partially_refunded',
                                                       'refunded') then 'refund_pending'
     when o.status = 'refunded' then 'refunded'
     when o.status = 'partially_refunded' then 'partially_refunded'
     when o.status = 'in_review' or (o.needs_review and o.status = 'paid') then 'under_review'
     when o.status = 'completed' then 'completed'
     when o.status = 'in_fulfillment' then 'shipped'
     -- a seller still has to act; an order of the founder's own (no seller) is done once paid
     when o.status = 'paid' and o.seller_id is not null then 'payment_received'
     when o.status = 'paid' then 'paid'
     when o.payment_processing then 'processing'
     when o.status = 'payment_failed' then 'payment_failed'
     when o.status = 'canceled' then 'canceled'
     else 'awaiting_payment'
   end as state) s
  left join public.customer_state_texts t on t.kind = 'order' and t.state = s.state
 where o.buyer_id = (select auth.uid());
comment on view public.my_orders is 'The signed-in buyer''s orders with their customer-facing state (stable keys: '
  'awaiting_payment, processing, payment_received, paid, shipped, completed, refund_pending, refunded, '
  'partially_refunded, disputed, payment_failed, under_review, canceled) and its wording '
  '(public.customer_state_texts).';

-- ---------------------------------------------------------------- orders: the seller's
-- Paid orders only (and those held in review): an unpaid order is nothing a seller acts on. No buyer data
-- beyond the order itself, no review reason.
create or replace view public.my_sales with (security_invoker = true) as
select o.id, o.listing_id, o.quantity, o.amount_total, o.currency, o.amount_refunded, o.amount_refund_pending,
       s.state, t.title, t.explanation, t.next_step, t.action,
       o.tracking_carrier, o.tracking_number, o.tracking_url,
       o.created_at, o.paid_at, o.fulfillment_started_at as shipped_at, o.completed_at, o.updated_at
  from public.orders o
 cross join lateral (select case
     when o.status = 'disputed' then 'disputed'
     when o.amount_refund_pending > 0 then 'refund_pending'
     when o.status = 'refunded' then 'refunded'
     when o.status = 'partially_refunded' then 'partially_refunded'
     when o.status = 'in_review' then 'under_review'
     when o.status = 'completed' then 'completed'
     when o.status = 'in_fulfillment' then 'shipped'
     else 'to_ship'
   end as state) s
  left join public.customer_state_texts t on t.kind = 'sale' and t.state = s.state
 where o.seller_id = (select auth.uid())
   and o.status in ('paid', 'in_fulfillment', 'completed', 'partially_refunded', 'refunded', 'disputed', 'in_review');
comment on view public.my_sales is 'The signed-in seller''s paid orders (and those in review) with a seller-facing '
  'state (to_ship, shipped, completed, refund_pending, refunded, partially_refunded, disputed, under_review).';

-- ---------------------------------------------------------------- access
-- One row for every signed-in user (none for the anon key): a user without a customer row has no
-- subscription. The state reads billing and access only: an access override shows as suspended or active,
-- never its reason.
create or replace view public.my_access with (security_invoker = true) as
select me.user_id, coalesce(c.access_status in ('granted', 'grace'), false) as has_access,
       s.state, t.title, t.explanation, t.next_step, t.action,
       p.name as plan,
       case when sub.status in ('active', 'trialing', 'past_due') and not sub.cancel_at_period_end
            then sub.current_period_end end as renews_at,
       case when sub.cancel_at_period_end and sub.status not in ('canceled', 'incomplete_expired')
            then sub.current_period_end end as ends_at,
       case when sub.status = 'trialing' then sub.trial_end end as trial_ends_at,
       case when c.billing_status in ('past_due', 'unpaid') then c.last_payment_failed_at end as payment_failed_at,
       greatest(c.updated_at, sub.updated_at) as updated_at
  from (select (select auth.uid()) as user_id) me
  left join public.customers c on c.user_id = me.user_id
  -- the subscription that decides, as ops.stripe_subscription_statuses ranks them
  left join lateral (
    select x.status, x.price_id, x.cancel_at_period_end, x.current_period_end, x.trial_end, x.updated_at
      from public.subscriptions x
     where x.customer_id = c.id
     order by case x.status when 'active' then 1 when 'trialing' then 2 when 'past_due' then 3 when 'paused' then 4
                            when 'unpaid' then 5 when 'incomplete' then 6 else 9 end,
              x.current_period_end desc nulls last
     limit 1) sub on true
  left join public.plans p on p.stripe_price_id = sub.price_id
 cross join lateral (select case
     when c.id is null then 'no_subscription'
     when c.access_status = 'blocked' and c.billing_status in ('active', 'trialing') then 'suspended'
     when c.access_status = 'granted' and c.billing_status = 'trialing' then 'trialing'
     when c.access_status = 'granted' and coalesce(sub.cancel_at_period_end, false) then 'ending'
     when c.access_status = 'granted' then 'active'
     when c.access_status = 'grace' then 'payment_failed_grace'
     when c.billing_status = 'past_due' then 'payment_failed_blocked'
     when c.billing_status = 'unpaid' then 'unpaid'
     when c.billing_status = 'canceled' then 'canceled'
     else 'no_subscription'
   end as state) s
  left join public.customer_state_texts t on t.kind = 'access' and t.state = s.state
 where me.user_id is not null;
comment on view public.my_access is 'The signed-in user''s access: has_access, the state (active, trialing, ending, '
  'payment_failed_grace, payment_failed_blocked, unpaid, canceled, no_subscription, suspended), its wording and '
  'action (open_billing_portal: the billing-portal function), the deciding subscription''s plan and dates.';

-- ---------------------------------------------------------------- tickets
-- The tickets the user asked (requester). "waiting_for_you": the ticket is pending (an agent's visible
-- reply makes an open ticket pending, or an agent set it so); "answered": otherwise open, and the newest
-- message the requester can read (not internal) is from support (author_kind agent).
create or replace view public.my_tickets with (security_invoker = true) as
select tk.id, tk.ref, tk.subject, tk.category, tk.order_id, tk.follow_up_of,
       s.state, t.title, t.explanation, t.next_step, t.action,
       tk.created_at, tk.last_message_at, last.answered_at, tk.solved_at, tk.closed_at, tk.updated_at
  from public.support_tickets tk
  left join lateral (
    select (array_agg(m.author_kind order by m.created_at desc, m.id desc))[1] as newest_author,
           max(m.created_at) filter (where m.author_kind = 'agent') as answered_at
      from public.ticket_messages m
     where m.ticket_id = tk.id and m.visibility <> 'internal') last on true
 cross join lateral (select case
     when tk.status = 'closed' then 'closed'
     when tk.status = 'solved' then 'solved'
     when tk.status = 'pending' then 'waiting_for_you'
     when last.newest_author = 'agent' then 'answered'
     else 'received'
   end as state) s
  left join public.customer_state_texts t on t.kind = 'ticket' and t.state = s.state
 where tk.requester_id = (select auth.uid());
comment on view public.my_tickets is 'The signed-in user''s support requests with their state (received, '
  'waiting_for_you, answered, solved, closed) and wording; no queue, priority, tags or context.';

revoke all on public.my_orders, public.my_sales, public.my_access, public.my_tickets
  from public, anon, authenticated;
grant select on public.my_orders, public.my_sales, public.my_access, public.my_tickets to authenticated;
