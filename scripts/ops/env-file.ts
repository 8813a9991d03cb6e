// A deployment's env file (#19: npm run setup / deploy): read it the way the stack reads .env, change only the
// lines of the variables given (keeping comments, order and every other line), and pick the variables the
// functions read (what `supabase secrets set --env-file` gets), never printing a value.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseEnvText } from "../lib/config.ts";

export { parseEnvText };

export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) throw new Error(`no env file at ${path}`);
  return parseEnvText(readFileSync(path, "utf8"));
}

/** Sets these variables in the file (the line replaced in place, else appended); owner-only permissions. */
export function writeEnvValues(path: string, values: Record<string, string>): void {
  const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n") : [];
  const left = new Map(Object.entries(values));
  for (let i = 0; i < lines.length; i++) {
    const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(lines[i])?.[1];
    if (key && left.has(key)) {
      lines[i] = `${key}=${left.get(key)}`;
      left.delete(key);
    }
  }
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  for (const [k, v] of left) lines.push(`${k}=${v}`);
  writeFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
}

/** Settings of the tools and the local stack, not of the functions: never sent as function secrets. */
const NOT_FUNCTION_SECRETS = new Set([
  "DB_PORT",
  "API_PORT",
  "FUNCTIONS_PORT_BASE",
  "STACK_DIR",
  "POSTGRES_PASSWORD",
  "PG_NET",
  "PG_NET_SOURCE",
  "GATEWAY_EXTRA_FUNCTIONS_DIR",
  "LOCAL_STACK",
  "DNS_SERVERS",
  "NODE_EXTRA_CA_CERTS",
  // a vault secret (the database pings it), not the functions'
  "HEARTBEAT_URL",
  // the local gateway's limits
  "FUNCTIONS_CPU_LIMIT_MS",
  "FUNCTIONS_MEMORY_LIMIT_MB",
  "FUNCTIONS_WALL_CLOCK_MS",
  "FUNCTIONS_IDLE_TIMEOUT_MS",
  "FUNCTIONS_CUSTOM_DOMAIN",
  "JWT_SECRET",
]);

/** The variables `supabase secrets set` gets: not SUPABASE_* (the platform sets those and refuses them), not the
 * login roles' passwords (the functions get their *_DB_URL), not the tools' or the local stack's settings. */
export function functionSecrets(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(([k, v]) =>
      v !== "" && !k.startsWith("SUPABASE_") && !k.endsWith("_DB_PASSWORD") && !NOT_FUNCTION_SECRETS.has(k)
    ),
  );
}

/** The Supabase project's ref: SUPABASE_PROJECT_REF, else the first label of https://<ref>.supabase.co. */
export function projectRef(env: Record<string, string>): string {
  if (env.SUPABASE_PROJECT_REF) return env.SUPABASE_PROJECT_REF;
  let host: string | undefined;
  try {
    host = new URL(env.SUPABASE_URL ?? "").hostname;
  } catch {
    host = undefined;
  }
  const ref = host && /^([a-z0-9]{20})\.supabase\.(co|in)$/.exec(host)?.[1];
  if (!ref) {
    throw new Error(
      "cannot tell the project ref: set SUPABASE_URL=https://<ref>.supabase.co (or SUPABASE_PROJECT_REF) in the env file",
    );
  }
  return ref;
}
