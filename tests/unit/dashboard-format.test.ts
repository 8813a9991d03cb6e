// The dashboard shows amounts and times as the emails and the CRM do (the shared formatters).
import { describe, expect, test } from "vitest";
import { money, when } from "../../supabase/functions/dashboard/page.ts";
import { escapeHtml } from "../../supabase/functions/_shared/html.ts";

describe("dashboard formats", () => {
  test("amounts use Stripe's minor units per currency, not Intl's digits", () => {
    expect(money(1999, "usd")).toBe("$19.99");
    expect(money("500", "jpy")).toBe("¥500");
    expect(money(1234, "kwd")).toMatch(/^KWD\s1\.234$/); // Intl puts a no-break space there
    // Stripe counts HUF in hundredths (Intl says 0 digits): 10000 is 100 forints, not 10,000
    expect(money(10000, "huf")).toMatch(/^HUF\s100\.00$/);
    expect(money(null, "eur")).toBe("€0.00");
    expect(money(5, "not a currency")).toBe("5 NOT A CURRENCY");
  });

  test("times are UTC to the minute, and missing ones a dash", () => {
    expect(when("2026-11-22T14:38:59.123+00:00")).toBe("2026-11-22 14:38 UTC");
    expect(when("2026-11-22T23:30:00-02:00")).toBe("2026-11-23 01:30 UTC");
    expect(when(null)).toBe("—");
    expect(when("not a time")).toBe("not a time");
  });

  test("one escaper for every HTML the functions write", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
    expect(escapeHtml(undefined)).toBe("");
  });
});
