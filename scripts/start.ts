// npm start: the local stack in the foreground, a short demo of signed Stripe events and what each
// did to the database, then it keeps serving (ready for `stripe listen --forward-to ...`) until Ctrl-C.
// The functions' JSON log lines go to the stack's log files, so the narrated demo reads on its own;
// `npm start -- --verbose` prints them here as well.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { config } from "./lib/config.ts";
import { connect } from "./lib/db.ts";
import { formatJourneySteps, runJourney } from "./demo/journey.ts";
import { runMarketplace } from "./demo/marketplace.ts";
import { type FakeStripe, startFakeStripe } from "../tests/fakes/stripe.ts";
import { formatJourney, journey } from "./ops/trace.ts";
import {
  log,
  paths,
  printStatus,
  seed,
  type ServiceName,
  servicePid,
  stackServices,
  startDatabase,
  startService,
  stopService,
  stopStack,
  waitHealthy,
} from "./stack/stack.ts";

const verbose = process.argv.includes("--verbose");

await startDatabase();
// checkout and seller-onboarding call Stripe's API: without a key of the founder's, the local stack plays
// Stripe with the tests' fake (tests/fakes/stripe.ts) for as long as npm start runs, so the marketplace demo
// runs end to end; a gateway started earlier without it starts again with it
let stripeFake: FakeStripe | undefined;
if (!config.env.STRIPE_SECRET_KEY) {
  stripeFake = await startFakeStripe({ port: config.functionsPortBase + 45 });
  process.env.STRIPE_SECRET_KEY = stripeFake.key;
  process.env.STRIPE_API_BASE = stripeFake.url;
  if (servicePid("gateway")) stopService("gateway");
  log(`no STRIPE_SECRET_KEY: Stripe's API is played by a local fake at ${stripeFake.url} while npm start runs`);
}
const children: ChildProcess[] = [];
for (const name of stackServices() as ServiceName[]) {
  const logFile = join(paths.logDir, `${name}.log`);
  if (!verbose) {
    if (!servicePid(name)) startService(name);
    log(`${name} logs to ${logFile}`);
  } else if (servicePid(name)) {
    log(`${name} already runs in the background; following its log`);
    children.push(spawn("tail", ["-n", "0", "-F", logFile], { stdio: "inherit" }));
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
console.log("\n=== demo: one customer's journey through the real webhook, workers and support-intake ===");
try {
  const { steps, email } = await runJourney(sql);
  console.log(formatJourneySteps(steps));
  console.log(
    `\n▶ ${email}'s timeline (npm run trace -- ${email}, or select * from ops.journey('${email}') in Studio)`,
  );
  console.log(formatJourney(email, await journey(sql, email)));
  if (stripeFake) {
    console.log("\n=== demo: the marketplace's money path on Stripe Connect (Stripe played by the local fake) ===");
    const market = await runMarketplace(sql, stripeFake);
    console.log(formatJourneySteps(market.steps));
  } else {
    console.log("\n(the marketplace demo runs when no STRIPE_SECRET_KEY is set: it plays Stripe with a local fake)");
  }
  console.log("\n▶ what the job engine did (select * from ops.pipeline_health)");
  for (const h of await sql`select kind, queued, running, retrying, dead, succeeded from ops.pipeline_health`) {
    console.log(
      `  ${
        h.kind.padEnd(14)
      } succeeded ${h.succeeded}  queued ${h.queued}  running ${h.running}  retrying ${h.retrying}  dead ${h.dead}`,
    );
  }
  console.log("\n▶ open incidents (ops.alert_incidents; pg_cron evaluates ops.alert_rules every minute)");
  const incidents =
    await sql`select rule, summary, opened_at from ops.alert_incidents where status = 'open' order by opened_at`;
  if (incidents.length === 0) console.log("  none");
  for (const i of incidents) console.log(`  ${i.rule}: ${i.summary} (since ${i.opened_at.toISOString()})`);
} catch (err) {
  console.error(`\ndemo failed: ${(err as Error).message}\n(the stack keeps running: see ${paths.logDir})`);
}
await sql.end();

console.log("\n=== the stack keeps serving ===");
await printStatus();
console.log(
  `\nForward real test-mode events with:\n  stripe listen --forward-to ${config.functionUrl("stripe-webhook")} \\\n` +
    `    --forward-connect-to ${config.functionUrl("stripe-webhook")}/connect\n` +
    "and put the whsec_… it prints in STRIPE_WEBHOOK_SECRET and STRIPE_CONNECT_WEBHOOK_SECRET (.env), then\n" +
    "restart.\n" +
    `The founder dashboard: ${config.functionUrl("dashboard")} (sign in with the token that\n` +
    "npm run dashboard:token -- <email> prints). Ctrl-C stops everything.\n" +
    (verbose
      ? ""
      : `The functions' log lines: tail -f ${join(paths.logDir, "gateway.log")} (or npm start -- --verbose)\n`),
);
// detached services keep no handle open: hold the process until Ctrl-C stops the stack
if (!verbose) setInterval(() => {}, 1 << 30);
