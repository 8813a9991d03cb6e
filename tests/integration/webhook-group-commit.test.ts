// Group commit in stripe-webhook (#21): requests that arrive while the webhook's transaction runs share the next
// one, and each keeps its own answer: a failing apply fails that event only, copies in one batch record one row,
// each endpoint keeps its secret and scope rules, and a batch that cannot commit answers 503 to each of its
// requests and records nothing of them. The file runs in a world of its own (tests/helpers/world.ts): it adds a
// trigger that fails the commit of chosen events to ops.stripe_events, and runs one transaction in flight.
import { startWorld, stopWorld } from "../helpers/world.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { accountUpdated, CONNECT_WEBHOOK_URL } from "../../scripts/lib/connect-events.ts";
import { customerUpdated, subscriptionEvents } from "../../scripts/lib/scenarios.ts";
import { customerOf, sql } from "../helpers/db.ts";
import { restartGateway, waitFor } from "../helpers/stack.ts";
import { type Evt, signature, uid, WEBHOOK_URL } from "../helpers/stripe.ts";

beforeAll(async () => {
  await startWorld();
  // a commit that fails: a deferred check that refuses the ledger rows of events named evt_commitfail_*
  await sql.unsafe(`
    create function ops.t21_refuse_at_commit() returns trigger language plpgsql as $$
    begin
      raise exception 'refused at commit (test)' using errcode = 'check_violation';
    end $$;
    create constraint trigger t21_refuse_at_commit after insert on ops.stripe_events
      deferrable initially deferred for each row when (new.event_id like 'evt_commitfail_%')
      execute function ops.t21_refuse_at_commit();`);
  // one transaction in flight: while the test holds it, every delivery queues for the next
  await restartGateway({ STRIPE_WEBHOOK_BATCHES_IN_FLIGHT: "1" });
}, 300_000);
afterAll(async () => {
  await sql.end();
  await stopWorld();
}, 120_000);
const t0 = () => Math.floor(Date.now() / 1000) - 3600;

type Answer = { status: number; body: Record<string, unknown>; batch: number | null };
type Delivery = { evt: Evt; url?: string; secret?: string };

/** POSTs one signed event; the answer with the size of the batch it was in (body, or the 503's header). */
async function post({ evt, url, secret }: Delivery): Promise<Answer> {
  const body = JSON.stringify(evt);
  const res = await fetch(url ?? WEBHOOK_URL, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "stripe-signature": await signature(body, secret) },
  });
  const json = await res.json();
  const header = res.headers.get("x-ingest-batch");
  return { status: res.status, body: json, batch: json.batch ?? (header === null ? null : Number(header)) };
}

const customer = (id = uid("evt_")) =>
  customerUpdated(uid("cus_"), `gc-${uid().slice(0, 8)}@example.com`, t0(), {}, { id });

/**
 * Sends `deliveries` while the webhook's transaction is held (the test holds the advisory lock of the event it
 * ingests), so that they queue behind it, then lets it go: they make the next batch. A request that reached the
 * function late would make a batch of its own; the scenario is then run again (fresh events), at most 3 times.
 */
async function oneBatch(build: () => Delivery[]): Promise<{ deliveries: Delivery[]; answers: Answer[] }> {
  for (let attempt = 1;; attempt++) {
    const deliveries = build();
    const holder = customer();
    const blocker = await sql.reserve();
    try {
      await blocker`begin`;
      await blocker`select pg_advisory_xact_lock(hashtextextended(${"ops.stripe_events:" + holder.id}, 0))`;
      const held = post({ evt: holder });
      await waitFor("the webhook's transaction waiting on the held lock", async () => {
        const [{ n }] = await sql`select count(*)::int as n from pg_stat_activity
          where usename = 'stripe_webhook' and wait_event_type = 'Lock' and wait_event = 'advisory'`;
        return n > 0;
      }, 30_000);
      const pending = deliveries.map(post);
      // time for every request to reach the function and queue (not an assertion: a late one is retried)
      await new Promise((r) => setTimeout(r, 2_000));
      await blocker`commit`;
      expect(await held).toMatchObject({ status: 200, batch: 1 });
      const answers = await Promise.all(pending);
      if (answers.every((a) => a.batch === deliveries.length) || attempt === 3) return { deliveries, answers };
    } finally {
      await blocker`rollback`.catch(() => {});
      blocker.release();
    }
  }
}

async function ledgerRows(ids: string[]) {
  return sql<{ event_id: string; status: string; last_error: string | null; tx: string }[]>`
    select event_id, status, last_error, xmin::text as tx from ops.stripe_events where event_id = any(${ids})`;
}

describe("a batch: each request keeps its own outcome", () => {
  test("a failing apply fails that event only; copies in the batch record one row; both endpoints' rules hold", async () => {
    let ids: Record<string, Evt> = {};
    const { answers } = await oneBatch(() => {
      const a = customer();
      const [failing] = subscriptionEvents(uid("cus_"), uid("sub_"), [`future_${uid().slice(0, 8)}`], t0());
      const live = { ...customer(), livemode: true };
      // the Connect endpoint: an account that is none of our sellers' is recorded, ignored, with the reason
      const connected = accountUpdated(`acct_1${uid().slice(0, 12)}`);
      ids = { a, failing, live, connected };
      return [
        { evt: a },
        { evt: failing },
        { evt: a },
        { evt: live },
        { evt: connected, url: CONNECT_WEBHOOK_URL, secret: config.stripeConnectWebhookSecrets[0] },
      ];
    });
    expect(answers.map((x) => x.batch)).toEqual([5, 5, 5, 5, 5]);
    const [a1, failed, a2, live, connected] = answers;
    expect([a1, a2].map((x) => x.status)).toEqual([200, 200]);
    expect([a1, a2].map((x) => x.body.duplicate).sort()).toEqual([false, true]);
    expect([a1, a2].map((x) => x.body.status)).toEqual(["processed", "processed"]);
    expect(failed).toMatchObject({
      status: 200,
      body: { event_id: ids.failing.id, status: "failed", duplicate: false },
    });
    expect(live).toMatchObject({ status: 200, body: { status: "ignored", duplicate: false } });
    expect(live.body.reason).toMatch(/live-mode event/);
    expect(connected).toMatchObject({ status: 200, body: { event_id: ids.connected.id, status: "ignored" } });
    expect(connected.body.reason).toMatch(/not one of our sellers' accounts/);

    const rows = await ledgerRows(Object.values(ids).map((e) => e.id));
    expect(rows.map((r) => [r.event_id, r.status]).sort()).toEqual(
      [[ids.a.id, "processed"], [ids.failing.id, "failed"], [ids.live.id, "ignored"], [ids.connected.id, "ignored"]]
        .sort(),
    );
    expect(new Set(rows.map((r) => r.tx)).size).toBe(1); // one transaction recorded them all
    expect(rows.find((r) => r.event_id === ids.failing.id)?.last_error).toMatch(/unknown subscription status/);
    expect(await customerOf(ids.a.data.object.id as string)).toBeDefined();
    expect(await customerOf(ids.failing.data.object.customer as string)).toBeUndefined();
  });

  test("the signature is checked per request before batching: a bad one is refused alone", async () => {
    const { answers } = await oneBatch(() => [
      { evt: customer() },
      { evt: customer(), secret: "whsec_not_our_secret" },
      // the platform's secret on the Connect endpoint is no Connect signature
      { evt: customer(), url: CONNECT_WEBHOOK_URL },
      { evt: customer() },
    ]);
    expect(answers.map((x) => x.status)).toEqual([200, 400, 400, 200]);
    expect(answers[1].body.error).toMatch(/no v1 signature matches/);
    expect([answers[0].batch, answers[3].batch]).toEqual([2, 2]);
  });
});

describe("a batch that cannot commit", () => {
  test("answers 503 to each of its requests and records nothing of them; their redeliveries are recorded once", async () => {
    let events: Evt[] = [];
    const { answers } = await oneBatch(() => {
      events = [customer(), customer(), customer(uid("evt_commitfail_"))];
      return events.map((evt) => ({ evt }));
    });
    expect(answers.map((x) => [x.status, x.batch])).toEqual([[503, 3], [503, 3], [503, 3]]);
    expect(answers[0].body).toEqual({ error: "could not record the event, retry later" });
    expect(await ledgerRows(events.map((e) => e.id))).toEqual([]);
    for (const e of events) expect(await customerOf(e.data.object.id as string)).toBeUndefined();
    const [{ n }] = await sql`select count(*)::int as n from ops.jobs where stripe_event_id = any(${
      events.map((e) => e.id)
    })`;
    expect(n).toBe(0);

    // Stripe delivers them again: the two storable ones are recorded, once
    for (const e of events.slice(0, 2)) {
      expect(await post({ evt: e })).toMatchObject({ status: 200, body: { status: "processed", duplicate: false } });
    }
    expect((await ledgerRows(events.map((e) => e.id))).map((r) => r.status)).toEqual(["processed", "processed"]);
  });
});

describe("copies racing across batches", () => {
  test("two batches holding the same events in opposite orders record each once, without a deadlock", async () => {
    const [e1, e2] = [customer(), customer()];
    const bodies = [JSON.stringify(e1), JSON.stringify(e2)];
    const call = (list: string[]) =>
      sql`select ops.ingest_stripe_events(${list}::text[], p_livemode => ${config.stripeLivemode}) as r`;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => call(i % 2 ? bodies : [...bodies].reverse())),
    );
    const outcomes = results.flatMap(([{ r }]) => r as { event_id: string; duplicate: boolean }[]);
    for (const e of [e1, e2]) {
      const mine = outcomes.filter((o) => o.event_id === e.id);
      expect(mine).toHaveLength(6);
      expect(mine.filter((o) => !o.duplicate)).toHaveLength(1);
    }
    expect(await ledgerRows([e1.id, e2.id])).toHaveLength(2);
  });
});
