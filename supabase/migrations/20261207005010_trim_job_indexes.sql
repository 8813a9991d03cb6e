-- ops.jobs had eleven indexes (nine of ours, the primary key and dedupe_key), every one rewritten by each claim
-- and completion, and two keyed on updated_at, which every update changes, so no update was HOT (#21). Kept:
-- those a query needs (docs/architecture.md, Job engine decisions, lists each and its query); none is keyed
-- on updated_at or the dispatch columns any more, so those updates are HOT. Drops and recreates indexes.

-- one due index serves every claim and dispatch query (kind = any(...), status queued/failed, priority, run_at)
drop index if exists ops.jobs_awaiting_dispatch_idx;
drop index if exists ops.jobs_kind_due_idx;
drop index if exists ops.jobs_due_idx;
create index if not exists jobs_due_idx on ops.jobs (kind, priority desc, run_at)
  where status in ('queued', 'failed');

-- pipeline_health groups every job by kind (a scan either way); nothing else read (kind, status)
drop index if exists ops.jobs_kind_status_idx;

-- an order's or a customer's jobs (support context, journey, erasure, reconciliation): a handful per entity,
-- sorted after the lookup, so updated_at (changed by every update) is no longer in the key
drop index if exists ops.jobs_order_recent_idx;
drop index if exists ops.jobs_customer_recent_idx;
create index if not exists jobs_order_idx on ops.jobs ((payload ->> 'order_id')) where payload ? 'order_id';
create index if not exists jobs_customer_idx on ops.jobs ((payload ->> 'customer_id')) where payload ? 'customer_id';

-- dead jobs (the dead_jobs alert each minute, pipeline_exceptions): keyed by kind, which never changes
drop index if exists ops.jobs_dead_idx;
create index if not exists jobs_dead_idx on ops.jobs (kind) where status = 'dead';

-- kept as they were: jobs_pkey, jobs_dedupe_key_key, jobs_queue_key_idx (per-entity order),
-- jobs_running_idx (the sweep's expired leases), jobs_finished_idx (sync_p95 alert, purge)

-- room on each page for the new version of a row, so updates that touch no indexed column stay HOT
alter table ops.jobs set (fillfactor = 80);
