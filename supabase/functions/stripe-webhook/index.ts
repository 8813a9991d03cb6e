// stripe-webhook: verifies a Stripe delivery, records the event once and applies it, answers 2xx.
import { connect } from "../_shared/db.ts";
import { errorResponse, HttpError, json } from "../_shared/http-error.ts";
import { log } from "../_shared/log.ts";
import { readBody } from "../_shared/read-body.ts";
import { ingestStripeEvent } from "../_shared/stripe-ingest.ts";
import { parseSecrets, verifyStripeEvent } from "../_shared/stripe-signature.ts";

const FN = "stripe-webhook";
const MAX_BODY_BYTES = 1024 * 1024;
const secrets = parseSecrets(Deno.env.get("STRIPE_WEBHOOK_SECRET"));
// The narrowest role that works: it may only call ops.ingest_stripe_event.
const sql = connect("STRIPE_WEBHOOK_DB_URL");

Deno.serve(async (req) => {
  const started = performance.now();
  try {
    if (req.method !== "POST") throw new HttpError(405, "method not allowed: use POST", { headers: { allow: "POST" } });
    const body = await readBody(req, MAX_BODY_BYTES);
    const event = await verifyStripeEvent(body, req.headers.get("stripe-signature"), secrets);
    let result;
    try {
      result = await ingestStripeEvent(sql, event);
    } catch (cause) {
      // a data exception (22xxx, e.g. \u0000 in a string) is the payload's fault: redelivery cannot help
      if (/^22/.test((cause as { code?: string }).code ?? "")) {
        throw new HttpError(400, "event payload cannot be stored (invalid characters or values)", { cause });
      }
      // otherwise we could not record it: 503, and Stripe will deliver it again
      throw new HttpError(503, "could not record the event, retry later", { cause });
    }
    log("info", FN, "event recorded", {
      event_id: result.event_id,
      type: event.type,
      status: result.status,
      duplicate: result.duplicate,
      ms: Math.round(performance.now() - started),
    });
    return json(200, { received: true, ...result });
  } catch (err) {
    return errorResponse(FN, err);
  }
});
