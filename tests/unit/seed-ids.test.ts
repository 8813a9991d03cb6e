// The seed ids the demo, the bench and the tests name are the ones supabase/seed.sql inserts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { SEED } from "../../scripts/lib/seed.ts";

const seedSql = readFileSync(join(ROOT, "supabase/seed.sql"), "utf8");

test.each(Object.entries(SEED))("SEED.%s (%s) is a row supabase/seed.sql inserts", (_name, id) => {
  expect(seedSql).toContain(`('${id}', `);
});
