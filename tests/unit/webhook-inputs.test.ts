// The webhook's input rules that need no stack: which JSON escapes are made storable, and how the
// deployment's Stripe mode and account are read.
import { describe, expect, test } from "vitest";
import { sanitizeNulEscapes } from "../../supabase/functions/_shared/stripe/sanitize.ts";
import { parseScope } from "../../supabase/functions/_shared/stripe/scope.ts";

/** A parsed JSON value with each NUL character of its strings and keys replaced by U+FFFD. */
function nulAsFffd(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("\u0000", "\uFFFD");
  if (Array.isArray(value)) return value.map(nulAsFffd);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [nulAsFffd(k), nulAsFffd(v)]));
  }
  return value;
}

describe("sanitizeNulEscapes replaces the JSON escape \\u0000 and nothing else", () => {
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
  ];
  test.each(cases)("%s", (_what, body, text, replaced) => {
    expect(sanitizeNulEscapes(body)).toEqual({ text, replaced });
    // the JSON means what it meant, with U+FFFD for each NUL character
    expect(JSON.parse(text)).toEqual(nulAsFffd(JSON.parse(body)));
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
