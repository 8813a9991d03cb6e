// support-intake through @supabase/supabase-js, as the app calls it: the user's access token, the
// function over the local gateway, the ticket written as that user under RLS and enriched by the
// database. Double taps, routing, another user's order, rate limits, CORS and bad input.
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import { describe, expect, test } from "vitest";
import { apiKeys, config, userToken } from "../../scripts/lib/config.ts";
import { randomLoopback } from "../../scripts/lib/loopback-fetch.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { newBuyer, paidOrder } from "../helpers/crm.ts";
import { pendingOrder, sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

const FN = "support-intake";

/** The app of a signed-in user, on a network address of its own, so each test has its own address budget. */
async function app(userId: string, claims: Record<string, unknown> = {}, from?: string) {
  return appClient(await userToken(userId, claims), from);
}

const invoke = (client: SupabaseClient, body: unknown, headers: Record<string, string> = {}) =>
  invokeFunction(client, FN, body, headers);

const request = (extra: Record<string, unknown> = {}) => ({
  category: "billing",
  subject: "I was charged twice",
  message: "Hello, my card shows two charges for one order.",
  ...extra,
});

async function ticketsOf(userId: string) {
  return sql<{ id: string; queue: string; priority: string; tags: string[]; context: Record<string, unknown> }[]>`
    select id, queue, priority, tags, context, client_context from public.support_tickets where requester_id = ${userId}`;
}

/** support-intake's failures (5xx) counted for the failed_runs alert. */
async function failures() {
  const [{ n }] = await sql<{ n: number }[]>`
    select coalesce(sum(count), 0)::int as n from ops.endpoint_outcomes
     where endpoint = ${FN} and status_class = '5xx'`;
  return n;
}

/** A user's token as GoTrue signs it, but without exp: valid forever, were it accepted. */
function tokenWithoutExp(sub: string) {
  return new SignJWT({ sub, role: "authenticated", aud: "authenticated", iss: `${config.apiUrl}/auth/v1` })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .sign(new TextEncoder().encode(config.jwtSecret));
}

describe("support-intake", () => {
  test("a double tap is one ticket: the same key, and the same order + category without a key", async () => {
    const buyer = await newBuyer(`tap-${randomUUID().slice(0, 8)}@example.com`);
    const order = await pendingOrder(2500, buyer.id);
    const client = await app(buyer.id);
    const key = randomUUID();
    const [a, b] = await Promise.all([
      invoke(client, request({ idempotency_key: key })),
      invoke(client, request({ idempotency_key: key })),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.ticket).toEqual(b.body.ticket);

    const c = await invoke(client, request({ order_id: order, category: "order" }));
    const d = await invoke(client, request({ order_id: order, category: "order", message: "again" }));
    expect(c.status).toBe(201);
    expect(d.status).toBe(200);
    expect(d.body.ticket).toEqual(c.body.ticket);
    expect(await ticketsOf(buyer.id)).toHaveLength(2);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.ticket_messages m join public.support_tickets t on t.id = m.ticket_id
       where t.requester_id = ${buyer.id}`;
    expect(n).toBe(2);
  });

  test("the server enriches and routes the ticket; the client cannot choose queue, priority or tags", async () => {
    const buyer = await newBuyer(`enrich-${randomUUID().slice(0, 8)}@example.com`);
    const order = await paidOrder(buyer.id);
    const client = await app(buyer.id);
    const res = await invoke(client, request({ order_id: order }), {
      "x-app-version": "3.4.1",
      "x-device": "iPhone 15",
    });
    expect(res.status).toBe(201);
    expect(res.body.ticket).toMatchObject({ queue: "billing", status: "open" });
    const [t] = await sql`select * from public.support_tickets where id = ${(res.body.ticket as { id: string }).id}`;
    expect(t.requester_id).toBe(buyer.id);
    expect(t.order_id).toBe(order);
    expect(t.context).toMatchObject({
      billing_status: expect.any(String),
      order: { id: order, payment_state: "paid" },
    });
    expect(t.context.last_pipeline_action).toMatchObject({ kind: expect.stringMatching(/^(crm|notify)\./) });
    expect(t.client_context).toMatchObject({ app_version: "3.4.1", device: "iPhone 15" });
    expect(t.tags).toEqual(expect.arrayContaining(["billing", "payment:paid", "plan:none"]));

    const forged = await invoke(client, request({ queue: "disputes", priority: "urgent" }));
    expect(forged.status).toBe(400);
    expect(String(forged.body.error)).toMatch(/queue/);
  });

  test("another user's order is refused with 403 and writes nothing", async () => {
    const owner = await newBuyer(`owner-${randomUUID().slice(0, 8)}@example.com`);
    const other = await newBuyer(`other-${randomUUID().slice(0, 8)}@example.com`);
    const order = await pendingOrder(2500, owner.id);
    const res = await invoke(await app(other.id), request({ order_id: order }));
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(/not one of your orders/);
    expect(await ticketsOf(other.id)).toHaveLength(0);
  });

  test("bad input and bad tokens get clear 4xx and write nothing", async () => {
    const buyer = await newBuyer(`bad-${randomUUID().slice(0, 8)}@example.com`);
    const client = await app(buyer.id);
    const noSubject = await invoke(client, request({ subject: "" }));
    expect(noSubject).toMatchObject({ status: 400, body: { error: expect.stringMatching(/subject/) } });
    const badCategory = await invoke(client, request({ category: "refund-me-now" }));
    expect(badCategory).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/category must be one of/) },
    });
    const badOrder = await invoke(client, request({ order_id: "42" }));
    expect(badOrder).toMatchObject({ status: 400, body: { error: expect.stringMatching(/order_id/) } });

    const url = config.functionUrl(FN);
    const none = await fetch(url, { method: "POST", body: JSON.stringify(request()) });
    expect(none.status).toBe(401);
    const { anon, serviceRole } = await apiKeys();
    for (const key of [anon, serviceRole]) {
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
        body: JSON.stringify(request()),
      });
      expect(res.status).toBe(403);
    }
    const forged = await userToken(buyer.id).then((t) => t.slice(0, -4) + "AAAA");
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${forged}` },
      body: JSON.stringify(request()),
    });
    expect(res.status).toBe(401);
    const anonymous = await invoke(await app(buyer.id, { is_anonymous: true }), request());
    expect(anonymous.status).toBe(403);
    expect(await ticketsOf(buyer.id)).toHaveLength(0);
  });

  test("a NUL in the subject is a 400 with a fixed message: no ticket, no failure counted", async () => {
    const buyer = await newBuyer(`nul-${randomUUID().slice(0, 8)}@example.com`);
    const client = await app(buyer.id);
    const failuresBefore = await failures();
    for (const bad of [request({ subject: "charged\u0000twice" }), request({ message: "lone \ud800 half" })]) {
      const res = await invoke(client, bad);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/^(subject|message): \1 must be plain text: no NUL/);
    }
    expect(await ticketsOf(buyer.id)).toHaveLength(0);
    expect(await failures()).toBe(failuresBefore);
  });

  test("a token of a user who no longer exists is a 400 that names no table or constraint", async () => {
    const gone = await invoke(await app(randomUUID()), request());
    expect(gone.status).toBe(400);
    expect(gone.body.error).toBe("your account no longer exists: sign in again");
    expect(JSON.stringify(gone.body)).not.toMatch(/constraint|support_tickets|fkey|violates/);
  });

  test("malformed requests are refused before the rate limit: six 400s, then a good one is recorded", async () => {
    const buyer = await newBuyer(`retry-${randomUUID().slice(0, 8)}@example.com`);
    const client = await app(buyer.id);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await invoke(client, request({ subject: "" }))).status);
    expect(statuses).toEqual([400, 400, 400, 400, 400, 400]);
    expect((await invoke(client, request())).status).toBe(201);
    expect(await ticketsOf(buyer.id)).toHaveLength(1);
  });

  test("a token without exp is refused", async () => {
    const buyer = await newBuyer(`noexp-${randomUUID().slice(0, 8)}@example.com`);
    const res = await fetch(config.functionUrl(FN), {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenWithoutExp(buyer.id)}` },
      body: JSON.stringify(request()),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error).toMatch(/expiry/);
    expect(await ticketsOf(buyer.id)).toHaveLength(0);
  });

  test("rate limits answer 429 with Retry-After, per user and per address", async () => {
    const buyer = await newBuyer(`rate-${randomUUID().slice(0, 8)}@example.com`);
    const client = await app(buyer.id);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await invoke(client, request({ idempotency_key: randomUUID() })));
    expect(answers.slice(0, 5).map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(answers[5].status).toBe(429);
    expect(Number(answers[5].headers.get("retry-after"))).toBeGreaterThan(0);
    expect(answers[5].body.error).toMatch(/too many support requests from this account/);
    expect(await ticketsOf(buyer.id)).toHaveLength(5);
  });

  test("the address budget is the connection's: forged forwarding headers neither escape it nor spend a victim's", async () => {
    const shared = randomLoopback();
    const victim = randomLoopback();
    const statuses = [];
    for (let i = 0; i < 31; i++) {
      const b = await newBuyer(`ip-${i}-${randomUUID().slice(0, 6)}@example.com`);
      // what a client writes: a new address each time, or the victim's
      const forged = i % 2 ? randomLoopback() : victim;
      const headers = { "x-forwarded-for": forged, "cf-connecting-ip": forged, "x-real-ip": forged };
      statuses.push((await invoke(await app(b.id, {}, shared), request(), headers)).status);
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses[30]).toBe(429);
    const own = await newBuyer(`victim-${randomUUID().slice(0, 8)}@example.com`);
    expect((await invoke(await app(own.id, {}, victim), request())).status).toBe(201);
  });

  test("CORS: configured app origins get their headers, other origins are refused", async () => {
    const url = config.functionUrl(FN);
    const pre = await fetch(url, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:3000", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(pre.headers.get("access-control-allow-headers")).toMatch(/authorization/);
    const evil = await fetch(url, { method: "POST", headers: { origin: "https://evil.example" }, body: "{}" });
    expect(evil.status).toBe(403);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
  });
});
