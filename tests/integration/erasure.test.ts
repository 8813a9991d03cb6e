// Erasure on request (#16), end to end: one person seeded through every path (sign-up, a Stripe customer and a
// paid Checkout order through the webhook, receipt and welcome emails, a ticket through support-intake, the CRM
// against the HubSpot fake, a bounce, an admin's access override, a dispute), then `npm run erase`'s function.
// Afterwards a generic scan of every text and json column of every table in every schema we have finds their
// address nowhere, HubSpot has no contact with it (and no blocklist entry), and a second erasure changes nothing.
// The file runs in a world of its own (tests/helpers/world.ts): crm-sync talks to the HubSpot fake there.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userToken } from "../../scripts/lib/config.ts";
import { checkoutCompleted, customerUpdated, dispute } from "../../scripts/lib/scenarios.ts";
import { erase } from "../../scripts/ops/erase.ts";
import { asUser } from "../../supabase/functions/_shared/auth/as-user.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { newBuyer } from "../helpers/crm.ts";
import { newAdmin } from "../helpers/dashboard.ts";
import { pendingOrder, sql } from "../helpers/db.ts";
import { settleJobs, sweep, waitFor } from "../helpers/stack.ts";
import { deliver, uid } from "../helpers/stripe.ts";

let fake: FakeHubSpot;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  fake = await startFakeHubSpot({ token: `pat-test-${uid()}` });
  await startWorld({
    HUBSPOT_ACCESS_TOKEN: fake.token,
    HUBSPOT_API_BASE: fake.url,
    HUBSPOT_TIMEOUT_MS: "2000",
    HUBSPOT_RATE_LIMIT_PER_10S: "5000",
    CRM_ADAPTER: undefined,
  });
  await sql`update ops.job_kinds set backoff_base_ms = 300, backoff_max_ms = 2000 where kind like 'crm.%'`;
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

/** Every text, varchar, json, jsonb (or array of them) column of every table outside Postgres' own schemas
 * that holds `needle` (case-insensitive): schema.table.column -> rows. Generic: a new table cannot hide. */
async function columnsHolding(needle: string): Promise<Record<string, number>> {
  const cols = await sql<{ schema: string; table: string; column: string }[]>`
    select n.nspname as schema, c.relname as table, a.attname as column
      from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      join pg_type t on t.oid = a.atttypid
     where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
       and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
       and (t.typcategory = 'S' or t.typname in ('json', 'jsonb', '_text', '_varchar', '_json', '_jsonb'))`;
  expect(cols.length).toBeGreaterThan(100);
  const pattern = `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const found: Record<string, number> = {};
  for (const c of cols) {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql(c.schema)}.${sql(c.table)} where ${sql(c.column)}::text ilike ${pattern}`;
    if (n > 0) found[`${c.schema}.${c.table}.${c.column}`] = n;
  }
  return found;
}

async function openJobs(): Promise<number[]> {
  const rows = await sql<{ id: string }[]>`select id from ops.jobs where status not in ('succeeded', 'dead')`;
  return rows.map((r) => Number(r.id));
}

async function settleAll(timeoutMs = 120_000) {
  await waitFor(
    "every job to settle",
    async () => {
      const open = await openJobs();
      if (open.length === 0) return true;
      await settleJobs(open, timeoutMs, () => sweep());
      return (await openJobs()).length === 0;
    },
    timeoutMs,
    () => sweep(),
  );
}

describe("erasure on request", () => {
  test("a person seeded through every path is found nowhere after erasure; again changes nothing", async () => {
    const tag = randomUUID().slice(0, 8);
    const email = `Erase.Me-${tag}@Example.com`;
    const lower = email.toLowerCase();
    const name = `Erin Erasable ${tag}`;

    // sign-up: a lead customer and a CRM contact
    const buyer = await newBuyer(lower);
    await sql`update public.profiles set display_name = ${name} where id = ${buyer.id}`;
    // a Stripe customer the server set the user id on, with the address and name typed at Checkout
    const cus = uid("cus_");
    const t = now();
    expect((await deliver(customerUpdated(cus, email, t, { name, metadata: { user_id: buyer.id } }))).body.status)
      .toBe("processed");
    // a paid Checkout order: receipt, welcome, CRM deal
    const pi = uid("pi_");
    const charge = uid("ch_");
    const order = await pendingOrder(2500, buyer.id);
    const paid = checkoutCompleted(order, pi, t + 1, {
      customer: cus,
      customer_details: { email, name, address: { line1: `1 ${tag} Street`, country: "FR" } },
    });
    expect((await deliver(paid)).body.status).toBe("processed");
    // a ticket through support-intake, as the app sends it
    const app = await appClient(await userToken(buyer.id, { email: lower }));
    const ticket = await invokeFunction(app, "support-intake", {
      category: "order",
      subject: `Order question from ${email}`,
      message: `Hello, this is ${name}; write to ${lower}.`,
      order_id: order,
    });
    expect(ticket.status).toBe(201);
    // a bounce from Resend, and an admin's access override (its audit row keeps the whole customer row)
    await sql`select ops.record_email_event(${`msg_${tag}`}, 'email.bounced', ${[
      lower,
    ]}, true, ${`bounced: ${lower}`})`;
    const admin = await newAdmin();
    await asUser(
      sql,
      { sub: admin.id, role: "authenticated", email: admin.email, app_metadata: { role: "admin" } },
      (tx) =>
        tx`select ops.admin_set_access(${buyer.customerId}, 'granted', ${`goodwill for ${lower}`},
                                       now() + interval '1 day')`,
    );
    // a dispute: a ticket in disputes, a Slack alert, a CRM note
    await settleAll();
    const dp = uid("dp_");
    expect((await deliver(dispute(pi, charge, "needs_response", t + 2, dp))).body.status).toBe("processed");
    await settleAll();

    // arranged: the address is in many places, and HubSpot has the contact with its deal
    const before = await columnsHolding(lower);
    for (
      const col of [
        "auth.users.email",
        "public.customers.email",
        "ops.stripe_customers.email",
        "ops.stripe_events.payload",
        "ops.crm_contacts.email",
        "ops.jobs.payload",
        "ops.notification_captures.body",
        "ops.email_suppressions.email",
        "ops.audit_log.before",
        "ops.access_overrides.reason",
        "public.support_tickets.subject",
        "public.ticket_messages.body",
      ]
    ) expect(before, col).toHaveProperty([col]);
    expect(fake.contacts(lower)).toHaveLength(1);
    const contactId = fake.contacts(lower)[0].id;
    expect(fake.deals(order)).toHaveLength(1);
    expect((ticket.body as { ticket?: { ref?: string } }).ticket?.ref).toMatch(/^T-/);

    // act: npm run erase's function, by the address as the person wrote it
    const summary = await erase(sql, email, `GDPR request from ${email}`);
    expect(summary.status).toBe("erased");
    expect(summary.subject).toBe(`user:${buyer.id}`);
    expect(summary.crm_job_id).toBeTruthy();
    await settleJobs([Number(summary.crm_job_id)], 60_000, () => sweep());
    const [job] = await sql`select status, payload, result from ops.jobs where id = ${summary.crm_job_id!}`;
    expect(job.status).toBe("succeeded");
    expect(job.result).toMatchObject({ adapter: "hubspot", deleted: [contactId] });
    expect(job.payload).not.toHaveProperty("emails");
    await settleAll();

    // their address and name are nowhere; HubSpot deleted the contact by id and blocklisted nothing
    expect(await columnsHolding(lower)).toEqual({});
    expect(await columnsHolding(name)).toEqual({});
    expect(fake.contacts(lower)).toHaveLength(0);
    expect(fake.blocklist()).toEqual([]);
    expect(fake.requests.filter((r) => r.path === "/crm/v3/objects/contacts/gdpr-delete").map((r) => r.status))
      .toContain(204);

    // the books: the order, its payment, refunds and dispute keep ids, amounts and statuses
    const [o] =
      await sql`select status, amount_charged, stripe_payment_intent_id from public.orders where id = ${order}`;
    expect(o).toMatchObject({ status: "disputed", amount_charged: "2500", stripe_payment_intent_id: pi });
    const [d] = await sql`select status, amount from ops.disputes where stripe_dispute_id = ${dp}`;
    expect(d).toMatchObject({ status: "needs_response", amount: "2500" });
    const [c] = await sql`select billing_status, email, name from public.customers where id = ${buyer.customerId}`;
    expect(c).toMatchObject({ email: null, name: null });
    const tickets =
      await sql`select status, subject from public.support_tickets where order_id = ${order} order by created_at`;
    expect(tickets.map((x) => x.subject)).toContain("[erased]");
    expect(tickets.length).toBe(2);

    // one audit row, naming the user id and no personal data
    const audit = await sql`select target, reason, after from ops.audit_log where action = 'person.erase'
                              and target = ${`user:${buyer.id}`}`;
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0])).not.toMatch(new RegExp(`${tag}@|${name}`, "i"));

    // again: nothing to erase, no second audit row, no second CRM job
    const again = await erase(sql, email, "again");
    expect(again.status).toBe("nothing_to_erase");
    expect((await erase(sql, buyer.id, "again by id")).status).toBe("nothing_to_erase");
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where kind = 'crm.gdpr_delete'`;
    expect(n).toBe(1);
  }, 300_000);
});
