// The notify adapter contract: what the notify worker asks of an email or Slack provider, and the
// input checks every adapter makes. Adapters make ONE attempt and throw a ProviderError
// (../providers/error.ts); retries belong to ops.jobs. Messages never carry a secret or a full address.
import { maskEmail } from "../providers/email.ts";
import { permanent } from "../providers/error.ts";
import type { RateBudget } from "../providers/rate-budget.ts";

export type EmailMessage = {
  /** One recipient: "exactly once" is per (template, entity, recipient), so is a message. */
  to: string;
  from: { name: string; address: string };
  replyTo?: string;
  subject: string;
  html: string;
  /** Always sent: mail clients without HTML (and spam filters) read it. */
  text: string;
  /** Provider tags (Resend echoes them in its webhooks): names and values of ASCII letters, digits, _ and -. */
  tags?: Record<string, string>;
  /** Extra headers (#20: ticket_reply's Message-ID, In-Reply-To, References): one line each. */
  headers?: Record<string, string>;
};

export type SlackMessage = {
  /** Slack mrkdwn; also the notification text when blocks are given. */
  text: string;
  /** Block Kit blocks, passed through as they are. */
  blocks?: Record<string, unknown>[];
};

export interface EmailAdapter {
  readonly name: string;
  /** The provider's request limit, shared by all workers through ops.take_rate_tokens; none for capture. */
  readonly rateBudget?: RateBudget;
  /** Sends once per idempotency key (the job's dedupe key): a retry with the same key and message is no second email. */
  send(msg: EmailMessage, idempotencyKey: string): Promise<{ providerId: string }>;
}

export interface SlackAdapter {
  readonly name: string;
  readonly rateBudget?: RateBudget;
  /** Incoming webhooks take no idempotency key and return no id: see slack.ts for what keeps a post once. */
  post(msg: SlackMessage, idempotencyKey: string): Promise<{ providerId?: string }>;
}

/** Resend's limit (256) for every provider: printable ASCII without spaces, e.g. "notify:payment_receipt:<order>:<email>". */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,256}$/;
export const ADDRESS_RE = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:".]+(\.[^\s@<>()[\]\\,;:".]+)+$/;
const TAG_RE = /^[A-Za-z0-9_-]{1,256}$/;
const HEADER_BREAK_RE = /[\r\n]/;
const HEADER_NAME_RE = /^[A-Za-z][A-Za-z0-9-]{0,75}$/;
const MAX_SUBJECT_CHARS = 998; // one header line (RFC 5322)
const MAX_SLACK_TEXT_CHARS = 40_000; // Slack truncates longer messages
const MAX_SLACK_BLOCKS = 50;

/** A valid address, trimmed and lower-cased; throws a permanent error naming the field, never the address. */
export function checkAddress(operation: string, field: string, address: string | undefined): string {
  const a = (address ?? "").trim().toLowerCase();
  if (a.length > 254 || !ADDRESS_RE.test(a)) {
    throw permanent(`${operation}: ${field} is missing or not an email address${a ? ` (${maskEmail(a)})` : ""}`);
  }
  return a;
}

export function checkIdempotencyKey(operation: string, key: string): void {
  if (!IDEMPOTENCY_KEY_RE.test(key ?? "")) {
    throw permanent(`${operation}: the idempotency key must be 1-256 printable ASCII characters without spaces`);
  }
}

/** Checks every email adapter makes before sending; returns the message with its addresses normalised. */
export function checkEmail(msg: EmailMessage, idempotencyKey: string): EmailMessage {
  const operation = "send email";
  checkIdempotencyKey(operation, idempotencyKey);
  const to = checkAddress(operation, "recipient", msg?.to);
  const from = { name: (msg.from?.name ?? "").trim(), address: checkAddress(operation, "sender", msg.from?.address) };
  if (HEADER_BREAK_RE.test(from.name) || from.name.length > 200) {
    throw permanent(`${operation}: sender name must be one line of at most 200 characters`);
  }
  const replyTo = msg.replyTo === undefined ? undefined : checkAddress(operation, "reply-to", msg.replyTo);
  const subject = (msg.subject ?? "").trim();
  if (!subject) throw permanent(`${operation}: subject is empty`);
  if (HEADER_BREAK_RE.test(subject) || subject.length > MAX_SUBJECT_CHARS) {
    throw permanent(`${operation}: subject must be one line of at most ${MAX_SUBJECT_CHARS} characters`);
  }
  if (!msg.html?.trim()) throw permanent(`${operation}: html part is empty`);
  if (!msg.text?.trim()) throw permanent(`${operation}: text part is empty (every email has one)`);
  for (const [name, value] of Object.entries(msg.tags ?? {})) {
    if (!TAG_RE.test(name) || !TAG_RE.test(value ?? "")) {
      throw permanent(`${operation}: tag "${name.slice(0, 50)}" must be ASCII letters, digits, _ or - (1-256)`);
    }
  }
  for (const [name, value] of Object.entries(msg.headers ?? {})) {
    if (!HEADER_NAME_RE.test(name) || typeof value !== "string" || HEADER_BREAK_RE.test(value) || value.length > 998) {
      throw permanent(`${operation}: header "${name.slice(0, 50)}" must be a header name with a one-line value`);
    }
  }
  return { ...msg, to, from, replyTo, subject };
}

export function checkSlack(msg: SlackMessage, idempotencyKey: string): void {
  const operation = "post to Slack";
  checkIdempotencyKey(operation, idempotencyKey);
  if (!msg?.text?.trim()) throw permanent(`${operation}: text is empty`);
  if (msg.text.length > MAX_SLACK_TEXT_CHARS) {
    throw permanent(`${operation}: text is longer than ${MAX_SLACK_TEXT_CHARS} characters`);
  }
  if (msg.blocks !== undefined && (!Array.isArray(msg.blocks) || msg.blocks.length > MAX_SLACK_BLOCKS)) {
    throw permanent(`${operation}: blocks must be a list of at most ${MAX_SLACK_BLOCKS}`);
  }
}

/** "Name <address>", the name quoted when it holds characters with a meaning in an address header. */
export function formatFrom(from: { name: string; address: string }): string {
  if (!from.name) return from.address;
  const name = /^[\w .'-]+$/.test(from.name) ? from.name : `"${from.name.replace(/(["\\])/g, "\\$1")}"`;
  return `${name} <${from.address}>`;
}
