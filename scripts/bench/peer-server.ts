// The peer the bench compares ingestion with: @supabase/stripe-sync-engine's processWebhook(rawBody,
// signature) behind a bare node:http endpoint, in its own process (as ours runs in its own), writing to
// its own database. Started by sections/peer.ts; prints one line `{"port":N}` once it listens.
//
// Env: PEER_DB_URL (its database), PEER_WEBHOOK_SECRET (the secret the bench signs with),
//      PEER_SCHEMA (default "stripe"), PEER_POOL_MAX (default: the engine's own, 10).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";

type Logger = { info: (...a: unknown[]) => void; warn: (...a: unknown[]) => void; error: (...a: unknown[]) => void };
type PeerModule = {
  StripeSync: new (
    config: Record<string, unknown>,
  ) => { processWebhook(body: Buffer, signature: string): Promise<void> };
  runMigrations: (config: { databaseUrl: string; schema: string; logger?: Logger }) => Promise<void>;
};

// its ESM build does not load (extensionless relative imports): the CJS build does
const require = createRequire(import.meta.url);
const { StripeSync, runMigrations } = require("@supabase/stripe-sync-engine") as PeerModule;

const databaseUrl = process.env.PEER_DB_URL;
const secret = process.env.PEER_WEBHOOK_SECRET;
if (!databaseUrl || !secret) throw new Error("PEER_DB_URL and PEER_WEBHOOK_SECRET are required");
const schema = process.env.PEER_SCHEMA || "stripe";

// runMigrations logs its errors instead of throwing them: collect them and fail
const errors: unknown[] = [];
const quiet = () => {};
await runMigrations({
  databaseUrl,
  schema,
  logger: { info: quiet, warn: quiet, error: (e: unknown) => errors.push(e) },
});
if (errors.length) {
  throw new Error(`the peer's migrations failed: ${String((errors[0] as Error)?.message ?? errors[0])}`);
}

const sync = new StripeSync({
  databaseUrl,
  schema,
  stripeWebhookSecret: secret,
  // never called: customer.* events are applied from the payload (no revalidateObjectsViaStripeApi)
  stripeSecretKey: "sk_test_bench_peer_never_calls_stripe",
  ...(process.env.PEER_POOL_MAX ? { maxPostgresConnections: Number(process.env.PEER_POOL_MAX) } : {}),
});

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    let status = 200;
    let body = '{"received":true}';
    try {
      await sync.processWebhook(Buffer.concat(chunks), String(req.headers["stripe-signature"] ?? ""));
    } catch (err) {
      const signature = /signature|timestamp/i.test((err as Error).message);
      status = signature ? 400 : 500;
      body = JSON.stringify({ error: signature ? "invalid signature" : (err as Error).message.slice(0, 200) });
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
