// npm start: the local stack in the foreground, a short demo of signed Stripe events and what each
// did to the database, then it keeps serving (ready for `stripe listen --forward-to ...`) until Ctrl-C.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { config } from "./lib/config.ts";
import { connect } from "./lib/db.ts";
import { chargeRefunded, checkoutCompleted, piFailed } from "./lib/scenarios.ts";
import { pendingOrders } from "./lib/seed.ts";
import { deliver, type Evt, uid } from "./lib/stripe-events.ts";
import {
  log,
  paths,
  printStatus,
  seed,
  type ServiceName,
  servicePid,
  SERVICES,
  startDatabase,
  startService,
  stopStack,
  waitHealthy,
} from "./stack/stack.ts";

await startDatabase();
const children: ChildProcess[] = [];
for (const name of Object.keys(SERVICES) as ServiceName[]) {
  if (servicePid(name)) {
    log(`${name} already runs in the background; following its log`);
    children.push(spawn("tail", ["-n", "0", "-F", join(paths.logDir, `${name}.log`)], { stdio: "inherit" }));
  } else {
    children.push(startService(name, true)!);
  }
}
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the local stack…");
  for (const c of children) c.kill("SIGTERM");
  setTimeout(() => {
    stopStack();
    process.exit(0);
  }, 800);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
await waitHealthy();
await seed();

const sql = connect(config.dbUrl, { max: 2 });
const now = Math.floor(Date.now() / 1000);

async function newOrder(): Promise<string> {
  const [id] = await pendingOrders(sql);
  return id;
}

async function step(title: string, evt: Evt, orderId: string) {
  const res = await deliver(evt);
  const [o] = await sql`select status, amount_refunded, needs_review from public.orders where id = ${orderId}`;
  const [l] = await sql`select status from ops.stripe_events where event_id = ${evt.id}`;
  console.log(
    `\n▶ ${title}\n  ${evt.type} ${evt.id}\n  HTTP ${res.status} ${JSON.stringify(res.body)}\n` +
      `  ledger: ${l?.status ?? "(not recorded)"}   order ${orderId.slice(0, 8)}…: ${o.status}` +
      (Number(o.amount_refunded) ? ` (refunded ${o.amount_refunded})` : ""),
  );
}

console.log("\n=== demo: signed Stripe events through the real webhook ===");
const paidOrder = await newOrder();
const [pi, charge] = [uid("pi_demo_"), uid("ch_demo_")];
const purchase = checkoutCompleted(paidOrder, pi, now);
await step("a purchase: Checkout completes for a pending order", purchase, paidOrder);
await step("the same event delivered again: answered 2xx, nothing changes", purchase, paidOrder);

const failedOrder = await newOrder();
const pi2 = uid("pi_demo_");
await step(
  "a failed payment: the session is unpaid…",
  checkoutCompleted(failedOrder, pi2, now, { payment_status: "unpaid" }),
  failedOrder,
);
await step("…and the payment intent fails: nothing is granted", piFailed(pi2, now + 1), failedOrder);

await step("a refund of the first order", chargeRefunded(pi, charge, 2500, now + 2), paidOrder);

// the side effects those events enqueued (CRM contacts and deals), once the workers are done
for (let i = 0; i < 40; i++) {
  const [{ open }] =
    await sql`select count(*)::int as open from ops.jobs where status in ('queued', 'running', 'failed')`;
  if (open === 0) break;
  await new Promise((r) => setTimeout(r, 250));
}
console.log("\n▶ what the job engine did (select * from ops.pipeline_health)");
for (const h of await sql`select kind, queued, running, retrying, dead, succeeded from ops.pipeline_health`) {
  console.log(
    `  ${
      h.kind.padEnd(14)
    } succeeded ${h.succeeded}  queued ${h.queued}  running ${h.running}  retrying ${h.retrying}  dead ${h.dead}`,
  );
}
const captured =
  await sql`select operation, count(*)::int as n from ops.crm_capture group by operation order by operation`;
console.log(
  `  CRM calls captured locally (ops.crm_capture): ${
    captured.map((c) => `${c.operation} ${c.n}`).join(", ") || "none"
  }`,
);
await sql.end();

console.log("\n=== the stack keeps serving ===");
await printStatus();
console.log(
  `\nForward real test-mode events with:\n  stripe listen --forward-to ${config.functionUrl("stripe-webhook")}\n` +
    "and put the whsec_… it prints in STRIPE_WEBHOOK_SECRET (.env), then restart. Ctrl-C stops everything.\n",
);
