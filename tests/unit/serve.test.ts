// The entry skeleton every HTTP function shares (_shared/http/serve.ts): method check before the body
// is read, body limit, clear 4xx messages, and a 5xx whose cause never reaches the caller.
import { describe, expect, test, vi } from "vitest";
import { HttpError } from "../../supabase/functions/_shared/http/error.ts";
import { handle } from "../../supabase/functions/_shared/http/serve.ts";

const post = (body: string) => new Request("http://localhost/fn", { method: "POST", body });

describe("serve(name, handler)", () => {
  test("a method it does not allow is 405 with Allow, and the handler never runs", async () => {
    let ran = false;
    const res = await handle("fn", async () => {
      ran = true;
      return { body: {} };
    }, { methods: ["POST"] })(new Request("http://localhost/fn", { method: "GET" }));
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toEqual({ error: "method not allowed: use POST" });
    expect(ran).toBe(false);
  });

  test("a body over the limit is 413 before the handler sees it", async () => {
    let ran = false;
    const res = await handle("fn", async () => {
      ran = true;
      return { body: {} };
    }, { maxBodyBytes: 10 })(post("x".repeat(11)));
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/body too large: the limit is 10 bytes/);
    expect(ran).toBe(false);
  });

  test("the handler gets the raw body and its reply becomes JSON with its status and headers", async () => {
    const res = await handle(
      "fn",
      async (_req, body) => ({ status: 201, body: { echo: body }, headers: { "x-a": "1" } }),
    )(
      post("héllo"),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-a")).toBe("1");
    expect(await res.json()).toEqual({ echo: "héllo" });
  });

  test("an HttpError 4xx answers its own message", async () => {
    const res = await handle("fn", async () => {
      throw new HttpError(422, "amount must be positive");
    })(post("{}"));
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: "amount must be positive" });
  });

  test("an unexpected error is a 500 with the function's generic message, never the cause, nor in the log", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await handle("fn", async () => {
      throw new Error("password authentication failed for user postgres at db.internal:5432");
    }, { internalMessage: "internal error: nothing was recorded, retry later" })(post("{}"));
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: "internal error: nothing was recorded, retry later" });
    expect(text).not.toMatch(/password|postgres|db\.internal/);
    const line = logged.mock.calls.map((c) => String(c[0])).join("\n");
    logged.mockRestore();
    expect(JSON.parse(line)).toMatchObject({ level: "error", fn: "fn", status: 500, cause: "Error" });
    expect(line).not.toMatch(/password|db\.internal/);
  });

  test("onAnswered hears every answer's status and reason code, and its failure never changes the answer", async () => {
    const heard: unknown[] = [];
    const options = { maxBodyBytes: 10, onAnswered: (a: unknown) => void heard.push(a) };
    const fn = handle("fn", async (_req, body) => {
      if (body === "sig") throw new HttpError(400, "invalid Stripe-Signature", { reason: "signature" });
      if (body === "bad") throw new HttpError(400, "bad");
      if (body === "boom") throw new Error("secret detail");
      return { body: {} };
    }, options);
    await fn(post("ok"));
    await fn(post("sig"));
    await fn(post("bad"));
    await fn(post("boom"));
    await fn(post("x".repeat(11)));
    await fn(new Request("http://localhost/fn", { method: "GET" }));
    expect(heard).toEqual([
      { status: 200, reason: "ok" },
      { status: 400, reason: "signature" },
      { status: 400, reason: "rejected" },
      { status: 500, reason: "internal" },
      { status: 413, reason: "too_large" },
      { status: 405, reason: "method" },
    ]);
    // a client that drops its upload mid-body: a refusal (400), not a failure of ours (5xx pages)
    const dropped = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("{"));
        c.error(new TypeError("connection closed before message completed"));
      },
    });
    heard.length = 0;
    const cut = await fn(
      new Request("http://localhost/fn", { method: "POST", body: dropped, duplex: "half" } as never),
    );
    expect(cut.status).toBe(400);
    expect(heard).toEqual([{ status: 400, reason: "incomplete" }]);
    const failing = handle("fn", async () => {
      throw new HttpError(400, "invalid Stripe-Signature", { reason: "signature" });
    }, {
      onAnswered: () => Promise.reject(new Error("database down")),
    });
    const res = await failing(post("x"));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid Stripe-Signature" });
  });
});
