// The crm-sync job handler: reads the customer or order as it is now, upserts the CRM contact and
// deal with keyed (idempotent) calls, notes disputes once, and returns the mapping to store.
import type postgres from "postgres";
import type { CrmAdapter, LifecycleStage } from "./crm/contract.ts";
import { toCrmError } from "./crm/contract.ts";
import type { Failure, Job } from "./job-worker.ts";
import { Deferral, PermanentJobError } from "./job-worker.ts";

type Person = {
  customer_id?: string; email: string | null; name?: string | null; billing_status: string; version?: number;
  has_paid_order?: boolean;
  /** set when an earlier job already synced this contact (through which adapter, at which stage) */
  crm_contact_id?: string | null; crm_adapter?: string | null; crm_lifecycle_stage?: string | null;
};
type OrderContext = {
  order_id: string; status: string; amount_total: number | null; currency: string | null; amount_refunded: number;
  needs_review: boolean; version: number; listing_title: string | null; buyer: Person | null;
};

/** Billing status -> CRM lifecycle: lead -> customer -> churned ("other"). A marketplace buyer
 * who has paid for an order is a customer even without a subscription. */
export function lifecycleFor(billingStatus: string, hasPaidOrder = false): LifecycleStage {
  if (billingStatus === "lead") return hasPaidOrder ? "customer" : "lead";
  if (["trialing", "active", "past_due"].includes(billingStatus)) return "customer";
  return "other";
}

/** Our order status -> the deal stage name adapters map to their pipeline. A dispute keeps the
 * deal won (it is not lost yet) and adds a note; refunds are flagged for review on the deal. */
export function dealStageFor(status: string): string {
  return status === "refunded" ? "refunded" : "paid";
}

/** The buyer's contact id when an earlier job synced it through this adapter at its current stage. */
function knownContactId(buyer: Person | null, adapter: CrmAdapter): string | undefined {
  if (!buyer?.crm_contact_id || buyer.crm_adapter !== adapter.name) return undefined;
  return buyer.crm_lifecycle_stage === lifecycleFor(buyer.billing_status, buyer.has_paid_order) ? buyer.crm_contact_id : undefined;
}

/** CRM calls a job makes, reserved up front from the shared per-10-second budget. */
function callsFor(job: Job, ctx: OrderContext | Person, adapter: CrmAdapter): number {
  if (job.kind === "crm.contact") return 1;
  const order = ctx as OrderContext;
  const contactCall = order.buyer?.email && !knownContactId(order.buyer, adapter) ? 1 : 0;
  return contactCall + 2 + (order.status === "disputed" ? 3 : 0);
}

export type RateBudget = { capacity: number; windowMs: number };

export async function syncCrm(
  sql: postgres.Sql,
  adapter: CrmAdapter,
  job: Job,
  worker: string,
  budget: RateBudget | null,
): Promise<Record<string, unknown>> {
  const [{ ctx }] = await sql`select ops.crm_job_context(${job.id}, ${worker}) as ctx`;
  if (!ctx) throw new PermanentJobError(`${job.kind}: the customer or order no longer exists`);
  if (budget) {
    const [{ wait }] = await sql`
      select ops.take_rate_tokens(${`crm:${adapter.name}`}, ${callsFor(job, ctx, adapter)}, ${budget.capacity}, ${budget.windowMs}) as wait`;
    if (wait > 0) throw new Deferral(wait, `CRM rate budget used up; resuming in ${wait} ms`);
  }

  const contacts: Record<string, unknown>[] = [];
  async function upsertPerson(p: Person) {
    if (!p.email) return undefined;
    const lifecycle = lifecycleFor(p.billing_status, p.has_paid_order);
    const [firstName, ...rest] = (p.name ?? "").trim().split(/\s+/).filter(Boolean);
    const { contactId } = await adapter.upsertContact({
      email: p.email, firstName, lastName: rest.join(" ") || undefined, lifecycleStage: lifecycle, billingStatus: p.billing_status,
    });
    contacts.push({ customer_id: p.customer_id, email: p.email, crm_id: contactId, lifecycle_stage: lifecycle, version: p.version });
    return contactId;
  }

  /** Stores the customer <-> contact and order <-> deal mapping; returns a summary without emails. */
  async function record(deal?: Record<string, unknown>) {
    const mapping = { contacts, ...(deal ? { deal } : {}) };
    await sql`select ops.record_crm_sync(${job.id}, ${worker}, ${adapter.name}, ${sql.json(mapping as postgres.JSONValue)})`;
    return { adapter: adapter.name, contact_ids: contacts.map((c) => c.crm_id), ...(deal ? { deal_id: deal.crm_id } : {}) };
  }

  if (job.kind === "crm.contact") {
    const person = ctx as Person;
    if (!person.email) throw new PermanentJobError("crm.contact: the customer has no email to key the contact by");
    await upsertPerson(person);
    return record();
  }
  if (job.kind !== "crm.deal") throw new PermanentJobError(`crm-sync does not run jobs of kind ${job.kind}`);

  const order = ctx as OrderContext;
  // the buyer's contact is kept current by its own crm.contact jobs; upsert it here only if never synced
  const contactId = knownContactId(order.buyer, adapter) ?? (order.buyer ? await upsertPerson(order.buyer) : undefined);
  const stage = dealStageFor(order.status);
  const { dealId } = await adapter.upsertDeal({
    orderKey: order.order_id,
    name: `${order.listing_title ?? "Order"} (${order.order_id.slice(0, 8)})`,
    amount: Number(order.amount_total ?? 0),
    currency: order.currency ?? "usd",
    stage,
    contactId,
    refundedAmount: Number(order.amount_refunded ?? 0),
    needsReview: order.needs_review || order.status === "refunded" || order.status === "partially_refunded",
  });
  if (order.status === "disputed") {
    await adapter.addNote({
      key: `order:${order.order_id}:disputed:v${order.version}`,
      dealId,
      contactId,
      body: `A payment dispute was opened for order ${order.order_id}. Respond in the Stripe dashboard before the deadline.`,
    });
  }
  return record({ order_id: order.order_id, crm_id: dealId, stage, version: order.version });
}

export function classifyCrmFailure(err: unknown): Failure {
  if (err instanceof PermanentJobError) return { message: err.message, retryable: false };
  const e = toCrmError(err);
  return { message: e.message, retryable: e.retryable, retryAfterMs: e.retryAfterMs };
}
