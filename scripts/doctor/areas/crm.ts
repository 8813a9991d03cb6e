// Doctor area "crm" (#19): the HubSpot token works and the custom properties the adapter writes exist (the list
// is HUBSPOT_PROPERTIES of supabase/functions/_shared/crm/hubspot.ts, which README's CRM section names), on the
// right object, backbone_order_id with unique values (deal upserts key on it). GET /crm/v3/properties/:type at
// HUBSPOT_API_BASE; the token needs crm.schemas.contacts.read and crm.schemas.deals.read to read them.
import { HUBSPOT_PROPERTIES } from "../../../supabase/functions/_shared/crm/hubspot.ts";
import { type Area, fail, type Finding, pass, warn } from "../types.ts";

type Property = { name: string; hasUniqueValue?: boolean };

/** The properties the adapter writes, by HubSpot object type (HUBSPOT_PROPERTIES' keys say which). */
export function requiredProperties(): Record<"contacts" | "deals", string[]> {
  const entries = Object.entries(HUBSPOT_PROPERTIES);
  return {
    contacts: entries.filter(([k]) => k.startsWith("contact")).map(([, v]) => v),
    deals: entries.filter(([k]) => k.startsWith("deal")).map(([, v]) => v),
  };
}

export const area: Area = {
  name: "crm",
  async run(ctx) {
    const token = ctx.env.HUBSPOT_ACCESS_TOKEN;
    if (!token) {
      return [warn(
        "crm.token",
        "HUBSPOT_ACCESS_TOKEN is not set: CRM sync is captured in ops.crm_capture, nothing reaches a CRM",
        ctx.local ? "the local stack captures by design" : "contacts and deals stay out of HubSpot",
        "set HUBSPOT_ACCESS_TOKEN (a private app's token) when you want HubSpot",
      )];
    }
    const base = (ctx.env.HUBSPOT_API_BASE || "https://api.hubapi.com").replace(/\/+$/, "");
    const required = requiredProperties();
    const out: Finding[] = [];
    for (const type of ["contacts", "deals"] as const) {
      let res: Response;
      try {
        res = await fetch(`${base}/crm/v3/properties/${type}?archived=false`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(15_000),
        });
      } catch (e) {
        return [
          fail(
            "crm.token",
            `HubSpot did not answer: ${(e as Error).message}`,
            "CRM sync fails",
            "check HUBSPOT_API_BASE",
          ),
        ];
      }
      if (res.status === 401) {
        return [fail(
          "crm.token",
          "HubSpot refused the token (401)",
          "every CRM sync job fails",
          "create a new private app token and set HUBSPOT_ACCESS_TOKEN",
        )];
      }
      if (res.status === 403) {
        out.push(fail(
          `crm.${type}-properties`,
          `the token may not read ${type}' properties (403)`,
          "the doctor cannot check the custom properties",
          `give the private app the crm.schemas.${type}.read scope`,
        ));
        continue;
      }
      if (!res.ok) {
        out.push(fail(`crm.${type}-properties`, `HubSpot answered ${res.status}`, "", "retry; check HubSpot's status"));
        continue;
      }
      if (!out.some((f) => f.check === "crm.token")) out.push(pass("crm.token", "HubSpot accepts the token"));
      const body = await res.json() as { results?: Property[] };
      const have = new Map((body.results ?? []).map((p) => [p.name, p]));
      const missing = required[type].filter((n) => !have.has(n));
      if (missing.length) {
        out.push(fail(
          `crm.${type}-properties`,
          `${type} lack ${missing.join(", ")}`,
          "HubSpot rejects every write naming them: CRM sync jobs fail",
          "run `npm run setup`, or create them in HubSpot as README's CRM sync section lists",
        ));
        continue;
      }
      const orderId = HUBSPOT_PROPERTIES.dealOrderId;
      if (type === "deals" && !have.get(orderId)?.hasUniqueValue) {
        out.push(fail(
          "crm.deals-properties",
          `${orderId} does not require unique values`,
          "deal upserts key on it: HubSpot refuses them, and duplicates become possible",
          `delete and recreate ${orderId} with "Require unique values" on (HubSpot cannot turn it on later)`,
        ));
        continue;
      }
      out.push(pass(`crm.${type}-properties`, `${type} have ${required[type].join(", ")}`));
    }
    return out;
  },
};
