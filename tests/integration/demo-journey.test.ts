// npm start's demo journey, run against the stack so that what it shows the founder stays true.
import { expect, test } from "vitest";
import { formatJourneySteps, runJourney } from "../../scripts/demo/journey.ts";
import { formatJourney, journey } from "../../scripts/ops/trace.ts";
import { sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

test("the demo journey: every step does what it says, and the trace shows it", async () => {
  const { steps, email, orderId } = await runJourney(sql);
  expect(steps.map((s) => [s.title, s.ok])).toEqual(steps.map((s) => [s.title, true]));
  expect(steps).toHaveLength(9);
  const text = formatJourneySteps(steps);
  expect(text).toMatch(/✔ 7\. A support request/);
  // the customer's view after each step (#20): the paid order, then refunded; the ticket; access restored
  expect(steps[0].lines.join("\n")).toMatch(
    /the customer sees:\n(.*\n)* {2}order +[0-9a-f]{8} +(payment_received|paid) /,
  );
  expect(steps[4].lines.join("\n")).toMatch(/order +[0-9a-f]{8} +refunded /);
  expect(steps[7].lines.join("\n")).toMatch(/ticket +T-\d+ +(answered|waiting_for_you) /);
  expect(steps[8].lines.join("\n")).toMatch(/access +granted +active /);
  expect(steps[8].lines.join("\n")).toMatch(/access +granted +payment_failed_grace /);
  const rows = await journey(sql, email);
  const sources = new Set(rows.map((r) => r.source));
  for (const s of ["stripe", "status", "job", "crm", "ticket", "email", "slack"]) expect(sources).toContain(s);
  expect(rows.some((r) => r.what === "paid -> refunded" && r.entity === `order:${orderId}`)).toBe(true);
  expect(formatJourney(email, rows)).toContain(`payment_receipt to ${email}: captured`);
  // a word may be a request id (#20): one that caused nothing traces to nothing; what cannot be one is refused
  expect(await journey(sql, "nobody-knows-this")).toEqual([]);
  await expect(journey(sql, "not a thing to trace!")).rejects.toThrow(/cannot trace/);
}, 120_000);
