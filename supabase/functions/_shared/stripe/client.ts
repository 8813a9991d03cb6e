// The one way functions call Stripe's API: the official SDK over fetch, STRIPE_API_BASE (a fake in tests)
// mapped to the SDK's host/port/protocol, connection errors, 409 and 5xx retried twice with the request's
// idempotency key (maxNetworkRetries); and the fields of the SDK's errors that callers read.
import Stripe from "stripe";
import { ConfigError } from "../config/env.ts";

export type StripeApi = { host: string; port: number; protocol: "http" | "https" };

/** STRIPE_API_BASE as the SDK takes it: an http(s) origin without a path. */
export function stripeApi(base: string): StripeApi {
  const url = new URL(base);
  if (url.pathname !== "/" && url.pathname !== "") {
    throw new ConfigError("STRIPE_API_BASE must be an http(s) origin without a path, such as https://api.stripe.com");
  }
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { host: url.hostname, port: Number(url.port || (protocol === "http" ? 80 : 443)), protocol };
}

export function stripeClient(s: { key: string; api: StripeApi; timeoutMs: number }, caller: string): Stripe {
  return new Stripe(s.key, {
    host: s.api.host,
    port: s.api.port,
    protocol: s.api.protocol,
    httpClient: Stripe.createFetchHttpClient(),
    maxNetworkRetries: 2,
    timeout: s.timeoutMs,
    telemetry: false,
    appInfo: { name: `stripe-supabase-backbone ${caller}` },
  });
}

export type StripeErrorLike = {
  type?: string;
  statusCode?: number;
  code?: string;
  message?: string;
  headers?: Record<string, string>;
};
