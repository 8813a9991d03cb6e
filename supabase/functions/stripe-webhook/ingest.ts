// Hands verified Stripe events to the database, which records each once and applies it: by group commit
// (group-commit.ts), so events that arrive together share one transaction and each keeps its own answer.
import type postgres from "postgres";
import { z } from "zod";
import { type Env, parseEnv, setting } from "../_shared/config/env.ts";
import { HttpError } from "../_shared/http/error.ts";
import { log } from "../_shared/log.ts";
import type { Scope } from "../_shared/stripe/scope.ts";
import { GroupCommit, GroupCommitError, type GroupCommitOptions } from "./group-commit.ts";
import { SIGNED_PAYLOAD } from "./signature.ts";

export type IngestResult = { event_id: string; status: string; duplicate: boolean; reason?: string };
/** One element of ops.ingest_stripe_events' answer. */
type Outcome = IngestResult | { invalid: string } | { unavailable: string };
/** `body`: the raw body of an event verifyStripeEvent accepted (NUL escapes replaced). Postgres parses it once,
 * instead of the function serializing the event it has just parsed (same JSON, Stripe's numbers as sent). */
type Item = { body: string; sanitized: boolean };

/** STRIPE_WEBHOOK_BATCH_MAX: the most events in one transaction (1: one transaction per event, no group
 * commit). A batch is what queued while the transactions in flight ran, so under load it is about (requests
 * in flight) / (transactions in flight); the bound only caps a burst's statement and its locks.
 * STRIPE_WEBHOOK_BATCHES_IN_FLIGHT: transactions at once per function instance. A request that finds fewer
 * running starts its own at once (no wait when idle); the others wait for one to end (a few ms). */
const groupCommitEnv = z.object({
  STRIPE_WEBHOOK_BATCH_MAX: setting.int(64, 1, 1000),
  STRIPE_WEBHOOK_BATCHES_IN_FLIGHT: setting.int(1, 1, 8),
});

export function groupCommitOptions(env: Env) {
  const e = parseEnv(groupCommitEnv, env);
  return { maxBatch: e.STRIPE_WEBHOOK_BATCH_MAX, maxInFlight: e.STRIPE_WEBHOOK_BATCHES_IN_FLIGHT };
}

/** A batch's bodies together (characters): Stripe's events are a few KB, a body may be up to 1 MiB; a few large
 * ones go in batches of their own rather than make one statement of tens of MB in the function's memory. */
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

export type Ingest = GroupCommit<Item, Outcome>;

/** `scope`: this deployment's mode and account, which ops.settings must match. */
export function groupCommit(sql: postgres.Sql, scope: Scope, options: GroupCommitOptions): Ingest {
  return new GroupCommit<Item, Outcome>(async (items) => {
    // array literals in text parameters: jsonb ones would be serialized by postgres.js (a JSON string of each
    // body), and its arrays go wrong unprepared
    const bodies = `{${items.map((i) => `"${i.body.replace(/[\\"]/g, "\\$&")}"`).join(",")}}`;
    const sanitized = `{${items.map((i) => i.sanitized ? "t" : "f").join(",")}}`;
    if (oneByOne) return await ingestOneByOne(sql, scope, items);
    try {
      const [row] = await sql`select ops.ingest_stripe_events(${bodies}::text::text[], ${sanitized}::text::boolean[],
        p_livemode => ${scope.livemode}::boolean, p_account_id => ${scope.accountId}::text) as results`;
      return row.results as Outcome[];
    } catch (err) {
      // deployed before `supabase db push` (a database of 0.5.0 has no ops.ingest_stripe_events, 42883):
      // one event per transaction, as 0.5.0 did, until this instance ends
      if ((err as { code?: string }).code !== "42883") throw err;
      log(
        "warn",
        "stripe-webhook",
        "ops.ingest_stripe_events is missing: one event per transaction until the " +
          "migrations run (supabase db push)",
      );
      oneByOne = true;
      return await ingestOneByOne(sql, scope, items);
    }
  }, { ...options, size: (i: Item) => i.body.length, maxSize: MAX_BATCH_CHARS });
}

let oneByOne = false;

/** 0.5.0's path, for a database not yet migrated: each event its own transaction through ops.ingest_stripe_event;
 * its refusals become the outcomes the batch function gives (a configuration mismatch still fails them all). */
async function ingestOneByOne(sql: postgres.Sql, scope: Scope, items: Item[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const item of items) {
    try {
      const [row] = await sql`select ops.ingest_stripe_event(${item.body}::text::jsonb,
        p_livemode => ${scope.livemode}::boolean, p_account_id => ${scope.accountId}::text,
        p_sanitized => ${item.sanitized}::boolean) as result`;
      out.push(row.result as IngestResult);
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (code === "55000") throw err;
      out.push(code.startsWith("22") ? { invalid: code } : { unavailable: code });
    }
  }
  return out;
}

/** Records one event through the group commit; answers once the transaction holding its ledger row
 * committed. Throws the HttpError its request must answer otherwise. */
export async function ingestStripeEvent(
  ingest: Ingest,
  body: string,
  sanitized: boolean,
): Promise<IngestResult & { batch: number }> {
  let out: Outcome & { batch: number };
  try {
    out = await ingest.submit({ body, sanitized });
  } catch (err) {
    const batch = err instanceof GroupCommitError ? err.batch : 1;
    const cause = err instanceof GroupCommitError ? err.cause : err;
    const code = (cause as { code?: string }).code ?? "";
    // STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID disagree with ops.settings (or its row is gone): nothing is
    // recorded, and Stripe delivers again once someone fixes the configuration
    if (code === "55000") {
      throw new HttpError(
        503,
        "configuration: this webhook's STRIPE_LIVEMODE / STRIPE_ACCOUNT_ID and the database's ops.settings disagree",
        { cause, reason: "configuration" },
      );
    }
    // the batch's transaction did not commit: nothing of it is recorded, each of its requests gets this,
    // and Stripe will deliver them again
    throw new HttpError(503, "could not record the event, retry later", {
      cause,
      reason: "unavailable",
      headers: { "x-ingest-batch": String(batch) },
    });
  }
  // the body is no storable event (invalid characters or values): redelivery cannot help. The event was
  // signed: a failure of Stripe's event or of ours (webhook_failure_rate), not a stranger's refusal
  if ("invalid" in out) {
    throw new HttpError(400, "event payload cannot be stored (invalid characters or values)", {
      cause: { code: out.invalid },
      ...SIGNED_PAYLOAD,
    });
  }
  // a passing condition while applying this event (a lock timeout, a deadlock): its apply was rolled back
  // and it is not recorded; the others of its batch are
  if ("unavailable" in out) {
    throw new HttpError(503, "could not record the event, retry later", {
      cause: { code: out.unavailable },
      reason: "unavailable",
      headers: { "x-ingest-batch": String(out.batch) },
    });
  }
  return out;
}

/** Counts a delivery of an event the ledger already held (ops.duplicate_deliveries: the founder's duplicate
 * deliveries per day, #20). The answer is 2xx whatever happens here: a failed count is only logged. */
export async function countDuplicate(sql: postgres.Sql): Promise<void> {
  try {
    await sql`select ops.record_duplicate_delivery('stripe-webhook')`;
  } catch (cause) {
    log("warn", "stripe-webhook", "could not count a duplicate delivery", { code: (cause as { code?: string }).code });
  }
}
