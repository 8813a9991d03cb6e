// Which functions exist and how each one resolves its imports, by the Supabase CLI's rule
// (flag > [functions.<name>].import_map in config.toml > <name>/deno.json(c) > functions/import_map.json),
// so the local gateway runs every function exactly as `supabase functions deploy` bundles it.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ROOT } from "./config.ts";

export const SUPABASE_DIR = join(ROOT, "supabase");
export const FUNCTIONS_DIR = join(SUPABASE_DIR, "functions");

export type FunctionConfig = {
  name: string;
  entrypoint: string;
  verifyJwt: boolean;
  /** The import map the CLI would bundle with (absolute path), or undefined when none applies. */
  importMap?: string;
  /** Where importMap came from: "config.toml", "deno.json" or "fallback". */
  importMapSource?: string;
};

type TomlFunction = { verify_jwt?: boolean; import_map?: string; entrypoint?: string };

export function readConfigToml(): { functions?: Record<string, TomlFunction> } {
  return parseToml(readFileSync(join(SUPABASE_DIR, "config.toml"), "utf8")) as {
    functions?: Record<string, TomlFunction>;
  };
}

/** Function folders: every directory under supabase/functions with an index.ts, except _shared. */
export function functionNames(): string[] {
  return readdirSync(FUNCTIONS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith("_") && existsSync(join(FUNCTIONS_DIR, d.name, "index.ts")))
    .map((d) => d.name)
    .sort();
}

export function functionConfig(name: string, toml = readConfigToml()): FunctionConfig {
  const entry = toml.functions?.[name] ?? {};
  const base: FunctionConfig = {
    name,
    entrypoint: entry.entrypoint ? resolve(SUPABASE_DIR, entry.entrypoint) : join(FUNCTIONS_DIR, name, "index.ts"),
    // the CLI's default, like the hosted gateway's: verify unless told not to
    verifyJwt: entry.verify_jwt ?? true,
  };
  if (entry.import_map) {
    const path = isAbsolute(entry.import_map) ? entry.import_map : resolve(SUPABASE_DIR, entry.import_map);
    return { ...base, importMap: path, importMapSource: "config.toml" };
  }
  for (const file of ["deno.json", "deno.jsonc"]) {
    const path = join(FUNCTIONS_DIR, name, file);
    if (existsSync(path)) return { ...base, importMap: path, importMapSource: "deno.json" };
  }
  const fallback = join(FUNCTIONS_DIR, "import_map.json");
  return existsSync(fallback) ? { ...base, importMap: fallback, importMapSource: "fallback" } : base;
}

export function functionConfigs(): FunctionConfig[] {
  const toml = readConfigToml();
  return functionNames().map((name) => functionConfig(name, toml));
}

/** `deno <command>` arguments that resolve a function's imports as deployed: its import map, and no
 * project deno.json or package.json to fall back on (a bare import missing from the map fails here too). */
export function denoResolutionArgs(fn: FunctionConfig): string[] {
  return ["--no-config", ...(fn.importMap ? ["--import-map", fn.importMap] : [])];
}

/** What a function may do when the local gateway runs it, close to the hosted Edge Runtime's user
 * workers: net, env and read; sys only for osRelease, which the Edge Runtime answers with a stub
 * without any permission and @slack/webhook calls when it loads (its User-Agent). */
export const DENO_RUN_PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-sys=osRelease"];
