// npm run release: freezes the migrations no release holds yet under package.json's version, in
// supabase/released-migrations.json (file and sha256). Run it when cutting a release, after bumping
// the version and writing its CHANGELOG.md section; from then on those files are never edited.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../lib/config.ts";
import {
  freezeProblems,
  MANIFEST_FILE,
  MIGRATIONS_DIR,
  readManifest,
  sha256,
  unreleasedMigrations,
} from "../lib/migrations.ts";

const fail = (msg: string) => {
  console.error(`release: ${msg}`);
  process.exit(1);
};

const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
const manifest = readManifest();
const problems = freezeProblems();
if (problems.length) fail(`the released migrations must be fixed first:\n  ${problems.join("\n  ")}`);
if (manifest.releases.some((r) => r.version === version)) {
  fail(`${version} is released already: bump "version" in package.json first`);
}
if (
  !new RegExp(`^## ${version.replace(/\./g, "\\.")}\\b`, "m").test(readFileSync(join(ROOT, "CHANGELOG.md"), "utf8"))
) {
  fail(`CHANGELOG.md has no "## ${version}" section: say what a deployer of ${version} must do first`);
}
const files = unreleasedMigrations();
if (files.length === 0) fail("no migration is new since the last release: nothing to freeze");
manifest.releases.push({
  version,
  migrations: files.map((file) => ({ file, sha256: sha256(join(MIGRATIONS_DIR, file)) })),
});
writeFileSync(MANIFEST_FILE, JSON.stringify(manifest, null, 2) + "\n");
console.log(`release ${version}: ${files.length} migration(s) frozen in ${MANIFEST_FILE}`);
