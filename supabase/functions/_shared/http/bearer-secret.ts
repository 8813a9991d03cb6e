// The door of database-dispatched endpoints: the caller must present one of the accepted secrets
// itself (compared in constant time), so a JWT that merely claims a role is refused. Several
// secrets, separated by commas, are accepted while one is being rotated.
import { HttpError } from "./error.ts";

/** Refuses (403 with `refusal`) a request whose bearer token is none of `accepted`; a 500 naming
 * `setting` when no secret is configured at all, since then every caller would be refused. */
export async function requireBearerSecret(
  req: Request,
  accepted: string[],
  refusal: string,
  setting = "the secret",
) {
  if (accepted.length === 0) throw new HttpError(500, `${setting} is not configured: every request is refused`);
  const token = /^Bearer\s+(.+)$/i.exec(req.headers.get("authorization") ?? "")?.[1] ?? "";
  if (!(await matchesAny(token, accepted))) throw new HttpError(403, refusal);
}

/** Whether `token` is one of `secrets`: every secret is compared, so the time taken tells nothing. */
export async function matchesAny(token: string, secrets: string[]): Promise<boolean> {
  const matches = await Promise.all(secrets.map((s) => sameSecret(token, s)));
  return matches.reduce((any, m) => any || m, false);
}

export async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (v: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
