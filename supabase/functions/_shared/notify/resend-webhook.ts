// Verifies a Resend webhook delivery and parses the events notify acts on. Resend signs with Svix
// (headers svix-id, svix-timestamp, svix-signature: HMAC-SHA256 of "<id>.<timestamp>.<raw body>"); the
// resend SDK's webhooks.verify checks exactly that (Standard Webhooks, Svix's open scheme) on the raw
// body, for every configured secret (rotation). Timestamps more than 5 minutes old or ahead are refused.
//
// What the endpoint does with an event: `undeliverable` (a hard bounce, a complaint) marks the
// addresses so later sends to them are skipped; everything else (email.delivered, a soft bounce, event
// types we do not use) is acknowledged with 2xx and changes nothing. Resend re-delivers an event with
// the same svix-id (`deliveryId`) until it gets a 2xx.
import { Resend } from "resend";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { HttpError } from "../http/error.ts";
import { redact } from "../providers/redact.ts";

export const TOLERANCE_SECONDS = 300;

/** RESEND_WEBHOOK_SECRET may hold several whsec_... secrets separated by commas or spaces (rotation). */
const secretsEnv = z.object({
  RESEND_WEBHOOK_SECRET: setting.list({
    required: true,
    item: /^whsec_[A-Za-z0-9+/]{16,}={0,2}$/,
    expected: "must be whsec_ followed by base64, as the Resend dashboard shows it",
  }),
});

export function resendWebhookSecrets(env: Env): string[] {
  return parseEnv(secretsEnv, env).RESEND_WEBHOOK_SECRET;
}

export type ResendWebhookEvent = {
  /** svix-id: the same for every re-delivery of one event, so it dedupes deliveries. */
  deliveryId: string;
  /** Resend's event type, e.g. "email.bounced". */
  type: string;
  emailId: string | null;
  /** Recipients, trimmed and lower-cased. */
  to: string[];
  /** A hard (Permanent) bounce or a complaint: later sends to `to` must be skipped. */
  undeliverable: boolean;
  /** Why, for people: "hard bounce (Permanent/Suppressed): ...", "spam complaint", "soft bounce (...)". */
  reason: string | null;
  /** The tags the email was sent with (notify sends { template }). */
  tags: Record<string, string>;
  createdAt: string | null;
};

/** The events we act on: their email data must be there. */
const ACTED_ON = new Set(["email.bounced", "email.complained", "email.delivered"]);

const envelopeSchema = z.object({
  type: z.string().min(1).max(200),
  created_at: z.string().max(100).optional(),
  data: z.record(z.string(), z.unknown()),
});

const emailDataSchema = z.object({
  email_id: z.string().min(1).max(255),
  to: z.array(z.string().trim().toLowerCase().min(3).max(320)).min(1).max(100),
  tags: z.union([
    z.record(z.string(), z.string()),
    z.array(z.object({ name: z.string(), value: z.string() })).transform((l) =>
      Object.fromEntries(l.map((t) => [t.name, t.value]))
    ),
  ]).optional(),
  bounce: z.object({
    type: z.string().max(100),
    subType: z.string().max(100).optional(),
    message: z.string().optional(),
  }).optional(),
});

// webhooks.verify uses nothing of the client but its code (a local HMAC check): this key is never sent.
const verifier = new Resend("re_webhook_verification_only");

function header(headers: Headers, name: string): string {
  const value = headers.get(name)?.trim();
  if (!value) throw new HttpError(400, "missing svix-id, svix-timestamp or svix-signature header");
  return value;
}

export function verifyResendWebhook(
  body: string,
  headers: Headers,
  secrets: readonly string[],
  now = Date.now(),
): ResendWebhookEvent {
  const id = header(headers, "svix-id");
  const timestamp = header(headers, "svix-timestamp");
  const signature = header(headers, "svix-signature");
  if (!/^\d{1,12}$/.test(timestamp)) throw new HttpError(400, "svix-timestamp is not a Unix time in seconds");
  const age = now / 1000 - Number(timestamp);
  if (age > TOLERANCE_SECONDS) throw new HttpError(400, "svix-timestamp is older than 5 minutes: replay refused");
  if (age < -TOLERANCE_SECONDS) {
    throw new HttpError(400, "svix-timestamp is more than 5 minutes in the future: check the sender's clock");
  }

  let verified: unknown;
  let matched = false;
  for (const webhookSecret of secrets) {
    try {
      verified = verifier.webhooks.verify({ payload: body, headers: { id, timestamp, signature }, webhookSecret });
      matched = true;
      break;
    } catch (err) {
      // a matching signature over a body that is not JSON: the signature was right, the body is not an event
      if (err instanceof SyntaxError) throw new HttpError(400, "body is not JSON");
    }
  }
  if (!matched) throw new HttpError(400, "invalid svix-signature: no v1 signature matches a configured secret");

  const envelope = envelopeSchema.safeParse(verified);
  if (!envelope.success) throw new HttpError(400, "body is not a Resend event (type, created_at, data)");
  const { type, created_at: createdAt = null, data } = envelope.data;
  const base = { deliveryId: id, type, createdAt, tags: {}, undeliverable: false, reason: null };
  if (!ACTED_ON.has(type)) {
    return { ...base, emailId: typeof data.email_id === "string" ? data.email_id : null, to: [] };
  }
  const parsed = emailDataSchema.safeParse(data);
  if (!parsed.success) throw new HttpError(400, `${type} event without its email data (email_id, to)`);
  const e = parsed.data;
  const event = { ...base, emailId: e.email_id, to: e.to, tags: e.tags ?? {} };
  if (type === "email.complained") return { ...event, undeliverable: true, reason: "spam complaint" };
  if (type === "email.bounced") {
    // only a Permanent bounce (the address does not exist, or is suppressed) stops later sends; a
    // Transient one (mailbox full, greylisting) or an Undetermined one does not
    const hard = e.bounce?.type?.toLowerCase() === "permanent";
    const kind = [e.bounce?.type ?? "unknown", e.bounce?.subType].filter(Boolean).join("/");
    const detail = e.bounce?.message ? `: ${redact(e.bounce.message).slice(0, 200)}` : "";
    return { ...event, undeliverable: hard, reason: `${hard ? "hard" : "soft"} bounce (${kind})${detail}` };
  }
  return event; // email.delivered: nothing to do
}
