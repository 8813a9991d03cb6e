// The one entry skeleton of every HTTP function: method check, body read under a size limit,
// error mapping (clear 4xx, generic 5xx chosen by the function) and one structured log line.
import { log } from "../log.ts";
import { readBody } from "./body.ts";
import { errorResponse, HttpError, json } from "./error.ts";

/** What a handler answers: a JSON body (200 unless said), and ids worth logging (never payloads). */
export type Reply = { status?: number; body: unknown; headers?: Record<string, string>; log?: Record<string, unknown> };
export type Handler = (req: Request, body: string) => Promise<Reply>;

export type ServeOptions = {
  /** Allowed methods; anything else is 405 before the body is read. */
  methods?: readonly string[];
  maxBodyBytes?: number;
  /** What callers read on an unexpected error (500): a sentence for them, never the cause. */
  internalMessage?: string;
  /** Told of every answer (status and a short reason code, never the body) before it is sent, e.g. to
   * count refusals; its failure is logged and never changes the answer. */
  onAnswered?: (answer: Answer) => Promise<void> | void;
};

/** An answer's status and why: "ok", or the HttpError's reason ("signature", "method", ...), else
 * "rejected" for a 4xx and "internal" for an unexpected error. */
export type Answer = { status: number; reason: string };

/** The reason code of a failed request's answer. */
export function answerReason(err: unknown): string {
  if (err instanceof HttpError) return err.options.reason ?? (err.status < 500 ? "rejected" : "error");
  return "internal";
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** The request handler itself, for tests and for `Deno.serve` (see serve). */
export function handle(name: string, handler: Handler, options: ServeOptions = {}) {
  const methods = options.methods ?? ["POST"];
  const internal = options.internalMessage ?? "internal error, retry later";
  const told = async (response: Response, reason: string) => {
    if (!options.onAnswered) return response;
    try {
      await options.onAnswered({ status: response.status, reason });
    } catch (err) {
      log("warn", name, "could not record the answer", { status: response.status, cause: (err as Error)?.name });
    }
    return response;
  };
  return async (req: Request): Promise<Response> => {
    const started = performance.now();
    try {
      if (!methods.includes(req.method)) {
        throw new HttpError(405, `method not allowed: use ${methods.join(" or ")}`, {
          headers: { allow: methods.join(", ") },
          reason: "method",
        });
      }
      const body = await readBody(req, options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
      const reply = await handler(req, body);
      const status = reply.status ?? 200;
      log("info", name, "request handled", { status, ...reply.log, ms: Math.round(performance.now() - started) });
      return await told(json(status, reply.body, reply.headers), "ok");
    } catch (err) {
      return await told(errorResponse(name, err, internal), answerReason(err));
    }
  };
}

export function serve(name: string, handler: Handler, options: ServeOptions = {}) {
  Deno.serve(handle(name, handler, options));
}
