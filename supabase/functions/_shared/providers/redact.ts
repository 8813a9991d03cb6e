// Text that may reach logs or ops.jobs.last_error: secrets removed, emails masked, length bounded.
import { maskEmail } from "./email.ts";

const MAX_REASON_CHARS = 500;
const EMAIL_RE = /[^\s"'<>()[\]{},;:\\@]+@[^\s"'<>()[\]{},;:\\@]+/g;

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[redacted]");
  out = out.replace(EMAIL_RE, (m) => maskEmail(m)).replace(/\s+/g, " ").trim();
  return out.length > MAX_REASON_CHARS ? `${out.slice(0, MAX_REASON_CHARS - 1)}…` : out;
}
