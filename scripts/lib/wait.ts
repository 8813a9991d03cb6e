// Waiting for the pipeline (jobs drained, a ticket written, an email captured): the one polling loop
// of the tests, the demo and the bench.

/** Polls `check` every 250 ms (running `tick` between polls) until it returns something truthy, which
 * it returns; after `timeoutMs` it throws, naming what it waited for and the last answer. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 120_000,
  tick?: () => Promise<unknown>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last as T;
    if (tick) await tick();
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
}
