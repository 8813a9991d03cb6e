// One small Postgres pool per function instance, from a connection URL in the environment.
import postgres from "postgres";
import { z } from "zod";
import { denoEnv, parseEnv, setting } from "./config/env.ts";

export function connect(envName: string, max = 8) {
  const url = parseEnv(z.object({ [envName]: setting.required() }), denoEnv())[envName];
  return postgres(url, {
    max,
    idle_timeout: 20,
    connect_timeout: 5,
    prepare: false, // works behind Supavisor's transaction pooler too
    onnotice: () => {},
    connection: { application_name: envName.toLowerCase() },
  });
}
