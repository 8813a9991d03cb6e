// Structured, one-line JSON logs. Callers pass ids and outcomes only: never payloads, emails or secrets.
// Inside a request (http/request-id.ts) every line carries its request_id.
import { currentRequestId } from "./http/request-id.ts";

type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, fn: string, msg: string, fields: Record<string, unknown> = {}) {
  const requestId = currentRequestId();
  const line = JSON.stringify({
    t: new Date().toISOString(),
    level,
    fn,
    msg,
    ...(requestId ? { request_id: requestId } : {}),
    ...fields,
  });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
