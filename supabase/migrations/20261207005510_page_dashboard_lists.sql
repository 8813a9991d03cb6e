-- The founder's page tells the truth (#20): each list of the dashboard with its total (not the rows shown), in a
-- total order with a stable tiebreak (findings of one reconciliation run share found_at: found_at desc, id desc),
-- and a page of it chosen by the page's query parameters, so "showing 51-100 of 274" and page 2 are deterministic.
-- Beside ops.dashboard_snapshot (which the page still reads for everything else): the lists here replace its own.

-- The page (1-based) asked for one list, from the page's parameters ({"findings": 2, ...}); 1 when absent.
create or replace function ops.dashboard_page_of(p_pages jsonb, p_list text) returns integer
language plpgsql immutable
set search_path = ''
as $$
declare
  v text := p_pages ->> p_list;
begin
  if v is null then
    return 1;
  end if;
  if v !~ '^\d{1,6}$' or v::integer < 1 then
    raise exception 'page % of % is not a page number: 1 or more', left(v, 20), p_list
      using errcode = 'invalid_parameter_value';
  end if;
  return v::integer;
end
$$;

-- security definer: the lists read jobs, the ledger, findings and the audit log, which authenticated may not;
-- admins only (ops.require_admin()).
create or replace function ops.dashboard_lists(p_pages jsonb default '{}') returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  -- rows per page, as the page showed them before (#10)
  sizes constant jsonb := '{"exceptions": 100, "customers": 100, "tickets": 50, "findings": 50, "audit": 20}';
  pages jsonb := '{}';
  l text;
  n integer;
begin
  perform ops.require_admin();
  for l in select jsonb_object_keys(sizes) loop
    n := ops.dashboard_page_of(coalesce(p_pages, '{}'), l);
    pages := pages || jsonb_build_object(l, jsonb_build_object('page', n, 'size', (sizes ->> l)::integer,
                                                               'offset', (n - 1) * (sizes ->> l)::integer));
  end loop;
  return jsonb_build_object(
    'pages', pages,
    'exceptions_total', (select count(*) from ops.pipeline_exceptions),
    'exceptions', coalesce((select jsonb_agg(to_jsonb(x) order by x.since desc nulls last, x.exception, x.ref)
        from (select * from ops.pipeline_exceptions e order by e.since desc nulls last, e.exception, e.ref
               offset (pages #>> '{exceptions,offset}')::integer limit (pages #>> '{exceptions,size}')::integer) x),
        '[]'),
    'customers_total', (select count(*) from public.customers),
    'customers', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select * from ops.customer_access a
         order by a.override_access is not null desc, a.access_status <> 'granted' desc, a.updated_at desc,
                  a.customer_id
         offset (pages #>> '{customers,offset}')::integer limit (pages #>> '{customers,size}')::integer) x), '[]'),
    'tickets_total', (select count(*) from public.support_tickets t where t.status in ('open', 'pending')),
    'tickets', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select t.id, t.ref, t.subject, t.queue, t.priority, t.status, t.category, t.created_at
          from public.support_tickets t join ops.support_priorities p on p.priority = t.priority
         where t.status in ('open', 'pending') order by p.rank desc, t.created_at, t.id
         offset (pages #>> '{tickets,offset}')::integer limit (pages #>> '{tickets,size}')::integer) x), '[]'),
    'findings_total', (select count(*) from ops.reconciliation_findings f where f.status = 'open'),
    'findings', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select f.id, f.kind, f.object_id, f.order_id, f.customer_id, f.next_action, f.found_at, f.last_seen_at
          from ops.reconciliation_findings f where f.status = 'open' order by f.found_at desc, f.id desc
         offset (pages #>> '{findings,offset}')::integer limit (pages #>> '{findings,size}')::integer) x), '[]'),
    'audit_total', (select count(*) from ops.audit_log),
    'audit', coalesce((select jsonb_agg(to_jsonb(x)) from (
        select a.id, a.at, a.actor_email, a.action, a.target, a.reason, a.before, a.after, a.x_request_id as request_id
          from ops.audit_log a order by a.id desc
         offset (pages #>> '{audit,offset}')::integer limit (pages #>> '{audit,size}')::integer) x), '[]'));
end
$$;
comment on function ops.dashboard_lists(jsonb) is 'The dashboard''s lists (exceptions, customers, tickets, findings, '
  'audit), each one page of a total order with its total: ops.dashboard_lists(''{"findings": 2}'') (admins only).';
-- the open findings newest first, as the page and Studio read them (found_at is shared by a run: id breaks ties)
create index if not exists reconciliation_findings_open_newest_idx on ops.reconciliation_findings
  (found_at desc, id desc) where status = 'open';
revoke all on function ops.dashboard_lists(jsonb), ops.dashboard_page_of(jsonb, text) from public;
grant execute on function ops.dashboard_lists(jsonb) to authenticated;
