// The Slack adapter (the official @slack/webhook SDK) against an incoming-webhook fake: one attempt per
// post, Slack's 1 message per second pace as the shared budget, 429 Retry-After honoured, failures
// classified, the webhook URL (the credential) never in a message. No network beyond 127.0.0.1.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { classifySlackError, createSlackAdapter, slackConfig } from "../../supabase/functions/_shared/notify/slack.ts";
import { ProviderError } from "../../supabase/functions/_shared/providers/error.ts";
import { type FakeSlack, startFakeSlack } from "../fakes/slack.ts";

const TIMEOUT_MS = 300;
let fake: FakeSlack;
let clock = 0;

beforeAll(async () => {
  fake = await startFakeSlack({ now: () => clock });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  clock = 1_000_000;
});

const adapter = (url = fake.webhookUrl) =>
  createSlackAdapter(slackConfig({ SLACK_WEBHOOK_URL: url, SLACK_TIMEOUT_MS: String(TIMEOUT_MS) }));

async function postError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** Every part of the webhook URL that is a credential. */
const secretParts =
  () => [fake.webhookUrl, ...new URL(fake.webhookUrl).pathname.split("/").filter((p) => p.length >= 8)];

describe("Slack adapter", () => {
  test("a post sends the text (and blocks) once; incoming webhooks give no message id", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*Dispute* on order ORD-1" } }];
    const result = await adapter().post({ text: "Dispute on order ORD-1", blocks }, "notify:slack_dispute_alert:dp_1");
    expect(result).toEqual({});
    expect(fake.posts).toHaveLength(1);
    expect(fake.posts[0]).toMatchObject({ text: "Dispute on order ORD-1", blocks });
  });

  test("the adapter paces Slack at one message per second, shared by every worker", () => {
    expect(adapter().rateBudget).toEqual({ bucket: "notify:slack", capacity: 1, windowMs: 1_000 });
  });

  test("posts faster than one per second get 429 with Retry-After, retryable after it", async () => {
    fake.setFaults({ pace: true });
    await adapter().post({ text: "first" }, "k1");
    clock += 400;
    const err = await postError(adapter().post({ text: "second" }, "k2"));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 1_000 });
    expect(err.message).toBe("post to Slack: Slack 429: rate_limited");
    clock += 600;
    await adapter().post({ text: "second" }, "k2");
    expect(fake.posts.map((p) => p.text)).toEqual(["first", "second"]);
  });

  test("a 429's Retry-After is honoured as sent, and one second is assumed without it", async () => {
    fake.setFaults({ retryAfter: 30 });
    fake.failNext("429");
    expect(await postError(adapter().post({ text: "x" }, "k"))).toMatchObject({
      retryable: true,
      retryAfterMs: 30_000,
    });
    fake.setFaults({ retryAfter: null });
    fake.failNext("429");
    expect(await postError(adapter().post({ text: "x" }, "k"))).toMatchObject({ retryable: true, retryAfterMs: 1_000 });
    expect(fake.posts).toHaveLength(0);
  });

  test("a 500 is retryable", async () => {
    fake.setFaults({ failAll: true });
    const err = await postError(adapter().post({ text: "x" }, "k"));
    expect(err).toMatchObject({ retryable: true, status: 500, message: "post to Slack: Slack 500: rollup_error" });
  });

  test("a webhook that no longer exists is a permanent 404 whose message holds no part of the URL", async () => {
    const gone = fake.webhookUrl.replace(/\/[^/]+$/, "/revoked0token0value");
    const err = await postError(adapter(gone).post({ text: "x" }, "k"));
    expect(err).toMatchObject({ retryable: false, status: 404, message: "post to Slack: Slack 404: no_service" });
    for (const part of [gone, "revoked0token0value"]) expect(err.message).not.toContain(part);
  });

  test.each(
    [
      ["hang", /no answer within 300 ms \(timeout\)/],
      ["drop", /network error/],
    ] as const,
  )("a %s is retryable (a lost answer may repeat the alert: see slack.ts)", async (kind, expected) => {
    fake.failNext(kind);
    const err = await postError(adapter().post({ text: "x" }, "k"));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(expected);
  });

  test("an unreachable webhook is a retryable network error without the URL", async () => {
    const closed = await startFakeSlack();
    await closed.close();
    const err = await postError(adapter(closed.webhookUrl).post({ text: "x" }, "k"));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^post to Slack: network error/);
    for (const part of new URL(closed.webhookUrl).pathname.split("/").filter((p) => p.length >= 8)) {
      expect(err.message).not.toContain(part);
    }
  });

  test("an empty text, too many blocks or a bad key are permanent and post nothing", async () => {
    const slack = adapter();
    expect(await postError(slack.post({ text: " " }, "k"))).toMatchObject({ retryable: false });
    expect(await postError(slack.post({ text: "x", blocks: Array(51).fill({ type: "divider" }) }, "k"))).toMatchObject({
      retryable: false,
    });
    expect(await postError(slack.post({ text: "x" }, "has spaces"))).toMatchObject({ retryable: false });
    expect(fake.requests).toHaveLength(0);
  });

  test("an error body echoing the webhook URL is redacted", () => {
    const err = classifySlackError(
      "post to Slack",
      { code: "slack_webhook_http_error", statusCode: 400, body: `invalid_payload for ${fake.webhookUrl}` },
      null,
      TIMEOUT_MS,
      secretParts(),
    );
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expect(err.message).toBe("post to Slack: Slack 400: invalid_payload for [redacted]");
  });

  test("configuration: the URL is required and must be http(s); the timeout defaults to 10 s", () => {
    expect(() => slackConfig({})).toThrow(/SLACK_WEBHOOK_URL is not set/);
    expect(() => slackConfig({ SLACK_WEBHOOK_URL: "hooks.slack.com/services/x" })).toThrow(
      /SLACK_WEBHOOK_URL must be an http\(s\) URL/,
    );
    expect(() => slackConfig({ SLACK_WEBHOOK_URL: "ftp://hooks.slack.com/x" })).toThrow(/http\(s\)/);
    expect(slackConfig({ SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/x" })).toEqual({
      webhookUrl: "https://hooks.slack.com/services/T/B/x",
      timeoutMs: 10_000,
    });
  });
});
