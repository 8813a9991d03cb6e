// The notify job handlers: read what to send now (ops.notify_job_context), skip an address that
// bounced or complained, render the template, take the provider's rate budget, send once (the job's
// dedupe key is the provider's idempotency key), and record the send.
import type postgres from "postgres";
import { z } from "zod";
import type { Env } from "../_shared/config/env.ts";
import { Deferral, type Job, type JobHandler, parseJobContext, PermanentJobError } from "../_shared/jobs/worker.ts";
import type { EmailAdapter, SlackAdapter } from "../_shared/notify/contract.ts";
import { selectEmailAdapter, selectSlackAdapter } from "../_shared/notify/select.ts";
import { type NotifyConfig, notifyConfig, renderEmail, renderSlack } from "../_shared/notify/templates.ts";
import { maskEmail } from "../_shared/providers/email.ts";
import { awaitRateTokens } from "../_shared/providers/rate-budget.ts";

/** What ops.notify_job_context answers (loose: new keys may come before the code reads them). */
export const notifyContext = z.object({
  template: z.string().min(1),
  channel: z.enum(["email", "slack"]),
  entity: z.string().nullish(),
  recipient: z.string().nullish(),
  /** the recipient's address (user:<id>); null for the founder and the team */
  to: z.string().nullable(),
  /** why the address takes no more email (bounced | complained), when it does not */
  suppressed: z.string().nullable(),
  /** the template's payload, checked by the template's own schema */
  data: z.record(z.string(), z.unknown()),
  /** the job's dedupe key: the provider's idempotency key */
  key: z.string().min(1),
}).loose();
type Context = z.output<typeof notifyContext>;

type Adapters = { email: EmailAdapter; slack: SlackAdapter; config: NotifyConfig };

async function context(sql: postgres.Sql, job: Job, worker: string): Promise<Context> {
  const [{ ctx }] = await sql<{ ctx: unknown }[]>`select ops.notify_job_context(${job.id}, ${worker}) as ctx`;
  if (ctx === null || ctx === undefined) throw new PermanentJobError(`job ${job.id} is not held by ${worker}`);
  return parseJobContext("ops.notify_job_context", notifyContext, ctx);
}

async function record(
  sql: postgres.Sql,
  job: Job,
  worker: string,
  r: { status: string; adapter: string; recipient: string; providerId?: string; detail?: string },
) {
  await sql`select ops.record_notification(${job.id}, ${worker}, ${r.status}, ${r.adapter}, ${r.recipient},
    ${r.providerId ?? null}, ${r.detail ?? null})`;
}

async function budget(sql: postgres.Sql, adapter: EmailAdapter | SlackAdapter, job: Job) {
  if (!adapter.rateBudget) return;
  const wait = await awaitRateTokens(sql, adapter.rateBudget, 1, job.priority);
  if (wait > 0) throw new Deferral(wait, `${adapter.name} rate budget used up; resuming in ${wait} ms`);
}

export function notifyHandlers(adapters: Adapters): Record<string, JobHandler> {
  return {
    "notify.email": async (job, { sql, worker }) => {
      const ctx = await context(sql, job, worker);
      const message = renderEmail(ctx.template, { ...ctx.data, ...(ctx.to ? { to: ctx.to } : {}) }, adapters.config);
      if (ctx.suppressed) {
        await record(sql, job, worker, {
          status: "suppressed",
          adapter: adapters.email.name,
          recipient: message.to,
          detail: `not sent: the address ${ctx.suppressed} earlier`,
        });
        return { skipped: ctx.suppressed, to: maskEmail(message.to) };
      }
      await budget(sql, adapters.email, job);
      const { providerId } = await adapters.email.send(message, ctx.key);
      const status = adapters.email.name === "capture" ? "captured" : "sent";
      await record(sql, job, worker, { status, adapter: adapters.email.name, recipient: message.to, providerId });
      return { [status]: providerId, to: maskEmail(message.to) };
    },
    "notify.slack": async (job, { sql, worker }) => {
      const ctx = await context(sql, job, worker);
      const message = renderSlack(ctx.template, ctx.data, adapters.config);
      await budget(sql, adapters.slack, job);
      const { providerId } = await adapters.slack.post(message, ctx.key);
      const status = adapters.slack.name === "capture" ? "captured" : "sent";
      await record(sql, job, worker, { status, adapter: adapters.slack.name, recipient: "slack", providerId });
      return { [status]: providerId ?? true };
    },
  };
}

export function createNotifyHandlers(sql: postgres.Sql, env: Env) {
  const recordCapture = async (channel: "email" | "slack", key: string, body: Record<string, unknown>) => {
    await sql`select ops.record_notification_capture(${channel}, ${key}, ${sql.json(body as postgres.JSONValue)})`;
  };
  return notifyHandlers({
    email: selectEmailAdapter(env, { record: recordCapture }),
    slack: selectSlackAdapter(env, { record: recordCapture }),
    config: notifyConfig(env),
  });
}
