// Email addresses as keys (normalised) and in logs (masked), for every provider that keys by email.
import { permanent } from "./error.ts";

/** Trimmed and lower-cased: the one form used as a key, so "Jane@X.com " and "jane@x.com" are one contact. */
export function normalizeEmail(email: string): string {
  const e = (email ?? "").trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(e)) throw permanent("contact email is missing or not an email address");
  return e;
}

/** "jane@example.com" -> "j***@example.com", for logs and error messages. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 0) return "***";
  return `${email.slice(0, Math.min(1, at))}***${email.slice(at)}`;
}
