// The Resend email adapter (the official SDK) against a Resend-compatible fake: one attempt per call,
// the job's dedupe key as Resend's Idempotency-Key, failures classified. No network beyond 127.0.0.1.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { EmailMessage } from "../../supabase/functions/_shared/notify/contract.ts";
import {
  classifyResendError,
  createResendAdapter,
  resendConfig,
} from "../../supabase/functions/_shared/notify/resend.ts";
import { ProviderError } from "../../supabase/functions/_shared/providers/error.ts";
import { type FakeResend, startFakeResend } from "../fakes/resend.ts";

const TIMEOUT_MS = 300;
let fake: FakeResend;

beforeAll(async () => {
  fake = await startFakeResend({ faults: { slowMs: TIMEOUT_MS * 3 } });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

function adapter(env: Record<string, string> = {}) {
  return createResendAdapter(resendConfig({
    RESEND_API_KEY: fake.apiKey,
    RESEND_BASE_URL: fake.url,
    RESEND_TIMEOUT_MS: String(TIMEOUT_MS),
    ...env,
  }));
}

const recipient = () => `buyer-${randomUUID().slice(0, 8)}@example.com`;
const key = () => `notify:payment_receipt:${randomUUID()}`;
const message = (over: Partial<EmailMessage> = {}): EmailMessage => ({
  to: recipient(),
  from: { name: "Backbone", address: "notifications@example.com" },
  replyTo: "support@example.com",
  subject: "Receipt for order ORD-1: $19.99",
  html: "<p>Thank you for your payment.</p>",
  text: "Thank you for your payment.\n",
  tags: { template: "payment_receipt" },
  ...over,
});

/** The ProviderError an operation throws (fails the test if it resolves or throws anything else). */
async function sendError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** Waits until the fake has answered every request it received (a slow answer lands after the client gave up). */
async function settled() {
  for (let i = 0; i < 200 && fake.requests.some((r) => r.status === null && r.fault === "slow"); i++) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("Resend adapter: sending once", () => {
  test("an email is sent with its sender, reply-to, text part and tags, under the job's idempotency key", async () => {
    const m = message();
    const k = key();
    const { providerId } = await adapter().send(m, k);
    expect(fake.sent).toHaveLength(1);
    expect(fake.sent[0]).toMatchObject({
      id: providerId,
      idempotencyKey: k,
      from: "Backbone <notifications@example.com>",
      to: [m.to],
      subject: m.subject,
      html: m.html,
      text: m.text,
      replyTo: "support@example.com",
      tags: [{ name: "template", value: "payment_receipt" }],
    });
    expect(fake.requests[0].idempotencyKey).toBe(k);
  });

  test("a retry with the same key and message sends nothing more and answers the same id", async () => {
    const m = message();
    const k = key();
    const first = await adapter().send(m, k);
    const second = await adapter().send(m, k);
    expect(second.providerId).toBe(first.providerId);
    expect(fake.sent).toHaveLength(1);
    expect(fake.requests.map((r) => r.fault)).toEqual([undefined, "replayed"]);
  });

  test("an answer lost to the timeout after Resend sent the email: the retries send no second email", async () => {
    const m = message();
    const k = key();
    fake.failNext("slow"); // sent at once, answered after the client's timeout
    const lost = await sendError(adapter().send(m, k));
    expect(lost).toMatchObject({
      retryable: true,
      message: `send email to b***@example.com: no answer within ${TIMEOUT_MS} ms (timeout)`,
    });
    expect(fake.sent).toHaveLength(1);

    // a retry while the first request is still running: Resend answers 409, retryable shortly
    const busy = await sendError(adapter().send(m, k));
    expect(busy).toMatchObject({ retryable: true, status: 409, retryAfterMs: 1_000 });
    expect(busy.message).toContain("concurrent_idempotent_requests");

    await settled();
    const { providerId } = await adapter().send(m, k);
    expect(providerId).toBe(fake.sent[0].id);
    expect(fake.sent).toHaveLength(1);
  });

  test("the same key with a different message is refused permanently (409 invalid_idempotent_request)", async () => {
    const m = message();
    const k = key();
    await adapter().send(m, k);
    const err = await sendError(adapter().send({ ...m, subject: "Another subject" }, k));
    expect(err).toMatchObject({ retryable: false, status: 409 });
    expect(err.message).toContain("invalid_idempotent_request");
    expect(fake.sent).toHaveLength(1);
  });

  test("the adapter carries Resend's team rate as its shared budget (2 per second unless raised)", () => {
    // counted over a little more than Resend's second: headroom for the way from the token to Resend
    expect(adapter().rateBudget).toEqual({ bucket: "notify:resend", capacity: 2, windowMs: 1_100 });
    expect(adapter({ RESEND_RATE_LIMIT_PER_S: "10" }).rateBudget).toEqual({
      bucket: "notify:resend",
      capacity: 10,
      windowMs: 1_100,
    });
  });
});

describe("Resend adapter: failures are classified", () => {
  test("429 with Retry-After is retryable after that delay, and nothing is sent", async () => {
    fake.setFaults({ rateLimit: true, retryAfter: 7 });
    const err = await sendError(adapter().send(message(), key()));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7_000, rateLimited: true });
    expect(err.message).toContain("rate_limit_exceeded");
    expect(fake.sent).toHaveLength(0);
  });

  test("429 with Retry-After as an HTTP date is honoured", async () => {
    fake.setFaults({ rateLimit: true, retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    const err = await sendError(adapter().send(message(), key()));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeGreaterThan(27_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  test("429 without Retry-After waits a second (Resend's window)", async () => {
    fake.setFaults({ rateLimit: true, retryAfter: null });
    const err = await sendError(adapter().send(message(), key()));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 1_000 });
  });

  test("the team limit's 429 is retryable and the requests under it go out", async () => {
    fake.setFaults({ limitPerSecond: 0 });
    const err = await sendError(adapter().send(message(), key()));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 1_000 });
    expect(fake.requests[0].fault).toBe("rate-limit");
  });

  test("a 500 is retryable and sends nothing", async () => {
    fake.setFaults({ failAll: true });
    const err = await sendError(adapter().send(message(), key()));
    expect(err).toMatchObject({ retryable: true, status: 500 });
    expect(err.message).toContain("Resend 500 internal_server_error");
    expect(fake.sent).toHaveLength(0);
  });

  test.each(
    [
      ["hang", /no answer within 300 ms \(timeout\)/],
      ["drop", /network error \(Resend could not be reached\)/],
    ] as const,
  )("a %s is retryable", async (kind, expected) => {
    fake.failNext(kind);
    const started = Date.now();
    const err = await sendError(adapter().send(message(), key()));
    expect(err.retryable).toBe(true);
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(expected);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 5_000);
    expect(fake.sent).toHaveLength(0);
  });

  test("a refused connection is a retryable network error", async () => {
    const closed = await startFakeResend();
    await closed.close();
    const resend = createResendAdapter(resendConfig({ RESEND_API_KEY: "re_x_1234", RESEND_BASE_URL: closed.url }));
    const err = await sendError(resend.send(message(), key()));
    expect(err).toMatchObject({ retryable: true, message: expect.stringMatching(/network error/) });
  });

  test("an unverified sender domain is a permanent 403", async () => {
    const strict = await startFakeResend({ apiKey: fake.apiKey, verifiedDomains: ["mail.example.org"] });
    try {
      const resend = createResendAdapter(resendConfig({ RESEND_API_KEY: fake.apiKey, RESEND_BASE_URL: strict.url }));
      const err = await sendError(resend.send(message(), key()));
      expect(err).toMatchObject({ retryable: false, status: 403 });
      expect(err.message).toContain("validation_error: The example.com domain is not verified");
      expect(strict.sent).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });

  test("a wrong API key is a permanent 403 whose message does not contain the key", async () => {
    const wrong = `re_${randomUUID().replace(/-/g, "")}`;
    const resend = createResendAdapter(resendConfig({ RESEND_API_KEY: wrong, RESEND_BASE_URL: fake.url }));
    const err = await sendError(resend.send(message(), key()));
    expect(err).toMatchObject({ retryable: false, status: 403 });
    expect(err.message).toContain("invalid_api_key");
    expect(err.message).not.toContain(wrong);
  });

  test("a validation answer that echoes the address and the key is masked and redacted", () => {
    const err = classifyResendError(
      "send email to j***@example.com",
      {
        statusCode: 422,
        name: "validation_error",
        message: "Invalid `to` field: jane.doe@example.com (key re_secret_123)",
      },
      {},
      ["re_secret_123"],
    );
    expect(err).toMatchObject({ retryable: false, status: 422 });
    expect(err.message).toBe(
      "send email to j***@example.com: Resend 422 validation_error: Invalid `to` field: j***@example.com (key [redacted])",
    );
  });

  test("quota, concurrency and status-less errors are classified by Resend's error name", () => {
    const quota = classifyResendError(
      "send",
      { statusCode: 429, name: "daily_quota_exceeded", message: "quota" },
      {},
      [],
    );
    // a used-up quota is not mended by waiting a second: it spends attempts (no deferral) and ends dead
    expect(quota).toMatchObject({ retryable: true, status: 429, retryAfterMs: 3_600_000, rateLimited: false });
    const reset = classifyResendError("send", { statusCode: 429, name: "rate_limit_exceeded" }, {
      "ratelimit-reset": "3",
    }, []);
    expect(reset).toMatchObject({ retryAfterMs: 3_000, rateLimited: true });
    const byName = classifyResendError(
      "send",
      { name: "missing_required_field", message: "Missing `to` field." },
      {},
      [],
    );
    expect(byName).toMatchObject({ retryable: false, status: 422 });
    const noAnswer = classifyResendError("send", { name: "application_error", statusCode: null }, null, []);
    expect(noAnswer).toMatchObject({ retryable: true, message: "send: network error (Resend could not be reached)" });
    const unknown = classifyResendError("send", { name: "something_new" }, {}, []);
    expect(unknown.retryable).toBe(true);
  });
});

describe("Resend adapter: inputs are checked before anything is sent", () => {
  test.each([
    ["a recipient that is not an address", { to: "jane.doe@example" }, /recipient is missing or not an email address/],
    ["an empty subject", { subject: "  " }, /subject is empty/],
    ["a subject with a line break", { subject: "Hi\r\nBcc: x@example.com" }, /subject must be one line/],
    ["a missing text part", { text: "" }, /text part is empty/],
    ["an empty html part", { html: "" }, /html part is empty/],
    ["a bad sender", { from: { name: "Backbone", address: "nobody" } }, /sender is missing or not an email address/],
    ["a sender name with a line break", { from: { name: "A\nB", address: "a@example.com" } }, /sender name/],
    ["a bad reply-to", { replyTo: "support" }, /reply-to is missing/],
    ["a tag with a space", { tags: { template: "payment receipt" } }, /tag "template"/],
  ] as Array<[string, Partial<EmailMessage>, RegExp]>)("%s is a permanent failure", async (_, over, expected) => {
    const err = await sendError(adapter().send(message(over), key()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(expected);
    expect(err.message).not.toContain("jane.doe");
    expect(fake.requests).toHaveLength(0);
  });

  test.each([["", "empty"], ["has spaces", "spaces"], ["x".repeat(257), "too long"]])(
    "an idempotency key that is %s is refused (%s)",
    async (k) => {
      const err = await sendError(adapter().send(message(), k));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain("idempotency key must be 1-256 printable ASCII characters");
      expect(fake.requests).toHaveLength(0);
    },
  );

  test("no error message holds the API key or a full address", async () => {
    const to = recipient();
    const messages: string[] = [];
    for (const setup of [() => fake.setFaults({ rateLimit: true }), () => fake.setFaults({ failAll: true })]) {
      fake.reset();
      setup();
      messages.push((await sendError(adapter().send(message({ to }), key()))).message);
    }
    fake.reset();
    fake.failNext("hang");
    messages.push((await sendError(adapter().send(message({ to }), key()))).message);
    for (const m of messages) expect(m).toContain("b***@example.com");
    messages.push((await sendError(adapter().send(message({ to, subject: "" }), key()))).message);
    messages.push((await sendError(adapter().send(message({ to: `${to}.` }), key()))).message);
    for (const m of messages) {
      expect(m).not.toContain(fake.apiKey);
      expect(m).not.toContain(to);
    }
  });
});

describe("Resend configuration", () => {
  test("defaults to api.resend.com, a 10 s timeout and 2 requests per second", () => {
    expect(resendConfig({ RESEND_API_KEY: "re_x" })).toEqual({
      apiKey: "re_x",
      baseUrl: "https://api.resend.com",
      timeoutMs: 10_000,
      ratePerSecond: 2,
    });
  });

  test("bad settings are refused with the variable's name", () => {
    expect(() => resendConfig({})).toThrow(/RESEND_API_KEY is not set/);
    expect(() => resendConfig({ RESEND_API_KEY: "re_x", RESEND_BASE_URL: "api.resend.com" })).toThrow(
      /RESEND_BASE_URL/,
    );
    expect(() => resendConfig({ RESEND_API_KEY: "re_x", RESEND_TIMEOUT_MS: "soon" })).toThrow(/RESEND_TIMEOUT_MS/);
    expect(() => resendConfig({ RESEND_API_KEY: "re_x", RESEND_RATE_LIMIT_PER_S: "1.5" })).toThrow(
      /RESEND_RATE_LIMIT_PER_S/,
    );
  });
});
