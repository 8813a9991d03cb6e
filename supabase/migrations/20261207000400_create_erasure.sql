-- Issue #16: erasure of one person on request. ops.erase_person scrubs or deletes their personal data wherever
-- this schema holds it (ids, amounts and statuses stay for the books), deletes their app user, asks the CRM to
-- delete the contact through a crm.gdpr_delete job and writes one audit row that names no personal data.
-- Also a retention policy for job payloads (dead jobs kept theirs forever). Destructive by design.

-- ---------------------------------------------------------------- job payloads: retention
alter table ops.jobs add column if not exists payload_cleared_at timestamptz;
comment on column ops.jobs.payload_cleared_at is 'When the retention or an erasure cut the payload and result to '
  'ops.job_payload_skeleton (what a message said and to whom went; ids, template and entity stay).';

-- What a finished job keeps: its payload's and result's top-level fields but the ones we put personal data in
-- (a notification's frozen message and address, an erasure's emails) and any value holding an address. A
-- replayed notification renders again from its template, entity and recipient (user:<id>).
create or replace function ops.job_payload_skeleton(p jsonb) returns jsonb
language sql immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p) = 'object' then (
    select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
      from jsonb_each(p) f
     where f.key not in ('data', 'to', 'email', 'emails', 'name')
       and not (jsonb_typeof(f.value) = 'string' and strpos(f.value #>> '{}', '@') > 0))
  else p end
$$;

-- Personal data: finished jobs (succeeded, and dead ones, which stay until replayed) lose what a message said
-- and to whom. Succeeded jobs are deleted by the jobs policy anyway, sooner unless the retention is shorter.
create or replace function ops.purge_job_payloads(p_keep interval) returns bigint
language sql
set search_path = ''
as $$
  with gone as (
    update ops.jobs
       set payload = ops.job_payload_skeleton(payload), result = ops.job_payload_skeleton(result),
           payload_cleared_at = now()
     where status in ('succeeded', 'dead') and coalesce(succeeded_at, updated_at) < now() - p_keep
       and payload_cleared_at is null
    returning 1
  )
  select count(*) from gone
$$;

insert into ops.retention_policies (name, description, purge_fn, keep)
values ('job_payloads', 'Personal data: payloads and results of succeeded and dead jobs lose rendered messages, '
        'addresses and emails (ops.job_payload_skeleton); ids, template and entity stay',
        'ops.purge_job_payloads(interval)', null)
on conflict (name) do nothing;

-- ---------------------------------------------------------------- the CRM's GDPR delete
-- One job per erasure, run by crm-sync: HubSpot's GDPR delete of each remembered contact id, and of the contact
-- each email names now (read first: a GDPR delete by an unknown email would blocklist it in the portal).
insert into ops.job_kinds (kind, function_name, max_attempts, timeout_ms, lease_seconds, backoff_base_ms)
values ('crm.gdpr_delete', 'crm-sync', 15, 30000, 180, 5000)
on conflict (kind) do update set function_name = excluded.function_name;

-- The job needs the emails until it has run; once it succeeded they go (dead, it keeps them for its replay
-- until the job_payloads retention).
create or replace function ops.jobs_forget_erased_emails() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.payload := new.payload - 'emails';
  return new;
end
$$;
drop trigger if exists jobs_300_forget_erased_emails on ops.jobs;
create trigger jobs_300_forget_erased_emails before update of status on ops.jobs
  for each row when (new.kind = 'crm.gdpr_delete' and new.status = 'succeeded' and new.payload ? 'emails')
  execute function ops.jobs_forget_erased_emails();

-- ---------------------------------------------------------------- erasure helpers (not granted)
-- Each address (case-insensitive, as a literal) replaced by [erased]; a JSON string stays a JSON string.
create or replace function ops.erase_emails_in_text(p_text text, p_emails text[]) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  e text;
  r text := p_text;
begin
  if r is null then
    return null;
  end if;
  foreach e in array coalesce(p_emails, '{}'::text[]) loop
    r := regexp_replace(r, regexp_replace(e, '([^A-Za-z0-9@])', '\\\1', 'g'), '[erased]', 'gi');
  end loop;
  return r;
end
$$;

create or replace function ops.erase_emails_in_jsonb(p jsonb, p_emails text[]) returns jsonb
language sql immutable
set search_path = ''
as $$
  select ops.erase_emails_in_text(p::text, p_emails)::jsonb
$$;

-- The fields that name or describe a person, set to null at any depth (a customer row in an audit entry, a
-- ticket's context): names, addresses, free text.
create or replace function ops.erase_personal_fields(p jsonb) returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  personal constant text[] := array['email', 'name', 'display_name', 'customer_name', 'requester_email',
    'created_by_email', 'actor_email', 'phone', 'address', 'shipping', 'customer_details', 'billing_details',
    'to', 'subject', 'message', 'body', 'text', 'html', 'description', 'reviewed_note', 'linked_note'];
  r jsonb;
begin
  if jsonb_typeof(p) = 'object' then
    select coalesce(jsonb_object_agg(f.key, case when f.key = any (personal) then 'null'::jsonb
                                               else ops.erase_personal_fields(f.value) end), '{}'::jsonb)
      into r from jsonb_each(p) f;
    return r;
  elsif jsonb_typeof(p) = 'array' then
    select coalesce(jsonb_agg(ops.erase_personal_fields(x.v) order by x.n), '[]'::jsonb)
      into r from jsonb_array_elements(p) with ordinality x(v, n);
    return r;
  end if;
  return p;
end
$$;

-- ---------------------------------------------------------------- ops.erase_person
-- Erases one person, named by email or by user id (or a customer id, for a buyer without a user). Who they are:
-- their app user, their customer rows (the user's, and any whose email is theirs), the Stripe customers of those
-- rows, and through them their orders, tickets, Stripe objects and jobs. What happens, in one transaction:
--   scrubbed: customers' and Stripe customers' emails and names; tickets' subjects and messages (ids, statuses
--   stay); ledger payloads of their objects (ops.stripe_payload_skeleton, as the retention); their jobs' payloads,
--   results and errors; the send log's address; captured emails and CRM calls; audit entries about them (names,
--   emails, free text); any of their addresses in notes, reasons and errors (access overrides, reviews, role
--   grants, findings, incidents);
--   deleted: their CRM mappings, email suppressions, VIP flag and app user (auth.users; profile and sessions go
--   with it; on hosted Supabase a refusal is reported, see docs/architecture.md "Erasure on request");
--   their pending emails and CRM contact syncs are completed as skipped; one crm.gdpr_delete job; one audit row.
-- Orders, payments, refunds, disputes and subscriptions keep their ids, amounts and statuses. Running it again
-- finds nothing, changes nothing and writes nothing: the answer says nothing_to_erase.
-- security definer: it writes every table that holds a person (auth.users, the ledger, jobs, the audit log),
-- which neither service_role nor an admin may write; granted by name to service_role (npm run erase), and to
-- admins only through ops.admin_erase_person.
create or replace function ops.erase_person(p_who text, p_reason text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  who text := lower(btrim(p_who));
  who_id uuid := ops.as_uuid(btrim(p_who));
  v_reason text;
  erasure uuid := gen_random_uuid();
  base_emails text[] := '{}'::text[];
  emails text[];
  patterns text[];
  users uuid[] := '{}'::uuid[];
  customers uuid[];
  stripe_ids text[];
  orders uuid[];
  tickets uuid[];
  refs text[];
  objects text[];
  entities text[];
  entity_keys text[];
  jobs bigint[];
  v_crm_contacts jsonb;
  crm_emails text[];
  crm_queue text;
  crm_job bigint;
  auth_user text := 'none';
  counts jsonb := '{}'::jsonb;
  n bigint;
  total bigint := 0;
  v_subject text;
  audit_id bigint;
  failure text;
begin
  v_reason := ops.require_reason(p_reason);
  if who is null or who = '' or (strpos(who, '@') = 0 and who_id is null) then
    raise exception 'erase whom? give an email address or a user id' using errcode = 'invalid_parameter_value';
  end if;
  -- one erasure at a time: two of one person would both find them and both write an audit row
  perform pg_advisory_xact_lock(hashtext('ops.erase_person'));

  -- who: the address asked about and the app user's, then every row they name (an address typed at Checkout
  -- that is not the user's is scrubbed where it appears, but does not widen the search to other people)
  if strpos(who, '@') > 0 then
    base_emails := array[who];
    users := array(select u.id from auth.users u where lower(btrim(u.email)) = who);
  else
    users := array(select u.id from auth.users u where u.id = who_id
                   union select c.user_id from public.customers c where c.id = who_id and c.user_id is not null);
  end if;
  base_emails := array(select distinct x from unnest(base_emails || array(
                         select lower(btrim(u.email)) from auth.users u where u.id = any (users))) x
                        where x is not null and x <> '');
  customers := array(select c.id from public.customers c
                      where c.user_id = any (users) or c.id = who_id or lower(btrim(c.email)) = any (base_emails)
                     union select m.customer_id from ops.stripe_customers m
                      where lower(btrim(m.email)) = any (base_emails));
  stripe_ids := array(select m.stripe_customer_id from ops.stripe_customers m where m.customer_id = any (customers));
  emails := array(select distinct x from unnest(base_emails
                    || array(select lower(btrim(c.email)) from public.customers c where c.id = any (customers))
                    || array(select lower(btrim(m.email)) from ops.stripe_customers m
                              where m.stripe_customer_id = any (stripe_ids))
                    || array(select cc.email from ops.crm_contacts cc where cc.customer_id = any (customers))) x
                   where x is not null and x <> '');
  -- LIKE patterns of the addresses (an address's _ and % are literal)
  patterns := array(select '%' || replace(replace(replace(e, '\', '\\'), '%', '\%'), '_', '\_') || '%'
                      from unnest(emails) e);
  orders := array(select o.id from public.orders o
                   where o.buyer_id = any (users) or o.stripe_customer_id = any (stripe_ids));
  tickets := array(select t.id from public.support_tickets t
                    where t.requester_id = any (users) or t.customer_id = any (customers) or t.order_id = any (orders));
  refs := array(select 'ticket:' || t.ref from public.support_tickets t where t.id = any (tickets));
  objects := array(
    select o.stripe_checkout_session_id from public.orders o
     where o.id = any (orders) and o.stripe_checkout_session_id is not null
    union select s.stripe_checkout_session_id from ops.checkout_sessions s where s.order_id = any (orders)
    union select o.stripe_payment_intent_id from public.orders o
            where o.id = any (orders) and o.stripe_payment_intent_id is not null
    union select p.stripe_payment_intent_id from ops.payment_intents p where p.order_id = any (orders)
    union select p.latest_charge_id from ops.payment_intents p
            where (p.order_id = any (orders) or p.stripe_customer_id = any (stripe_ids))
              and p.latest_charge_id is not null
    union select r.stripe_refund_id from ops.refunds r join ops.payment_intents p
            on p.stripe_payment_intent_id = r.stripe_payment_intent_id where p.order_id = any (orders)
    union select d.stripe_dispute_id from ops.disputes d join public.orders o
            on o.stripe_payment_intent_id = d.stripe_payment_intent_id where o.id = any (orders)
    union select i.stripe_invoice_id from ops.invoices i where i.stripe_customer_id = any (stripe_ids)
    union select s.stripe_subscription_id from public.subscriptions s
            where s.customer_id = any (customers) or s.stripe_customer_id = any (stripe_ids)
    union select x from unnest(stripe_ids) x);
  entities := array(select 'order:' || x from unnest(orders) x
                    union all select 'customer:' || x from unnest(customers) x
                    union all select 'ticket:' || x from unnest(tickets) x
                    union all select 'user:' || x from unnest(users) x
                    union all select 'dispute:' || d.stripe_dispute_id from ops.disputes d
                               where d.stripe_dispute_id = any (objects));
  -- notification dedupe keys name their entity and recipient: notify:<template>:<entity>:<recipient>
  entity_keys := array(select '%:' || x || '%' from unnest(entities) x);
  jobs := array(select j.id from ops.jobs j
                 where j.status <> 'running' and j.kind <> 'crm.gdpr_delete'
                   and (j.payload ->> 'customer_id' = any (customers::text[])
                        or j.payload ->> 'order_id' = any (orders::text[])
                        or j.payload ->> 'entity' = any (entities) or j.payload ->> 'recipient' = any (entities)
                        or j.payload ->> 'dispute_id' = any (objects) or j.payload::text ilike any (patterns)
                        or j.result::text ilike any (patterns) or j.last_error ilike any (patterns)));

  -- the CRM: a customer row with an address is (or may have become) a contact keyed by it; remembered ids
  -- are deleted by id, the addresses looked up (a contact made by an answer we never saw, or merged since)
  select jsonb_agg(distinct jsonb_build_object('adapter', cc.adapter, 'contact_id', cc.crm_contact_id)),
         min('customer:' || cc.customer_id::text)
    into v_crm_contacts, crm_queue
    from ops.crm_contacts cc where cc.customer_id = any (customers);
  crm_emails := array(select distinct lower(btrim(c.email)) from public.customers c
                       where c.id = any (customers) and c.email is not null
                         and (c.user_id is not null or c.review_reason is null)
                      union select cc.email from ops.crm_contacts cc where cc.customer_id = any (customers));
  crm_queue := coalesce(crm_queue, (select min('customer:' || c.id::text) from public.customers c
                                     where c.id = any (customers) and c.email is not null));
  delete from ops.crm_contacts cc where cc.customer_id = any (customers);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.crm_contacts', n);
  total := total + n;

  -- their pending emails and contact syncs will never be needed: completed as skipped
  update ops.jobs j
     set status = 'succeeded', succeeded_at = now(), locked_by = null, locked_until = null, last_error = null,
         result = jsonb_build_object('skipped', 'the person was erased')
   where j.id = any (jobs) and j.status in ('queued', 'failed', 'dead')
     and (j.kind = 'crm.contact' or (j.kind = 'notify.email' and (j.payload ->> 'recipient' = any (entities)
                                                                  or lower(j.payload ->> 'to') = any (emails))));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.jobs skipped', n);
  total := total + n;
  update ops.jobs j
     set payload = ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.payload), emails),
         result = ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.result), emails),
         last_error = ops.erase_emails_in_text(j.last_error, emails),
         payload_cleared_at = coalesce(j.payload_cleared_at, now())
   where j.id = any (jobs)
     and (j.payload is distinct from ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.payload), emails)
          or j.result is distinct from ops.erase_emails_in_jsonb(ops.job_payload_skeleton(j.result), emails)
          or j.last_error is distinct from ops.erase_emails_in_text(j.last_error, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.jobs', n);
  total := total + n;
  update ops.job_attempts a set error = ops.erase_emails_in_text(a.error, emails)
   where a.error ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.job_attempts', n);
  total := total + n;

  -- the ledger: their objects' events, and any event naming an address (a Checkout session without an order)
  update ops.stripe_events e
     set payload = ops.stripe_payload_skeleton(e.payload),
         payload_cleared_at = coalesce(e.payload_cleared_at, now()),
         last_error = ops.erase_emails_in_text(e.last_error, emails),
         ignored_reason = ops.erase_emails_in_text(e.ignored_reason, emails)
   where (e.object_id = any (objects) or e.payload #>> '{data,object,customer}' = any (stripe_ids)
          or e.payload #>> '{data,object,payment_intent}' = any (objects)
          or e.payload #>> '{data,object,charge}' = any (objects) or e.payload::text ilike any (patterns)
          or e.last_error ilike any (patterns))
     and (e.payload is distinct from ops.stripe_payload_skeleton(e.payload)
          or e.last_error is distinct from ops.erase_emails_in_text(e.last_error, emails)
          or e.ignored_reason is distinct from ops.erase_emails_in_text(e.ignored_reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.stripe_events', n);
  total := total + n;

  -- who they are: names and addresses go, statuses and links stay
  update public.customers c
     set email = null, name = null, review_reason = ops.erase_emails_in_text(c.review_reason, emails)
   where c.id = any (customers)
     and (c.email is not null or c.name is not null
          or c.review_reason is distinct from ops.erase_emails_in_text(c.review_reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.customers', n);
  total := total + n;
  update ops.stripe_customers m
     set email = null, name = null, linked_note = ops.erase_emails_in_text(m.linked_note, emails),
         reviewed_note = ops.erase_emails_in_text(m.reviewed_note, emails)
   where m.stripe_customer_id = any (stripe_ids)
     and (m.email is not null or m.name is not null
          or m.linked_note is distinct from ops.erase_emails_in_text(m.linked_note, emails)
          or m.reviewed_note is distinct from ops.erase_emails_in_text(m.reviewed_note, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.stripe_customers', n);
  total := total + n;
  update public.profiles p set display_name = null where p.id = any (users) and p.display_name is not null;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.profiles', n);
  total := total + n;

  -- tickets: what they wrote, and what anyone wrote on their tickets; system notes name ids only
  update public.support_tickets t
     set subject = case when t.source = 'app' then '[erased]' else ops.erase_emails_in_text(t.subject, emails) end,
         context = ops.erase_emails_in_jsonb(ops.erase_personal_fields(t.context), emails), client_context = '{}'
   where t.id = any (tickets)
     and (t.subject is distinct from case when t.source = 'app' then '[erased]'
                                          else ops.erase_emails_in_text(t.subject, emails) end
          or t.context is distinct from ops.erase_emails_in_jsonb(ops.erase_personal_fields(t.context), emails)
          or t.client_context <> '{}');
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.support_tickets', n);
  total := total + n;
  update public.ticket_messages m
     set body = case when m.author_kind = 'system' then ops.erase_emails_in_text(m.body, emails) else '[erased]' end
   where (m.ticket_id = any (tickets) or m.author_id = any (users) or m.body ilike any (patterns))
     and m.body is distinct from case when m.author_kind = 'system' then ops.erase_emails_in_text(m.body, emails)
                                      else '[erased]' end;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('public.ticket_messages', n);
  total := total + n;

  -- notifications: the send log keeps template, entity and status; captures keep their id and tags
  update ops.notifications x set recipient = 'erased', detail = ops.erase_emails_in_text(x.detail, emails)
   where (lower(x.recipient) = any (emails) or x.recipient = any (entities) or x.detail ilike any (patterns))
     and (x.recipient <> 'erased' or x.detail is distinct from ops.erase_emails_in_text(x.detail, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.notifications', n);
  total := total + n;
  update ops.notification_captures x
     set body = jsonb_build_object('id', x.body -> 'id', 'tags', x.body -> 'tags'),
         cleared_at = coalesce(x.cleared_at, now())
   where (x.key like any (entity_keys) or x.body::text ilike any (patterns))
     and x.body is distinct from jsonb_build_object('id', x.body -> 'id', 'tags', x.body -> 'tags');
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.notification_captures', n);
  total := total + n;
  delete from ops.email_suppressions s where s.email = any (emails);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.email_suppressions', n);
  total := total + n;
  update ops.crm_capture x
     set body = ops.erase_emails_in_jsonb(ops.crm_capture_skeleton(x.body), emails),
         key = case when x.operation in ('deal', 'note') then ops.erase_emails_in_text(x.key, emails) end,
         cleared_at = coalesce(x.cleared_at, now())
   where (lower(x.key) = any (emails) or x.body::text ilike any (patterns))
     and (x.body is distinct from ops.erase_emails_in_jsonb(ops.crm_capture_skeleton(x.body), emails)
          or x.key is distinct from case when x.operation in ('deal', 'note')
                                         then ops.erase_emails_in_text(x.key, emails) end);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.crm_capture', n);
  total := total + n;

  -- the audit log: entries about them lose names and free text; an admin's own address goes from theirs
  update ops.audit_log a
     set before = ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                 then ops.erase_personal_fields(a.before) else a.before end, emails),
         after = ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                then ops.erase_personal_fields(a.after) else a.after end, emails),
         actor_email = case when lower(a.actor_email) = any (emails) then null else a.actor_email end,
         reason = ops.erase_emails_in_text(a.reason, emails)
   where (a.target = any (entities || refs) or lower(a.actor_email) = any (emails) or a.reason ilike any (patterns)
          or a.before::text ilike any (patterns) or a.after::text ilike any (patterns))
     and (a.before is distinct from ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                                   then ops.erase_personal_fields(a.before)
                                                                   else a.before end, emails)
          or a.after is distinct from ops.erase_emails_in_jsonb(case when a.target = any (entities || refs)
                                                                     then ops.erase_personal_fields(a.after)
                                                                     else a.after end, emails)
          or lower(a.actor_email) = any (emails)
          or a.reason is distinct from ops.erase_emails_in_text(a.reason, emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.audit_log', n);
  total := total + n;

  -- free text that may quote an address: override reasons (and the admin's own address), review notes, role
  -- grant notes, findings, incidents
  update ops.access_overrides o
     set reason = ops.erase_emails_in_text(o.reason, emails),
         created_by_email = case when lower(o.created_by_email) = any (emails) then null else o.created_by_email end
   where (o.customer_id = any (customers) or lower(o.created_by_email) = any (emails) or o.reason ilike any (patterns))
     and (o.reason is distinct from ops.erase_emails_in_text(o.reason, emails)
          or lower(o.created_by_email) = any (emails));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.access_overrides', n);
  total := total + n;
  update ops.order_reviews r
     set note = ops.erase_emails_in_text(r.note, emails), reason = ops.erase_emails_in_text(r.reason, emails),
         decided_by = ops.erase_emails_in_text(r.decided_by, emails)
   where (r.note ilike any (patterns) or r.reason ilike any (patterns) or r.decided_by ilike any (patterns));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.order_reviews', n);
  total := total + n;
  update ops.role_grants g set note = ops.erase_emails_in_text(g.note, emails) where g.note ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.role_grants', n);
  total := total + n;
  update ops.reconciliation_findings f set detail = ops.erase_emails_in_jsonb(f.detail, emails)
   where f.detail::text ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.reconciliation_findings', n);
  total := total + n;
  update ops.alert_incidents i
     set summary = ops.erase_emails_in_text(i.summary, emails), detail = ops.erase_emails_in_jsonb(i.detail, emails)
   where i.summary ilike any (patterns) or i.detail::text ilike any (patterns);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.alert_incidents', n);
  total := total + n;
  delete from ops.support_vips v where v.user_id = any (users);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ops.support_vips', n);
  total := total + n;

  -- the app user: orders, tickets and messages keep their rows (buyer, requester and author become null), the
  -- profile goes (and a seller's listings with it). Where another role owns auth (hosted), a refusal is reported:
  -- the founder deletes the user with the Auth admin API.
  if cardinality(users) > 0 then
    begin
      delete from auth.users u where u.id = any (users);
      get diagnostics n = row_count;
      auth_user := 'deleted';
      counts := counts || jsonb_build_object('auth.users', n);
      total := total + n;
    exception when insufficient_privilege then
      get stacked diagnostics failure = message_text;
      auth_user := 'left: delete the user with the Auth admin API (' || failure || ')';
    end;
  end if;

  -- GDPR delete in the CRM, after every scrub (its own payload holds the addresses until it succeeded)
  if v_crm_contacts is not null or cardinality(crm_emails) > 0 then
    crm_job := ops.enqueue_job('crm.gdpr_delete',
      jsonb_build_object('erasure_id', erasure, 'contacts', coalesce(v_crm_contacts, '[]'::jsonb),
                         'emails', to_jsonb(crm_emails)),
      'crm.gdpr_delete:' || erasure, p_queue_key => crm_queue);
  end if;

  counts := (select coalesce(jsonb_object_agg(k, v), '{}'::jsonb) from jsonb_each(counts) x(k, v) where v <> '0');
  if total = 0 and crm_job is null then
    return jsonb_build_object('status', 'nothing_to_erase', 'auth_user', auth_user);
  end if;
  v_subject := coalesce('user:' || users[1], 'customer:' || customers[1], 'erasure:' || erasure);
  audit_id := ops.write_audit('person.erase', v_subject, null,
    jsonb_build_object('erasure_id', erasure, 'counts', counts, 'crm_job_id', crm_job, 'auth_user', auth_user,
                       'users', cardinality(users), 'customers', cardinality(customers), 'orders', cardinality(orders),
                       'tickets', cardinality(tickets)),
    ops.erase_emails_in_text(v_reason, emails));
  return jsonb_build_object('status', 'erased', 'erasure_id', erasure, 'audit_id', audit_id, 'subject', v_subject,
                            'counts', counts, 'crm_job_id', crm_job, 'auth_user', auth_user);
end
$$;
comment on function ops.erase_person(text, text) is 'Erases one person on request: select ops.erase_person('
  '''jane@example.com'' or ''<user id>'', ''why''). Idempotent; see docs/architecture.md "Erasure on request".';

-- The dashboard's door (admins only), with the admin as the audit row's actor.
-- security definer: as the other ops.admin_* doors, it lets only an admin's JWT through (ops.require_admin()).
create or replace function ops.admin_erase_person(p_who text, p_reason text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.require_admin();
  return ops.erase_person(p_who, p_reason);
end
$$;

grant execute on function ops.erase_person(text, text) to service_role;
grant execute on function ops.admin_erase_person(text, text) to authenticated;
