// Chooses the CRM adapter from a plain env object: HubSpot when HUBSPOT_ACCESS_TOKEN is set, local capture otherwise.
import type { CrmAdapter } from "./crm-adapter.ts";
import { type CaptureRecorder, createCaptureAdapter } from "./crm-capture.ts";
import { createHubSpotAdapter, hubspotConfig } from "./crm-hubspot.ts";

/** CRM_ADAPTER=capture forces capture even with a token (e.g. a local stack whose .env holds one). */
export function selectCrmAdapter(
  env: Record<string, string | undefined>,
  deps: { recorder: CaptureRecorder; fetch?: typeof fetch },
): CrmAdapter {
  const forced = env.CRM_ADAPTER?.trim().toLowerCase();
  if (forced && forced !== "hubspot" && forced !== "capture") {
    throw new Error(`CRM_ADAPTER must be "hubspot" or "capture", not "${forced}"`);
  }
  const useHubSpot = forced === "hubspot" || (!forced && !!env.HUBSPOT_ACCESS_TOKEN?.trim());
  if (useHubSpot) return createHubSpotAdapter(hubspotConfig(env), { fetch: deps.fetch });
  return createCaptureAdapter(deps.recorder);
}
