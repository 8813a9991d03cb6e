// The request id that follows one action across everything (#20): the caller's `x-request-id` when it is
// safe to log and store (1-128 of A-Z a-z 0-9 . _ : -), else one we make (a uuid). It is echoed in the answer,
// put on every log line of the request (log.ts reads it here), and set for the request's transactions as
// backbone.request_id, which ops.jobs, ops.checkout_requests and ops.audit_log take as their request_id.
import { AsyncLocalStorage } from "node:async_hooks";

export const REQUEST_ID_HEADER = "x-request-id";
const SAFE = /^[A-Za-z0-9._:-]{1,128}$/;
const current = new AsyncLocalStorage<string>();

/** The caller's id when it is safe, else null. */
export function safeRequestId(value: string | null | undefined): string | null {
  const v = value?.trim();
  return v && SAFE.test(v) ? v : null;
}

/** The id of the request being handled (inside withRequestId), else undefined. */
export function currentRequestId(): string | undefined {
  return current.getStore();
}

/** Runs `inner` with the request's id as the current one and echoes it in the answer's x-request-id. */
export function withRequestId(inner: (req: Request) => Promise<Response>) {
  return (req: Request): Promise<Response> => {
    const id = safeRequestId(req.headers.get(REQUEST_ID_HEADER)) ?? crypto.randomUUID();
    return current.run(id, async () => {
      const res = await inner(req);
      try {
        res.headers.set(REQUEST_ID_HEADER, id);
        return res;
      } catch {
        // an answer with immutable headers (Response.redirect, a fetched one): copied with the id
        const headers = new Headers(res.headers);
        headers.set(REQUEST_ID_HEADER, id);
        return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
      }
    });
  };
}

/** SQL fragment arguments: `select set_config('backbone.request_id', ${requestIdSetting()}, true)` in a
 * transaction makes the rows it writes carry the id ('' outside a request: the columns stay null). */
export function requestIdSetting(): string {
  return currentRequestId() ?? "";
}
