// The doctor's areas in the order it runs them (issue #19's order: secrets, configuration, stripe,
// endpoints, email, crm, database, monitoring). A new area is a module of this folder and a line here.
import type { Area } from "../types.ts";
import { configuration } from "./configuration.ts";
import { area as crm } from "./crm.ts";
import { database } from "./database.ts";
import { area as email } from "./email.ts";
import { area as endpoints } from "./endpoints.ts";
import { monitoring } from "./monitoring.ts";
import { secrets } from "./secrets.ts";
import { area as stripe } from "./stripe.ts";

export const AREAS: Area[] = [secrets, configuration, stripe, endpoints, email, crm, database, monitoring];
