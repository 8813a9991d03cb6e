// npm run stack:start | stack:stop | stack:reset | stack:status; `template` builds the migrated, stopped
// cluster that tests' own worlds copy (tests/helpers/world.ts runs it).
import { printStatus, resetStack, startDatabase, startStack, stopStack } from "./stack.ts";

const command = process.argv[2];
try {
  switch (command) {
    case "start":
      await startStack();
      await printStatus();
      break;
    case "stop":
      stopStack();
      break;
    case "reset":
      resetStack();
      await startStack();
      await printStatus();
      break;
    case "template":
      await startDatabase();
      stopStack();
      break;
    case "status":
      await printStatus();
      break;
    default:
      console.error("usage: tsx scripts/stack/cli.ts start|stop|reset|status|template");
      process.exit(2);
  }
} catch (err) {
  console.error(`[stack] ${(err as Error).message}`);
  process.exit(1);
}
