// A support request: validated, rate limited per user and per IP (in Postgres), then written AS THE
// USER (role authenticated with their claims, as PostgREST would), so RLS and column privileges
// decide; the database's triggers add queue, priority, tags and context the user cannot choose.
import type postgres from "postgres";
import { z } from "zod";
import { asUser } from "../_shared/auth/as-user.ts";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { parseJsonBody } from "../_shared/http/body.ts";
import { HttpError } from "../_shared/http/error.ts";
import type { Reply } from "../_shared/http/serve.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { takeRateTokens } from "../_shared/providers/rate-budget.ts";

export const requestSchema = z.object({
  category: z.enum(["billing", "order", "technical", "account", "other"], {
    error: "category must be one of billing, order, technical, account, other",
  }),
  subject: z.string().trim().min(1, "subject is required").max(200, "subject is at most 200 characters"),
  message: z.string().trim().min(1, "message is required").max(10000, "message is at most 10,000 characters"),
  order_id: z.uuid("order_id must be an order's id (a uuid)").optional(),
  idempotency_key: z.string().min(1).max(200, "idempotency_key is at most 200 characters").optional(),
  follow_up_of: z.uuid("follow_up_of must be a ticket id (a uuid)").optional(),
}).strict();

export type Limits = { perUserPerMinute: number; perIpPerMinute: number };

const limitsEnv = z.object({
  SUPPORT_RATE_PER_USER_PER_MIN: setting.int(5, 1, 100_000),
  SUPPORT_RATE_PER_IP_PER_MIN: setting.int(30, 1, 100_000),
});

export function limitsFrom(env: Env): Limits {
  const e = parseEnv(limitsEnv, env);
  return { perUserPerMinute: e.SUPPORT_RATE_PER_USER_PER_MIN, perIpPerMinute: e.SUPPORT_RATE_PER_IP_PER_MIN };
}

export function parseRequest(body: string) {
  return parseJsonBody(body, requestSchema, "{category, subject, message, order_id?, idempotency_key?, follow_up_of?}");
}

/** The caller's address: the CDN's, else the first X-Forwarded-For hop. */
export function clientIp(req: Request): string {
  return req.headers.get("cf-connecting-ip") ?? req.headers.get("x-forwarded-for")?.split(",")[0].trim() ?? "unknown";
}

async function takeToken(sql: postgres.Sql, bucket: string, perMinute: number, what: string) {
  const wait = await takeRateTokens(sql, { bucket, capacity: perMinute, windowMs: 60_000 }, 1);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new HttpError(429, `too many support requests ${what}: retry in ${seconds} s`, {
      headers: { "retry-after": String(seconds) },
    });
  }
}

type Row = { ticket_id: string; ref: string; status: string; queue: string; created: boolean };

export async function submit(
  sql: postgres.Sql,
  req: Request,
  body: string,
  user: UserClaims,
  limits: Limits,
): Promise<Reply> {
  if (user.is_anonymous) {
    throw new HttpError(403, "anonymous sessions cannot open support requests: sign in with an email first");
  }
  await takeToken(sql, `support:user:${user.sub}`, limits.perUserPerMinute, "from this account");
  await takeToken(sql, `support:ip:${clientIp(req)}`, limits.perIpPerMinute, "from this address");
  const input = parseRequest(body);
  const key = input.idempotency_key ?? req.headers.get("idempotency-key") ?? null;
  const client = {
    app_version: req.headers.get("x-app-version")?.slice(0, 50) ?? null,
    device: (req.headers.get("x-device") ?? req.headers.get("user-agent"))?.slice(0, 200) ?? null,
    client_info: req.headers.get("x-client-info")?.slice(0, 100) ?? null,
  };
  let rows: Row[];
  try {
    rows = await asUser(sql, user, (tx) =>
      tx<Row[]>`
        select * from public.submit_support_request(${input.category}, ${input.subject}, ${input.message},
          ${input.order_id ?? null}, ${key}, ${tx.json(client)}, ${input.follow_up_of ?? null})`);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // the database's refusals name what is wrong with the request (never another user's data)
    if (e.code === "42501") throw new HttpError(403, e.message ?? "not allowed");
    if (e.code === "23514" || e.code === "22001" || e.code === "23503") {
      throw new HttpError(400, e.message ?? "invalid request");
    }
    throw err;
  }
  const t = rows[0];
  if (!t) throw new HttpError(500, "the request was not recorded, retry");
  return {
    status: t.created ? 201 : 200,
    body: { ticket: { id: t.ticket_id, ref: t.ref, status: t.status, queue: t.queue }, created: t.created },
    log: { ticket: t.ref, created: t.created, user: user.sub },
  };
}
