// Fulfilment and disputes between people (#18) over the running stack: the lifecycle doors called as the
// signed-in user the way PostgREST runs supabase-js rpc (role authenticated with the user's claims; the local
// stack has no PostgREST, which answers a PT<status> SQLSTATE with that HTTP status), the buyer's shipping and
// completion emails sent once through notify to the Resend fake whatever is repeated or replayed, the CRM deal
// following each move, and support-intake (over HTTP) opening requests between buyer and seller and refusing
// the wrong party, whose messages both parties then read and write by their audience.
// The file runs in a world of its own (tests/helpers/world.ts): notify sends to the Resend fake for the world.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userToken } from "../../scripts/lib/config.ts";
import { SEED } from "../../scripts/lib/seed.ts";
import { type FakeResend, startFakeResend } from "../fakes/resend.ts";
import { appClient, asAppUser, invokeFunction, rpcAs } from "../helpers/app.ts";
import { newBuyer, paidOrder } from "../helpers/crm.ts";
import { order, sql } from "../helpers/db.ts";
import { restartGateway, waitFor } from "../helpers/stack.ts";
import "../helpers/require-stack.ts";

let resend: FakeResend;

beforeAll(async () => {
  await startWorld();
  resend = await startFakeResend();
  await restartGateway({ RESEND_API_KEY: resend.apiKey, RESEND_BASE_URL: resend.url, RESEND_TIMEOUT_MS: "5000" });
}, 300_000);
afterAll(async () => {
  await resend?.close();
  await sql.end();
  await stopWorld();
}, 120_000);

const asUser = (userId: string | null, statement: string, args: unknown[] = []) =>
  asAppUser(sql, userId, statement, args);
const door = (userId: string | null, fn: string, args: Record<string, unknown>) => rpcAs(sql, userId, fn, args);

/** A seller of their own (the seed seller's orders are other tests'), and a buyer with a paid order of theirs. */
async function paidOrderOfNewSeller() {
  const run = randomUUID().slice(0, 8);
  const [seller] = await sql<{ id: string }[]>`
    insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
    values (${`seller-${run}@example.com`}, now(), '{"role":"seller"}') returning id`;
  const buyer = await newBuyer(`buyer-${run}@example.com`);
  const orderId = await paidOrder(buyer.id);
  await sql`update public.orders set seller_id = ${seller.id} where id = ${orderId}`;
  return { sellerId: seller.id, buyer, orderId };
}

const sentTo = (email: string, subject: RegExp) =>
  resend.sent.filter((m) => m.to.includes(email) && subject.test(m.subject));

describe("the order lifecycle doors", () => {
  test("the seller ships, the buyer confirms: one email each, the history says who, the CRM deal follows", async () => {
    const { sellerId, buyer, orderId } = await paidOrderOfNewSeller();
    const seller = sellerId;
    const buyerApp = buyer.id;

    const early = await door(seller, "complete_order", { p_order_id: orderId });
    expect(early.code).toBe("PT409");
    expect(early.message).toMatch(/only an order in fulfilment \(shipped\) can be completed/);
    const byBuyer = await door(buyerApp, "ship_order", { p_order_id: orderId });
    expect(byBuyer.code).toBe("PT403");
    const badUrl = await door(seller, "ship_order", { p_order_id: orderId, p_tracking_url: "ftp://x" });
    expect(badUrl.code).toBe("PT400");
    expect((await order(orderId)).status).toBe("paid");

    const dealKeysBefore = (await sql<{ dedupe_key: string }[]>`
      select dedupe_key from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = ${orderId}`)
      .map((j) => j.dedupe_key);
    const tracking = { p_carrier: "DHL", p_tracking_number: "JD0146", p_tracking_url: "https://track.example/JD0146" };
    const [a, b] = await Promise.all([
      door(seller, "ship_order", { p_order_id: orderId, ...tracking }),
      door(seller, "ship_order", { p_order_id: orderId, ...tracking }),
    ]);
    expect([a.row?.status, b.row?.status]).toEqual(["in_fulfillment", "in_fulfillment"]);
    expect(a.row?.tracking_number).toBe("JD0146");
    const confirmed = await door(buyerApp, "confirm_order_received", { p_order_id: orderId });
    expect(confirmed.row?.status).toBe("completed");
    expect((await door(buyerApp, "confirm_order_received", { p_order_id: orderId })).row?.status).toBe("completed");

    const history = await sql<{ move: string; changed_by: string }[]>`
      select from_status || '>' || to_status || ' by ' || actor as move, changed_by from ops.status_changes
       where entity = ${`order:${orderId}`} and from_status in ('paid', 'in_fulfillment') order by id`;
    expect(history).toEqual([
      { move: "paid>in_fulfillment by seller", changed_by: sellerId },
      { move: "in_fulfillment>completed by buyer", changed_by: buyer.id },
    ]);

    const shipped = await waitFor("the shipping email", async () => {
      const m = sentTo(buyer.email, /has shipped/);
      return m.length > 0 && m;
    }, 60_000);
    await waitFor("the completion email", async () => sentTo(buyer.email, /is complete$/).length > 0, 60_000);
    expect(shipped[0].text).toMatch(/JD0146/);
    expect(shipped[0].html).toContain("https://track.example/JD0146");

    // the CRM deal follows: one deal job per move (each reads the order as it is when it runs, so a late one
    // sends the newest stage), and the newest version synced at the completed stage
    const [{ moves }] = await sql<{ moves: number }[]>`
      select count(*)::int as moves from ops.jobs where kind = 'crm.deal' and payload ->> 'order_id' = ${orderId}
         and dedupe_key <> all(${dealKeysBefore})`;
    expect(moves).toBe(2);
    const deal = await waitFor("the deal at completed", async () => {
      const [d] = await sql<{ stage: string; synced_version: number }[]>`
        select stage, synced_version from ops.crm_deals where order_id = ${orderId}`;
      return d?.stage === "completed" && d;
    }, 60_000);
    expect(deal.synced_version).toBe((await order(orderId)).version);
    const [last] = await sql<{ stage: string }[]>`
      select body ->> 'stage' as stage from ops.crm_capture
       where operation = 'deal' and key = ${orderId} order by id desc limit 1`;
    expect(last.stage).toBe("completed");

    // replaying both email jobs (the same dedupe and idempotency key) sends nothing again
    const jobs = await sql<{ id: string }[]>`
      select id from ops.jobs where kind = 'notify.email' and payload ->> 'entity' = ${`order:${orderId}`}
         and payload ->> 'template' in ('order_shipped', 'order_completed')`;
    expect(jobs).toHaveLength(2);
    for (const j of jobs) expect((await sql`select ops.replay_job(${j.id}) as ok`)[0].ok).toBe(true);
    await waitFor("the replays to finish", async () => {
      const rows = await sql`select 1 from ops.jobs where id = any(${jobs.map((j) => j.id)}) and status <> 'succeeded'`;
      return rows.length === 0;
    }, 60_000);
    expect(sentTo(buyer.email, /has shipped/)).toHaveLength(1);
    expect(sentTo(buyer.email, /is complete$/)).toHaveLength(1);
    const sent = await sql<{ template: string; status: string }[]>`
      select template, status from ops.notifications
       where entity = ${`order:${orderId}`} and template like 'order_%' order by template`;
    expect(sent).toEqual([{ template: "order_completed", status: "sent" }, {
      template: "order_shipped",
      status: "sent",
    }]);
  });

  test("another seller and another buyer find no such order (404), visitors cannot call the doors", async () => {
    const { orderId } = await paidOrderOfNewSeller();
    const stranger = await newBuyer(`stranger-${randomUUID().slice(0, 8)}@example.com`);
    const bySeedSeller = await door(SEED.seller, "ship_order", { p_order_id: orderId });
    expect(bySeedSeller.code).toBe("PT404");
    const byStranger = await door(stranger.id, "confirm_order_received", { p_order_id: orderId });
    expect(byStranger.code).toBe("PT404");
    const byVisitor = await door(null, "ship_order", { p_order_id: orderId });
    expect(byVisitor.code).toBe("42501");
    expect((await order(orderId)).status).toBe("paid");
  });
});

describe("requests between buyer and seller (support-intake)", () => {
  const app = async (userId: string) => appClient(await userToken(userId));
  const request = (category: string, orderId?: string) => ({
    category,
    subject: "Problem with the order",
    message: "The mug arrived with a crack.",
    ...(orderId ? { order_id: orderId } : {}),
  });

  test("both parties open one, to seller_disputes; the wrong party or order is refused", async () => {
    const { sellerId, buyer, orderId } = await paidOrderOfNewSeller();
    const stranger = await newBuyer(`stranger-${randomUUID().slice(0, 8)}@example.com`);
    const buyerApp = await app(buyer.id);
    const sellerApp = await app(sellerId);

    const opened = await invokeFunction(buyerApp, "support-intake", request("seller_problem", orderId));
    expect(opened.status).toBe(201);
    expect(opened.body.ticket).toMatchObject({ queue: "seller_disputes", status: "open" });
    const again = await invokeFunction(buyerApp, "support-intake", request("seller_problem", orderId));
    expect([again.status, again.body.ticket]).toEqual([200, opened.body.ticket]);
    const bySeller = await invokeFunction(sellerApp, "support-intake", request("buyer_problem", orderId));
    expect(bySeller.status).toBe(201);
    expect(bySeller.body.ticket).toMatchObject({ queue: "seller_disputes" });

    const refusals = [
      [await app(stranger.id), request("seller_problem", orderId), 403, /not an order you bought/],
      [buyerApp, request("buyer_problem", orderId), 403, /not an order you sold/],
      [buyerApp, request("seller_problem", randomUUID()), 404, /does not exist/],
      [buyerApp, request("seller_problem"), 400, /order_id is required/],
    ] as const;
    for (const [client, body, status, message] of refusals) {
      const res = await invokeFunction(client, "support-intake", body);
      expect([res.status, res.body.error]).toEqual([status, expect.stringMatching(message)]);
    }
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.support_tickets where order_id = ${orderId}`;
    expect(n).toBe(2);
  });

  test("both parties read the ticket and the messages meant for them, and write as parties", async () => {
    const { sellerId, buyer, orderId } = await paidOrderOfNewSeller();
    const opened = await invokeFunction(await app(buyer.id), "support-intake", request("seller_problem", orderId));
    const ticketId = (opened.body.ticket as { id: string }).id;

    const seen = await asUser(sellerId, "select id, status, queue from public.support_tickets where id = $1", [
      ticketId,
    ]);
    expect(seen.rows).toEqual([{ id: ticketId, status: "open", queue: "seller_disputes" }]);
    const note = { p_ticket_id: ticketId, p_body: "Sent well packed; photo attached.", p_idempotency_key: "reply-1" };
    const reply = await door(sellerId, "add_ticket_message", note);
    expect(reply.row).toMatchObject({ author_kind: "party", visibility: "parties", created: true });
    const replay = await door(sellerId, "add_ticket_message", note);
    expect(replay.row).toMatchObject({ message_id: reply.row?.message_id, created: false });
    const privateNote = await door(buyer.id, "add_ticket_message", {
      p_ticket_id: ticketId,
      p_body: "For support only.",
      p_visibility: "requester",
    });
    expect(privateNote.row?.visibility).toBe("requester");
    const asParty = await door(sellerId, "add_ticket_message", { ...note, p_visibility: "requester" });
    expect(asParty.code).toBe("PT403");

    const bodies = async (userId: string) =>
      (await asUser(userId, "select body from public.ticket_messages where ticket_id = $1 order by created_at, id", [
        ticketId,
      ])).rows.map((m) => m.body);
    expect(await bodies(buyer.id)).toEqual([
      "The mug arrived with a crack.",
      "Sent well packed; photo attached.",
      "For support only.",
    ]);
    expect(await bodies(sellerId)).toEqual(["The mug arrived with a crack.", "Sent well packed; photo attached."]);
    const other = await door(SEED.seller, "add_ticket_message", { p_ticket_id: ticketId, p_body: "hi" });
    expect(other.code).toBe("PT404");
    expect(await bodies(SEED.seller)).toEqual([]);
  });
});
