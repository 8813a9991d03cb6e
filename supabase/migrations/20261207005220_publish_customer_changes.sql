-- Live updates (#20): the supabase_realtime publication carries orders, customers (access), support tickets
-- and ticket messages, each with a column list of what the app's role may read, so an app subscribes
-- instead of polling. Realtime (postgres_changes) sends a subscriber only rows RLS shows them and only
-- the columns their role may select: customers' internal columns (review reason, version, event time)
-- lose authenticated's select here, as orders' internal columns never had it.

-- hosted Supabase has the publication (empty, owned by postgres); a bare Postgres gets one
do $$
begin
  if not exists (select 1 from pg_catalog.pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
end
$$;

-- ---------------------------------------------------------------- customers: what the user may read
revoke select on public.customers from authenticated;
grant select (id, user_id, email, name, billing_status, access_status, last_paid_at, last_payment_failed_at,
              deleted_at, created_at, updated_at) on public.customers to authenticated;

-- ---------------------------------------------------------------- the published columns
-- Each table with columns authenticated may select (the primary key among them: updates and deletes are
-- identified by it). A pgoutput consumer gets exactly these; Realtime's postgres_changes decodes with
-- wal2json, which ignores column lists, and drops the columns the subscriber's role cannot select.
-- Re-running replaces the list; other tables in the publication are left alone.
do $$
declare
  t record;
begin
  for t in select * from (values
    ('public.orders', 'id, buyer_id, seller_id, listing_id, status, amount_total, currency, amount_refunded, '
       'amount_refund_pending, payment_processing, needs_review, paid_at, quantity, tracking_carrier, tracking_number, '
       'tracking_url, fulfillment_started_at, completed_at, created_at, updated_at'),
    ('public.customers', 'id, user_id, email, name, billing_status, access_status, last_paid_at, '
       'last_payment_failed_at, deleted_at, created_at, updated_at'),
    -- not the queue (routing), though readers may select it
    ('public.support_tickets', 'id, ref, requester_id, order_id, category, subject, status, follow_up_of, '
       'reopened_count, last_message_at, solved_at, closed_at, created_at, updated_at'),
    ('public.ticket_messages', 'id, ticket_id, author_id, author_kind, body, created_at, visibility, idempotency_key')
  ) as x (tbl, cols) loop
    if exists (select 1 from pg_catalog.pg_publication_tables p
                where p.pubname = 'supabase_realtime'
                  and pg_catalog.format('%I.%I', p.schemaname, p.tablename) = t.tbl) then
      execute pg_catalog.format('alter publication supabase_realtime drop table %s', t.tbl);
    end if;
    execute pg_catalog.format('alter publication supabase_realtime add table %s (%s)', t.tbl, t.cols);
  end loop;
end
$$;
