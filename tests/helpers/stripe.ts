// Tests sign and deliver events with the same helpers as the demo and the bench.
import { expect } from "vitest";
import { deliver, type Evt } from "../../scripts/lib/stripe-events.ts";
export * from "../../scripts/lib/stripe-events.ts";

/** Delivers the events one after another; each must be taken (200) and applied (processed). */
export async function deliverAll(events: Evt[]) {
  for (const e of events) {
    const res = await deliver(e);
    expect(res.status).toBe(200);
    expect(res.body.status, `${e.type} ${e.id}: ${JSON.stringify(res.body)}`).toBe("processed");
  }
}
