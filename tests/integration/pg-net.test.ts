// Which pg_net this stack runs, and the surface the job engine meets in it: the real extension (built from
// ../shared/vendor/pg_net whenever that source is there, so in CI) or the stand-in of a clone without it.
// The same expectations hold for both, so the stand-in stays faithful where it matters: run this file with
// PG_NET=stand-in and a STACK_DIR of its own to check the stand-in. Requests go to an HTTP server of this
// file's own on loopback; every check waits for pg_net's answer (its worker pauses up to 1 s per batch).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { waitFor } from "../../scripts/lib/wait.ts";
import { wantedPgNet } from "../../scripts/stack/pg-net.ts";
import { clusterPgNet } from "../../scripts/stack/stack.ts";
import { closedPort } from "../helpers/closed-port.ts";
import { sql } from "../helpers/db.ts";

type Seen = { method: string; url: string; contentType?: string; body: string; at: number };
const seen = new Map<string, Seen>();
let server: Server;
let base = "";

beforeAll(async () => {
  server = createServer(async (req: IncomingMessage, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = new URL(req.url!, "http://x").pathname;
    seen.set(path.split("/")[1], {
      method: req.method!,
      url: req.url!,
      contentType: req.headers["content-type"],
      body: Buffer.concat(chunks).toString("utf8"),
      at,
    });
    if (path.endsWith("/empty")) return res.writeHead(204).end();
    if (path.endsWith("/slow")) await new Promise((r) => setTimeout(r, 1500));
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.close();
  await sql.end();
});

type Answer = {
  status_code: number | null;
  content: string | null;
  content_type: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
  created: Date;
};
const answer = (id: string | number) =>
  waitFor(`pg_net's answer to request ${id}`, async () => {
    const [row] = await sql<Answer[]>`
      select status_code, content, content_type, timed_out, error_msg, created from net._http_response where id = ${id}`;
    return row;
  }, 30_000);
const tag = () => `t${Date.now()}${Math.random().toString(36).slice(2, 8)}`;

test("the stack runs the real pg_net whenever its source is there (CI does), else the stand-in", async () => {
  const [{ extversion }] = await sql`select extversion from pg_extension where extname = 'pg_net'`;
  const wanted = wantedPgNet();
  console.log(`pg_net ${extversion}: ${clusterPgNet() === "real" ? "the real extension" : "the stand-in"}`);
  expect(clusterPgNet()).toBe(wanted.kind);
  expect(extversion).toBe(wanted.version);
  if (process.env.CI) expect(wanted.kind).toBe("real");
  const workers = await sql`select 1 from pg_stat_activity
    where backend_type ilike '%pg_net%' or application_name = 'pg_net stand-in'`;
  expect(workers.length, "pg_net's worker (a background worker, or the stand-in's session)").toBeGreaterThan(0);
});

test("http_post refuses a Content-Type other than application/json", async () => {
  await expect(sql`select net.http_post(${`${base}/x`}, '{}'::jsonb, headers => '{"Content-Type": "text/plain"}')`)
    .rejects.toThrow('Content-Type header must be "application/json"');
});

test("http_post sends its JSON body, adds the Content-Type, and URL-encodes params", async () => {
  const t = tag();
  const [{ id }] = await sql`select net.http_post(${`${base}/${t}/post`}, '{"job_id": 7}'::jsonb,
    params => '{"a b": "c&d/é"}'::jsonb, headers => '{"X-Test": "1"}'::jsonb) as id`;
  expect((await answer(id)).status_code).toBe(200);
  expect(seen.get(t)).toMatchObject({
    method: "POST",
    url: `/${t}/post?a%20b=c%26d%2f%c3%a9`, // curl's URL API leaves its escapes in lowercase
    contentType: "application/json",
    body: '{"job_id": 7}',
  });
});

test("a NULL body is sent as no body", async () => {
  const t = tag();
  const [{ id }] = await sql`select net.http_post(${`${base}/${t}/null`}, null::jsonb) as id`;
  await answer(id);
  expect(seen.get(t)?.body).toBe("");
});

test("an empty answer is recorded as NULL content", async () => {
  const t = tag();
  const [{ id }] = await sql`select net.http_get(${`${base}/${t}/empty`}) as id`;
  expect(await answer(id)).toMatchObject({ status_code: 204, content: null, timed_out: false, error_msg: null });
});

test("errors are curl's: a refused connection, and a timeout with its timings", async () => {
  const [{ refused, slow }] =
    await sql`select net.http_get(${`http://127.0.0.1:${await closedPort()}/nothing`}) as refused,
    net.http_get(${`${base}/${tag()}/slow`}, timeout_milliseconds => 300) as slow`;
  expect(await answer(refused)).toMatchObject({ status_code: null, error_msg: "Couldn't connect to server" });
  const timedOut = await answer(slow);
  expect(timedOut).toMatchObject({ status_code: null, timed_out: true });
  expect(timedOut.error_msg).toMatch(/^Timeout of 300 ms reached\. Total time: [\d.]+ ms \(DNS time: /);
});

test("an answer's `created` is when pg_net's batch began, not when the answer came", async () => {
  const t = tag();
  const [{ id }] = await sql`select net.http_get(${`${base}/${t}/slow`}) as id`;
  const a = await answer(id);
  // the server answered 1.5 s after the request arrived; the batch began before the request was sent
  expect(a.status_code).toBe(200);
  expect(a.created.getTime()).toBeLessThanOrEqual(seen.get(t)!.at + 5);
});
