// Resend's webhook deliveries (signed by Svix): the signature is verified with the resend SDK against
// every configured secret, timestamps outside 5 minutes are refused, and bounces and complaints are
// parsed into what the endpoint acts on. Bodies are signed by tests/fakes/resend.ts (Svix's scheme,
// written independently of the SDK).
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { resendWebhookSecrets, verifyResendWebhook } from "../../supabase/functions/_shared/notify/resend-webhook.ts";
import { newWebhookSecret, signResendWebhook } from "../fakes/resend.ts";

const secret = newWebhookSecret();

function event(type: string, data: Record<string, unknown> = {}) {
  return JSON.stringify({
    type,
    created_at: "2026-11-22T23:41:12.126Z",
    data: {
      email_id: "56761188-7520-42d8-8898-ff6fc54ce618",
      created_at: "2026-11-22T23:41:11.894719+00:00",
      from: "Mugshop <notifications@mugshop.example>",
      to: ["Jane@Example.com"],
      subject: "Receipt for order ORD-1042: $19.99",
      tags: { template: "payment_receipt" },
      ...data,
    },
  });
}

const bounced = (type = "Permanent") =>
  event("email.bounced", {
    bounce: {
      message:
        "The recipient's email address is on the suppression list because it has a recent history of producing hard bounces.",
      subType: "Suppressed",
      type,
    },
  });

function verify(body: string, headers: Record<string, string>, secrets = [secret], now?: number) {
  return verifyResendWebhook(body, new Headers(headers), secrets, now);
}

function refusal(fn: () => unknown): HttpError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HttpError);
  expect((err as HttpError).status).toBe(400);
  return err as HttpError;
}

describe("Resend webhook: accepted deliveries", () => {
  test("a hard bounce marks its recipients undeliverable", () => {
    const body = bounced();
    const headers = signResendWebhook(body, secret, { id: "msg_bounce_1" });
    expect(verify(body, headers)).toEqual({
      deliveryId: "msg_bounce_1",
      type: "email.bounced",
      emailId: "56761188-7520-42d8-8898-ff6fc54ce618",
      to: ["jane@example.com"],
      undeliverable: true,
      reason: expect.stringMatching(/^hard bounce \(Permanent\/Suppressed\): The recipient's email address/),
      tags: { template: "payment_receipt" },
      createdAt: "2026-11-22T23:41:12.126Z",
    });
  });

  test("a spam complaint marks its recipients undeliverable", () => {
    const body = event("email.complained");
    const e = verify(body, signResendWebhook(body, secret));
    expect(e).toMatchObject({
      type: "email.complained",
      to: ["jane@example.com"],
      undeliverable: true,
      reason: "spam complaint",
    });
  });

  test("a soft (Transient) bounce and a delivery change nothing", () => {
    for (const body of [bounced("Transient"), event("email.delivered")]) {
      const e = verify(body, signResendWebhook(body, secret));
      expect(e.undeliverable).toBe(false);
      expect(e.to).toEqual(["jane@example.com"]);
    }
    expect(verify(bounced("Transient"), signResendWebhook(bounced("Transient"), secret)).reason).toMatch(
      /^soft bounce \(Transient\/Suppressed\)/,
    );
  });

  test("an event type notify does not use is acknowledged and ignored", () => {
    const body = event("email.opened");
    expect(verify(body, signResendWebhook(body, secret))).toMatchObject({
      type: "email.opened",
      undeliverable: false,
      to: [],
    });
  });

  test("tags sent as a list are read too, and any configured secret verifies (rotation)", () => {
    const body = event("email.complained", { tags: [{ name: "template", value: "welcome" }] });
    const old = newWebhookSecret();
    const e = verify(body, signResendWebhook(body, secret), [old, secret]);
    expect(e.tags).toEqual({ template: "welcome" });
  });
});

describe("Resend webhook: refused deliveries", () => {
  test("a signature made with another secret is refused", () => {
    const body = bounced();
    const err = refusal(() => verify(body, signResendWebhook(body, newWebhookSecret())));
    expect(err.message).toBe("invalid svix-signature: no v1 signature matches a configured secret");
  });

  test("a tampered body is refused", () => {
    const body = bounced();
    const headers = signResendWebhook(body, secret);
    const tampered = body.replace("Jane@Example.com", "someone.else@example.com");
    expect(refusal(() => verify(tampered, headers)).message).toMatch(/invalid svix-signature/);
  });

  test("a signature replayed with another delivery id is refused", () => {
    const body = bounced();
    const headers = signResendWebhook(body, secret);
    expect(refusal(() => verify(body, { ...headers, "svix-id": "msg_other" })).message).toMatch(
      /invalid svix-signature/,
    );
  });

  test("a timestamp older than 5 minutes is refused, even correctly signed", () => {
    const body = bounced();
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 360;
    const err = refusal(() => verify(body, signResendWebhook(body, secret, { timestamp: sixMinutesAgo })));
    expect(err.message).toBe("svix-timestamp is older than 5 minutes: replay refused");
  });

  test("a timestamp more than 5 minutes ahead is refused", () => {
    const body = bounced();
    const ahead = Math.floor(Date.now() / 1000) + 360;
    expect(refusal(() => verify(body, signResendWebhook(body, secret, { timestamp: ahead }))).message).toMatch(
      /more than 5 minutes in the future/,
    );
  });

  test("the 5 minutes are measured from the receiver's clock", () => {
    const body = bounced();
    const at = Math.floor(Date.now() / 1000) - 200;
    const headers = signResendWebhook(body, secret, { timestamp: at });
    expect(verify(body, headers, [secret], at * 1000 + 299_000).undeliverable).toBe(true);
    refusal(() => verify(body, headers, [secret], at * 1000 + 301_000));
  });

  test("missing headers are refused", () => {
    const body = bounced();
    const headers = signResendWebhook(body, secret);
    for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
      const { [name]: _, ...rest } = headers;
      expect(refusal(() => verify(body, rest)).message).toBe(
        "missing svix-id, svix-timestamp or svix-signature header",
      );
    }
  });

  test("a correctly signed body that is not JSON, or not a Resend event, is refused", () => {
    expect(refusal(() => verify("not json", signResendWebhook("not json", secret))).message).toBe("body is not JSON");
    const list = JSON.stringify([1, 2]);
    expect(refusal(() => verify(list, signResendWebhook(list, secret))).message).toMatch(/not a Resend event/);
    const noData = JSON.stringify({ type: "email.bounced", created_at: "x", data: { email_id: "e" } });
    expect(refusal(() => verify(noData, signResendWebhook(noData, secret))).message).toBe(
      "email.bounced event without its email data (email_id, to)",
    );
  });
});

describe("Resend webhook secrets", () => {
  test("several secrets may be configured while rotating; none or a malformed one is refused", () => {
    const other = newWebhookSecret();
    const secrets = (value?: string) => resendWebhookSecrets({ RESEND_WEBHOOK_SECRET: value });
    expect(secrets(`${secret}, ${other}`)).toEqual([secret, other]);
    expect(() => secrets(undefined)).toThrow(/RESEND_WEBHOOK_SECRET is not set/);
    expect(() => secrets(" ")).toThrow(/RESEND_WEBHOOK_SECRET is not set/);
    expect(() => secrets("whsec_")).toThrow(/RESEND_WEBHOOK_SECRET must be whsec_ followed by base64/);
    expect(() => secrets("not-a-secret")).toThrow(/whsec_ followed by base64/);
    expect(() => secrets("not-a-secret")).not.toThrow(/not-a-secret/);
  });
});
