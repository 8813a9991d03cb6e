import { startDatabase } from "../lib/stack.ts";
await startDatabase();
console.log("db ok");
