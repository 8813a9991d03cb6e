// A project deployed at the last release upgrades with `supabase db push`: npm run upgrade:check
// builds a stack of its own from the released migrations only, runs the demo journey through the real
// paths, pushes the newer migrations on top and checks the data and the journey hold. It runs once a
// migration exists after the release (before that there is nothing to upgrade to).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { unreleasedMigrations } from "../../scripts/lib/migrations.ts";

const newer = unreleasedMigrations();

test.skipIf(newer.length === 0)(
  `a database of the last release, with data, takes the ${newer.length} newer migration(s) and keeps working`,
  () => {
    const run = spawnSync(join(ROOT, "node_modules/.bin/tsx"), ["scripts/ops/upgrade-check.ts"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, UPGRADE_CHECK_STACK: undefined },
      timeout: 540_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`then ${newer.length} newer`));
    expect(run.stdout).toMatch(/journey steps passed after/);
  },
  600_000,
);
