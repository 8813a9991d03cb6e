// stripe-webhook: verifies a Stripe delivery, records the event once and applies it, answers 2xx. Two Stripe
// endpoints point here, each with its own signing secret: the platform's (/stripe-webhook) and the Connect
// endpoint's (/stripe-webhook/connect: events of connected accounts, STRIPE_CONNECT_WEBHOOK_SECRET).
import { denoEnv } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { HttpError } from "../_shared/http/error.ts";
import { serve } from "../_shared/http/serve.ts";
import { countDuplicate, groupCommit, groupCommitOptions, ingestStripeEvent } from "./ingest.ts";
import { answerCounter } from "../_shared/http/outcomes.ts";
import { sanitizeJsonEscapes } from "../_shared/stripe/sanitize.ts";
import { parseScope } from "../_shared/stripe/scope.ts";
import { connectWebhookSecrets, verifyStripeEvent, webhookSecrets } from "./signature.ts";

// settings are read once, here: a bad one stops the function at start, naming the variable
const env = denoEnv();
const secrets = webhookSecrets(env);
const connectSecrets = connectWebhookSecrets(env);
const scope = parseScope(env);
// the narrowest role that works: it may only call ops.ingest_stripe_events (and ops.ingest_stripe_event) and
// count its answers
const sql = connect("STRIPE_WEBHOOK_DB_URL");
// requests that arrive while a transaction runs share the next one (group commit), each with its own answer
const ingest = groupCommit(sql, scope, groupCommitOptions(env));

/** Which endpoint a request is for: /stripe-webhook (hosted and the local gateway pass the function's path) or
 * /stripe-webhook/connect; anything else is no endpoint of ours. */
function endpointSecrets(req: Request): string[] {
  const path = new URL(req.url).pathname.replace(/\/+$/, "");
  if (path === "" || path.endsWith("/stripe-webhook")) return secrets;
  if (!path.endsWith("/stripe-webhook/connect")) {
    throw new HttpError(404, "no such endpoint: use /stripe-webhook or /stripe-webhook/connect", { reason: "path" });
  }
  if (connectSecrets.length === 0) {
    // anyone can POST here: a refusal, not a failure (it never pages)
    throw new HttpError(404, "the Connect endpoint is not configured (STRIPE_CONNECT_WEBHOOK_SECRET)", {
      reason: "connect_not_configured",
    });
  }
  return connectSecrets;
}

serve("stripe-webhook", async (req, body) => {
  // the signature covers the bytes as sent, under the secret of the endpoint it was sent to; only then may
  // the body be made storable and join a batch. The scope rule (ops.stripe_event_scope_problem) decides
  // which accounts count.
  const event = await verifyStripeEvent(body, req.headers.get("stripe-signature"), endpointSecrets(req));
  const { text, replaced } = sanitizeJsonEscapes(body);
  // answered only once the transaction holding its ledger row committed
  const result = await ingestStripeEvent(ingest, text, replaced > 0);
  if (result.duplicate) await countDuplicate(sql);
  return {
    body: { received: true, ...result },
    log: {
      event_id: result.event_id,
      type: event.type,
      ...(typeof event.account === "string" ? { account: event.account } : {}),
      status: result.status,
      duplicate: result.duplicate,
      batch: result.batch,
      ...(replaced > 0 ? { escapes_replaced: replaced } : {}),
    },
  };
}, {
  internalMessage: "internal error: the event was not recorded, retry later",
  // refusals and failures are counted (ops.endpoint_outcomes): refusals before a valid signature are
  // webhook_refusals' (never a page), failures after it webhook_failure_rate's
  onAnswered: answerCounter(sql, "stripe-webhook"),
});
