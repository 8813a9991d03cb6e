// The doctor's email area (#19) against a fake DNS server with records per test and the Resend fake's domains:
// a domain set up as Resend asks passes; each broken record (SPF missing, doubled, without SES or ending
// +all; DKIM missing; DMARC missing, p=none, no rua; no return-path MX) and an unverified domain are named.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { area } from "../../scripts/doctor/areas/email.ts";
import { type FakeDns, type FakeRecords, startFakeDns } from "../fakes/dns.ts";
import { type FakeResend, startFakeResend } from "../fakes/resend.ts";
import { doctorContext } from "../helpers/doctor-context.ts";

const DOMAIN = "mail.example.test";
let dns: FakeDns;
let resend: FakeResend;

const healthy = (): FakeRecords => ({
  [DOMAIN]: { TXT: ["v=spf1 include:_spf.google.com ~all", "google-site-verification=abc"] },
  [`send.${DOMAIN}`]: {
    TXT: ["v=spf1 include:amazonses.com ~all"],
    MX: [{ exchange: "feedback-smtp.eu-west-1.amazonses.com", priority: 10 }],
  },
  [`resend._domainkey.${DOMAIN}`]: { TXT: [`p=${"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ".repeat(8)}IDAQAB`] },
  [`_dmarc.${DOMAIN}`]: { TXT: [`v=DMARC1; p=quarantine; rua=mailto:dmarc@${DOMAIN}`] },
});

beforeAll(async () => {
  dns = await startFakeDns();
  resend = await startFakeResend();
});
afterAll(async () => {
  await dns.close();
  await resend.close();
});
beforeEach(() => {
  resend.reset();
  resend.setDomains([{ name: "other.test", status: "verified" }, {
    name: DOMAIN,
    status: "verified",
    region: "eu-west-1",
  }]);
});

async function run(records: FakeRecords, env: Record<string, string> = {}) {
  dns.setRecords(records);
  const findings = await area.run(doctorContext({
    NOTIFY_FROM_EMAIL: `hello@${DOMAIN}`,
    RESEND_API_KEY: resend.apiKey,
    RESEND_BASE_URL: resend.url,
    ...env,
  }, { dnsServers: [dns.server] }));
  return { findings, notPass: findings.filter((f) => f.status !== "PASS").map((f) => [f.check, f.status]) };
}
const edit = (fn: (r: FakeRecords) => void) => {
  const r = healthy();
  fn(r);
  return r;
};

describe("doctor: email", () => {
  test("a domain set up as Resend asks passes every check", async () => {
    const { findings, notPass } = await run(healthy());
    expect(notPass).toEqual([]);
    expect(findings.map((f) => f.check)).toEqual([
      "email.spf",
      "email.dkim",
      "email.dmarc",
      "email.bounce",
      "email.resend-domain",
    ]);
    expect(dns.questions.length).toBeGreaterThan(4);
  });

  test.each<[string, (r: FakeRecords) => void, Array<[string, string]>]>([
    ["no SPF at the return path", (r) => (r[`send.${DOMAIN}`].TXT = []), [["email.spf", "FAIL"]]],
    ["SPF without Amazon SES", (r) => (r[`send.${DOMAIN}`].TXT = ["v=spf1 include:mailgun.org ~all"]), [[
      "email.spf",
      "FAIL",
    ]]],
    ["SPF ending in +all", (r) => (r[`send.${DOMAIN}`].TXT = ["v=spf1 include:amazonses.com +all"]), [[
      "email.spf",
      "FAIL",
    ]]],
    ["two SPF records on the domain", (r) => r[DOMAIN].TXT!.push("v=spf1 -all"), [["email.spf", "FAIL"]]],
    ["no DKIM key", (r) => delete r[`resend._domainkey.${DOMAIN}`], [["email.dkim", "FAIL"]]],
    ["no DMARC", (r) => delete r[`_dmarc.${DOMAIN}`], [["email.dmarc", "FAIL"]]],
    ["DMARC p=none", (r) => (r[`_dmarc.${DOMAIN}`].TXT = ["v=DMARC1; p=none; rua=mailto:d@x.test"]), [[
      "email.dmarc",
      "WARN",
    ]]],
    ["DMARC without rua", (r) => (r[`_dmarc.${DOMAIN}`].TXT = ["v=DMARC1; p=reject"]), [[
      "email.dmarc-reports",
      "WARN",
    ]]],
    ["no return-path MX", (r) => delete r[`send.${DOMAIN}`].MX, [["email.bounce", "FAIL"]]],
  ])("%s is named", async (_name, broken, expected) => {
    const { notPass } = await run(edit(broken));
    expect(notPass).toEqual(expected);
  });

  test("the parent domain's DMARC policy counts (sp= over p=)", async () => {
    const r = edit((x) => delete x[`_dmarc.${DOMAIN}`]);
    r["_dmarc.example.test"] = { TXT: ["v=DMARC1; p=reject; sp=none; rua=mailto:d@example.test"] };
    const { notPass, findings } = await run(r);
    expect(notPass).toEqual([["email.dmarc", "WARN"]]);
    expect(findings.find((f) => f.check === "email.dmarc")!.saw).toContain("_dmarc.example.test");
  });

  test("a domain Resend has not verified fails; one it does not know fails", async () => {
    resend.setDomains([{ name: DOMAIN, status: "pending" }]);
    expect((await run(healthy())).notPass).toEqual([["email.resend-domain", "FAIL"]]);
    resend.setDomains([]);
    expect((await run(healthy())).notPass).toEqual([["email.resend-domain", "FAIL"]]);
  });

  test("a sending-only key warns that the status cannot be read", async () => {
    const { notPass } = await run(healthy(), { RESEND_API_KEY: resend.sendingOnlyKey });
    expect(notPass).toEqual([["email.resend-domain", "WARN"]]);
  });

  test("no NOTIFY_FROM_EMAIL fails", async () => {
    const { notPass } = await run(healthy(), { NOTIFY_FROM_EMAIL: "" });
    expect(notPass).toEqual([["email.from", "FAIL"]]);
  });
});
