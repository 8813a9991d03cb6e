// One small Postgres pool per function instance, from a connection URL in the environment.
import postgres from "postgres";

export function connect(envName: string, max = 8) {
  const url = Deno.env.get(envName);
  if (!url) throw new Error(`${envName} is not set`);
  return postgres(url, {
    max,
    idle_timeout: 20,
    connect_timeout: 5,
    prepare: false, // works behind Supavisor's transaction pooler too
    onnotice: () => {},
    connection: { application_name: envName.toLowerCase() },
  });
}
