// Area secrets: no secret where someone other than the functions can read it. The app's build output
// (--client dirs), this repository's tracked files and its history (every added line of every commit,
// bounded) are scanned for Stripe secret and restricted keys, webhook signing secrets, service-role JWTs,
// HubSpot tokens, Resend keys, Slack webhook URLs and database URLs with a password; a tracked .env fails.
//
// What is not a finding (the rule, documented in docs/architecture.md, Doctor): a value anyone can read by
// design (the functions' placeholder rule: replace_me, <password>, whsec_..., *_not_for_production,
// local-<role>-password, Supabase's local JWT secret), a database URL on a loopback host or with an
// interpolated password (`${...}`), a JWT whose role is not service_role, and the paths `.doctorignore`
// lists (test fixtures: tests/, whose keys are made up; a reviewer keeps real ones out of them).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { decodeJwt } from "jose";
import { isPlaceholderSecret } from "../../../supabase/functions/_shared/config/env.ts";
import { mask } from "../mask.ts";
import { type Area, type DoctorContext, fail, type Finding, pass } from "../types.ts";

/** What a line may hold; `verdict` says whether a match is a secret (its kind) or not (null). */
type Pattern = { re: RegExp; verdict(match: string): string | null };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/i;
const PATTERNS: Pattern[] = [
  {
    re: /\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}/g,
    verdict: (m) =>
      `Stripe ${m.startsWith("rk_") ? "restricted" : "secret"} key (${m.includes("_live_") ? "live" : "test"})`,
  },
  { re: /\bwhsec_[A-Za-z0-9+/=]{16,}/g, verdict: () => "webhook signing secret" },
  {
    re: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g,
    verdict(m) {
      try {
        return decodeJwt(m).role === "service_role" ? "Supabase service-role key" : null;
      } catch {
        return null;
      }
    },
  },
  {
    re: /\bpat-[a-z]{2}\d-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi,
    verdict: () => "HubSpot token",
  },
  // Resend keys: re_<8>_<the rest>, with digits (re_webhook_verification_only is a name, not a key)
  { re: /\bre_[A-Za-z0-9]{8}_[A-Za-z0-9]{16,}\b/g, verdict: (m) => /\d/.test(m) ? "Resend API key" : null },
  {
    re: /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{4,}\/B[A-Z0-9]{4,}\/[A-Za-z0-9]{8,}/g,
    verdict: () => "Slack webhook URL",
  },
  {
    re: /postgres(?:ql)?:\/\/[^:/@\s'"`]+:[^@\s'"`]+@[^/\s:'"`]+/g,
    verdict(m) {
      const [, password, host] = /:\/\/[^:]+:([^@]+)@(.+)$/.exec(m)!;
      if (password.includes("${") || LOOPBACK.test(host)) return null;
      return "database URL with a password";
    },
  },
];

/** One line of text's secrets (placeholders left out), masked. */
export function secretsInLine(line: string): Array<{ kind: string; masked: string }> {
  const out: Array<{ kind: string; masked: string }> = [];
  for (const p of PATTERNS) {
    for (const m of line.matchAll(p.re)) {
      if (isPlaceholderSecret(m[0])) continue;
      const kind = p.verdict(m[0]);
      if (kind) out.push({ kind, masked: mask(m[0]) });
    }
  }
  return out;
}

export type Hit = { where: string; kind: string; masked: string };

/** .doctorignore: one path prefix per line (# comments): test fixtures, which hold made-up keys. */
export function readIgnore(repoDir: string): string[] {
  const file = join(repoDir, ".doctorignore");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}
const ignored = (path: string, ignore: string[]) =>
  ignore.some((p) => path === p || path.startsWith(p.replace(/\/?$/, "/")));

function scanText(text: string, where: (line: number) => string, skipFixtures: boolean, hits: Hit[]) {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!skipFixtures) { for (const s of secretsInLine(lines[i])) hits.push({ where: where(i + 1), ...s }); }
  }
}

const MAX_FILE_BYTES = 20_000_000;
const isBinary = (buf: Buffer) => buf.subarray(0, 8000).includes(0);

/** Every file under dir (the build output), scanned whole. */
export function scanDir(dir: string): { files: number; hits: Hit[] } {
  const hits: Hit[] = [];
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size <= MAX_FILE_BYTES) {
        const buf = readFileSync(p);
        if (isBinary(buf)) continue;
        files++;
        scanText(buf.toString("utf8"), (n) => `${relative(dir, p) || p}:${n}`, false, hits);
      }
    }
  };
  walk(dir);
  return { files, hits };
}

const git = (repoDir: string, args: string[]) =>
  execFileSync("git", ["-C", repoDir, ...args], { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });

/** The repository's tracked files (as in the work tree). */
export function scanTracked(repoDir: string, ignore = readIgnore(repoDir)): { files: number; hits: Hit[] } {
  const hits: Hit[] = [];
  const paths = git(repoDir, ["ls-files", "-z"]).split("\0").filter(Boolean);
  let files = 0;
  for (const path of paths) {
    const abs = join(repoDir, path);
    if (!existsSync(abs) || !statSync(abs).isFile() || statSync(abs).size > MAX_FILE_BYTES) continue;
    const buf = readFileSync(abs);
    if (isBinary(buf)) continue;
    files++;
    scanText(buf.toString("utf8"), (n) => `${path}:${n}`, ignored(path, ignore), hits);
  }
  return { files, hits };
}

/** Bounds of the history scan: commits read, and bytes of patches. */
export const HISTORY_LIMITS = { commits: 5_000, bytes: 256 * 1024 * 1024 };

/** Every line any commit (all refs) added, with its commit, file and line. */
export function scanHistory(repoDir: string, ignore = readIgnore(repoDir)): { commits: number; hits: Hit[] } {
  const hits: Hit[] = [];
  if (!git(repoDir, ["rev-parse", "--all"]).trim()) return { commits: 0, hits }; // no commit yet
  const out = git(repoDir, [
    "log",
    "--all",
    `--max-count=${HISTORY_LIMITS.commits}`,
    "-p",
    "-U0",
    "--no-color",
    "--no-ext-diff",
    "--format=commit %H",
  ]).slice(0, HISTORY_LIMITS.bytes);
  let commit = "";
  let path = "";
  let line = 0;
  let commits = 0;
  for (const raw of out.split("\n")) {
    if (raw.startsWith("commit ")) {
      commit = raw.slice(7, 19);
      commits++;
    } else if (raw.startsWith("+++ ")) path = raw.startsWith("+++ b/") ? raw.slice(6) : "";
    else if (raw.startsWith("@@")) line = Number(/\+(\d+)/.exec(raw)?.[1] ?? 0);
    else if (raw.startsWith("+") && path) {
      if (!ignored(path, ignore)) {
        for (const s of secretsInLine(raw.slice(1))) hits.push({ where: `${path}:${line} in commit ${commit}`, ...s });
      }
      line++;
    }
  }
  return { commits, hits };
}

/** Tracked .env files (.env, .env.production, supabase/functions/.env); .env.example and the like are docs. */
export function trackedEnvFiles(repoDir: string): string[] {
  return git(repoDir, ["ls-files", "-z"]).split("\0").filter((p) =>
    /(^|\/)\.env(\.[A-Za-z0-9_-]+)?$/.test(p) && !/\.(example|sample|template)$/.test(p)
  );
}

const list = (hits: Hit[]) => {
  const shown = hits.slice(0, 5).map((h) => `${h.where} ${h.kind} ${h.masked}`).join("; ");
  return hits.length > 5 ? `${shown}; and ${hits.length - 5} more` : shown;
};

export const secrets: Area = {
  name: "secrets",
  async run(ctx: DoctorContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    for (const dir of ctx.clientDirs) {
      const check = `secrets.client`;
      if (!existsSync(dir) || !statSync(dir).isDirectory()) {
        findings.push(
          fail(
            check,
            `${dir} is not a directory`,
            "the app's build output cannot be checked",
            "build the app, then pass its output folder to --client",
          ),
        );
        continue;
      }
      const { files, hits } = scanDir(dir);
      findings.push(
        hits.length
          ? fail(
            check,
            `${dir}: ${list(hits)}`,
            "anything in the app's bundle is public: whoever loads the app can use these",
            "remove the secret from the app (only the anon key and publishable keys belong there) and rotate it now",
          )
          : pass(check, `${dir}: ${files} files, no secret (an anon key or publishable key is fine)`),
      );
    }
    if (!ctx.clientDirs.length) {
      findings.push(pass("secrets.client", "no --client dir given: the app's build output was not scanned"));
    }
    const ignore = readIgnore(ctx.repoDir);
    const note = ignore.length ? ` (fixtures in ${ignore.join(", ")} left out by .doctorignore)` : "";
    const tracked = scanTracked(ctx.repoDir, ignore);
    findings.push(
      tracked.hits.length
        ? fail(
          "secrets.repository",
          list(tracked.hits),
          "whoever reads the repository can use these",
          "remove them from the files, rotate each secret, and keep secrets in the env file or `supabase secrets set`",
        )
        : pass("secrets.repository", `${tracked.files} tracked files, no secret${note}`),
    );
    const history = scanHistory(ctx.repoDir, ignore);
    findings.push(
      history.hits.length
        ? fail(
          "secrets.history",
          list(history.hits),
          "a secret once committed stays readable in every clone of the history",
          "rotate each secret (rewriting history does not reach existing clones)",
        )
        : pass("secrets.history", `${history.commits} commits, no secret added${note}`),
    );
    const envFiles = trackedEnvFiles(ctx.repoDir);
    findings.push(
      envFiles.length
        ? fail(
          "secrets.env_file",
          `tracked: ${envFiles.join(", ")}`,
          "an env file holds the deployment's secrets",
          `git rm --cached ${envFiles.join(" ")}, add them to .gitignore, and rotate what they held`,
        )
        : pass("secrets.env_file", "no .env file is tracked"),
    );
    return findings;
  },
};
