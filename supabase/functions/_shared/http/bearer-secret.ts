// Comparing a presented secret with an expected one without the time taken telling how much matched:
// the workers' upgrade window (_shared/jobs/dispatch-proof.ts) and the dashboard's CSRF token.

export async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (v: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(v)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}
