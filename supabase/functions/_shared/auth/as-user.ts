// Runs SQL AS a verified user, as PostgREST does: in one transaction, role `authenticated` with the
// user's claims, so RLS, column privileges and private.is_admin() decide. The login role must be a
// member of authenticated and able to do nothing else (support_intake, dashboard).
import type postgres from "postgres";
import type { UserClaims } from "../http/user-jwt.ts";

export function asUser<T>(sql: postgres.Sql, user: UserClaims, work: (tx: postgres.TransactionSql) => Promise<T>) {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(user)}, true),
                    set_config('role', 'authenticated', true)`;
    return await work(tx);
  }) as Promise<T>;
}
