// npm run advisors [security | performance]: Supabase's advisors (both by default) against the local
// stack; fails on any WARN or ERROR.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { config, ROOT } from "../lib/config.ts";

const type = process.argv[2] ?? "all";
const res = spawnSync(join(ROOT, "node_modules/.bin/supabase"), [
  "db",
  "advisors",
  `--remote=${config.dbUrl}`,
  "--type",
  type,
  "--level",
  "warn",
  "--fail-on",
  "warn",
], { cwd: ROOT, stdio: "inherit", env: { ...process.env, DO_NOT_TRACK: "1" } });
process.exit(res.status ?? 1);
