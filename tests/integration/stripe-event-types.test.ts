// The endpoints' event lists (scripts/lib/stripe-event-types.ts) are exactly what the dispatcher applies: every
// listed type is routed by ops.apply_stripe_event (not 'ignored' for want of a route), and every routed type is
// listed. The routed types are read from the function's own text, so a new route without a list entry fails here.
import { expect, test } from "vitest";
import {
  APPLIED_EVENT_TYPES,
  CONNECT_EVENT_TYPES,
  PLATFORM_EVENT_TYPES,
} from "../../scripts/lib/stripe-event-types.ts";
import { sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

// Stripe's charge.dispute.* types (the dispatcher routes them by prefix)
const DISPUTE_TYPES = ["closed", "created", "funds_reinstated", "funds_withdrawn", "updated"].map((t) =>
  `charge.dispute.${t}`
);

test("the listed types are exactly the types ops.apply_stripe_event routes", async () => {
  const [{ def }] = await sql<{ def: string }[]>`
    select pg_get_functiondef('ops.apply_stripe_event(jsonb)'::regprocedure) as def`;
  const routed = new Set<string>();
  for (const m of def.matchAll(/in \(([^)]*)\)/g)) for (const t of m[1].matchAll(/'([a-z_.]+)'/g)) routed.add(t[1]);
  expect(def).toContain("like 'charge.dispute.%'");
  for (const t of DISPUTE_TYPES) routed.add(t);
  expect([...routed].sort()).toEqual(APPLIED_EVENT_TYPES);
  expect(new Set(APPLIED_EVENT_TYPES).size).toBe(PLATFORM_EVENT_TYPES.length + CONNECT_EVENT_TYPES.length);
});
