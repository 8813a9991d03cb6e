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

/** What Postgres says when a request's own data is refused, as the caller should read it: a fixed,
 * actionable sentence per SQLSTATE class, never Postgres's text (which names tables and constraints). */
export type DatabaseRefusals = {
  /** Data exceptions (class 22: a NUL byte, a value out of range, a string too long). */
  data: string;
  /** Integrity constraint violations (class 23), unless `constraints` names the constraint. */
  constraint: string;
  /** Per constraint name, e.g. a foreign key the caller can do something about. */
  constraints?: Record<string, string>;
};

/** A 400 for a database error that is the request's fault (SQLSTATE class 22 or 23), else undefined:
 * the cause is kept for the log line (its code), the caller reads the fixed message. */
export function databaseRefusal(err: unknown, refusals: DatabaseRefusals): HttpError | undefined {
  const { code, constraint_name } = (err ?? {}) as { code?: unknown; constraint_name?: unknown };
  if (typeof code !== "string") return undefined;
  const named = typeof constraint_name === "string" ? refusals.constraints?.[constraint_name] : undefined;
  if (code.startsWith("22")) return new HttpError(400, refusals.data, { cause: err, reason: "invalid_data" });
  if (code.startsWith("23")) {
    return new HttpError(400, named ?? refusals.constraint, { cause: err, reason: "constraint" });
  }
  return undefined;
}

/** The message of an exception our own SQL raised (plpgsql `raise`: sentences written for the caller),
 * else undefined: Postgres's own messages (a policy, a privilege, a constraint, a cast) name tables,
 * columns and values, and are never echoed. */
export function raisedByUs(err: unknown): string | undefined {
  const { routine, message } = (err ?? {}) as { routine?: unknown; message?: unknown };
  return routine === "exec_stmt_raise" && typeof message === "string" ? message : undefined;
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
