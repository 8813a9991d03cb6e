// A support request: validated, rate limited per user and per IP (in Postgres), then written AS THE
// USER (role authenticated with their claims, as PostgREST would), so RLS and column privileges
// decide; the database's triggers add queue, priority, tags and context the user cannot choose.
import type postgres from "postgres";
import { z } from "zod";
import { asUser } from "../_shared/auth/as-user.ts";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { parseJsonBody } from "../_shared/http/body.ts";
import { idempotencyKey, idempotencyKeyHeader, spendPerMinute, storable } from "../_shared/http/request-fields.ts";
import { clientAddress, trustedProxyHops } from "../_shared/http/client-address.ts";
import { databaseRefusal, type DatabaseRefusals, HttpError, raisedByUs } from "../_shared/http/error.ts";
import type { Reply } from "../_shared/http/serve.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { log } from "../_shared/log.ts";

/** Requests between the two parties of an order (#18): they name the order and go to seller_disputes. */
const BETWEEN_PARTIES = ["seller_problem", "buyer_problem"] as const;

export const requestSchema = z.object({
  category: z.enum(["billing", "order", "technical", "account", "other", ...BETWEEN_PARTIES], {
    error: "category must be one of billing, order, technical, account, other, seller_problem (a problem with " +
      "the seller of an order you bought), buyer_problem (a problem with the buyer of an order you sold)",
  }),
  subject: z.string().trim().min(1, "subject is required").max(200, "subject is at most 200 characters")
    .regex(...storable("subject")),
  message: z.string().trim().min(1, "message is required").max(10000, "message is at most 10,000 characters")
    .regex(...storable("message")),
  order_id: z.uuid("order_id must be an order's id (a uuid)").optional(),
  idempotency_key: idempotencyKey.optional(),
  follow_up_of: z.uuid("follow_up_of must be a ticket id (a uuid)").optional(),
}).strict().refine(
  (r) => !(BETWEEN_PARTIES as readonly string[]).includes(r.category) || r.order_id !== undefined,
  { path: ["order_id"], error: "order_id is required for seller_problem and buyer_problem: name the order" },
);

export type Limits = { perUserPerMinute: number; perIpPerMinute: number; proxyHops: number };

const limitsEnv = z.object({
  SUPPORT_RATE_PER_USER_PER_MIN: setting.int(5, 1, 100_000),
  SUPPORT_RATE_PER_IP_PER_MIN: setting.int(30, 1, 100_000),
});

export function limitsFrom(env: Env): Limits {
  const e = parseEnv(limitsEnv, env);
  return {
    perUserPerMinute: e.SUPPORT_RATE_PER_USER_PER_MIN,
    perIpPerMinute: e.SUPPORT_RATE_PER_IP_PER_MIN,
    proxyHops: trustedProxyHops(env),
  };
}

export function parseRequest(body: string) {
  return parseJsonBody(body, requestSchema, "{category, subject, message, order_id?, idempotency_key?, follow_up_of?}");
}

const REFUSALS: DatabaseRefusals = {
  data: "the request holds text or a value that cannot be stored: send plain text in subject and message",
  constraint: "the request was refused as it stands: check order_id and follow_up_of, then send it again",
  constraints: {
    support_tickets_requester_id_fkey: "your account no longer exists: sign in again",
    support_tickets_order_id_fkey: "order_id names no order: send one of your orders' ids, or none",
    support_tickets_follow_up_of_fkey: "follow_up_of names no ticket: send one of your closed tickets' ids, or none",
  },
};

/** The database's refusals as the caller reads them. Our own triggers raise 42501 with a sentence
 * written for the requester ("order ... is not one of your orders"); Postgres's own text (a policy, a
 * privilege, a constraint) names tables and is never echoed. */
function refusal(err: unknown): HttpError | undefined {
  if ((err as { code?: string })?.code === "42501") {
    return new HttpError(403, raisedByUs(err) ?? "this request is not allowed for your account", { cause: err });
  }
  // our trigger's "order ... does not exist" (a request between parties names an order that is not there)
  const missing = (err as { code?: string })?.code === "P0002" ? raisedByUs(err) : undefined;
  if (missing) return new HttpError(404, missing, { cause: err });
  return databaseRefusal(err, REFUSALS);
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
  // validated first: a client retrying a malformed request reads its 400, and spends no budget on it
  const input = parseRequest(body);
  const key = input.idempotency_key ?? idempotencyKeyHeader(req) ?? null;
  const tooMany = (what: string) => (seconds: number) => `too many support requests ${what}: retry in ${seconds} s`;
  await spendPerMinute(sql, `support:user:${user.sub}`, limits.perUserPerMinute, tooMany("from this account"));
  const address = clientAddress(req, limits.proxyHops);
  if (address !== null) {
    await spendPerMinute(sql, `support:ip:${address}`, limits.perIpPerMinute, tooMany("from this address"));
  } else log("warn", "support-intake", "no client address: only the per-user limit applied; check TRUSTED_PROXY_HOPS");
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
    throw refusal(err) ?? err;
  }
  const t = rows[0];
  if (!t) throw new HttpError(500, "the request was not recorded, retry");
  return {
    status: t.created ? 201 : 200,
    body: { ticket: { id: t.ticket_id, ref: t.ref, status: t.status, queue: t.queue }, created: t.created },
    log: { ticket: t.ref, created: t.created, user: user.sub },
  };
}
