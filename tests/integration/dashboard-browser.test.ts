// The dashboard in a real browser: Debian's Chromium (apt-get install chromium), driven by playwright-core
// (no browser download). An admin signs in through the form, sees an open incident, replays a dead job
// from the page and finds its audit row there; a buyer and an anonymous visitor see no data. Screenshots
// at desktop (1280 px) and phone (390 px) widths go to <stack dir>/screenshots/.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { config } from "../../scripts/lib/config.ts";
import { DASHBOARD_URL, deadJob, newAdmin, newBuyerPerson, openIncident } from "../helpers/dashboard.ts";
import { sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = join(config.stackDir, "screenshots");
const profiles: string[] = [];
const contexts: BrowserContext[] = [];

/** A fresh browser profile (its own cookies), headless, nothing fetched from the internet. */
async function browser(width = 1280): Promise<BrowserContext> {
  const dir = mkdtempSync(join(tmpdir(), "dashboard-chromium-"));
  profiles.push(dir);
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  contexts.push(ctx);
  return ctx;
}

beforeAll(() => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  }
  mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  for (const ctx of contexts) await ctx.close().catch(() => {});
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
});

describe("dashboard in Chromium", { timeout: 180_000 }, () => {
  test("an admin signs in, sees an incident, replays a dead job from the page and finds its audit row", async () => {
    const admin = await newAdmin();
    const buyer = await newBuyerPerson();
    const incident = await openIncident();
    const job = await deadJob(buyer.customerId);

    const ctx = await browser(1280);
    const page = await ctx.newPage();
    const first = await page.goto(DASHBOARD_URL);
    expect(first?.status()).toBe(401);
    await page.getByLabel("access token").fill(admin.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(DASHBOARD_URL);
    expect(page.url()).not.toContain(admin.token.slice(0, 20)); // never in a URL, so never in history
    const [cookie] = await ctx.cookies();
    expect(cookie).toMatchObject({ name: "dashboard_session", httpOnly: true, sameSite: "Strict" });

    // the incident, with its rule's runbook
    const incidents = page.locator("#incidents");
    await expect.poll(() => incidents.textContent()).toContain(incident.summary);
    expect(await incidents.textContent()).toContain(incident.runbook);

    // replay the dead job from its exception row
    const row = page.locator("#exceptions tr", { hasText: `select ops.replay_job(${job});` });
    await row.locator("summary", { hasText: "Act" }).click();
    await row.getByLabel("reason").fill("CRM fixed: replay from the browser test");
    await row.getByRole("button", { name: "Replay job" }).click();
    await page.waitForURL(/\?done=\d+/);
    const auditId = /done=(\d+)/.exec(page.url())![1];
    await expect.poll(() => page.locator("p.notice").textContent()).toContain(`job.replay on job:${job}`);
    const auditRow = page.locator("#audit tr", { hasText: `job:${job}` });
    expect(await auditRow.textContent()).toContain("CRM fixed: replay from the browser test");
    expect(await auditRow.textContent()).toContain(admin.email);
    expect(await auditRow.textContent()).toContain(auditId);
    const [a] = await sql`select action, actor_email, before ->> 'status' as before, after ->> 'status' as after
                            from ops.audit_log where id = ${auditId}`;
    expect(a).toEqual({ action: "job.replay", actor_email: admin.email, before: "dead", after: "queued" });
    const [j] = await sql`select status from ops.jobs where id = ${job}`;
    expect(j.status).not.toBe("dead");

    // the page at desktop and phone widths: readable, no horizontal scrolling on a phone
    await page.goto(DASHBOARD_URL);
    await page.screenshot({ path: join(SHOTS, "dashboard-desktop.png"), fullPage: true });
    await page.screenshot({ path: join(SHOTS, "dashboard-desktop-top.png") });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(DASHBOARD_URL);
    const overflow = await page.evaluate(() =>
      document.documentElement.scrollWidth - document.documentElement.clientWidth
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, "dashboard-phone.png"), fullPage: true });
    await page.screenshot({ path: join(SHOTS, "dashboard-phone-top.png") });
    expect(existsSync(join(SHOTS, "dashboard-desktop.png"))).toBe(true);
    expect(existsSync(join(SHOTS, "dashboard-phone.png"))).toBe(true);
  });

  test("an admin pages through one reconciliation run: the heading counts all, Next shows the rest (#20)", async () => {
    const admin = await newAdmin();
    const run = randomUUID().slice(0, 8);
    const ours = (await sql<{ id: string; object_id: string }[]>`
      insert into ops.reconciliation_findings (kind, object_id, next_action, found_at, last_seen_at)
      select 'payment_without_order', ${"pi_browser_" + run + "_"} || n, 'browser paging test', now(), now()
        from generate_series(1, 55) n
      returning id, object_id`).sort((a, b) => Number(b.id) - Number(a.id)).map((f) => f.object_id);
    try {
      const ctx = await browser(390);
      const page = await ctx.newPage();
      await page.goto(DASHBOARD_URL);
      await page.getByLabel("access token").fill(admin.token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(DASHBOARD_URL);
      const [{ open }] = await sql<{ open: number }[]>`
        select count(*)::int as open from ops.reconciliation_findings where status = 'open'`;
      const findings = page.locator("#findings");
      expect(await findings.locator("h2").textContent()).toBe(
        `Reconciliation findings (${open.toLocaleString("en")} open)`,
      );
      expect(await findings.locator("p.pager").textContent()).toContain(`Showing 50 of ${open.toLocaleString("en")}`);
      await findings.getByRole("link", { name: /^Next/ }).click();
      await page.waitForURL(/findings_page=2#findings$/);
      const objects = await page.locator("#findings td[data-label=Object]").allTextContents();
      expect(objects.slice(0, 5)).toEqual(ours.slice(50));
      const overflow = await page.evaluate(() =>
        document.documentElement.scrollWidth - document.documentElement.clientWidth
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(SHOTS, "dashboard-findings-page-2.png") });
    } finally {
      await sql`update ops.reconciliation_findings set status = 'resolved', resolved_at = now()
                 where object_id like ${"pi_browser_" + run + "_%"}`;
    }
  });

  test("a buyer who signs in gets the refusal and no data, and no session", async () => {
    const buyer = await newBuyerPerson();
    const ctx = await browser(390);
    const page = await ctx.newPage();
    await page.goto(DASHBOARD_URL);
    await page.getByLabel("access token").fill(buyer.token);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith("/dashboard/session")),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    expect(res.status()).toBe(403);
    const text = await page.locator("main").textContent();
    expect(text).toContain("Admins only");
    expect(text).not.toContain("Billing and access");
    expect(text).not.toContain(buyer.email);
    expect(await ctx.cookies()).toEqual([]);
    await page.goto(DASHBOARD_URL);
    expect(await page.locator("main").textContent()).toContain("Sign in");
  });

  test("an anonymous visitor gets the sign-in form and no data", async () => {
    const ctx = await browser(1280);
    const page = await ctx.newPage();
    const res = await page.goto(DASHBOARD_URL);
    expect(res?.status()).toBe(401);
    const text = await page.locator("main").textContent();
    expect(text).toContain("Sign in");
    for (const section of ["Open incidents", "Billing and access", "Audit log", "Exceptions"]) {
      expect(text).not.toContain(section);
    }
    await page.screenshot({ path: join(SHOTS, "dashboard-sign-in.png") });
  });
});
