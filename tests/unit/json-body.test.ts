// JSON bodies checked by zod (parseJsonBody): what the job workers and support-intake answer for a
// body that is not JSON or not the expected shape: a 400 naming the field, never a 500. And the
// database's refusals of a request's data (databaseRefusal): a 400 with a fixed message, never its text.
import { describe, expect, test } from "vitest";
import { databaseRefusal, HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { parseJobRequest } from "../../supabase/functions/_shared/jobs/worker.ts";
import { parseRequest } from "../../supabase/functions/support-intake/intake.ts";

function refusal(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return err as HttpError;
  }
  throw new Error("expected a 400");
}

describe("parseJsonBody", () => {
  test("a job request: the job id, or a 400 that says what a job request is", () => {
    expect(parseJobRequest('{"job_id": 42}')).toBe(42);
    expect(refusal(() => parseJobRequest("job 42"))).toMatchObject({
      status: 400,
      message: 'body must be JSON: {"job_id": <positive integer>}',
    });
    for (const body of ['{"job_id": -1}', '{"job_id": 1.5}', '{"job_id": "42"}', "{}"]) {
      expect(refusal(() => parseJobRequest(body))).toMatchObject({
        status: 400,
        message: "job_id: must be a positive integer",
      });
    }
  });

  test("a support request: the first wrong field by name, unknown fields refused", () => {
    const ok = { category: "billing", subject: " Charged twice ", message: "Hi" };
    expect(parseRequest(JSON.stringify(ok))).toMatchObject({ subject: "Charged twice" });
    expect(refusal(() => parseRequest("{"))).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^body must be JSON: \{category/),
    });
    expect(refusal(() => parseRequest(JSON.stringify({ ...ok, subject: "" }))).message).toBe(
      "subject: subject is required",
    );
    expect(refusal(() => parseRequest(JSON.stringify({ ...ok, queue: "disputes" }))).message).toMatch(/queue/);
  });

  test.each([
    ["a NUL in the subject", { subject: "a\u0000b" }, "subject"],
    ["a NUL in the message", { message: "\u0000" }, "message"],
    ["a lone high surrogate", { subject: "a\ud800b" }, "subject"],
    ["a lone low surrogate", { message: "\udc00" }, "message"],
    ["a NUL in the idempotency key", { idempotency_key: "k\u0000" }, "idempotency_key"],
  ])("a support request with %s is refused, naming the field", (_what, fields, field) => {
    const ok = { category: "billing", subject: "Charged twice", message: "Hi" };
    expect(refusal(() => parseRequest(JSON.stringify({ ...ok, ...fields })))).toMatchObject({
      status: 400,
      message: `${field}: ${field} must be plain text: no NUL (\\u0000) or lone surrogates`,
    });
  });

  test("a support request with an emoji (a surrogate pair) is plain text", () => {
    const ok = { category: "billing", subject: "Charged twice \ud83d\ude21", message: "Hi \u{1F600}" };
    expect(parseRequest(JSON.stringify(ok))).toMatchObject({ subject: "Charged twice \u{1F621}" });
  });
});

describe("databaseRefusal", () => {
  const refusals = {
    data: "fixed data message",
    constraint: "fixed constraint message",
    constraints: { things_owner_fkey: "your account no longer exists" },
  };
  const pgError = (code: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(`raw Postgres text naming "things"`), { code, ...extra });

  test.each([
    ["a data exception (22021, a NUL byte)", pgError("22021"), "fixed data message"],
    ["a value too long (22001)", pgError("22001"), "fixed data message"],
    ["a check violation (23514)", pgError("23514", { constraint_name: "things_check" }), "fixed constraint message"],
    [
      "a named foreign key (23503)",
      pgError("23503", { constraint_name: "things_owner_fkey" }),
      "your account no longer exists",
    ],
  ])("%s is a 400 with a fixed message", (_what, err, message) => {
    const refused = databaseRefusal(err, refusals);
    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ status: 400, message });
    expect(refused!.message).not.toContain("things");
  });

  test.each([["a lock timeout (55P03)", pgError("55P03")], ["a network error", new Error("ECONNRESET")]])(
    "%s is not the request's fault: left to the 5xx path",
    (_what, err) => {
      expect(databaseRefusal(err, refusals)).toBeUndefined();
    },
  );
});
