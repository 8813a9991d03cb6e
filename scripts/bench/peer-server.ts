// The peer the bench compares ingestion with: @supabase/stripe-sync-engine's processWebhook(rawBody,
// signature) behind a bare node:http endpoint, in its own process (as ours runs in its own), writing to
// its own database. Started by sections/peer.ts; prints one line `{"port":N}` once it listens.
//
// Env: PEER_DB_URL (its database), PEER_WEBHOOK_SECRET (the secret the bench signs with),
//      PEER_SCHEMA (default "stripe"), PEER_POOL_MAX (default: the engine's own, 10).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { z } from "zod";
import { parseEnv, setting } from "../../supabase/functions/_shared/config/env.ts";

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

const peer = parseEnv(
  z.object({
    PEER_DB_URL: setting.required(),
    PEER_WEBHOOK_SECRET: setting.required(),
    PEER_SCHEMA: setting.text("stripe"),
    PEER_POOL_MAX: setting.int(0, 0, 1_000), // 0: the engine's own default
  }),
  process.env,
);
const { PEER_DB_URL: databaseUrl, PEER_WEBHOOK_SECRET: secret, PEER_SCHEMA: schema } = peer;

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
  ...(peer.PEER_POOL_MAX ? { maxPostgresConnections: peer.PEER_POOL_MAX } : {}),
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
