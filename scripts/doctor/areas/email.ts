// Doctor area "email" (#19): will mail from NOTIFY_FROM_EMAIL's domain reach inboxes? Resend sends through
// Amazon SES with a return path on `send.<domain>`, so the records it needs (Resend's domain setup) are: the
// return path's MX (feedback-smtp.<region>.amazonses.com) and its one SPF record (include:amazonses.com, ending
// ~all or -all), the DKIM key at resend._domainkey.<domain>, and DMARC at _dmarc.<domain> (or the parent's:
// p=quarantine or reject, a rua report address). The root domain may hold at most one SPF record. Resend's
// API must say the domain is verified (RESEND_API_KEY with full access; RESEND_BASE_URL for tests).
import { Resend } from "resend";
import { resolver } from "../net/resolve.ts";
import { type Area, type DoctorContext, fail, type Finding, pass, warn } from "../types.ts";

export const RESEND_RETURN_PATH = "send";
export const RESEND_DKIM_SELECTOR = "resend._domainkey";
const SES = "amazonses.com";

type Txt = { records: string[]; error: string | null };

async function txt(ctx: DoctorContext, name: string): Promise<Txt> {
  try {
    return { records: (await resolver(ctx).resolveTxt(name)).map((chunks) => chunks.join("")), error: null };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENODATA" || code === "ENOTFOUND") return { records: [], error: null };
    return { records: [], error: code || (e as Error).message };
  }
}

const spfOf = (t: Txt) => t.records.filter((r) => /^v=spf1(\s|$)/i.test(r.trim()));

function spfCheck(domain: string, returnPath: string, atReturnPath: Txt, atRoot: Txt): Finding[] {
  const check = "email.spf";
  const out: Finding[] = [];
  const fix = `publish one TXT at ${returnPath}: "v=spf1 include:${SES} ~all" (Resend > Domains shows it)`;
  if (atReturnPath.error || atRoot.error) {
    return [fail(check, `DNS failed: ${atReturnPath.error ?? atRoot.error}`, "SPF cannot be read", "check the DNS")];
  }
  const rootSpf = spfOf(atRoot);
  if (rootSpf.length > 1) {
    out.push(fail(
      check,
      `${domain} has ${rootSpf.length} SPF records`,
      "two SPF records are a permanent error: receivers fail SPF for every sender of the domain",
      "merge them into one v=spf1 record",
    ));
  }
  const spf = spfOf(atReturnPath);
  if (spf.length === 0) {
    out.push(fail(check, `no SPF record at ${returnPath}`, "receivers cannot tell Resend may send for you", fix));
  } else if (spf.length > 1) {
    out.push(fail(check, `${spf.length} SPF records at ${returnPath}`, "a permanent SPF error", "keep one"));
  } else if (!new RegExp(`(^|\\s)include:${SES.replace(".", "\\.")}(\\s|$)`, "i").test(spf[0])) {
    out.push(fail(check, `${returnPath}: "${spf[0]}" does not include ${SES}`, "Resend's mail fails SPF", fix));
  } else if (!/\s[~-]all\s*$/i.test(spf[0])) {
    out.push(fail(
      check,
      `${returnPath}: "${spf[0]}" does not end in ~all or -all`,
      "anyone may then send as the domain (+all, ?all) or the record is incomplete",
      fix,
    ));
  } else if (out.length === 0) {
    out.push(pass(check, `${returnPath}: "${spf[0]}"`));
  }
  return out;
}

async function bounceCheck(ctx: DoctorContext, returnPath: string): Promise<Finding> {
  const check = "email.bounce";
  const fix = `publish MX 10 feedback-smtp.<region>.${SES} at ${returnPath} (Resend > Domains shows it)`;
  let mx: Array<{ exchange: string; priority: number }> = [];
  try {
    mx = await resolver(ctx).resolveMx(returnPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code !== "ENODATA" && code !== "ENOTFOUND") return fail(check, `DNS failed: ${code}`, "", "check the DNS");
  }
  const ses = mx.filter((m) =>
    new RegExp(`^feedback-smtp\\.[a-z0-9-]+\\.${SES.replace(".", "\\.")}\\.?$`, "i").test(m.exchange)
  );
  if (!ses.length) {
    return fail(
      check,
      mx.length ? `${returnPath} MX: ${mx.map((m) => m.exchange).join(", ")}` : `no MX record at ${returnPath}`,
      "bounces and complaints never come back: Resend cannot verify the return path, mail fails SPF alignment",
      fix,
    );
  }
  return pass(check, `${returnPath} MX ${ses[0].priority} ${ses[0].exchange}`);
}

async function dkimCheck(ctx: DoctorContext, domain: string): Promise<Finding> {
  const name = `${RESEND_DKIM_SELECTOR}.${domain}`;
  const t = await txt(ctx, name);
  const key = t.records.find((r) => /(^|;)\s*p=[A-Za-z0-9+/=]{20,}/.test(r));
  if (key) return pass("email.dkim", `${name} holds a DKIM key (${key.length} characters)`);
  return fail(
    "email.dkim",
    t.error
      ? `DNS failed: ${t.error}`
      : t.records.length
      ? `${name} holds no DKIM key (p=)`
      : `no TXT record at ${name}`,
    "unsigned mail fails DMARC and lands in spam (Gmail and Yahoo require DKIM of bulk senders)",
    `publish the TXT record ${RESEND_DKIM_SELECTOR} that Resend > Domains shows`,
  );
}

async function dmarcCheck(ctx: DoctorContext, domain: string): Promise<Finding[]> {
  const check = "email.dmarc";
  const fix = `publish TXT _dmarc.${domain}: "v=DMARC1; p=quarantine; rua=mailto:dmarc@${domain}"`;
  const labels = domain.split(".");
  const candidates = [domain, ...(labels.length > 2 ? [labels.slice(-2).join(".")] : [])];
  for (const [i, d] of candidates.entries()) {
    const t = await txt(ctx, `_dmarc.${d}`);
    if (t.error) return [fail(check, `DNS failed: ${t.error}`, "DMARC cannot be read", "check the DNS")];
    const recs = t.records.filter((r) => /^v=DMARC1\s*(;|$)/i.test(r.trim()));
    if (!recs.length) continue;
    if (recs.length > 1) {
      return [fail(check, `${recs.length} DMARC records at _dmarc.${d}`, "receivers ignore them all", fix)];
    }
    const tags: Record<string, string> = Object.fromEntries(
      recs[0].split(";").map((kv) => kv.trim()).filter((kv) => kv.includes("="))
        .map((kv) => [kv.slice(0, kv.indexOf("=")).trim().toLowerCase(), kv.slice(kv.indexOf("=") + 1).trim()]),
    );
    const policy = (i > 0 && tags.sp ? tags.sp : tags.p ?? "").toLowerCase();
    const where = `_dmarc.${d}${i > 0 ? ` (the parent's policy${tags.sp ? ", sp=" : ""})` : ""}`;
    const out: Finding[] = [];
    if (policy === "quarantine" || policy === "reject") out.push(pass(check, `${where}: p=${policy}`));
    else if (policy === "none") {
      out.push(warn(
        check,
        `${where}: p=none`,
        "mail forged as your domain is still delivered",
        "once reports show only your senders pass, set p=quarantine (then reject)",
      ));
    } else out.push(fail(check, `${where}: no valid p= (${recs[0]})`, "receivers ignore the record", fix));
    if (!tags.rua) {
      out.push(warn(
        `${check}-reports`,
        `${where} names no report address (rua)`,
        "you never learn who sends as your domain or what fails",
        `add rua=mailto:dmarc@${domain}`,
      ));
    }
    return out;
  }
  return [fail(check, `no DMARC record at _dmarc.${domain}`, "Gmail and Yahoo require DMARC of bulk senders", fix)];
}

async function resendCheck(env: Record<string, string>, domain: string): Promise<Finding> {
  const check = "email.resend-domain";
  if (!env.RESEND_API_KEY) {
    return fail(check, "RESEND_API_KEY is not set", "no email can be sent", "set it (Resend > API Keys)");
  }
  const resend = new Resend(env.RESEND_API_KEY, { baseUrl: env.RESEND_BASE_URL || "https://api.resend.com" });
  const { data, error } = await resend.domains.list();
  if (error || !data) {
    const name = (error as { name?: string } | null)?.name ?? "no answer";
    return name === "restricted_api_key"
      ? warn(
        check,
        "the key may only send, so Resend's domain status cannot be read",
        "the DNS checks above still apply",
        "run the doctor with a full-access RESEND_API_KEY in its env file to see the status",
      )
      : fail(check, `Resend's API refused: ${name}`, "no email can be sent with this key", "check RESEND_API_KEY");
  }
  const d = data.data.find((x) => x.name.toLowerCase() === domain);
  if (!d) {
    return fail(
      check,
      `${domain} is not a domain of this Resend account`,
      "Resend refuses to send from it",
      "add it in Resend > Domains",
    );
  }
  if (d.status !== "verified") {
    return fail(
      check,
      `Resend says ${domain} is ${d.status}`,
      "Resend sends only from verified domains: every notification fails",
      "publish the records Resend > Domains lists, then press Verify",
    );
  }
  return pass(check, `Resend says ${domain} is verified (${d.region})`);
}

export const area: Area = {
  name: "email",
  async run(ctx) {
    const from = ctx.env.NOTIFY_FROM_EMAIL ?? "";
    const domain = /@([^@\s>]+)>?$/.exec(from)?.[1]?.toLowerCase();
    if (!domain && ctx.local && !from) {
      return [warn(
        "email.from",
        "local stack: NOTIFY_FROM_EMAIL is not set, mail is captured and never sent",
        "a deployment sends from an address on its verified domain",
        "set NOTIFY_FROM_EMAIL in the deployment's env file",
      )];
    }
    if (!domain) {
      return [fail(
        "email.from",
        from ? "NOTIFY_FROM_EMAIL has no domain" : "NOTIFY_FROM_EMAIL is not set",
        "mail would go out from notifications@example.com, which no receiver trusts",
        "set NOTIFY_FROM_EMAIL to an address on your verified sending domain",
      )];
    }
    if (ctx.local && !ctx.dnsServers.length && !ctx.env.RESEND_API_KEY) {
      return [warn(
        "email.domain",
        `local stack: mail is captured, ${domain}'s records are not checked`,
        "a deployment's domain needs SPF, DKIM, DMARC and a return path",
        "run the doctor against the deployment's env file",
      )];
    }
    const returnPath = `${RESEND_RETURN_PATH}.${domain}`;
    const [atReturnPath, atRoot] = await Promise.all([txt(ctx, returnPath), txt(ctx, domain)]);
    return [
      ...spfCheck(domain, returnPath, atReturnPath, atRoot),
      await dkimCheck(ctx, domain),
      ...await dmarcCheck(ctx, domain),
      await bounceCheck(ctx, returnPath),
      await resendCheck(ctx.env, domain),
    ];
  },
};
