// Local capture of provider calls: what would be sent is recorded (ops.*_capture) and a stable id
// derived from the idempotency key is returned, so the stack works end to end without accounts.
import { ProviderError } from "./error.ts";

export type CaptureRecord = {
  /** What was called: "contact", "deal", "note", "email", ... */
  kind: string;
  /** The idempotency key (normalised email, order uuid, note key): a replay records the same key and externalId. */
  key: string;
  /** What the adapter returns for this key, always the same: capture-<kind>-<sha256(key), 24 hex>. */
  externalId: string;
  payload: Record<string, unknown>;
};

/** Injected by the caller: workers pass one that writes ops; tests push to an array. */
export type CaptureRecorder = (record: CaptureRecord) => Promise<void>;

export async function captureId(kind: string, key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `capture-${kind}-${hex.slice(0, 24)}`;
}

/** Records one call and returns its stable id; a failed recorder (a database write) is worth a retry. */
export async function capture(
  recorder: CaptureRecorder,
  kind: string,
  key: string,
  payload: Record<string, unknown>,
): Promise<string> {
  const externalId = await captureId(kind, key);
  try {
    await recorder({ kind, key, externalId, payload });
  } catch (cause) {
    const name = cause instanceof Error ? cause.name : typeof cause;
    throw new ProviderError(`capture ${kind}: the recorder failed (${name})`, { retryable: true, cause });
  }
  return externalId;
}
