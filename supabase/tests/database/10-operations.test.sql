-- Operations (#10): alert rules, incidents, reconciliation findings and the audit log are admin-only.
-- An admin's JWT (app_metadata.role = admin) reads them; a buyer reads no row, even one who claims
-- admin in user_metadata; anon has no privilege at all. Everything is created inside the transaction.
begin;
set search_path = public, extensions;
select plan(9);

insert into ops.alert_rules (rule, description, threshold, runbook)
values ('pgtap_rule', 'a rule for this test', 1, 'nothing to do: a test row')
on conflict (rule) do nothing;
insert into ops.alert_incidents (rule, summary) values ('pgtap_rule', 'pgtap incident');
insert into ops.reconciliation_findings (kind, object_id, next_action) values ('order_without_payment', 'pgtap-object', 'nothing: a test row');
insert into ops.audit_log (action, target, reason) values ('pgtap', 'pgtap-target', 'a test row');

call tests.authenticate_as('00000000-0000-4000-8000-0000000000ad', '{"app_metadata": {"role": "admin"}}');
select ok((select count(*) from ops.alert_incidents where summary = 'pgtap incident') = 1, 'an admin reads incidents');
select ok((select count(*) from ops.reconciliation_findings where object_id = 'pgtap-object') = 1, 'an admin reads findings');
select ok((select count(*) from ops.audit_log where target = 'pgtap-target') = 1, 'an admin reads the audit log');
select throws_ok($$ insert into ops.audit_log (action, target, reason) values ('x', 'y', 'z') $$, '42501', null,
  'not even an admin writes the audit log through the API');

call tests.authenticate_as('00000000-0000-4000-8000-000000000b0a', '{"user_metadata": {"role": "admin"}}');
select is((select count(*) from ops.alert_incidents), 0::bigint, 'a buyer (admin only in user_metadata) reads no incident');
select is((select count(*) from ops.reconciliation_findings), 0::bigint, 'a buyer reads no finding');
select is((select count(*) from ops.audit_log), 0::bigint, 'a buyer reads no audit row');
select is((select count(*) from ops.alert_rules), 0::bigint, 'a buyer reads no alert rule');

reset role;
set local role anon;
select throws_ok($$ select count(*) from ops.audit_log $$, '42501', null, 'anon cannot reach the audit log');

select * from finish();
rollback;
