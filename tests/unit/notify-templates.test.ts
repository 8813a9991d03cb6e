// The notification templates: every template renders from its job payload (subject, escaped HTML and a
// text part; Slack texts), amounts with their currency, sender and reply-to from config, deterministic
// output (Resend's idempotency key needs the same body on a retry), and bad payloads refused permanently.
import { describe, expect, test, vi } from "vitest";
import {
  notifyConfig,
  renderEmail,
  renderNotification,
  renderSlack,
  type TemplateName,
  templates,
} from "../../supabase/functions/_shared/notify/templates.ts";
import { ProviderError } from "../../supabase/functions/_shared/providers/error.ts";
import { formatMoney } from "../../supabase/functions/_shared/providers/money.ts";

const config = notifyConfig({
  APP_NAME: "Mugshop",
  APP_URL: "https://app.mugshop.example/",
  NOTIFY_FROM_NAME: "Mugshop Billing",
  NOTIFY_FROM_EMAIL: "billing@mugshop.example",
  NOTIFY_REPLY_TO: "Support@Mugshop.example",
  FOUNDER_EMAIL: "founder@mugshop.example",
});

// an incident as ops.notify_job_context builds it (migration 1700, templates of migration 2000)
const alertOpened = {
  incident_id: 42,
  rule: "crm_failure_rate",
  severity: "warning",
  description: "CRM: failed CRM job attempts over all finished ones",
  summary: "7 of 9 CRM job attempts failed in 15 min (77.8%)",
  observed: { failed_attempts: 7, succeeded_attempts: 2, last_error: "HubSpot 503 <service unavailable>" },
  runbook: "Check the CRM's status page and HUBSPOT_ACCESS_TOKEN; jobs retry by themselves.",
  opened_at: "2026-11-22T10:00:00.123456+00:00",
};
const alertResolved = { ...alertOpened, resolved_at: "2026-11-22T12:05:30+00:00", duration_seconds: 7530 };

// a failed renewal as ops.enqueue_dunning_email freezes it (migration 5300)
const renewalSample = {
  to: "jane@example.com",
  customer_name: "Jane",
  amount: 2900,
  currency: "eur",
  invoice_number: "A1B2-0007",
  description: "1 × Pro (at €29.00 / month)",
  hosted_invoice_url: "https://invoice.stripe.com/i/acct_1/test_abc",
  grace_ends_at: "2026-12-17T10:00:00Z",
};

const samples: Record<TemplateName, Record<string, unknown>> = {
  payment_receipt: {
    to: "jane@example.com",
    customer_name: "Jane",
    order_ref: "ORD-1042",
    amount: 1999,
    currency: "usd",
    item: "Handmade mug",
    paid_at: "2026-11-22T10:05:00.123456+00:00",
  },
  payment_failed: {
    to: "jane@example.com",
    customer_name: "Jane",
    order_ref: "ORD-1042",
    amount: 1999,
    currency: "usd",
    reason: "Your card was declined.",
  },
  refund_confirmation: {
    to: "jane@example.com",
    order_ref: "ORD-1042",
    amount_refunded: 500,
    order_amount: 1999,
    currency: "usd",
  },
  welcome: { to: "jane@example.com", customer_name: "Jane", product: "Pro plan" },
  // a seller's, as ops.apply_connect_account / apply_payout freeze them (migration 3200)
  seller_requirements_due: {
    to: "jane@example.com",
    seller_name: "Sam",
    requirements: ["individual.verification.document", "external_account"],
    deadline: "2026-12-20T00:00:00+00:00",
    why: "Stripe needs more information by 2026-12-20: individual.verification.document, external_account.",
    next_step: "Open seller onboarding and complete what Stripe asks for.",
  },
  seller_requirements_past_due: {
    to: "jane@example.com",
    requirements: ["external_account"],
    why: "Stripe needs information that is now overdue: external_account.",
    next_step: "Open seller onboarding and complete what Stripe asks for.",
    charges_enabled: false,
  },
  seller_payout_failed: {
    to: "jane@example.com",
    seller_name: "Sam",
    payout_id: "po_1Abc",
    amount: 12050,
    currency: "eur",
    failure_code: "account_closed",
    failure_message: "The bank account has been closed.",
    advice: "The bank account is closed: add a new bank account in your Stripe Express dashboard.",
    ticket_ref: "T-000123",
  },
  support_ack: { to: "jane@example.com", ticket_ref: "T-2001", subject: "Where is my mug?" },
  ticket_reply: {
    to: "jane@example.com",
    ticket_id: "3f2a4c1e-0b7d-4e8a-9c6f-1d2e3f4a5b6c",
    ticket_ref: "T-2001",
    subject: "Where is my mug?",
    message_id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    message: "It shipped this morning.",
    first_reply_id: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
  },
  founder_new_ticket: {
    ticket_ref: "T-2001",
    subject: "Where is my mug?",
    queue: "billing",
    priority: "high",
    requester_email: "jane@example.com",
    category: "billing",
    order_ref: "ORD-1042",
    message: "I paid yesterday and have no access.",
    tags: ["plan:pro", "payment:paid"],
  },
  slack_dispute_alert: {
    order_ref: "ORD-1042",
    amount: 1999,
    currency: "usd",
    reason: "fraudulent",
    evidence_due_by: "2026-12-02T23:59:59Z",
    dispute_id: "dp_1",
    ticket_ref: "T-2002",
  },
  order_shipped: {
    to: "jane@example.com",
    customer_name: "Jane",
    order_ref: "ORD-1042",
    item: "Handmade mug",
    carrier: "DHL",
    tracking_number: "JD014600006281",
    tracking_url: "https://track.example/JD014600006281",
  },
  order_completed: { to: "jane@example.com", order_ref: "ORD-1042", item: "Handmade mug", completed_by: "buyer" },
  renewal_failed: renewalSample,
  renewal_reminder: { ...renewalSample, reminder: 2, days_since_failure: 7 },
  payment_recovered: { ...renewalSample, grace_ends_at: undefined },
  slack_alert_opened: alertOpened,
  slack_alert_resolved: alertResolved,
  founder_alert_opened: alertOpened,
  founder_alert_resolved: alertResolved,
};

const emailNames = (Object.keys(templates) as TemplateName[]).filter((n) => templates[n].channel === "email");
const slackNames = (Object.keys(templates) as TemplateName[]).filter((n) => templates[n].channel === "slack");

function permanentError(fn: () => unknown): ProviderError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).retryable).toBe(false);
  return err as ProviderError;
}

describe("fulfilment emails (#18)", () => {
  test("the shipping email names the carrier, the tracking number and links the tracking page", () => {
    const m = renderEmail("order_shipped", samples.order_shipped, config);
    expect(m.subject).toBe("Your order ORD-1042 has shipped");
    expect(m.text).toMatch(/DHL/);
    expect(m.text).toMatch(/JD014600006281/);
    expect(m.html).toContain('href="https://track.example/JD014600006281"');
  });

  test("without tracking it says so; a tracking page that is not https is refused", () => {
    const m = renderEmail("order_shipped", { to: "jane@example.com", order_ref: "ORD-1" }, config);
    expect(m.text).toMatch(/did not give a tracking number/);
    const err = permanentError(() =>
      renderEmail("order_shipped", { ...samples.order_shipped, tracking_url: "javascript:alert(1)" }, config)
    );
    expect(err.message).toMatch(/tracking_url/);
  });

  test("the completion email says who completed it", () => {
    const said = (completed_by: string) =>
      renderEmail("order_completed", { ...samples.order_completed, completed_by }, config).text;
    expect(said("buyer")).toMatch(/confirming that you received/);
    expect(said("seller")).toMatch(/seller has marked/);
    expect(said("auto")).toMatch(/shipped a while ago/);
  });
});

describe("dunning emails (#20)", () => {
  test("a failed renewal links Stripe's hosted invoice and says until when access lasts", () => {
    const m = renderEmail("renewal_failed", samples.renewal_failed, config);
    expect(m.subject).toBe(`Your Mugshop renewal of ${formatMoney(2900, "eur")} did not go through`);
    expect(m.html).toContain('href="https://invoice.stripe.com/i/acct_1/test_abc"');
    expect(m.text).toMatch(/access continues until 2026-12-17/);
    expect(m.text).toContain("A1B2-0007");
  });

  test("without a hosted invoice page the action is the app's billing page (billing-portal)", () => {
    const m = renderEmail("renewal_failed", { ...samples.renewal_failed, hosted_invoice_url: undefined }, config);
    expect(m.html).toContain('href="https://app.mugshop.example/billing"');
  });

  test("a reminder counts the days and a hosted invoice page that is not https is refused", () => {
    const m = renderEmail("renewal_reminder", samples.renewal_reminder, config);
    expect(m.subject).toMatch(/^Reminder: your Mugshop invoice of .* is still unpaid$/);
    expect(m.text).toMatch(/7 days after it failed/);
    expect(m.text).toMatch(/pauses on 2026-12-17/);
    const err = permanentError(() =>
      renderEmail("renewal_failed", { ...samples.renewal_failed, hosted_invoice_url: "http://x.example/i" }, config)
    );
    expect(err.message).toMatch(/hosted_invoice_url/);
  });

  test("the recovered payment says access is restored", () => {
    const m = renderEmail("payment_recovered", samples.payment_recovered, config);
    expect(m.subject).toBe("Thank you: your Mugshop subscription is paid");
    expect(m.text).toMatch(/access is restored/);
  });
});

describe("the template registry", () => {
  test("holds the notifications of #9, the alert notices of #10 (no per-dead-job alert) and sellers' of #18", () => {
    expect(Object.keys(templates).sort()).toEqual([
      "founder_alert_opened",
      "founder_alert_resolved",
      "founder_new_ticket",
      "order_completed",
      "order_shipped",
      "payment_failed",
      "payment_receipt",
      "payment_recovered",
      "refund_confirmation",
      "renewal_failed",
      "renewal_reminder",
      "seller_payout_failed",
      "seller_requirements_due",
      "seller_requirements_past_due",
      "slack_alert_opened",
      "slack_alert_resolved",
      "slack_dispute_alert",
      "support_ack",
      "ticket_reply",
      "welcome",
    ]);
    expect(slackNames.sort()).toEqual(["slack_alert_opened", "slack_alert_resolved", "slack_dispute_alert"]);
  });

  test("a seller's emails link to the app's onboarding page (SELLER_ONBOARDING_PAGE_URL, else APP_URL's)", () => {
    const due = renderEmail("seller_requirements_due", samples.seller_requirements_due, config);
    expect(due.text).toContain("https://app.mugshop.example/seller/onboarding");
    expect(due.text).toContain("individual verification document");
    const set = notifyConfig({
      APP_URL: "https://app.example",
      SELLER_ONBOARDING_PAGE_URL: "https://x.example/payouts",
    });
    const failed = renderEmail("seller_payout_failed", samples.seller_payout_failed, set);
    expect(failed.subject).toBe("Your payout of €120.50 failed");
    expect(failed.text).toContain("https://x.example/payouts");
    expect(failed.text).toContain("add a new bank account");
    const past = renderEmail("seller_requirements_past_due", samples.seller_requirements_past_due, config);
    expect(past.subject).toContain("buyers cannot pay you");
  });

  test.each(emailNames)("%s renders a subject, an HTML part and a text part, from the configured sender", (name) => {
    const m = renderEmail(name, samples[name], config);
    expect(m.subject.trim()).not.toBe("");
    expect(m.subject).not.toMatch(/[\r\n]/);
    expect(m.html).toMatch(/^<!doctype html>/);
    expect(m.html).toContain(`<title>${m.subject.replace(/&/g, "&amp;")}</title>`);
    expect(m.text.trim().length).toBeGreaterThan(40);
    expect(m.text).toContain("--\nMugshop\nhttps://app.mugshop.example");
    expect(m.from).toEqual({ name: "Mugshop Billing", address: "billing@mugshop.example" });
    expect(m.replyTo).toBe("support@mugshop.example");
    expect(m.tags).toEqual({ template: name });
    expect(m.to).toBe(name.startsWith("founder_") ? "founder@mugshop.example" : "jane@example.com");
  });

  test.each(slackNames)("%s renders a Slack text", (name) => {
    const m = renderSlack(name, samples[name], config);
    expect(m.text.trim()).not.toBe("");
    expect(m.blocks).toBeUndefined();
  });

  test.each(Object.keys(templates) as TemplateName[])("%s renders the same message every time (no clock)", (name) => {
    vi.useFakeTimers({ now: Date.parse("2026-11-22T10:00:00Z") });
    try {
      const first = renderNotification(name, samples[name], config);
      vi.setSystemTime(Date.parse("2027-03-01T17:45:00Z")); // a later day, hour and minute
      expect(renderNotification(name, samples[name], config)).toEqual(first);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("what each template says", () => {
  test("the receipt shows the amount with its currency, the order and the payment date", () => {
    const m = renderEmail("payment_receipt", samples.payment_receipt, config);
    expect(m.subject).toBe("Receipt for order ORD-1042: $19.99");
    for (const part of [m.text, m.html]) {
      expect(part).toContain("$19.99");
      expect(part).toContain("ORD-1042");
      expect(part).toContain("Handmade mug");
      expect(part).toContain("2026-11-22 10:05 UTC");
    }
    expect(m.text).toContain("Hi Jane,");
  });

  test("amounts follow the currency's minor units", () => {
    expect(formatMoney(1999, "usd")).toBe("$19.99");
    expect(formatMoney(500, "JPY")).toBe("¥500");
    expect(formatMoney(1999, "eur")).toBe("€19.99");
    expect(formatMoney(1234, "kwd").replace(/\s/g, " ")).toBe("KWD 1.234");
    const yen = renderEmail("payment_receipt", { ...samples.payment_receipt, amount: 500, currency: "jpy" }, config);
    expect(yen.subject).toBe("Receipt for order ORD-1042: ¥500");
  });

  test("the failed payment names the next step with a link to the billing page", () => {
    const m = renderEmail("payment_failed", samples.payment_failed, config);
    expect(m.subject).toBe("Your payment of $19.99 did not go through");
    const link = "https://app.mugshop.example/billing?order=ORD-1042";
    expect(m.text).toContain(`Update your card and retry: ${link}`);
    expect(m.html).toContain(`href="${link}"`);
    expect(m.text).toContain("Your card was declined.");
    expect(m.text).toContain("The next step: update your card, or try the payment again.");
  });

  test("a refund says whether it was full or partial, with the amounts", () => {
    const partial = renderEmail("refund_confirmation", samples.refund_confirmation, config);
    expect(partial.subject).toBe("A partial refund of $5.00 for order ORD-1042");
    expect(partial.text).toContain("We have refunded $5.00 of the $19.99 you paid for order ORD-1042.");
    expect(partial.text).toContain("Refund: Partial refund");
    const second = renderEmail("refund_confirmation", {
      ...samples.refund_confirmation,
      amount_refunded: 1499,
      total_refunded: 1999,
    }, config);
    expect(second.subject).toBe("Your refund of $14.99 for order ORD-1042");
    expect(second.text).toContain("Refunded in total: $19.99");
    expect(second.text).toContain("Refund: Full refund");
    expect(second.text).toContain("Hello,");
  });

  test("the welcome links to the app", () => {
    const m = renderEmail("welcome", samples.welcome, config);
    expect(m.subject).toBe("Welcome to Mugshop");
    expect(m.text).toContain("Open Mugshop: https://app.mugshop.example");
    expect(m.text).toContain("(Pro plan)");
  });

  test("the support acknowledgement carries the ticket reference", () => {
    const m = renderEmail("support_ack", samples.support_ack, config);
    expect(m.subject).toBe("We received your request [T-2001]");
    expect(m.text).toContain("Reference: T-2001");
    expect(m.html).toContain("T-2001");
  });

  test("the founder's notice goes to FOUNDER_EMAIL with queue, priority, requester and message", () => {
    const m = renderEmail("founder_new_ticket", samples.founder_new_ticket, config);
    expect(m.to).toBe("founder@mugshop.example");
    expect(m.subject).toBe("[billing/high] New ticket T-2001: Where is my mug?");
    for (
      const line of ["Queue: billing", "Requester: jane@example.com", "Order: ORD-1042", "Tags: plan:pro, payment:paid"]
    ) {
      expect(m.text).toContain(line);
    }
    expect(m.text).toContain("Message: I paid yesterday and have no access.");
    const withoutFounder = notifyConfig({});
    const err = permanentError(() => renderEmail("founder_new_ticket", samples.founder_new_ticket, withoutFounder));
    expect(err.message).toContain("FOUNDER_EMAIL is not set");
  });

  test("the dispute alert gives order, amount, reason and the evidence due date", () => {
    const { text } = renderSlack("slack_dispute_alert", samples.slack_dispute_alert, config);
    expect(text).toContain("*Dispute opened* on order ORD-1042 (Mugshop): $19.99, reason _fraudulent_.");
    expect(text).toContain("*Evidence due by 2026-12-02 23:59 UTC.*");
    expect(text).toContain("Dispute dp_1, ticket T-2002");
  });

  test("an alert's Slack notice gives the rule, what it saw (escaped) and the runbook line", () => {
    const { text } = renderSlack("slack_alert_opened", samples.slack_alert_opened, config);
    expect(text).toContain(":warning: *Alert: crm_failure_rate* (warning, Mugshop): 7 of 9 CRM job attempts failed");
    expect(text).toContain("• failed_attempts: 7");
    expect(text).toContain("• last_error: HubSpot 503 &lt;service unavailable&gt;");
    expect(text).toContain(
      "*Runbook:* Check the CRM's status page and HUBSPOT_ACCESS_TOKEN; jobs retry by themselves.",
    );
    expect(text).toContain("Incident 42, opened 2026-11-22 10:00 UTC.");
  });

  test("a resolve notice says how long the incident lasted, in Slack and to the founder", () => {
    const { text } = renderSlack("slack_alert_resolved", samples.slack_alert_resolved, config);
    expect(text).toContain(":white_check_mark: *Resolved: crm_failure_rate* (Mugshop) after 2 h 5 min.");
    const m = renderEmail("founder_alert_resolved", samples.founder_alert_resolved, config);
    expect(m.to).toBe("founder@mugshop.example");
    expect(m.subject).toBe("[Mugshop] Resolved: crm_failure_rate after 2 h 5 min");
    expect(m.text).toContain("Lasted: 2 h 5 min");
    expect(m.text).toContain("Runbook: Check the CRM's status page");
    const opened = renderEmail("founder_alert_opened", samples.founder_alert_opened, config);
    expect(opened.subject).toBe(
      "[Mugshop] Alert (warning): crm_failure_rate: 7 of 9 CRM job attempts failed in 15 min (77.8%)",
    );
    expect(opened.text).toContain("failed_attempts: 7");
    expect(
      permanentError(() => renderEmail("founder_alert_opened", samples.founder_alert_opened, notifyConfig({}))).message,
    )
      .toContain("FOUNDER_EMAIL is not set");
    expect(permanentError(() => renderSlack("slack_alert_resolved", samples.slack_alert_opened, config)).message)
      .toMatch(/resolved_at is required/);
  });
});

describe("escaping", () => {
  test("payload values are HTML-escaped in the HTML part and kept as written in the text part", () => {
    const name = `<script>alert("x")</script> & 'Co'`;
    const m = renderEmail(
      "payment_receipt",
      { ...samples.payment_receipt, customer_name: name, item: "<b>Mug</b>" },
      config,
    );
    expect(m.html).not.toContain("<script>");
    expect(m.html).not.toContain("<b>Mug</b>");
    expect(m.html).toContain("Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;,");
    expect(m.html).toContain("&lt;b&gt;Mug&lt;/b&gt;");
    expect(m.text).toContain(`Hi ${name},`);
  });

  test("a link built from a payload value is URL-encoded", () => {
    const m = renderEmail("payment_failed", { ...samples.payment_failed, order_ref: `A&B"<x>` }, config);
    expect(m.html).toContain(`href="https://app.mugshop.example/billing?order=A%26B%22%3Cx%3E"`);
  });

  test("Slack control characters in values are escaped (no injected links or mentions)", () => {
    const { text } = renderSlack("slack_dispute_alert", {
      ...samples.slack_dispute_alert,
      reason: "<!channel> & <https://evil.example|click>",
    }, config);
    expect(text).toContain("&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;");
    expect(text).not.toContain("<!channel>");
  });

  test("a subject never carries a line break from the payload", () => {
    const m = renderEmail("support_ack", { ...samples.support_ack, ticket_ref: "T-1\r\nBcc: x@example.com" }, config);
    expect(m.subject).not.toMatch(/[\r\n]/);
  });
});

describe("payload validation: a bad payload is a permanent, clearly worded error", () => {
  test.each([
    ["payment_receipt", "order_ref is required", { ...samples.payment_receipt, order_ref: undefined }],
    ["payment_receipt", "amount must be an integer amount in minor units", {
      ...samples.payment_receipt,
      amount: 19.99,
    }],
    ["payment_receipt", "amount must not be negative", { ...samples.payment_receipt, amount: -1 }],
    ["payment_receipt", "currency must be a 3-letter ISO currency code", {
      ...samples.payment_receipt,
      currency: "dollars",
    }],
    ["payment_receipt", "to must be an email address", { ...samples.payment_receipt, to: "jane.doe@" }],
    ["payment_receipt", "paid_at must be an ISO 8601 date-time", { ...samples.payment_receipt, paid_at: "yesterday" }],
    ["refund_confirmation", "amount_refunded refunds cannot exceed order_amount", {
      ...samples.refund_confirmation,
      amount_refunded: 5000,
    }],
    ["refund_confirmation", "amount_refunded must be more than zero", {
      ...samples.refund_confirmation,
      amount_refunded: 0,
    }],
    ["support_ack", "subject is required", { ...samples.support_ack, subject: "" }],
    ["slack_dispute_alert", "evidence_due_by must be an ISO 8601 date-time", {
      ...samples.slack_dispute_alert,
      evidence_due_by: "next week",
    }],
    ["welcome", "payload", "not an object"],
  ] as Array<[TemplateName, string, unknown]>)("%s: %s", (name, expected, payload) => {
    const err = permanentError(() => renderNotification(name, payload, config));
    expect(err.message).toMatch(new RegExp(`^template ${name}: invalid payload: `));
    expect(err.message).toContain(expected);
    expect(err.message).not.toContain("jane.doe");
  });

  test("an unknown template and a template of the other channel are permanent errors", () => {
    expect(permanentError(() => renderNotification("invoice", {}, config)).message).toBe(
      'unknown notification template "invoice"',
    );
    expect(permanentError(() => renderSlack("welcome", samples.welcome, config)).message).toContain(
      "is an email template",
    );
    expect(permanentError(() => renderEmail("slack_dispute_alert", samples.slack_dispute_alert, config)).message)
      .toContain("is a Slack template");
  });

  test("payloads from SQL may carry nulls for optional fields", () => {
    const m = renderEmail("payment_receipt", {
      ...samples.payment_receipt,
      customer_name: null,
      item: null,
      paid_at: null,
    }, config);
    expect(m.text).toContain("Hello,");
    expect(m.text).not.toContain("Item:");
  });
});

describe("configuration", () => {
  test("defaults suit the local stack, and bad values are refused with their variable's name", () => {
    expect(notifyConfig({})).toEqual({
      appName: "Backbone",
      appUrl: "http://localhost:3000",
      fromName: "Backbone",
      fromEmail: "notifications@example.com",
      replyTo: undefined,
      founderEmail: undefined,
    });
    expect(() => notifyConfig({ APP_URL: "app.example.com" })).toThrow(/APP_URL/);
    expect(() => notifyConfig({ NOTIFY_FROM_EMAIL: "billing" })).toThrow(/NOTIFY_FROM_EMAIL/);
    expect(() => notifyConfig({ NOTIFY_REPLY_TO: "support@" })).toThrow(/NOTIFY_REPLY_TO/);
    expect(() => notifyConfig({ FOUNDER_EMAIL: "me" })).toThrow(/FOUNDER_EMAIL/);
    expect(() => notifyConfig({ NOTIFY_FROM_NAME: "A\nBcc: x" })).toThrow(/NOTIFY_FROM_NAME/);
  });
});
