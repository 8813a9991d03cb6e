// The peer's side of the comparison: its own database on the stack's server, and its endpoint
// (peer-server.ts) in a child process of the bench, stopped by its pid when the section ends.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { config, ROOT } from "../lib/config.ts";
import type { BenchContext } from "./context.ts";
import { PEER_DATABASE } from "./cpu.ts";

export type Peer = { url: URL; pid: number; databaseUrl: string; stop: () => void };

/** A fresh database for the peer (dropped first), its migrations run, its endpoint listening. */
export async function startPeer(ctx: BenchContext): Promise<Peer> {
  await ctx.db.unsafe(`drop database if exists ${PEER_DATABASE} with (force)`);
  await ctx.db.unsafe(`create database ${PEER_DATABASE}`);
  const dbUrl = new URL(config.dbUrl);
  dbUrl.pathname = `/${PEER_DATABASE}`;
  const databaseUrl = dbUrl.href;
  const child = spawn(join(ROOT, "node_modules/.bin/tsx"), ["scripts/bench/peer-server.ts"], {
    cwd: ROOT,
    // its own process group, so stop() ends the tsx wrapper and its node child together
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PEER_DB_URL: databaseUrl, PEER_WEBHOOK_SECRET: config.stripeWebhookSecrets[0] },
  });
  const stop = () => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch { /* already gone */ }
  };
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the peer did not start within 60 s")), 60_000);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const port = (() => {
          try {
            return JSON.parse(line).port;
          } catch {
            return undefined;
          }
        })();
        if (typeof port === "number") {
          clearTimeout(timer);
          resolve(port);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(
          new Error(`the peer exited (${code}) before it listened: ${stderr.trim().split("\n").slice(-3).join(" | ")}`),
        );
      });
    });
    return { url: new URL(`http://127.0.0.1:${port}/stripe-webhook`), pid: child.pid!, databaseUrl, stop };
  } catch (err) {
    stop();
    throw err;
  }
}
