// The doctor and setup subscribe Stripe's endpoints to scripts/lib/stripe-event-types.ts: it must say what the
// dispatcher in the newest migration that defines ops.apply_stripe_event routes, no more and no less.
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, test } from "vitest";
import { CONNECT_EVENT_TYPES, PLATFORM_EVENT_TYPES } from "../../scripts/lib/stripe-event-types.ts";

const DIR = resolve(import.meta.dirname, "../../supabase/migrations");

function dispatcherRoutes(): { exact: string[]; patterns: string[]; file: string } {
  const file = readdirSync(DIR).filter((f) => f.endsWith(".sql")).sort().reverse()
    .find((f) => /function ops\.apply_stripe_event\(/.test(readFileSync(resolve(DIR, f), "utf8")))!;
  const sql = readFileSync(resolve(DIR, file), "utf8");
  const start = sql.search(/function ops\.apply_stripe_event\(/);
  const body = sql.slice(start, sql.indexOf("$$;", start));
  const exact = [...body.matchAll(/in \(([^)]*)\)/g)].flatMap((m) => [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]));
  const patterns = [...body.matchAll(/like '([^']+)'/g)].map((m) => m[1]);
  return { exact, patterns, file };
}

const likeRe = (p: string) => new RegExp(`^${p.replace(/[.]/g, "\\.").replace(/%/g, ".*").replace(/_/g, ".")}$`);

describe("the applied event types", () => {
  const routes = dispatcherRoutes();
  const listed: string[] = [...PLATFORM_EVENT_TYPES, ...CONNECT_EVENT_TYPES];

  test("the dispatcher is found and routes types", () => {
    expect(routes.file).toMatch(/^\d{14}_.+\.sql$/);
    expect(routes.exact.length).toBeGreaterThan(30);
  });

  test("every type the dispatcher names exactly is listed once", () => {
    for (const t of routes.exact) expect(listed, t).toContain(t);
    expect(new Set(listed).size).toBe(listed.length);
  });

  test("every pattern route has listed types, and every listed type has a route", () => {
    for (const p of routes.patterns) expect(listed.filter((t) => likeRe(p).test(t)), p).not.toHaveLength(0);
    for (const t of listed) {
      expect(routes.exact.includes(t) || routes.patterns.some((p) => likeRe(p).test(t)), t).toBe(true);
    }
  });

  test("the Connect endpoint gets accounts and payouts, the platform endpoint the rest", () => {
    expect(CONNECT_EVENT_TYPES.every((t) => /^(account\.|payout\.)/.test(t))).toBe(true);
    expect(PLATFORM_EVENT_TYPES.some((t) => /^(account\.|payout\.)/.test(t))).toBe(false);
  });
});
