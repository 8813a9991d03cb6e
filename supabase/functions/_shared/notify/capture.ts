// Local capture of notifications (the default without provider keys): what would be sent is handed to
// an injected recorder (the worker's: ops.notification_captures), and a stable id is derived from the key.
import { captureId } from "../providers/capture.ts";
import { ProviderError } from "../providers/error.ts";
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

async function capture(
  record: NotificationRecorder,
  channel: NotificationChannel,
  key: string,
  body: Record<string, unknown>,
): Promise<string> {
  const id = await captureId(channel, key);
  try {
    await record(channel, key, { id, ...body });
  } catch (cause) {
    const name = cause instanceof Error ? cause.name : typeof cause;
    // a failed database write is worth another attempt; its message may hold data, so only its kind
    throw new ProviderError(`capture ${channel}: the recorder failed (${name})`, { retryable: true, cause });
  }
  return id;
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
