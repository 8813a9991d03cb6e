// Supabase's own advisors (the real CLI's lints) against the local stack's schema: security (RLS,
// definer functions, exposed objects) and performance (policies, indexes); INFO findings may stay.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, test } from "vitest";
import { config, ROOT } from "../../scripts/lib/config.ts";

test.each(["security", "performance"])("supabase db advisors --type %s reports no ERROR and no WARN", (type) => {
  const res = spawnSync(join(ROOT, "node_modules/.bin/supabase"), [
    "db",
    "advisors",
    `--remote=${config.dbUrl}`,
    "--type",
    type,
    "--level",
    "info",
    "--output-format",
    "json",
  ], { cwd: ROOT, encoding: "utf8", env: { ...process.env, DO_NOT_TRACK: "1" } });
  expect(res.status, res.stderr).toBe(0);
  const { results: lints } = JSON.parse(res.stdout) as { results: { name: string; level: string; detail: string }[] };
  expect(Array.isArray(lints)).toBe(true);
  const serious = lints.filter((l) => l.level === "ERROR" || l.level === "WARN").map((l) =>
    `${l.level} ${l.name}: ${l.detail}`
  );
  expect(serious).toEqual([]);
});
