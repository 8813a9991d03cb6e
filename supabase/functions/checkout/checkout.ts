// A buyer's checkout: validated, rate limited per user, then in one transaction the request for (user, key)
// is found or made after the refusal checks (ops.checkout_begin) and the pending order is written AS THE
// BUYER (role authenticated with their claims: RLS, column grants and the price trigger decide). Only then
// Stripe: the buyer's customer (found by the linking rules, else created and registered) and a Checkout
// Session under an idempotency key derived from the order, so a retry after a lost answer gets the same one.
import type postgres from "postgres";
import type Stripe from "stripe";
import { z } from "zod";
import { databaseRefusal, type DatabaseRefusals, HttpError, raisedByUs } from "../_shared/http/error.ts";
import { parseJsonBody } from "../_shared/http/body.ts";
import { requestIdSetting } from "../_shared/http/request-id.ts";
import { idempotencyKey, idempotencyKeyHeader, spendPerMinute } from "../_shared/http/request-fields.ts";
import type { Reply } from "../_shared/http/serve.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";
import { log } from "../_shared/log.ts";
import type { CheckoutSettings } from "./settings.ts";
import { createCustomer, createSession, StripeClock } from "./stripe.ts";

const returnUrl = (field: string) => z.string().max(2000, `${field} is at most 2,000 characters`);

export const requestSchema = z.object({
  listing_id: z.uuid("listing_id must be a listing's id (a uuid)").optional(),
  quantity: z.int("quantity must be a whole number from 1 to 100").min(1, "quantity must be at least 1")
    .max(100, "quantity is at most 100").optional(),
  plan_id: z.uuid("plan_id must be a plan's id (a uuid)").optional(),
  idempotency_key: idempotencyKey.optional(),
  success_url: returnUrl("success_url").optional(),
  cancel_url: returnUrl("cancel_url").optional(),
}).strict()
  .refine((b) => (b.listing_id === undefined) !== (b.plan_id === undefined), {
    message: "listing_id (an order) or plan_id (a subscription) is required, not both",
    path: ["listing_id"],
  })
  .refine((b) => b.plan_id === undefined || b.quantity === undefined, {
    message: "quantity applies to listings only: leave it out with plan_id",
    path: ["quantity"],
  });

const SHAPE = "{listing_id, quantity?, idempotency_key, success_url?, cancel_url?} or {plan_id, idempotency_key, ...}";

/** What ops.checkout_begin answers. */
const begun = z.object({
  request_id: z.uuid(),
  created: z.boolean(),
  kind: z.enum(["order", "subscription"]),
  order_id: z.uuid().nullable(),
  listing_title: z.string().nullable(),
  order: z.object({ amount_total: z.number().int(), currency: z.string(), quantity: z.number().int() }).nullable(),
  plan: z.object({ id: z.uuid(), name: z.string(), stripe_price_id: z.string() }).nullable(),
  stripe_customer_id: z.string().nullable(),
  email: z.string().nullable(),
  /** with ops.settings.connect_enabled: the seller's connected account and the platform's fee (minor units) */
  connect: z.object({ destination: z.string().nullable(), application_fee_amount: z.number().int().min(0) })
    .nullish(),
  session_params: z.record(z.string(), z.unknown()).nullable(),
  session_id: z.string().nullable(),
  url: z.string().nullable(),
  expires_at: z.string().nullable(),
});
type Begun = z.output<typeof begun>;

/** What ops.checkout_prepare_session answers: the parameters to send, or the session already recorded. */
const preparedSchema = z.object({
  params: z.record(z.string(), z.unknown()),
  session_id: z.string().nullable(),
  url: z.string().nullable(),
  expires_at: z.string().nullable(),
});

/** One of the allowed URLs (the first when the app names none); never a URL the app made up. */
function pickUrl(asked: string | undefined, allowed: string[], field: string): string {
  if (asked === undefined) return allowed[0];
  if (allowed.includes(asked)) return asked;
  throw new HttpError(400, `${field} must be one of the allowed return URLs (the deployment's settings), or left out`);
}

const REFUSALS: DatabaseRefusals = {
  data: "the request holds a value that cannot be stored: check listing_id, quantity and idempotency_key",
  constraint: "the listing cannot be bought as asked: reload it and try again with a new idempotency_key",
  constraints: { orders_buyer_id_fkey: "your account no longer exists: sign in again" },
};

/** The database's refusals as the buyer reads them: ours (SQLSTATE CK<status>, raised with a sentence), the
 * Stripe mode check (a deployment error: 503), RLS (403); never Postgres's own text. */
function refusal(err: unknown): HttpError | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^CK\d{3}$/.test(code)) {
    return new HttpError(Number(code.slice(2)), raisedByUs(err) ?? "this checkout is refused", {
      cause: err,
      reason: "refused",
    });
  }
  if (code === "55000") {
    log("error", "checkout", raisedByUs(err) ?? "Stripe scope mismatch");
    return new HttpError(
      503,
      "checkout is not available: the server's Stripe key and this deployment's Stripe mode " +
        "disagree (see the function's log)",
      { cause: err, reason: "configuration" },
    );
  }
  if (code === "42501") {
    return new HttpError(403, raisedByUs(err) ?? "this checkout is not allowed for your account", { cause: err });
  }
  return databaseRefusal(err, REFUSALS);
}

/** Connect (#18): a destination charge to the seller's connected account, the platform keeping its fee
 * (ops.platform_fee). No on_behalf_of: the platform stays the settlement merchant (its statement descriptor,
 * its country's pricing; sellers in the platform's region), see docs/architecture.md. */
function destinationCharge(b: Begun) {
  if (!b.connect) return {};
  if (!b.connect.destination) {
    // ops.checkout_begin refuses a seller without an account that accepts charges: this is a bug, not a buyer's error
    throw new Error("checkout: Connect is on but the seller has no connected account");
  }
  return {
    application_fee_amount: b.connect.application_fee_amount,
    transfer_data: { destination: b.connect.destination },
  };
}

/** The session's parameters, built once per request and stored: a retry sends the very same ones. */
function sessionParams(b: Begun, user: string, customer: string, success: string, cancel: string) {
  const common = { customer, success_url: success, cancel_url: cancel };
  if (b.kind === "subscription") {
    const plan = b.plan!;
    return {
      ...common,
      mode: "subscription",
      // a session the server created: its client_reference_id names the user (the linking rules)
      client_reference_id: user,
      metadata: { user_id: user, plan_id: plan.id, checkout_request_id: b.request_id },
      subscription_data: { metadata: { user_id: user, plan_id: plan.id } },
      line_items: [{ price: plan.stripe_price_id, quantity: 1 }],
    };
  }
  const o = b.order!;
  return {
    ...common,
    mode: "payment",
    client_reference_id: b.order_id,
    metadata: { order_id: b.order_id, user_id: user },
    payment_intent_data: { metadata: { order_id: b.order_id, user_id: user }, ...destinationCharge(b) },
    line_items: [{
      quantity: o.quantity,
      price_data: {
        currency: o.currency,
        unit_amount: Math.round(o.amount_total / o.quantity),
        product_data: { name: b.listing_title ?? "Order", metadata: { order_id: b.order_id } },
      },
    }],
  };
}

export type Checkout = { sql: postgres.Sql; stripe: Stripe; settings: CheckoutSettings };

export async function checkout(c: Checkout, req: Request, body: string, user: UserClaims): Promise<Reply> {
  if (user.is_anonymous) {
    throw new HttpError(403, "anonymous sessions cannot check out: sign in with an email first");
  }
  // validated first: a malformed request reads its 400 and spends no budget
  const input = parseJsonBody(body, requestSchema, SHAPE);
  const fromHeader = idempotencyKeyHeader(req);
  if (input.idempotency_key && fromHeader && input.idempotency_key !== fromHeader) {
    throw new HttpError(400, "idempotency_key and the Idempotency-Key header differ: send one key");
  }
  const key = input.idempotency_key ?? fromHeader;
  if (!key) {
    throw new HttpError(400, "idempotency_key is required (or the Idempotency-Key header): one per checkout attempt");
  }
  const s = c.settings;
  const success = pickUrl(input.success_url, s.successUrls, "success_url");
  const cancel = pickUrl(input.cancel_url, s.cancelUrls, "cancel_url");
  const kind = input.listing_id ? "order" : "subscription";
  const target = input.listing_id ?? input.plan_id!;
  const quantity = kind === "order" ? input.quantity ?? 1 : null;

  await spendPerMinute(
    c.sql,
    `checkout:user:${user.sub}`,
    s.perUserPerMinute,
    (seconds) => `too many checkouts from this account: retry in ${seconds} s`,
  );

  const fingerprint = JSON.stringify([kind, target, quantity, success, cancel]);
  let b: Begun;
  try {
    b = await c.sql.begin(async (tx) => {
      // one round trip: the door runs as checkout (its execute privilege is checked before the select
      // list is evaluated, left to right), then the transaction becomes the buyer (role authenticated with
      // their claims, as PostgREST): all that runs next as them is their own order insert. The request's id
      // (x-request-id) goes first: the checkout request and anything the order enqueues carry it
      const [{ r }] = await tx<{ r: unknown }[]>`
        select set_config('backbone.request_id', ${requestIdSetting()}, true),
               ops.checkout_begin(${user.sub}, ${key}, ${kind}, ${target}, ${quantity}, ${fingerprint},
                                  ${s.livemode}, ${s.accountId}) as r,
               set_config('request.jwt.claims', ${JSON.stringify(user)}, true),
               set_config('role', 'authenticated', true)`;
      const b = begun.parse(r);
      if (b.kind === "order" && b.order_id === null) {
        // the order is the buyer's own write: RLS, column grants, the listing's price and currency; the
        // privileges are checked before the row is returned, and only then is the role reset to checkout
        const [o] = await tx<{ id: string; amount_total: number; currency: string; quantity: number }[]>`
          with o as (
            insert into public.orders (listing_id, quantity) values (${target}, ${quantity})
            returning id, amount_total, currency, quantity)
          select o.*, set_config('role', 'none', true) from o`;
        await tx`select ops.checkout_set_order(${b.request_id}, ${o.id})`;
        b.order_id = o.id;
        b.order = { amount_total: Number(o.amount_total), currency: o.currency, quantity: o.quantity };
      }
      return b;
    }) as Begun;
  } catch (err) {
    throw refusal(err) ?? err;
  }

  const answer = (url: string, expiresAt: string | null, clock?: StripeClock): Reply => ({
    status: b.created ? 201 : 200,
    body: {
      ...(b.kind === "order" ? { order_id: b.order_id } : { plan_id: b.plan!.id }),
      url,
      expires_at: expiresAt,
    },
    headers: { "server-timing": `stripe;dur=${(clock?.ms ?? 0).toFixed(1)}` },
    log: { request: b.request_id, order: b.order_id, user: user.sub, created: b.created },
  });

  if (b.session_id && b.url) {
    if (b.expires_at && Date.parse(b.expires_at) <= Date.now()) {
      throw new HttpError(410, "this checkout has expired: start a new one with a new idempotency_key");
    }
    return answer(b.url, b.expires_at);
  }

  const clock = new StripeClock();
  const customer = b.stripe_customer_id ?? await createCustomer(c.stripe, clock, s.key, user.sub, b.email);
  const [{ p }] = await c.sql<{ p: unknown }[]>`
    select ops.checkout_prepare_session(${b.request_id}, ${customer},
      ${c.sql.json((b.session_params ?? sessionParams(b, user.sub, customer, success, cancel)) as never)}) as p`;
  const prepared = preparedSchema.parse(p);
  // a double tap's other call recorded the session meanwhile: it is this request's answer too
  if (prepared.session_id && prepared.url) return answer(prepared.url, prepared.expires_at, clock);
  const idem = b.kind === "order"
    ? `backbone-checkout:order:${b.order_id}`
    : `backbone-checkout:request:${b.request_id}`;
  let session;
  try {
    session = await createSession(
      c.stripe,
      clock,
      s.key,
      prepared.params as unknown as Stripe.Checkout.SessionCreateParams,
      idem,
    );
  } catch (err) {
    await c.sql`select ops.checkout_finish(${b.request_id}, null, null, null, ${(err as Error).message})`;
    throw err;
  }
  await c.sql`select ops.checkout_finish(${b.request_id}, ${session.id}, ${session.url}, ${session.expiresAt}, null)`;
  return answer(session.url, session.expiresAt, clock);
}
