// What hosted Edge Functions' workers live within, as the local gateway measures and answers it
// (https://supabase.com/docs/guides/functions/limits): a worker process's CPU time and memory read
// from /proc, how CPU is charged to the requests it serves, and the answers hosted gives at a limit.
import { readFileSync } from "node:fs";

export type Limits = {
  /** CPU time per request, its background work (EdgeRuntime.waitUntil) included; 0: off */
  cpuMs: number;
  /** memory a worker may grow by once booted (and its V8 heap); 0: off */
  memoryMb: number;
  /** a worker's life: it takes no new request after half of it, and is ended at its end; 0: off */
  wallClockMs: number;
  /** how long a request may go without its answer (or its answer without a byte); 0: off */
  idleTimeoutMs: number;
  /** the project's custom domain; undefined: text/html answers to GET become text/plain */
  customDomain?: string;
};

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 10 ms. */
const TICK_MS = 10;
const PAGE_BYTES = 4096;

/** A process's CPU time (user + system, all its threads) so far, or undefined once it is gone. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) may hold spaces: count fields from the ")" that ends it
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime: fields 14 and 15
  } catch {
    return undefined;
  }
}

/** A process's resident memory in MB, or undefined once it is gone. */
export function processRssMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, "utf8").split(" ")[1]);
    return (pages * PAGE_BYTES) / (1024 * 1024);
  } catch {
    return undefined;
  }
}

/** One request's share of its worker's CPU. */
export type Charge = { cpuMs: number };

/**
 * Charges a worker's CPU time since the last sample: shared by the requests in flight, else to the last
 * request answered (what runs after an answer is that request's background work: a job worker's drain).
 * Returns the charge over the limit, if any.
 */
export function chargeCpu(
  deltaMs: number,
  inFlight: Iterable<Charge>,
  lastAnswered: Charge | undefined,
  limitMs: number,
): Charge | undefined {
  const flights = [...inFlight];
  const charged = flights.length ? flights : lastAnswered ? [lastAnswered] : [];
  for (const c of charged) c.cpuMs += deltaMs / charged.length;
  return limitMs > 0 ? charged.find((c) => c.cpuMs > limitMs) : undefined;
}

export type LimitReason = "CPU Time exceeded" | "Memory limit exceeded" | "wall clock time limit reached";

/** What hosted answers a request whose worker ran out of CPU, memory or wall clock: 546 with the code
 * WORKER_RESOURCE_LIMIT (WORKER_LIMIT in older docs), also in the sb-error-code header. */
export function workerLimitAnswer() {
  const code = "WORKER_RESOURCE_LIMIT";
  return {
    status: 546,
    headers: { "content-type": "application/json", "sb-error-code": code },
    body: { code, message: "Function failed due to not having enough compute resources (please check logs)" },
  };
}

/** What hosted answers a request that got no answer within the request idle timeout. */
export function idleTimeoutAnswer() {
  const code = "IDLE_TIMEOUT";
  return {
    status: 504,
    headers: { "content-type": "application/json", "sb-error-code": code },
    body: { code, message: "Function did not respond within the request idle timeout" },
  };
}

/** Hosted serves HTML only with a custom domain: otherwise a GET's text/html answer becomes text/plain. */
export function servedContentType(
  method: string | undefined,
  contentType: string | undefined,
  limits: Pick<Limits, "customDomain">,
): string | undefined {
  if (limits.customDomain || method !== "GET" || !contentType) return contentType;
  return contentType.replace(/^\s*text\/html\b/i, "text/plain");
}
