// Stripe event helpers for the demo, tests and bench: load real payloads (tests/fixtures/stripe-events,
// copied from ../shared), rewrite them into linked scenarios, sign them exactly as Stripe does, and
// deliver them to the local stripe-webhook over HTTP.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { randomUUID } from "node:crypto";
import Stripe from "stripe";
import { config, ROOT } from "./config.ts";

export const EVENTS_DIR = resolve(ROOT, process.env.STRIPE_EVENTS_DIR ?? "tests/fixtures/stripe-events");
export const WEBHOOK_URL = config.functionUrl("stripe-webhook");

export type Evt = {
  id: string;
  type: string;
  created: number;
  // deno-lint-ignore no-explicit-any -- Stripe objects of every type: tests and scenarios read their fields freely
  data: { object: Record<string, any> };
  [k: string]: unknown;
};

export function fixture(name: string): Evt {
  return JSON.parse(readFileSync(resolve(EVENTS_DIR, `${name}.json`), "utf8"));
}

export function uid(prefix = ""): string {
  return prefix + randomUUID().replace(/-/g, "").slice(0, 24);
}

/** A fixture with a fresh event id, a chosen type and created time, and object fields overridden.
 * In the mode the local stack takes (test mode unless STRIPE_LIVEMODE=true; some fixtures are
 * live-mode events), unless `livemode` says otherwise. */
export function event(
  name: string,
  object: Record<string, unknown>,
  opts: { type?: string; created?: number; id?: string; livemode?: boolean } = {},
): Evt {
  const base = fixture(name);
  return {
    ...base,
    id: opts.id ?? uid("evt_"),
    type: opts.type ?? base.type,
    created: opts.created ?? Math.floor(Date.now() / 1000),
    livemode: opts.livemode ?? config.stripeLivemode,
    data: { ...base.data, object: { ...base.data.object, ...object } },
  };
}

export async function signature(
  payload: string,
  secret = config.stripeWebhookSecrets[0],
  timestamp?: number,
): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret,
    timestamp: timestamp ?? Math.floor(Date.now() / 1000),
    cryptoProvider: Stripe.createSubtleCryptoProvider(),
  });
}

export async function deliver(
  evt: Evt | string,
  opts: { secret?: string; timestamp?: number; header?: string | null; url?: string } = {},
) {
  const body = typeof evt === "string" ? evt : JSON.stringify(evt);
  const header = opts.header === undefined ? await signature(body, opts.secret, opts.timestamp) : opts.header;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (header !== null) headers["stripe-signature"] = header;
  const res = await fetch(opts.url ?? WEBHOOK_URL, { method: "POST", body, headers });
  const text = await res.text();
  // deno-lint-ignore no-explicit-any -- whatever JSON the webhook answered, for assertions
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, body: json };
}
