// Alerts over the running stack: ops.evaluate_alerts against what really happened (a HubSpot fake's
// outage through crm-sync, refused and failed deliveries to the real webhook, jobs the worker
// dead-lettered), incidents opened once and resolved once, and their notices through notify to the Slack
// fake and the founder's email (capture); refusals anyone can send page nobody (#16). pg_cron's own evaluation is paused in this file's world (tests/helpers/
// world.ts: its own cluster, cron jobs, rules, kinds and gateway), so every evaluation here is the
// test's and no other file's incidents, dead jobs or failures are in its windows; the refund rule's
// clock is injected (p_now).
import { startWorld, stopWorld } from "../helpers/world.ts";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { chargeRefunded } from "../../scripts/lib/scenarios.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";
import { type FakeSlack, startFakeSlack } from "../fakes/slack.ts";
import { signResendWebhook } from "../fakes/resend.ts";
import { config } from "../../scripts/lib/config.ts";
import { jobIds, newBuyer, paidOrder } from "../helpers/crm.ts";
import { sql } from "../helpers/db.ts";
import { waitFor } from "../helpers/stack.ts";
import { deliver, event, uid, WEBHOOK_URL } from "../helpers/stripe.ts";
import "../helpers/require-stack.ts";

type Evaluation = { rule: string; firing: boolean; action: string; incident_id: string | null; summary: string };

let hubspot: FakeHubSpot;
let slack: FakeSlack;
const run = uid().slice(0, 8);
const now = () => Math.floor(Date.now() / 1000);

async function evaluate(at?: string): Promise<Evaluation[]> {
  return at
    ? await sql<Evaluation[]>`select * from ops.evaluate_alerts(${at}::timestamptz)`
    : await sql<Evaluation[]>`select * from ops.evaluate_alerts()`;
}
const of = (rows: Evaluation[], rule: string) => rows.find((r) => r.rule === rule)!;

/** Incidents opened after `afterId`, by rule. */
async function incidentsSince(afterId: number) {
  return await sql<{ id: string; rule: string; status: string }[]>`
    select id, rule, status from ops.alert_incidents where id > ${afterId} order by id`;
}
async function maxIncidentId(): Promise<number> {
  const [{ id }] = await sql<{ id: number }[]>`select coalesce(max(id), 0)::int as id from ops.alert_incidents`;
  return id;
}
/** The founder's alert emails, as the capture adapter recorded them. */
async function founderEmails(incident: string) {
  return await sql<{ key: string; body: { subject: string; text: string; to: string } }[]>`
    select key, body from ops.notification_captures where key like ${`notify:founder_alert_%:incident:${incident}:founder`}
    order by id`;
}
const postsAbout = (incident: string) => slack.posts.filter((p) => p.text.includes(`Incident ${incident},`));

beforeAll(async () => {
  hubspot = await startFakeHubSpot({ token: `pat-test-${uid()}` });
  slack = await startFakeSlack();
  await startWorld({
    HUBSPOT_ACCESS_TOKEN: hubspot.token,
    HUBSPOT_API_BASE: hubspot.url,
    HUBSPOT_TIMEOUT_MS: "1500",
    CRM_ADAPTER: undefined,
    SLACK_WEBHOOK_URL: slack.webhookUrl,
  });
  // the test's evaluations only: pg_cron's minute would race them
  await sql`select cron.alter_job(jobid, active => false) from cron.job where jobname = 'ops-evaluate-alerts'`;
  await sql`update ops.job_kinds set backoff_base_ms = 300, backoff_max_ms = 2000 where kind like 'crm.%'`;
  // whatever fires in a fresh world (nothing, so far) is opened before the tests look
  await evaluate();
}, 300_000);

afterAll(async () => {
  await sql.end();
  await stopWorld();
  await hubspot?.close();
  await slack?.close();
}, 180_000);

describe("alerts", () => {
  test(
    "an outage of the HubSpot fake opens exactly one incident, one Slack message and one founder email; " +
      "evaluations during the outage add nothing; recovery sends exactly one resolve",
    async () => {
      // the founder's edit, for the test's speed: resolve 3 s after the CRM answers again (default 5 min)
      await sql`update ops.alert_rules set clear_after = interval '3 seconds' where rule = 'crm_failure_rate'`;
      const before = await maxIncidentId();
      const started = new Date();
      hubspot.setFaults({ rate500: 1 });
      const buyers = await Promise.all(
        [1, 2, 3].map((i) => newBuyer(`alert-outage-${i}-${run}@example.com`)),
      );
      const ids = await jobIds({ customers: buyers.map((b) => b.customerId) });
      expect(ids).toHaveLength(3);
      // evaluated as pg_cron would, until the failures outweigh the window's successes (earlier test
      // files leave many successful CRM attempts in the last 15 minutes: more failures are needed then)
      const first = await waitFor("the CRM failure rule to open its incident", async () => {
        const rows = await evaluate();
        return of(rows, "crm_failure_rate").action === "opened" ? rows : undefined;
      }, 90_000);
      expect(of(first, "crm_failure_rate")).toMatchObject({ firing: true, action: "opened" });
      const [{ failed }] = await sql<{ failed: number }[]>`
        select count(*)::int as failed from ops.job_attempts where job_id = any(${ids}) and outcome = 'failed'`;
      expect(failed).toBeGreaterThanOrEqual(1);
      const incident = of(first, "crm_failure_rate").incident_id!;
      // more evaluations while HubSpot still fails: the same incident, seen again
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 700));
        expect(of(await evaluate(), "crm_failure_rate")).toMatchObject({ action: "seen", incident_id: incident });
      }
      // one outage, one incident: neither failed runs nor sync latency nor anything else opened one
      expect((await incidentsSince(before)).map((i) => i.rule)).toEqual(["crm_failure_rate"]);
      const [open] =
        await sql`select summary, detail, last_seen_at, opened_at from ops.alert_incidents where id = ${incident}`;
      expect(open.summary).toMatch(/^\d+ of \d+ CRM job attempts failed in 15 min/);
      expect(open.detail.failed_attempts).toBeGreaterThanOrEqual(4);
      expect(open.last_seen_at.getTime()).toBeGreaterThan(open.opened_at.getTime());

      const opened = await waitFor("the open notices", async () => {
        const emails = await founderEmails(incident);
        return postsAbout(incident).length >= 1 && emails.length >= 1 && emails;
      }, 60_000);
      expect(postsAbout(incident)).toHaveLength(1);
      expect(postsAbout(incident)[0].text).toMatch(/\*Alert: crm_failure_rate\* \(warning/);
      expect(postsAbout(incident)[0].text).toContain("*Runbook:* Check the CRM's status page");
      expect(opened).toHaveLength(1);
      expect(opened[0].body.to).toBe("founder@example.com");
      expect(opened[0].body.subject).toMatch(/Alert \(warning\): crm_failure_rate/);

      // recovery: the CRM answers again, the retries succeed, and after 3 s without failure it resolves once
      hubspot.setFaults({ rate500: 0 });
      await waitFor("the contact jobs to succeed", async () => {
        const [{ n }] = await sql<{ n: number }[]>`
          select count(*)::int as n from ops.jobs where id = any(${ids}) and status = 'succeeded'`;
        return n === 3;
      }, 90_000);
      const resolved = await waitFor(
        "the incident to resolve",
        async () => {
          const row = of(await evaluate(), "crm_failure_rate");
          expect(["seen", "resolved"]).toContain(row.action);
          return row.action === "resolved" && row;
        },
        60_000,
        () => new Promise((r) => setTimeout(r, 1000)),
      );
      expect(resolved.incident_id).toBe(incident);
      for (let i = 0; i < 2; i++) expect(of(await evaluate(), "crm_failure_rate").action).toBe("clear");
      const [closed] = await sql`select status, resolved_at from ops.alert_incidents where id = ${incident}`;
      expect(closed.status).toBe("resolved");
      expect(closed.resolved_at.getTime()).toBeGreaterThan(started.getTime());

      const emails = await waitFor("the resolve notices", async () => {
        const e = await founderEmails(incident);
        return postsAbout(incident).length >= 2 && e.length >= 2 && e;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1500)); // nothing more comes
      expect(postsAbout(incident)).toHaveLength(2);
      expect(postsAbout(incident)[1].text).toMatch(
        /:white_check_mark: \*Resolved: crm_failure_rate\* .* after \d+ (s|min)/,
      );
      expect((await founderEmails(incident)).map((e) => e.key)).toEqual([
        `notify:founder_alert_opened:incident:${incident}:founder`,
        `notify:founder_alert_resolved:incident:${incident}:founder`,
      ]);
      expect(emails[1].body.text).toMatch(/Lasted: \d+ (s|min)/);
      expect((await incidentsSince(before)).map((i) => [i.rule, i.status])).toEqual([["crm_failure_rate", "resolved"]]);
    },
    300_000,
  );

  test("a refund event left unapplied for 10 minutes alerts (clock injected); one applied in time does not", async () => {
    const buyer = await newBuyer(`alert-refund-${run}@example.com`);
    const pi = uid("pi_");
    await paidOrder(buyer.id, pi);
    const applied = chargeRefunded(pi, uid("ch_"), 2500, now() + 1);
    expect((await deliver(applied)).body.status).toBe("processed");
    // an apply that failed: the ledger holds the event, failed, and pg_cron's retries have not mended it
    const stuck = `evt_alert_refund_${run}`;
    await sql`insert into ops.stripe_events (event_id, type, object_id, event_created, payload, status, attempts, last_error)
              values (${stuck}, 'charge.refunded', ${uid("ch_")}, now(), ${
      sql.json(chargeRefunded(uid("pi_"), uid("ch_"), 100, now()) as never)
    },
                      'failed', 1, 'test: the apply failed')`;
    const [{ at }] = await sql<
      { at: Date }[]
    >`select received_at as at from ops.stripe_events where event_id = ${stuck}`;
    const check = async (minutes: number) => {
      const [r] = await sql<{ firing: boolean; ids: string[] }[]>`
        select (c).firing, (c).detail -> 'event_ids' as ids
          from (select ops.check_alert_rule(r, ${at}::timestamptz + make_interval(mins => ${minutes}), ${at}::timestamptz) as c
                  from ops.alert_rules r where r.rule = 'refund_dispute_unapplied') x`;
      return r;
    };
    const nine = await check(9);
    expect(nine.ids).not.toContain(stuck);
    const eleven = await check(11);
    expect(eleven.firing).toBe(true);
    expect(eleven.ids).toContain(stuck);
    expect(eleven.ids).not.toContain(applied.id);

    // the evaluator at the injected time opens (or, if an earlier one is open, updates) the incident
    const rows = await evaluate(new Date(at.getTime() + 11 * 60_000).toISOString());
    expect(["opened", "seen"]).toContain(of(rows, "refund_dispute_unapplied").action);
    const [inc] = await sql`select status, detail from ops.alert_incidents
                             where id = ${of(rows, "refund_dispute_unapplied").incident_id}`;
    expect(inc.status).toBe("open");
    expect(inc.detail.event_ids).toContain(stuck);
    // given up by an operator: it no longer counts
    await sql`update ops.stripe_events set status = 'ignored', ignored_reason = 'test' where event_id = ${stuck}`;
    expect((await check(11)).ids).not.toContain(stuck);
  });

  test(
    "unsigned and forged POSTs to the real webhook are refusals: they open no critical incident and page nobody, " +
      "only webhook_refusals, posted to Slack",
    async () => {
      const since = (await sql<{ t: Date }[]>`select now() - interval '1 second' as t`)[0].t;
      const before = await maxIncidentId();
      const ledgerBefore = (await sql`select count(*)::int as n from ops.stripe_events`)[0].n;
      // 12 requests anyone can send: 3 unsigned, 8 signed with another secret, 1 body that is not UTF-8
      const answers = [
        ...await Promise.all([1, 2, 3].map(() => deliver(event("customer_updated", {}), { header: null }))),
        ...await Promise.all(
          [1, 2, 3, 4, 5, 6, 7, 8].map(() => deliver(event("customer_updated", {}), { secret: "whsec_somebody_else" })),
        ),
      ].map((r) => r.status);
      const notUtf8 = await fetch(WEBHOOK_URL, {
        method: "POST",
        body: new Uint8Array([0x7b, 0xff, 0x7d]),
        headers: { "stripe-signature": `t=${now()},v1=${"0".repeat(64)}` },
      });
      await notUtf8.body?.cancel();
      expect([...answers, notUtf8.status]).toEqual(Array(12).fill(400));
      expect((await sql`select count(*)::int as n from ops.stripe_events`)[0].n).toBe(ledgerBefore);

      const check = async (rule: string) =>
        (await sql`select (ops.check_alert_rule(r, now(), ${since}::timestamptz)).* from ops.alert_rules r
                    where r.rule = ${rule}`)[0];
      const failures = await check("webhook_failure_rate");
      expect(failures.firing).toBe(false);
      expect(Object.keys(failures.detail.answers_failed)).not.toContain("4xx:signature");
      const refusals = await check("webhook_refusals");
      expect(refusals.firing).toBe(true);
      // counters are per minute: an earlier test's refusals in this minute may be in it too
      expect(refusals.detail.refused.signature).toBeGreaterThanOrEqual(11);
      expect(refusals.detail.refused.payload).toBeGreaterThanOrEqual(1);

      // the evaluator, as pg_cron runs it: the refusals' info incident, and nothing that pages
      const rows = await evaluate();
      expect(of(rows, "webhook_failure_rate").action).not.toBe("opened");
      expect(["opened", "seen"]).toContain(of(rows, "webhook_refusals").action);
      const opened = await sql<{ rule: string; severity: string }[]>`
        select i.rule, r.severity from ops.alert_incidents i join ops.alert_rules r using (rule)
         where i.id > ${before} and i.rule like 'webhook%'`;
      expect(opened.map((i) => [i.rule, i.severity])).toEqual(
        of(rows, "webhook_refusals").action === "opened" ? [["webhook_refusals", "info"]] : [],
      );
      const incident = of(rows, "webhook_refusals").incident_id!;
      await waitFor("the refusals' Slack post", async () => postsAbout(incident).length >= 1, 60_000);
      expect(postsAbout(incident)[0].text).toMatch(/\*Alert: webhook_refusals\* \(info/);
      const [{ n: emails }] = await sql<{ n: number }[]>`
        select count(*)::int as n from ops.jobs where payload ->> 'entity' = ${`incident:${incident}`}
           and payload ->> 'recipient' = 'founder'`;
      expect(emails).toBe(0); // no page
      expect(await founderEmails(incident)).toEqual([]);
    },
  );

  test("a signed event the webhook cannot take and its 5xx answers count as webhook failures, apart from refusals", async () => {
    const since = (await sql<{ t: Date }[]>`select now() - interval '1 second' as t`)[0].t;
    const counted = async (key: string) => {
      const [{ n }] = await sql<{ n: number }[]>`
        select coalesce(sum(count), 0)::int as n from ops.endpoint_outcomes
         where endpoint = 'stripe-webhook' and status_class || ':' || reason = ${key} and minute >= date_trunc('minute', ${since}::timestamptz)`;
      return n;
    };
    const [signedBefore, cfgBefore] = [await counted("4xx:signed_payload"), await counted("5xx:configuration")];
    // signed with the endpoint's secret, but not JSON: Stripe's (or ours), never a stranger's
    expect((await deliver("{not json")).status).toBe(400);
    // a deployment whose mode disagrees with ops.settings answers 503: a failure of ours
    await sql`update ops.settings set stripe_livemode = true`;
    try {
      expect((await deliver(event("customer_updated", {}))).status).toBe(503);
    } finally {
      await sql`update ops.settings set stripe_livemode = false`;
    }
    expect(await counted("4xx:signed_payload")).toBe(signedBefore + 1);
    expect(await counted("5xx:configuration")).toBe(cfgBefore + 1);

    const [c] = await sql`
      select (ops.check_alert_rule(r, now(), ${since}::timestamptz)).* from ops.alert_rules r where r.rule = 'webhook_failure_rate'`;
    // counters are per minute: an earlier test's answers in this minute are in both figures alike
    expect(c.detail.answers_failed).toMatchObject({
      "4xx:signed_payload": signedBefore + 1,
      "5xx:configuration": cfgBefore + 1,
    });
    expect(Object.keys(c.detail.answers_failed).every((k) => k.startsWith("5xx:") || k === "4xx:signed_payload"))
      .toBe(true);
    const [r] = await sql`
      select (ops.check_alert_rule(r, now(), ${since}::timestamptz)).detail from ops.alert_rules r where r.rule = 'webhook_refusals'`;
    expect(Object.keys(r.detail.refused)).not.toContain("signed_payload");
  });

  test("a function other than the webhook failing (resend-webhook answering 500) counts as a failed run; its refusals do not", async () => {
    const since = (await sql<{ t: Date }[]>`select now() as t`)[0].t;
    const failures = async () =>
      (await sql<{ n: number }[]>`
        select coalesce(sum(count), 0)::int as n from ops.endpoint_outcomes
         where endpoint = 'resend-webhook' and minute >= date_trunc('minute', ${since}::timestamptz)`)[0].n;
    const before = await failures();
    const body = JSON.stringify({
      type: "email.delivered",
      created_at: new Date().toISOString(),
      data: { email_id: randomUUID(), to: [`fail-${run}@example.com`] },
    });
    const url = config.functionUrl("resend-webhook");
    // refused: a forged signature is a 4xx, not a failure of ours
    const forged = await fetch(url, {
      method: "POST",
      body,
      headers: { ...signResendWebhook(body, config.resendWebhookSecret), "svix-signature": "v1,AAAA" },
    });
    expect(forged.status).toBe(400);
    // failing: its role may no longer record events (a broken grant, as a bad migration would leave)
    await sql`revoke execute on function ops.record_email_event(text, text, text[], boolean, text) from provider_webhook`;
    try {
      const res = await fetch(url, {
        method: "POST",
        body,
        headers: signResendWebhook(body, config.resendWebhookSecret),
      });
      expect(res.status).toBe(500);
    } finally {
      await sql`grant execute on function ops.record_email_event(text, text, text[], boolean, text) to provider_webhook`;
    }
    expect(await failures()).toBe(before + 1);
    const [{ status_class }] = await sql`
      select status_class from ops.endpoint_outcomes
       where endpoint = 'resend-webhook' and minute >= date_trunc('minute', ${since}::timestamptz)`;
    expect(status_class).toBe("5xx");
    const [c] = await sql`
      select (ops.check_alert_rule(r, now(), ${since}::timestamptz)).detail from ops.alert_rules r where r.rule = 'failed_runs'`;
    expect(Number(c.detail.endpoint_5xx)).toBeGreaterThanOrEqual(1);
  });

  test("many dead jobs are one dead_jobs incident, with one notice, and no per-job alert", async () => {
    const before = await maxIncidentId();
    const [{ n: deadBefore }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where status = 'dead' and coalesce(payload ->> 'entity', '') not like 'incident:%'`;
    // HubSpot refuses these addresses (validation error): each contact job goes dead at once, in the real worker
    const buyers = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => newBuyer(`dead-${i}-${randomUUID().slice(0, 6)}@localhost`)),
    );
    const ids = await jobIds({ customers: buyers.map((b) => b.customerId) });
    await waitFor("five dead jobs", async () => {
      const [{ n }] = await sql<
        { n: number }[]
      >`select count(*)::int as n from ops.jobs where id = any(${ids}) and status = 'dead'`;
      return n === 5;
    }, 60_000);
    const rows = [await evaluate(), await evaluate(), await evaluate()].map((r) => of(r, "dead_jobs"));
    expect(rows.every((r) => r.firing && r.incident_id === rows[0].incident_id)).toBe(true);
    // one incident whether or not earlier files' dead jobs had opened it already
    const opened = (await incidentsSince(before)).filter((i) => i.rule === "dead_jobs");
    expect(opened.length).toBeLessThanOrEqual(1);
    const [inc] = await sql`select status, summary from ops.alert_incidents where id = ${rows[0].incident_id}`;
    expect(inc.status).toBe("open");
    expect(Number(/^(\d+) dead jobs?/.exec(inc.summary)![1])).toBeGreaterThanOrEqual(deadBefore + 5);
    const [{ n: notices }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where payload ->> 'entity' = ${`incident:${rows[0].incident_id}`}`;
    expect(notices).toBe(2); // Slack and the founder, once
    const [{ n: perJob }] = await sql<{ n: number }[]>`
      select count(*)::int as n from ops.jobs where kind like 'notify.%' and payload ->> 'entity' like any(${
      ids.map((id) => `job:${id}%`)
    })`;
    expect(perJob).toBe(0);
  });
});
