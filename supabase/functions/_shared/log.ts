// Structured, one-line JSON logs. Callers pass ids and outcomes only: never payloads, emails or secrets.
type Level = "debug" | "info" | "warn" | "error";

export function log(level: Level, fn: string, msg: string, fields: Record<string, unknown> = {}) {
  const line = JSON.stringify({ t: new Date().toISOString(), level, fn, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
