-- Dead-man's switch (#19): after each successful alert evaluation, pg_cron pings the vault secret heartbeat_url
-- (a Healthchecks.io / Better Stack heartbeat) through pg_net; when the database, pg_cron or the evaluator stops,
-- the pings stop and the outside service alerts. No heartbeat_url: no ping, nothing fails. Replaces the
-- ops-evaluate-alerts cron job's command (cron.schedule with an existing name updates it); nothing destructive.

-- security definer: reads heartbeat_url from vault, which only the owner can read. The URL is the heartbeat's
-- only credential: it waits in pg_net's queue until sent, which migration 1400 closed to the API roles.
-- A bad URL (pg_net refuses it) is a warning, never a failed evaluation: alerts must not stop for the heartbeat.
create or replace function ops.ping_heartbeat() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  url text;
begin
  select nullif(btrim(decrypted_secret), '') into url from vault.decrypted_secrets where name = 'heartbeat_url';
  if url is null then
    return null;
  end if;
  begin
    return net.http_get(url := url, timeout_milliseconds := 10000);
  exception when others then
    raise warning 'heartbeat: pg_net refused the vault''s heartbeat_url (%): no ping sent', sqlstate;
    return null;
  end;
end
$$;
revoke execute on function ops.ping_heartbeat() from public, anon, authenticated, service_role;
comment on function ops.ping_heartbeat() is 'Pings the vault secret heartbeat_url (GET through pg_net) and returns '
  'the request id; null when no heartbeat_url is set or pg_net refused it. Called after each alert evaluation.';

-- What pg_cron runs every minute: the evaluation, then the ping. An evaluator that raises ends the run before the
-- ping (and rolls back its own work), so the heartbeat stops exactly when alerts stop being evaluated.
create or replace function ops.run_alert_evaluation(p_now timestamptz default now()) returns integer
language plpgsql
set search_path = ''
as $$
declare
  n integer;
begin
  select count(*) into n from ops.evaluate_alerts(p_now);
  perform ops.ping_heartbeat();
  return n;
end
$$;
revoke execute on function ops.run_alert_evaluation(timestamptz) from public, anon, authenticated, service_role;
comment on function ops.run_alert_evaluation(timestamptz) is 'pg_cron''s alert job: ops.evaluate_alerts(p_now), then '
  'the dead-man''s switch ping (ops.ping_heartbeat); returns the number of rules evaluated.';

select cron.schedule('ops-evaluate-alerts', '* * * * *', 'select ops.run_alert_evaluation()');
