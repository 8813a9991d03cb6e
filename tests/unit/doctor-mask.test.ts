// The doctor's masking (scripts/doctor/mask.ts): a secret shows its prefix and last 4 characters, never more.
import { expect, test } from "vitest";
import { mask, maskText } from "../../scripts/doctor/mask.ts";

// fixture keys built at run time, so that this file holds no secret-shaped literal for the doctor to find
const live = ["sk", "live", "4eC39HqLyjWDarjtT1zdp7dca1b2"].join("_");
const restricted = ["rk", "test", "51HxYzAbCdEfGhIjKlMn9f8e"].join("_");

test.each([
  [live, "sk_live_…a1b2"],
  [restricted, "rk_test_…9f8e"],
  [`whsec_${"Zx".repeat(10)}Q7w3`, "whsec_…Q7w3"],
  [`pat-na1-${"0123abcd-".repeat(3)}beef`, "pat-na1-…beef"],
  [
    "postgresql://checkout.abcdefghijklmnopqrst:S3cretPass@pooler.supabase.com:6543/postgres",
    "postgresql://checkout.abcdefghijklmnopqrst:…@pooler.supabase.com:6543/postgres",
  ],
  ["short", "…"],
  ["", "(empty)"],
])("mask(%s) keeps the prefix and last 4 only", (value, masked) => {
  expect(mask(value)).toBe(masked);
});

test("a JWT is masked whole but its last 4", () => {
  const jwt = `eyJhbGciOiJIUzI1NiJ9.${
    Buffer.from('{"role":"service_role"}').toString("base64url")
  }.c2lnbmF0dXJlX3h5ego`;
  expect(mask(jwt)).toBe("eyJ…5ego");
});

test("maskText masks every secret-shaped token in a sentence and leaves the rest", () => {
  const slack = `https://hooks.slack.com/services/T0AAAA/B0BBBB/${"x1".repeat(12)}`;
  const text = `connect failed for postgresql://app:${
    "hunter2".repeat(2)
  }@db.example.com:5432/postgres with ${live} and ${slack}`;
  const out = maskText(text);
  expect(out).not.toContain("hunter2");
  expect(out).not.toContain(live);
  expect(out).not.toContain(slack);
  expect(out).toContain("sk_live_…a1b2");
  expect(out).toContain("connect failed for postgresql://app:…@db.example.com:5432/postgres");
});
