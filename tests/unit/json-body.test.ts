// JSON bodies checked by zod (parseJsonBody): what the job workers and support-intake answer for a
// body that is not JSON or not the expected shape: a 400 naming the field, never a 500.
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
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
});
