// The app's status contract (#20): every customer-facing state of public.my_orders, my_sales and my_access
// reached through signed Stripe events (and the fulfilment doors), read as the user under RLS; a refund
// pending, then refunded; and the supabase_realtime publication's changes read through logical decoding
// (pgoutput), as Realtime reads the slot: each published table's changes go out, only their listed columns.
import { afterAll, describe, expect, test } from "vitest";
import { pendingOrder, sql } from "../helpers/db.ts";
import { rpcAs } from "../helpers/app.ts";
import { customerView } from "../../scripts/lib/customer-view.ts";
import { SEED } from "../../scripts/lib/seed.ts";
import {
  chargeRefunded,
  checkoutCompleted,
  checkoutExpired,
  dispute,
  piFailed,
  piSucceeded,
  refundEvent,
  subscriptionEvents,
} from "../../scripts/lib/scenarios.ts";
import { deliver, deliverAll, type Evt, uid } from "../helpers/stripe.ts";

afterAll(() => sql.end());
const t0 = () => Math.floor(Date.now() / 1000) - 3600;

/** The order as the buyer's app reads it from my_orders (and the seller's from my_sales). */
async function asBuyer(orderId: string, buyer: string = SEED.buyer) {
  const view = await customerView(sql, buyer);
  return view.orders.find((o) => o.id === orderId);
}
async function asSeller(orderId: string) {
  const view = await customerView(sql, SEED.seller);
  return view.sales.find((o) => o.id === orderId);
}

/** A paid order of the seed buyer from the seed seller: its events, payment intent and charge. */
function paid(orderId: string, t: number) {
  const [pi, ch] = [uid("pi_"), uid("ch_")];
  return { pi, ch, events: [checkoutCompleted(orderId, pi, t), piSucceeded(pi, ch, t + 1)] };
}

describe("each order state through real events, as the buyer reads it", () => {
  const lives: [string, (o: string, t: number) => Evt[], string][] = [
    ["nothing yet (the app created the order)", () => [], "awaiting_payment"],
    [
      "Checkout finished with an async method (payment_status unpaid)",
      (o, t) => [checkoutCompleted(o, uid("pi_"), t, { payment_status: "unpaid" })],
      "processing",
    ],
    ["paid: the seller still has to ship", (o, t) => paid(o, t).events, "payment_received"],
    [
      "the payment failed",
      (o, t) => {
        const pi = uid("pi_");
        return [checkoutCompleted(o, pi, t, { payment_status: "unpaid" }), piFailed(pi, t + 1)];
      },
      "payment_failed",
    ],
    ["the only session expired", (o, t) => [checkoutExpired(o, null, t)], "canceled"],
    [
      "paid another amount than the price (review)",
      (o, t) => [checkoutCompleted(o, uid("pi_"), t, { amount_subtotal: 1999, amount_total: 1999 })],
      "under_review",
    ],
    [
      "part of it refunded",
      (o, t) => {
        const p = paid(o, t);
        return [...p.events, chargeRefunded(p.pi, p.ch, 1000, t + 2)];
      },
      "partially_refunded",
    ],
    [
      "a dispute opened",
      (o, t) => {
        const p = paid(o, t);
        return [...p.events, dispute(p.pi, p.ch, "needs_response", t + 2, uid("dp_"))];
      },
      "disputed",
    ],
  ];
  test.each(lives.map(([life, build, state]) => ({ life, build, state })))(
    "$life: $state",
    async ({ build, state }) => {
      const id = await pendingOrder();
      await deliverAll(build(id, t0()));
      const row = await asBuyer(id);
      expect(row?.state).toBe(state);
      // the founder's wording for that state, from the one table
      const [text] = await sql`select title, explanation, next_step, action from public.customer_state_texts
      where kind = 'order' and state = ${state}`;
      expect(row).toMatchObject({ ...text });
      expect(row!.title).toBeTruthy();
    },
  );

  test("an order without a seller (the founder's own sale) is paid: nothing left to do", async () => {
    const [{ id }] = await sql<{ id: string }[]>`
      insert into public.orders (buyer_id, amount_total, currency) values (${SEED.buyer}, 2500, 'usd') returning id`;
    await deliverAll(paid(id, t0()).events);
    expect((await asBuyer(id))?.state).toBe("paid");
    expect(await asSeller(id)).toBeUndefined();
  });

  test("shipped, then completed, through the fulfilment doors; the seller sees to_ship, shipped, completed", async () => {
    const id = await pendingOrder();
    await deliverAll(paid(id, t0()).events);
    expect((await asSeller(id))?.state).toBe("to_ship");
    const shipped = await rpcAs(sql, SEED.seller, "ship_order", {
      p_order_id: id,
      p_carrier: "DHL",
      p_tracking_number: "STATUS1",
    });
    expect(shipped.code).toBeUndefined();
    expect(await asBuyer(id)).toMatchObject({ state: "shipped", tracking_number: "STATUS1" });
    expect((await asSeller(id))?.state).toBe("shipped");
    const done = await rpcAs(sql, SEED.buyer, "confirm_order_received", { p_order_id: id });
    expect(done.code).toBeUndefined();
    expect((await asBuyer(id))?.state).toBe("completed");
    expect((await asSeller(id))?.state).toBe("completed");
  });

  test("another buyer reads none of these orders", async () => {
    const id = await pendingOrder();
    await deliverAll(paid(id, t0()).events);
    const [{ id: other }] = await sql<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at) values (${`other-${uid()}@example.com`}, now()) returning id`;
    const view = await customerView(sql, other);
    expect(view.orders).toEqual([]);
    expect(view.sales).toEqual([]);
  });
});

describe("a refund Stripe has not finished", () => {
  test("refund.created pending shows refund pending (even when the charge already counts it), then refunded", async () => {
    const id = await pendingOrder();
    const t = t0();
    const p = paid(id, t);
    const re = uid("re_");
    await deliverAll([...p.events, refundEvent(p.pi, p.ch, re, 2500, "pending", t + 2, "refund.created")]);
    expect(await asBuyer(id)).toMatchObject({ state: "refund_pending", amount_refund_pending: "2500" });
    expect((await asSeller(id))?.state).toBe("refund_pending");
    // Stripe's charge.refunded counts a pending refund in amount_refunded: the order is refunded in the books,
    // the money is not back yet
    await deliverAll([chargeRefunded(p.pi, p.ch, 2500, t + 2)]);
    const [o] = await sql`select status from public.orders where id = ${id}`;
    expect(o.status).toBe("refunded");
    expect((await asBuyer(id))?.state).toBe("refund_pending");
    await deliverAll([refundEvent(p.pi, p.ch, re, 2500, "succeeded", t + 3, "refund.updated")]);
    expect(await asBuyer(id)).toMatchObject({ state: "refunded", amount_refund_pending: "0" });
    expect((await asSeller(id))?.state).toBe("refunded");
  });

  test("a pending refund that fails takes the order back to payment received, and a replay changes nothing", async () => {
    const id = await pendingOrder();
    const t = t0();
    const p = paid(id, t);
    const re = uid("re_");
    const created = refundEvent(p.pi, p.ch, re, 1000, "pending", t + 2, "refund.created");
    await deliverAll([...p.events, created]);
    expect((await asBuyer(id))?.state).toBe("refund_pending");
    await deliverAll([refundEvent(p.pi, p.ch, re, 1000, "failed", t + 3, "refund.failed")]);
    expect(await asBuyer(id)).toMatchObject({ state: "payment_received", amount_refund_pending: "0" });
    // the pending event delivered again (or late) does not bring the refund back
    const again = await deliver(created);
    expect(again.status).toBe(200);
    expect((await asBuyer(id))?.state).toBe("payment_received");
  });
});

describe("access through subscription events", () => {
  test("trialing, active, a failed renewal in grace, unpaid, canceled: each with its next step", async () => {
    const [{ id: user }] = await sql<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at) values (${`access-${uid()}@example.com`}, now()) returning id`;
    expect((await customerView(sql, user)).access).toMatchObject([{ state: "no_subscription", has_access: false }]);
    const [cus, sub, t] = [uid("cus_"), uid("sub_"), t0()];
    const steps: [string, string, boolean, string | null][] = [
      ["trialing", "trialing", true, "open_billing_portal"],
      ["active", "active", true, null],
      ["past_due", "payment_failed_grace", true, "open_billing_portal"],
      ["unpaid", "unpaid", false, "open_billing_portal"],
      ["canceled", "canceled", false, "start_checkout"],
    ];
    const events = subscriptionEvents(cus, sub, steps.map(([status]) => status), t, { user_id: user });
    for (const [i, [status, state, hasAccess, action]] of steps.entries()) {
      await deliverAll([events[i]]);
      const [access] = (await customerView(sql, user)).access;
      expect(access, status).toMatchObject({ state, has_access: hasAccess, action });
    }
  });
});

// ---------------------------------------------------------------- Realtime: the publication through pgoutput

type Relation = { schema: string; name: string; columns: string[] };

/** pgoutput's protocol (version 1): Relation messages name the columns that go out; Insert/Update/Delete
 * name the relation they change. https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html */
function decode(messages: Buffer[]) {
  const relations = new Map<number, Relation>();
  const changes: { op: string; relation: number; values: (string | null)[] }[] = [];
  for (const m of messages) {
    let at = 1;
    const int32 = () => (at += 4, m.readUInt32BE(at - 4));
    const int16 = () => (at += 2, m.readUInt16BE(at - 2));
    const cstring = () => {
      const end = m.indexOf(0, at);
      const s = m.toString("utf8", at, end);
      at = end + 1;
      return s;
    };
    const tuple = () => {
      const values: (string | null)[] = [];
      for (let n = int16(), i = 0; i < n; i++) {
        const kind = String.fromCharCode(m[at++]);
        if (kind === "t") {
          const len = int32();
          values.push(m.toString("utf8", at, at + len));
          at += len;
        } else values.push(null);
      }
      return values;
    };
    const kind = String.fromCharCode(m[0]);
    if (kind === "R") {
      const id = int32();
      const schema = cstring();
      const name = cstring();
      at += 1; // replica identity
      const columns: string[] = [];
      for (let n = int16(), i = 0; i < n; i++) {
        at += 1; // flags
        columns.push(cstring());
        at += 8; // type oid, type modifier
      }
      relations.set(id, { schema, name, columns });
    } else if (kind === "I" || kind === "U" || kind === "D") {
      const relation = int32();
      let part = String.fromCharCode(m[at++]);
      let values = tuple();
      if (kind === "U" && (part === "K" || part === "O")) {
        part = String.fromCharCode(m[at++]);
        values = tuple();
      }
      changes.push({ op: kind, relation, values });
    }
  }
  return { relations, changes };
}

describe("the supabase_realtime publication", () => {
  test("a change to each published table reaches logical decoding, with only the listed columns", async () => {
    const slot = `status_${uid().slice(0, 12).toLowerCase().replace(/[^a-z0-9]/g, "")}`;
    const reader = await sql.reserve();
    try {
      await reader`select pg_create_logical_replication_slot(${slot}, 'pgoutput', true)`;
      // one change of each table, as the pipeline and the app make them
      const orderId = await pendingOrder();
      const [customer] = await sql<{ id: string }[]>`
        update public.customers set name = coalesce(name, 'Buyer') where user_id = ${SEED.buyer} returning id`;
      const [ticket] = await sql<{ id: string }[]>`
        insert into public.support_tickets (requester_id, source, category, subject)
        values (${SEED.buyer}, 'system', 'billing', 'Realtime check') returning id`;
      const [message] = await sql<{ id: string }[]>`
        insert into public.ticket_messages (ticket_id, author_kind, body, visibility)
        values (${ticket.id}, 'system', 'a note', 'requester') returning id`;
      const rows = await reader<{ data: Buffer }[]>`
        select data from pg_logical_slot_get_binary_changes(${slot}, null, null,
          'proto_version', '1', 'publication_names', 'supabase_realtime')`;
      const { relations, changes } = decode(rows.map((r) => r.data));
      const published = await sql<{ tablename: string; attnames: string[] }[]>`
        select tablename, attnames from pg_publication_tables where pubname = 'supabase_realtime'`;
      const expected = new Map(published.map((p) => [p.tablename, p.attnames]));
      const byName = new Map([...relations.entries()].map(([oid, r]) => [r.name, { oid, ...r }]));
      for (
        const [table, id] of [
          ["orders", orderId],
          ["customers", customer.id],
          ["support_tickets", ticket.id],
          ["ticket_messages", message.id],
        ]
      ) {
        const rel = byName.get(table);
        expect(rel, `${table} reached logical decoding`).toBeDefined();
        // exactly the publication's column list, in the table's order: no Stripe id, review reason or context
        expect(rel!.columns.slice().sort()).toEqual(expected.get(table)!.slice().sort());
        const idAt = rel!.columns.indexOf("id");
        expect(changes.some((c) => c.relation === rel!.oid && c.values[idAt] === id), `${table} ${id}`).toBe(true);
      }
      expect(byName.get("orders")!.columns).not.toContain("stripe_payment_intent_id");
      expect(byName.get("orders")!.columns).not.toContain("review_reason");
      expect(byName.get("customers")!.columns).not.toContain("review_reason");
      expect(byName.get("support_tickets")!.columns).not.toContain("context");
      // nothing outside the publication went out (ops tables, profiles)
      expect([...byName.keys()].every((n) => expected.has(n))).toBe(true);
    } finally {
      await reader`select pg_drop_replication_slot(${slot})`.catch(() => undefined);
      reader.release();
    }
  });
});
