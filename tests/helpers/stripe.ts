// Tests sign and deliver events with the same helpers as the demo and the bench.
export * from "../../scripts/lib/stripe-events.ts";
