// The proof a job dispatch carries instead of the worker secret (#17): HMAC-SHA256, keyed by the worker
// secret, over the function, the job id and an expiry. ops.dispatch_job makes it (pgcrypto); workers
// check it here with Web Crypto. A request copied from pg_net's queue can only dispatch its own job to
// its own function, until it expires, and a claim of a job that runs or ran claims nothing.
import { sameSecret } from "../http/bearer-secret.ts";

/** `v1.<job id>.<expiry, unix seconds>.<hex HMAC-SHA256(secret, "v1.<function>.<job id>.<expiry>")>` */
const PROOF = /^v1\.([1-9][0-9]{0,15})\.([0-9]{1,12})\.([0-9a-f]{64})$/;

const encoder = new TextEncoder();

/** What the MAC covers: the version, the function that runs the job, the job and the expiry. */
export function proofMessage(fn: string, jobId: number, expiresAt: number): string {
  return `v1.${fn}.${jobId}.${expiresAt}`;
}

const hmacKey = (secret: string, usage: "sign" | "verify") =>
  crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [usage]);

/** The proof ops.dispatch_job sends (for tests and tools: the database makes the real ones). */
export async function signDispatch(secret: string, fn: string, jobId: number, expiresAt: number): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret, "sign"),
    encoder.encode(proofMessage(fn, jobId, expiresAt)),
  );
  const hex = Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
  return `v1.${jobId}.${expiresAt}.${hex}`;
}

/** Accepted: the job the proof is for (any job: the bare secret during the upgrade window). */
export type Verdict = { ok: true; jobId?: number } | { ok: false; reason?: string };

export type DispatchDoor = {
  /** Checks an Authorization header at `nowMs`; never says which secret matched. */
  verify(authorization: string | null, nowMs?: number): Promise<Verdict>;
};

/**
 * The door of a job worker named `fn`: a proof signed with any of `secrets` (several while one is
 * rotated), not expired. Until `bareSecretUntilMs` (WORKER_BARE_SECRET_UNTIL, an upgrade from 0.2.0),
 * the bare secret itself is accepted too, as 0.2.0's dispatcher sent it.
 */
export function dispatchDoor(secrets: string[], fn: string, bareSecretUntilMs?: number): DispatchDoor {
  const keys = Promise.all(secrets.map((s) => hmacKey(s, "verify")));
  return {
    async verify(authorization, nowMs = Date.now()) {
      const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1] ?? "";
      const proof = PROOF.exec(token);
      if (proof) {
        const [jobId, expiresAt] = [Number(proof[1]), Number(proof[2])];
        const mac = Uint8Array.from(proof[3].match(/../g)!, (h) => parseInt(h, 16));
        const message = encoder.encode(proofMessage(fn, jobId, expiresAt));
        // crypto.subtle.verify compares in constant time (ring in Deno); every key is tried either way
        const valid = await Promise.all((await keys).map((k) => crypto.subtle.verify("HMAC", k, mac, message)));
        if (!valid.includes(true)) return { ok: false };
        if (expiresAt * 1000 <= nowMs) return { ok: false, reason: "this dispatch's proof has expired" };
        return { ok: true, jobId };
      }
      if (bareSecretUntilMs !== undefined && nowMs < bareSecretUntilMs && token !== "") {
        const same = await Promise.all(secrets.map((s) => sameSecret(token, s)));
        if (same.includes(true)) return { ok: true };
      }
      return { ok: false };
    },
  };
}
