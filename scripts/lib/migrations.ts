// Released migrations are frozen. `supabase db push` never runs a version again once a project ran
// it, so an edit to a released file would silently never reach a deployed project: fixes are new
// migrations. supabase/released-migrations.json lists every released file with its sha256, per
// release; `npm run release` adds the files no release holds yet under package.json's version.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { ROOT } from "./config.ts";

export const MIGRATIONS_DIR = join(ROOT, "supabase/migrations");
export const MANIFEST_FILE = join(ROOT, "supabase/released-migrations.json");

const Manifest = z.object({
  releases: z.array(z.object({
    version: z.string().regex(/^\d+\.\d+\.\d+$/, "a release version is MAJOR.MINOR.PATCH"),
    migrations: z.array(z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  })),
});
export type Manifest = z.infer<typeof Manifest>;

export function readManifest(file = MANIFEST_FILE): Manifest {
  if (!existsSync(file)) return { releases: [] };
  return Manifest.parse(JSON.parse(readFileSync(file, "utf8")));
}

/** The migration files in the order `supabase db push` applies them (by version, i.e. by name). */
export function migrationFiles(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir).filter((f) => /^\d{14}_.+\.sql$/.test(f)).sort();
}

export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Every released file, oldest release first. */
export function releasedMigrations(manifest = readManifest()) {
  return manifest.releases.flatMap((r) => r.migrations.map((m) => ({ ...m, version: r.version })));
}

/** The files no release holds yet: what an upgrade applies. */
export function unreleasedMigrations(dir = MIGRATIONS_DIR, manifest = readManifest()): string[] {
  const released = new Set(releasedMigrations(manifest).map((m) => m.file));
  return migrationFiles(dir).filter((f) => !released.has(f));
}

/** What breaks the freeze, one sentence each: a released file changed or gone, or a new file whose
 * version sorts before a released one (a deployed project would never run it). */
export function freezeProblems(dir = MIGRATIONS_DIR, manifest = readManifest()): string[] {
  const problems: string[] = [];
  const released = releasedMigrations(manifest);
  for (const m of released) {
    const path = join(dir, m.file);
    if (!existsSync(path)) {
      problems.push(`${m.file} (released in ${m.version}) is gone: deployed projects ran it; restore it`);
    } else if (sha256(path) !== m.sha256) {
      problems.push(
        `${m.file} (released in ${m.version}) was edited: deployed projects will never run the edit; ` +
          `restore it (git checkout) and put the change in a new migration`,
      );
    }
  }
  const last = released.map((m) => m.file).sort().at(-1);
  for (const f of unreleasedMigrations(dir, manifest)) {
    if (last && f < last) {
      problems.push(`${f} sorts before the released ${last}: give it a newer timestamp (supabase migration new)`);
    }
  }
  return problems;
}
