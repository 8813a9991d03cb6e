// The SQL gate's textual half (no database): migrations stay readable (lines of at most 120
// characters) and every security definer function says why it must be one (STYLE.md, SQL).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";

const MAX = 120;
const dir = join(ROOT, "supabase/migrations");
const migrations = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()
  .map((name) => ({ name, lines: readFileSync(join(dir, name), "utf8").split("\n") }));

test(`no migration line is longer than ${MAX} characters`, () => {
  expect(migrations.length).toBeGreaterThan(10);
  const long = migrations.flatMap(({ name, lines }) =>
    lines.flatMap((line, i) => line.length > MAX ? [`${name}:${i + 1} (${line.length})`] : [])
  );
  expect(long).toEqual([]);
});

/** The comment lines right above line i (blank lines and `drop function` between are skipped). */
function leadingComment(lines: string[], i: number): string[] {
  const out: string[] = [];
  for (let j = i - 1; j >= 0; j--) {
    const line = lines[j].trim();
    if (line.startsWith("--")) out.unshift(line);
    else if (line !== "" && !/^drop function /.test(line)) break;
    else if (out.length > 0) break;
  }
  return out;
}

/** The comment under the last `-- ----- section` banner above line i, when one heads a section. */
function sectionComment(lines: string[], i: number): string[] {
  for (let j = i - 1; j >= 0; j--) {
    if (/^-- -{8,}/.test(lines[j])) {
      const out: string[] = [];
      for (let k = j; k < i && lines[k].startsWith("--"); k++) out.push(lines[k]);
      return out;
    }
  }
  return [];
}

test("every security definer function says why it is one (a comment above it, or over its section)", () => {
  const silent: string[] = [];
  let definers = 0;
  for (const { name, lines } of migrations) {
    lines.forEach((line, i) => {
      const m = /^create (?:or replace )?function ([\w.]+)\(/.exec(line);
      if (!m) return;
      const header: string[] = [];
      for (let j = i; j < lines.length && !/^as \$/.test(lines[j]); j++) header.push(lines[j]);
      if (!header.some((h) => /^\s*security definer\b/.test(h) || /\bsecurity definer$/.test(h))) return;
      definers++;
      const why = [...leadingComment(lines, i), ...sectionComment(lines, i)].join(" ");
      if (!/security definer|definer:/i.test(why)) silent.push(`${name}:${i + 1} ${m[1]}`);
    });
  }
  expect(definers).toBeGreaterThan(20);
  expect(silent).toEqual([]);
});
