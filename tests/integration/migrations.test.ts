// Running the migrations twice does no harm (as graphile-worker checks), neither does starting the
// stack twice, and its status line tells where everything is.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, expect, test } from "vitest";
import { apiKeys, config, ROOT } from "../../scripts/lib/config.ts";
import { startStack } from "../../scripts/stack/stack.ts";
import { sql } from "../helpers/db.ts";
import { stackCli } from "../helpers/stack.ts";

afterAll(() => sql.end());
const dir = join(ROOT, "supabase/migrations");
const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();

const snapshot = async () => ({
  tables: (await sql`select count(*)::int as n from pg_tables where schemaname in ('public', 'ops')`)[0].n,
  policies: (await sql`select count(*)::int as n from pg_policies`)[0].n,
  transitions: (await sql`select count(*)::int as n from ops.order_status_transitions`)[0].n,
  cron: (await sql`select count(*)::int as n from cron.job`)[0].n,
  migrations: (await sql`select count(*)::int as n from supabase_migrations.schema_migrations`)[0].n,
});

/** Every table and view the migrations touch, for one LOCK statement. */
const lockable = async () =>
  (await sql<{ name: string }[]>`
    select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v') and n.nspname in ('public', 'ops', 'private', 'auth', 'net', 'cron', 'vault')
       -- what postgres may lock (not cron.job, which it may only read, as on hosted)
       and has_table_privilege(c.oid, 'update, delete, truncate')
     order by 1`).map((r) => r.name).join(", ");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("every migration applied a second time succeeds and changes no structure or reference data", async () => {
  expect(files.length).toBeGreaterThan(10);
  const before = await snapshot();
  const tables = await lockable();
  class Rollback extends Error {}
  // The stack is live (the ticker, workers): a migration that reads a table and then alters it would
  // deadlock with a worker doing the same the other way round. Take every lock first, as one statement,
  // NOWAIT, again after a short pause while something holds one.
  const locked = async (tx: typeof sql) => {
    for (let tries = 1;; tries++) {
      try {
        await tx.unsafe(`savepoint locks; lock table ${tables} in access exclusive mode nowait`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== "55P03" || tries >= 200) throw err;
        await tx.unsafe("rollback to savepoint locks");
        await sleep(50);
      }
    }
  };
  await expect(sql.begin(async (tx) => {
    await locked(tx as unknown as typeof sql);
    for (const f of files) await tx.unsafe(readFileSync(join(dir, f), "utf8"));
    const inside = {
      tables: (await tx`select count(*)::int as n from pg_tables where schemaname in ('public', 'ops')`)[0].n,
      transitions: (await tx`select count(*)::int as n from ops.order_status_transitions`)[0].n,
      cron: (await tx`select count(*)::int as n from cron.job`)[0].n,
    };
    expect(inside).toEqual({ tables: before.tables, transitions: before.transitions, cron: before.cron });
    throw new Rollback();
  })).rejects.toBeInstanceOf(Rollback);
  expect(await snapshot()).toEqual(before);
});

test.each([
  ["create extension plpgsql_check", "an untrusted extension"],
  [
    "create event trigger pgtap_ddl on ddl_command_end execute function extensions.grant_pg_net_access()",
    "an event trigger",
  ],
  ["create role pgtap_superuser superuser", "a superuser role"],
  ["alter table net.http_request_queue enable row level security", "another owner's table (pg_net's)"],
])("a migration that needs a superuser fails here as on hosted: %s", async (stmt) => {
  // postgres, as supabase db push connects: not a superuser (hosted's supautils lets it create some
  // extensions, such as plpgsql_check; the stack creates the ones the migrations use before them)
  const error = await sql.begin(async (tx) => {
    await tx.unsafe(stmt);
  }).then(() => undefined, (err: { code?: string }) => err);
  expect(error?.code).toBe("42501");
});

test("the pg_net hardening, applied by postgres, which owns none of pg_net (as on hosted), warns instead of failing", async () => {
  const file = files.find((f) => f.endsWith("_harden_pg_net.sql"));
  expect(file).toBeDefined();
  const notices: string[] = [];
  const db = postgres(config.dbUrl, { max: 1, onnotice: (n) => notices.push(`${n.severity}: ${n.message}`) });
  class Rollback extends Error {}
  try {
    await expect(db.begin(async (tx) => {
      expect((await tx`select rolsuper from pg_roles where rolname = current_user`)[0].rolsuper).toBe(false);
      await tx.unsafe(readFileSync(join(dir, file!), "utf8"));
      throw new Rollback();
    })).rejects.toBeInstanceOf(Rollback);
  } finally {
    await db.end();
  }
  expect(notices).toContainEqual(expect.stringMatching(/^WARNING: net\._http_response is not ours to index/));
  expect(notices).toContainEqual(expect.stringMatching(/^WARNING: no privileges could be revoked for "http_post"/));
  expect(notices).toContainEqual(
    expect.stringMatching(/^WARNING: pg_net still grants: .*public on net\.http_request_queue/),
  );
  // and what it could not take back stays: pg_net's owner granted its tables to PUBLIC (05-pg-net)
  const [{ n }] = await sql`select count(*)::int as n from pg_class c, aclexplode(c.relacl) a
    where c.relnamespace = 'net'::regnamespace and a.grantee = 0`;
  expect(n).toBeGreaterThan(0);
});

test("starting the stack again while it runs is harmless", async () => {
  const before = await snapshot();
  const [{ n: events }] = await sql`select count(*)::int as n from ops.stripe_events`;
  await startStack();
  expect(await snapshot()).toEqual(before);
  expect((await sql`select count(*)::int as n from ops.stripe_events`)[0].n).toBe(events);
  expect(before.migrations).toBe(files.length);
}, 180_000);

test("stack:status prints a status line, the URLs and the keys", async () => {
  const out = stackCli("status");
  expect(out.status, out.stderr).toBe(0);
  expect(out.stdout).toMatch(/database: up {2}pg_net=(real {2}|stand-in {2}net-worker=up {2})gateway=up/);
  expect(out.stdout).toContain(config.functionUrl("stripe-webhook"));
  expect(out.stdout).toContain(config.dbUrl);
  const keys = await apiKeys();
  expect(out.stdout).toContain(keys.anon);
  expect(out.stdout).toContain(keys.serviceRole);
});
