// Masking for the doctor's findings: a secret is shown by its prefix (sk_live_, whsec_, pat-na1-, re_,
// postgresql://user:) and its last 4 characters, enough to tell two keys apart and never enough to use one.

/** Known secret shapes: the prefix kept, the rest masked. */
const PREFIXES = [
  /^(sk|rk|pk)_(live|test)_/,
  /^whsec_/,
  /^pat-[a-z0-9]+-/,
  /^re_/,
  /^https:\/\/hooks\.slack\.com\/services\//,
];

/** `sk_live_…a1b2`: the value's known prefix and its last 4 characters (short values: nothing). */
export function mask(value: string): string {
  const v = value.trim();
  if (!v) return "(empty)";
  const db = /^(postgres(?:ql)?:\/\/[^:/@\s]+:)([^@\s]+)(@.*)$/.exec(v);
  if (db) return `${db[1]}…${db[3]}`;
  if (v.split(".").length === 3 && v.startsWith("eyJ")) return `eyJ…${v.slice(-4)}`;
  const prefix = PREFIXES.map((p) => p.exec(v)?.[0]).find(Boolean) ?? "";
  const rest = v.slice(prefix.length);
  return rest.length <= 8 ? `${prefix}…` : `${prefix}…${rest.slice(-4)}`;
}

/** A setting's name says it holds a secret (the functions' rule, _shared/config/env.ts). */
export const SECRET_NAME = /(_SECRET|_TOKEN|_KEY|_PASSWORD|_DB_URL)$|^SLACK_WEBHOOK_URL$/;

/** Text with every secret-looking token in it masked (error messages, lines quoted from files). */
export function maskText(text: string): string {
  return text
    .replace(/postgres(?:ql)?:\/\/[^:/@\s]+:[^@\s]+@[^\s'"`]*/g, (m) => mask(m))
    .replace(/\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}/g, (m) => mask(m))
    .replace(/\bwhsec_[A-Za-z0-9+/=_-]{8,}/g, (m) => mask(m))
    .replace(/\bpat-[a-z0-9]+-[A-Za-z0-9-]{8,}/g, (m) => mask(m))
    .replace(/\bre_[A-Za-z0-9_]{12,}/g, (m) => mask(m))
    .replace(/https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g, (m) => mask(m))
    .replace(/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, (m) => mask(m));
}
