// The committed supabase/schema.sql is the schema the migrations build (graphile-worker's check of
// its schema.sql): a reader can trust it instead of replaying every migration.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { config, ROOT } from "../../scripts/lib/config.ts";
import { dumpSchema } from "../../scripts/ops/schema-dump.ts";

test("supabase/schema.sql matches the schema of the running stack", () => {
  const committed = readFileSync(join(ROOT, "supabase/schema.sql"), "utf8");
  const live = dumpSchema(config.dbUrl);
  if (live === committed) return;
  const [a, b] = [committed.split("\n"), live.split("\n")];
  const at = a.findIndex((line, i) => line !== b[i]);
  const line = at === -1 ? a.length : at;
  expect.fail(
    `supabase/schema.sql is stale: run npm run schema:dump\n` +
      `(first difference at line ${line + 1}: committed ${JSON.stringify(a[line] ?? "<end>")}, live ${
        JSON.stringify(b[line] ?? "<end>")
      })`,
  );
});
