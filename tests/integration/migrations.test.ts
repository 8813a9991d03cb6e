// Running the migrations twice does no harm (as graphile-worker checks), neither does starting the
// stack twice, and its status line tells where everything is.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
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

test("every migration applied a second time succeeds and changes no structure or reference data", async () => {
  expect(files.length).toBeGreaterThan(10);
  const before = await snapshot();
  class Rollback extends Error {}
  await expect(sql.begin(async (tx) => {
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
  expect(out.stdout).toMatch(/database: up {2}net-worker=up {2}gateway=up/);
  expect(out.stdout).toContain(config.functionUrl("stripe-webhook"));
  expect(out.stdout).toContain(config.dbUrl);
  const keys = await apiKeys();
  expect(out.stdout).toContain(keys.anon);
  expect(out.stdout).toContain(keys.serviceRole);
});
