-- What matters goes first (#20, #21): a job's priority is set at enqueue from its kind and, for notifications,
-- its template, by ops.job_priorities (a table a founder can read and change in Studio). Claims take the
-- highest priority first, then the oldest run_at. Touches ops.enqueue_job and the priority of waiting jobs.

create table if not exists ops.job_priorities (
  kind text not null,
  -- a template name (the payload's template), or '%': every other job of the kind
  template text not null default '%',
  priority integer not null,
  why text not null,
  primary key (kind, template)
);
comment on table ops.job_priorities is
  'Which jobs go first: priority by kind and template (a template without a row takes its kind''s ''%'' row, a '
  'kind without one 0). Higher runs first; ties run oldest first. Read at enqueue: a change applies to jobs '
  'enqueued after it. Templates added later need no row: they run at their kind''s priority.';

insert into ops.job_priorities (kind, template, priority, why) values
  ('notify.email', 'payment_receipt', 100, 'the buyer waits for proof of payment'),
  ('notify.email', 'payment_failed', 100, 'the customer must act to keep their order or access'),
  ('notify.email', 'renewal_failed', 100, 'the customer must act to keep their access'),
  ('notify.email', 'renewal_reminder', 100, 'the customer must act to keep their access'),
  ('notify.email', 'payment_recovered', 100, 'the customer wants to know access is back'),
  ('notify.email', 'support_ack', 100, 'the customer waits for an answer'),
  ('notify.email', 'ticket_reply', 100, 'the customer waits for an answer'),
  ('notify.email', 'refund_confirmation', 100, 'the buyer waits for their money'),
  ('notify.email', '%', 0, 'welcomes, founder and seller notices: normal'),
  ('notify.slack', '%', 0, 'team alerts: normal'),
  ('crm.deal', '%', 100, 'paid orders, refunds and disputes: the founder works from the deal'),
  ('crm.contact', '%', 0, 'contact updates and backfills go after deals'),
  ('crm.seller', '%', 0, 'normal'),
  ('crm.gdpr_delete', '%', 0, 'normal')
on conflict (kind, template) do nothing;

-- The priority a job of this kind with this payload gets: two primary-key lookups at most, on every enqueue.
create or replace function ops.job_priority(p_kind text, p_payload jsonb)
returns integer
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select p.priority from ops.job_priorities p where p.kind = p_kind and p.template = p_payload ->> 'template'),
    (select p.priority from ops.job_priorities p where p.kind = p_kind and p.template = '%'),
    0)
$$;

-- Every trigger enqueues through here; p_priority raises a job above its rank, never below it.
create or replace function ops.enqueue_job(
  p_kind text,
  p_payload jsonb,
  p_dedupe_key text,
  p_delay interval default interval '0',
  p_priority integer default 0,
  p_correlation_id text default null,
  p_queue_key text default null
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  job_id bigint;
begin
  insert into ops.jobs (kind, payload, dedupe_key, run_at, priority, max_attempts, correlation_id, stripe_event_id,
                        queue_key)
  select p_kind, coalesce(p_payload, '{}'::jsonb), p_dedupe_key, now() + coalesce(p_delay, interval '0'),
         greatest(coalesce(p_priority, 0), ops.job_priority(p_kind, p_payload)),
         k.max_attempts, p_correlation_id,
         nullif(current_setting('ops.stripe_event_id', true), ''), p_queue_key
    from ops.job_kinds k where k.kind = p_kind
  on conflict (dedupe_key) do nothing
  returning id into job_id;
  if job_id is null then
    select id into job_id from ops.jobs where dedupe_key = p_dedupe_key;
    if job_id is null then
      raise exception 'unknown job kind %', p_kind using errcode = 'foreign_key_violation';
    end if;
  end if;
  return job_id;
end
$$;

-- jobs already waiting take their rank now
update ops.jobs set priority = ops.job_priority(kind, payload)
 where status in ('queued', 'failed') and priority is distinct from ops.job_priority(kind, payload);
