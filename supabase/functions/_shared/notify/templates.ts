// The notification templates: pure functions from a job payload (checked by its zod schema) to an
// email (subject, HTML, text part) or a Slack text. No clock, no I/O: the same payload renders the same
// message on every attempt, which Resend's idempotency key requires (same key, same body).
// Payload fields are snake_case, as the SQL that enqueues the jobs builds them.
import { z } from "zod";
import { type Env, parseEnv, setting } from "../config/env.ts";
import { permanent } from "../providers/error.ts";
import { formatMoney } from "../providers/money.ts";
import { ADDRESS_RE, type EmailMessage, type SlackMessage } from "./contract.ts";
import { type EmailBody, escapeSlack, formatUtc, oneLine, renderBody } from "./layout.ts";
import { replyAddress, type ReplyAddressConfig, replyAddressConfig, threadId } from "../support/reply-address.ts";

export type NotifyConfig = {
  /** APP_NAME: how emails sign and Slack texts name the product. */
  appName: string;
  /** APP_URL: links (the billing page for a failed payment, the app for a welcome). */
  appUrl: string;
  /** NOTIFY_FROM_NAME and NOTIFY_FROM_EMAIL: the sender (Resend: an address on a verified domain). */
  fromName: string;
  fromEmail: string;
  /** NOTIFY_REPLY_TO: where customers' replies go (the support inbox); none = the sender. */
  replyTo?: string;
  /** FOUNDER_EMAIL: the recipient of the new-ticket notice. */
  founderEmail?: string;
  /** SELLER_ONBOARDING_PAGE_URL: the app's page that calls seller-onboarding (default APP_URL/seller/onboarding). */
  sellerOnboardingUrl?: string;
  /** SUPPORT_INBOUND_DOMAIN + SUPPORT_REPLY_SECRET: ticket_reply's signed reply address (#20); none = replyTo. */
  replyAddress?: ReplyAddressConfig;
};

const configEmail = setting.matching(ADDRESS_RE, "must be an email address");
const notifyEnv = z.object({
  APP_NAME: setting.text("Backbone"),
  APP_URL: setting.url("http://localhost:3000"),
  NOTIFY_FROM_NAME: setting.matching(/^[^\r\n]+$/, "must be one line"),
  NOTIFY_FROM_EMAIL: configEmail,
  NOTIFY_REPLY_TO: configEmail,
  FOUNDER_EMAIL: configEmail,
  SELLER_ONBOARDING_PAGE_URL: setting.url(),
});

/** Reads the templates' settings from a plain env object; defaults suit the local stack (capture). */
export function notifyConfig(env: Env): NotifyConfig {
  const e = parseEnv(notifyEnv, env);
  return {
    appName: e.APP_NAME,
    appUrl: e.APP_URL,
    fromName: e.NOTIFY_FROM_NAME ?? e.APP_NAME,
    fromEmail: (e.NOTIFY_FROM_EMAIL ?? "notifications@example.com").toLowerCase(),
    replyTo: e.NOTIFY_REPLY_TO?.toLowerCase(),
    founderEmail: e.FOUNDER_EMAIL?.toLowerCase(),
    sellerOnboardingUrl: e.SELLER_ONBOARDING_PAGE_URL,
    replyAddress: replyAddressConfig(env),
  };
}

// ---------------------------------------------------------------- payload pieces

const address = z.string().trim().pipe(z.email("must be an email address"));
const ref = z.string().trim().min(1, "is required").max(100, "is longer than 100 characters");
const text = (max: number) => z.string().trim().min(1, "is required").max(max, `is longer than ${max} characters`);
const name = z.string().trim().max(100, "is longer than 100 characters").nullish();
const minorUnits = z.int("must be an integer amount in minor units (cents)").nonnegative("must not be negative");
const currency = z.string().regex(/^[A-Za-z]{3}$/, "must be a 3-letter ISO currency code");
const instant = z.iso.datetime({ offset: true, message: "must be an ISO 8601 date-time" });

const greeting = (customerName: string | null | undefined) => customerName ? `Hi ${customerName},` : "Hello,";

/** replyTo and headers: a template's own (ticket_reply's signed address and threading), else the config's. */
type Rendered = { to: string; subject: string; body: EmailBody; replyTo?: string; headers?: Record<string, string> };
type EmailTemplate<S extends z.ZodType> = {
  channel: "email";
  schema: S;
  render(input: z.output<S>, config: NotifyConfig): Rendered;
};
type SlackTemplate<S extends z.ZodType> = {
  channel: "slack";
  schema: S;
  render(input: z.output<S>, config: NotifyConfig): SlackMessage;
};

const email = <S extends z.ZodType>(schema: S, render: EmailTemplate<S>["render"]): EmailTemplate<S> => ({
  channel: "email",
  schema,
  render,
});
const slack = <S extends z.ZodType>(schema: S, render: SlackTemplate<S>["render"]): SlackTemplate<S> => ({
  channel: "slack",
  schema,
  render,
});

// ---------------------------------------------------------------- the templates

const paymentReceipt = z.object({
  to: address,
  customer_name: name,
  order_ref: ref,
  amount: minorUnits,
  currency,
  item: text(200).nullish(),
  paid_at: instant.nullish(),
});

const paymentFailed = z.object({
  to: address,
  customer_name: name,
  order_ref: ref,
  amount: minorUnits,
  currency,
  /** the card issuer's decline message, as Stripe words it */
  reason: text(300).nullish(),
});

const refundConfirmation = z.object({
  to: address,
  customer_name: name,
  order_ref: ref,
  /** this refund */
  amount_refunded: minorUnits.positive("must be more than zero"),
  /** all refunds of the order so far, this one included (defaults to amount_refunded) */
  total_refunded: minorUnits.nullish(),
  order_amount: minorUnits.positive("must be more than zero"),
  currency,
}).refine((p) => p.amount_refunded <= (p.total_refunded ?? p.amount_refunded), {
  message: "must be at least amount_refunded",
  path: ["total_refunded"],
}).refine((p) => (p.total_refunded ?? p.amount_refunded) <= p.order_amount, {
  message: "refunds cannot exceed order_amount",
  path: ["amount_refunded"],
});

const welcome = z.object({ to: address, customer_name: name, product: text(200).nullish() });

// ---- sellers on Stripe Connect (#18): their account's requirements and failed payouts
const sellerRequirements = z.object({
  to: address,
  seller_name: name,
  /** Stripe's requirement names (individual.verification.document, external_account, ...) */
  requirements: z.array(text(200)).min(1, "must name at least one requirement").max(10),
  deadline: instant.nullish(),
  why: text(500).nullish(),
  next_step: text(500).nullish(),
  charges_enabled: z.boolean().nullish(),
});

const sellerPayoutFailed = z.object({
  to: address,
  seller_name: name,
  payout_id: ref,
  amount: minorUnits,
  currency,
  failure_code: text(100).nullish(),
  failure_message: text(500).nullish(),
  advice: text(500),
  ticket_ref: ref.nullish(),
});

const onboardingUrl = (c: NotifyConfig) => c.sellerOnboardingUrl ?? `${c.appUrl}/seller/onboarding`;
/** individual.verification.document -> individual verification document */
const requirementWords = (r: string[]) => r.map((x) => x.replace(/[._]/g, " ")).join(", ");

const supportAck = z.object({ to: address, customer_name: name, ticket_ref: ref, subject: text(300) });

/** An agent's answer (#20), frozen at enqueue by ops.ticket_messages_email_reply: the thread's ids come with it. */
const ticketReply = z.object({
  to: address,
  customer_name: name,
  ticket_id: z.uuid(),
  ticket_ref: ref,
  subject: text(300),
  message_id: z.uuid(),
  message: text(10_000),
  agent_name: text(200).nullish(),
  /** our first reply on the ticket (this one, for the first): its Message-ID is the thread's root */
  first_reply_id: z.uuid(),
  /** the email this one answers: our previous reply, or the requester's email (its Message-ID) */
  parent_reply_id: z.uuid().nullish(),
  /** as the requester's mail client wrote it: used only when it is a well-formed Message-ID (else our root) */
  parent_email_message_id: z.string().max(998).nullish(),
});
const MESSAGE_ID_RE = /^<[^<>\s]{3,994}>$/;

function ticketReplyEmail(p: z.output<typeof ticketReply>, c: NotifyConfig): Rendered {
  const domain = c.replyAddress?.domain ?? c.fromEmail.split("@")[1];
  const ours = (id: string) =>
    id === p.first_reply_id ? threadId.root(p.ticket_id, domain) : threadId.reply(id, domain);
  const root = threadId.root(p.ticket_id, domain);
  const own = ours(p.message_id);
  const theirs = p.parent_email_message_id?.trim();
  const parent = theirs && MESSAGE_ID_RE.test(theirs)
    ? theirs
    : p.parent_reply_id
    ? ours(p.parent_reply_id)
    : undefined;
  const headers: Record<string, string> = { "Message-ID": own };
  if (own !== root) {
    const inReplyTo = parent ?? root;
    headers["In-Reply-To"] = inReplyTo;
    headers["References"] = [...new Set([root, inReplyTo])].join(" ");
  }
  const replyTo = c.replyAddress ? replyAddress(p.ticket_id, c.replyAddress) : c.replyTo;
  return {
    to: p.to,
    subject: `Re: ${oneLine(p.subject, 150)} [${oneLine(p.ticket_ref)}]`,
    ...(replyTo ? { replyTo } : {}),
    headers,
    body: {
      greeting: greeting(p.customer_name),
      paragraphs: [p.message],
      facts: [
        ["Reference", p.ticket_ref],
        ...(p.agent_name ? [["From", oneLine(p.agent_name, 200)]] as [string, string][] : []),
      ],
      after: [
        c.replyAddress
          ? "Reply to this email to answer: your reply is added to your request."
          : `Please mention ${p.ticket_ref} if you write to us about this request.`,
      ],
    },
  };
}

const founderNewTicket = z.object({
  ticket_ref: ref,
  subject: text(300),
  queue: text(50),
  priority: text(50),
  /** absent for system tickets nobody asked for (a dispute's) */
  requester_email: address.nullish(),
  category: text(100).nullish(),
  order_ref: ref.nullish(),
  message: text(20_000).nullish(),
  tags: z.array(text(100)).max(50).nullish(),
});

/** The seller shipped the order (in_fulfillment); tracking as the seller gave it, when they did. */
const orderShipped = z.object({
  to: address,
  customer_name: name,
  order_ref: ref,
  item: text(200).nullish(),
  carrier: text(100).nullish(),
  tracking_number: text(64).nullish(),
  tracking_url: z.url({ protocol: /^https$/, error: "must be an https:// address" }).max(500).nullish(),
});

/** The order was completed: by the buyer confirming receipt, by the seller, or automatically after days. */
const orderCompleted = z.object({
  to: address,
  customer_name: name,
  order_ref: ref,
  item: text(200).nullish(),
  completed_by: z.enum(["buyer", "seller", "auto"]).nullish(),
});

// ---- dunning (#20): a failed renewal, its reminders, and the payment that recovered it
const renewal = z.object({
  to: address,
  customer_name: name,
  /** the invoice's amount due, in minor units */
  amount: minorUnits,
  currency,
  invoice_number: ref.nullish(),
  /** what the invoice is for (its first line, as Stripe words it) */
  description: text(200).nullish(),
  /** Stripe's hosted invoice page, where the customer pays with another card */
  hosted_invoice_url: z.url({ protocol: /^https$/, error: "must be an https:// address" }).max(2000).nullish(),
  /** when access pauses unless the invoice is paid */
  grace_ends_at: instant.nullish(),
});
const renewalReminder = renewal.extend({
  reminder: z.int().positive(),
  days_since_failure: z.int().positive().nullish(),
});

/** Where a failed renewal is paid: Stripe's hosted invoice page, else the app's billing page (billing-portal). */
const payUrl = (p: { hosted_invoice_url?: string | null }, c: NotifyConfig) =>
  p.hosted_invoice_url ?? `${c.appUrl}/billing`;

const disputeAlert = z.object({
  /** absent when the disputed payment is not one of our orders */
  order_ref: ref.nullish(),
  amount: minorUnits,
  currency,
  reason: text(100),
  /** Stripe's evidence_details.due_by; absent for disputes that take no evidence */
  evidence_due_by: instant.nullish(),
  dispute_id: ref.nullish(),
  ticket_ref: ref.nullish(),
});

/** An alert incident (ops.alert_incidents with its rule): what fired, what it saw, what to do. */
const alertIncident = z.object({
  incident_id: z.union([z.int().positive(), ref]),
  rule: text(63),
  severity: z.enum(["info", "warning", "critical"]),
  description: text(1_000).nullish(),
  summary: text(1_000),
  /** what the rule saw (its detail): numbers, counts by kind, ids */
  observed: z.record(z.string(), z.unknown()).nullish(),
  runbook: text(500),
  opened_at: instant,
});
const alertResolved = alertIncident.extend({
  resolved_at: instant,
  duration_seconds: z.int().nonnegative(),
});

/** "2 h 5 min", "45 s": how long an incident lasted. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  return [d && `${d} d`, h && `${h} h`, m && `${m} min`].filter(Boolean).join(" ") || "0 min";
}

/** What a rule saw, one [key, value] per top-level field (nested values as compact JSON), bounded. */
function observedFacts(observed: Record<string, unknown> | null | undefined): Array<[string, string]> {
  return Object.entries(observed ?? {}).slice(0, 12).map(([k, v]) => [
    oneLine(k, 60),
    oneLine(typeof v === "string" ? v : JSON.stringify(v) ?? "null", 300),
  ]);
}

const SEVERITY_ICON = { info: ":information_source:", warning: ":warning:", critical: ":rotating_light:" } as const;

function founderAlert(
  p: z.output<typeof alertIncident> & { resolved_at?: string; duration_seconds?: number },
  c: NotifyConfig,
  template: string,
): Rendered {
  if (!c.founderEmail) {
    throw permanent(`template ${template}: FOUNDER_EMAIL is not set, the alert has no recipient`);
  }
  const resolved = p.resolved_at !== undefined;
  const lasted = formatDuration(p.duration_seconds ?? 0);
  return {
    to: c.founderEmail,
    subject: resolved
      ? `[${c.appName}] Resolved: ${oneLine(p.rule, 63)} after ${lasted}`
      : `[${c.appName}] Alert (${p.severity}): ${oneLine(p.rule, 63)}: ${oneLine(p.summary, 120)}`,
    body: {
      greeting: "Hello,",
      paragraphs: [
        resolved
          ? `The alert ${p.rule} has cleared after ${lasted}. Nothing more to do for it.`
          : `The alert ${p.rule} fired in ${c.appName}: ${p.summary}`,
      ],
      facts: [
        ["Incident", String(p.incident_id)],
        ["Rule", p.rule],
        ["Severity", p.severity],
        ["Opened", formatUtc(p.opened_at)],
        ...(resolved
          ? [["Resolved", formatUtc(p.resolved_at!)] as [string, string], ["Lasted", lasted] as [string, string]]
          : []),
        ["What it saw", p.summary],
        ...observedFacts(p.observed),
        ["Runbook", p.runbook],
      ],
      after: [resolved ? "" : "Open incidents are in ops.alert_incidents (Studio) and on the dashboard."].filter(
        Boolean,
      ),
    },
  };
}

export const templates = {
  payment_receipt: email(paymentReceipt, (p) => {
    const paid = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Receipt for order ${oneLine(p.order_ref)}: ${paid}`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: ["Thank you for your payment. This email is your receipt."],
        facts: [
          ["Order", p.order_ref],
          ...(p.item ? [["Item", p.item] as [string, string]] : []),
          ["Amount paid", paid],
          ...(p.paid_at ? [["Paid on", formatUtc(p.paid_at)] as [string, string]] : []),
        ],
        after: ["Questions about this order? Reply to this email and we will help."],
      },
    };
  }),

  payment_failed: email(paymentFailed, (p, c) => {
    const due = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Your payment of ${due} did not go through`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: [
          `We could not take your payment of ${due} for order ${p.order_ref}${p.reason ? `: ${p.reason}` : "."}`,
          "The order is on hold until the payment succeeds. The next step: update your card, or try the payment again.",
        ],
        action: {
          label: "Update your card and retry",
          url: `${c.appUrl}/billing?order=${encodeURIComponent(p.order_ref)}`,
        },
        after: ["If you think this is a mistake, reply to this email and we will look into it."],
      },
    };
  }),

  renewal_failed: email(renewal, (p, c) => {
    const due = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Your ${c.appName} renewal of ${due} did not go through`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: [
          `We could not renew your subscription${p.description ? ` (${p.description})` : ""}: the payment of ${due} ` +
          "was declined.",
          p.grace_ends_at
            ? `Your access continues until ${formatUtc(p.grace_ends_at)}. The next step: pay the invoice with ` +
              "another card, or update your card; we retry it automatically too."
            : "The next step: pay the invoice with another card, or update your card; we retry it automatically too.",
        ],
        facts: [
          ...(p.invoice_number ? [["Invoice", p.invoice_number] as [string, string]] : []),
          ["Amount due", due],
        ],
        action: { label: "Pay the invoice", url: payUrl(p, c) },
        after: [`You can also update your card from your billing page: ${c.appUrl}/billing`],
      },
    };
  }),

  renewal_reminder: email(renewalReminder, (p, c) => {
    const due = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Reminder: your ${c.appName} invoice of ${due} is still unpaid`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: [
          `Your subscription's renewal of ${due} is still unpaid${
            p.days_since_failure ? ` ${p.days_since_failure} days after it failed` : ""
          }.`,
          p.grace_ends_at
            ? `Your access pauses on ${formatUtc(p.grace_ends_at)} unless it is paid. It takes a minute:`
            : "It takes a minute:",
        ],
        facts: [
          ...(p.invoice_number ? [["Invoice", p.invoice_number] as [string, string]] : []),
          ["Amount due", due],
        ],
        action: { label: "Pay the invoice", url: payUrl(p, c) },
        after: ["Already paid? Then ignore this email: we stop reminding you as soon as the payment arrives."],
      },
    };
  }),

  payment_recovered: email(renewal, (p, c) => {
    const paid = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Thank you: your ${c.appName} subscription is paid`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: [`We received your payment of ${paid}. Your subscription continues and your access is restored.`],
        facts: [
          ...(p.invoice_number ? [["Invoice", p.invoice_number] as [string, string]] : []),
          ["Amount paid", paid],
        ],
        action: { label: `Open ${c.appName}`, url: c.appUrl },
      },
    };
  }),

  refund_confirmation: email(refundConfirmation, (p) => {
    const refunded = formatMoney(p.amount_refunded, p.currency);
    const total = p.total_refunded ?? p.amount_refunded;
    const paid = formatMoney(p.order_amount, p.currency);
    const full = total === p.order_amount;
    return {
      to: p.to,
      subject: full
        ? `Your refund of ${refunded} for order ${oneLine(p.order_ref)}`
        : `A partial refund of ${refunded} for order ${oneLine(p.order_ref)}`,
      body: {
        greeting: greeting(p.customer_name),
        paragraphs: [
          full
            ? `We have refunded order ${p.order_ref} in full.`
            : `We have refunded ${refunded} of the ${paid} you paid for order ${p.order_ref}.`,
        ],
        facts: [
          ["Order", p.order_ref],
          ["Refunded now", refunded],
          ...(total !== p.amount_refunded
            ? [["Refunded in total", formatMoney(total, p.currency)] as [string, string]]
            : []),
          ["Order total", paid],
          ["Refund", full ? "Full refund" : "Partial refund"],
        ],
        after: ["Refunds usually reach your card within 5 to 10 business days, depending on your bank."],
      },
    };
  }),

  welcome: email(welcome, (p, c) => ({
    to: p.to,
    subject: `Welcome to ${c.appName}`,
    body: {
      greeting: greeting(p.customer_name),
      paragraphs: [
        `Thank you for joining ${c.appName}${
          p.product ? ` (${p.product})` : ""
        }. Your payment is confirmed and your access is ready.`,
      ],
      action: { label: `Open ${c.appName}`, url: c.appUrl },
      after: ["Reply to this email if you need a hand getting started."],
    },
  })),

  seller_requirements_due: email(sellerRequirements, (p, c) => ({
    to: p.to,
    subject: `Stripe needs more information to keep paying you`,
    body: {
      greeting: greeting(p.seller_name),
      paragraphs: [
        `Stripe, which pays you for your sales on ${c.appName}, needs more information about you or your business` +
        (p.deadline ? ` by ${formatUtc(p.deadline)}.` : "."),
        `What is asked: ${requirementWords(p.requirements)}.`,
        "Until it is given, Stripe may pause your payments or payouts.",
      ],
      action: { label: "Complete your payout details", url: onboardingUrl(c) },
      after: ["Questions? Reply to this email and we will help."],
    },
  })),

  seller_requirements_past_due: email(sellerRequirements, (p, c) => ({
    to: p.to,
    subject: p.charges_enabled === false
      ? `Action required: buyers cannot pay you until you update your details`
      : `Action required: information Stripe asked for is overdue`,
    body: {
      greeting: greeting(p.seller_name),
      paragraphs: [
        p.why ?? "Information Stripe asked for is overdue.",
        `What is overdue: ${requirementWords(p.requirements)}.`,
        p.charges_enabled === false
          ? "Your listings are not for sale until this is done."
          : "Stripe may stop your payments and payouts until this is done.",
      ],
      action: { label: "Update your payout details now", url: onboardingUrl(c) },
      after: [p.next_step ?? "Questions? Reply to this email and we will help."],
    },
  })),

  seller_payout_failed: email(sellerPayoutFailed, (p, c) => {
    const amount = formatMoney(p.amount, p.currency);
    return {
      to: p.to,
      subject: `Your payout of ${amount} failed`,
      body: {
        greeting: greeting(p.seller_name),
        paragraphs: [
          `Stripe could not send your payout of ${amount} to your bank` +
          (p.failure_message ? `: ${p.failure_message}` : "."),
          `What to do: ${p.advice}`,
        ],
        facts: [
          ["Payout", p.payout_id],
          ["Amount", amount],
          ...(p.failure_code ? [["Reason code", p.failure_code] as [string, string]] : []),
          ...(p.ticket_ref ? [["Our reference", p.ticket_ref] as [string, string]] : []),
        ],
        action: { label: "Check your payout details", url: onboardingUrl(c) },
        after: ["The money stays in your Stripe balance until the payout succeeds. Reply to this email for help."],
      },
    };
  }),

  order_shipped: email(orderShipped, (p) => ({
    to: p.to,
    subject: `Your order ${oneLine(p.order_ref)} has shipped`,
    body: {
      greeting: greeting(p.customer_name),
      paragraphs: [
        `Good news: the seller has shipped order ${p.order_ref}${p.item ? ` (${p.item})` : ""}.`,
        ...(p.tracking_number || p.tracking_url ? [] : ["The seller did not give a tracking number."]),
      ],
      facts: [
        ["Order", p.order_ref],
        ...(p.item ? [["Item", p.item] as [string, string]] : []),
        ...(p.carrier ? [["Carrier", p.carrier] as [string, string]] : []),
        ...(p.tracking_number ? [["Tracking number", p.tracking_number] as [string, string]] : []),
      ],
      ...(p.tracking_url ? { action: { label: "Track your parcel", url: p.tracking_url } } : {}),
      after: ["When it arrives, confirm receipt in the app. Questions? Reply to this email."],
    },
  })),

  order_completed: email(orderCompleted, (p) => ({
    to: p.to,
    subject: `Order ${oneLine(p.order_ref)} is complete`,
    body: {
      greeting: greeting(p.customer_name),
      paragraphs: [
        p.completed_by === "buyer"
          ? `Thank you for confirming that you received order ${p.order_ref}.`
          : p.completed_by === "auto"
          ? `Order ${p.order_ref} was shipped a while ago, so we have marked it complete.`
          : `The seller has marked order ${p.order_ref} complete.`,
      ],
      facts: [["Order", p.order_ref], ...(p.item ? [["Item", p.item] as [string, string]] : [])],
      after: ["Something wrong with the order? Report a problem with the seller in the app, or reply to this email."],
    },
  })),

  support_ack: email(supportAck, (p) => ({
    to: p.to,
    subject: `We received your request [${oneLine(p.ticket_ref)}]`,
    body: {
      greeting: greeting(p.customer_name),
      paragraphs: [
        "Thanks for writing to us. We received your request and will get back to you soon.",
        `Your reference is ${p.ticket_ref}: please mention it if you contact us about this request.`,
      ],
      facts: [["Reference", p.ticket_ref], ["Subject", oneLine(p.subject, 300)]],
    },
  })),

  ticket_reply: email(ticketReply, ticketReplyEmail),

  founder_new_ticket: email(founderNewTicket, (p, c) => {
    if (!c.founderEmail) {
      throw permanent("template founder_new_ticket: FOUNDER_EMAIL is not set, the notice has no recipient");
    }
    return {
      to: c.founderEmail,
      subject: `[${oneLine(p.queue, 50)}/${oneLine(p.priority, 50)}] New ticket ${oneLine(p.ticket_ref)}: ${
        oneLine(p.subject, 120)
      }`,
      body: {
        greeting: "Hello,",
        paragraphs: [`A new support ticket was opened in ${c.appName}.`],
        facts: [
          ["Reference", p.ticket_ref],
          ["Subject", oneLine(p.subject, 300)],
          ["Queue", p.queue],
          ["Priority", p.priority],
          ["Requester", p.requester_email ?? "none (opened by the pipeline)"],
          ...(p.category ? [["Category", p.category] as [string, string]] : []),
          ...(p.order_ref ? [["Order", p.order_ref] as [string, string]] : []),
          ...(p.tags?.length ? [["Tags", p.tags.join(", ")] as [string, string]] : []),
        ],
        after: p.message ? [`Message: ${p.message.length > 2_000 ? `${p.message.slice(0, 1_999)}…` : p.message}`] : [],
      },
    };
  }),

  slack_dispute_alert: slack(disputeAlert, (p, c) => ({
    text: [
      `:rotating_light: *Dispute opened* on ${
        p.order_ref ? `order ${escapeSlack(oneLine(p.order_ref))}` : "a payment without an order"
      } (${c.appName}): ` +
      `${escapeSlack(formatMoney(p.amount, p.currency))}, reason _${escapeSlack(oneLine(p.reason, 100))}_.`,
      p.evidence_due_by ? `*Evidence due by ${formatUtc(p.evidence_due_by)}.*` : "No evidence due date given.",
      ...(p.dispute_id || p.ticket_ref
        ? [
          [
            p.dispute_id && `Dispute ${escapeSlack(p.dispute_id)}`,
            p.ticket_ref && `ticket ${escapeSlack(p.ticket_ref)}`,
          ]
            .filter(Boolean).join(", "),
        ]
        : []),
    ].join("\n"),
  })),

  slack_alert_opened: slack(alertIncident, (p, c) => ({
    text: [
      `${SEVERITY_ICON[p.severity]} *Alert: ${escapeSlack(oneLine(p.rule, 63))}* (${p.severity}, ${
        escapeSlack(c.appName)
      }): ${escapeSlack(oneLine(p.summary, 300))}`,
      ...observedFacts(p.observed).map(([k, v]) => `• ${escapeSlack(k)}: ${escapeSlack(v)}`),
      `*Runbook:* ${escapeSlack(oneLine(p.runbook, 500))}`,
      `Incident ${escapeSlack(String(p.incident_id))}, opened ${formatUtc(p.opened_at)}.`,
    ].join("\n"),
  })),

  slack_alert_resolved: slack(alertResolved, (p, c) => ({
    text: [
      `:white_check_mark: *Resolved: ${escapeSlack(oneLine(p.rule, 63))}* (${escapeSlack(c.appName)}) after ${
        formatDuration(p.duration_seconds)
      }.`,
      `Incident ${escapeSlack(String(p.incident_id))}, opened ${formatUtc(p.opened_at)}, resolved ${
        formatUtc(p.resolved_at)
      }. It saw: ${escapeSlack(oneLine(p.summary, 300))}`,
    ].join("\n"),
  })),

  founder_alert_opened: email(alertIncident, (p, c) => founderAlert(p, c, "founder_alert_opened")),

  founder_alert_resolved: email(alertResolved, (p, c) => founderAlert(p, c, "founder_alert_resolved")),
} as const;

export type TemplateName = keyof typeof templates;

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(templates, name);
}

type AnyTemplate = {
  channel: "email" | "slack";
  schema: z.ZodType;
  render(input: unknown, config: NotifyConfig): Rendered | SlackMessage;
};

/** The template and its parsed payload; an unknown name or a bad payload is a permanent, worded error. */
function prepare(name: string, payload: unknown): { t: AnyTemplate; input: unknown } {
  if (!isTemplateName(name)) throw permanent(`unknown notification template "${oneLine(name, 60)}"`);
  const t = templates[name] as unknown as AnyTemplate;
  const parsed = t.schema.safeParse(payload);
  if (!parsed.success) {
    // a missing field reads "order_ref is required", whatever its schema says about a present value
    const missing = (path: PropertyKey[]) =>
      path.length > 0 && path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown> | null)?.[k], payload) ===
        undefined;
    const issues = parsed.error.issues.slice(0, 5).map((i) =>
      `${i.path.join(".") || "payload"} ${i.code !== "custom" && missing(i.path) ? "is required" : i.message}`
    );
    throw permanent(`template ${name}: invalid payload: ${issues.join("; ")}`);
  }
  return { t, input: parsed.data };
}

/** An email template's message, ready for EmailAdapter.send (tags: { template: name }). */
export function renderEmail(name: string, payload: unknown, config: NotifyConfig): EmailMessage {
  const { t, input } = prepare(name, payload);
  if (t.channel !== "email") throw permanent(`template ${name} is a Slack template, not an email`);
  const { to, subject, body, replyTo = config.replyTo, headers } = t.render(input, config) as Rendered;
  return {
    to,
    from: { name: config.fromName, address: config.fromEmail },
    ...(replyTo ? { replyTo } : {}),
    subject,
    ...renderBody(subject, body, { appName: config.appName, appUrl: config.appUrl }),
    tags: { template: name },
    ...(headers ? { headers } : {}),
  };
}

/** A Slack template's message, ready for SlackAdapter.post. */
export function renderSlack(name: string, payload: unknown, config: NotifyConfig): SlackMessage {
  const { t, input } = prepare(name, payload);
  if (t.channel !== "slack") throw permanent(`template ${name} is an email template, not a Slack message`);
  return t.render(input, config) as SlackMessage;
}

/** Either channel, for a worker that runs one job kind per template family. */
export function renderNotification(
  name: string,
  payload: unknown,
  config: NotifyConfig,
): { channel: "email"; message: EmailMessage } | { channel: "slack"; message: SlackMessage } {
  if (isTemplateName(name) && templates[name].channel === "slack") {
    return { channel: "slack", message: renderSlack(name, payload, config) };
  }
  return { channel: "email", message: renderEmail(name, payload, config) };
}
