// The app as the user-facing functions' callers are: supabase-js signed in with a user's token, connecting
// from a loopback address of its own (the gateway appends it to X-Forwarded-For as hosted's does, so each
// client has its own address budget), and functions.invoke answering the status, body and headers of
// refusals too (supabase-js hands those over as a FunctionsHttpError).
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { apiKeys, config } from "./config.ts";
import { fetchFrom, randomLoopback } from "./loopback-fetch.ts";
import type { Sql } from "./db.ts";

export type Answer = { status: number; body: Record<string, unknown>; headers: Headers };

/** supabase-js as the signed-in user whose access token this is, from the address `from`. */
export async function appClient(token: string, from = randomLoopback()): Promise<SupabaseClient> {
  const { anon } = await apiKeys();
  return createClient(config.apiUrl, anon, { accessToken: async () => token, global: { fetch: fetchFrom(from) } });
}

/** client.functions.invoke(fn), with refusals' status and body too. */
export async function invokeFunction(
  client: SupabaseClient,
  fn: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { data, error, response } = await client.functions.invoke(fn, {
    body: body as Record<string, unknown>,
    headers,
  });
  if (error instanceof FunctionsHttpError) {
    const res = error.context as Response;
    return { status: res.status, body: await res.json(), headers: res.headers };
  }
  if (error) throw error;
  return { status: response!.status, body: data, headers: response!.headers };
}

type Row = Record<string, unknown>;
export type SqlAnswer = { rows: Row[]; code?: string; message?: string };

/** A statement as PostgREST runs it for the user (null: the anon key): one transaction, role authenticated with
 * their claims (the local stack has no PostgREST). Its rows, or its refusal's SQLSTATE and message. */
export async function asAppUser(sql: Sql, userId: string | null, statement: string, args: unknown[] = []) {
  const claims = userId ? { sub: userId, role: "authenticated", aud: "authenticated" } : { role: "anon" };
  try {
    const rows = await sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
                      set_config('role', ${userId ? "authenticated" : "anon"}, true)`;
      return await tx.unsafe(statement, args as never[]);
    });
    return { rows: [...rows] } as SqlAnswer;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { rows: [], code: e.code, message: e.message } as SqlAnswer;
  }
}

/** supabase-js rpc(fn, args) as the user: its first row, or its refusal. */
export async function rpcAs(sql: Sql, userId: string | null, fn: string, args: Record<string, unknown>) {
  const names = Object.keys(args);
  const a = await asAppUser(
    sql,
    userId,
    `select * from public.${fn}(${names.map((n, i) => `${n} => $${i + 1}`).join(", ")})`,
    names.map((n) => args[n]),
  );
  return { row: a.rows[0], code: a.code, message: a.message };
}
