-- Urgent jobs first under a shared rate budget (#20): a budget frees one token at a time, and a welcome
-- deferred to an earlier instant than a receipt took it, so a burst's receipts waited behind its welcomes.
-- An urgent taker refused by a budget marks its bucket for the wait plus a margin; a non-urgent taker is
-- refused while the mark holds. Adds ops.rate_limit_buckets.urgent_until and a 5-argument take_rate_tokens.

alter table ops.rate_limit_buckets add column if not exists urgent_until timestamptz;
comment on column ops.rate_limit_buckets.urgent_until is
  'Until when an urgent job waits for this budget: non-urgent takers are refused until then.';

-- Definer: the callers (workers, support-intake, checkout) hold no table privilege; they take tokens only.
create or replace function ops.take_rate_tokens(
  p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer, p_urgent boolean
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  window_len interval := make_interval(secs => p_window_ms / 1000.0);
  at timestamptz;
  used bigint;
  oldest timestamptz;
  held_until timestamptz;
  wait integer;
begin
  -- a request larger than the whole budget waits for an empty window rather than forever
  p_tokens := least(p_tokens, p_capacity);
  -- one statement creates or locks the bucket row: the lock serialises takers, and a purge of idle
  -- buckets (ops.purge_rate_limit_buckets) cannot remove it between a lookup and the lock
  insert into ops.rate_limit_buckets as b (bucket) values (p_bucket)
  on conflict (bucket) do update set bucket = excluded.bucket
  returning b.urgent_until into held_until;
  at := clock_timestamp();
  if not coalesce(p_urgent, true) and held_until > at then
    return greatest(1, ceil(extract(epoch from (held_until - at)) * 1000))::integer;
  end if;
  delete from ops.rate_limit_grants where bucket = p_bucket and granted_at <= at - window_len;
  select coalesce(sum(tokens), 0), min(granted_at) into used, oldest from ops.rate_limit_grants where bucket = p_bucket;
  if used + p_tokens > p_capacity then
    wait := greatest(1, ceil(extract(epoch from (oldest + window_len - at)) * 1000))::integer;
    if coalesce(p_urgent, true) then
      -- the urgent job is deferred until the token frees; the margin covers its claim by a drain loop
      update ops.rate_limit_buckets set urgent_until = greatest(urgent_until, at + make_interval(secs => wait / 1000.0)
                                                                + interval '500 milliseconds')
       where bucket = p_bucket;
    end if;
    return wait;
  end if;
  insert into ops.rate_limit_grants (bucket, granted_at, tokens) values (p_bucket, at, p_tokens);
  return 0;
end
$$;
comment on function ops.take_rate_tokens(text, integer, integer, integer, boolean) is
  'Takes p_tokens of a shared budget (p_capacity per p_window_ms): 0 when granted, else the ms to wait. While '
  'an urgent taker waits for the bucket, non-urgent takers wait too.';

-- Definer: as before; every taker of 0.5.0 is urgent (support-intake, checkout and seller-onboarding limits).
create or replace function ops.take_rate_tokens(
  p_bucket text, p_tokens integer, p_capacity integer, p_window_ms integer
) returns integer
language sql
security definer
set search_path = ''
as $$
  select ops.take_rate_tokens(p_bucket, p_tokens, p_capacity, p_window_ms, true)
$$;

revoke all on function ops.take_rate_tokens(text, integer, integer, integer, boolean) from public;
grant execute on function ops.take_rate_tokens(text, integer, integer, integer, boolean) to pipeline_worker;
