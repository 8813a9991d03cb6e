// The webhook's input rules that need no stack: how the deployment's Stripe mode and account are read.
import { describe, expect, test } from "vitest";
import { parseScope } from "../../supabase/functions/stripe-webhook/scope.ts";

describe("parseScope reads STRIPE_LIVEMODE and STRIPE_ACCOUNT_ID", () => {
  const env = (vars: Record<string, string>) => ({ get: (name: string) => vars[name] });
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
