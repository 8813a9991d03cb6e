// The doctor's crm area (#19) against the HubSpot fake: a portal with the custom properties passes; a missing
// one, backbone_order_id without unique values, a refused token and a token without schema scopes fail.
import { afterEach, describe, expect, test } from "vitest";
import { area, requiredProperties } from "../../scripts/doctor/areas/crm.ts";
import { type FakeHubSpot, type FakeHubSpotOptions, startFakeHubSpot } from "../fakes/hubspot.ts";
import { doctorContext } from "../helpers/doctor-context.ts";

let fake: FakeHubSpot | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function run(opts: FakeHubSpotOptions = {}, edit?: (f: FakeHubSpot) => void, token?: string) {
  fake = await startFakeHubSpot(opts);
  edit?.(fake);
  const findings = await area.run(
    doctorContext({ HUBSPOT_ACCESS_TOKEN: token ?? fake.token, HUBSPOT_API_BASE: fake.url }),
  );
  return { findings, notPass: findings.filter((f) => f.status !== "PASS").map((f) => [f.check, f.status]) };
}

describe("doctor: crm", () => {
  test("the properties come from the adapter's list: the README's five", () => {
    expect(requiredProperties()).toEqual({
      contacts: ["backbone_billing_status", "backbone_seller_status"],
      deals: ["backbone_order_id", "backbone_refunded_amount", "backbone_needs_review"],
    });
  });

  test("a portal with every custom property passes", async () => {
    const { findings, notPass } = await run();
    expect(notPass).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual(["crm.token", "crm.contacts-properties", "crm.deals-properties"]);
  });

  test("a missing property fails and is named", async () => {
    const { notPass, findings } = await run({}, (f) => f.removeProperty("contacts", "backbone_seller_status"));
    expect(notPass).toEqual([["crm.contacts-properties", "FAIL"]]);
    expect(findings.find((f) => f.status === "FAIL")!.saw).toContain("backbone_seller_status");
  });

  test("backbone_order_id without unique values fails", async () => {
    const { notPass } = await run({ uniqueProperties: { deals: [] } });
    expect(notPass).toEqual([["crm.deals-properties", "FAIL"]]);
  });

  test("a refused token fails without printing it", async () => {
    const { notPass, findings } = await run({}, undefined, "pat-na1-wrong-token-0000");
    expect(notPass).toEqual([["crm.token", "FAIL"]]);
    expect(JSON.stringify(findings)).not.toContain("wrong-token");
  });

  test("a token without the schema scopes fails", async () => {
    const { notPass } = await run({ schemaScopes: false });
    expect(notPass).toEqual([["crm.contacts-properties", "FAIL"], ["crm.deals-properties", "FAIL"]]);
  });

  test("no token warns: CRM sync is captured", async () => {
    const findings = await area.run(doctorContext({}));
    expect(findings.map((f) => [f.check, f.status])).toEqual([["crm.token", "WARN"]]);
  });
});
