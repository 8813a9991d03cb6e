// The caller's network address, for per-address rate limits: taken only from the hops our own proxies
// wrote. Each proxy appends the address it was connected from to X-Forwarded-For, so the last
// TRUSTED_PROXY_HOPS entries are the platform's and everything to their left, like cf-connecting-ip or
// x-real-ip sent to the function, is whatever the client chose to write.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";

/** How many proxies in front of the function append to X-Forwarded-For. Hosted Supabase: 1 (its API
 * gateway appends the address that connected to it; see docs/architecture.md, Support desk). */
const addressEnv = z.object({ TRUSTED_PROXY_HOPS: setting.int(1, 1, 10) });

export function trustedProxyHops(env: Env): number {
  return parseEnv(addressEnv, env).TRUSTED_PROXY_HOPS;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^(?=.*:)[0-9a-f:.]{2,45}$/i;

/** The address the first trusted proxy saw, or null when the header holds fewer hops than trusted (or
 * no address there): then no address is known, and no bucket is shared by every such request. */
export function clientAddress(req: Request, hops: number): string | null {
  const chain = (req.headers.get("x-forwarded-for") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (chain.length < hops) return null;
  const address = chain[chain.length - hops].replace(/^::ffff:(?=\d+\.)/i, "").toLowerCase();
  return IPV4.test(address) || IPV6.test(address) ? address : null;
}
