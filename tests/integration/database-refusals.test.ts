// What callers read when the database refuses: the sentences our SQL raises, and fixed ones in place of
// Postgres's own text (which names tables, columns, constraints and values). Real errors of the local
// Postgres, mapped by the dashboard's and support-intake's one helper.
import { describe, expect, test } from "vitest";
import { refusal } from "../../supabase/functions/dashboard/actions.ts";
import { databaseRefusal, HttpError, raisedByUs } from "../../supabase/functions/_shared/http/error.ts";
import { sql } from "../helpers/db.ts";
import "../helpers/require-stack.ts";

async function errorOf(query: Promise<unknown>): Promise<unknown> {
  try {
    await query;
  } catch (err) {
    return err;
  }
  throw new Error("the statement did not fail");
}

function refused(err: unknown): HttpError {
  try {
    refusal(err);
  } catch (e) {
    return e as HttpError;
  }
  throw new Error("refusal did not throw");
}

describe("database refusals", () => {
  test("our own raise is echoed: it was written for the person reading it", async () => {
    const err = await errorOf(sql`select ops.require_reason('  ')`);
    expect(raisedByUs(err)).toBe("a reason is required: say why (it is kept in the audit log)");
    expect(refused(err)).toMatchObject({ status: 400, message: raisedByUs(err) });
  });

  test("Postgres's own text is never echoed: a fixed sentence with the same status", async () => {
    const cast = await errorOf(sql`select 'not-a-uuid'::uuid`);
    const number = await errorOf(sql`select 'xyz'::int`);
    for (const err of [cast, number]) {
      expect(raisedByUs(err)).toBeUndefined();
      const answer = refused(err);
      expect(answer.status).toBe(400);
      expect(answer.message).toBe("a value in the form is not valid: check it and try again");
      expect(answer.message).not.toMatch(/uuid|syntax|integer/);
    }
    const constraint = await errorOf(
      sql`insert into ops.support_queues (queue, description) values ('Not A Queue', 'x')`,
    );
    expect((constraint as { code: string }).code).toBe("23514");
    expect(refused(constraint)).toMatchObject({
      status: 409,
      message: "not possible in the record's current state: reload the page",
    });
    const intake = databaseRefusal(constraint, { data: "d", constraint: "c" });
    expect(intake).toMatchObject({ status: 400, message: "c" });
  });

  test("what the dashboard does not know stays a 5xx, whose text the caller never reads", async () => {
    const err = await errorOf(sql`select 1 / 0`);
    expect((err as { code: string }).code).toBe("22012");
    expect(() => refusal(err)).toThrow(err as Error);
  });
});
