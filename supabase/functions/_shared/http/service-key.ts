// The door of database-dispatched endpoints: the caller must present the secret itself (compared in
// constant time), so a JWT that merely claims a role is refused.
import { HttpError } from "./error.ts";

export async function requireBearerSecret(req: Request, secret: string | undefined, refusal: string) {
  const token = /^Bearer\s+(.+)$/i.exec(req.headers.get("authorization") ?? "")?.[1] ?? "";
  if (!secret || !(await sameSecret(token, secret))) throw new HttpError(403, refusal);
}

export async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (v: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
