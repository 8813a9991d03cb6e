// npm run advisors [security | performance]: Supabase's advisors (both by default) against the local
// stack; fails on any WARN or ERROR (but the one the local stack's two pg_nets make: scripts/lib/advisors.ts).
import { advisors } from "../lib/advisors.ts";

const type = process.argv[2] ?? "all";
const found = advisors(type, "warn");
for (const l of found) console.log(`${l.level} ${l.name}: ${l.detail}`);
console.log(found.length ? `${found.length} finding(s) at WARN or above` : "no WARN or ERROR");
process.exit(found.some((l) => l.level === "WARN" || l.level === "ERROR") ? 1 : 0);
