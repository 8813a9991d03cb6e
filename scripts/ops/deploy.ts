// npm run deploy -- --env-file <file> (#19): the Supabase CLI steps in their order (link, db push, secrets set
// from the env file's function secrets, functions deploy), stopping at the first failure with what to do, then
// the doctor. Values never reach argv or the output: the CLI reads SUPABASE_ACCESS_TOKEN / SUPABASE_DB_PASSWORD
// from its environment and the secrets from a temporary file of the function secrets (names printed only).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "../lib/config.ts";
import { functionSecrets, projectRef, readEnvFile } from "./env-file.ts";

type Step = { name: string; args: string[]; fix: string };

function usage(message: string): never {
  console.error(`${message}\nusage: npm run deploy -- --env-file <file>`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const at = argv.indexOf("--env-file");
const envPath = at >= 0 ? argv[at + 1] : undefined;
if (!envPath) usage("which deployment? give its env file");
const envFile = resolve(envPath);
let env: Record<string, string>;
let ref: string;
try {
  env = readEnvFile(envFile);
  ref = projectRef(env);
} catch (err) {
  usage((err as Error).message);
}

const secrets = functionSecrets(env);
const dir = mkdtempSync(join(tmpdir(), "deploy-"));
const secretsFile = join(dir, "function-secrets.env");
writeFileSync(secretsFile, Object.entries(secrets).map(([k, v]) => `${k}=${v}`).join("\n") + "\n", { mode: 0o600 });

const steps: Step[] = [
  {
    name: "link",
    args: ["link", "--project-ref", ref],
    fix: `check SUPABASE_ACCESS_TOKEN (a personal access token: supabase.com/dashboard/account/tokens) and that ` +
      `project ${ref} is yours (SUPABASE_URL), then run npm run deploy again`,
  },
  {
    name: "db push",
    args: ["db", "push"],
    fix: "read the failing migration's error above (each migration runs in a transaction: the ones before it " +
      "are applied, it is not); fix what it names (a missing extension, SUPABASE_DB_PASSWORD) and run npm run " +
      "deploy again: db push runs only what the project has not run",
  },
  {
    name: "secrets set",
    args: ["secrets", "set", "--env-file", secretsFile],
    fix: "check the env file's variables (names only are printed above), then run npm run deploy again",
  },
  {
    name: "functions deploy",
    args: ["functions", "deploy"],
    fix: "read the function's bundling error above (npm run check reproduces most), fix it and run npm run " +
      "deploy again; the database and secrets are already up to date",
  },
];

// the CLI's credentials go through its environment, never argv (argv shows in ps and in CI logs)
const cliEnv: NodeJS.ProcessEnv = { ...process.env };
for (const key of ["SUPABASE_ACCESS_TOKEN", "SUPABASE_DB_PASSWORD"]) if (env[key]) cliEnv[key] = env[key];

let failed = false;
try {
  console.log(`deploying to project ${ref} (from ${envPath})`);
  console.log(`function secrets: ${Object.keys(secrets).sort().join(", ") || "(none)"}`);
  for (const [i, step] of steps.entries()) {
    const shown = step.name === "secrets set"
      ? "supabase secrets set --env-file <function secrets>"
      : `supabase ${step.args.join(" ")}`;
    console.log(`\n[${i + 1}/${steps.length}] ${shown}`);
    const run = spawnSync("supabase", step.args, { cwd: ROOT, env: cliEnv, stdio: "inherit" });
    if (run.status !== 0) {
      const why = run.error ? `could not run the Supabase CLI (${run.error.message})` : `exited with ${run.status}`;
      console.error(`\ndeploy stopped at step ${i + 1}/${steps.length} (${step.name}): ${why}`);
      console.error(`what to do: ${step.fix}`);
      failed = true;
      break;
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exit(1);

console.log(`\ndeployed. Checking it: npm run doctor -- --env-file ${envPath}`);
if (!existsSync(join(ROOT, "scripts/doctor/main.ts"))) {
  console.log("the doctor is not in this checkout (scripts/doctor/main.ts): run it once it is");
  process.exit(0);
}
const doctor = spawnSync("npm", ["run", "doctor", "--", "--env-file", envPath], { cwd: ROOT, stdio: "inherit" });
if (doctor.status !== 0) {
  console.error("the doctor found problems (FAIL above): fix them and run npm run doctor again");
  process.exit(doctor.status ?? 1);
}
