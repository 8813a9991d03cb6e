// The CRM adapters: HubSpot against a HubSpot-compatible fake (keyed upserts, one attempt, classified failures)
// and the local capture adapter. No database and no network beyond 127.0.0.1.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { createCaptureAdapter } from "../../supabase/functions/_shared/crm/capture.ts";
import type { DealInput } from "../../supabase/functions/_shared/crm/contract.ts";
import { createHubSpotAdapter, hubspotConfig } from "../../supabase/functions/_shared/crm/hubspot.ts";
import { formatMinorUnits } from "../../supabase/functions/_shared/providers/money.ts";
import { selectCrmAdapter } from "../../supabase/functions/_shared/crm/select.ts";
import type { CaptureRecord } from "../../supabase/functions/_shared/providers/capture.ts";
import { maskEmail, normalizeEmail } from "../../supabase/functions/_shared/providers/email.ts";
import { classifyResponse, parseRetryAfter, ProviderError } from "../../supabase/functions/_shared/providers/error.ts";
import { capacityFor } from "../../supabase/functions/_shared/providers/rate-budget.ts";
import { classifyFailure } from "../../supabase/functions/_shared/jobs/worker.ts";
import { type FakeHubSpot, type FaultKind, startFakeHubSpot } from "../fakes/hubspot.ts";

const TIMEOUT_MS = 400;
let fake: FakeHubSpot;

beforeAll(async () => {
  fake = await startFakeHubSpot({ faults: { slowMs: TIMEOUT_MS * 3 } });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

function adapter(env: Record<string, string> = {}) {
  return createHubSpotAdapter(
    hubspotConfig({
      HUBSPOT_ACCESS_TOKEN: fake.token,
      HUBSPOT_API_BASE: fake.url,
      HUBSPOT_TIMEOUT_MS: String(TIMEOUT_MS),
      ...env,
    }),
  );
}

const email = () => `buyer-${randomUUID().slice(0, 8)}@example.com`;
const contact = (address: string) => ({
  email: address,
  firstName: "Jane",
  lastName: "Doe",
  lifecycleStage: "customer" as const,
  billingStatus: "active",
});
const deal = (over: Partial<DealInput> = {}): DealInput => ({
  orderKey: randomUUID(),
  name: "Order: Handmade mug",
  amount: 1999,
  currency: "usd",
  stage: "paid",
  ...over,
});

/** The ProviderError an operation throws (fails the test if it resolves or throws anything else). */
async function crmError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe("HubSpot adapter: idempotent writes", () => {
  test("upserting the same contact twice yields one contact", async () => {
    const crm = adapter();
    const address = email();
    const first = await crm.upsertContact(contact(address));
    const second = await crm.upsertContact(contact(address));
    expect(second.contactId).toBe(first.contactId);
    expect(fake.contacts(address)).toHaveLength(1);
    expect(fake.contacts(address)[0].properties).toMatchObject({
      firstname: "Jane",
      lifecyclestage: "customer",
      backbone_billing_status: "active",
    });
  });

  test("emails differing only in case and surrounding spaces are one contact", async () => {
    const crm = adapter();
    const address = email();
    const a = await crm.upsertContact(contact(`  ${address.toUpperCase()} `));
    const b = await crm.upsertContact(contact(address));
    expect(b.contactId).toBe(a.contactId);
    expect(fake.contacts()).toHaveLength(1);
    expect(fake.contacts()[0].properties.email).toBe(address);
  });

  test("a contact keeps the names it has when a later upsert does not know them", async () => {
    const crm = adapter();
    const address = email();
    await crm.upsertContact(contact(address));
    await crm.upsertContact({ email: address, lifecycleStage: "other", billingStatus: "canceled" });
    expect(fake.contacts(address)[0].properties).toMatchObject({
      firstname: "Jane",
      lastname: "Doe",
      lifecyclestage: "other",
      backbone_billing_status: "canceled",
    });
  });

  test("a deal upserted twice (a retry) is one deal, associated once to its contact", async () => {
    const crm = adapter();
    const { contactId } = await crm.upsertContact(contact(email()));
    const d = deal({ contactId });
    const first = await crm.upsertDeal(d);
    const second = await crm.upsertDeal(d);
    expect(second.dealId).toBe(first.dealId);
    expect(fake.deals(d.orderKey)).toHaveLength(1);
    expect(fake.deals(d.orderKey)[0].properties).toMatchObject({
      dealname: "Order: Handmade mug",
      amount: "19.99",
      deal_currency_code: "USD",
      pipeline: "default",
      dealstage: "closedwon",
    });
    expect(fake.associations("deals", first.dealId, "contacts")).toEqual([contactId]);
  });

  test("a refund moves the same deal to the refunded stage with the refunded amount", async () => {
    const crm = adapter();
    const d = deal();
    const paid = await crm.upsertDeal(d);
    const refunded = await crm.upsertDeal({ ...d, stage: "refunded", refundedAmount: 1999, needsReview: true });
    expect(refunded.dealId).toBe(paid.dealId);
    expect(fake.deals()).toHaveLength(1);
    expect(fake.deals(d.orderKey)[0].properties).toMatchObject({
      dealstage: "closedlost",
      backbone_refunded_amount: "19.99",
      backbone_needs_review: "true",
    });
  });

  test("deal stages come from config, and an unconfigured stage fails permanently before any request", async () => {
    const crm = adapter({
      HUBSPOT_DEAL_STAGE_PAID: "contractsent",
      HUBSPOT_DEAL_STAGE_DISPUTED: "decisionmakerboughtin",
    });
    const d = deal();
    await crm.upsertDeal(d);
    expect(fake.deals(d.orderKey)[0].properties.dealstage).toBe("contractsent");
    await crm.upsertDeal({ ...d, stage: "disputed" });
    expect(fake.deals(d.orderKey)[0].properties.dealstage).toBe("decisionmakerboughtin");

    const before = fake.requests.length;
    const err = await crmError(adapter().upsertDeal({ ...d, stage: "disputed" }));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("HUBSPOT_DEAL_STAGE_DISPUTED");
    expect(fake.requests.length).toBe(before);
  });

  test.each([
    ["slow", "the answer came after the client's timeout"],
    ["drop-after", "the connection dropped after HubSpot applied it"],
  ] as Array<[FaultKind, string]>)(
    "a deal upsert whose answer was lost (%s: %s) is still one deal after the retry",
    async (kind) => {
      const crm = adapter();
      const d = deal();
      fake.failNext(kind, { match: "/deals/batch/upsert" });
      const err = await crmError(crm.upsertDeal(d));
      expect(err.retryable).toBe(true);
      await crm.upsertDeal(d); // the job engine's retry
      expect(fake.deals(d.orderKey)).toHaveLength(1);
    },
  );

  test("a note added twice with one key is one note, even when the first answer was lost", async () => {
    const crm = adapter();
    const { contactId } = await crm.upsertContact(contact(email()));
    const { dealId } = await crm.upsertDeal(deal({ contactId }));
    const note = {
      key: `order:${randomUUID()}:refunded`,
      dealId,
      contactId,
      body: "Refunded 19.99 USD.\nReason: <damaged>",
    };

    fake.failNext("drop-after", { match: "POST /crm/v3/objects/notes" });
    const err = await crmError(crm.addNote(note));
    expect(err.retryable).toBe(true);
    const first = await crm.addNote(note);
    const second = await crm.addNote(note);

    expect(second.noteId).toBe(first.noteId);
    const notes = fake.snapshot().notes;
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ id: first.noteId, deals: [dealId], contacts: [contactId] });
    expect(notes[0].body).toContain("Reason: &lt;damaged&gt;");
    expect(notes[0].body).toContain(`[backbone:${note.key}]`);
  });

  test("notes with different keys on one deal are different notes", async () => {
    const crm = adapter();
    const { dealId } = await crm.upsertDeal(deal());
    const a = await crm.addNote({ key: "order:1:paid", dealId, body: "Paid." });
    const b = await crm.addNote({ key: "order:1:refunded", dealId, body: "Refunded." });
    expect(a.noteId).not.toBe(b.noteId);
    expect(fake.associations("deals", dealId, "notes").sort()).toEqual([a.noteId, b.noteId].sort());
  });
});

describe("HubSpot adapter: a remembered id that is gone heals in the same call (#16)", () => {
  const associated = (dealId: string) => fake.associations("deals", dealId, "contacts");

  test("a deleted contact is found again by email (created anew), and the deal is associated to it", async () => {
    const crm = adapter();
    const address = email();
    const { contactId: stale } = await crm.upsertContact(contact(address));
    fake.remove("contacts", stale);
    const d = deal({ contactId: stale, contact: contact(address) });
    const res = await crm.upsertDeal(d);
    expect(res.contactId).not.toBe(stale);
    expect(fake.contacts(address).map((c) => c.id)).toEqual([res.contactId]);
    expect(fake.contacts(address)[0].properties).toMatchObject({ firstname: "Jane", lifecyclestage: "customer" });
    expect(associated(res.dealId)).toEqual([res.contactId]);
    expect(res.healed).toBe(`contact ${stale} was gone in HubSpot; found or created by email as ${res.contactId}`);
    // the next call with the id it returned heals nothing
    const again = await crm.upsertDeal({ ...d, contactId: res.contactId });
    expect(again).toEqual({ dealId: res.dealId, contactId: res.contactId });
    expect(fake.deals(d.orderKey)).toHaveLength(1);
  });

  test("a merged contact: the surviving id HubSpot answers for the old one is used, no contact is created", async () => {
    const crm = adapter();
    const [address, other] = [email(), email()];
    const { contactId: stale } = await crm.upsertContact(contact(address));
    const { contactId: primary } = await crm.upsertContact(contact(other));
    const survivor = fake.merge("contacts", primary, stale);
    const res = await crm.upsertDeal(deal({ contactId: stale, contact: contact(address) }));
    expect(res.contactId).toBe(survivor);
    expect(res.healed).toBe(`contact ${stale} was merged in HubSpot into ${survivor}`);
    expect(fake.contacts()).toHaveLength(1);
    expect(associated(res.dealId)).toEqual([survivor]);
    // and an upsert by the merged-away email updates the survivor (HubSpot keeps it as an additional email)
    expect((await crm.upsertContact(contact(address))).contactId).toBe(survivor);
    expect(fake.contacts()).toHaveLength(1);
  });

  test("a deleted deal is upserted again by backbone_order_id: recreated once, never duplicated", async () => {
    const crm = adapter();
    const { contactId } = await crm.upsertContact(contact(email()));
    const d = deal({ contactId });
    const first = await crm.upsertDeal(d);
    fake.remove("deals", first.dealId);
    const second = await crm.upsertDeal(d);
    const third = await crm.upsertDeal(d);
    expect(second.dealId).not.toBe(first.dealId);
    expect(third.dealId).toBe(second.dealId);
    expect(fake.deals(d.orderKey).map((x) => x.id)).toEqual([second.dealId]);
    expect(associated(second.dealId)).toEqual([contactId]);
  });

  test("another portal connected: every remembered id is unknown, the contact and deal are made there once", async () => {
    const crm = adapter();
    const address = email();
    const d = deal({ contact: contact(address) });
    const old = await crm.upsertDeal({ ...d, contactId: (await crm.upsertContact(contact(address))).contactId });
    fake.reset(); // the new portal knows none of it
    const res = await crm.upsertDeal({ ...d, contactId: old.contactId });
    expect(fake.contacts(address).map((c) => c.id)).toEqual([res.contactId]);
    expect(fake.deals(d.orderKey).map((x) => x.id)).toEqual([res.dealId]);
    expect(associated(res.dealId)).toEqual([res.contactId]);
  });

  test("without the contact's natural key a stale id still fails with HubSpot's 404", async () => {
    const err = await crmError(adapter().upsertDeal(deal({ contactId: "424242" })));
    expect(err.status).toBe(404);
    expect(err.message).toContain("associate contact");
    expect(err.message).toContain("OBJECT_NOT_FOUND");
  });
});

describe("HubSpot adapter: a lead never overwrites an existing contact", () => {
  const lead = (address: string, firstName = "Mallory", lastName = "Chosen") => ({
    email: address,
    firstName,
    lastName,
    lifecycleStage: "lead" as const,
    billingStatus: "lead",
  });

  test("a lead for a new email creates the contact with its name and lead status", async () => {
    const crm = adapter();
    const address = email();
    const { contactId } = await crm.upsertContact(lead(address, "Nia", "Lead"));
    expect(fake.contacts(address)).toHaveLength(1);
    expect(fake.contacts(address)[0]).toMatchObject({
      id: contactId,
      properties: { firstname: "Nia", lastname: "Lead", lifecyclestage: "lead", backbone_billing_status: "lead" },
    });
  });

  test("a lead for an existing contact changes neither its name nor its stronger lifecycle or billing status", async () => {
    const crm = adapter();
    const address = email();
    const first = await crm.upsertContact(contact(address)); // Jane Doe, a paying customer
    const again = await crm.upsertContact(lead(` ${address.toUpperCase()}`));
    expect(again.contactId).toBe(first.contactId);
    expect(fake.contacts(address)).toHaveLength(1);
    expect(fake.contacts(address)[0].properties).toMatchObject({
      firstname: "Jane",
      lastname: "Doe",
      lifecyclestage: "customer",
      backbone_billing_status: "active",
    });
  });

  test("a lead whose create answer was lost finds the contact it made on the retry", async () => {
    const crm = adapter();
    const address = email();
    fake.failNext("drop-after", { match: "POST /crm/v3/objects/contacts" });
    expect((await crmError(crm.upsertContact(lead(address)))).retryable).toBe(true);
    const retried = await crm.upsertContact(lead(address));
    expect(fake.contacts(address)).toHaveLength(1);
    expect(retried.contactId).toBe(fake.contacts(address)[0].id);
  });
});

describe("HubSpot adapter: one attempt, classified for the job engine", () => {
  test("429 gives a retryable ProviderError with retryAfterMs from Retry-After seconds", async () => {
    fake.setFaults({ retryAfter: 7 });
    fake.failNext("429");
    const err = await crmError(adapter().upsertContact(contact(email())));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7_000 });
    expect(fake.requests).toHaveLength(1); // no retry loop inside the adapter
  });

  test("429 with Retry-After as an HTTP date is honoured", async () => {
    fake.setFaults({ retryAfter: new Date(Date.now() + 30_000).toUTCString() });
    fake.failNext("429");
    const err = await crmError(adapter().upsertDeal(deal()));
    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeGreaterThan(27_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  test("the per-10-second limit answers 429 and the error waits for the window", async () => {
    fake.setFaults({ limitPer10s: 2 });
    const crm = adapter();
    await crm.upsertContact(contact(email()));
    await crm.upsertContact(contact(email()));
    const err = await crmError(crm.upsertContact(contact(email())));
    expect(err).toMatchObject({ retryable: true, status: 429, retryAfterMs: 10_000 });
    expect(err.message).toContain("RATE_LIMITS");
    expect(fake.contacts()).toHaveLength(2);
  });

  test.each([
    ["500", /HubSpot 500 INTERNAL_ERROR/],
    ["hang", /no answer within 400 ms \(timeout\)/],
    ["drop", /network error/],
  ] as Array<[FaultKind, RegExp]>)("a %s is retryable", async (kind, message) => {
    fake.failNext(kind);
    const started = Date.now();
    const err = await crmError(adapter().upsertContact(contact(email())));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1_000);
    expect(fake.contacts()).toHaveLength(0);
  });

  test("an invalid email is a permanent failure with a readable reason that masks the address", async () => {
    const err = await crmError(adapter().upsertContact(contact("jane.doe@example")));
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expect(err.message).toMatch(/HubSpot 400 VALIDATION_ERROR: invalid properties: email INVALID_EMAIL/);
    expect(err.message).toContain("j***@example");
    expect(err.message).not.toContain("jane.doe");
  });

  test("a portal without the unique backbone_order_id property fails deals permanently, naming it", async () => {
    const portal = await startFakeHubSpot({ token: fake.token, uniqueProperties: { deals: [] } });
    try {
      const crm = createHubSpotAdapter(
        hubspotConfig({ HUBSPOT_ACCESS_TOKEN: fake.token, HUBSPOT_API_BASE: portal.url }),
      );
      const err = await crmError(crm.upsertDeal(deal()));
      expect(err).toMatchObject({ retryable: false, status: 400 });
      expect(err.message).toContain("backbone_order_id is not a unique value property of deals");
    } finally {
      await portal.close();
    }
  });

  test("a wrong token is a permanent 401 whose message does not contain the token", async () => {
    const wrong = `pat-na1-${randomUUID()}`;
    const crm = createHubSpotAdapter(hubspotConfig({ HUBSPOT_ACCESS_TOKEN: wrong, HUBSPOT_API_BASE: fake.url }));
    const err = await crmError(crm.upsertContact(contact(email())));
    expect(err).toMatchObject({ retryable: false, status: 401 });
    expect(err.message).toContain("INVALID_AUTHENTICATION");
    expect(err.message).not.toContain(wrong);
  });

  test("the token never appears in error messages, even when an answer echoes it", async () => {
    const messages: string[] = [];
    for (const kind of ["429", "500", "hang", "drop"] as FaultKind[]) {
      fake.failNext(kind);
      messages.push((await crmError(adapter().upsertContact(contact(email())))).message);
    }
    messages.push((await crmError(adapter().upsertContact(contact("x@invalid")))).message);
    const echoed = classifyResponse(
      "upsert contact",
      { status: 400, reason: `HubSpot 400: bad header Bearer ${fake.token} for jane@example.com` },
      [fake.token],
    );
    messages.push(echoed.message);
    for (const m of messages) expect(m).not.toContain(fake.token);
    expect(echoed.message).toBe("upsert contact: HubSpot 400: bad header Bearer [redacted] for j***@example.com");
  });

  test("parseRetryAfter reads seconds and HTTP dates and ignores garbage", () => {
    const now = Date.parse("2026-11-22T10:00:00Z");
    expect(parseRetryAfter("3", now)).toBe(3_000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  test("a non-JSON 502 from a proxy is retryable and says so", () => {
    const err = classifyResponse("upsert deal x", {
      status: 502,
      reason: "HubSpot answered 502 with a body that is not JSON",
    });
    expect(err).toMatchObject({ retryable: true, status: 502, rateLimited: false });
  });

  test("a 429 is rate limited (deferred without an attempt), unless it says a quota is used up", () => {
    expect(classifyResponse("upsert deal x", { status: 429, retryAfter: "2", reason: "HubSpot 429" }))
      .toMatchObject({ retryable: true, status: 429, retryAfterMs: 2_000, rateLimited: true });
    expect(classifyResponse("upsert deal x", { status: 429, reason: "HubSpot 429 DAILY", quota: true }))
      .toMatchObject({ retryable: true, rateLimited: false });
    expect(classifyFailure(new ProviderError("x", { retryable: true, status: 429, rateLimited: true })))
      .toMatchObject({ retryable: true, rateLimited: true });
  });

  test("jobs ranked below urgent leave a fifth of a budget free; urgent ones may fill it", () => {
    const hubspot = { bucket: "crm:hubspot", capacity: 90, windowMs: 10_000 };
    expect(capacityFor(hubspot, 100)).toBe(90);
    expect(capacityFor(hubspot, 0)).toBe(72);
    // Resend's 2 per second: no reserve (single-call jobs are not starved; priority orders the claims)
    expect(capacityFor({ bucket: "notify:resend", capacity: 2, windowMs: 1_100 }, 0)).toBe(2);
  });
});

describe("CRM helpers and configuration", () => {
  test("emails are trimmed and lower-cased, and masked for logs", () => {
    expect(normalizeEmail("  Jane.Doe@Example.COM ")).toBe("jane.doe@example.com");
    expect(maskEmail("jane.doe@example.com")).toBe("j***@example.com");
    expect(maskEmail("@example.com")).toBe("***@example.com");
    expect(maskEmail("not-an-email")).toBe("***");
    expect(() => normalizeEmail("   ")).toThrow(ProviderError);
  });

  test("minor units become HubSpot amounts without floating point", () => {
    expect(formatMinorUnits(1999, "usd")).toBe("19.99");
    expect(formatMinorUnits(5, "eur")).toBe("0.05");
    expect(formatMinorUnits(500, "JPY")).toBe("500");
    expect(formatMinorUnits(1234, "kwd")).toBe("1.234");
  });

  test("config defaults to api.hubapi.com, a 10 s timeout and the default pipeline", () => {
    expect(hubspotConfig({ HUBSPOT_ACCESS_TOKEN: "pat-x" })).toEqual({
      accessToken: "pat-x",
      apiBase: "https://api.hubapi.com",
      timeoutMs: 10_000,
      pipeline: "default",
      dealStages: { paid: "closedwon", refunded: "closedlost", in_fulfillment: "closedwon", completed: "closedwon" },
      ratePer10s: 90,
    });
  });

  test("fulfilment stages (#18) follow the paid stage unless the pipeline names its own", () => {
    const stages = (env: Record<string, string>) => hubspotConfig({ HUBSPOT_ACCESS_TOKEN: "pat-x", ...env }).dealStages;
    expect(stages({ HUBSPOT_DEAL_STAGE_PAID: "won" })).toMatchObject({ in_fulfillment: "won", completed: "won" });
    expect(stages({ HUBSPOT_DEAL_STAGE_IN_FULFILLMENT: "shipping", HUBSPOT_DEAL_STAGE_COMPLETED: "delivered" }))
      .toMatchObject({ paid: "closedwon", in_fulfillment: "shipping", completed: "delivered" });
  });

  test("the HubSpot adapter carries its shared rate budget; the capture adapter has none", () => {
    const recorder = async () => {};
    const hubspot = selectCrmAdapter({ HUBSPOT_ACCESS_TOKEN: "pat-x", HUBSPOT_RATE_LIMIT_PER_10S: "40" }, { recorder });
    expect(hubspot.rateBudget).toEqual({ bucket: "crm:hubspot", capacity: 40, windowMs: 10_000 });
    expect(selectCrmAdapter({}, { recorder }).rateBudget).toBeUndefined();
    expect(() => hubspotConfig({ HUBSPOT_ACCESS_TOKEN: "pat-x", HUBSPOT_RATE_LIMIT_PER_10S: "lots" })).toThrow(
      /HUBSPOT_RATE_LIMIT_PER_10S/,
    );
  });

  test("HubSpot is chosen when a token is set, capture otherwise or when forced", () => {
    const recorder = async () => {};
    expect(selectCrmAdapter({ HUBSPOT_ACCESS_TOKEN: "pat-x" }, { recorder }).name).toBe("hubspot");
    expect(selectCrmAdapter({ HUBSPOT_ACCESS_TOKEN: "  " }, { recorder }).name).toBe("capture");
    expect(selectCrmAdapter({}, { recorder }).name).toBe("capture");
    expect(selectCrmAdapter({ HUBSPOT_ACCESS_TOKEN: "pat-x", CRM_ADAPTER: "capture" }, { recorder }).name).toBe(
      "capture",
    );
    expect(() => selectCrmAdapter({ CRM_ADAPTER: "hubspot" }, { recorder })).toThrow(/HUBSPOT_ACCESS_TOKEN/);
  });
});

describe("capture adapter", () => {
  test("records what would be sent and returns the same id for the same key", async () => {
    const records: CaptureRecord[] = [];
    const crm = createCaptureAdapter(async (r) => {
      records.push(r);
    });
    const a = await crm.upsertContact(contact(" Jane@Example.com"));
    const b = await crm.upsertContact(contact("jane@example.com"));
    expect(a.contactId).toBe(b.contactId);
    expect(a.contactId).toMatch(/^capture-contact-[0-9a-f]{24}$/);
    const d = deal({ contactId: a.contactId });
    const d1 = await crm.upsertDeal(d);
    const d2 = await crm.upsertDeal(d);
    expect(d1.dealId).toBe(d2.dealId);
    const n = await crm.addNote({ key: `order:${d.orderKey}:paid`, dealId: d1.dealId, body: "Paid." });
    expect(n.noteId).toMatch(/^capture-note-/);

    expect(records.map((r) => r.kind)).toEqual(["contact", "contact", "deal", "deal", "note"]);
    expect(records[0]).toMatchObject({
      kind: "contact",
      key: "jane@example.com",
      externalId: a.contactId,
      payload: { email: "jane@example.com", lifecycleStage: "customer", billingStatus: "active", mode: "upsert" },
    });
    expect(records[2]).toMatchObject({ kind: "deal", key: d.orderKey, payload: { amount: 1999, currency: "usd" } });
  });

  test("a lead is recorded as create-only: it would never change an existing contact", async () => {
    const records: CaptureRecord[] = [];
    const crm = createCaptureAdapter(async (r) => {
      records.push(r);
    });
    const a = await crm.upsertContact({
      email: "Lead@Example.com",
      firstName: "Nia",
      lifecycleStage: "lead",
      billingStatus: "lead",
    });
    const b = await crm.upsertContact(contact("lead@example.com"));
    expect(a.contactId).toBe(b.contactId);
    expect(records.map((r) => r.payload.mode)).toEqual(["create_only", "upsert"]);
  });

  test("a bad input is permanent and a failing recorder is retryable", async () => {
    const crm = createCaptureAdapter(async () => {
      throw new Error("connection refused");
    });
    expect((await crmError(crm.upsertContact(contact("no-at-sign")))).retryable).toBe(false);
    expect((await crmError(crm.upsertDeal(deal({ amount: 19.99 })))).retryable).toBe(false);
    expect((await crmError(crm.addNote({ key: "k 1", dealId: "1", body: "x" }))).retryable).toBe(false);
    expect((await crmError(crm.addNote({ key: "k1", body: "x" }))).retryable).toBe(false);
    const err = await crmError(crm.upsertContact(contact("jane@example.com")));
    expect(err.retryable).toBe(true);
    expect(err.message).toBe("capture contact: the recorder failed (Error)");
  });
});

describe("the HubSpot fake models what bites", () => {
  const post = (path: string, body: unknown, token = fake.token) =>
    fetch(`${fake.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("the plain deal create makes a second deal when called twice", async () => {
    const body = { properties: { dealname: "Order", amount: "10.00" } };
    expect((await post("/crm/v3/objects/deals", body)).status).toBe(201);
    expect((await post("/crm/v3/objects/deals", body)).status).toBe(201);
    expect(fake.deals()).toHaveLength(2);
  });

  test("the plain contact create answers 409 for an existing email, as HubSpot does", async () => {
    const address = email();
    expect((await post("/crm/v3/objects/contacts", { properties: { email: address } })).status).toBe(201);
    const res = await post("/crm/v3/objects/contacts", { properties: { email: address } });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ category: "CONFLICT", message: expect.stringMatching(/Existing ID/) });
  });

  test("search does not see a record created a moment ago (why nothing here searches before creating)", async () => {
    const address = email();
    await post("/crm/v3/objects/contacts", { properties: { email: address } });
    const res = await post("/crm/v3/objects/contacts/search", {
      filterGroups: [{ filters: [{ propertyName: "email", operator: "EQ", value: address }] }],
    });
    expect(await res.json()).toMatchObject({ total: 0 });
  });

  test("a lifecycle stage never moves back through the API", async () => {
    const crm = adapter();
    const address = email();
    await crm.upsertContact(contact(address));
    await crm.upsertContact({ ...contact(address), lifecycleStage: "lead" });
    expect(fake.contacts(address)[0].properties.lifecyclestage).toBe("customer");
  });

  test("a deleted record answers 404 everywhere; a merged-away id reads as the survivor but cannot be written", async () => {
    const crm = adapter();
    const [a, b] = [await crm.upsertContact(contact(email())), await crm.upsertContact(contact(email()))];
    const get = (id: string) =>
      fetch(`${fake.url}/crm/v3/objects/contacts/${id}`, { headers: { authorization: `Bearer ${fake.token}` } });
    const survivor = fake.merge("contacts", a.contactId, b.contactId);
    for (const id of [a.contactId, b.contactId]) {
      const res = await get(id);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.id).toBe(survivor);
      expect(body.properties.hs_merged_object_ids.split(";").sort()).toEqual([a.contactId, b.contactId].sort());
    }
    const { dealId } = await crm.upsertDeal(deal());
    const put = (id: string) =>
      fetch(`${fake.url}/crm/v4/objects/deals/${dealId}/associations/default/contacts/${id}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${fake.token}` },
      });
    expect((await put(a.contactId)).status).toBe(404);
    expect((await put(survivor)).status).toBe(200);
    const gone = await fetch(`${fake.url}/crm/v3/objects/contacts/${survivor}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${fake.token}` },
    });
    expect(gone.status).toBe(204);
    expect((await get(survivor)).status).toBe(404);
    expect((await get(a.contactId)).status).toBe(404);
    expect(fake.associations("deals", dealId, "contacts")).toEqual([]);
  });

  test("requests without the Bearer token answer 401, and faults can be set over HTTP", async () => {
    expect((await post("/crm/v3/objects/deals", {}, "nope")).status).toBe(401);
    await fetch(`${fake.url}/__fake/faults`, {
      method: "POST",
      body: JSON.stringify({ next: { kind: "500", count: 1 } }),
    });
    expect((await post("/crm/v3/objects/deals", { properties: {} })).status).toBe(500);
    const state = await (await fetch(`${fake.url}/__fake/state`)).json();
    expect(state.requests.map((r: { fault?: string }) => r.fault)).toEqual(["unauthorized", "500"]);
  });
});

describe("HubSpot's answers are parsed, not cast", () => {
  /** An adapter whose every request gets `status` and `body` (a proxy's page, an API change). */
  function answering(status: number, body: unknown) {
    const stub = (() =>
      Promise.resolve(
        new Response(typeof body === "string" ? body : JSON.stringify(body), {
          status,
          headers: { "content-type": "application/json" },
        }),
      )) as typeof fetch;
    return createHubSpotAdapter(
      hubspotConfig({ HUBSPOT_ACCESS_TOKEN: "pat-s3cr3t", HUBSPOT_API_BASE: "http://hubspot.test" }),
      {
        fetch: stub,
        fetchOnce: stub,
      },
    );
  }
  const failure = (p: Promise<unknown>) =>
    p.then(() => expect.fail("expected a ProviderError"), (e) => e as ProviderError);

  test.each([
    ["a result without an id", { results: [{ properties: {} }] }, "results.0.id: must be a HubSpot object id"],
    ["a list instead of an object", [{ id: "1" }], "expected object"],
    ["results that are not a list", { results: "1" }, "results: "],
  ])("a 2xx upsert answer with %s is a retryable provider error naming the field", async (_, body, detail) => {
    const err = await failure(answering(200, body).upsertContact(contact(email())));
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: true, status: 200 });
    expect(err.message).toMatch(/^upsert contact .*: HubSpot answered 200 with an unexpected body \(/);
    expect(err.message).toContain(detail);
  });

  test("a note listing whose association has no object id is a retryable provider error", async () => {
    const err = await failure(
      answering(200, { results: [{ toObjectId: { id: 1 } }] }).addNote({ key: "k-1", dealId: "9", body: "hello" }),
    );
    expect(err).toMatchObject({ retryable: true, status: 200 });
    expect(err.message).toContain("list notes: HubSpot answered 200 with an unexpected body (results.0.toObjectId:");
  });

  test("an error answer with odd fields still gives a readable, classified reason", async () => {
    const err = await failure(
      answering(400, { message: 42, category: "VALIDATION_ERROR", errors: "x", correlationId: "c-1" })
        .upsertContact(contact(email())),
    );
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expect(err.message).toMatch(/HubSpot 400 VALIDATION_ERROR: no message \(correlationId c-1\)$/);
  });
});
