// HubSpot CRM adapter (v3 objects, v4 associations): keyed upserts only, one attempt per call, failures classified.
//
// Idempotency, because the job engine retries any attempt whose answer it did not see:
// - contacts: ONE batch upsert keyed by idProperty "email" (never search-then-create: search lags writes by
//   seconds, and a plain create answers 409 for an existing email).
// - deals: ONE batch upsert keyed by the unique deal property backbone_order_id (our order uuid), then the
//   v4 default association PUT to the contact, which is idempotent. A plain create would make a second deal.
// - notes: HubSpot allows unique-value properties on contacts, companies, deals, tickets and custom objects,
//   not on notes, so a note cannot be upserted by our key. Instead the key rides in the note body as a marker,
//   "[backbone:<key>]", and the note is created together with its associations in one request. Before creating,
//   the adapter lists the notes already associated to the deal (or contact) and reads their bodies: a marker
//   match means an earlier attempt got through, and its id is returned. Association reads are consistent right
//   after a write, unlike search. Limits: a note whose marker was edited away by a person is written again, and
//   two concurrent attempts for one key could both create (the job engine's lease prevents that).
//
// Remembered ids go stale: a contact deleted or merged in HubSpot, or another portal connected. Only the deal's
// association uses one (every other call is keyed by email or backbone_order_id, so a deleted deal is simply
// upserted again, once). When that PUT answers 404, the adapter reads the contact by its id: HubSpot answers a
// merged-away id with the surviving record (its own id, the old one in hs_merged_object_ids), which is used;
// a 404 there too means it is gone, and the contact is upserted by email (found, or created). The deal is then
// associated in the same attempt, and the id it used is returned so the job remembers it.
//
// Leads only create (contract.ts isCreateOnly): a plain create, whose 409 for an existing email names the
// contact, which is then left untouched: a sign-up never renames a contact or lowers its billing status.
//
// GDPR delete (erasure on request): POST /crm/v3/objects/contacts/gdpr-delete {objectId} per contact id, 204;
// a 404 means the contact is gone already (done). An email is first read by idProperty=email, and the contact
// it names deleted by its id: a GDPR delete by an email that names no contact would blocklist the address in the
// portal, so that person could never be a contact again.
//
// Lifecycle stages: lead -> "lead", customer -> "customer", canceled or churned -> "other". HubSpot only moves
// lifecyclestage forward through the API; "other" comes after "customer", and sending "lead" to a customer
// leaves it a customer. We never clear the stage to force it back: people in the CRM may have promoted it.
//
// Rate limits: HubSpot limits requests per 10 s and per day, per portal. This module does not wait or retry:
// a 429 becomes a retryable ProviderError whose retryAfterMs is Retry-After when sent, else the 10 s window
// (X-HubSpot-RateLimit-Interval-Milliseconds), or an hour for the daily limit; ops.jobs schedules the retry.
// To get few 429s at all, the adapter carries its rate budget (HUBSPOT_RATE_LIMIT_PER_10S, default 90 of
// the 100 a private app may send per 10 s), which workers reserve before each job (ops.take_rate_tokens).
//
// Custom properties to create in the portal first: see HUBSPOT_PROPERTIES.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { maskEmail, normalizeEmail } from "../providers/email.ts";
import { classifyResponse, classifyThrown, permanent, ProviderError } from "../providers/error.ts";
import type { RateBudget } from "../providers/rate-budget.ts";
import { redact } from "../providers/redact.ts";
import { formatMinorUnits } from "../providers/money.ts";
import { escapeHtml } from "../html.ts";
import { describeIssues } from "../issues.ts";
import {
  anyAnswer,
  associationsAnswer,
  batchAnswer,
  createdAnswer,
  DAILY_LIMIT_WAIT_MS,
  hubspotReason,
  notesAnswer,
  parseJson,
  rateLimitWaitMs,
} from "./hubspot-answers.ts";
import {
  checkDeal,
  checkNote,
  type ContactInput,
  type CrmAdapter,
  type DealInput,
  type GdprDeleteInput,
  isCreateOnly,
  type LifecycleStage,
  type NoteInput,
  SELLER_STATUSES,
  type SellerContactInput,
} from "./contract.ts";

export type HubSpotConfig = {
  accessToken: string;
  apiBase: string;
  timeoutMs: number;
  pipeline: string;
  /** Our stage name ("paid", "refunded", ...) -> HubSpot dealstage id of the pipeline. */
  dealStages: Record<string, string>;
  /** Requests per 10 s that all workers together may send (HubSpot allows private apps 100). */
  ratePer10s: number;
};

export const HUBSPOT_PROPERTIES = {
  /** deals, single-line text, "require unique values" on: the idProperty of deal upserts */
  dealOrderId: "backbone_order_id",
  /** deals, number, major units like amount */
  dealRefundedAmount: "backbone_refunded_amount",
  /** deals, single checkbox */
  dealNeedsReview: "backbone_needs_review",
  /** contacts, single-line text: public.customers.billing_status */
  contactBillingStatus: "backbone_billing_status",
  /** contacts, single-line text (or dropdown: onboarding, active, restricted, disabled): a seller's Connect state */
  contactSellerStatus: "backbone_seller_status",
} as const;

const LIFECYCLE: Record<LifecycleStage, string> = { lead: "lead", customer: "customer", other: "other" };
// HubSpot's default association type ids (HUBSPOT_DEFINED)
const NOTE_TO_CONTACT = 202;
const NOTE_TO_DEAL = 214;
const MAX_NOTE_CHARS = 60_000; // hs_note_body holds 65,536 characters
const MAX_ASSOCIATION_PAGES = 4;

const hubspotEnv = z.object({
  HUBSPOT_ACCESS_TOKEN: setting.required(),
  HUBSPOT_API_BASE: setting.url("https://api.hubapi.com"),
  HUBSPOT_TIMEOUT_MS: setting.int(10_000, 1, 300_000),
  HUBSPOT_DEAL_PIPELINE: setting.text("default"),
  HUBSPOT_DEAL_STAGE_PAID: setting.text("closedwon"),
  HUBSPOT_DEAL_STAGE_REFUNDED: setting.text("closedlost"),
  HUBSPOT_RATE_LIMIT_PER_10S: setting.int(90, 1, 10_000),
});

/** Reads the adapter's settings from a plain env object (the function's env, a literal in tests). */
export function hubspotConfig(env: Env): HubSpotConfig {
  const e = parseEnv(hubspotEnv, env);
  const dealStages: Record<string, string> = {
    paid: e.HUBSPOT_DEAL_STAGE_PAID,
    refunded: e.HUBSPOT_DEAL_STAGE_REFUNDED,
  };
  // any HUBSPOT_DEAL_STAGE_<NAME> adds a stage, e.g. HUBSPOT_DEAL_STAGE_DISPUTED for stage "disputed"
  for (const [key, value] of Object.entries(env)) {
    const name = /^HUBSPOT_DEAL_STAGE_([A-Z0-9_]+)$/.exec(key)?.[1]?.toLowerCase();
    if (name && name !== "paid" && name !== "refunded" && value?.trim()) dealStages[name] = value.trim();
  }
  // fulfilment (#18): a shipped or completed order stays won unless the pipeline has stages for them
  dealStages.in_fulfillment ??= dealStages.paid;
  dealStages.completed ??= dealStages.paid;
  return {
    accessToken: e.HUBSPOT_ACCESS_TOKEN,
    apiBase: e.HUBSPOT_API_BASE,
    timeoutMs: e.HUBSPOT_TIMEOUT_MS,
    pipeline: e.HUBSPOT_DEAL_PIPELINE,
    dealStages,
    ratePer10s: e.HUBSPOT_RATE_LIMIT_PER_10S,
  };
}

export function createHubSpotAdapter(
  config: HubSpotConfig,
  deps: {
    fetch?: typeof fetch;
    /** For the one request that is not idempotent (a note create): a fetch that never re-sends a
     * request on its own. A pooled keep-alive connection that drops after the server applied a POST
     * makes Deno's fetch send it again, silently: two notes. See providers/no-retry-fetch.ts. */
    fetchOnce?: typeof fetch;
    now?: () => number;
  } = {},
): CrmAdapter {
  const doFetch = deps.fetch ?? fetch;
  const now = deps.now ?? Date.now;
  const secrets = [config.accessToken];

  /** One HTTP request with its own timeout, its answer parsed by `answer`; any failure leaves as a classified
   * ProviderError. An answer of another shape (a proxy's page, an API change) is retried: attempts are capped. */
  async function call<S extends z.ZodType>(
    operation: string,
    method: string,
    path: string,
    answer: S,
    body?: unknown,
    transport: typeof fetch = doFetch,
  ): Promise<z.output<S>> {
    let res: Response;
    let text: string;
    try {
      const headers: Record<string, string> = {
        authorization: `Bearer ${config.accessToken}`,
        accept: "application/json",
      };
      if (body !== undefined) headers["content-type"] = "application/json";
      res = await transport(`${config.apiBase}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(config.timeoutMs),
      });
      text = await res.text(); // still under the timeout: a body that stalls halfway is a timeout too
    } catch (err) {
      throw classifyThrown(operation, err, config.timeoutMs, secrets);
    }
    if (!res.ok) {
      const wait = rateLimitWaitMs(res.headers, text);
      throw classifyResponse(
        operation,
        {
          status: res.status,
          retryAfter: res.headers.get("retry-after"),
          reason: hubspotReason(res.status, text),
          defaultRetryAfterMs: wait,
          // the daily limit: waiting a second does not mend it, so attempts are spent (see classifyResponse)
          quota: wait === DAILY_LIMIT_WAIT_MS,
        },
        secrets,
        now(),
      );
    }
    const json = text.trim() ? parseJson(text) : {};
    if (json === undefined) {
      throw new ProviderError(`${operation}: HubSpot answered ${res.status} with a body that is not JSON`, {
        retryable: true,
        status: res.status,
      });
    }
    const parsed = answer.safeParse(json);
    if (!parsed.success) {
      throw new ProviderError(
        `${operation}: HubSpot answered ${res.status} with an unexpected body (${describeIssues(parsed.error.issues)})`,
        { retryable: true, status: res.status },
      );
    }
    return parsed.data;
  }

  /** The id of the one record of a batch answer; per-record errors of a 207 are classified like responses. */
  function batchResultId(operation: string, res: z.output<typeof batchAnswer>): string {
    const id = res.results[0]?.id;
    if (id !== undefined) return id;
    const error = res.errors[0];
    if (error) {
      const category = error.category || "ERROR";
      throw new ProviderError(
        redact(`${operation}: HubSpot ${category}: ${error.message || "no message"}`, secrets),
        {
          retryable: /RATE_LIMIT|TIMEOUT|INTERNAL|UNAVAILABLE/.test(category),
        },
      );
    }
    throw new ProviderError(`${operation}: HubSpot answered without a result`, { retryable: true });
  }

  /** A contact created only if no contact has the email; an existing one is left exactly as it is and its
   * id returned (from HubSpot's 409 "Contact already exists. Existing ID: <id>"). Idempotent: emails are
   * unique in HubSpot, so a retry after a lost answer meets the 409 of its own first attempt. */
  async function createContact(operation: string, properties: Record<string, string>) {
    try {
      const res = await call(`${operation} (create only)`, "POST", "/crm/v3/objects/contacts", createdAnswer, {
        properties,
      });
      return res.id;
    } catch (err) {
      if (!(err instanceof ProviderError) || err.status !== 409) throw err;
      const existing = /Existing ID: *(\d+)/.exec(err.message)?.[1];
      if (!existing) throw permanent(`${operation}: HubSpot answered 409 without the existing contact's id`, 409);
      return existing;
    }
  }

  /** The id of a note associated to the anchor whose body carries the marker, if an earlier attempt made it. */
  async function findMarkedNote(operation: string, anchor: [string, string], marker: string) {
    const ids: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < MAX_ASSOCIATION_PAGES; page++) {
      const query = new URLSearchParams({ limit: "500", ...(after ? { after } : {}) });
      const res = await call(
        `${operation}: list notes`,
        "GET",
        `/crm/v4/objects/${anchor[0]}/${encodeURIComponent(anchor[1])}/associations/notes?${query}`,
        associationsAnswer,
      );
      ids.push(...res.results.map((r) => r.toObjectId));
      after = res.paging?.next?.after || undefined;
      if (!after) break;
    }
    for (let i = 0; i < ids.length; i += 100) {
      const res = await call(`${operation}: read notes`, "POST", "/crm/v3/objects/notes/batch/read", notesAnswer, {
        inputs: ids.slice(i, i + 100).map((id) => ({ id })),
        properties: ["hs_note_body"],
      });
      const note = res.results.find((n) => n.properties?.hs_note_body?.includes(marker));
      if (note) return note.id;
    }
    return undefined;
  }

  async function upsertContact(c: ContactInput) {
    const email = normalizeEmail(c.email);
    const operation = `upsert contact ${maskEmail(email)}`;
    const lifecyclestage = LIFECYCLE[c.lifecycleStage];
    if (!lifecyclestage) throw permanent(`${operation}: unknown lifecycle stage "${c.lifecycleStage}"`);
    const properties: Record<string, string> = {
      email,
      lifecyclestage,
      [HUBSPOT_PROPERTIES.contactBillingStatus]: c.billingStatus,
    };
    // names only when we know them: never blank what someone typed into the CRM
    if (c.firstName?.trim()) properties.firstname = c.firstName.trim();
    if (c.lastName?.trim()) properties.lastname = c.lastName.trim();
    if (isCreateOnly(c)) return { contactId: await createContact(operation, properties) };
    const res = await call(operation, "POST", "/crm/v3/objects/contacts/batch/upsert", batchAnswer, {
      inputs: [{ idProperty: "email", id: email, properties }],
    });
    return { contactId: batchResultId(operation, res) };
  }

  /** A seller's status on the contact of their email (created when absent): names only when known, and
   * never the lifecycle stage or billing status, which the buyer side owns. */
  async function upsertSellerContact(c: SellerContactInput) {
    const email = normalizeEmail(c.email);
    const operation = `upsert seller contact ${maskEmail(email)}`;
    if (!SELLER_STATUSES.includes(c.sellerStatus)) {
      throw permanent(`${operation}: unknown seller status "${c.sellerStatus}"`);
    }
    const properties: Record<string, string> = { email, [HUBSPOT_PROPERTIES.contactSellerStatus]: c.sellerStatus };
    if (c.firstName?.trim()) properties.firstname = c.firstName.trim();
    if (c.lastName?.trim()) properties.lastname = c.lastName.trim();
    const res = await call(operation, "POST", "/crm/v3/objects/contacts/batch/upsert", batchAnswer, {
      inputs: [{ idProperty: "email", id: email, properties }],
    });
    return { contactId: batchResultId(operation, res) };
  }

  const isNotFound = (err: unknown) => err instanceof ProviderError && err.status === 404;

  /** The contact a stale id stands for now: the merge's survivor, else the contact of the email (found or
   * created). Undefined when the id still names a contact: then the 404 was not about it. */
  async function refindContact(operation: string, staleId: string, contact: ContactInput) {
    try {
      const res = await call(
        `${operation}: read contact ${staleId}`,
        "GET",
        `/crm/v3/objects/contacts/${encodeURIComponent(staleId)}?properties=email`,
        createdAnswer,
      );
      if (res.id === staleId) return undefined;
      return { contactId: res.id, healed: `contact ${staleId} was merged in HubSpot into ${res.id}` };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const { contactId } = await upsertContact(contact);
    return { contactId, healed: `contact ${staleId} was gone in HubSpot; found or created by email as ${contactId}` };
  }

  return {
    name: "hubspot",
    rateBudget: { bucket: "crm:hubspot", capacity: config.ratePer10s, windowMs: 10_000 } satisfies RateBudget,

    upsertContact,
    upsertSellerContact,

    async upsertDeal(d: DealInput) {
      checkDeal(d);
      const operation = `upsert deal ${d.orderKey}`;
      const stageKey = d.stage.trim().toLowerCase();
      if (!Object.hasOwn(config.dealStages, stageKey)) {
        throw permanent(
          `${operation}: no HubSpot deal stage configured for "${d.stage}" (set HUBSPOT_DEAL_STAGE_${stageKey.toUpperCase()})`,
        );
      }
      const properties: Record<string, string> = {
        [HUBSPOT_PROPERTIES.dealOrderId]: d.orderKey,
        dealname: d.name.trim(),
        amount: formatMinorUnits(d.amount, d.currency),
        deal_currency_code: d.currency.toUpperCase(),
        pipeline: config.pipeline,
        dealstage: config.dealStages[stageKey],
      };
      if (d.refundedAmount !== undefined) {
        properties[HUBSPOT_PROPERTIES.dealRefundedAmount] = formatMinorUnits(d.refundedAmount, d.currency);
      }
      if (d.needsReview !== undefined) properties[HUBSPOT_PROPERTIES.dealNeedsReview] = String(d.needsReview);
      const res = await call(operation, "POST", "/crm/v3/objects/deals/batch/upsert", batchAnswer, {
        inputs: [{ idProperty: HUBSPOT_PROPERTIES.dealOrderId, id: d.orderKey, properties }],
      });
      const dealId = batchResultId(operation, res);
      const associate = (contactId: string) =>
        call(
          `${operation}: associate contact`,
          "PUT",
          `/crm/v4/objects/deals/${encodeURIComponent(dealId)}/associations/default/contacts/${
            encodeURIComponent(contactId)
          }`,
          anyAnswer,
        );
      if (!d.contactId) return { dealId };
      try {
        await associate(d.contactId);
        return { dealId, contactId: d.contactId };
      } catch (err) {
        if (!isNotFound(err) || !d.contact) throw err;
        const found = await refindContact(operation, d.contactId, d.contact);
        if (!found) throw err;
        await associate(found.contactId);
        return { dealId, ...found };
      }
    },

    async gdprDeleteContacts(input: GdprDeleteInput) {
      const deleted: string[] = [];
      const gone: string[] = [];
      const remove = async (id: string) => {
        try {
          await call(`gdpr delete contact ${id}`, "POST", "/crm/v3/objects/contacts/gdpr-delete", anyAnswer, {
            objectId: id,
          });
          deleted.push(id);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          gone.push(id);
        }
      };
      for (const id of new Set(input.contactIds)) await remove(id);
      for (const email of new Set(input.emails.map(normalizeEmail))) {
        let id: string | undefined;
        try {
          const res = await call(
            `gdpr delete contact ${maskEmail(email)}: find`,
            "GET",
            `/crm/v3/objects/contacts/${encodeURIComponent(email)}?idProperty=email&properties=email`,
            createdAnswer,
          );
          id = res.id;
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        if (id && !deleted.includes(id)) await remove(id);
      }
      return { deleted, gone };
    },

    async addNote(n: NoteInput) {
      checkNote(n);
      const operation = `add note ${n.key}`;
      const marker = `[backbone:${n.key}]`;
      const anchor: [string, string] = n.dealId ? ["deals", n.dealId] : ["contacts", n.contactId as string];
      const existing = await findMarkedNote(operation, anchor, marker);
      if (existing) return { noteId: existing };
      const associations = [];
      if (n.dealId) {
        associations.push({
          to: { id: n.dealId },
          types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: NOTE_TO_DEAL }],
        });
      }
      if (n.contactId) {
        associations.push({
          to: { id: n.contactId },
          types: [{ associationCategory: "HUBSPOT_DEFINED", associationTypeId: NOTE_TO_CONTACT }],
        });
      }
      const html = escapeHtml(n.body.slice(0, MAX_NOTE_CHARS)).replace(/\r?\n/g, "<br>");
      const res = await call(operation, "POST", "/crm/v3/objects/notes", createdAnswer, {
        properties: {
          hs_note_body: `${html}<br><br>${marker}`,
          hs_timestamp: n.occurredAt ?? new Date(now()).toISOString(),
        },
        associations,
      }, deps.fetchOnce ?? doFetch);
      return { noteId: res.id };
    },
  };
}
