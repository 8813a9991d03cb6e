// One email body rendered twice, as HTML (every value escaped) and as its plain-text part, so the two
// always say the same; plus the escaping and date formats the Slack texts use.
import { escapeHtml } from "../html.ts";

export type EmailBody = {
  /** "Hi Jane," */
  greeting: string;
  paragraphs: string[];
  /** Label and value rows: "Order", "ORD-1042". */
  facts?: Array<[string, string]>;
  /** The next step: a button in HTML, "label: url" in text. */
  action?: { label: string; url: string };
  /** Paragraphs after the action. */
  after?: string[];
};

export type Signature = { appName: string; appUrl: string };

/** Slack mrkdwn treats &, < and > as control characters (links, mentions): escaped, text shows as sent. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** One line, at most `max` characters: for subjects and Slack fields built from payload text. */
export function oneLine(text: string, max = 200): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** "2026-11-22 10:00 UTC": the same in every mail client and time zone, and deterministic (no clock). */
export function formatUtc(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

const FONT = "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif";

export function renderBody(subject: string, body: EmailBody, sig: Signature): { html: string; text: string } {
  const text = [
    body.greeting,
    ...body.paragraphs,
    ...(body.facts?.length ? [body.facts.map(([label, value]) => `${label}: ${value}`).join("\n")] : []),
    ...(body.action ? [`${body.action.label}: ${body.action.url}`] : []),
    ...(body.after ?? []),
    `--\n${sig.appName}\n${sig.appUrl}`,
  ].join("\n\n") + "\n";

  const p = (t: string) => `<p style="margin:0 0 16px">${escapeHtml(t).replace(/\r?\n/g, "<br>")}</p>`;
  const facts = body.facts?.length
    ? `<table role="presentation" style="border-collapse:collapse;margin:0 0 16px">${
      body.facts.map(([label, value]) =>
        `<tr><td style="padding:2px 16px 2px 0;color:#555">${escapeHtml(label)}</td>` +
        `<td style="padding:2px 0;font-weight:600">${escapeHtml(value)}</td></tr>`
      ).join("")
    }</table>`
    : "";
  const action = body.action
    ? `<p style="margin:0 0 16px"><a href="${escapeHtml(body.action.url)}" style="display:inline-block;` +
      `background:#111;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">${
        escapeHtml(body.action.label)
      }</a></p>`
    : "";
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width"><title>${escapeHtml(subject)}</title></head>` +
    `<body style="margin:0;padding:0;background:#f6f6f6"><div style="max-width:560px;margin:0 auto;padding:24px;` +
    `background:#fff;color:#111;line-height:1.5;${FONT}">` +
    p(body.greeting) + body.paragraphs.map(p).join("") + facts + action + (body.after ?? []).map(p).join("") +
    `<p style="margin:24px 0 0;color:#777;font-size:13px">${escapeHtml(sig.appName)} · ` +
    `<a href="${escapeHtml(sig.appUrl)}" style="color:#777">${escapeHtml(sig.appUrl)}</a></p>` +
    `</div></body></html>`;
  return { html, text };
}
