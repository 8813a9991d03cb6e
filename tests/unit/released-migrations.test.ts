// Released migrations are frozen (supabase/released-migrations.json): deployed projects never run a
// version twice, so an edit to a released file would never reach them.
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import {
  freezeProblems,
  migrationFiles,
  MIGRATIONS_DIR,
  readManifest,
  releasedMigrations,
  unreleasedMigrations,
} from "../../scripts/lib/migrations.ts";

const manifest = readManifest();
const released = releasedMigrations(manifest);
const copies: string[] = [];
afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the migrations folder to break. */
function copyOfMigrations(): string {
  const dir = mkdtempSync(join(tmpdir(), "migrations-"));
  copies.push(dir);
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

test("0.1.0 is released and every released migration is unchanged and present", () => {
  expect(manifest.releases.map((r) => r.version)).toContain("0.1.0");
  expect(released.length).toBeGreaterThan(20);
  expect(freezeProblems()).toEqual([]);
});

test("package.json's version is the newest release or later, and CHANGELOG.md has a section per release", () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const changelog = readFileSync(join(ROOT, "CHANGELOG.md"), "utf8");
  const parts = (v: string) => v.split(".").map(Number);
  const newest = manifest.releases.at(-1)!.version;
  const [a, b] = [parts(version), parts(newest)];
  expect(a[0] * 1e6 + a[1] * 1e3 + a[2]).toBeGreaterThanOrEqual(b[0] * 1e6 + b[1] * 1e3 + b[2]);
  for (const r of manifest.releases) {
    expect(changelog).toMatch(new RegExp(`^## ${r.version.replace(/\./g, "\\.")}\\b`, "m"));
  }
  // migrations after the last release belong to an unreleased version: the changelog must say so
  if (unreleasedMigrations().length > 0) {
    expect(version, "bump package.json's version when adding migrations").not.toBe(newest);
    expect(changelog).toMatch(new RegExp(`^## ${version.replace(/\./g, "\\.")}\\b`, "m"));
  }
});

test("an edited released migration is named, with what to do instead", () => {
  const dir = copyOfMigrations();
  appendFileSync(join(dir, released[3].file), "\n-- a fix made in place\n");
  expect(freezeProblems(dir, manifest)).toEqual([
    expect.stringMatching(new RegExp(`^${released[3].file} \\(released in 0\\.1\\.0\\) was edited: .* new migration`)),
  ]);
});

test("a released migration that disappeared is named", () => {
  const dir = copyOfMigrations();
  rmSync(join(dir, released[0].file));
  expect(freezeProblems(dir, manifest)).toEqual([expect.stringMatching(/is gone: deployed projects ran it/)]);
});

test("a new migration is unreleased; one dated before the last release is refused", () => {
  const dir = copyOfMigrations();
  const last = released.map((m) => m.file).sort().at(-1)!;
  writeFileSync(join(dir, "29991231000000_later_fix.sql"), "select 1;\n");
  writeFileSync(join(dir, "20000101000000_backdated_fix.sql"), "select 1;\n");
  // the repository's own unreleased migrations (those of the next version) sort between the two
  expect(unreleasedMigrations(dir, manifest)).toEqual([
    "20000101000000_backdated_fix.sql",
    ...unreleasedMigrations(),
    "29991231000000_later_fix.sql",
  ]);
  expect(freezeProblems(dir, manifest)).toEqual([
    `20000101000000_backdated_fix.sql sorts before the released ${last}: give it a newer timestamp (supabase migration new)`,
  ]);
});

test("only files named like supabase's migrations count", () => {
  const dir = copyOfMigrations();
  writeFileSync(join(dir, "notes.sql"), "select 1;\n");
  expect(migrationFiles(dir)).toEqual(migrationFiles());
});
