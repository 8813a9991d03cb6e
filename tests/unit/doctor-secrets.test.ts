// The doctor's secrets area over real files: a temporary git repository with a key in its history (and a
// clean one), client build output with a service-role JWT in a bundle (and one with only the anon key),
// a tracked .env, and the .doctorignore rule (fixtures left out, live keys never).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, describe, expect, test } from "vitest";
import { scanDir, secrets, secretsInLine } from "../../scripts/doctor/areas/secrets.ts";
import type { DoctorContext, Finding } from "../../scripts/doctor/types.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "doctor-secrets-"));
  dirs.push(d);
  return d;
};

// fixtures built at run time: this file holds no secret-shaped literal
const liveKey = ["sk", "live", "51HxYzAbCdEfGhIjKlMnOpQrSt9a8b"].join("_");
const testKey = ["rk", "test", "51HxYzAbCdEfGhIjKlMnOpQrSt7c6d"].join("_");
const signingSecret = ["whsec", "q8Rk2LmN4pT6vX8zB1dF3hJ5"].join("_");
const slackUrl = ["https://hooks.slack.com/services", "T01ABCDEF", "B02GHIJKL", "aB3dE5gH7jK9mN1pQ3sT5vX7"].join("/");
const jwt = (role: string) =>
  new SignJWT({ iss: "supabase", role }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
    new TextEncoder().encode("a-project-secret-of-at-least-32-characters"),
  );

const git = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-C", dir, ...args], {
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });
function repo(files: Record<string, string>[]): string {
  const dir = tmp();
  git(dir, "init", "-q", "-b", "main");
  for (const [i, commit] of files.entries()) {
    for (const [path, text] of Object.entries(commit)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      if (text === "") rmSync(join(dir, path));
      else writeFileSync(join(dir, path), text);
    }
    git(dir, "add", "-A");
    git(dir, "commit", "-q", "-m", `commit ${i}`);
  }
  return dir;
}
const ctx = (repoDir: string, clientDirs: string[] = []): DoctorContext => ({
  env: {},
  envFiles: [],
  clientDirs,
  repoDir,
  local: false,
  sendTestAlert: false,
  dnsServers: [],
  db: () => null,
});
const by = (findings: Finding[], check: string) => findings.filter((f) => f.check === check);

describe("secretsInLine", () => {
  test.each([
    ["a live secret key", `const k = "${liveKey}";`, "Stripe secret key (live)"],
    ["a test restricted key", `STRIPE_RECONCILE_KEY=${testKey}`, "Stripe restricted key (test)"],
    ["a webhook signing secret", `secret: '${signingSecret}'`, "webhook signing secret"],
    ["a Slack webhook URL", `url=${slackUrl}`, "Slack webhook URL"],
    [
      "a HubSpot token",
      `token ${["pat", "na1", "0a1b2c3d", "4e5f", "6a7b", "8c9d", "0e1f2a3b4c5d"].join("-")}`,
      "HubSpot token",
    ],
    ["a Resend key", `RESEND_API_KEY=${["re", "Ab12Cd34", "Ef56Gh78Ij90Kl12Mn34Op"].join("_")}`, "Resend API key"],
    [
      "a database URL with a password",
      "postgresql://checkout.abcdefghijklmnopqrst:Zx81qP0wLong@aws-0.pooler.supabase.com:6543/postgres",
      "database URL with a password",
    ],
  ])("finds %s, masked", (_name, line, kind) => {
    const [hit] = secretsInLine(line);
    expect(hit.kind).toBe(kind);
    expect(line).not.toContain(hit.masked);
  });

  test.each([
    ["a placeholder key", "STRIPE_SECRET_KEY=rk_live_..."],
    ["a local-only secret", "whsec_local_current_not_for_production"],
    ["the stack's role password on loopback", "postgresql://checkout:local-checkout-password@127.0.0.1:54322/postgres"],
    ["a docs URL", "postgresql://stripe_webhook.<project-ref>:<password>@<pooler host>:6543/postgres"],
    ["an interpolated password", "postgresql://postgres:${password}@db.example.com:5432/postgres"],
    ["a name that looks like a Resend key", 'new Resend("re_webhook_verification_only")'],
  ])("leaves %s alone", (_name, line) => {
    expect(secretsInLine(line)).toEqual([]);
  });

  test("a service-role JWT is a secret, the anon key is not", async () => {
    expect(secretsInLine(`key="${await jwt("service_role")}"`).map((h) => h.kind)).toEqual([
      "Supabase service-role key",
    ]);
    expect(secretsInLine(`key="${await jwt("anon")}"`)).toEqual([]);
  });
});

describe("the client build", () => {
  test("a bundle holding the service-role key fails, naming the file and line", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<script src=/assets/app.js></script>\n");
    writeFileSync(join(dir, "assets/app.js"), `var a=1;\nvar s="${await jwt("service_role")}",b=2;\n`);
    const [f] = by(await secrets.run(ctx(repo([{ "a.txt": "clean\n" }]), [dir])), "secrets.client");
    expect(f.status).toBe("FAIL");
    expect(f.saw).toContain("assets/app.js:2 Supabase service-role key");
    expect(scanDir(dir).files).toBe(2);
  });

  test("a bundle with only the anon key passes", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "app.js"), `createClient("https://x.supabase.co","${await jwt("anon")}")\n`);
    const [f] = by(await secrets.run(ctx(repo([{ "a.txt": "clean\n" }]), [dir])), "secrets.client");
    expect(f.status).toBe("PASS");
  });

  test("a --client dir that does not exist fails", async () => {
    const [f] = by(await secrets.run(ctx(repo([{ "a.txt": "clean\n" }]), [join(tmp(), "dist")])), "secrets.client");
    expect(f.status).toBe("FAIL");
  });
});

describe("the repository", () => {
  test("a clean repository passes every check", async () => {
    const findings = await secrets.run(
      ctx(repo([{ "README.md": "hello\n", ".env.example": "STRIPE_SECRET_KEY=rk_live_...\n" }])),
    );
    expect(findings.map((f) => f.status)).toEqual(["PASS", "PASS", "PASS", "PASS"]);
  });

  test("a key removed from the files still fails in history, with file, line and commit", async () => {
    const dir = repo([
      { "src/config.ts": "// settings\nexport const a = 1;\n" },
      { "src/config.ts": `// settings\nexport const a = 1;\nexport const key = "${liveKey}";\n` },
      { "src/config.ts": "// settings\nexport const a = 1;\n" },
    ]);
    const commit = git(dir, "log", "--format=%H", "-n", "1", "HEAD~1").trim().slice(0, 12);
    const findings = await secrets.run(ctx(dir));
    expect(by(findings, "secrets.repository")[0].status).toBe("PASS");
    const [history] = by(findings, "secrets.history");
    expect(history.status).toBe("FAIL");
    expect(history.saw).toContain(`src/config.ts:3 in commit ${commit} Stripe secret key (live) sk_live_…9a8b`);
    expect(history.saw).not.toContain(liveKey);
  });

  test("a key in a tracked file fails with file and line; a tracked .env fails", async () => {
    const dir = repo([{ "notes.md": `# notes\n\nslack: ${slackUrl}\n`, ".env": "A=1\n" }]);
    const findings = await secrets.run(ctx(dir));
    const [tracked] = by(findings, "secrets.repository");
    expect(tracked.status).toBe("FAIL");
    expect(tracked.saw).toContain("notes.md:3 Slack webhook URL");
    expect(by(findings, "secrets.env_file")[0]).toMatchObject({ status: "FAIL", saw: "tracked: .env" });
  });

  test(".doctorignore leaves test fixtures out; the same key elsewhere fails", async () => {
    const fixtures = repo([{ ".doctorignore": "# fixtures\ntests/\n", "tests/fake.ts": `const k = "${liveKey}";\n` }]);
    expect((await secrets.run(ctx(fixtures))).map((f) => f.status)).toEqual(["PASS", "PASS", "PASS", "PASS"]);
    const elsewhere = repo([{ ".doctorignore": "tests/\n", "testsuite/fake.ts": `const k = "${liveKey}";\n` }]);
    const findings = await secrets.run(ctx(elsewhere));
    expect(by(findings, "secrets.repository")[0].status).toBe("FAIL");
    expect(by(findings, "secrets.history")[0].status).toBe("FAIL");
  });

  test("a repository without a commit yet has no history to fail", async () => {
    const dir = tmp();
    git(dir, "init", "-q");
    expect((await secrets.run(ctx(dir))).map((f) => f.status)).toEqual(["PASS", "PASS", "PASS", "PASS"]);
  });

  test("this repository passes (its fixtures are under tests/, .doctorignore)", async () => {
    const findings = await secrets.run(ctx(join(import.meta.dirname, "..", "..")));
    expect(findings.filter((f) => f.status !== "PASS")).toEqual([]);
  });
});
