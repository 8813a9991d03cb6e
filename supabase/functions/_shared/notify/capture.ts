// Local capture of notifications (the default without provider keys): what would be sent is handed to
// an injected recorder (the worker's: ops.notification_captures), and a stable id is derived from the key.
import { capture as captureCall } from "../providers/capture.ts";
import {
  checkEmail,
  checkSlack,
  type EmailAdapter,
  type EmailMessage,
  formatFrom,
  type SlackAdapter,
  type SlackMessage,
} from "./contract.ts";

export type NotificationChannel = "email" | "slack";

/**
 * Stores one capture. Its contract, which makes the capture adapters idempotent per key: a key already
 * recorded for the channel keeps its first body (insert ... on conflict do nothing), so a retried or
 * replayed job is still one capture. `body.id` is the providerId the adapter returns for that key.
 */
export type NotificationRecorder = (
  channel: NotificationChannel,
  key: string,
  body: Record<string, unknown>,
) => Promise<void>;

/** The providers' capture (a stable id per key; a failed recorder is retryable), recording as notify does. */
function capture(
  record: NotificationRecorder,
  channel: NotificationChannel,
  key: string,
  body: Record<string, unknown>,
): Promise<string> {
  return captureCall((r) => record(channel, r.key, { id: r.externalId, ...r.payload }), channel, key, body);
}

export function createCaptureEmailAdapter(record: NotificationRecorder): EmailAdapter {
  return {
    name: "capture",
    async send(message: EmailMessage, idempotencyKey: string) {
      const m = checkEmail(message, idempotencyKey);
      const providerId = await capture(record, "email", idempotencyKey, {
        to: m.to,
        from: formatFrom(m.from),
        reply_to: m.replyTo ?? null,
        subject: m.subject,
        html: m.html,
        text: m.text,
        tags: m.tags ?? {},
        ...(m.headers ? { headers: m.headers } : {}),
      });
      return { providerId };
    },
  };
}

export function createCaptureSlackAdapter(record: NotificationRecorder): SlackAdapter {
  return {
    name: "capture",
    async post(message: SlackMessage, idempotencyKey: string) {
      checkSlack(message, idempotencyKey);
      const providerId = await capture(record, "slack", idempotencyKey, {
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
      });
      return { providerId };
    },
  };
}
