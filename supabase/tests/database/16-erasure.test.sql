-- Erasure on request (#16): ops.erase_person scrubs one person everywhere (the generic column scan finds their
-- address nowhere but in the CRM job that still needs it), keeps ids, amounts and statuses, queues one
-- crm.gdpr_delete job, writes one audit row naming no personal data, and a second run changes nothing. Only
-- service_role and admins (through ops.admin_erase_person) may run it. Job payloads age out with the retention.
-- pgTAP runs as supabase_admin: it acts as support_intake's login (set session authorization)
begin;
set search_path = public, extensions;
select plan(31);

-- arrange (as the owner): a buyer with a profile name, a Stripe customer, a CRM contact, an order, a ticket
-- quoting their address, a frozen welcome email, the send log, a suppression, a ledger event, and an admin's
-- access override (whose audit row holds the whole customer row)
call tests.create_user('00000000-0000-4000-8000-0000000e1a5e', 'PGTAP-Erase@Example.com', true, '{}',
                       '{"display_name": "Erin Erase"}');
call tests.create_user('00000000-0000-4000-8000-0000000e1ad0', 'pgtap-erase-admin@example.com', true,
                       '{"provider": "email", "role": "admin"}');
create temp table fx as
select (select id from public.customers where user_id = '00000000-0000-4000-8000-0000000e1a5e') as customer_id;
grant select on fx to authenticated, anon;
insert into ops.stripe_customers (stripe_customer_id, customer_id, linked_by, email, name)
select 'cus_pgtap_erase', customer_id, null, 'pgtap-erase@example.com', 'Erin Erase' from fx;
insert into ops.crm_contacts (customer_id, email, adapter, crm_contact_id)
select customer_id, 'pgtap-erase@example.com', 'hubspot', '9001' from fx;
insert into public.orders (id, buyer_id, listing_id, stripe_customer_id)
select '00000000-0000-4000-8000-0000000e1a0a', '00000000-0000-4000-8000-0000000e1a5e', l.id, 'cus_pgtap_erase'
  from public.listings l where l.active limit 1;
insert into ops.jobs (kind, payload, dedupe_key, max_attempts, status, attempts, run_at, last_error)
values ('notify.email', '{"template": "welcome", "entity": "user:00000000-0000-4000-8000-0000000e1a5e",
          "recipient": "user:00000000-0000-4000-8000-0000000e1a5e", "to": "pgtap-erase@example.com",
          "data": {"customer_name": "Erin Erase"}}',
        'pgtap:erase:welcome', 8, 'dead', 8, now() + interval '1 day', 'Resend 422: pgtap-erase@example.com bounced');
insert into ops.notifications (dedupe_key, channel, template, entity, recipient, status, adapter)
values ('pgtap:erase:sent', 'email', 'payment_receipt', 'order:00000000-0000-4000-8000-0000000e1a0a',
        'pgtap-erase@example.com', 'captured', 'capture');
insert into ops.email_suppressions (email, reason) values ('pgtap-erase@example.com', 'bounced');
insert into ops.stripe_events (event_id, type, livemode, object_id, event_created, payload, status, attempts)
values ('evt_pgtap_erase', 'customer.updated', false, 'cus_pgtap_erase', now(),
        tests.stripe_event('evt_pgtap_erase', 'customer.updated', 1700000000,
          '{"id": "cus_pgtap_erase", "object": "customer", "email": "PGTAP-Erase@Example.com", "name": "Erin Erase",
            "address": {"line1": "1 Erase Street"}, "metadata": {}}'), 'processed', 1);

-- acting as the buyer, through support-intake: a support request whose text quotes their address
call tests.authenticate_as('00000000-0000-4000-8000-0000000e1a5e', p_via => 'support_intake');
create temp table tk as
select ticket_id from public.submit_support_request('technical', 'Mail me at pgtap-erase@example.com',
  'Erin here, my address is pgtap-erase@example.com', null, null, '{"device": "Erin''s phone"}'::jsonb, null);
reset session authorization;
-- acting as the admin: an override, whose audit row keeps the whole customer row
call tests.authenticate_as('00000000-0000-4000-8000-0000000e1ad0', '{"email": "pgtap-erase-admin@example.com"}');
select ops.admin_set_access((select customer_id from fx), 'granted', 'pgtap: goodwill for pgtap-erase@example.com',
                            now() + interval '1 day') is not null as granted \gset
reset role;
select ok(exists (select 1 from tests.columns_holding('pgtap-erase@example.com') where col = 'ops.audit_log.before'),
         'before: the audit log holds the buyer''s address (the whole customer row)');

-- ---------------------------------------------------------------- who may erase
select ok(not has_function_privilege('anon', 'ops.erase_person(text,text)', 'execute')
          and not has_function_privilege('authenticated', 'ops.erase_person(text,text)', 'execute'),
          'anon and authenticated cannot run ops.erase_person');
select ok(has_function_privilege('service_role', 'ops.erase_person(text,text)', 'execute'),
          'service_role (npm run erase) can run ops.erase_person');
call tests.authenticate_as('00000000-0000-4000-8000-0000000e1a5e');
select throws_ok($$ select ops.admin_erase_person('pgtap-erase@example.com', 'me') $$, '42501', null,
                 'a buyer cannot erase anyone through the admin door');
reset role;
select throws_ok($$ select ops.erase_person('not an address', 'pgtap') $$, '22023', null,
                 'a name that is neither an email nor an id is refused');
select throws_ok($$ select ops.erase_person('pgtap-erase@example.com', ' ') $$, '22023', null,
                 'an erasure needs a reason');

-- ---------------------------------------------------------------- act (as service_role, as npm run erase)
set local role service_role;
create temp table r as select ops.erase_person('PGTAP-Erase@Example.com',
                                               'pgtap: request by pgtap-erase@example.com') as s;
reset role;

select is((select s ->> 'status' from r), 'erased', 'the answer says erased');
select is((select s ->> 'subject' from r), 'user:00000000-0000-4000-8000-0000000e1a5e',
          'the subject is the user id, not the address');
select ok(not exists (select 1 from auth.users where id = '00000000-0000-4000-8000-0000000e1a5e'),
          'the app user is deleted (and its profile with it)');
select results_eq($$ select email, name, billing_status from public.customers c join fx on c.id = fx.customer_id $$,
                  $$ values (null::text, null::text, 'lead'::text) $$,
                  'the customer row stays for the books, without address or name, its status kept');
select results_eq($$ select stripe_customer_id, email, name from ops.stripe_customers where stripe_customer_id = 'cus_pgtap_erase' $$,
                  $$ values ('cus_pgtap_erase'::text, null::text, null::text) $$,
                  'the Stripe customer keeps its id, not its address or name');
select results_eq($$ select id, buyer_id, stripe_customer_id from public.orders where id = '00000000-0000-4000-8000-0000000e1a0a' $$,
                  $$ values ('00000000-0000-4000-8000-0000000e1a0a'::uuid, null::uuid, 'cus_pgtap_erase'::text) $$,
                  'the order stays, with its ids; its buyer is gone with the user');
select is_empty($$ select 1 from ops.crm_contacts c join fx on c.customer_id = fx.customer_id $$,
                'the CRM mapping is forgotten');
select results_eq($$ select payload -> 'contacts', payload -> 'emails', status from ops.jobs where kind = 'crm.gdpr_delete'
                      and id = (select (s ->> 'crm_job_id')::bigint from r) $$,
                  $$ values ('[{"adapter": "hubspot", "contact_id": "9001"}]'::jsonb, '["pgtap-erase@example.com"]'::jsonb,
                             'queued'::text) $$,
                  'one crm.gdpr_delete job carries the remembered contact id and the address to look up');
select results_eq($$ select t.subject, t.status, t.client_context, m.body from public.support_tickets t
                      join public.ticket_messages m on m.ticket_id = t.id where t.id = (select ticket_id from tk) $$,
                  $$ values ('[erased]'::text, 'open'::text, '{}'::jsonb, '[erased]'::text) $$,
                  'the ticket keeps its id and status; its subject, message and device are erased');
select results_eq($$ select status, payload ? 'to', payload ? 'data', last_error from ops.jobs where dedupe_key = 'pgtap:erase:welcome' $$,
                  $$ values ('succeeded'::text, false, false, null::text) $$,
                  'their dead welcome email is completed as skipped, without its address or rendered message');
select is((select recipient from ops.notifications where dedupe_key = 'pgtap:erase:sent'), 'erased',
          'the send log keeps the receipt, not the address');
select is_empty($$ select 1 from ops.email_suppressions where email = 'pgtap-erase@example.com' $$,
                'the suppression of their address is deleted');
select ok((select payload_cleared_at is not null and payload -> 'data' -> 'object' = '{"id": "cus_pgtap_erase", "object": "customer"}'
             from ops.stripe_events where event_id = 'evt_pgtap_erase'),
          'the ledger event keeps its ids, not the address, name or postal address');
select results_eq($$ select a.target, a.actor_email, a.reason from ops.audit_log a where a.action = 'person.erase'
                      and a.id = (select (s ->> 'audit_id')::bigint from r) $$,
                  $$ values ('user:00000000-0000-4000-8000-0000000e1a5e'::text, null::text, 'pgtap: request by [erased]'::text) $$,
                  'one audit row names the user id, and the reason loses the address');
select set_eq($$ select col from tests.columns_holding('pgtap-erase@example.com') $$,
              array['ops.jobs.payload'],
              'their address is nowhere but in the CRM job that still has to look it up');
select is_empty($$ select col from tests.columns_holding('Erin Erase') $$, 'their name is nowhere');

-- ---------------------------------------------------------------- idempotent
select is(ops.erase_person('pgtap-erase@example.com', 'pgtap: again') ->> 'status', 'nothing_to_erase',
          'erasing them again by address finds nothing');
select is(ops.erase_person('00000000-0000-4000-8000-0000000e1a5e', 'pgtap: again') ->> 'status', 'nothing_to_erase',
          'and by user id finds nothing');
select is((select count(*)::int from ops.audit_log where action = 'person.erase'
            and target = 'user:00000000-0000-4000-8000-0000000e1a5e'), 1, 'and writes no second audit row');
select is((select count(*)::int from ops.jobs where kind = 'crm.gdpr_delete' and payload ->> 'erasure_id' = (select s ->> 'erasure_id' from r)),
          1, 'nor a second CRM job');

-- the CRM job done, its payload forgets the address
update ops.jobs set status = 'succeeded', succeeded_at = now() where id = (select (s ->> 'crm_job_id')::bigint from r);
select is_empty($$ select col from tests.columns_holding('pgtap-erase@example.com') $$,
                'once the CRM job succeeded, the address is nowhere');

-- ---------------------------------------------------------------- the admin door
call tests.create_user('00000000-0000-4000-8000-0000000e1a5f', 'pgtap-erase-2@example.com');
call tests.authenticate_as('00000000-0000-4000-8000-0000000e1ad0', '{"email": "pgtap-erase-admin@example.com"}');
select is(ops.admin_erase_person('00000000-0000-4000-8000-0000000e1a5f', 'pgtap: asked by email') ->> 'status', 'erased',
          'an admin erases a person by user id through ops.admin_erase_person');
reset role;
select is((select actor_email from ops.audit_log where action = 'person.erase'
            and target = 'user:00000000-0000-4000-8000-0000000e1a5f'), 'pgtap-erase-admin@example.com',
          'its audit row names the admin as actor');

-- ---------------------------------------------------------------- retention: job payloads
insert into ops.jobs (kind, payload, dedupe_key, max_attempts, status, attempts, run_at, created_at, updated_at)
values ('notify.email', '{"template": "welcome", "entity": "user:x", "recipient": "user:x", "to": "old@example.com",
          "data": {"customer_name": "Old"}}', 'pgtap:erase:old', 8, 'dead', 8, now() + interval '1 day', now() - interval '100 days',
        now() - interval '100 days');
select ok((ops.clear_personal_data() ->> 'job_payloads')::int >= 1, 'the retention reports job payloads cut');
select results_eq($$ select status, payload, payload_cleared_at is not null from ops.jobs where dedupe_key = 'pgtap:erase:old' $$,
                  $$ values ('dead'::text, '{"template": "welcome", "entity": "user:x", "recipient": "user:x"}'::jsonb, true) $$,
                  'a dead job older than the retention keeps its template, entity and recipient, not its message');

select * from finish();
rollback;
