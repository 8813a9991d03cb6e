// Chooses the email and Slack adapters from a plain env object: the provider when its key is set,
// local capture otherwise (so a stack without keys still works end to end).
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { createCaptureEmailAdapter, createCaptureSlackAdapter, type NotificationRecorder } from "./capture.ts";
import type { EmailAdapter, SlackAdapter } from "./contract.ts";
import { createResendAdapter, resendConfig } from "./resend.ts";
import { createSlackAdapter, slackConfig } from "./slack.ts";

export type EmailAdapterName = "resend" | "capture";
export type SlackAdapterName = "slack" | "capture";

const emailEnv = z.object({
  NOTIFY_EMAIL_ADAPTER: setting.oneOf(["resend", "capture"]),
  RESEND_API_KEY: setting.text(),
});
const slackEnv = z.object({
  NOTIFY_SLACK_ADAPTER: setting.oneOf(["slack", "capture"]),
  SLACK_WEBHOOK_URL: setting.text(),
});

/** The one rule, as CRM_ADAPTER for the CRM: NOTIFY_EMAIL_ADAPTER=capture|resend forces a choice (e.g. a
 * local stack whose .env holds a key); otherwise Resend when RESEND_API_KEY is set, capture when not. */
export function emailAdapterName(env: Env): EmailAdapterName {
  const e = parseEnv(emailEnv, env);
  return e.NOTIFY_EMAIL_ADAPTER ?? (e.RESEND_API_KEY ? "resend" : "capture");
}

/** NOTIFY_SLACK_ADAPTER=capture|slack forces a choice; otherwise Slack when SLACK_WEBHOOK_URL is set. */
export function slackAdapterName(env: Env): SlackAdapterName {
  const e = parseEnv(slackEnv, env);
  return e.NOTIFY_SLACK_ADAPTER ?? (e.SLACK_WEBHOOK_URL ? "slack" : "capture");
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
