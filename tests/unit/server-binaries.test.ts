// The stack notices server binaries that changed under a running cluster (apt-get upgrading postgresql-15):
// a process whose executable was replaced on disk is found through /proc, as the postmaster would be.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { diskServerVersion, replacedFiles } from "../../scripts/stack/server-binaries.ts";

test("a process whose executable was replaced on disk (as dpkg replaces it) is named, an untouched one is not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "server-binaries-"));
  const bin = join(dir, "postgres");
  copyFileSync("/bin/sleep", bin);
  const child = spawn(bin, ["30"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 200));
    expect(replacedFiles(child.pid!)).toEqual([]);
    // dpkg writes the new file beside the old one and renames it over: the running process keeps the old inode
    copyFileSync("/bin/sleep", `${bin}.dpkg-new`);
    renameSync(`${bin}.dpkg-new`, bin);
    expect(replacedFiles(child.pid!)).toEqual([bin]);
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the version on disk is read the way the running server reports it (server_version)", () => {
  const v = diskServerVersion();
  if (v === undefined) return; // no PostgreSQL 15 on this machine: nothing to compare
  expect(v).toMatch(/^15\.\d+ \(/);
});
