// Area monitoring: alerts can reach the founder. FOUNDER_EMAIL and Slack are set (the notify worker captures
// instead of sending without RESEND_API_KEY / SLACK_WEBHOOK_URL), and --send-test-alert sends one email and
// one Slack message through the real path: notify jobs enqueued as an incident's notices are
// (ops.enqueue_notification with the alert templates and their data frozen in the payload), dispatched by
// the database, delivered by the notify worker and recorded in ops.notifications.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "../../lib/db.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

/** How long --send-test-alert waits for the notify worker to record both notices. */
export const TEST_ALERT_WAIT_MS = 90_000;

function channelFindings(ctx: DoctorContext): Finding[] {
  const founder = ctx.env.FOUNDER_EMAIL?.trim();
  const slack = ctx.env.SLACK_WEBHOOK_URL?.trim();
  const resend = ctx.env.RESEND_API_KEY?.trim();
  if (ctx.local) {
    return [
      warn(
        "monitoring.channels",
        `local stack: founder ${founder ?? "founder@example.com (the gateway's)"}, email ${
          resend ? "Resend" : "captured"
        }, Slack ${slack ? "set" : "captured"}`,
        "the local stack cannot be like production here: without provider keys it records notices in ops.notification_captures instead of sending them",
        "nothing to do locally; a deployment sets FOUNDER_EMAIL, RESEND_API_KEY and SLACK_WEBHOOK_URL",
      ),
    ];
  }
  const missing = [!founder && "FOUNDER_EMAIL", !resend && "RESEND_API_KEY", !slack && "SLACK_WEBHOOK_URL"].filter(
    Boolean,
  );
  return [
    missing.length
      ? fail(
        "monitoring.channels",
        `not set: ${missing.join(", ")}`,
        "every alert runs inside the database and reaches you only by email and Slack: without them an outage is silent",
        "set them in the env file and supabase secrets set",
      )
      : pass("monitoring.channels", `founder ${founder}, email through Resend, Slack set`),
  ];
}

/** Enqueues one founder email and one Slack post of a test alert; returns their dedupe keys. */
export async function enqueueTestAlert(sql: Sql, stamp = new Date().toISOString()): Promise<string[]> {
  const data = {
    incident_id: `doctor-${stamp}`,
    rule: "doctor_test_alert",
    severity: "info",
    summary: "Test alert from npm run doctor -- --send-test-alert: alerts reach you. No action needed.",
    observed: { sent_by: "npm run doctor", at: stamp },
    runbook: "Nothing to do: this message checks that alerts reach you by email and Slack.",
    opened_at: stamp,
  };
  const entity = `doctor:${stamp}`;
  const ids: string[] = [];
  for (
    const [channel, template, recipient] of [["email", "founder_alert_opened", "founder"], [
      "slack",
      "slack_alert_opened",
      "team",
    ]]
  ) {
    const [row] = await sql<{ id: string }[]>`
      select ops.enqueue_notification(${channel}, ${template}, ${entity}, ${recipient}, ${
      sql.json({ data })
    }::jsonb)::text as id`;
    ids.push(row.id);
  }
  const rows = await sql<
    { key: string }[]
  >`select dedupe_key as key from ops.jobs where id = any(${ids}::bigint[]) order by id`;
  return rows.map((r) => r.key);
}

async function testAlertFindings(ctx: DoctorContext): Promise<Finding[]> {
  const check = "monitoring.test_alert";
  if (!ctx.sendTestAlert) return [];
  const sql = ctx.db();
  if (!sql) {
    return [
      fail(check, "SUPABASE_DB_URL is not set", "the test alert is enqueued in the database", "set SUPABASE_DB_URL"),
    ];
  }
  const keys = await enqueueTestAlert(sql);
  const deadline = Date.now() + TEST_ALERT_WAIT_MS;
  type Row = { dedupe_key: string; channel: string; status: string; adapter: string };
  let rows: Row[] = [];
  let jobs: { status: string; last_error: string | null }[] = [];
  while (Date.now() < deadline) {
    rows = await sql<Row[]>`select dedupe_key, channel, status, adapter from ops.notifications
                              where dedupe_key = any(${keys})`;
    jobs = await sql<{ status: string; last_error: string | null }[]>`
      select status, last_error from ops.jobs where dedupe_key = any(${keys})`;
    if (rows.length === keys.length || jobs.some((j) => j.status === "dead")) break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const saw = rows.map((r) => `${r.channel} ${r.status} via ${r.adapter}`).join(", ");
  if (rows.length < keys.length) {
    const why = jobs.map((j) => `${j.status}${j.last_error ? `: ${j.last_error.slice(0, 120)}` : ""}`).join("; ");
    return [
      fail(
        check,
        `${rows.length} of 2 notices recorded${saw ? ` (${saw})` : ""}; jobs ${why}`,
        "an alert that does not arrive is no alert",
        "select * from ops.pipeline_exceptions; check the notify function's logs, the vault's functions_base_url and worker_secret",
      ),
    ];
  }
  if (rows.some((r) => r.status !== "sent")) {
    return [
      ctx.local
        ? warn(
          check,
          `${saw} (local stack: captured, not sent)`,
          "the local stack cannot be like production here: it captures instead of sending",
          "nothing to do locally",
        )
        : fail(
          check,
          saw,
          "captured or suppressed notices reach nobody",
          "set RESEND_API_KEY and SLACK_WEBHOOK_URL for the notify function",
        ),
    ];
  }
  return [pass(check, `${saw}: check your inbox and Slack`)];
}

/** The health function (GET <SUPABASE_URL>/functions/v1/health), when this checkout ships one: what an
 * uptime monitor reads. ok: PASS; degraded: WARN; down (503) or no answer: FAIL. */
export async function healthFindings(ctx: DoctorContext): Promise<Finding[]> {
  const check = "monitoring.health";
  if (!existsSync(join(ctx.repoDir, "supabase/functions/health/index.ts"))) return [];
  const base = ctx.env.SUPABASE_URL?.replace(/\/+$/, "");
  if (!base) {
    return [
      fail(
        check,
        "SUPABASE_URL is not set",
        "the health endpoint's address comes from it",
        "set SUPABASE_URL=https://<ref>.supabase.co in the env file",
      ),
    ];
  }
  const url = `${base}/functions/v1/health`;
  const fix = "read the answer's checks: each names what is wrong (and the function's logs)";
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = await res.json().catch(() => null) as { status?: string } | null;
    const saw = `${url} answered ${res.status}${body?.status ? ` ${body.status}` : ""}`;
    if (res.status === 200 && body?.status === "ok") return [pass(check, saw)];
    if (res.status === 200 && body?.status === "degraded") {
      return [
        warn(
          check,
          `${saw}: ${JSON.stringify((body as { checks?: unknown }).checks ?? {}).slice(0, 300)}`,
          "an uptime monitor sees a degraded backbone",
          fix,
        ),
      ];
    }
    return [fail(check, saw, "an uptime monitor pointed at it alerts, or sees nothing useful", fix)];
  } catch (e) {
    return [
      fail(
        check,
        `${url}: no answer (${(e as Error).message.slice(0, 120)})`,
        "an uptime monitor pointed at it alerts",
        "deploy the health function (supabase functions deploy health)",
      ),
    ];
  }
}

export const monitoring: Area = {
  name: "monitoring",
  async run(ctx) {
    return [...channelFindings(ctx), ...(await healthFindings(ctx)), ...(await testAlertFindings(ctx))];
  },
};
