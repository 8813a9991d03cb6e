// Runs SQL AS a verified user, as PostgREST does: in one transaction, role `authenticated` with the
// user's claims, so RLS, column privileges and private.is_admin() decide. The login role must be a
// member of authenticated and able to do nothing else (support_intake, dashboard). The request's id
// (x-request-id) is set for the transaction: the jobs and audit rows it writes carry it.
import type postgres from "postgres";
import type { UserClaims } from "../http/user-jwt.ts";
import { requestIdSetting } from "../http/request-id.ts";

export function asUser<T>(sql: postgres.Sql, user: UserClaims, work: (tx: postgres.TransactionSql) => Promise<T>) {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(user)}, true),
                    set_config('role', 'authenticated', true),
                    set_config('backbone.request_id', ${requestIdSetting()}, true)`;
    return await work(tx);
  }) as Promise<T>;
}
