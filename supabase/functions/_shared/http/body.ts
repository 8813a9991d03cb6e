// Reads a request body as text, refusing (413) anything over the limit before it is all buffered.
import type { z } from "zod";
import { describeIssues } from "../issues.ts";
import { HttpError } from "./error.ts";

export async function readBody(req: Request, maxBytes: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(413, `body too large: the limit is ${maxBytes} bytes`, { reason: "too_large" });
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (cause) {
      // the client closed the connection mid-body: its doing, not a failure of ours (a 5xx would count
      // in the failure alerts, and anyone can drop a connection)
      throw new HttpError(400, "the request body could not be read", { cause, reason: "incomplete" });
    }
    const { done, value } = chunk;
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new HttpError(413, `body too large: the limit is ${maxBytes} bytes`, { reason: "too_large" });
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "body is not valid UTF-8", { reason: "payload" });
  }
}

/** A JSON body checked by a zod schema: not JSON -> 400 naming the expected shape; invalid -> 400
 * naming the first field and what is wrong with it. */
export function parseJsonBody<S extends z.ZodType>(body: string, schema: S, shape: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new HttpError(400, `body must be JSON: ${shape}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, describeIssues(parsed.error.issues.slice(0, 1)));
  return parsed.data;
}
