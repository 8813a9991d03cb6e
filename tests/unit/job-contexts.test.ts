// What the database hands the workers (ops.crm_job_context, ops.notify_job_context) is parsed, not cast:
// a context of another shape fails the job permanently (dead at once, not a retry storm), naming the
// fields that did not parse and none of their values.
import type postgres from "postgres";
import { describe, expect, test } from "vitest";
import { crmHandlers } from "../../supabase/functions/crm-sync/handlers.ts";
import { notifyHandlers } from "../../supabase/functions/notify/handlers.ts";
import {
  classifyFailure,
  Finished,
  type Job,
  PermanentJobError,
} from "../../supabase/functions/_shared/jobs/worker.ts";
import {
  createCaptureEmailAdapter,
  createCaptureSlackAdapter,
} from "../../supabase/functions/_shared/notify/capture.ts";
import { notifyConfig } from "../../supabase/functions/_shared/notify/templates.ts";

/** A pool whose every query answers one row { ctx }; it records the SQL it was asked. */
function fakeSql(ctx: unknown) {
  const asked: string[] = [];
  const sql = (strings: TemplateStringsArray) => {
    asked.push(strings.join("?"));
    return Promise.resolve([{ ctx }]);
  };
  return { sql: Object.assign(sql, { json: (v: unknown) => v }) as unknown as postgres.Sql, asked };
}

const job = (kind: string): Job => ({
  id: 7,
  kind,
  priority: 0,
  payload: {},
  attempts: 1,
  correlation_id: null,
  stripe_event_id: null,
});

async function failure(run: () => Promise<unknown>) {
  const err = await run().then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(PermanentJobError);
  return { message: (err as Error).message, classified: classifyFailure(err) };
}

const order = {
  order_id: "0b7e4a52-4f1e-4d5e-9c43-5a0d0f1f2a10",
  status: "paid",
  amount_total: 1999,
  currency: "usd",
  amount_charged: 2199,
  currency_charged: "usd",
  amount_refunded: 0,
  needs_review: false,
  version: 3,
  listing_title: "Mug",
  dispute_id: null,
  buyer: { customer_id: null, email: "jane@example.com", name: "Jane", billing_status: "lead", has_paid_order: true },
};

describe("ops.crm_job_context", () => {
  test.each([
    ["an amount as text", { ...order, amount_charged: "21.99" }, "amount_charged"],
    ["no status", { ...order, status: undefined }, "status"],
    [
      "a buyer without billing status",
      { ...order, buyer: { ...order.buyer, billing_status: 1 } },
      "buyer.billing_status",
    ],
  ])("a deal context with %s fails the job permanently, naming the field", async (_, ctx, field) => {
    const { sql } = fakeSql(ctx);
    const { message, classified } = await failure(() =>
      crmHandlers(sql, {})["crm.deal"](job("crm.deal"), { sql, worker: "w" })
    );
    expect(message).toMatch(
      new RegExp(`^ops\\.crm_job_context handed an unexpected context: .*${field.replace(".", "\\.")}: `),
    );
    expect(message).not.toContain("jane@example.com");
    expect(classified.retryable).toBe(false);
  });

  test("a contact context that is not an object fails permanently; a well-formed one syncs", async () => {
    const bad = fakeSql(["not", "an", "object"]);
    const { classified } = await failure(() =>
      crmHandlers(bad.sql, {})["crm.contact"](job("crm.contact"), { sql: bad.sql, worker: "w" })
    );
    expect(classified.retryable).toBe(false);
    // unknown keys pass (the database may add some before the code reads them)
    const good = fakeSql({
      customer_id: "c-1",
      email: "jane@example.com",
      billing_status: "active",
      version: 2,
      extra: 1,
    });
    const result = await crmHandlers(good.sql, {})["crm.contact"](job("crm.contact"), { sql: good.sql, worker: "w" });
    // the handler stores the mapping and completes in one statement, then says so to the worker
    expect(result).toBeInstanceOf(Finished);
    expect((result as Finished).result).toMatchObject({ adapter: "capture" });
    expect(good.asked.some((q) => q.includes("ops.finish_crm_job"))).toBe(true);
  });
});

describe("ops.notify_job_context", () => {
  const record = () => Promise.resolve();
  const handlers = notifyHandlers({
    email: createCaptureEmailAdapter(record),
    slack: createCaptureSlackAdapter(record),
    config: notifyConfig({}),
  });
  const ctx = {
    template: "welcome",
    channel: "email",
    entity: "user:1",
    recipient: "user:1",
    to: "jane@example.com",
    suppressed: null,
    data: { customer_name: "Jane" },
    key: "notify:welcome:user:1",
  };

  test.each([
    ["no dedupe key", { ...ctx, key: null }, "key"],
    ["another channel", { ...ctx, channel: "sms" }, "channel"],
    ["data as a list", { ...ctx, data: [] }, "data"],
  ])("a context with %s fails the job permanently, naming the field", async (_, bad, field) => {
    const { sql } = fakeSql(bad);
    const { message, classified } = await failure(() =>
      handlers["notify.email"](job("notify.email"), { sql, worker: "w" })
    );
    expect(message).toMatch(new RegExp(`^ops\\.notify_job_context handed an unexpected context: ${field}: `));
    expect(message).not.toContain("jane@example.com");
    expect(classified.retryable).toBe(false);
  });
});
