// Local capture CRM adapter: records what would be sent, returns ids derived from the keys (idempotent, no account).
import {
  checkDeal,
  checkNote,
  type ContactInput,
  type CrmAdapter,
  CrmError,
  type DealInput,
  normalizeEmail,
  type NoteInput,
} from "./contract.ts";

export type CaptureRecord = {
  kind: "contact" | "deal" | "note";
  /** The idempotency key (normalised email, order uuid, note key): a replay records the same key and externalId. */
  key: string;
  /** What the adapter returns for this key, always the same: capture-<kind>-<sha256(key), 24 hex>. */
  externalId: string;
  payload: Record<string, unknown>;
};

/** Injected by the caller: crm-sync passes one that writes ops.crm_capture (operation = kind); tests push to an array. */
export type CaptureRecorder = (record: CaptureRecord) => Promise<void>;

export async function captureId(kind: CaptureRecord["kind"], key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `capture-${kind}-${hex.slice(0, 24)}`;
}

export function createCaptureAdapter(recorder: CaptureRecorder): CrmAdapter {
  async function capture(kind: CaptureRecord["kind"], key: string, payload: Record<string, unknown>) {
    const externalId = await captureId(kind, key);
    try {
      await recorder({ kind, key, externalId, payload });
    } catch (cause) {
      // the recorder is a database write: a failed one is worth another attempt, like a CRM 5xx
      const name = cause instanceof Error ? cause.name : typeof cause;
      throw new CrmError(`capture ${kind}: the recorder failed (${name})`, { retryable: true, cause });
    }
    return externalId;
  }

  return {
    name: "capture",

    async upsertContact(c: ContactInput) {
      const email = normalizeEmail(c.email);
      const contactId = await capture("contact", email, {
        email,
        firstName: c.firstName?.trim() || undefined,
        lastName: c.lastName?.trim() || undefined,
        lifecycleStage: c.lifecycleStage,
        billingStatus: c.billingStatus,
      });
      return { contactId };
    },

    async upsertDeal(d: DealInput) {
      checkDeal(d);
      const dealId = await capture("deal", d.orderKey, {
        orderKey: d.orderKey,
        name: d.name.trim(),
        amount: d.amount,
        currency: d.currency.toLowerCase(),
        stage: d.stage,
        contactId: d.contactId,
        refundedAmount: d.refundedAmount,
        needsReview: d.needsReview,
      });
      return { dealId };
    },

    async addNote(n: NoteInput) {
      checkNote(n);
      const noteId = await capture("note", n.key, {
        key: n.key,
        dealId: n.dealId,
        contactId: n.contactId,
        body: n.body,
        occurredAt: n.occurredAt,
      });
      return { noteId };
    },
  };
}
