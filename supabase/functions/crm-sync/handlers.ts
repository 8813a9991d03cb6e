// The crm-sync job handlers: read the customer or order as it is now, upsert the CRM contact and
// deal with keyed (idempotent) calls, note disputes once, and store the mapping.
import type postgres from "postgres";
import { z } from "zod";
import type { Env } from "../_shared/config/env.ts";
import { type ContactInput, type CrmAdapter, type LifecycleStage, SELLER_STATUSES } from "../_shared/crm/contract.ts";
import { selectCrmAdapter } from "../_shared/crm/select.ts";
import {
  Deferral,
  Finished,
  type Job,
  type JobHandler,
  missingFunction,
  parseJobContext,
  PermanentJobError,
} from "../_shared/jobs/worker.ts";
import { awaitRateTokens } from "../_shared/providers/rate-budget.ts";
import { log } from "../_shared/log.ts";

// what ops.crm_job_context answers, by kind (loose: new keys may come before the code reads them)
export const personContext = z.object({
  customer_id: z.string().nullish(),
  email: z.string().nullable(),
  name: z.string().nullish(),
  billing_status: z.string(),
  version: z.number().int().optional(),
  has_paid_order: z.boolean().optional(),
  /** set when an earlier job already synced this contact (through which adapter, at which stage) */
  crm_contact_id: z.string().nullish(),
  crm_adapter: z.string().nullish(),
  crm_lifecycle_stage: z.string().nullish(),
}).loose();
export const orderContext = z.object({
  order_id: z.string(),
  status: z.string(),
  /** the list price */
  amount_total: z.number().nullable(),
  currency: z.string().nullable(),
  /** what the paying payment charged (tax and discounts included): the deal's amount */
  amount_charged: z.number().nullable(),
  currency_charged: z.string().nullable(),
  amount_refunded: z.number(),
  needs_review: z.boolean(),
  version: z.number().int(),
  listing_title: z.string().nullable(),
  /** the newest dispute of the order's payment, when there is one */
  dispute_id: z.string().nullable(),
  buyer: personContext.nullable(),
}).loose();
type Person = z.output<typeof personContext>;
/** A crm.seller job's context (#18): the seller as they are now. */
export const sellerContext = z.object({
  seller_id: z.string(),
  email: z.string().nullable(),
  name: z.string().nullish(),
  seller_status: z.enum(SELLER_STATUSES),
  stripe_account_id: z.string().nullish(),
}).loose();
/** A crm.gdpr_delete job's payload (ops.erase_person): remembered contacts by adapter, and the erased
 * addresses (gone from the payload once the job succeeded). */
export const gdprDeletePayload = z.object({
  erasure_id: z.string(),
  contacts: z.array(z.object({ adapter: z.string(), contact_id: z.string() })).default([]),
  emails: z.array(z.string()).default([]),
}).loose();

/** Billing status -> CRM lifecycle: lead -> customer -> churned ("other"). A marketplace buyer
 * who has paid for an order is a customer even without a subscription. */
export function lifecycleFor(billingStatus: string, hasPaidOrder = false): LifecycleStage {
  if (billingStatus === "lead") return hasPaidOrder ? "customer" : "lead";
  if (["trialing", "active", "past_due"].includes(billingStatus)) return "customer";
  return "other";
}

/** Our order status -> the deal stage name adapters map to their pipeline. A dispute keeps the
 * deal won (it is not lost yet) and adds a note; refunds are flagged for review on the deal. Fulfilment
 * (#18) has stages of its own, which HubSpot maps to the paid stage unless configured. */
export function dealStageFor(status: string): string {
  if (status === "in_fulfillment" || status === "completed") return status;
  return status === "refunded" ? "refunded" : "paid";
}

/** The buyer's contact id when an earlier job synced it through this adapter at its current stage. */
function knownContactId(buyer: Person | null, adapter: CrmAdapter): string | undefined {
  if (!buyer?.crm_contact_id || buyer.crm_adapter !== adapter.name) return undefined;
  return buyer.crm_lifecycle_stage === lifecycleFor(buyer.billing_status, buyer.has_paid_order)
    ? buyer.crm_contact_id
    : undefined;
}

/** The person as the CRM contact it is keyed by (its email); none without an email. */
function contactFor(p: Person): ContactInput | undefined {
  if (!p.email) return undefined;
  const [firstName, ...rest] = (p.name ?? "").trim().split(/\s+/).filter(Boolean);
  return {
    email: p.email,
    firstName,
    lastName: rest.join(" ") || undefined,
    lifecycleStage: lifecycleFor(p.billing_status, p.has_paid_order),
    billingStatus: p.billing_status,
  };
}

/** The handlers of crm-sync's job kinds, over the adapter the env selects (HubSpot or capture). */
export function crmHandlers(sql: postgres.Sql, env: Env): Record<string, JobHandler> {
  const adapter = selectCrmAdapter(env, {
    recorder: async (r) => {
      await sql`select ops.record_crm_capture(${r.kind}, ${r.key}, ${sql.json({ id: r.externalId, ...r.payload })})`;
    },
  });

  /** The entity as it is now (null once it is gone, or held from the CRM), after reserving the job's
   * calls from the shared budget. */
  async function begin<S extends z.ZodType>(
    job: Job,
    worker: string,
    schema: S,
    calls: (ctx: z.output<S>) => number,
  ): Promise<z.output<S> | null> {
    const [{ ctx: raw }] = await sql`select ops.crm_job_context(${job.id}, ${worker}) as ctx`;
    if (raw === null || raw === undefined) return null;
    const ctx = parseJobContext("ops.crm_job_context", schema, raw);
    if (adapter.rateBudget) {
      // a deal (urgent) may use the whole budget; contact backfills leave it a reserve
      const wait = await awaitRateTokens(sql, adapter.rateBudget, calls(ctx), job.priority);
      if (wait > 0) throw new Deferral(wait, `CRM rate budget used up; resuming in ${wait} ms`);
    }
    return ctx;
  }

  /** One sync: upserts contacts as it goes and stores the mappings (customer <-> contact, order <-> deal). */
  function sync(job: Job, worker: string) {
    const contacts: Record<string, unknown>[] = [];
    /** Remembers the person's contact id (the mapping record() stores). */
    const remember = (p: Person, contactId: string) => {
      contacts.push({
        customer_id: p.customer_id,
        email: p.email,
        crm_id: contactId,
        lifecycle_stage: lifecycleFor(p.billing_status, p.has_paid_order),
        version: p.version,
      });
    };
    return {
      remember,
      async upsertPerson(p: Person) {
        const contact = contactFor(p);
        if (!contact) return undefined;
        const { contactId } = await adapter.upsertContact(contact);
        remember(p, contactId);
        return contactId;
      },
      /** Stores the mappings and completes the job in one statement (ops.finish_crm_job); its result is a
       * summary without emails; healed: a stale CRM id the job replaced. */
      async record(deal?: Record<string, unknown>, healed?: string) {
        const mapping = { contacts, ...(deal ? { deal } : {}) };
        const result = {
          adapter: adapter.name,
          contact_ids: contacts.map((c) => c.crm_id),
          ...(deal ? { deal_id: deal.crm_id } : {}),
          ...(healed ? { healed } : {}),
        };
        const mappingJson = sql.json(mapping as postgres.JSONValue);
        const resultJson = sql.json(result as postgres.JSONValue);
        const [{ ok }] = await sql<{ ok: boolean }[]>`
          select ops.finish_crm_job(${job.id}, ${worker}, ${adapter.name}, ${mappingJson}, ${resultJson}) as ok`
          .catch(async (err) => {
            if (!missingFunction(err)) throw err;
            // a database of 0.5.0 (migrations not pushed yet): record, then complete, as 0.5.0 did
            await sql`select ops.record_crm_sync(${job.id}, ${worker}, ${adapter.name}, ${mappingJson})`;
            return sql<{ ok: boolean }[]>`
              select ops.complete_job(${job.id}, ${worker}, ${resultJson}, p_hand_on => false) as ok`;
          });
        return new Finished(result, ok);
      },
    };
  }

  return {
    "crm.contact": async (job, { worker }) => {
      const person = await begin(job, worker, personContext, () => 1);
      // a customer row merged into its user's (ops.link_stripe_customer) or deleted, or one held from
      // the CRM (no user, needed review): nothing to sync, and nothing an operator must do
      if (!person) return { skipped: "the customer no longer exists or is held from the CRM" };
      if (!person.email) throw new PermanentJobError("crm.contact: the customer has no email to key the contact by");
      const s = sync(job, worker);
      await s.upsertPerson(person);
      return s.record();
    },

    "crm.seller": async (job, { worker }) => {
      const seller = await begin(job, worker, sellerContext, () => 1);
      if (!seller) return { skipped: "the seller's account or user no longer exists" };
      if (!seller.email) throw new PermanentJobError("crm.seller: the seller has no email to key the contact by");
      const [firstName, ...rest] = (seller.name ?? "").trim().split(/\s+/).filter(Boolean);
      const { contactId } = await adapter.upsertSellerContact({
        email: seller.email,
        firstName,
        lastName: rest.join(" ") || undefined,
        sellerStatus: seller.seller_status,
      });
      // ids only: no email in the job's result
      return { adapter: adapter.name, contact_id: contactId, seller_status: seller.seller_status };
    },

    "crm.gdpr_delete": async (job) => {
      const p = parseJobContext("the crm.gdpr_delete payload", gdprDeletePayload, job.payload);
      // an id remembered through another adapter (capture, then HubSpot) names nothing here: its email does
      const ids = p.contacts.filter((c) => c.adapter === adapter.name).map((c) => c.contact_id);
      const calls = ids.length + 2 * p.emails.length;
      if (adapter.rateBudget && calls > 0) {
        const wait = await awaitRateTokens(sql, adapter.rateBudget, calls, job.priority);
        if (wait > 0) throw new Deferral(wait, `CRM rate budget used up; resuming in ${wait} ms`);
      }
      const { deleted, gone } = await adapter.gdprDeleteContacts({ contactIds: ids, emails: p.emails });
      // ids only: the addresses leave the payload when the job succeeds (jobs_300_forget_erased_emails)
      return { adapter: adapter.name, erasure_id: p.erasure_id, deleted, gone };
    },

    "crm.deal": async (job, { worker }) => {
      // calls: the buyer's contact unless already synced, the deal and its association, a dispute's note (list, read, create)
      const order = await begin(
        job,
        worker,
        orderContext,
        (o) => (o.buyer?.email && !knownContactId(o.buyer, adapter) ? 1 : 0) + 2 + (o.status === "disputed" ? 3 : 0),
      );
      if (!order) throw new PermanentJobError("crm.deal: the order no longer exists");
      const s = sync(job, worker);
      // the buyer's contact is kept current by its own crm.contact jobs; upsert it here only if never synced
      const contactId = knownContactId(order.buyer, adapter) ??
        (order.buyer ? await s.upsertPerson(order.buyer) : undefined);
      const stage = dealStageFor(order.status);
      const deal = await adapter.upsertDeal({
        orderKey: order.order_id,
        name: `${order.listing_title ?? "Order"} (${order.order_id.slice(0, 8)})`,
        amount: order.amount_charged ?? order.amount_total ?? 0,
        currency: order.currency_charged ?? order.currency ?? "usd",
        stage,
        contactId,
        // a remembered id may be gone in the CRM (deleted, merged): the adapter finds the contact again by email
        contact: order.buyer ? contactFor(order.buyer) : undefined,
        refundedAmount: order.amount_refunded,
        needsReview: order.needs_review || order.status === "refunded" || order.status === "partially_refunded",
      });
      const dealId = deal.dealId;
      if (order.buyer && deal.contactId && deal.contactId !== contactId) s.remember(order.buyer, deal.contactId);
      if (order.status === "disputed") {
        await adapter.addNote({
          // keyed by the dispute, not the order's version: every job that sees it open notes it once
          key: order.dispute_id ? `dispute:${order.dispute_id}` : `order:${order.order_id}:disputed:v${order.version}`,
          dealId,
          contactId: deal.contactId ?? contactId,
          body:
            `A payment dispute was opened for order ${order.order_id}. Respond in the Stripe dashboard before the deadline.`,
        });
      }
      // ids only: the detail names CRM ids, never the email
      if (deal.healed) log("warn", "crm-sync", "a stale CRM id was replaced", { job_id: job.id, detail: deal.healed });
      return s.record({ order_id: order.order_id, crm_id: dealId, stage, version: order.version }, deal.healed);
    },
  };
}
