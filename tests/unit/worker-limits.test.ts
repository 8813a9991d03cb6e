// How the local gateway measures and answers hosted Edge Functions' limits (scripts/stack/worker-limits.ts):
// CPU charged to requests, the content type a GET's HTML goes out with, and /proc readings. The gateway's
// behaviour at each limit, end to end, is tests/integration/hosted-limits.test.ts.
import { describe, expect, test } from "vitest";
import {
  chargeCpu,
  idleTimeoutAnswer,
  processCpuMs,
  processRssMb,
  servedContentType,
  workerLimitAnswer,
} from "../../scripts/stack/worker-limits.ts";

describe("CPU is charged to the requests a worker serves", () => {
  test("a sample's CPU is shared evenly by the requests in flight, and the last answered gets none", () => {
    const a = { cpuMs: 0 }, b = { cpuMs: 0 }, last = { cpuMs: 5 };
    expect(chargeCpu(100, [a, b], last, 2000)).toBeUndefined();
    expect([a.cpuMs, b.cpuMs, last.cpuMs]).toEqual([50, 50, 5]);
  });

  test("with none in flight, what runs is the last answered request's background work (a drain)", () => {
    const last = { cpuMs: 1950 };
    expect(chargeCpu(40, [], last, 2000)).toBeUndefined();
    expect(chargeCpu(20, [], last, 2000)).toBe(last);
    expect(last.cpuMs).toBe(2010);
  });

  test("a worker that answered nothing yet charges nobody, and a limit of 0 never trips", () => {
    expect(chargeCpu(500, [], undefined, 2000)).toBeUndefined();
    const a = { cpuMs: 0 };
    expect(chargeCpu(1e9, [a], undefined, 0)).toBeUndefined();
  });
});

describe("HTML only with a custom domain", () => {
  test.each([
    ["GET", "text/html; charset=utf-8", undefined, "text/plain; charset=utf-8"],
    ["GET", "TEXT/HTML", undefined, "text/plain"],
    ["GET", "text/html; charset=utf-8", "api.example.com", "text/html; charset=utf-8"],
    ["POST", "text/html; charset=utf-8", undefined, "text/html; charset=utf-8"],
    ["GET", "application/json", undefined, "application/json"],
    ["GET", "text/htmlx", undefined, "text/htmlx"],
    ["GET", undefined, undefined, undefined],
  ])("%s answering %s with custom domain %s goes out as %s", (method, type, customDomain, served) => {
    expect(servedContentType(method, type, { customDomain })).toBe(served);
  });
});

test("the answers at a limit are hosted's: 546 WORKER_RESOURCE_LIMIT and 504 IDLE_TIMEOUT, code in sb-error-code", () => {
  expect(workerLimitAnswer()).toMatchObject({
    status: 546,
    headers: { "sb-error-code": "WORKER_RESOURCE_LIMIT" },
    body: { code: "WORKER_RESOURCE_LIMIT" },
  });
  expect(idleTimeoutAnswer()).toMatchObject({
    status: 504,
    headers: { "sb-error-code": "IDLE_TIMEOUT" },
    body: { code: "IDLE_TIMEOUT" },
  });
});

test("a live process's CPU time and memory are read from /proc; a gone one reads undefined", () => {
  const cpu = processCpuMs(process.pid)!;
  expect(cpu).toBeGreaterThanOrEqual(0);
  expect(cpu % 10).toBe(0); // 10 ms ticks
  expect(processRssMb(process.pid)).toBeGreaterThan(1);
  expect(processCpuMs(2 ** 22 + 1)).toBeUndefined(); // above pid_max's ceiling: no such process
  expect(processRssMb(2 ** 22 + 1)).toBeUndefined();
});
