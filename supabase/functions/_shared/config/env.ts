// The one way settings are read from the environment (functions and Node scripts alike): a zod object
// per concern whose keys are the variables, built from the fields below. A blank value counts as unset
// (so it takes the default); a bad one throws a ConfigError naming the variable and what it expects,
// never the value, which may be a secret. Functions parse their settings once, when they start.
import { z } from "zod";
import { describeIssues } from "../issues.ts";

export type Env = Record<string, string | undefined>;

/** A setting that cannot be used: thrown when a function starts, so it never serves with it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The function's environment, read once (Deno.env only here). */
export function denoEnv(): Env {
  return Deno.env.toObject();
}

/** Parses `env` with a schema of settings; every bad variable is named in the one error. */
export function parseEnv<S extends z.ZodType<Record<string, unknown>>>(schema: S, env: Env): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new ConfigError(describeIssues(parsed.error.issues, " "));
}

/** Trimmed; blank and unset are the same. */
const unsetIfBlank = (v: unknown) => typeof v === "string" ? v.trim() || undefined : v;

/** An integer from min to max; `fallback` when unset. */
function int(fallback: number, min: number, max: number) {
  const expected = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    unsetIfBlank,
    z.string().transform(Number).pipe(z.int({ error: expected }).min(min, expected).max(max, expected))
      .default(fallback),
  );
}

/** "true" or "false" (any case); `fallback` when unset. */
function bool(fallback: boolean) {
  return z.preprocess(
    unsetIfBlank,
    z.stringbool({ truthy: ["true"], falsy: ["false"], error: "must be true or false" }).default(fallback),
  );
}

/** A required value, of `pattern`'s shape when given: "is not set" when missing or blank. */
function required(pattern?: RegExp, expected = "must be text") {
  const s = z.string({ error: (i) => i.input === undefined ? "is not set" : expected });
  return z.preprocess(unsetIfBlank, pattern ? s.regex(pattern, expected) : s);
}

/** Text: `fallback` when unset, else undefined. */
function text(): z.ZodType<string | undefined, unknown>;
function text(fallback: string): z.ZodType<string, unknown>;
function text(fallback?: string): z.ZodType<string | undefined, unknown> {
  const s = z.string({ error: "must be text" });
  return z.preprocess(unsetIfBlank, fallback === undefined ? s.optional() : s.default(fallback));
}

/** An http(s) URL without its trailing slashes: `fallback` when unset, else undefined. */
function url(): z.ZodType<string | undefined, unknown>;
function url(fallback: string): z.ZodType<string, unknown>;
function url(fallback?: string): z.ZodType<string | undefined, unknown> {
  const expected = "must be an http(s) URL";
  const s = z.string().regex(/^https?:\/\/[^/\s]+/, expected).transform((u) => u.replace(/\/+$/, ""));
  return z.preprocess(unsetIfBlank, fallback === undefined ? s.optional() : s.default(fallback));
}

/** A list separated by commas or white space (origins, secrets during a rotation), each item of
 * `item`'s shape when given; [] when unset, unless required. */
function list(options: { required?: boolean; item?: RegExp; expected?: string } = {}) {
  const { item, expected = "must be a list separated by commas" } = options;
  const items = z.string({ error: (i) => i.input === undefined ? "is not set" : expected })
    .transform((v) => v.split(/[\s,]+/).filter(Boolean))
    .refine((xs) => !item || xs.every((x) => item.test(x)), expected);
  return z.preprocess(unsetIfBlank, options.required ? items : items.default([]));
}

/** One of `names`, any case; undefined when unset. */
function oneOf<const T extends readonly [string, ...string[]]>(names: T) {
  const expected = `must be ${names.map((n) => `"${n}"`).join(" or ")}`;
  return z.preprocess(
    (v) => {
      const value = unsetIfBlank(v);
      return typeof value === "string" ? value.toLowerCase() : value;
    },
    z.enum(names, { error: expected }).optional(),
  );
}

/** A value matching `pattern` (an id's or a key's shape); optional. */
function matching(pattern: RegExp, expected: string) {
  return z.preprocess(unsetIfBlank, z.string().regex(pattern, expected).optional());
}

/** Which adapter a concern uses: the one `forced` names (e.g. CRM_ADAPTER=capture|hubspot, for a local stack
 * whose .env holds a key), else the provider when its `key` is set, else local capture. */
export function chooseAdapter<P extends string>(env: Env, forced: string, provider: P, key: string): P | "capture" {
  const e = parseEnv(z.object({ [forced]: oneOf([provider, "capture"]), [key]: text() }), env);
  return (e[forced] as P | "capture" | undefined) ?? (e[key] ? provider : "capture");
}

export const setting = { int, bool, required, text, url, list, oneOf, matching };
