// The webhook's input rules that need no stack: which JSON escapes are made storable, how the
// deployment's Stripe mode and account are read, and which refusals anyone can cause.
import Stripe from "stripe";
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { sanitizeJsonEscapes } from "../../supabase/functions/_shared/stripe/sanitize.ts";
import { parseScope } from "../../supabase/functions/_shared/stripe/scope.ts";
import { verifyStripeEvent } from "../../supabase/functions/stripe-webhook/signature.ts";

/** A parsed JSON value with each NUL character and each lone surrogate of its strings and keys replaced
 * by U+FFFD (a pair, one character, stays). */
function storable(value: unknown): unknown {
  // deno-lint-ignore no-control-regex -- NUL is the character replaced
  if (typeof value === "string") return value.replace(/[\u0000\p{Cs}]/gu, "\uFFFD");
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)]));
  }
  return value;
}

describe("sanitizeJsonEscapes replaces the escapes jsonb refuses (\\u0000, lone surrogates) and nothing else", () => {
  // [what, the JSON text, the text Postgres gets, escapes replaced]
  const cases: [string, string, string, number][] = [
    ["a NUL escape", String.raw`{"name":"a\u0000b"}`, String.raw`{"name":"a\uFFFDb"}`, 1],
    ["several, side by side", String.raw`"\u0000\u0000x\u0000"`, String.raw`"\uFFFD\uFFFDx\uFFFD"`, 3],
    ["an escaped backslash, then the letters u0000", String.raw`"a\\u0000b"`, String.raw`"a\\u0000b"`, 0],
    ["an escaped backslash, then a NUL escape", String.raw`"a\\\u0000b"`, String.raw`"a\\\uFFFDb"`, 1],
    ["two escaped backslashes, then the letters u0000", String.raw`"\\\\u0000"`, String.raw`"\\\\u0000"`, 0],
    ["a NUL escape in a key", String.raw`{"k\u0000":1}`, String.raw`{"k\uFFFD":1}`, 1],
    ["other escapes", String.raw`"\u0001\u00000\n\\"`, String.raw`"\u0001\uFFFD0\n\\"`, 1],
    ["nothing to replace", `{"name":"Ada"}`, `{"name":"Ada"}`, 0],
    ["a lone high surrogate", String.raw`{"name":"Ada\ud800Lovelace"}`, String.raw`{"name":"Ada\uFFFDLovelace"}`, 1],
    ["a lone high surrogate, upper case, at the end", String.raw`"x\uDBFF"`, String.raw`"x\uFFFD"`, 1],
    ["a lone low surrogate", String.raw`"\udc00x"`, String.raw`"\uFFFDx"`, 1],
    [
      "a pair (an emoji as two escapes)",
      String.raw`"\ud83d\ude00 \uD83D\uDE00"`,
      String.raw`"\ud83d\ude00 \uD83D\uDE00"`,
      0,
    ],
    ["low then high: both lone", String.raw`"\udc00\ud800"`, String.raw`"\uFFFD\uFFFD"`, 2],
    ["two highs, then a low: the first is lone", String.raw`"\ud800\ud800\udc00"`, String.raw`"\uFFFD\ud800\udc00"`, 1],
    ["a lone high, then a NUL", String.raw`"\ud800\u0000"`, String.raw`"\uFFFD\uFFFD"`, 2],
    ["an escaped backslash, then the letters ud800", String.raw`"a\\ud800b"`, String.raw`"a\\ud800b"`, 0],
    ["an escaped backslash, then a lone surrogate", String.raw`"a\\\ud800b"`, String.raw`"a\\\uFFFDb"`, 1],
    [
      "a high, then an escaped backslash and the letters udc00",
      String.raw`"\ud800\\udc00"`,
      String.raw`"\uFFFD\\udc00"`,
      1,
    ],
    ["a surrogate pair typed as text (no escape)", `"\u{1F600}"`, `"\u{1F600}"`, 0],
  ];
  test.each(cases)("%s", (_what, body, text, replaced) => {
    expect(sanitizeJsonEscapes(body)).toEqual({ text, replaced });
    // the JSON means what it meant, with U+FFFD for each NUL character and each lone surrogate
    expect(JSON.parse(text)).toEqual(storable(JSON.parse(body)));
  });
});

describe("parseScope reads STRIPE_LIVEMODE and STRIPE_ACCOUNT_ID", () => {
  const env = (vars: Record<string, string>) => vars;
  test("test mode and no account unless set", () => {
    expect(parseScope(env({}))).toEqual({ livemode: false, accountId: null });
    expect(parseScope(env({ STRIPE_LIVEMODE: "false", STRIPE_ACCOUNT_ID: "" }))).toEqual({
      livemode: false,
      accountId: null,
    });
  });
  test("live mode and a platform account", () => {
    expect(parseScope(env({ STRIPE_LIVEMODE: "TRUE ", STRIPE_ACCOUNT_ID: "acct_1Abc" }))).toEqual({
      livemode: true,
      accountId: "acct_1Abc",
    });
  });
  test.each([["STRIPE_LIVEMODE", "yes", /true or false/], ["STRIPE_ACCOUNT_ID", "cus_123", /acct_/]])(
    "refuses %s=%s at start",
    (name, value, message) => {
      expect(() => parseScope(env({ [name]: value }))).toThrow(message);
    },
  );
});

describe("verifyStripeEvent says who caused a refusal: anyone (signature) or the signer (signed_payload)", () => {
  const secret = "whsec_unit_reasons";
  const sign = (payload: string, key = secret) =>
    Stripe.webhooks.generateTestHeaderStringAsync({
      payload,
      secret: key,
      cryptoProvider: Stripe.createSubtleCryptoProvider(),
    });
  const event = JSON.stringify({
    id: "evt_unit",
    object: "event",
    type: "customer.updated",
    created: 1,
    data: {
      object: {},
    },
  });
  // [what, body, how it is signed (null: no header), the reason counted]
  const cases: [string, string, "ours" | "theirs" | null, string][] = [
    ["no Stripe-Signature header", event, null, "signature"],
    ["signed with another secret", event, "theirs", "signature"],
    ["not JSON, signed with another secret", "{not json", "theirs", "signature"],
    ["an empty body", "", "ours", "signature"],
    ["not JSON, with a valid signature", "{not json", "ours", "signed_payload"],
    ["JSON but no event, with a valid signature", '{"id":"evt_x"}', "ours", "signed_payload"],
    ["a thin event, with a valid signature", '{"id":"evt_x","object":"v2.core.event"}', "ours", "signed_payload"],
  ];
  test.each(cases)("%s is counted as its reason", async (_what, body, signer, reason) => {
    const header = signer === null ? null : await sign(body, signer === "ours" ? secret : "whsec_somebody_else");
    const err = await verifyStripeEvent(body, header, [secret]).then(() => undefined, (e) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(err.status).toBe(400);
    expect(err.options.reason).toBe(reason);
  });
  test("a valid event passes", async () => {
    expect((await verifyStripeEvent(event, await sign(event), [secret])).id).toBe("evt_unit");
  });
});
