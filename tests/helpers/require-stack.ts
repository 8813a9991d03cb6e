// globalSetup of the integration tests: stop at once, saying what to run, when no local stack answers.
import { config } from "../../scripts/lib/config.ts";

export default async function requireStack() {
  let problem: string;
  try {
    const res = await fetch(`${config.apiUrl}/health`, { signal: AbortSignal.timeout(5000) });
    if (res.ok) return;
    problem = `${res.status} ${await res.text()}`;
  } catch (err) {
    problem = (err as Error).message;
  }
  throw new Error(
    `the integration tests need the local stack, and ${config.apiUrl}/health answered: ${problem}. ` +
      "Start it with `npm run stack:start` (or run `npm test`, which starts it).",
  );
}
