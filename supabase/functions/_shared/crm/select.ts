// Chooses the CRM adapter from a plain env object: HubSpot when HUBSPOT_ACCESS_TOKEN is set, local capture otherwise.
import type { CrmAdapter } from "./contract.ts";
import type { CaptureRecorder } from "../providers/capture.ts";
import { createCaptureAdapter } from "./capture.ts";
import { createHubSpotAdapter, hubspotConfig } from "./hubspot.ts";

export type CrmAdapterName = "hubspot" | "capture";

/** The one rule (also read by the bench): CRM_ADAPTER=capture|hubspot forces a choice (e.g. a local
 * stack whose .env holds a token); otherwise HubSpot when a token is set, capture when not. */
export function crmAdapterName(env: Record<string, string | undefined>): CrmAdapterName {
  const forced = env.CRM_ADAPTER?.trim().toLowerCase();
  if (forced && forced !== "hubspot" && forced !== "capture") {
    throw new Error(`CRM_ADAPTER must be "hubspot" or "capture", not "${forced}"`);
  }
  if (forced) return forced as CrmAdapterName;
  return env.HUBSPOT_ACCESS_TOKEN?.trim() ? "hubspot" : "capture";
}

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

export function selectCrmAdapter(
  env: Record<string, string | undefined>,
  deps: { recorder: CaptureRecorder; fetch?: typeof fetch },
): CrmAdapter {
  if (crmAdapterName(env) === "hubspot") {
    return createHubSpotAdapter(hubspotConfig(env), { fetch: deps.fetch, fetchOnce: deps.fetch ?? noRetryFetch() });
  }
  return createCaptureAdapter(deps.recorder);
}
