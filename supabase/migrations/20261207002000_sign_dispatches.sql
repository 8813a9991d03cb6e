-- Dispatches carry a proof, not the worker secret (#17): on hosted Supabase the API roles may read pg_net's
-- queue, whose rows held `Authorization: Bearer <worker secret>`. Now they hold HMAC-SHA256 over the function,
-- the job id and an expiry, keyed by the worker secret: a copied request can only re-dispatch its own job.
-- Replaces ops.dispatch_job; touches no row.
create extension if not exists pgcrypto with schema extensions;

-- The proof ops.dispatch_job sends as its bearer token: v1.<job id>.<expiry, unix seconds>.<hex MAC>, the MAC
-- being HMAC-SHA256(worker secret, 'v1.<function>.<job id>.<expiry>'). Workers check it with Web Crypto
-- (_shared/jobs/dispatch-proof.ts): the MAC under any WORKER_SECRET, not expired, for the job in the body.
-- Takes the secret as an argument and reads nothing: granted to no role.
create or replace function ops.dispatch_proof(p_secret text, p_function text, p_job_id bigint, p_expires_at bigint)
returns text
language sql
immutable
strict
set search_path = ''
as $$
  select format('v1.%s.%s.%s', p_job_id, p_expires_at,
                encode(extensions.hmac(format('v1.%s.%s.%s', p_function, p_job_id, p_expires_at), p_secret, 'sha256'),
                       'hex'))
$$;
revoke execute on function ops.dispatch_proof(text, text, bigint, bigint) from public;

-- security definer: reads the worker URL and the worker secret from vault, which only the owner can
-- read. The secret never leaves this function: the request carries a proof made with it (ops.dispatch_proof),
-- valid for this job at this function for 10 minutes, because pg_net keeps request headers in its queue
-- table until it sends them and hosted pg_net lets the API roles read that table.
-- pg_net queues the request and sends it after commit; nothing is sent for a rolled-back enqueue.
create or replace function ops.dispatch_job(p_job_id bigint) returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  j record;
  base_url text;
  worker_secret text;
  request_id bigint;
  -- long enough for a request waiting in a busy pg_net queue; an expired one is refused (403) and the
  -- sweep sends the job again with a fresh proof
  expires_at bigint := ceil(extract(epoch from clock_timestamp() + interval '10 minutes'))::bigint;
begin
  select jb.id, jb.kind, k.function_name, k.timeout_ms into j
    from ops.jobs jb join ops.job_kinds k on k.kind = jb.kind where jb.id = p_job_id;
  select decrypted_secret into base_url from vault.decrypted_secrets where name = 'functions_base_url';
  select decrypted_secret into worker_secret from vault.decrypted_secrets where name = 'worker_secret';
  if base_url is null or worker_secret is null then
    update ops.jobs set last_error = 'cannot dispatch: vault secrets functions_base_url and worker_secret are required'
     where id = p_job_id;
    return null;
  end if;
  request_id := net.http_post(
    url := rtrim(base_url, '/') || '/' || j.function_name,
    body := jsonb_build_object('job_id', j.id),
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization',
                                  'Bearer ' || ops.dispatch_proof(worker_secret, j.function_name, j.id, expires_at)),
    timeout_milliseconds := j.timeout_ms
  );
  update ops.jobs
     set last_dispatched_at = now(), dispatch_count = dispatch_count + 1,
         unclaimed_dispatches = unclaimed_dispatches + 1, last_request_id = request_id
   where id = p_job_id;
  return request_id;
end
$$;
