// stripe-webhook over HTTP: what it refuses, and that a refusal changes nothing.
import { afterAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { sql } from "../helpers/db.ts";
import { deliver, event, signature, WEBHOOK_URL } from "../helpers/stripe.ts";

const ledgerCount = async () => (await sql`select count(*)::int as n from ops.stripe_events`)[0].n as number;
const now = () => Math.floor(Date.now() / 1000);

afterAll(() => sql.end());

describe("stripe-webhook rejects bad deliveries with a clear 4xx and writes nothing", () => {
  // deno-lint-ignore no-explicit-any -- the JSON each rejection answered
  const cases: [string, () => Promise<{ status: number; body: any; id?: string }>, number, RegExp][] = [
    [
      "a missing Stripe-Signature header",
      async () => {
        const e = event("customer_updated", {});
        return { ...(await deliver(e, { header: null })), id: e.id };
      },
      400,
      /missing Stripe-Signature/,
    ],
    [
      "a signature made with an unknown secret",
      async () => {
        const e = event("customer_updated", {});
        return { ...(await deliver(e, { secret: "whsec_somebody_else" })), id: e.id };
      },
      400,
      /invalid Stripe-Signature/,
    ],
    [
      "a signature over a different body",
      async () => {
        const e = event("customer_updated", {});
        const header = await signature(JSON.stringify({ ...e, type: "something.else" }));
        return { ...(await deliver(e, { header })), id: e.id };
      },
      400,
      /invalid Stripe-Signature/,
    ],
    [
      "a garbled signature header",
      async () => {
        const e = event("customer_updated", {});
        return { ...(await deliver(e, { header: "t=abc,v1=zzz" })), id: e.id };
      },
      400,
      /no timestamp|invalid Stripe-Signature/,
    ],
    [
      "a timestamp older than 5 minutes (replay)",
      async () => {
        const e = event("customer_updated", {});
        return { ...(await deliver(e, { timestamp: now() - 301 })), id: e.id };
      },
      400,
      /older than 5 minutes/,
    ],
    [
      "a timestamp more than 5 minutes in the future",
      async () => {
        const e = event("customer_updated", {});
        return { ...(await deliver(e, { timestamp: now() + 400 })), id: e.id };
      },
      400,
      /in the future/,
    ],
    ["a signed body that is not JSON", async () => deliver("this is not json"), 400, /not JSON/],
    ["a signed JSON array", async () => deliver("[1,2,3]"), 400, /not a Stripe event/],
    [
      "a signed JSON object that is not an event",
      async () => deliver(JSON.stringify({ id: "evt_x", hello: "world" })),
      400,
      /not a Stripe event/,
    ],
  ];

  test.each(cases)("refuses %s", async (_name, send, status, message) => {
    const before = await ledgerCount();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.body.error).toMatch(message);
    expect(JSON.stringify(res.body)).not.toMatch(/whsec_|at \w+ \(|postgres/i);
    if (res.id) expect((await sql`select 1 from ops.stripe_events where event_id = ${res.id}`).length).toBe(0);
    expect(await ledgerCount()).toBe(before);
  });

  test("answers 413 for a body over 1 MiB, before verifying it", async () => {
    const before = await ledgerCount();
    const big = JSON.stringify({ ...event("customer_updated", {}), padding: "x".repeat(1024 * 1024) });
    const res = await fetch(WEBHOOK_URL, {
      method: "POST",
      body: big,
      headers: { "stripe-signature": await signature(big) },
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/too large/);
    expect(await ledgerCount()).toBe(before);
  });

  test("answers 413 for an oversized chunked body with no Content-Length", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= 20) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await fetch(WEBHOOK_URL, {
      method: "POST",
      body,
      headers: { "stripe-signature": "t=1,v1=00" },
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
  });

  test.each(["GET", "PUT", "DELETE"])("answers 405 with Allow: POST to %s", async (method) => {
    const res = await fetch(WEBHOOK_URL, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });

  test("accepts every configured secret during a rotation", async () => {
    expect(config.stripeWebhookSecrets.length).toBeGreaterThanOrEqual(2);
    for (const secret of config.stripeWebhookSecrets) {
      const e = event("customer_updated", { id: `cus_rot_${Math.random().toString(36).slice(2)}` });
      const res = await deliver(e, { secret });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ received: true, event_id: e.id, duplicate: false });
    }
  });

  test("accepts a header carrying several v1 signatures when one matches", async () => {
    const e = event("customer_updated", { id: `cus_multi_${Math.random().toString(36).slice(2)}` });
    const body = JSON.stringify(e);
    const good = await signature(body);
    const header = good.replace(/v1=/, "v1=" + "0".repeat(64) + ",v1=");
    const res = await deliver(body, { header });
    expect(res.status).toBe(200);
  });
});
