// CORS for browser apps: only the configured origins (SUPPORT_ALLOWED_ORIGINS, comma-separated) get
// the Access-Control headers; a request from another origin is refused before anything runs.
// Requests without an Origin (servers, mobile apps, tests) are not browsers' and pass.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { json } from "../_shared/http/error.ts";

const ALLOWED_HEADERS = "authorization, apikey, content-type, x-client-info, x-app-version, x-device, idempotency-key";

const originsEnv = z.object({ SUPPORT_ALLOWED_ORIGINS: setting.list() });

export function allowedOrigins(env: Env): Set<string> {
  return new Set(parseEnv(originsEnv, env).SUPPORT_ALLOWED_ORIGINS.map((o) => o.replace(/\/$/, "")));
}

export function withCors(origins: Set<string>, inner: (req: Request) => Promise<Response>) {
  return async (req: Request): Promise<Response> => {
    const origin = req.headers.get("origin");
    if (origin !== null && !origins.has(origin)) {
      return json(403, {
        error: `origin ${origin.slice(0, 100)} may not call this function: add it to SUPPORT_ALLOWED_ORIGINS`,
      });
    }
    const cors: Record<string, string> = origin === null ? {} : {
      "access-control-allow-origin": origin,
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-max-age": "600",
      vary: "Origin",
    };
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const res = await inner(req);
    for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
    return res;
  };
}
