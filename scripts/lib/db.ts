// The one Postgres client factory of the scripts, the local stack, the bench and the tests:
// the stack's superuser URL unless told otherwise, a small pool, notices kept out of the output.
import postgres from "postgres";
import { config } from "./config.ts";

export type ConnectOptions = postgres.Options<Record<string, never>>;
export type Sql = ReturnType<typeof connect>;

export function connect(url: string = config.dbUrl, opts: ConnectOptions = {}) {
  return postgres(url, { onnotice: () => {}, max: 4, ...opts });
}
