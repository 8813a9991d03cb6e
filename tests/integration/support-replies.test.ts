// Support both ways (#20) over the running stack: an agent answers on the dashboard (HTTP, session and CSRF)
// or in Studio (ops.reply_to_ticket); notify sends the requester one ticket_reply email through the Resend fake,
// threaded (Message-ID, In-Reply-To, References) with a signed reply address; the requester's email reply comes
// back as Resend posts it (a Svix-signed email.received event, the content fetched from the fake's receiving
// API) and is appended once to the right ticket. Forged tokens, auto-replies and redeliveries write nothing more.
// The file runs in a world of its own (tests/helpers/world.ts): its functions get the fake and the reply settings.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { DashboardClient, doneId, newAdmin, newBuyerPerson, openTicket } from "../helpers/dashboard.ts";
import { sql } from "../helpers/db.ts";
import { waitFor } from "../helpers/stack.ts";
import { type FakeResend, type SentEmail, signResendWebhook, startFakeResend } from "../fakes/resend.ts";
import "../helpers/require-stack.ts";

const DOMAIN = "reply.backbone.test";
const SECRET = randomBytes(32).toString("hex");
let resend: FakeResend;

beforeAll(async () => {
  resend = await startFakeResend();
  await startWorld({
    RESEND_API_KEY: resend.apiKey,
    RESEND_BASE_URL: resend.url,
    SUPPORT_INBOUND_DOMAIN: DOMAIN,
    SUPPORT_REPLY_SECRET: SECRET,
  });
}, 300_000);
afterAll(async () => {
  await sql.end();
  await stopWorld();
  await resend?.close();
}, 120_000);

const hex = (id: string) => id.replace(/-/g, "");
const replies = (to: string) =>
  resend.sent.filter((m) =>
    m.to.includes(to) && m.tags.some((t) => t.name === "template" && t.value === "ticket_reply")
  );

/** The ticket_reply emails to `to`, once there are `n` (and the notify jobs behind them succeeded). */
async function repliesSent(to: string, n: number): Promise<SentEmail[]> {
  return await waitFor(
    `${n} ticket_reply email(s) to ${to}`,
    async () => replies(to).length >= n && replies(to),
    60_000,
  );
}

/** Posts an email.received event for `email` as Resend would (Svix-signed); answers status and body. */
async function deliverInbound(event: string, opts: { id?: string } = {}) {
  const headers = signResendWebhook(event, config.resendWebhookSecret, opts);
  const res = await fetch(config.functionUrl("resend-webhook"), { method: "POST", body: event, headers });
  return { status: res.status, body: await res.json() as Record<string, unknown>, deliveryId: headers["svix-id"] };
}

async function messages(ticketId: string) {
  return await sql<{ author_kind: string; via: string | null; body: string; email_message_id: string | null }[]>`
    select author_kind, via, body, email_message_id from public.ticket_messages
     where ticket_id = ${ticketId} order by created_at, id`;
}

async function ticket(id: string) {
  const [t] = await sql<{ status: string; reopened_count: number }[]>`
    select status, reopened_count from public.support_tickets where id = ${id}`;
  return t;
}

/** No notify.email job of this ticket's messages is waiting or running (what was enqueued has been sent). */
async function notifySettled() {
  await waitFor("notify.email jobs to settle", async () => {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where kind = 'notify.email' and status not in ('succeeded', 'dead')`;
    return n === 0;
  }, 60_000);
}

describe("support replies both ways", () => {
  let buyer: Awaited<ReturnType<typeof newBuyerPerson>>;
  let t: { id: string; ref: string };
  let first: SentEmail;
  const root = () => `<ticket-${hex(t.id)}@${DOMAIN}>`;

  test("an agent's reply on the dashboard sends the requester one email: the reference, threading, a signed reply-to", async () => {
    buyer = await newBuyerPerson();
    t = await openTicket(buyer.id);
    const client = new DashboardClient();
    expect((await client.signIn((await newAdmin()).token)).status).toBe(303);
    expect((await client.page()).html).toContain(`${config.functionUrl("dashboard")}/actions/reply-ticket`);
    const { res } = await client.post("reply-ticket", { ticket_id: t.id, body: "Your export works again." });
    const [audit] = await sql`select action, target from ops.audit_log where id = ${doneId(res)}`;
    expect(audit).toMatchObject({ action: "ticket.reply", target: `ticket:${t.ref}` });

    [first] = await repliesSent(buyer.email, 1);
    expect(first.subject).toBe(`Re: The export fails [${t.ref}]`);
    expect(first.text).toContain("Your export works again.");
    expect(first.headers).toEqual({ "Message-ID": root() });
    expect(first.replyTo).toMatch(new RegExp(`^reply\\+${hex(t.id)}-[0-9a-f]{20}@${DOMAIN.replace(/\./g, "\\.")}$`));
    await notifySettled();
    expect(replies(buyer.email)).toHaveLength(1);
    const [n] = await sql`select status, template from ops.notifications where entity like 'message:%'
                           and recipient = ${buyer.email}`;
    expect(n).toMatchObject({ status: "sent", template: "ticket_reply" });
    expect((await messages(t.id)).map((m) => [m.author_kind, m.via])).toEqual([["requester", null], [
      "agent",
      "dashboard",
    ]]);
    expect((await ticket(t.id)).status).toBe("pending");
  });

  test("the requester's email reply lands once on its ticket, however often Resend delivers it, and reopens it", async () => {
    await sql`update public.support_tickets set status = 'solved' where id = ${t.id}`;
    const { id: emailId, event } = resend.receive({
      from: `Jane Buyer <${buyer.email.toUpperCase()}>`,
      to: [first.replyTo as string],
      subject: `Re: The export fails [${t.ref}]`,
      text:
        `Thanks, it works!\n\nOn Mon, Dec 7, 2026 at 10:00 AM Backbone <${first.replyTo}> wrote:\n> Your export works.`,
      headers: { "In-Reply-To": root(), "References": root() },
      message_id: "<CAJane-1@mail.example.net>",
    });
    const delivered = await deliverInbound(event);
    expect(delivered).toMatchObject({ status: 200, body: { outcome: "appended" } });
    // Resend retries a delivery with the same svix-id; a second endpoint or a replay from its dashboard has another
    expect((await deliverInbound(event, { id: delivered.deliveryId })).body.outcome).toBe("duplicate");
    expect((await deliverInbound(event)).body.outcome).toBe("duplicate");

    const inbound = (await messages(t.id)).filter((m) => m.via === "email");
    expect(inbound).toEqual([{
      author_kind: "requester",
      via: "email",
      body: "Thanks, it works!",
      email_message_id: "<CAJane-1@mail.example.net>",
    }]);
    expect(await ticket(t.id)).toEqual({ status: "open", reopened_count: 1 });
    const [row] =
      await sql`select outcome, ticket_id, sender_masked from ops.inbound_emails where email_id = ${emailId}`;
    expect(row).toEqual({ outcome: "appended", ticket_id: t.id, sender_masked: expect.stringMatching(/^.\*\*\*@/) });
    expect(resend.requests.filter((r) => r.path === `/emails/receiving/${emailId}`).length).toBeGreaterThanOrEqual(1);
  });

  test("an answer from Studio replies to the requester's email: In-Reply-To their Message-ID, References the root", async () => {
    await sql`select ops.reply_to_ticket(${t.ref}, 'Glad to hear it.', 'Alice (support)')`;
    const second = (await repliesSent(buyer.email, 2))[1];
    expect(second.headers).toEqual({
      "Message-ID": expect.stringMatching(new RegExp(`^<reply-[0-9a-f]{32}@${DOMAIN.replace(/\./g, "\\.")}>$`)),
      "In-Reply-To": "<CAJane-1@mail.example.net>",
      "References": `${root()} <CAJane-1@mail.example.net>`,
    });
    expect(second.replyTo).toBe(first.replyTo);
    expect(second.text).toContain("Alice (support)");
  });

  test("a forged or foreign token opens nothing and writes nothing, and says why", async () => {
    // another requester's ticket (the same requester's same request within 10 minutes would be this ticket)
    const other = await openTicket((await newBuyerPerson()).id);
    expect(other.id).not.toBe(t.id);
    const [local] = (first.replyTo as string).split("@");
    const forged = [
      `${local.replace(hex(t.id), hex(other.id))}@${DOMAIN}`, // the right MAC, another ticket
      `reply+${hex(t.id)}-${"0".repeat(20)}@${DOMAIN}`, // a made-up MAC
      `support@${DOMAIN}`, // no token
    ];
    const [{ before }] = await sql`select count(*)::int as before from public.ticket_messages`;
    const [{ tickets }] = await sql`select count(*)::int as tickets from public.support_tickets`;
    const reasons: string[] = [];
    for (const to of forged) {
      const { id, event } = resend.receive({ from: buyer.email, to: [to], subject: "hello", text: "let me in" });
      expect((await deliverInbound(event)).body.outcome).toBe("ignored");
      const [r] = await sql`select reason, ticket_id, message_id from ops.inbound_emails where email_id = ${id}`;
      expect(r).toMatchObject({ ticket_id: null, message_id: null });
      reasons.push(r.reason);
    }
    expect(reasons).toEqual([
      "forged reply address: its token does not verify",
      "forged reply address: its token does not verify",
      "unknown reply address: no ticket token",
    ]);
    const [{ after }] = await sql`select count(*)::int as after from public.ticket_messages`;
    const [{ ticketsAfter }] = await sql`select count(*)::int as "ticketsAfter" from public.support_tickets`;
    expect([after, ticketsAfter]).toEqual([before, tickets]);

    // a valid token from another address is not the requester's message
    const { event } = resend.receive({
      from: "mallory@example.net",
      to: [first.replyTo as string],
      subject: "x",
      text: "hi",
    });
    expect((await deliverInbound(event)).body.outcome).toBe("ignored");
    expect((await messages(t.id)).filter((m) => m.via === "email")).toHaveLength(1);
  });

  test("an auto-reply to our email is recorded, never reopens the ticket and is never answered", async () => {
    await notifySettled();
    await sql`update public.support_tickets set status = 'solved' where id = ${t.id}`;
    const sentBefore = resend.sent.length;
    const [{ jobsBefore }] = await sql`select count(*)::int as "jobsBefore" from ops.jobs where kind = 'notify.email'`;
    const { id, event } = resend.receive({
      from: buyer.email,
      to: [first.replyTo as string],
      subject: "Out of office: Re: The export fails",
      text: "I am away until Monday.",
      headers: { "Auto-Submitted": "auto-replied", "In-Reply-To": root() },
    });
    expect((await deliverInbound(event)).body.outcome).toBe("ignored");
    const [r] = await sql`select reason, ticket_id, message_id from ops.inbound_emails where email_id = ${id}`;
    expect(r).toEqual({ reason: "auto-reply (Auto-Submitted: auto-replied)", ticket_id: t.id, message_id: null });
    expect((await ticket(t.id)).status).toBe("solved");
    const [{ jobsAfter }] = await sql`select count(*)::int as "jobsAfter" from ops.jobs where kind = 'notify.email'`;
    expect(jobsAfter).toBe(jobsBefore);
    await notifySettled();
    expect(resend.sent.length).toBe(sentBefore);
  });

  test("an event for an email Resend does not have is recorded as ignored; a forged signature is refused", async () => {
    const ghost = JSON.stringify({
      type: "email.received",
      created_at: new Date().toISOString(),
      data: { email_id: randomUUID(), from: buyer.email, to: [first.replyTo], subject: "x", message_id: "<x@y>" },
    });
    expect((await deliverInbound(ghost)).body.outcome).toBe("ignored");
    const headers = { ...signResendWebhook(ghost, config.resendWebhookSecret), "svix-signature": "v1,AAAA" };
    const res = await fetch(config.functionUrl("resend-webhook"), { method: "POST", body: ghost, headers });
    expect(res.status).toBe(400);
  });
});
