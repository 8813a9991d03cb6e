// Direct access to the local stack's database for arranging and asserting (as the app or an operator would).
import { config, LOGIN_ROLES, type LoginRole } from "../../scripts/lib/config.ts";
import { connect } from "../../scripts/lib/db.ts";
import { pendingOrders, SEED } from "../../scripts/lib/seed.ts";
import { waitFor } from "../../scripts/lib/wait.ts";
import { expect } from "vitest";

export const sql = connect(config.dbUrl, { max: 8 });

/** A pending order as the app creates it before sending the buyer to Checkout. */
export async function pendingOrder(amount = 2500, buyer: string = SEED.buyer): Promise<string> {
  const [id] = await pendingOrders(sql, 1, { amount, buyer });
  return id;
}

export async function order(id: string) {
  const [row] = await sql`select * from public.orders where id = ${id}`;
  return row;
}

/** The customer row a Stripe customer belongs to (a user's, or its own), through its link. */
export async function customerOf(stripeCustomerId: string) {
  const [row] = await sql`select c.* from public.customers c
    join ops.stripe_customers m on m.customer_id = c.id where m.stripe_customer_id = ${stripeCustomerId}`;
  return row;
}

export async function ledger(eventIds: string[]) {
  return sql<{ event_id: string; status: string; last_error: string | null }[]>`
    select event_id, status, last_error from ops.stripe_events where event_id = any(${eventIds})`;
}

/** The sessions a function's pool holds (application_name: the env name of its URL, lower case) are
 * all `role`'s, which is no superuser, bypasses no RLS, creates no role and inherits no privilege of
 * the roles it may become (authenticated, for support-intake and the dashboard). Waits for the pool. */
export async function expectNarrowSessions(role: LoginRole) {
  const app = `${LOGIN_ROLES.find((r) => r.role === role)!.env.toLowerCase()}_db_url`;
  const sessions = await waitFor(`a session of ${app}`, async () => {
    const rows = await sql`
      select a.usename, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolinherit
        from pg_stat_activity a join pg_roles r on r.rolname = a.usename
       where a.application_name = ${app}`;
    return rows.length > 0 ? rows : undefined;
  }, 10_000);
  expect(sessions.map((s) => ({ ...s }))).toEqual(
    sessions.map(() => ({
      usename: role,
      rolsuper: false,
      rolbypassrls: false,
      rolcreaterole: false,
      rolinherit: false,
    })),
  );
}
