// Verifies a Stripe webhook delivery with stripe-node on the raw body, against every configured
// secret (rotation), and also refuses timestamps from the future, which stripe-node accepts.
import Stripe from "stripe";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { HttpError } from "../_shared/http/error.ts";

export const TOLERANCE_SECONDS = 300;
// every refusal of the signature header counts as one reason in ops.endpoint_outcomes; anyone can cause it
const SIGNATURE = { reason: "signature" };
// a body whose signature is valid, refused all the same: Stripe's (or ours), never a stranger's, so it
// counts in webhook_failure_rate (ops.stripe_webhook_refusal), unlike a body refused before the signature
export const SIGNED_PAYLOAD = { reason: "signed_payload" };
const crypto = Stripe.createSubtleCryptoProvider();

/** STRIPE_WEBHOOK_SECRET may hold several secrets separated by commas or spaces (rotation); so may
 * STRIPE_CONNECT_WEBHOOK_SECRET, the Connect endpoint's (events of connected accounts), which is optional. */
const secretsEnv = z.object({
  STRIPE_WEBHOOK_SECRET: setting.list({ required: true }),
  STRIPE_CONNECT_WEBHOOK_SECRET: setting.list(),
});

export function webhookSecrets(env: Env): string[] {
  return parseEnv(secretsEnv, env).STRIPE_WEBHOOK_SECRET;
}

/** The Connect endpoint's secrets: empty when no Connect endpoint is configured. */
export function connectWebhookSecrets(env: Env): string[] {
  return parseEnv(secretsEnv, env).STRIPE_CONNECT_WEBHOOK_SECRET;
}

export const stripeEventSchema = z.object({
  id: z.string().min(1).max(255),
  object: z.literal("event").optional(),
  type: z.string().min(1).max(255),
  created: z.number().int().nonnegative(),
  api_version: z.string().nullable().optional(),
  livemode: z.boolean().optional(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
}).loose();
export type StripeEvent = z.infer<typeof stripeEventSchema>;

export async function verifyStripeEvent(
  body: string,
  header: string | null,
  secrets: string[],
  now = Date.now(),
): Promise<StripeEvent> {
  if (!header) throw new HttpError(400, "missing Stripe-Signature header", SIGNATURE);
  const t = Number(/(?:^|,)\s*t=(\d+)/.exec(header)?.[1]);
  if (!Number.isFinite(t)) throw new HttpError(400, "Stripe-Signature has no timestamp", SIGNATURE);
  if (t - now / 1000 > TOLERANCE_SECONDS) {
    throw new HttpError(400, "Stripe-Signature timestamp is in the future: check the sender's clock", SIGNATURE);
  }
  let verified: unknown;
  const errors: unknown[] = [];
  for (const secret of secrets) {
    try {
      verified = await Stripe.webhooks.constructEventAsync(body, header, secret, TOLERANCE_SECONDS, crypto, now);
      break;
    } catch (err) {
      errors.push(err);
    }
  }
  if (verified === undefined) {
    // a secret whose signature matched tells the real problem: stripe-node parses the body only once the
    // signature is verified, so any error but a verification error comes after a valid signature
    const signed = errors.find((e) => !(e instanceof Stripe.errors.StripeSignatureVerificationError));
    if (signed) {
      throw new HttpError(
        400,
        signed instanceof SyntaxError ? "body is not JSON" : "body is not a Stripe webhook event",
        SIGNED_PAYLOAD,
      );
    }
    if (errors.some((e) => /tolerance zone/i.test((e as Error).message))) {
      throw new HttpError(400, "Stripe-Signature timestamp is older than 5 minutes: replay refused", SIGNATURE);
    }
    throw new HttpError(400, "invalid Stripe-Signature: no v1 signature matches a configured secret", SIGNATURE);
  }
  const parsed = stripeEventSchema.safeParse(verified);
  if (!parsed.success) {
    throw new HttpError(400, "body is not a Stripe event object (id, type, created, data.object)", SIGNED_PAYLOAD);
  }
  return parsed.data;
}
