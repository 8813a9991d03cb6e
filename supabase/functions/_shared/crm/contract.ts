// The CRM adapter contract: what crm-sync asks of a CRM, and the input checks every adapter makes.
// Adapters make ONE attempt and throw a ProviderError (../providers/error.ts); retries belong to ops.jobs.
import { permanent } from "../providers/error.ts";
import type { RateBudget } from "../providers/rate-budget.ts";

export type LifecycleStage = "lead" | "customer" | "other";

export type ContactInput = {
  email: string;
  firstName?: string;
  lastName?: string;
  /** lead: no paid order yet; customer: paying; other: canceled or churned (see hubspot.ts).
   * A lead only ever CREATES a contact: an existing contact with its email keeps its names, lifecycle
   * stage and billing status (a sign-up's name is whatever was typed; the contact may be someone's
   * who pays, or a person's edits). See isCreateOnly. */
  lifecycleStage: LifecycleStage;
  billingStatus: string;
};

/** A seller's status as the CRM shows it (ops.seller_crm_status): Connect onboarding under way, active (charges
 * and payouts enabled), restricted (requirements or a disabled reason block them), disabled (rejected). */
export type SellerStatus = "onboarding" | "active" | "restricted" | "disabled";
export const SELLER_STATUSES: readonly SellerStatus[] = ["onboarding", "active", "restricted", "disabled"];

/** A seller as a contact (#18): keyed by email like every contact; only the seller status (and the names when
 * known) are written, never the lifecycle stage or billing status, which are the buyer side's. */
export type SellerContactInput = { email: string; firstName?: string; lastName?: string; sellerStatus: SellerStatus };

/** Whether an upsert of this contact may only create it, never change an existing one (a lead). */
export function isCreateOnly(c: ContactInput): boolean {
  return c.lifecycleStage === "lead";
}

export type DealInput = {
  /** Our order uuid: the idempotency key of the deal. */
  orderKey: string;
  name: string;
  /** Minor units (cents), as Stripe and public.orders count them. */
  amount: number;
  currency: string;
  /** Our stage name ("paid", "refunded", ...); each adapter maps it to its own pipeline. */
  stage: string;
  /** The contact to associate, as an earlier sync remembered it or this job upserted it. */
  contactId?: string;
  /** The buyer by its natural key (email): how an adapter finds the contact again when contactId is gone
   * (deleted, merged, another portal connected). Without it a stale contactId fails the call. */
  contact?: ContactInput;
  refundedAmount?: number;
  needsReview?: boolean;
};

export type NoteInput = {
  /** Idempotency key, e.g. "order:<uuid>:refunded": letters, digits and . _ : - only. */
  key: string;
  dealId?: string;
  contactId?: string;
  body: string;
  /** When the business event happened (ISO 8601); defaults to now. */
  occurredAt?: string;
};

/** An erased person's contacts: the ids we remembered, and the emails that may key a contact we never heard of. */
export type GdprDeleteInput = { contactIds: string[]; emails: string[] };

export interface CrmAdapter {
  readonly name: string;
  /** The provider's request limit, shared by all workers; none for the local capture adapter. */
  readonly rateBudget?: RateBudget;
  upsertContact(c: ContactInput): Promise<{ contactId: string }>;
  /** The seller's status on their contact (created by email when absent); a keyed upsert, idempotent. */
  upsertSellerContact(c: SellerContactInput): Promise<{ contactId: string }>;
  /** contactId: the contact the deal was associated to, which differs from d.contactId when that one was
   * gone and the adapter found it again; healed then says what happened (for the job's result). */
  upsertDeal(d: DealInput): Promise<{ dealId: string; contactId?: string; healed?: string }>;
  addNote(n: NoteInput): Promise<{ noteId: string }>;
  /** Permanently deletes the contacts (HubSpot's GDPR delete): each id, and the contact each email names now.
   * An id already gone counts as done (`gone`); an email naming no contact changes nothing. Never sends an email
   * to the delete itself: HubSpot blocklists an email that names no contact. */
  gdprDeleteContacts(input: GdprDeleteInput): Promise<{ deleted: string[]; gone: string[] }>;
}

/** Checks every adapter makes before sending: a bad input is a permanent failure, never a retry. */
export function checkDeal(d: DealInput): void {
  if (!d.orderKey?.trim()) throw permanent("upsert deal: orderKey is required");
  if (!d.name?.trim()) throw permanent("upsert deal: name is required");
  if (!Number.isSafeInteger(d.amount) || d.amount < 0) {
    throw permanent("upsert deal: amount must be a non-negative integer in minor units");
  }
  if (d.refundedAmount !== undefined && (!Number.isSafeInteger(d.refundedAmount) || d.refundedAmount < 0)) {
    throw permanent("upsert deal: refundedAmount must be a non-negative integer in minor units");
  }
  if (!/^[a-z]{3}$/i.test(d.currency ?? "")) throw permanent("upsert deal: currency must be a 3-letter ISO code");
}

export const NOTE_KEY_RE = /^[A-Za-z0-9._:-]{1,200}$/;

export function checkNote(n: NoteInput): void {
  if (!NOTE_KEY_RE.test(n.key ?? "")) {
    throw permanent("add note: key must be 1-200 letters, digits or . _ : - characters");
  }
  if (!n.body?.trim()) throw permanent("add note: body is empty");
  if (!n.dealId && !n.contactId) throw permanent("add note: a note needs a dealId or a contactId to attach to");
  if (n.occurredAt !== undefined && Number.isNaN(Date.parse(n.occurredAt))) {
    throw permanent("add note: occurredAt is not an ISO 8601 date");
  }
}
