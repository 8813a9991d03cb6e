-- Operations (#10): the tables a founder runs the pipeline from. Alert rules and the incidents they
-- open, what reconciliation against Stripe found, and the audit trail of every manual override.
-- Admin-only: these four are the only ops tables authenticated holds any privilege on (select), and
-- their policies pass only an admin's JWT (private.is_admin()), so the dashboard reads them as the
-- signed-in admin; anon reaches nothing. Writes go through ops functions, never the API.
grant usage on schema ops to authenticated;

-- One row per rule the evaluator knows; the founder edits thresholds, windows and runbooks in Studio.
create table if not exists ops.alert_rules (
  rule text primary key check (rule ~ '^[a-z][a-z0-9_]{1,62}$'),
  description text not null,
  enabled boolean not null default true,
  threshold numeric not null,
  window_interval interval not null default interval '15 minutes',
  severity text not null default 'warning' check (severity in ('info', 'warning', 'critical')),
  -- one line: what to do when it fires (shown in the alert, on the dashboard and in README)
  runbook text not null check (length(runbook) between 1 and 500),
  updated_at timestamptz not null default now()
);
comment on table ops.alert_rules is 'Alert rules the evaluator checks every minute: threshold and window per rule, '
  'editable in Studio, each with its one-line runbook.';

-- An incident is one open spell of a rule: opened once, seen again while open, resolved once.
create table if not exists ops.alert_incidents (
  id bigint generated always as identity primary key,
  rule text not null references ops.alert_rules (rule) on update cascade,
  status text not null default 'open' check (status in ('open', 'resolved')),
  summary text not null,
  detail jsonb not null default '{}'::jsonb,
  opened_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  check ((status = 'resolved') = (resolved_at is not null))
);
comment on table ops.alert_incidents is 'Alert incidents: at most one open per rule (deduplicated while open), with '
  'what the rule saw; a resolve notice goes out once when the condition clears.';
create unique index if not exists alert_incidents_one_open_idx on ops.alert_incidents (rule) where status = 'open';
create index if not exists alert_incidents_opened_idx on ops.alert_incidents (opened_at desc);

create table if not exists ops.reconciliation_findings (
  id bigint generated always as identity primary key,
  -- one of ops.reconciliation_kinds (migration 2100 adds the foreign key with the kinds)
  kind text not null,
  -- the Stripe object (evt_, cs_, pi_, sub_) or our row the finding is about: one finding per (kind, object)
  object_id text not null,
  order_id uuid,
  customer_id uuid,
  detail jsonb not null default '{}'::jsonb,
  next_action text not null,
  status text not null default 'open' check (status in ('open', 'resolved')),
  found_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  unique (kind, object_id)
);
comment on table ops.reconciliation_findings is 'What reconciliation against Stripe found (one row per kind and '
  'object), with the next action; open findings are drift and open an alert.';

-- Append-only: who changed what by hand, before and after, and why.
create table if not exists ops.audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor_id uuid,
  actor_email text,
  action text not null,
  target text not null,
  before jsonb,
  after jsonb,
  reason text not null check (length(btrim(reason)) between 1 and 1000)
);
comment on table ops.audit_log is 'Every manual override (dashboard or ops function): who, what, on which target, the '
  'row before and after, the reason and when. Append-only.';
create index if not exists audit_log_at_idx on ops.audit_log (at desc);

alter table ops.alert_rules enable row level security;
alter table ops.alert_incidents enable row level security;
alter table ops.reconciliation_findings enable row level security;
alter table ops.audit_log enable row level security;
grant select on ops.alert_rules, ops.alert_incidents, ops.reconciliation_findings, ops.audit_log to authenticated;

drop policy if exists "admins read alert rules" on ops.alert_rules;
create policy "admins read alert rules" on ops.alert_rules
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "admins read incidents" on ops.alert_incidents;
create policy "admins read incidents" on ops.alert_incidents
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "admins read findings" on ops.reconciliation_findings;
create policy "admins read findings" on ops.reconciliation_findings
  for select to authenticated using ((select private.is_admin()));
drop policy if exists "admins read the audit log" on ops.audit_log;
create policy "admins read the audit log" on ops.audit_log
  for select to authenticated using ((select private.is_admin()));
