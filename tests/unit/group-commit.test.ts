// The webhook's group commit (stripe-webhook/group-commit.ts) with a transaction it controls: an idle item
// starts at once, items that arrive while a transaction runs go together into the next, each gets its own
// result, a failed transaction fails each of its items and no other.
import { describe, expect, test } from "vitest";
import { GroupCommit, GroupCommitError } from "../../supabase/functions/stripe-webhook/group-commit.ts";

/** A transaction the test ends: each `run` call is recorded and waits for `commit(i)` or `abort(i, err)`. */
function controlled() {
  const calls: { items: string[]; end: (r: string[] | Error) => void }[] = [];
  const run = (items: string[]) =>
    new Promise<{ v: string }[]>((resolve, reject) => {
      calls.push({
        items,
        end: (r) => (r instanceof Error ? reject(r) : resolve(r.map((v) => ({ v })))),
      });
    });
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { calls, run, settle };
}

describe("group commit", () => {
  test("an item that finds nothing in flight starts its transaction at once, alone", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 10, maxInFlight: 1 });
    const a = gc.submit("a");
    expect(c.calls.map((x) => x.items)).toEqual([["a"]]);
    c.calls[0].end(["A"]);
    expect(await a).toEqual({ v: "A", batch: 1 });
  });

  test("items that arrive while a transaction runs share the next one, each with its own result", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 10, maxInFlight: 1 });
    const first = gc.submit("a");
    const rest = ["b", "c", "d"].map((x) => gc.submit(x));
    expect(c.calls).toHaveLength(1); // nothing starts before the running transaction ends
    c.calls[0].end(["A"]);
    await first;
    await c.settle();
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["b", "c", "d"]]);
    c.calls[1].end(["B", "C", "D"]);
    expect(await Promise.all(rest)).toEqual([
      { v: "B", batch: 3 },
      { v: "C", batch: 3 },
      { v: "D", batch: 3 },
    ]);
  });

  test("a batch holds at most maxBatch items; the rest go into the next", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 2, maxInFlight: 1 });
    const all = ["a", "b", "c", "d"].map((x) => gc.submit(x));
    c.calls[0].end(["A"]);
    await c.settle();
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["b", "c"]]);
    c.calls[1].end(["B", "C"]);
    await c.settle();
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["b", "c"], ["d"]]);
    c.calls[2].end(["D"]);
    expect((await Promise.all(all)).map((r) => r.v)).toEqual(["A", "B", "C", "D"]);
  });

  test("a batch holds at most maxSize of the items' sizes; a larger item goes alone", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, {
      maxBatch: 10,
      maxInFlight: 1,
      size: (x: string) => x.length,
      maxSize: 5,
    });
    const all = ["a", "bb", "ccc", "dddddddd", "e"].map((x) => gc.submit(x));
    for (let i = 0; i < 4; i++) {
      c.calls[i].end(c.calls[i].items.map((x) => x.toUpperCase()));
      await c.settle();
    }
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["bb", "ccc"], ["dddddddd"], ["e"]]);
    expect((await Promise.all(all)).map((r) => r.batch)).toEqual([1, 2, 2, 1, 1]);
  });

  test("a transaction that fails fails each of its items (with its size) and none of the next batch", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 10, maxInFlight: 1 });
    const a = gc.submit("a");
    const failing = ["b", "c"].map((x) => gc.submit(x).catch((e) => e));
    c.calls[0].end(["A"]);
    await a;
    await c.settle();
    const later = gc.submit("d");
    const cause = Object.assign(new Error("could not commit"), { code: "40001" });
    c.calls[1].end(cause);
    for (const e of await Promise.all(failing)) {
      expect(e).toBeInstanceOf(GroupCommitError);
      expect(e).toMatchObject({ batch: 2, cause });
    }
    await c.settle();
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["b", "c"], ["d"]]);
    c.calls[2].end(["D"]);
    expect(await later).toEqual({ v: "D", batch: 1 });
  });

  test("a result list of the wrong length fails the batch rather than answering items with others' results", async () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 10, maxInFlight: 1 });
    const a = gc.submit("a").catch((e) => e);
    c.calls[0].end(["A", "extra"]);
    expect(await a).toBeInstanceOf(GroupCommitError);
  });

  test("with two transactions in flight, a second idle item does not wait for the first", () => {
    const c = controlled();
    const gc = new GroupCommit(c.run, { maxBatch: 10, maxInFlight: 2 });
    void gc.submit("a");
    void gc.submit("b");
    void gc.submit("c");
    expect(c.calls.map((x) => x.items)).toEqual([["a"], ["b"]]);
  });
});
