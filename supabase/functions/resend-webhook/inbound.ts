// A requester's reply by email (#20): Resend's email.received event names the email, whose content the SDK's
// receiving API fetches (webhooks carry metadata only). The reply address's signed token names the ticket;
// auto-replies and bounces are recorded and never appended (so they never reopen a ticket, and nothing answers
// them: no loop); the quoted history is cut; ops.record_inbound_email appends it once per Resend email id.
import type postgres from "postgres";
import { Resend } from "resend";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { HttpError } from "../_shared/http/error.ts";
import { maskEmail } from "../_shared/providers/email.ts";
import {
  bareAddress,
  type ReplyAddressConfig,
  replyAddressConfig,
  ticketFromRecipients,
} from "../_shared/support/reply-address.ts";

export type InboundConfig = { reply: ReplyAddressConfig; apiKey: string; baseUrl: string; timeoutMs: number };

const resendEnv = z.object({
  RESEND_API_KEY: setting.required(),
  RESEND_BASE_URL: setting.url("https://api.resend.com"),
  RESEND_TIMEOUT_MS: setting.int(10_000, 1, 300_000),
});

/** Undefined without SUPPORT_INBOUND_DOMAIN / SUPPORT_REPLY_SECRET (inbound emails are then ignored, saying
 * so); with them, RESEND_API_KEY must be set too (a ConfigError at start otherwise). */
export function inboundConfig(env: Env): InboundConfig | undefined {
  const reply = replyAddressConfig(env);
  if (!reply) return undefined;
  const e = parseEnv(resendEnv, env);
  return { reply, apiKey: e.RESEND_API_KEY, baseUrl: e.RESEND_BASE_URL, timeoutMs: e.RESEND_TIMEOUT_MS };
}

/** What Resend's GET /emails/receiving/:id answers, as far as we read it. */
const receivedEmail = z.object({
  id: z.string(),
  from: z.string().max(1000),
  to: z.array(z.string().max(1000)).max(100),
  cc: z.array(z.string().max(1000)).max(100).nullish(),
  received_for: z.array(z.string().max(1000)).max(100).nullish(),
  subject: z.string().nullish(),
  text: z.string().nullish(),
  html: z.string().nullish(),
  headers: z.record(z.string(), z.string()).nullish(),
  message_id: z.string().max(998).nullish(),
});
export type ReceivedEmail = z.output<typeof receivedEmail>;

/** Why this email was written by a machine (RFC 3834 Auto-Submitted, Precedence, bounce markers), or undefined. */
export function autoReplyReason(email: Pick<ReceivedEmail, "from" | "headers">): string | undefined {
  const h = Object.fromEntries(Object.entries(email.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v.trim()]));
  const auto = h["auto-submitted"]?.toLowerCase();
  if (auto && auto !== "no") return `auto-reply (Auto-Submitted: ${auto.slice(0, 40)})`;
  const precedence = h["precedence"]?.toLowerCase();
  if (precedence && ["bulk", "junk", "list", "auto_reply"].includes(precedence)) {
    return `auto-reply (Precedence: ${precedence})`;
  }
  if (h["x-autoreply"] || h["x-autorespond"]) return "auto-reply (X-Autoreply)";
  if (/^multipart\/report/i.test(h["content-type"] ?? "") || h["x-failed-recipients"]) return "bounce (a report)";
  if (h["return-path"] === "<>") return "bounce (empty Return-Path)";
  if (/^(mailer-daemon|postmaster)@/.test(bareAddress(email.from))) return "bounce (from mailer-daemon)";
  return undefined;
}

/** Lines that start the quoted history in common mail clients' replies. */
const QUOTE_START = [
  /^On .{1,400}wrote:\s*$/i, // Gmail, Apple Mail
  /^Le .{1,400}a écrit\s*:\s*$/i,
  /^Am .{1,400}schrieb.{0,200}:\s*$/i,
  /^-{2,}\s*Original Message\s*-{2,}/i, // Outlook (text)
  /^_{10,}\s*$/, // Outlook's rule above From:/Sent:
  /^From:\s.+$/i, // a forwarded or Outlook header block (only when Sent:/Date: follows, below)
  /^-- ?$/, // a signature
];

/** The new text of a reply: the text part (else the HTML's text) above the quoted history, trailing > lines cut. */
export function replyText(email: Pick<ReceivedEmail, "text" | "html">): string {
  const source = email.text ?? htmlText(email.html ?? "");
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    const joined = `${line} ${lines[i + 1]?.trim() ?? ""}`.trim(); // "On <date>, <name>\n<address> wrote:"
    const hit = QUOTE_START.findIndex((re) => re.test(line));
    if (hit === 5) {
      if (lines.slice(i + 1, i + 4).some((l) => /^(Sent|Date):\s/i.test(l.trim()))) {
        end = i;
        break;
      }
      continue;
    }
    if (hit >= 0 || (/^On\s/i.test(line) && /wrote:\s*$/i.test(joined))) {
      end = i;
      break;
    }
  }
  const kept = lines.slice(0, end);
  while (kept.length && (kept[kept.length - 1].trim() === "" || kept[kept.length - 1].trimStart().startsWith(">"))) {
    kept.pop();
  }
  return kept.join("\n").trim();
}

/** HTML to text, crudely: the quoted part (Gmail's gmail_quote, a blockquote) cut, tags dropped. */
function htmlText(html: string): string {
  const cut = html.search(/<div[^>]+class="[^"]*gmail_quote|<blockquote/i);
  return (cut >= 0 ? html.slice(0, cut) : html)
    .replace(/<(br|\/p|\/div)[^>]*>/gi, "\n")
    .replace(/<(style|script)[\s\S]*?<\/\1>/gi, "")
    .replace(/<[^>]+>/g, "")
    .replace(/&nbsp;/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

async function fetchReceived(config: InboundConfig, emailId: string): Promise<ReceivedEmail | "gone"> {
  const client = new Resend(config.apiKey, { baseUrl: config.baseUrl });
  const signal = AbortSignal.timeout(config.timeoutMs);
  let answer: Awaited<ReturnType<typeof client.emails.receiving.get>>;
  try {
    answer = await client.emails.receiving.get(emailId, {}, { signal });
  } catch {
    throw new HttpError(503, "could not fetch the received email from Resend: retry later");
  }
  if (answer.error) {
    if (answer.error.statusCode === 404) return "gone";
    // 429, 5xx, a network error, a key without the right: Resend delivers the event again later
    throw new HttpError(503, "could not fetch the received email from Resend: retry later");
  }
  const parsed = receivedEmail.safeParse(answer.data);
  if (!parsed.success) throw new HttpError(503, "Resend answered a received email of an unknown shape");
  return parsed.data;
}

/** Records one email.received event: appended to its ticket, ignored with a reason, or a duplicate. */
export async function recordInbound(
  sql: postgres.Sql,
  config: InboundConfig | undefined,
  event: { deliveryId: string; emailId: string | null },
): Promise<string> {
  const emailId = event.emailId;
  if (!emailId || !/^[A-Za-z0-9_-]{1,255}$/.test(emailId)) {
    throw new HttpError(400, "email.received event without a valid email_id");
  }
  const record = (
    r: { ticketId?: string; sender?: string; messageId?: string | null; body?: string; reason?: string },
  ) =>
    sql<{ outcome: string }[]>`select ops.record_inbound_email(${emailId}, ${event.deliveryId},
      ${r.ticketId ?? null}, ${r.sender ?? null}, ${r.sender ? maskEmail(r.sender) : null}, ${r.messageId ?? null},
      ${r.body ?? null}, ${r.reason ?? null}) as outcome`.then((rows) => rows[0].outcome);
  if (!config) return await record({ reason: "inbound replies are not configured (SUPPORT_INBOUND_DOMAIN)" });
  const email = await fetchReceived(config, emailId);
  if (email === "gone") return await record({ reason: "Resend has no such received email" });
  const sender = bareAddress(email.from);
  const recipients = [...email.to, ...(email.cc ?? []), ...(email.received_for ?? [])];
  const found = ticketFromRecipients(recipients, config.reply);
  const reason = "reason" in found ? found.reason : autoReplyReason(email);
  const ticketId = "ticketId" in found ? found.ticketId : undefined;
  if (reason) return await record({ ticketId, sender, reason });
  return await record({
    ticketId,
    sender,
    messageId: email.message_id,
    body: replyText(email),
  });
}
