// Supabase's own advisors (the real CLI's lints) against the local stack's schema: security (RLS,
// definer functions, exposed objects) and performance (policies, indexes); INFO findings may stay.
// scripts/lib/advisors.ts leaves out the one finding the local stack's two pg_nets make themselves.
import { expect, test } from "vitest";
import { advisors } from "../../scripts/lib/advisors.ts";

test.each(["security", "performance"])("supabase db advisors --type %s reports no ERROR and no WARN", (type) => {
  const serious = advisors(type).filter((l) => l.level === "ERROR" || l.level === "WARN").map((l) =>
    `${l.level} ${l.name}: ${l.detail}`
  );
  expect(serious).toEqual([]);
});
