// The notify modules in Deno, the functions' runtime, with the permissions and import map the local
// gateway runs functions with: the resend and @slack/webhook SDKs load there (the Slack SDK reads
// os.release() at load), type-check (deno run --check), and send through the fakes; a 429 is classified
// and a signed webhook verifies the same as in Node.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { DENO_RUN_PERMISSIONS, denoResolutionArgs, functionConfig } from "../../scripts/lib/function-config.ts";
import { type FakeResend, newWebhookSecret, signResendWebhook, startFakeResend } from "../fakes/resend.ts";
import { type FakeSlack, startFakeSlack } from "../fakes/slack.ts";

let resend: FakeResend;
let slack: FakeSlack;
beforeAll(async () => {
  [resend, slack] = await Promise.all([startFakeResend(), startFakeSlack()]);
});
afterAll(async () => {
  await Promise.all([resend?.close(), slack?.close()]);
});

const notify = join(ROOT, "supabase/functions/_shared/notify");
const script = `
import { selectEmailAdapter, selectSlackAdapter } from ${JSON.stringify(join(notify, "select.ts"))};
import { notifyConfig, renderEmail, renderSlack } from ${JSON.stringify(join(notify, "templates.ts"))};
import { resendWebhookSecrets, verifyResendWebhook } from ${JSON.stringify(join(notify, "resend-webhook.ts"))};

const { env, webhook } = JSON.parse(Deno.args[0]);
const record = () => Promise.resolve();
const config = notifyConfig(env);
const email = selectEmailAdapter(env, { record });
const receipt = renderEmail("payment_receipt", {
  to: "jane@example.com", order_ref: "ORD-1042", amount: 1999, currency: "usd",
}, config);
const key = "notify:payment_receipt:ORD-1042:jane@example.com";
const limited = await email.send(receipt, key)
  .then(() => null, (e) => ({ retryable: e.retryable, status: e.status, retryAfterMs: e.retryAfterMs }));
const first = await email.send(receipt, key);
const again = await email.send(receipt, key);
const alert = renderSlack("slack_alert_opened", {
  incident_id: 1, rule: "dead_jobs", severity: "warning", summary: "1 dead job", runbook: "replay it",
  opened_at: "2026-11-22T10:00:00Z",
}, config);
const posted = await selectSlackAdapter(env, { record }).post(alert, "notify:slack_alert_opened:incident:1:team");
const event = verifyResendWebhook(webhook.body, new Headers(webhook.headers), resendWebhookSecrets({ RESEND_WEBHOOK_SECRET: webhook.secret }));
console.log(JSON.stringify({ adapters: [email.name], first, again, limited, posted, event }));
`;

test("in Deno, with the gateway's permissions, the SDKs load and email, Slack and the webhook check work", async () => {
  const dir = mkdtempSync(join(tmpdir(), "notify-deno-"));
  const file = join(dir, "notify.ts");
  writeFileSync(file, script);
  const secret = newWebhookSecret();
  const body = JSON.stringify({
    type: "email.bounced",
    created_at: "2026-11-22T23:41:12.126Z",
    data: { email_id: "e-1", to: ["jane@example.com"], bounce: { type: "Permanent", subType: "General" } },
  });
  const env = {
    RESEND_API_KEY: resend.apiKey,
    RESEND_BASE_URL: resend.url,
    RESEND_TIMEOUT_MS: "5000",
    SLACK_WEBHOOK_URL: slack.webhookUrl,
    APP_NAME: "Mugshop",
  };
  // the first send meets Resend's rate limit
  resend.setFaults({ retryAfter: 4 });
  resend.failNext("429");
  const { stdout } = await promisify(execFile)(
    join(ROOT, "node_modules/.bin/deno"),
    [
      "run",
      "--quiet",
      "--check",
      ...DENO_RUN_PERMISSIONS,
      ...denoResolutionArgs(functionConfig("crm-sync")),
      file,
      JSON.stringify({ env, webhook: { body, headers: signResendWebhook(body, secret), secret } }),
    ],
    { cwd: ROOT, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 120_000 },
  );
  const out = JSON.parse(stdout.trim().split("\n").pop()!);
  expect(out.adapters).toEqual(["resend"]);
  expect(out.first.providerId).toBe(resend.sent[0].id);
  expect(out.again).toEqual(out.first);
  expect(out.limited).toEqual({ retryable: true, status: 429, retryAfterMs: 4_000 });
  expect(resend.sent).toHaveLength(1);
  expect(resend.sent[0]).toMatchObject({
    idempotencyKey: "notify:payment_receipt:ORD-1042:jane@example.com",
    from: "Mugshop <notifications@example.com>",
    to: ["jane@example.com"],
  });
  expect(out.posted).toEqual({});
  expect(slack.posts).toHaveLength(1);
  expect(slack.posts[0].text).toContain("*Alert: dead_jobs* (warning");
  expect(out.event).toMatchObject({ type: "email.bounced", to: ["jane@example.com"], undeliverable: true });
}, 180_000);
