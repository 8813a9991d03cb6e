// The app as the user-facing functions' callers are: supabase-js signed in with a user's token, connecting
// from a loopback address of its own (the gateway appends it to X-Forwarded-For as hosted's does, so each
// client has its own address budget), and functions.invoke answering the status, body and headers of
// refusals too (supabase-js hands those over as a FunctionsHttpError).
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { apiKeys, config } from "./config.ts";
import { fetchFrom, randomLoopback } from "./loopback-fetch.ts";

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
