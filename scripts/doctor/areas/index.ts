// The doctor's areas in the order it runs them (issue #19's order: secrets, configuration, stripe,
// endpoints, email, crm, database, monitoring). A new area is a module of this folder and a line here.
import type { Area } from "../types.ts";
import { configuration } from "./configuration.ts";
import { database } from "./database.ts";
import { monitoring } from "./monitoring.ts";
import { secrets } from "./secrets.ts";

export const AREAS: Area[] = [secrets, configuration, database, monitoring];
