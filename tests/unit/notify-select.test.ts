// Which notify adapters a worker gets (the provider when its key is set, local capture otherwise, an
// explicit override either way), and the capture adapters: idempotent per key, same checks as the providers.
import { describe, expect, test } from "vitest";
import {
  createCaptureEmailAdapter,
  createCaptureSlackAdapter,
  type NotificationChannel,
} from "../../supabase/functions/_shared/notify/capture.ts";
import type { EmailMessage } from "../../supabase/functions/_shared/notify/contract.ts";
import {
  emailAdapterName,
  selectEmailAdapter,
  selectSlackAdapter,
  slackAdapterName,
} from "../../supabase/functions/_shared/notify/select.ts";
import { ProviderError } from "../../supabase/functions/_shared/providers/error.ts";

type Capture = { channel: NotificationChannel; key: string; body: Record<string, unknown> };
const record = async () => {};
const SLACK_URL = "https://hooks.slack.com/services/T000/B000/xxxxxxxxxxxxxxxx";

const message = (over: Partial<EmailMessage> = {}): EmailMessage => ({
  to: " Jane@Example.com",
  from: { name: "Mugshop, Billing", address: "billing@mugshop.example" },
  replyTo: "support@mugshop.example",
  subject: "Receipt for order ORD-1042: $19.99",
  html: "<p>Thanks</p>",
  text: "Thanks\n",
  tags: { template: "payment_receipt" },
  ...over,
});

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("adapter selection", () => {
  test("Resend when RESEND_API_KEY is set, capture otherwise", () => {
    expect(emailAdapterName({})).toBe("capture");
    expect(emailAdapterName({ RESEND_API_KEY: "  " })).toBe("capture");
    expect(emailAdapterName({ RESEND_API_KEY: "re_x" })).toBe("resend");
    expect(selectEmailAdapter({ RESEND_API_KEY: "re_x" }, { record }).name).toBe("resend");
    expect(selectEmailAdapter({}, { record }).name).toBe("capture");
  });

  test("Slack when SLACK_WEBHOOK_URL is set, capture otherwise", () => {
    expect(slackAdapterName({})).toBe("capture");
    expect(slackAdapterName({ SLACK_WEBHOOK_URL: SLACK_URL })).toBe("slack");
    expect(selectSlackAdapter({ SLACK_WEBHOOK_URL: SLACK_URL }, { record }).name).toBe("slack");
    expect(selectSlackAdapter({}, { record }).name).toBe("capture");
  });

  test("NOTIFY_EMAIL_ADAPTER and NOTIFY_SLACK_ADAPTER force a choice, as CRM_ADAPTER does", () => {
    expect(emailAdapterName({ RESEND_API_KEY: "re_x", NOTIFY_EMAIL_ADAPTER: "capture" })).toBe("capture");
    expect(emailAdapterName({ NOTIFY_EMAIL_ADAPTER: " Resend " })).toBe("resend");
    expect(slackAdapterName({ SLACK_WEBHOOK_URL: SLACK_URL, NOTIFY_SLACK_ADAPTER: "capture" })).toBe("capture");
    // forcing a provider without its key fails at startup, naming the missing setting
    expect(() => selectEmailAdapter({ NOTIFY_EMAIL_ADAPTER: "resend" }, { record })).toThrow(
      /RESEND_API_KEY is not set/,
    );
    expect(() => selectSlackAdapter({ NOTIFY_SLACK_ADAPTER: "slack" }, { record })).toThrow(
      /SLACK_WEBHOOK_URL is not set/,
    );
    expect(() => emailAdapterName({ NOTIFY_EMAIL_ADAPTER: "sendgrid" })).toThrow(
      'NOTIFY_EMAIL_ADAPTER must be "resend" or "capture"',
    );
    expect(() => slackAdapterName({ NOTIFY_SLACK_ADAPTER: "teams" })).toThrow(/NOTIFY_SLACK_ADAPTER/);
  });

  test("providers carry their shared rate budgets; the capture adapters have none", () => {
    // Resend's 2 per second, counted over 1,100 ms: headroom for the way from the token to Resend
    expect(selectEmailAdapter({ RESEND_API_KEY: "re_x" }, { record }).rateBudget).toEqual({
      bucket: "notify:resend",
      capacity: 2,
      windowMs: 1_100,
    });
    expect(selectSlackAdapter({ SLACK_WEBHOOK_URL: SLACK_URL }, { record }).rateBudget).toEqual({
      bucket: "notify:slack",
      capacity: 1,
      windowMs: 1_000,
    });
    expect(selectEmailAdapter({}, { record }).rateBudget).toBeUndefined();
    expect(selectSlackAdapter({}, { record }).rateBudget).toBeUndefined();
  });
});

describe("capture adapters", () => {
  test("an email is recorded under its key with a stable id, and a repeated key gets the same id", async () => {
    const captures: Capture[] = [];
    const email = createCaptureEmailAdapter(async (channel, key, body) => {
      captures.push({ channel, key, body });
    });
    const a = await email.send(message(), "notify:payment_receipt:ORD-1042:jane@example.com");
    const b = await email.send(message(), "notify:payment_receipt:ORD-1042:jane@example.com");
    const c = await email.send(message(), "notify:welcome:cus_1:jane@example.com");
    expect(a.providerId).toMatch(/^capture-email-[0-9a-f]{24}$/);
    expect(b.providerId).toBe(a.providerId);
    expect(c.providerId).not.toBe(a.providerId);
    expect(captures[0]).toEqual({
      channel: "email",
      key: "notify:payment_receipt:ORD-1042:jane@example.com",
      body: {
        id: a.providerId,
        to: "jane@example.com",
        from: '"Mugshop, Billing" <billing@mugshop.example>',
        reply_to: "support@mugshop.example",
        subject: "Receipt for order ORD-1042: $19.99",
        html: "<p>Thanks</p>",
        text: "Thanks\n",
        tags: { template: "payment_receipt" },
      },
    });
  });

  test("a Slack post is recorded under its key with a stable id", async () => {
    const captures: Capture[] = [];
    const slack = createCaptureSlackAdapter(async (channel, key, body) => {
      captures.push({ channel, key, body });
    });
    const a = await slack.post({ text: "*Dispute* on ORD-1042" }, "notify:slack_dispute_alert:dp_1");
    const b = await slack.post({ text: "*Dispute* on ORD-1042" }, "notify:slack_dispute_alert:dp_1");
    expect(a.providerId).toMatch(/^capture-slack-[0-9a-f]{24}$/);
    expect(b.providerId).toBe(a.providerId);
    expect(captures[0]).toEqual({
      channel: "slack",
      key: "notify:slack_dispute_alert:dp_1",
      body: { id: a.providerId, text: "*Dispute* on ORD-1042" },
    });
  });

  test("a bad input is permanent and records nothing; a failing recorder is retryable and says only its kind", async () => {
    const captures: Capture[] = [];
    const email = createCaptureEmailAdapter(async (channel, key, body) => {
      captures.push({ channel, key, body });
    });
    expect((await failure(email.send(message({ to: "jane" }), "k"))).retryable).toBe(false);
    expect((await failure(email.send(message({ text: " " }), "k"))).retryable).toBe(false);
    expect((await failure(createCaptureSlackAdapter(record).post({ text: "" }, "k"))).retryable).toBe(false);
    expect(captures).toHaveLength(0);

    const broken = createCaptureEmailAdapter(async () => {
      throw new Error("connection to jane@example.com refused");
    });
    const err = await failure(broken.send(message(), "k"));
    expect(err).toMatchObject({ retryable: true, message: "capture email: the recorder failed (Error)" });
  });
});
