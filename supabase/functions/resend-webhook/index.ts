// resend-webhook: Resend's delivery events (Svix-signed). A hard bounce or a complaint suppresses the
// address (ops.email_suppressions), so later emails to it are skipped and visible; every event is
// recorded once by its delivery id and answered 2xx. email.received (#20): a requester's reply to a
// ticket's email, fetched through Resend's receiving API and appended to its ticket once (./inbound.ts).
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { serve } from "../_shared/http/serve.ts";
import { resendWebhookSecrets, verifyResendWebhook } from "../_shared/notify/resend-webhook.ts";
import { inboundConfig, recordInbound } from "./inbound.ts";

// read once, here: a bad secret stops the function at start, naming the variable
const env = denoEnv();
const secrets = resendWebhookSecrets(env);
const inbound = inboundConfig(env);
// the narrowest role that works: it may only call ops.record_email_event and ops.record_inbound_email
const sql = connect("PROVIDER_WEBHOOK_DB_URL", 4);

serve("resend-webhook", async (req, body) => {
  const event = verifyResendWebhook(body, req.headers, secrets);
  if (event.type === "email.received") {
    const outcome = await recordInbound(sql, inbound, event);
    return {
      body: { received: true, outcome },
      log: { delivery_id: event.deliveryId, type: event.type, outcome },
    };
  }
  const [{ outcome }] = await sql<{ outcome: string }[]>`
    select ops.record_email_event(${event.deliveryId}, ${event.type}, ${event.to}, ${event.undeliverable},
      ${event.reason}) as outcome`;
  return {
    body: { received: true, outcome },
    log: { delivery_id: event.deliveryId, type: event.type, outcome },
  };
}, {
  maxBodyBytes: 256 * 1024,
  internalMessage: "internal error: the event was not recorded, retry later",
  // failures (5xx) count in the failed_runs alert; a refused signature is Resend's or an attacker's
  onAnswered: answerCounter(sql, "resend-webhook", { from: 500 }),
});
