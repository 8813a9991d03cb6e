// A fetch that never re-sends a request on its own, for calls that are not idempotent at the provider.
type DenoHttp = { createHttpClient?: (options: { poolMaxIdlePerHost: number }) => unknown };

/** A fetch over connections that are never reused, so a dropped answer is an error, not a silent
 * second request (Deno re-sends a request whose pooled connection closed without an answer). Where
 * the runtime has no Deno.createHttpClient (Node tests), the plain fetch. */
export function noRetryFetch(): typeof fetch {
  const deno = (globalThis as { Deno?: DenoHttp }).Deno;
  if (!deno?.createHttpClient) return fetch;
  const client = deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  // `client` is Deno's own RequestInit field
  return (input, init) => fetch(input, { ...init, client } as unknown as RequestInit);
}
