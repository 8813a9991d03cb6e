// CORS for browser apps: only the configured origins (a setting such as SUPPORT_ALLOWED_ORIGINS,
// comma-separated) get the Access-Control headers; a request from another origin is refused before
// anything runs. Requests without an Origin (servers, mobile apps, tests) are not browsers' and pass.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { json } from "./error.ts";

const ALLOWED_HEADERS =
  "authorization, apikey, content-type, x-client-info, x-app-version, x-device, idempotency-key, x-request-id";

export type AllowedOrigins = { setting: string; origins: Set<string> };

/** The origins the setting `name` lists (else those of `fallback`, when given and `name` is unset). */
export function allowedOrigins(env: Env, name: string, fallback?: string): AllowedOrigins {
  const read = (n: string) => parseEnv(z.object({ [n]: setting.list() }), env)[n] as string[];
  let origins = read(name);
  if (origins.length === 0 && fallback) origins = read(fallback);
  return { setting: name, origins: new Set(origins.map((o) => o.replace(/\/$/, ""))) };
}

export function withCors(allowed: AllowedOrigins, inner: (req: Request) => Promise<Response>) {
  return async (req: Request): Promise<Response> => {
    const origin = req.headers.get("origin");
    if (origin !== null && !allowed.origins.has(origin)) {
      return json(403, {
        error: `origin ${origin.slice(0, 100)} may not call this function: add it to ${allowed.setting}`,
      });
    }
    const cors: Record<string, string> = origin === null ? {} : {
      "access-control-allow-origin": origin,
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-allow-methods": "POST, OPTIONS",
      "access-control-expose-headers": "retry-after, server-timing, x-request-id",
      "access-control-max-age": "600",
      vary: "Origin",
    };
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: cors });
    const res = await inner(req);
    for (const [k, v] of Object.entries(cors)) res.headers.set(k, v);
    return res;
  };
}
