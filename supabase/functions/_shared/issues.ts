// A zod error as one line for errors and logs: each issue's path and message, never the input
// (which may be a secret or a customer's email).
import type { z } from "zod";

export function describeIssues(issues: readonly z.core.$ZodIssue[], separator = ": "): string {
  return issues.map((i) => `${i.path.length ? `${i.path.join(".")}${separator}` : ""}${i.message}`).join("; ");
}
