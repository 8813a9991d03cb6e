// stripe-webhook: verifies a Stripe delivery, records the event once and applies it, answers 2xx.
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { serve } from "../_shared/http/serve.ts";
import { ingestStripeEvent } from "./ingest.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { sanitizeJsonEscapes } from "../_shared/stripe/sanitize.ts";
import { parseScope } from "../_shared/stripe/scope.ts";
import { verifyStripeEvent, webhookSecrets } from "./signature.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const secrets = webhookSecrets(env);
const scope = parseScope(env);
// the narrowest role that works: it may only call ops.ingest_stripe_event
const sql = connect("STRIPE_WEBHOOK_DB_URL");

serve("stripe-webhook", async (req, body) => {
  // the signature covers the bytes as sent; only then may the body be made storable
  const event = await verifyStripeEvent(body, req.headers.get("stripe-signature"), secrets);
  const { text, replaced } = sanitizeJsonEscapes(body);
  const result = await ingestStripeEvent(sql, text, { ...scope, sanitized: replaced > 0 });
  return {
    body: { received: true, ...result },
    log: {
      event_id: result.event_id,
      type: event.type,
      status: result.status,
      duplicate: result.duplicate,
      ...(replaced > 0 ? { escapes_replaced: replaced } : {}),
    },
  };
}, {
  internalMessage: "internal error: the event was not recorded, retry later",
  // refusals and failures are counted (ops.endpoint_outcomes): refusals before a valid signature are
  // webhook_refusals' (never a page), failures after it webhook_failure_rate's
  onAnswered: answerCounter(sql, "stripe-webhook"),
});
