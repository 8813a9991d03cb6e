// Slack team alerts through an incoming webhook with the official SDK (npm @slack/webhook): one
// attempt per call, every failure classified as a ProviderError.
//
// Once: incoming webhooks take no idempotency key and answer no message id. What keeps an alert once is
// the job engine: one job per dedupe key (ops.enqueue_job), run by one worker at a time, completed once.
// A post whose answer is lost (a timeout after Slack took it, a dropped connection) fails the attempt
// retryably and the retry posts again: a lost answer may repeat an alert. That is acceptable for team
// alerts (a duplicate is noise; a missing dispute alert is a missed evidence deadline), and the reason
// this path is for the team only, never for customers. The post goes over noRetryFetch, so Deno's fetch
// never re-sends it on its own.
//
// Pace: Slack allows about one message per second per webhook (short bursts tolerated) and answers 429
// with Retry-After beyond it. The adapter's rateBudget (1 per second, shared through
// ops.take_rate_tokens) keeps workers under it; a 429 still comes back retryable after its Retry-After.
//
// Errors: Slack answers plain text. 400 invalid_payload / no_text, 403 action_prohibited, 404 no_service
// / channel_not_found, 410 channel_is_archived: permanent; 429 and 5xx (rollup_error): retryable;
// timeouts and network errors: retryable. The webhook URL is the secret: it never appears in a message.
//
// Runtime: @slack/webhook calls os.release() when it loads. Supabase's Edge Runtime answers that with a
// stub; plain Deno needs --allow-sys=osRelease, which the local gateway passes.
import { ErrorCode, IncomingWebhook, type IncomingWebhookSendArguments } from "@slack/webhook";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { classifyResponse, classifyThrown, ProviderError } from "../providers/error.ts";
import { noRetryFetch } from "../providers/no-retry-fetch.ts";
import type { RateBudget } from "../providers/rate-budget.ts";
import { redact } from "../providers/redact.ts";
import { checkSlack, type SlackAdapter, type SlackMessage } from "./contract.ts";

export type SlackConfig = { webhookUrl: string; timeoutMs: number };

const RATE_LIMIT_WAIT_MS = 1_000;

const slackEnv = z.object({
  SLACK_WEBHOOK_URL: setting.required(/^https?:\/\/[^/\s]+/, "must be an http(s) URL"),
  SLACK_TIMEOUT_MS: setting.int(10_000, 1, 300_000),
});

/** Reads the adapter's settings from a plain env object (the function's env, a literal in tests). */
export function slackConfig(env: Env): SlackConfig {
  const e = parseEnv(slackEnv, env);
  return { webhookUrl: e.SLACK_WEBHOOK_URL, timeoutMs: e.SLACK_TIMEOUT_MS };
}

/** What the SDK throws: an HTTP answer (statusCode, body) or a request that got none (original). */
type SdkError = { code?: string; statusCode?: number; body?: unknown; original?: unknown };

export function classifySlackError(
  operation: string,
  err: unknown,
  retryAfter: string | null,
  timeoutMs: number,
  secrets: readonly string[],
): ProviderError {
  const e = (err ?? {}) as SdkError;
  if (e.code === ErrorCode.HTTPError && typeof e.statusCode === "number") {
    const body = typeof e.body === "string" && e.body.trim() ? e.body.trim().slice(0, 200) : "no reason given";
    return classifyResponse(
      operation,
      {
        status: e.statusCode,
        retryAfter,
        reason: `Slack ${e.statusCode}: ${body}`,
        defaultRetryAfterMs: RATE_LIMIT_WAIT_MS,
      },
      secrets,
    );
  }
  if (e.code === ErrorCode.RequestError) return classifyThrown(operation, e.original, timeoutMs, secrets);
  if (err instanceof ProviderError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new ProviderError(redact(`${operation}: unexpected error from the Slack SDK (${name})`, secrets), {
    retryable: true,
    cause: err,
  });
}

export function createSlackAdapter(config: SlackConfig, deps: { fetch?: typeof fetch } = {}): SlackAdapter {
  const transport = deps.fetch ?? noRetryFetch();
  // the whole URL is the credential; its path alone (T.../B.../token) too
  const path = new URL(config.webhookUrl).pathname;
  const secrets = [config.webhookUrl, path, ...path.split("/").filter((part) => part.length >= 8)];

  return {
    name: "slack",
    rateBudget: { bucket: "notify:slack", capacity: 1, windowMs: 1_000 } satisfies RateBudget,

    async post(message: SlackMessage, idempotencyKey: string) {
      checkSlack(message, idempotencyKey);
      const operation = "post to Slack";
      let retryAfter: string | null = null;
      // one client per post: the SDK gives no access to the answer's headers, so this call's fetch keeps Retry-After
      const webhook = new IncomingWebhook(config.webhookUrl, {
        timeout: config.timeoutMs,
        retryConfig: { retries: 0 }, // one attempt: retries belong to ops.jobs
        fetch: async (input, init) => {
          const res = await transport(input, init as RequestInit);
          retryAfter = res.headers.get("retry-after");
          return res;
        },
      });
      const args: IncomingWebhookSendArguments = { text: message.text };
      if (message.blocks) args.blocks = message.blocks as unknown as IncomingWebhookSendArguments["blocks"];
      try {
        await webhook.send(args);
      } catch (err) {
        throw classifySlackError(operation, err, retryAfter, config.timeoutMs, secrets);
      }
      return {};
    },
  };
}
