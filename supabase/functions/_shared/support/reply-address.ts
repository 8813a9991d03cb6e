// The reply address of a ticket's emails and the thread's Message-IDs (#20): reply+<ticket>-<mac>@<inbound domain>,
// where <ticket> is the ticket's id (32 hex digits) and <mac> the first 80 bits of HMAC-SHA256 under
// SUPPORT_REPLY_SECRET over "v1:ticket:<id>", in lower-case hex (mail servers may lower-case a local part). Only we
// can make an address that names a ticket, so a stranger cannot write into one; notify signs (synchronously, while
// rendering: templates are pure and sync), resend-webhook checks with a constant-time compare, under every secret
// of the list (the first signs: a rotation keeps the old one second until its emails are answered).
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";

export type ReplyAddressConfig = {
  /** SUPPORT_INBOUND_DOMAIN: the domain Resend receives for (its MX), e.g. reply.example.com. */
  domain: string;
  /** SUPPORT_REPLY_SECRET: one or more secrets (comma separated); the first signs. */
  secrets: string[];
};

const DOMAIN_RE = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const replyEnv = z.object({
  SUPPORT_INBOUND_DOMAIN: setting.matching(DOMAIN_RE, "must be a domain name, e.g. reply.example.com"),
  SUPPORT_REPLY_SECRET: setting.list({
    item: /^[\x21-\x7e]{32,256}$/,
    expected: "must be one or more secrets of at least 32 printable characters, separated by commas",
  }),
});

/** Both settings, or neither (replies then go to NOTIFY_REPLY_TO and nothing comes back): one without the
 * other is a ConfigError at start. */
export function replyAddressConfig(env: Env): ReplyAddressConfig | undefined {
  const e = parseEnv(replyEnv, env);
  const domain = e.SUPPORT_INBOUND_DOMAIN?.toLowerCase();
  if (!domain && e.SUPPORT_REPLY_SECRET.length === 0) return undefined;
  if (!domain || e.SUPPORT_REPLY_SECRET.length === 0) {
    parseEnv(
      z.object({
        [domain ? "SUPPORT_REPLY_SECRET" : "SUPPORT_INBOUND_DOMAIN"]: setting.required(),
      }),
      {},
    );
  }
  return { domain: domain!, secrets: e.SUPPORT_REPLY_SECRET };
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const MAC_HEX = 20;

function mac(secret: string, ticketHex: string): string {
  return createHmac("sha256", secret).update(`v1:ticket:${ticketHex}`).digest("hex").slice(0, MAC_HEX);
}

const bytes = (s: string) => new TextEncoder().encode(s);
const hex = (id: string) => id.replace(/-/g, "").toLowerCase();
const asUuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;

/** The address whose replies land in the ticket. */
export function replyAddress(ticketId: string, config: ReplyAddressConfig): string {
  if (!UUID_RE.test(ticketId)) throw new Error("a reply address names a ticket id (a uuid)");
  const t = hex(ticketId);
  return `reply+${t}-${mac(config.secrets[0], t)}@${config.domain}`;
}

export type ReadAddress = { ticketId: string } | { reason: string };

/**
 * Which ticket the inbound email is for: the first recipient on our inbound domain whose local part is
 * reply+<ticket>-<mac> with a MAC under one of the secrets; else the reason to ignore it.
 */
export function ticketFromRecipients(recipients: readonly string[], config: ReplyAddressConfig): ReadAddress {
  const ours = recipients.map(bareAddress).filter((a) => a.endsWith(`@${config.domain}`));
  if (ours.length === 0) return { reason: "not addressed to the inbound domain" };
  for (const address of ours) {
    const m = /^reply\+([0-9a-f]{32})-([0-9a-f]{20})@/.exec(address);
    if (!m) continue;
    const given = bytes(m[2]);
    for (const secret of config.secrets) {
      const expected = bytes(mac(secret, m[1]));
      if (given.length === expected.length && timingSafeEqual(given, expected)) return { ticketId: asUuid(m[1]) };
    }
    return { reason: "forged reply address: its token does not verify" };
  }
  return { reason: "unknown reply address: no ticket token" };
}

/** "Jane <Jane@X.com>" -> "jane@x.com". */
export function bareAddress(value: string): string {
  const m = /<([^<>]+)>\s*$/.exec(value);
  return (m ? m[1] : value).trim().toLowerCase();
}

/** The thread's Message-IDs: the ticket's root (our first reply), and each later reply's own. */
export const threadId = {
  root: (ticketId: string, domain: string) => `<ticket-${hex(ticketId)}@${domain}>`,
  reply: (messageId: string, domain: string) => `<reply-${hex(messageId)}@${domain}>`,
};
