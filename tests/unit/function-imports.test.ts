// Functions deploy with the imports they run with locally: every function declared in config.toml
// resolves all of its imports through the import map the Supabase CLI would bundle it with (the same
// resolution the local gateway runs it with), and that map pins the versions package.json pins.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import {
  denoResolutionArgs,
  type FunctionConfig,
  functionConfig,
  functionNames,
  readConfigToml,
} from "../../scripts/lib/function-config.ts";

const declared = Object.keys(readConfigToml().functions ?? {}).sort();

/** Every import `deno info` could not resolve in the function's module graph. */
function unresolved(fn: FunctionConfig): string[] {
  const res = spawnSync(join(ROOT, "node_modules/.bin/deno"), [
    "info",
    "--json",
    ...denoResolutionArgs(fn),
    fn.entrypoint,
  ], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  });
  expect(res.status, res.stderr).toBe(0);
  const errors: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "error" && typeof x === "string") errors.push(x);
        else walk(x);
      }
    }
  };
  walk(JSON.parse(res.stdout).modules);
  return [...new Set(errors)];
}

describe("deployable imports", () => {
  test("every function folder is declared in config.toml, so its verify_jwt and import map are explicit", () => {
    expect(declared).toEqual(functionNames());
  });

  test.each(declared)("%s resolves every import through the import map named in config.toml", (name) => {
    const fn = functionConfig(name);
    expect(fn.importMapSource).toBe("config.toml");
    expect(unresolved(fn)).toEqual([]);
  }, 120_000);

  test("the check fails for a bare import missing from the map (it does not fall back to node_modules)", () => {
    const dir = mkdtempSync(join(tmpdir(), "import-map-"));
    const path = join(dir, "import_map.json");
    const map = JSON.parse(readFileSync(functionConfig("crm-sync").importMap!, "utf8"));
    delete map.imports.zod;
    writeFileSync(path, JSON.stringify(map));
    const errors = unresolved({ ...functionConfig("crm-sync"), importMap: path });
    expect(errors.some((e) => e.includes('"zod"'))).toBe(true);
  }, 120_000);

  test("the import map pins exactly the versions package.json pins for Node", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const maps = new Set(declared.map((n) => functionConfig(n).importMap!));
    for (const path of maps) {
      for (
        const [bare, target] of Object.entries(JSON.parse(readFileSync(path, "utf8")).imports as Record<string, string>)
      ) {
        const m = /^npm:(@?[^@]+)@(.+)$/.exec(target);
        expect(m, `${bare} -> ${target} should be a pinned npm: specifier`).not.toBeNull();
        expect({ [bare]: pkg.dependencies[m![1]] }).toEqual({ [bare]: m![2] });
      }
    }
  });
});
