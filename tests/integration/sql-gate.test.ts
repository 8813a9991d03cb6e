// The SQL gate's static half: plpgsql_check over every plpgsql function of ours, trigger functions
// checked against each table they fire on. plpgsql_check is created inside a rolled-back
// transaction, so no deployment needs it (the migrations never ask for it) and nothing of it stays.
import { afterAll, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { connect, type Sql } from "../../scripts/lib/db.ts";

// As supabase_admin: hosted lets postgres create plpgsql_check (supautils' privileged extensions), which
// this stack has no supautils for; postgres is not a superuser here, as on hosted.
const sql = connect(config.adminDbUrl, { max: 2 });
afterAll(() => sql.end());

// the schemas our migrations create; auth, vault, net, cron and the extensions' own are not ours
const OURS = ["public", "ops", "private"];

type Finding = { fn: string; relid: string | null; lineno: number | null; message: string; detail: string | null };

class Rollback extends Error {}

/** Runs `body` in a transaction that has plpgsql_check, then rolls everything back. */
async function withChecker<T>(body: (tx: Sql, check: () => Promise<Finding[]>) => Promise<T>): Promise<T> {
  let out: T | undefined;
  await expect(sql.begin(async (tx) => {
    await tx`create extension if not exists plpgsql_check`;
    const [{ schema }] = await tx<{ schema: string }[]>`
      select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
       where e.extname = 'plpgsql_check'`;
    // each function once; a trigger function once per table it fires on (its NEW and OLD are that table's)
    const check = () =>
      tx<Finding[]>`
        with fns as (
          select p.oid, p.prorettype = 'trigger'::regtype as is_trigger
            from pg_proc p join pg_language l on l.oid = p.prolang
           where l.lanname = 'plpgsql' and p.pronamespace::regnamespace::text = any (${OURS})
             and not exists (select 1 from pg_depend d
                              where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        ), targets as (
          select f.oid, coalesce(t.tgrelid, 0) as relid from fns f
            left join lateral (select distinct tg.tgrelid from pg_trigger tg where tg.tgfoid = f.oid) t on f.is_trigger
        )
        select t.oid::regprocedure::text as fn, nullif(t.relid, 0)::regclass::text as relid, c.lineno, c.message, c.detail
          from targets t,
               ${tx(schema)}.plpgsql_check_function_tb(t.oid, t.relid, fatal_errors => false) c
         where c.level = 'error'
         order by 1, 2, 3`;
    out = await body(tx as unknown as Sql, check);
    throw new Rollback();
  })).rejects.toBeInstanceOf(Rollback);
  return out as T;
}

const describeFinding = (f: Finding) =>
  `${f.fn}${f.relid ? ` on ${f.relid}` : ""} line ${f.lineno ?? "?"}: ${f.message}${f.detail ? ` (${f.detail})` : ""}`;

test("every plpgsql function of ours passes plpgsql_check with no error", async () => {
  const errors = await withChecker((_tx, check) => check());
  expect(errors.map(describeFinding)).toEqual([]);
});

test("the check catches a function and a trigger function that would fail at run time", async () => {
  const errors = await withChecker(async (tx, check) => {
    await tx`create function ops.gate_broken() returns bigint language plpgsql set search_path = '' as $$
      begin return (select count(nope) from ops.jobs); end $$`;
    await tx`create function ops.gate_broken_trigger() returns trigger language plpgsql set search_path = '' as $$
      begin new.nope := 1; return new; end $$`;
    await tx`create trigger gate_broken before update on ops.jobs
      for each row execute function ops.gate_broken_trigger()`;
    return check();
  });
  expect(errors.map(describeFinding)).toEqual([
    'ops.gate_broken() line 2: column "nope" does not exist',
    'ops.gate_broken_trigger() on ops.jobs line 2: record "new" has no field "nope"',
  ]);
});
