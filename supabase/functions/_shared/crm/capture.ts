// Local capture CRM adapter: records what would be sent, returns ids derived from the keys (idempotent, no account).
import { capture as record, captureId, type CaptureRecorder } from "../providers/capture.ts";
import { normalizeEmail } from "../providers/email.ts";
import {
  checkDeal,
  checkNote,
  type ContactInput,
  type CrmAdapter,
  type DealInput,
  type GdprDeleteInput,
  isCreateOnly,
  type NoteInput,
  type SellerContactInput,
} from "./contract.ts";

export function createCaptureAdapter(recorder: CaptureRecorder): CrmAdapter {
  const capture = (kind: string, key: string, payload: Record<string, unknown>) => record(recorder, kind, key, payload);

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
        // create_only: the CRM would create the contact if new and leave an existing one unchanged
        mode: isCreateOnly(c) ? "create_only" : "upsert",
      });
      return { contactId };
    },

    async upsertSellerContact(c: SellerContactInput) {
      const email = normalizeEmail(c.email);
      const contactId = await capture("contact", email, {
        email,
        firstName: c.firstName?.trim() || undefined,
        lastName: c.lastName?.trim() || undefined,
        sellerStatus: c.sellerStatus,
        mode: "seller_status",
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
      return { dealId, contactId: d.contactId };
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

    // the contact an email keyed here has the id derived from it: recorded by id, never by the email
    async gdprDeleteContacts(input: GdprDeleteInput) {
      const ids = new Set(input.contactIds);
      for (const email of input.emails) ids.add(await captureId("contact", normalizeEmail(email)));
      const deleted: string[] = [];
      for (const contactId of ids) {
        await capture("gdpr_delete", contactId, { contactId });
        deleted.push(contactId);
      }
      return { deleted, gone: [] };
    },
  };
}
