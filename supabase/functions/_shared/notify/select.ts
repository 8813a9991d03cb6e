// Chooses the email and Slack adapters from a plain env object: the provider when its key is set,
// local capture otherwise (so a stack without keys still works end to end).
import { chooseAdapter, type Env } from "../config/env.ts";
import { createCaptureEmailAdapter, createCaptureSlackAdapter, type NotificationRecorder } from "./capture.ts";
import type { EmailAdapter, SlackAdapter } from "./contract.ts";
import { createResendAdapter, resendConfig } from "./resend.ts";
import { createSlackAdapter, slackConfig } from "./slack.ts";

export type EmailAdapterName = "resend" | "capture";
export type SlackAdapterName = "slack" | "capture";

/** The one rule, as CRM_ADAPTER for the CRM: NOTIFY_EMAIL_ADAPTER=capture|resend forces a choice (e.g. a
 * local stack whose .env holds a key); otherwise Resend when RESEND_API_KEY is set, capture when not. */
export function emailAdapterName(env: Env): EmailAdapterName {
  return chooseAdapter(env, "NOTIFY_EMAIL_ADAPTER", "resend", "RESEND_API_KEY");
}

/** NOTIFY_SLACK_ADAPTER=capture|slack forces a choice; otherwise Slack when SLACK_WEBHOOK_URL is set. */
export function slackAdapterName(env: Env): SlackAdapterName {
  return chooseAdapter(env, "NOTIFY_SLACK_ADAPTER", "slack", "SLACK_WEBHOOK_URL");
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
