// The one way settings are read from the environment (functions and Node scripts alike): a zod object
// per concern whose keys are the variables, built from the fields below. A blank value counts as unset
// (so it takes the default); a bad one throws a ConfigError naming the variable and what it expects,
// never the value, which may be a secret. Functions parse their settings once, when they start, and
// outside the local stack refuse placeholder secrets (.env.example's, the stack's *_not_for_production).
import { z } from "zod";
import { describeIssues } from "../issues.ts";

export type Env = Record<string, string | undefined>;

/** A setting that cannot be used: thrown when a function starts, so it never serves with it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The function's environment, read once (Deno.env only here); outside the local stack a placeholder
 * secret stops the function here, at start (refusePlaceholderSecrets). */
export function denoEnv(): Env {
  const env = Deno.env.toObject();
  refusePlaceholderSecrets(env);
  return env;
}

/** The local stack: the gateway (scripts/stack/gateway.ts) sets LOCAL_STACK=1 and a loopback SUPABASE_URL.
 * Both are needed, and hosted's own variables rule it out: hosted Supabase sets SUPABASE_URL to
 * https://<ref>.supabase.co (a deployer cannot set SUPABASE_* secrets) and SB_REGION, SB_EXECUTION_ID,
 * DENO_DEPLOYMENT_ID, so a LOCAL_STACK=1 pushed with `supabase secrets set` changes nothing there. */
export function isLocalStack(env: Env): boolean {
  if (env.SB_REGION || env.SB_EXECUTION_ID || env.DENO_DEPLOYMENT_ID) return false;
  if (env.LOCAL_STACK?.trim() !== "1") return false;
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(env.SUPABASE_URL ?? "").hostname);
  } catch {
    return false;
  }
}

/** Settings that hold a secret, by name; SUPABASE_*, SB_* and DENO_* are the platform's, not the deployer's. */
const SECRET_NAME = /(_SECRET|_TOKEN|_KEY|_PASSWORD|_DB_URL)$|^SLACK_WEBHOOK_URL$/;
const PLATFORM_NAME = /^(SUPABASE|SB|DENO)_/;
/** .env.example's and the docs' placeholders (replace_me, <password>, whsec_..., rk_live_…), the local
 * stack's values (*_not_for_production, local-<role>-password) and public ones (Supabase's local JWT
 * secret, the stack's Resend secret): anyone can read them, so anyone could sign with them. */
const PLACEHOLDER = [
  /replace[_-]?me/i,
  /not[_-]for[_-]production/i,
  /<[^<>]+>/,
  /\.\.\.|\u2026/,
  /local-[a-z-]+-password/i,
  /super-secret-jwt-token-with-at-least-32-characters-long/,
  /whsec_bG9jYWwtcmVzZW5kLXdlYmhvb2stc2VjcmV0/,
];

/** Whether a secret's value is a placeholder or a known public value (any item of a rotation list). */
export function isPlaceholderSecret(value: string): boolean {
  return PLACEHOLDER.some((p) => p.test(value));
}

/** Outside the local stack, refuses every secret setting that holds a placeholder: one ConfigError naming
 * each such variable (never its value) and what to do. On the local stack they are its defaults. */
export function refusePlaceholderSecrets(env: Env): void {
  if (isLocalStack(env)) return;
  const names = Object.keys(env).filter((name) =>
    SECRET_NAME.test(name) && !PLATFORM_NAME.test(name) && isPlaceholderSecret(env[name] ?? "")
  ).sort();
  if (names.length === 0) return;
  throw new ConfigError(
    names.map((name) =>
      `${name} holds a placeholder or local-only value, refused outside the local stack: ` +
      `set a real secret with \`supabase secrets set ${name}=<secret>\` (or unset it)`
    ).join("; "),
  );
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
