// HubSpot's answers as zod schemas (loose: HubSpot adds fields freely; only what the adapter reads is
// checked), and its error answers as one readable line. hubspot.ts parses every answer with one of these.
import { z } from "zod";

/** JSON.parse, or undefined when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const objectId = z.union([z.string().min(1), z.number()], { error: "must be a HubSpot object id" }).transform(String);
/** A single create (contact, note): the new record's id. */
export const createdAnswer = z.object({ id: objectId }).loose();
/** A batch upsert: one result, or (207) the record's error. */
export const batchAnswer = z.object({
  results: z.array(z.object({ id: objectId }).loose()).default([]),
  errors: z.array(z.object({ category: z.string().optional(), message: z.string().optional() }).loose()).default([]),
}).loose();
/** One page of v4 associations. */
export const associationsAnswer = z.object({
  results: z.array(z.object({ toObjectId: objectId }).loose()).default([]),
  paging: z.object({ next: z.object({ after: z.string().optional() }).loose().optional() }).loose().optional(),
}).loose();
/** A batch read of notes' bodies. */
export const notesAnswer = z.object({
  results: z.array(
    z.object({
      id: objectId,
      properties: z.object({ hs_note_body: z.string().nullish() }).loose().optional(),
    }).loose(),
  ).default([]),
}).loose();
/** An answer whose body is not read (the association PUT). */
export const anyAnswer = z.unknown();

/** A field of an error answer, dropped when it is not a non-empty string: an error's reason is read best-effort. */
const errorText = z.string().min(1).optional().catch(undefined);
/** HubSpot's error JSON ({ status, message, category, correlationId, errors, policyName }). */
const errorAnswer = z.object({
  message: errorText,
  category: errorText,
  errorType: errorText,
  correlationId: errorText,
  policyName: errorText,
  errors: z.array(z.object({ message: errorText }).loose()).catch([]).default([]),
}).loose();
/** "Property values were not valid: [{...}]" embeds a JSON list of the failing properties. */
const invalidProperties = z.array(
  z.object({ name: z.string().optional(), error: z.string().optional(), message: z.string().optional() }).loose(),
);

/** "Property values were not valid: [{...}]": name each failing property. */
function validationDetails(message: string): string | undefined {
  const start = message.indexOf("[");
  if (!message.startsWith("Property values were not valid") || start < 0) return undefined;
  const list = invalidProperties.safeParse(parseJson(message.slice(start)));
  if (!list.success) return undefined;
  return `invalid properties: ${
    list.data.map((p) => `${p.name} ${p.error ?? ""}: ${p.message ?? ""}`.trim()).join("; ")
  }`;
}

/** HubSpot's error JSON as one readable line. */
export function hubspotReason(status: number, text: string): string {
  const parsed = errorAnswer.safeParse(parseJson(text));
  if (!parsed.success) {
    return `HubSpot answered ${status} with ${text.trim() ? "a body that is not JSON" : "an empty body"}`;
  }
  const body = parsed.data;
  const category = body.category ?? body.errorType;
  const message = body.message ?? "";
  const errors = body.errors.map((e) => e.message).filter(Boolean);
  const details = validationDetails(message) ?? (message || errors.join("; ") || "no message");
  return `HubSpot ${status}${category ? ` ${category}` : ""}: ${details}${
    body.correlationId ? ` (correlationId ${body.correlationId})` : ""
  }`;
}

export const DAILY_LIMIT_WAIT_MS = 60 * 60 * 1000;

/** How long a 429 without Retry-After should wait: the daily limit an hour, the rolling window its length. */
export function rateLimitWaitMs(headers: Headers, text: string): number {
  if (errorAnswer.safeParse(parseJson(text)).data?.policyName === "DAILY") return DAILY_LIMIT_WAIT_MS;
  const interval = Number(headers.get("x-hubspot-ratelimit-interval-milliseconds"));
  return Number.isFinite(interval) && interval > 0 ? interval : 10_000;
}
