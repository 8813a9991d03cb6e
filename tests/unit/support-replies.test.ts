// Support replies both ways (#20), without a stack: the signed reply address (only our secret makes one that
// names a ticket; a forged or altered one names nothing), the reply email's threading headers, and how an
// inbound email is judged (auto-replies and bounces) and cut (the quoted history).
import { describe, expect, test } from "vitest";
import { notifyConfig, renderEmail } from "../../supabase/functions/_shared/notify/templates.ts";
import { checkEmail } from "../../supabase/functions/_shared/notify/contract.ts";
import {
  replyAddress,
  replyAddressConfig,
  ticketFromRecipients,
} from "../../supabase/functions/_shared/support/reply-address.ts";
import { autoReplyReason, replyText } from "../../supabase/functions/resend-webhook/inbound.ts";

const SECRET = "a".repeat(16) + "-unit-test-reply-secret-" + "b".repeat(16);
const OLD_SECRET = "c".repeat(40);
const reply = replyAddressConfig({ SUPPORT_INBOUND_DOMAIN: "Reply.Mugshop.example", SUPPORT_REPLY_SECRET: SECRET })!;
const TICKET = "3f2a4c1e-0b7d-4e8a-9c6f-1d2e3f4a5b6c";
const OTHER = "0e1d2c3b-4a59-4687-9a6b-5c4d3e2f1a0b";

describe("the signed reply address", () => {
  test("names its ticket, on the inbound domain, in a local part of at most 64 lower-case characters", () => {
    const address = replyAddress(TICKET, reply);
    expect(address).toMatch(/^reply\+[0-9a-f]{32}-[0-9a-f]{20}@reply\.mugshop\.example$/);
    expect(address.split("@")[0].length).toBeLessThanOrEqual(64);
    expect(ticketFromRecipients([`Support <${address.toUpperCase()}>`], reply)).toEqual({ ticketId: TICKET });
  });

  test("a token for another ticket, an altered MAC or another secret's address names nothing", () => {
    const address = replyAddress(TICKET, reply);
    const [local, domain] = address.split("@");
    const otherTicket = local.replace(TICKET.replace(/-/g, ""), OTHER.replace(/-/g, ""));
    const flipped = local.slice(0, -1) + (local.endsWith("0") ? "1" : "0");
    const stranger = replyAddress(TICKET, { ...reply, secrets: ["d".repeat(40)] });
    for (const forged of [`${otherTicket}@${domain}`, `${flipped}@${domain}`, stranger]) {
      expect(ticketFromRecipients([forged], reply)).toEqual({
        reason: "forged reply address: its token does not verify",
      });
    }
    expect(ticketFromRecipients([`support@${domain}`], reply)).toEqual({
      reason: "unknown reply address: no ticket token",
    });
    expect(ticketFromRecipients(["someone@elsewhere.example"], reply)).toEqual({
      reason: "not addressed to the inbound domain",
    });
  });

  test("during a rotation the new secret signs and the old one still verifies", () => {
    const old = replyAddress(TICKET, { ...reply, secrets: [OLD_SECRET] });
    const rotated = { ...reply, secrets: [SECRET, OLD_SECRET] };
    expect(replyAddress(TICKET, rotated)).toBe(replyAddress(TICKET, reply));
    expect(ticketFromRecipients([old], rotated)).toEqual({ ticketId: TICKET });
  });

  test("the domain and the secret go together: one without the other stops the function at start", () => {
    expect(replyAddressConfig({})).toBeUndefined();
    expect(() => replyAddressConfig({ SUPPORT_INBOUND_DOMAIN: "reply.example.com" })).toThrow(/SUPPORT_REPLY_SECRET/);
    expect(() => replyAddressConfig({ SUPPORT_REPLY_SECRET: SECRET })).toThrow(/SUPPORT_INBOUND_DOMAIN/);
    expect(() => replyAddressConfig({ SUPPORT_INBOUND_DOMAIN: "reply.example.com", SUPPORT_REPLY_SECRET: "short" }))
      .toThrow(/SUPPORT_REPLY_SECRET/);
  });
});

describe("the ticket_reply email", () => {
  const config = notifyConfig({
    APP_NAME: "Mugshop",
    NOTIFY_FROM_EMAIL: "help@mugshop.example",
    NOTIFY_REPLY_TO: "support@mugshop.example",
    SUPPORT_INBOUND_DOMAIN: "reply.mugshop.example",
    SUPPORT_REPLY_SECRET: SECRET,
  });
  const first = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
  const second = "1b2c3d4e-5f60-4718-89ab-cdef01234567";
  const payload = {
    to: "jane@example.com",
    ticket_id: TICKET,
    ticket_ref: "T-000012",
    subject: "Where is my mug?",
    message_id: first,
    message: "It shipped this morning.\nTracking follows.",
    agent_name: "Alice (support)",
    first_reply_id: first,
  };
  const root = `<ticket-${TICKET.replace(/-/g, "")}@reply.mugshop.example>`;

  test("the first reply is the thread's root: its Message-ID, the reference in the subject, the signed reply-to", () => {
    const m = renderEmail("ticket_reply", payload, config);
    expect(m.subject).toBe("Re: Where is my mug? [T-000012]");
    expect(m.replyTo).toBe(replyAddress(TICKET, reply));
    expect(m.headers).toEqual({ "Message-ID": root });
    expect(m.text).toContain("It shipped this morning.\nTracking follows.");
    expect(checkEmail(m, "notify:ticket_reply:message:x:user:y").headers).toEqual(m.headers);
  });

  test("a later reply answers the requester's email when theirs is the newest, else our previous reply", () => {
    const toTheirs = renderEmail("ticket_reply", {
      ...payload,
      message_id: second,
      parent_email_message_id: "<CAFjane123@mail.example.net>",
    }, config);
    expect(toTheirs.headers).toEqual({
      "Message-ID": `<reply-${second.replace(/-/g, "")}@reply.mugshop.example>`,
      "In-Reply-To": "<CAFjane123@mail.example.net>",
      "References": `${root} <CAFjane123@mail.example.net>`,
    });
    const malformed = renderEmail("ticket_reply", {
      ...payload,
      message_id: second,
      parent_email_message_id: "not a <message id>\r\nBcc: x@example.com",
    }, config);
    expect(malformed.headers).toMatchObject({ "In-Reply-To": root, "References": root });
    const toOurs = renderEmail("ticket_reply", { ...payload, message_id: second, parent_reply_id: first }, config);
    expect(toOurs.headers).toMatchObject({ "In-Reply-To": root, "References": root });
  });

  test("renders the same message every time, and without the inbound settings replies go to NOTIFY_REPLY_TO", () => {
    expect(renderEmail("ticket_reply", payload, config)).toEqual(renderEmail("ticket_reply", payload, config));
    const plain = renderEmail("ticket_reply", payload, notifyConfig({ NOTIFY_REPLY_TO: "support@mugshop.example" }));
    expect(plain.replyTo).toBe("support@mugshop.example");
    expect(plain.headers?.["Message-ID"]).toBe(`<ticket-${TICKET.replace(/-/g, "")}@example.com>`);
  });

  test("a header value that breaks the line is refused before sending", () => {
    const m = renderEmail("ticket_reply", payload, config);
    expect(() => checkEmail({ ...m, headers: { "In-Reply-To": "<a@b>\r\nBcc: x@example.com" } }, "k")).toThrow(
      /header "In-Reply-To"/,
    );
  });
});

describe("an inbound email", () => {
  test.each([
    [{ "Auto-Submitted": "auto-replied" }, "auto-reply (Auto-Submitted: auto-replied)"],
    [{ "auto-submitted": "auto-generated" }, "auto-reply (Auto-Submitted: auto-generated)"],
    [{ Precedence: "bulk" }, "auto-reply (Precedence: bulk)"],
    [{ Precedence: "auto_reply" }, "auto-reply (Precedence: auto_reply)"],
    [{ "X-Autoreply": "yes" }, "auto-reply (X-Autoreply)"],
    [{ "Content-Type": "multipart/report; report-type=delivery-status" }, "bounce (a report)"],
    [{ "Return-Path": "<>" }, "bounce (empty Return-Path)"],
  ])("with %o is a machine's: %s", (headers, reason) => {
    expect(autoReplyReason({ from: "jane@example.com", headers })).toBe(reason);
  });

  test("from a mailer-daemon is a bounce; Auto-Submitted: no and no markers are a person's", () => {
    expect(autoReplyReason({ from: "Mail Delivery <MAILER-DAEMON@mx.example.net>", headers: {} }))
      .toBe("bounce (from mailer-daemon)");
    expect(autoReplyReason({ from: "jane@example.com", headers: { "Auto-Submitted": "no" } })).toBeUndefined();
    expect(autoReplyReason({ from: "jane@example.com", headers: null })).toBeUndefined();
  });

  test.each([
    ["Gmail", "Thanks, got it!\n\nOn Mon, Dec 7, 2026 at 10:00 AM Mugshop <reply+x@r.example> wrote:\n> It shipped."],
    [
      "a wrapped Gmail line",
      "Thanks, got it!\n\nOn Mon, Dec 7, 2026 at 10:00 AM Mugshop\n<reply+x@r.example> wrote:\n> x",
    ],
    ["Outlook", "Thanks, got it!\r\n\r\n________________________________\r\nFrom: Mugshop\r\nSent: Monday\r\n"],
    ["Outlook text", "Thanks, got it!\n-----Original Message-----\nFrom: Mugshop"],
    ["a signature", "Thanks, got it!\n-- \nJane Doe\nCEO"],
    ["bare quotes", "Thanks, got it!\n\n> It shipped.\n> Tracking follows.\n"],
  ])("keeps only the new text of a reply (%s)", (_client, text) => {
    expect(replyText({ text, html: null })).toBe("Thanks, got it!");
  });

  test("a From: line in the middle of a message is text, not history; HTML alone is read without its quote", () => {
    expect(replyText({ text: "From: my other account, see below.\nThanks", html: null }))
      .toBe("From: my other account, see below.\nThanks");
    expect(replyText({
      text: null,
      html:
        '<div dir="ltr">Thanks &amp; bye<br>Jane</div><div class="gmail_quote">On Mon wrote:<blockquote>x</blockquote>',
    })).toBe("Thanks & bye\nJane");
  });
});
