// health: GET, no auth, for any uptime monitor: { status: ok | degraded | down, reasons, checks } with 200
// (ok, degraded) or 503 (down: the database is unreachable). Counts and ages only, never personal data;
// cached for HEALTH_CACHE_SECONDS (5) so a flood of requests costs one query per window.
import { z } from "zod";
import { denoEnv, parseEnv, setting } from "../_shared/config/env.ts";
import { connect } from "../_shared/db.ts";
import { handle } from "../_shared/http/serve.ts";
import { log } from "../_shared/log.ts";
import { cached, classify, down, type Snapshot } from "./status.ts";

const { HEALTH_CACHE_SECONDS } = parseEnv(z.object({ HEALTH_CACHE_SECONDS: setting.int(5, 0, 60) }), denoEnv());
// its own narrow role: one door, ops.health_snapshot(); a small pool, as answers are cached
const sql = connect("HEALTH_DB_URL", 2);

const check = cached(HEALTH_CACHE_SECONDS * 1000, async () => {
  try {
    const [row] = await sql<{ s: Snapshot }[]>`select ops.health_snapshot() as s`;
    return classify(row.s, new Date());
  } catch (err) {
    log("error", "health", "database unreachable", {
      cause: (err as Error)?.name,
      code: (err as { code?: string }).code,
    });
    return down(new Date());
  }
});

Deno.serve(handle("health", async () => {
  const health = await check();
  return {
    status: health.status === "down" ? 503 : 200,
    body: health,
    // the function caches; a proxy in front must not serve an old answer to a monitor
    headers: { "cache-control": "no-store" },
    log: { health: health.status },
  };
}, { methods: ["GET"], maxBodyBytes: 1024 }));
