// The functions' login roles carry lock, statement and idle-in-transaction timeouts, so a webhook
// delivery blocked on a row lock fails fast (503, nothing recorded) and Stripe delivers it again.
import { connect } from "../../scripts/lib/db.ts";
import { afterAll, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { ledger, order, pendingOrder, sql } from "../helpers/db.ts";
import { checkoutCompleted } from "../../scripts/lib/scenarios.ts";
import { deliver, uid } from "../helpers/stripe.ts";

afterAll(() => sql.end());

test.each(["stripe_webhook", "pipeline_worker"] as const)(
  "a session of %s has lock_timeout 3s, statement_timeout 15s, idle_in_transaction_session_timeout 30s",
  async (role) => {
    const db = connect(config.roleDbUrl(role), { max: 1 });
    try {
      const [s] = await db`select current_user as role, current_setting('lock_timeout') as lock,
      current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle`;
      expect(s).toEqual({ role, lock: "3s", statement: "15s", idle: "30s" });
    } finally {
      await db.end();
    }
  },
);

test(
  "a delivery blocked on a row lock longer than the lock timeout answers 503 and records nothing; redelivered, it applies",
  async () => {
    const id = await pendingOrder();
    const e = checkoutCompleted(id, uid("pi_"), Math.floor(Date.now() / 1000));
    let blocked: Awaited<ReturnType<typeof deliver>> | undefined;
    let waited = 0;
    await sql.begin(async (tx) => {
      // another transaction holds the order row (an admin's long update, a stuck migration)
      await tx`select 1 from public.orders where id = ${id} for update`;
      const started = Date.now();
      blocked = await deliver(e);
      waited = Date.now() - started;
    });
    expect(blocked).toMatchObject({ status: 503, body: { error: "could not record the event, retry later" } });
    expect(waited).toBeGreaterThanOrEqual(2900); // it waited for the lock (3 s), then gave up
    expect(waited).toBeLessThan(12_000); // well before the statement timeout
    expect(await ledger([e.id])).toEqual([]); // not recorded: Stripe's redelivery is not a duplicate
    expect((await order(id)).status).toBe("pending_payment");

    const again = await deliver(e); // Stripe delivers it again once the lock is gone
    expect(again).toMatchObject({ status: 200, body: { duplicate: false, status: "processed" } });
    expect((await order(id)).status).toBe("paid");
  },
  30_000,
);
