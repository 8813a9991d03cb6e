// Section "boot": each function's boot to first answer. The gateway is restarted (it spawns every function's
// Deno worker at once, as a deploy or a cold project would), one request per function is sent at once and
// waits for its worker; the gateway's /health tells, per worker, spawn -> port open and spawn -> the end of
// its first answer (tests need no such figure: it is printed, never asserted).
import { apiKeys, config } from "../../lib/config.ts";
import { functionNames } from "../../lib/function-config.ts";
import { startService, stopService, waitHealthy } from "../../stack/stack.ts";
import { log, type Section, sleep } from "../context.ts";

type Boot = { readyMs?: number; firstAnswerMs?: number; firstWaited?: boolean } | null;

/** A GET with the anon key (through verify_jwt): any answer of the function itself will do (405, 401 ...). */
async function firstAnswer(name: string, anon: string, deadline: number): Promise<number> {
  for (;;) {
    try {
      const res = await fetch(config.functionUrl(name), { headers: { authorization: `Bearer ${anon}` } });
      await res.arrayBuffer();
      return res.status;
    } catch (err) {
      // the gateway is not listening yet
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}

export const bootTimes: Section = {
  name: "boot",
  async run(ctx) {
    const names = functionNames();
    const { anon } = await apiKeys();
    log(`boot: restarting the gateway; ${names.length} functions, one request each`);
    stopService("gateway");
    await sleep(300);
    startService("gateway");
    const deadline = Date.now() + 60_000;
    const statuses = await Promise.all(names.map((n) => firstAnswer(n, anon, deadline)));
    await waitHealthy(60_000);
    const health = await (await fetch(`${config.apiUrl}/health`)).json() as { boot?: Record<string, Boot> };
    const boots: Record<string, Boot & { status: number }> = {};
    names.forEach((name, i) => {
      const b = health.boot?.[name] ?? null;
      boots[name] = { ...b, status: statuses[i] };
      ctx.report.add({
        section: "boot",
        figure: `${name}: spawn -> first answer`,
        value: b?.firstAnswerMs ?? null,
        unit: "ms",
        baseline: { label: "spawn -> port open", value: b?.readyMs ?? null, unit: "ms" },
        note: b?.firstWaited === false ? "its request came after it was ready" : undefined,
      });
    });
    ctx.report.details.boot = { functionsBootingAtOnce: names.length, functions: boots };
  },
};
