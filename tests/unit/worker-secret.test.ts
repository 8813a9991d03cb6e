// The workers' door (_shared/http/bearer-secret.ts): a bearer token must be one of the configured
// secrets, several while one is rotated; JWTs, blanks and near misses are refused.
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { requireBearerSecret } from "../../supabase/functions/_shared/http/bearer-secret.ts";
import { workerSecrets } from "../../supabase/functions/_shared/jobs/worker.ts";

const request = (authorization?: string) =>
  new Request("http://localhost/crm-sync", { method: "POST", headers: authorization ? { authorization } : {} });

async function status(authorization: string | undefined, secrets: string | undefined): Promise<number> {
  try {
    await requireBearerSecret(
      request(authorization),
      workerSecrets({ WORKER_SECRET: secrets }),
      "refused",
      "WORKER_SECRET",
    );
    return 200;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

describe("the worker secret", () => {
  test("a comma-separated setting lists each secret once, ignoring blanks and spaces", () => {
    expect(workerSecrets({ WORKER_SECRET: " new-secret , ,old-secret," })).toEqual(["new-secret", "old-secret"]);
    expect(workerSecrets({})).toEqual([]);
  });

  test.each([
    ["the only secret", "Bearer s3cret-current", "s3cret-current", 200],
    ["the first of two (the new one)", "Bearer s3cret-new", "s3cret-new,s3cret-old", 200],
    ["the second of two (the old one, during a rotation)", "Bearer s3cret-old", "s3cret-new, s3cret-old", 200],
    ["a lower-case scheme", "bearer s3cret-current", "s3cret-current", 200],
    ["no header", undefined, "s3cret-current", 403],
    ["a secret that is not listed", "Bearer s3cret-other", "s3cret-new,s3cret-old", 403],
    ["a prefix of the secret", "Bearer s3cret", "s3cret-current", 403],
    ["both secrets at once", "Bearer s3cret-new,s3cret-old", "s3cret-new,s3cret-old", 403],
    ["the secret without the Bearer scheme", "s3cret-current", "s3cret-current", 403],
    ["an empty bearer against blank entries", "Bearer  ", " , ", 500],
  ])("%s: %s against %s answers %i", async (_name, header, secrets, expected) => {
    expect(await status(header, secrets)).toBe(expected);
  });

  test("an unset WORKER_SECRET refuses everyone with a 500 that names the setting", async () => {
    await expect(requireBearerSecret(request("Bearer x"), workerSecrets({}), "refused", "WORKER_SECRET"))
      .rejects.toMatchObject({ status: 500, message: expect.stringContaining("WORKER_SECRET is not configured") });
  });
});
