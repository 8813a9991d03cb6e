// Following one action across everything (#20): support-intake, checkout and the dashboard take the caller's
// x-request-id (or make one when it is missing or unsafe), echo it, log it, and the rows their transaction writes
// carry it: the jobs a support request causes, the checkout request, the dashboard's audit row. ops.journey (and
// npm run trace) finds all of it by the request id. Runs in a world of its own: checkout needs the Stripe fake.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { userToken } from "../../scripts/lib/config.ts";
import { formatJourney, journey } from "../../scripts/ops/trace.ts";
import { paths } from "../../scripts/stack/stack.ts";
import { type FakeStripe, startFakeStripe } from "../fakes/stripe.ts";
import { appClient, invokeFunction } from "../helpers/app.ts";
import { newBuyer } from "../helpers/crm.ts";
import { DashboardClient, doneId, newAdmin, newBuyerPerson, ORIGIN } from "../helpers/dashboard.ts";
import { DASHBOARD_URL } from "../helpers/dashboard.ts";
import { sql } from "../helpers/db.ts";

let fake: FakeStripe;

beforeAll(async () => {
  fake = await startFakeStripe();
  await startWorld({
    STRIPE_SECRET_KEY: fake.key,
    STRIPE_API_BASE: fake.url,
    CHECKOUT_SUCCESS_URLS: "https://app.example.com/paid",
    CHECKOUT_CANCEL_URLS: "https://app.example.com/cart",
  });
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await fake.close();
}, 120_000);

async function person() {
  const b = await newBuyer(`rid-${randomUUID().slice(0, 8)}@example.com`);
  return { ...b, token: await userToken(b.id, { email: b.email }) };
}

async function support(token: string, headers: Record<string, string>) {
  return invokeFunction(await appClient(token), "support-intake", {
    category: "technical",
    subject: "Export fails",
    message: "It shows an error.",
  }, headers);
}

const gatewayLog = () => readFileSync(join(paths.logDir, "gateway.log"), "utf8");
const logLines = (requestId: string) =>
  gatewayLog().split("\n").filter((l) => l.startsWith("{") && l.includes(`"request_id":"${requestId}"`));

describe("x-request-id", () => {
  test("support-intake: the caller's id is echoed, logged, and carried by the jobs the ticket causes", async () => {
    const p = await person();
    const rid = `app-${randomUUID()}`;
    const res = await support(p.token, { "x-request-id": rid });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.headers.get("x-request-id")).toBe(rid);
    const ticket = res.body.ticket as { id: string; ref: string };
    const jobs = await sql<{ template: string; request_id: string }[]>`
      select payload ->> 'template' as template, x_request_id as request_id from ops.jobs
       where payload ->> 'entity' = ${"ticket:" + ticket.id} order by 1`;
    expect(jobs.map((j) => j.template)).toEqual(["founder_new_ticket", "support_ack"]);
    expect(jobs.every((j) => j.request_id === rid)).toBe(true);
    expect(logLines(rid).some((l) => l.includes('"msg":"request handled"') && l.includes('"fn":"support-intake"')))
      .toBe(true);

    // the journey by request id: the ticket, its jobs (with the id), and the person's other rows
    const rows = await journey(sql, rid);
    expect(rows.some((r) => r.source === "ticket" && r.what.startsWith(ticket.ref))).toBe(true);
    expect(rows.filter((r) => r.source === "job" && r.correlation_id === rid).length).toBeGreaterThanOrEqual(2);
    expect(formatJourney(rid, rows)).toContain(`[${rid}]`);
    // and a journey by the ticket shows the request id on its jobs
    const byRef = await journey(sql, ticket.ref);
    expect(byRef.some((r) => r.source === "job" && r.correlation_id === rid)).toBe(true);
  });

  test("support-intake: a missing or unsafe id is replaced by one of ours, which the jobs carry", async () => {
    for (const unsafe of [undefined, "has spaces and <html>", "x".repeat(129), "ünïcode"]) {
      const p = await person();
      const res = await support(p.token, unsafe === undefined ? {} : { "x-request-id": unsafe });
      expect(res.status).toBe(201);
      const made = res.headers.get("x-request-id")!;
      expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ticket = res.body.ticket as { id: string };
      const [{ ids }] = await sql<{ ids: string[] }[]>`
        select array_agg(distinct x_request_id) as ids from ops.jobs where payload ->> 'entity' = ${
        "ticket:" + ticket.id
      }`;
      expect(ids).toEqual([made]);
    }
  });

  test("a refused request echoes its id too (the caller can quote it)", async () => {
    const p = await person();
    const res = await invokeFunction(await appClient(p.token), "support-intake", { category: "nope" }, {
      "x-request-id": "refused-1",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-request-id")).toBe("refused-1");
  });

  test("checkout: the checkout request carries the id, and the journey by it finds the order", async () => {
    const b = await person();
    const [u] = await sql<{ id: string }[]>`
      insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
      values (${`seller-${randomUUID().slice(0, 8)}@example.com`}, now(), '{"role": "seller"}') returning id`;
    const [l] = await sql<{ id: string }[]>`
      insert into public.listings (seller_id, title, price_amount, currency, active)
      values (${u.id}, 'Mug', 1500, 'eur', true) returning id`;
    const rid = `ck-${randomUUID()}`;
    const res = await invokeFunction(await appClient(b.token), "checkout", {
      listing_id: l.id,
      idempotency_key: randomUUID(),
    }, { "x-request-id": rid });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.headers.get("x-request-id")).toBe(rid);
    const [r] = await sql`select order_id, x_request_id as request_id from ops.checkout_requests where order_id = ${res
      .body.order_id as string}`;
    expect(r.request_id).toBe(rid);
    const rows = await journey(sql, rid);
    expect(rows.some((x) => x.source === "checkout" && x.correlation_id === rid)).toBe(true);
    expect(rows.some((x) => x.source === "status" && x.entity === `order:${res.body.order_id}`)).toBe(true);
    expect(logLines(rid).some((line) => line.includes('"fn":"checkout"'))).toBe(true);
  });

  test("dashboard: the page and an override echo the id; the audit row carries it; the journey finds it", async () => {
    const admin = await newAdmin();
    const buyer = await newBuyerPerson();
    const client = new DashboardClient();
    expect((await client.signIn(admin.token)).status).toBe(303);
    const page = await fetch(DASHBOARD_URL, { headers: { cookie: client.cookie!, "x-request-id": "dash-page-1" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("x-request-id")).toBe("dash-page-1");
    await page.text();

    const csrf = await client.csrf();
    const rid = `dash-${randomUUID()}`;
    const res = await fetch(`${DASHBOARD_URL}/actions/set-access`, {
      method: "POST",
      redirect: "manual",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: ORIGIN,
        "sec-fetch-site": "same-origin",
        cookie: client.cookie!,
        "x-request-id": rid,
      },
      body: new URLSearchParams({
        customer_id: buyer.customerId,
        access: "granted",
        hours: "1",
        reason: "trace me",
        csrf,
      }),
    });
    expect(res.headers.get("x-request-id")).toBe(rid);
    const id = doneId(res);
    const [a] = await sql`select x_request_id as request_id, target from ops.audit_log where id = ${id}`;
    expect({ ...a }).toEqual({ request_id: rid, target: `customer:${buyer.customerId}` });
    const rows = await journey(sql, rid);
    expect(rows.some((r) => r.source === "audit" && r.what.startsWith("access.grant") && r.correlation_id === rid))
      .toBe(true);
    expect(rows.some((r) => r.source === "status" && r.entity === `customer:${buyer.customerId}`)).toBe(true);
    expect(logLines(rid).some((l) => l.includes('"msg":"override"'))).toBe(true);

    // the dashboard's search finds it too, and shows the id
    const { html } = await client.page(`?q=${encodeURIComponent(rid)}`);
    expect(html).toContain(`<code>${rid}</code>`);
  });

  test("a text that is no email, id, event, ticket or request id is refused with what to give", async () => {
    await expect(sql`select * from ops.journey('not a request id!')`).rejects.toThrow(/request id/);
  });
});
