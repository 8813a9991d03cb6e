// Chooses the CRM adapter from a plain env object: HubSpot when HUBSPOT_ACCESS_TOKEN is set, local capture otherwise.
import { chooseAdapter, type Env } from "../config/env.ts";
import type { CrmAdapter } from "./contract.ts";
import type { CaptureRecorder } from "../providers/capture.ts";
import { createCaptureAdapter } from "./capture.ts";
import { createHubSpotAdapter, hubspotConfig } from "./hubspot.ts";
import { noRetryFetch } from "../providers/no-retry-fetch.ts";

export type CrmAdapterName = "hubspot" | "capture";

/** The one rule (also read by the bench): CRM_ADAPTER=capture|hubspot forces a choice (e.g. a local
 * stack whose .env holds a token); otherwise HubSpot when a token is set, capture when not. */
export function crmAdapterName(env: Env): CrmAdapterName {
  return chooseAdapter(env, "CRM_ADAPTER", "hubspot", "HUBSPOT_ACCESS_TOKEN");
}

export function selectCrmAdapter(
  env: Env,
  deps: { recorder: CaptureRecorder; fetch?: typeof fetch },
): CrmAdapter {
  if (crmAdapterName(env) === "hubspot") {
    return createHubSpotAdapter(hubspotConfig(env), { fetch: deps.fetch, fetchOnce: deps.fetch ?? noRetryFetch() });
  }
  return createCaptureAdapter(deps.recorder);
}
