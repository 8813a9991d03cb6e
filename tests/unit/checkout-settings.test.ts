// The checkout function's settings and request shape (#18): the key's prefix gives the mode, STRIPE_API_BASE
// maps to the SDK's host/port/protocol, checkout without a key or return URLs is "not configured" (the
// function answers 503 naming what to set), and requests are refused naming the field.
import { describe, expect, test } from "vitest";
import { checkoutSettings } from "../../supabase/functions/checkout/settings.ts";
import { requestSchema } from "../../supabase/functions/checkout/checkout.ts";

const configured = {
  STRIPE_SECRET_KEY: "rk_test_abc123",
  CHECKOUT_SUCCESS_URLS: "https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}, https://app.example.com/thanks",
  CHECKOUT_CANCEL_URLS: "https://app.example.com/cart",
};

describe("checkout settings", () => {
  test("the key's prefix gives the mode; STRIPE_API_BASE the SDK's host, port and protocol; the first URL is the default", () => {
    const s = checkoutSettings({ ...configured, STRIPE_API_BASE: "http://127.0.0.1:12111" });
    expect(s).toMatchObject({
      livemode: false,
      api: { host: "127.0.0.1", port: 12111, protocol: "http" },
      successUrls: ["https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}", "https://app.example.com/thanks"],
      cancelUrls: ["https://app.example.com/cart"],
      perUserPerMinute: 10,
    });
    expect(checkoutSettings({ ...configured, STRIPE_SECRET_KEY: "sk_live_abc" })).toMatchObject({
      livemode: true,
      api: { host: "api.stripe.com", port: 443, protocol: "https" },
    });
  });

  test("without the key or the return URLs checkout is not configured, naming what is missing", () => {
    expect(checkoutSettings({})).toEqual({
      missing: "STRIPE_SECRET_KEY, CHECKOUT_SUCCESS_URLS, CHECKOUT_CANCEL_URLS",
    });
    expect(checkoutSettings({ ...configured, CHECKOUT_CANCEL_URLS: " " })).toEqual({ missing: "CHECKOUT_CANCEL_URLS" });
  });

  test.each([
    [{ STRIPE_SECRET_KEY: "pk_test_abc" }, /STRIPE_SECRET_KEY must be a Stripe secret or restricted key/],
    [{ STRIPE_SECRET_KEY: "whsec_abc" }, /STRIPE_SECRET_KEY must be/],
    [{ STRIPE_API_BASE: "https://api.stripe.com/v1" }, /without a path/],
    [{ CHECKOUT_SUCCESS_URLS: "javascript:alert(1)" }, /CHECKOUT_SUCCESS_URLS must be http\(s\) URLs/],
    [{ CHECKOUT_RATE_PER_USER_PER_MIN: "0" }, /CHECKOUT_RATE_PER_USER_PER_MIN must be an integer from 1/],
  ])("%j is refused at start", (env, message) => {
    expect(() => checkoutSettings({ ...configured, ...env })).toThrow(message);
  });
});

describe("checkout request", () => {
  const id = "00000000-0000-4000-8000-000000000001";
  test.each([
    [{ listing_id: id }, true],
    [{ listing_id: id, quantity: 3, idempotency_key: "k", success_url: "https://x" }, true],
    [{ plan_id: id, idempotency_key: "k" }, true],
    [{ listing_id: id, plan_id: id }, false],
    [{}, false],
    [{ plan_id: id, quantity: 2 }, false],
    [{ listing_id: id, quantity: 1.5 }, false],
    [{ listing_id: id, quantity: 101 }, false],
    [{ listing_id: id, idempotency_key: "a\u0000b" }, false],
    [{ listing_id: id, amount: 1 }, false],
  ])("%j valid: %s", (body, valid) => {
    expect(requestSchema.safeParse(body).success).toBe(valid);
  });
});
