// npm run doctor (#19): read-only checks of one deployment. Each area (secrets, configuration, stripe, endpoints,
// email, crm, database, monitoring) is a module of areas/ that answers findings; main.ts runs them in order,
// prints PASS / WARN / FAIL with what it saw, why it matters and the fix in one line (secrets masked), or JSON
// (--json), and exits non-zero on any FAIL.
import type { Sql } from "../lib/db.ts";

export type Status = "PASS" | "WARN" | "FAIL";

/** One check's verdict. `saw` never holds a secret: mask it (mask.ts) before it gets here. */
export type Finding = {
  /** the area and check, e.g. "email.dmarc" */
  check: string;
  status: Status;
  /** what it saw, one line */
  saw: string;
  /** why it matters, one line (may be empty on PASS) */
  why: string;
  /** the fix, one line (may be empty on PASS) */
  fix: string;
};

export type DoctorContext = {
  /** the deployment's settings: the --env-file(s) merged (the first file's, when two are compared) */
  env: Record<string, string>;
  /** every --env-file given, parsed, in order (two: staging and production are compared) */
  envFiles: Array<{ path: string; env: Record<string, string> }>;
  /** --client <dir>...: the app's build output to scan for secrets */
  clientDirs: string[];
  /** the repository whose tracked files and history are scanned */
  repoDir: string;
  /** the deployment is the local stack (loopback SUPABASE_URL): what it cannot be like production WARNs */
  local: boolean;
  /** --send-test-alert */
  sendTestAlert: boolean;
  /** DNS_SERVERS (host:port list), else the system resolver */
  dnsServers: string[];
  /** the deployment's database (SUPABASE_DB_URL / the admin URL), opened on first use; null when not set */
  db(): Sql | null;
};

export type Area = {
  name: string;
  run(ctx: DoctorContext): Promise<Finding[]>;
};

export const pass = (check: string, saw: string): Finding => ({ check, status: "PASS", saw, why: "", fix: "" });
export const warn = (check: string, saw: string, why: string, fix: string): Finding => ({
  check,
  status: "WARN",
  saw,
  why,
  fix,
});
export const fail = (check: string, saw: string, why: string, fix: string): Finding => ({
  check,
  status: "FAIL",
  saw,
  why,
  fix,
});
