// npm run dashboard:token -- <email>   (local stack only)
// Prints an admin's access token for the dashboard's sign-in form, as GoTrue would issue it (1 hour),
// signed with the local stack's JWT secret. The user is created as an admin when missing; an existing
// user who is not an admin is refused (making one is a decision: see README). On hosted Supabase,
// sign in to your app as the admin instead and copy the session's access_token.
import { randomUUID } from "node:crypto";
import { config, userToken } from "../lib/config.ts";
import { connect } from "../lib/db.ts";

const email = process.argv[2]?.trim().toLowerCase();
if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
  console.error("usage: npm run dashboard:token -- <admin email>");
  process.exit(2);
}
const db = new URL(config.dbUrl);
if (!["127.0.0.1", "localhost", "::1"].includes(db.hostname) || config.env.JWT_SECRET) {
  console.error(
    "dashboard:token mints tokens for the local stack only (127.0.0.1 and its own JWT secret); " +
      "on hosted Supabase, copy the access token of your admin session in your app",
  );
  process.exit(2);
}

const sql = connect();
try {
  let [user] = await sql<{ id: string; role: string | null }[]>`
    select id, raw_app_meta_data ->> 'role' as role from auth.users where lower(email) = ${email}`;
  if (!user) {
    [user] = await sql<{ id: string; role: string | null }[]>`
      insert into auth.users (email, email_confirmed_at, raw_app_meta_data)
      values (${email}, now(), '{"provider": "email", "role": "admin"}') returning id, raw_app_meta_data ->> 'role' as role`;
    console.error(`created the local admin ${email}`);
  }
  if (user.role !== "admin") {
    console.error(
      `${email} is not an admin. On the local stack: update auth.users set raw_app_meta_data = ` +
        `raw_app_meta_data || '{"role": "admin"}' where email = '${email}';`,
    );
    process.exit(1);
  }
  const token = await userToken(user.id, {
    email,
    app_metadata: { provider: "email", role: "admin" },
    session_id: randomUUID(),
  });
  console.error(`paste it into ${config.functionUrl("dashboard")} (valid for 1 hour):`);
  console.log(token);
} finally {
  await sql.end();
}
