// The one error type of every function, and how errors become JSON responses without leaking.
import { log } from "../log.ts";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: {
      cause?: unknown;
      headers?: Record<string, string>;
      /** A short code for counters of answers (snake_case: "signature", "payload"); never the message. */
      reason?: string;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "HttpError";
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** 4xx carry their message; anything else is a 5xx whose cause is logged by kind, never echoed:
 * callers get the HttpError's own message, or the function's generic `internalMessage`. */
export function errorResponse(fn: string, err: unknown, internalMessage: string): Response {
  if (err instanceof HttpError && err.status < 500) {
    log("warn", fn, err.message, { status: err.status });
    return json(err.status, { error: err.message }, err.options.headers);
  }
  const status = err instanceof HttpError ? err.status : 500;
  const cause = err instanceof HttpError ? err.options.cause : err;
  log("error", fn, err instanceof HttpError ? err.message : "unhandled error", {
    status,
    cause: cause instanceof Error ? cause.name : typeof cause,
    code: (cause as { code?: string } | undefined)?.code,
  });
  const message = err instanceof HttpError ? err.message : internalMessage;
  return json(status, { error: message }, err instanceof HttpError ? err.options.headers : {});
}
