// Chooses the email and Slack adapters from a plain env object: the provider when its key is set,
// local capture otherwise (so a stack without keys still works end to end).
import { createCaptureEmailAdapter, createCaptureSlackAdapter, type NotificationRecorder } from "./capture.ts";
import type { EmailAdapter, SlackAdapter } from "./contract.ts";
import { createResendAdapter, resendConfig } from "./resend.ts";
import { createSlackAdapter, slackConfig } from "./slack.ts";

export type EmailAdapterName = "resend" | "capture";
export type SlackAdapterName = "slack" | "capture";
type Env = Record<string, string | undefined>;

function forced<T extends string>(env: Env, variable: string, names: readonly T[]): T | undefined {
  const value = env[variable]?.trim().toLowerCase();
  if (!value) return undefined;
  if (!names.includes(value as T)) {
    throw new Error(`${variable} must be ${names.map((n) => `"${n}"`).join(" or ")}, not "${value}"`);
  }
  return value as T;
}

/** The one rule, as CRM_ADAPTER for the CRM: NOTIFY_EMAIL_ADAPTER=capture|resend forces a choice (e.g. a
 * local stack whose .env holds a key); otherwise Resend when RESEND_API_KEY is set, capture when not. */
export function emailAdapterName(env: Env): EmailAdapterName {
  return forced(env, "NOTIFY_EMAIL_ADAPTER", ["resend", "capture"] as const) ??
    (env.RESEND_API_KEY?.trim() ? "resend" : "capture");
}

/** NOTIFY_SLACK_ADAPTER=capture|slack forces a choice; otherwise Slack when SLACK_WEBHOOK_URL is set. */
export function slackAdapterName(env: Env): SlackAdapterName {
  return forced(env, "NOTIFY_SLACK_ADAPTER", ["slack", "capture"] as const) ??
    (env.SLACK_WEBHOOK_URL?.trim() ? "slack" : "capture");
}

/** `record`: the worker's capture writer (ops.notification_captures), used when capture is chosen. */
export function selectEmailAdapter(env: Env, deps: { record: NotificationRecorder }): EmailAdapter {
  if (emailAdapterName(env) === "resend") return createResendAdapter(resendConfig(env));
  return createCaptureEmailAdapter(deps.record);
}

export function selectSlackAdapter(
  env: Env,
  deps: { record: NotificationRecorder; fetch?: typeof fetch },
): SlackAdapter {
  if (slackAdapterName(env) === "slack") return createSlackAdapter(slackConfig(env), { fetch: deps.fetch });
  return createCaptureSlackAdapter(deps.record);
}
