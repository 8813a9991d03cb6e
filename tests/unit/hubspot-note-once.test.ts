// A note create is the HubSpot adapter's one request that is not idempotent. Run in Deno (the
// functions' runtime, whose fetch re-sends a request when a pooled keep-alive connection closes
// without an answer): an answer lost after HubSpot applied the create must surface as a retryable
// failure, never as a silent second create, and the retry finds the note by its marker.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ROOT } from "../../scripts/lib/config.ts";
import { type FakeHubSpot, startFakeHubSpot } from "../fakes/hubspot.ts";

let fake: FakeHubSpot;
beforeAll(async () => {
  fake = await startFakeHubSpot();
});
afterAll(() => fake.close());

const script = (select: string) => `
import { selectCrmAdapter } from ${JSON.stringify(select)};
const crm = selectCrmAdapter(JSON.parse(Deno.args[0]), { recorder: () => Promise.resolve() });
const { dealId } = await crm.upsertDeal({ orderKey: "order-once", name: "Order", amount: 100, currency: "usd", stage: "paid" });
const note = { key: "dispute:dp_once", dealId, body: "A dispute was opened." };
const first = await crm.addNote(note).then((r) => ({ ok: r.noteId }), (e) => ({ retryable: e.retryable, message: e.message }));
const second = await crm.addNote(note).then((r) => ({ ok: r.noteId }), (e) => ({ error: e.message }));
console.log(JSON.stringify({ first, second }));
`;

test(
  "in Deno, a note create whose answer is lost after it was applied fails retryably and is not sent twice",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "note-once-"));
    const file = join(dir, "note-once.ts");
    writeFileSync(file, script(join(ROOT, "supabase/functions/_shared/crm/select.ts")));
    // the create is applied, then its connection (reused from the deal upsert) closes without an answer
    fake.failNext("drop-after", { match: /^POST \/crm\/v3\/objects\/notes$/ });
    const env = { HUBSPOT_ACCESS_TOKEN: fake.token, HUBSPOT_API_BASE: fake.url, HUBSPOT_TIMEOUT_MS: "3000" };
    // async: the fake answers from this process's event loop
    const { stdout } = await promisify(execFile)(
      join(ROOT, "node_modules/.bin/deno"),
      [
        "run",
        "--quiet",
        "--allow-net",
        "--no-config",
        "--import-map",
        join(ROOT, "supabase/functions/import_map.json"),
        file,
        JSON.stringify(env),
      ],
      { cwd: ROOT, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" }, timeout: 60_000 },
    );
    const { first, second } = JSON.parse(stdout.trim().split("\n").pop()!);
    expect(first).toMatchObject({ retryable: true });
    expect(fake.requests.filter((r) => r.method === "POST" && r.path === "/crm/v3/objects/notes")).toHaveLength(1);
    expect(fake.notes()).toHaveLength(1);
    expect(second).toEqual({ ok: fake.notes()[0].id });
  },
  90_000,
);
