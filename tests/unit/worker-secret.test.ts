// The workers' door (_shared/jobs/dispatch-proof.ts, worker.ts): a dispatch carries a proof, HMAC-SHA256
// keyed by one of the configured secrets (several while one is rotated) over the function, the job and an
// expiry (#17). Proofs for another job or function, expired ones, other keys, JWTs and the bare secret are
// refused; the bare secret only during an upgrade window that closes by itself.
import { createHmac } from "node:crypto";
import { describe, expect, test } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { dispatchDoor, signDispatch } from "../../supabase/functions/_shared/jobs/dispatch-proof.ts";
import {
  admitDispatch,
  bareSecretUntil,
  workerDoor,
  workerSecrets,
} from "../../supabase/functions/_shared/jobs/worker.ts";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const IN_10_MIN = NOW / 1000 + 600;
const [CURRENT, PREVIOUS] = ["s3cret-current-0123456789abcdef", "s3cret-previous-0123456789abcdef"];

const request = (authorization?: string) =>
  new Request("http://localhost/crm-sync", { method: "POST", headers: authorization ? { authorization } : {} });

/** The status admitDispatch answers for this header and body, at NOW. */
async function status(authorization: string | undefined, secrets: string, body = '{"job_id": 42}', extra = {}) {
  const env = { WORKER_SECRET: secrets, ...extra };
  const door = workerDoor(env, "crm-sync", NOW);
  const fixedDoor = { verify: (h: string | null) => door.verify(h, NOW) };
  try {
    await admitDispatch(fixedDoor, workerSecrets(env).length, request(authorization), body);
    return 200;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

const bearer = async (secret: string, fn = "crm-sync", job = 42, exp = IN_10_MIN) =>
  `Bearer ${await signDispatch(secret, fn, job, exp)}`;

describe("the worker secret", () => {
  test("a comma-separated setting lists each secret once, ignoring blanks and spaces", () => {
    expect(workerSecrets({ WORKER_SECRET: " new-secret , ,old-secret," })).toEqual(["new-secret", "old-secret"]);
    expect(workerSecrets({})).toEqual([]);
  });

  test("a proof is HMAC-SHA256(secret, 'v1.<function>.<job>.<expiry>') in hex, as ops.dispatch_proof makes it", async () => {
    const mac = createHmac("sha256", CURRENT).update(`v1.crm-sync.42.${IN_10_MIN}`).digest("hex");
    expect(await signDispatch(CURRENT, "crm-sync", 42, IN_10_MIN)).toBe(`v1.42.${IN_10_MIN}.${mac}`);
  });

  test.each([
    ["a proof signed with the only secret", () => bearer(CURRENT), CURRENT, 200],
    ["a proof signed with the new secret of two", () => bearer(CURRENT), `${CURRENT},${PREVIOUS}`, 200],
    ["a proof signed with the old one, during a rotation", () => bearer(PREVIOUS), `${CURRENT}, ${PREVIOUS}`, 200],
    ["a lower-case scheme", async () => (await bearer(CURRENT)).replace("Bearer", "bearer"), CURRENT, 200],
    ["a proof signed with a secret that is not listed", () => bearer("s3cret-other"), `${CURRENT},${PREVIOUS}`, 403],
    ["the old secret's proof once the rotation is over", () => bearer(PREVIOUS), CURRENT, 403],
    ["a proof for another job", () => bearer(CURRENT, "crm-sync", 41), CURRENT, 403],
    ["a proof for the same job at another function", () => bearer(CURRENT, "notify"), CURRENT, 403],
    ["an expired proof", () => bearer(CURRENT, "crm-sync", 42, NOW / 1000), CURRENT, 403],
    [
      "a proof whose expiry was moved later",
      async () =>
        (await bearer(CURRENT, "crm-sync", 42, NOW / 1000 - 1)).replace(`.${NOW / 1000 - 1}.`, `.${IN_10_MIN}.`),
      CURRENT,
      403,
    ],
    [
      "a proof whose job id was changed to the body's",
      async () => (await bearer(CURRENT, "crm-sync", 41)).replace("v1.41.", "v1.42."),
      CURRENT,
      403,
    ],
    [
      "a proof in upper-case hex",
      async () => (await bearer(CURRENT)).toUpperCase().replace("BEARER V1", "Bearer v1"),
      CURRENT,
      403,
    ],
    ["the bare worker secret", async () => `Bearer ${CURRENT}`, CURRENT, 403],
    ["no header", async () => undefined, CURRENT, 403],
    ["a JWT", async () => "Bearer eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2ln", CURRENT, 403],
    ["the proof without the Bearer scheme", async () => (await bearer(CURRENT)).slice(7), CURRENT, 403],
    ["anything, with no secret configured", () => bearer(CURRENT), " , ", 500],
  ])("%s answers %i", async (_name, header, secrets, expected) => {
    expect(await status(await header(), secrets)).toBe(expected);
  });

  test("the refusal says why when the proof is genuine: expired, or another job's", async () => {
    const door = dispatchDoor([CURRENT], "crm-sync");
    expect(await door.verify(await bearer(CURRENT, "crm-sync", 42, NOW / 1000), NOW)).toEqual({
      ok: false,
      reason: "this dispatch's proof has expired",
    });
    await expect(
      admitDispatch({ verify: (h) => door.verify(h, NOW) }, 1, request(await bearer(CURRENT)), '{"job_id": 7}'),
    ).rejects.toMatchObject({ status: 403, message: expect.stringMatching(/proof is for another job$/) });
  });

  test("a valid proof with a body that names no job is a 400", async () => {
    expect(await status(await bearer(CURRENT), CURRENT, '{"job": "x"}')).toBe(400);
  });

  describe("the upgrade window (WORKER_BARE_SECRET_UNTIL)", () => {
    const until = (ms: number) => ({ WORKER_BARE_SECRET_UNTIL: new Date(ms).toISOString() });

    test("until then the bare secret runs any job, as 0.2.0's dispatcher sent it; proofs still work", async () => {
      expect(await status(`Bearer ${PREVIOUS}`, `${CURRENT},${PREVIOUS}`, undefined, until(NOW + 60_000))).toBe(200);
      expect(await status(await bearer(CURRENT), CURRENT, undefined, until(NOW + 60_000))).toBe(200);
      expect(await status("Bearer not-a-secret", CURRENT, undefined, until(NOW + 60_000))).toBe(403);
    });

    test("after it, the bare secret is refused", async () => {
      expect(await status(`Bearer ${CURRENT}`, CURRENT, undefined, until(NOW - 1))).toBe(403);
      expect(bareSecretUntil(until(NOW - 1), NOW)).toBeUndefined();
    });

    test("a window longer than 24 h, or an unreadable time, stops the function at start", () => {
      expect(() => bareSecretUntil(until(NOW + 25 * 3600_000), NOW)).toThrow(/at most 24 hours ahead/);
      expect(() => bareSecretUntil({ WORKER_BARE_SECRET_UNTIL: "tomorrow" }, NOW)).toThrow(/time with its offset/);
      expect(() => bareSecretUntil({ WORKER_BARE_SECRET_UNTIL: "2026-12-07T13:00:00" }, NOW)).toThrow(/offset/);
      expect(bareSecretUntil({ WORKER_BARE_SECRET_UNTIL: "2026-12-07T13:00:00Z" }, NOW)).toBe(NOW + 3600_000);
    });
  });
});
