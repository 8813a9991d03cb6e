// The dashboard's manual overrides: each form is checked with zod, then one admin function runs AS the
// signed-in admin (it checks private.is_admin() again, changes the row and writes the ops.audit_log row
// in one transaction). The answer is the audit row's id; a refusal names what is wrong and changes nothing.
import type postgres from "postgres";
import { z } from "zod";
import { asUser } from "../_shared/auth/as-user.ts";
import { HttpError, raisedByUs } from "../_shared/http/error.ts";
import type { UserClaims } from "../_shared/http/user-jwt.ts";

const reason = z.string().trim().min(1, "a reason is required: say why (it is kept in the audit log)")
  .max(1000, "the reason is at most 1,000 characters");
const uuid = (what: string) => z.uuid(`${what} must be an id (a uuid)`);

/** Override durations the page offers, in hours (an override always expires). */
export const DURATIONS: [hours: number, label: string][] = [
  [1, "1 hour"],
  [24, "1 day"],
  [24 * 7, "7 days"],
  [24 * 30, "30 days"],
  [24 * 90, "90 days"],
];

const schemas = {
  "set-access": z.object({
    customer_id: uuid("customer_id"),
    access: z.enum(["granted", "blocked"], { error: "access must be granted or blocked" }),
    hours: z.coerce.number().int().min(1).max(24 * 366, "an override expires within a year"),
    reason,
  }),
  "clear-access": z.object({ customer_id: uuid("customer_id"), reason }),
  "resolve-review": z.object({
    order_id: uuid("order_id"),
    accept: z.enum(["true", "false"], { error: "accept must be true or false" }),
    reason,
  }),
  "replay-job": z.object({ job_id: z.string().regex(/^\d{1,18}$/, "job_id must be a job's number"), reason }),
  "replay-event": z.object({
    event_id: z.string().regex(/^evt_\w{1,200}$/, "event_id must be a Stripe event id (evt_...)"),
    reason,
  }),
  "escalate-ticket": z.object({
    ticket_id: uuid("ticket_id"),
    priority: z.string().max(40).optional().transform((v) => v || null),
    queue: z.string().max(40).optional().transform((v) => v || null),
    reason,
  }),
  "close-ticket": z.object({ ticket_id: uuid("ticket_id"), reason }),
  // an agent's answer (#20): emailed to the requester; the audit row says who answered
  "reply-ticket": z.object({
    ticket_id: uuid("ticket_id"),
    body: z.string().trim().min(1, "the reply is empty: write what the requester should read")
      .max(10_000, "the reply is at most 10,000 characters"),
  }),
};

export type ActionName = keyof typeof schemas;
export const isAction = (name: string): name is ActionName => Object.hasOwn(schemas, name);

function parse<N extends ActionName>(name: N, form: URLSearchParams): z.output<(typeof schemas)[N]> {
  const fields: Record<string, string> = {};
  for (const [k, v] of form) if (k !== "csrf") fields[k] = v;
  const parsed = schemas[name].safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `${issue.path.length ? `${issue.path.join(".")}: ` : ""}${issue.message}`);
  }
  return parsed.data as z.output<(typeof schemas)[N]>;
}

/** Runs one override; returns the id of the audit row it wrote. */
export async function runAction(sql: postgres.Sql, user: UserClaims, name: ActionName, form: URLSearchParams) {
  // deno-lint-ignore no-explicit-any
  const f = parse(name, form) as any;
  const rows = await asUser(sql, user, (tx) => {
    switch (name) {
      case "set-access":
        return tx`select ops.admin_set_access(${f.customer_id}, ${f.access}, ${f.reason},
                                              now() + make_interval(hours => ${f.hours}::int)) as audit_id`;
      case "clear-access":
        return tx`select ops.admin_clear_access_override(${f.customer_id}, ${f.reason}) as audit_id`;
      case "resolve-review":
        return tx`select ops.admin_resolve_order_review(${f.order_id}, ${
          f.accept === "true"
        }, ${f.reason}) as audit_id`;
      case "replay-job":
        return tx`select ops.admin_replay_job(${f.job_id}::bigint, ${f.reason}) as audit_id`;
      case "replay-event":
        return tx`select ops.admin_replay_stripe_event(${f.event_id}, ${f.reason}) as audit_id`;
      case "escalate-ticket":
        return tx`select ops.admin_escalate_ticket(${f.ticket_id}, ${f.priority}, ${f.queue}, ${f.reason}) as audit_id`;
      case "close-ticket":
        return tx`select ops.admin_close_ticket(${f.ticket_id}, ${f.reason}) as audit_id`;
      case "reply-ticket":
        return tx`select ops.admin_reply_to_ticket(${f.ticket_id}, ${f.body}) as audit_id`;
    }
  }).catch(refusal);
  return String((rows as unknown as { audit_id: string }[])[0].audit_id);
}

/** The database's refusals, as the status and sentence the admin reads: the admin functions' own
 * `raise` sentences ("a reason is required", "job 12 is not dead"), else a fixed one per status, never
 * Postgres's text (a cast or a constraint names tables, columns and values). Anything else stays a 5xx. */
const REFUSALS: Record<string, [status: number, otherwise: string]> = {
  "42501": [403, "admins only: sign in with an account whose app_metadata.role is admin"],
  "22023": [400, "a value in the form is not valid: check it and try again"], // invalid_parameter_value
  "22P02": [400, "a value in the form is not valid: check it and try again"],
  "P0002": [404, "that record no longer exists: reload the page"], // no_data_found
  "23514": [409, "not possible in the record's current state: reload the page"], // check_violation
  "55000": [409, "not possible in the record's current state: reload the page"], // object_not_in_prerequisite_state
};

export function refusal(err: unknown): never {
  const code = (err as { code?: string }).code;
  const known = code === undefined ? undefined : REFUSALS[code];
  if (known) throw new HttpError(known[0], raisedByUs(err) ?? known[1], { cause: err });
  if (code === "55P03" || code === "57014") {
    throw new HttpError(503, "the database is busy with this row: nothing changed, try again", { cause: err });
  }
  throw err;
}
