// Local functions gateway: http://127.0.0.1:54321/functions/v1/<name>, as `supabase start` serves it.
// Runs each function in its own Deno process (restarted if it dies), injects the env Supabase
// injects, and verifies JWTs where supabase/config.toml says verify_jwt (the default is true).
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import { existsSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { jwtVerify } from "jose";
import { apiKeys, config, LOGIN_ROLES, ROOT } from "../lib/config.ts";
import {
  DENO_RUN_PERMISSIONS,
  denoResolutionArgs,
  type FunctionConfig,
  functionConfigs,
} from "../lib/function-config.ts";
import {
  type Charge,
  chargeCpu,
  idleTimeoutAnswer,
  type LimitReason,
  type Limits,
  processCpuMs,
  processRssMb,
  servedContentType,
  workerLimitAnswer,
} from "./worker-limits.ts";

/** One Deno process running a function: hosted's worker. */
type Worker = {
  child: ChildProcess;
  port: number;
  ready: boolean;
  /** CPU time and memory when it was ready (its boot is not charged) and at the last sample */
  cpuMs?: number;
  bootRssMb?: number;
  /** the requests it is serving, and the last one it answered (charged for what runs after its answer) */
  flights: Set<Flight>;
  lastAnswered?: Flight;
  /** past half its wall clock: it takes no new request */
  retired: boolean;
  /** why the gateway ended it, or why it died (its V8 heap limit) */
  limit?: LimitReason;
  exited: Promise<void>;
  timers: NodeJS.Timeout[];
  /** when it was spawned and ready, and its first answer's end, ms since spawn (a request that arrived while
   * it booted waited for it: spawn to first answer is what that request's caller waited, boot included) */
  spawnedAt: number;
  boot: { readyMs?: number; firstAnswerMs?: number; firstWaited?: boolean };
};

/** A request in flight to a worker: its share of the worker's CPU. */
type Flight = Charge & { warned: boolean };

type Fn = FunctionConfig & {
  /** two ports: a retired worker finishes its requests on one while its replacement boots on the other */
  ports: [number, number];
  /** the worker that takes new requests (booting, or ready) */
  current?: Worker;
  workers: Set<Worker>;
  restarts: number;
  restartTimer?: NodeJS.Timeout;
};

const limits: Limits = config.functionLimits;
const configs = [...functionConfigs(), ...extraFunctions()];
const names = configs.map((f) => f.name);
/** where a retired worker's replacement listens: base + SECOND_SLOT + i (the functions use the first ports) */
const SECOND_SLOT = 20;
if (configs.length > SECOND_SLOT) throw new Error(`the gateway runs at most ${SECOND_SLOT} functions`);
const fns = new Map<string, Fn>(
  configs.map((f, i) => [
    f.name,
    {
      ...f,
      ports: [config.functionsPortBase + i, config.functionsPortBase + SECOND_SLOT + i],
      workers: new Set<Worker>(),
      restarts: 0,
    },
  ]),
);
const keys = await apiKeys();
const jwtKey = new TextEncoder().encode(config.jwtSecret);
let stopping = false;

/** Tests only (GATEWAY_EXTRA_FUNCTIONS_DIR): functions that exist to reach a limit on demand. */
function extraFunctions(): FunctionConfig[] {
  const dir = config.extraFunctionsDir;
  if (!dir) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, "index.ts")))
    .map((d) => ({ name: d.name, entrypoint: join(dir, d.name, "index.ts"), verifyJwt: false }));
}

function functionEnv(port: number): NodeJS.ProcessEnv {
  return {
    ...config.env,
    DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    SUPABASE_URL: config.apiUrl,
    // with the loopback SUPABASE_URL above, what lets functions accept the stack's local-only secrets
    // (isLocalStack in _shared/config/env.ts): elsewhere a placeholder secret stops them at start
    LOCAL_STACK: "1",
    SUPABASE_ANON_KEY: keys.anon,
    SUPABASE_SERVICE_ROLE_KEY: keys.serviceRole,
    SUPABASE_DB_URL: config.dbUrl,
    ...Object.fromEntries(LOGIN_ROLES.map((r) => [`${r.env}_DB_URL`, config.roleDbUrl(r.role)])),
    DASHBOARD_SESSION_SECRET: config.dashboardSessionSecret,
    // legacy HS256 projects set it as a secret; the local stack signs users' tokens with it
    JWT_SECRET: config.jwtSecret,
    RESEND_WEBHOOK_SECRET: config.resendWebhookSecret,
    FOUNDER_EMAIL: config.env.FOUNDER_EMAIL ?? "founder@example.com",
    SUPPORT_ALLOWED_ORIGINS: config.env.SUPPORT_ALLOWED_ORIGINS ?? "http://localhost:3000,http://127.0.0.1:3000",
    STRIPE_WEBHOOK_SECRET: config.stripeWebhookSecret,
    STRIPE_CONNECT_WEBHOOK_SECRET: config.stripeConnectWebhookSecret,
    // where Stripe's hosted onboarding sends the local app's sellers back (seller-onboarding)
    SELLER_ONBOARDING_RETURN_URLS: config.env.SELLER_ONBOARDING_RETURN_URLS ??
      "http://localhost:3000/seller/onboarding/done",
    SELLER_ONBOARDING_REFRESH_URLS: config.env.SELLER_ONBOARDING_REFRESH_URLS ??
      "http://localhost:3000/seller/onboarding",
    // where Stripe's Billing Portal sends the local app's customers back (billing-portal)
    BILLING_PORTAL_RETURN_URLS: config.env.BILLING_PORTAL_RETURN_URLS ?? "http://localhost:3000/billing",
    // where the local app sends buyers back after Checkout (checkout needs STRIPE_SECRET_KEY too: a test key,
    // or a Stripe fake's with STRIPE_API_BASE)
    CHECKOUT_SUCCESS_URLS: config.env.CHECKOUT_SUCCESS_URLS ??
      "http://localhost:3000/checkout/success?session_id={CHECKOUT_SESSION_ID}",
    CHECKOUT_CANCEL_URLS: config.env.CHECKOUT_CANCEL_URLS ?? "http://localhost:3000/checkout/canceled",
    // as `supabase secrets set WORKER_SECRET=...` gives it to every function
    WORKER_SECRET: config.workerSecret,
  };
}

function startWorker(fn: Fn) {
  const busy = new Set([...fn.workers].map((w) => w.port));
  const port = fn.ports.find((p) => !busy.has(p));
  if (port === undefined) return; // both ports held: the next worker to exit starts it
  const deno = join(ROOT, "node_modules/.bin/deno");
  // imports resolve as the CLI bundles them for deployment: the function's import map, nothing else
  const args = [
    "run",
    "--quiet",
    ...DENO_RUN_PERMISSIONS,
    ...denoResolutionArgs(fn),
    // the V8 heap ends at the memory limit ("Reached heap limit": the process dies by SIGTRAP)
    ...(limits.memoryMb ? [`--v8-flags=--max-heap-size=${limits.memoryMb}`] : []),
    fn.entrypoint,
  ];
  // the function writes to the gateway's own stdout and stderr (the log file, or the terminal): relaying
  // its lines through this process cost a read, a split and a write per log line, a line per request
  // and per job; its JSON lines name the function ("fn"), and a crash's stack trace its file
  const child = spawn(deno, args, {
    cwd: ROOT,
    env: functionEnv(port),
    stdio: ["ignore", "inherit", "inherit"],
  });
  let exited!: () => void;
  const w: Worker = {
    child,
    port,
    ready: false,
    flights: new Set(),
    retired: false,
    exited: new Promise((r) => (exited = r)),
    timers: [],
    spawnedAt: performance.now(),
    boot: {},
  };
  fn.workers.add(w);
  fn.current = w;
  void waitListening(fn, w);
  child.on("exit", (code, signal) => {
    w.ready = false;
    for (const t of w.timers) clearTimeout(t);
    fn.workers.delete(w);
    if (!w.limit && signal === "SIGTRAP" && limits.memoryMb) w.limit = "Memory limit exceeded";
    exited();
    if (stopping) return;
    if (w.limit) {
      console.error(`[gateway] ${fn.name} worker ended: ${w.limit}`);
    }
    if (fn.current !== w) {
      // a retired worker's end frees its port: start the replacement if it was waiting for one
      if (!fn.current && !fn.restartTimer) startWorker(fn);
      return;
    }
    fn.current = undefined;
    if (w.limit) return startWorker(fn); // a limit, not a crash: replaced at once
    fn.restarts++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(fn.restarts, 7));
    console.error(`[gateway] ${fn.name} exited (${signal ?? code}); restarting in ${delay} ms`);
    // a stop signal reaches the functions with the gateway's group and may be handled after their exit:
    // a restart scheduled meanwhile must not outlive the gateway (an orphan would hold the port)
    fn.restartTimer = setTimeout(() => {
      fn.restartTimer = undefined;
      if (!stopping && !fn.current) startWorker(fn);
    }, delay);
  });
}

/** A worker is ready once its port accepts connections; its wall clock runs from then. */
async function waitListening(fn: Fn, w: Worker) {
  while (!stopping && w.child.exitCode === null && w.child.signalCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(w.port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) {
      w.ready = true;
      w.boot.readyMs = Math.round(performance.now() - w.spawnedAt);
      fn.restarts = 0;
      w.cpuMs = processCpuMs(w.child.pid!);
      w.bootRssMb = processRssMb(w.child.pid!);
      if (limits.wallClockMs) {
        // as hosted's supervisor: past half its wall clock a worker takes no new request (a fresh one does),
        // at its end it is stopped with whatever still runs (requests in flight, background drains)
        w.timers.push(setTimeout(() => retire(fn, w), limits.wallClockMs / 2));
        w.timers.push(setTimeout(() => end(fn, w, "wall clock time limit reached"), limits.wallClockMs));
      }
      for (const wake of readyWaiters.splice(0)) wake();
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function retire(fn: Fn, w: Worker) {
  if (w.retired || stopping) return;
  w.retired = true;
  if (fn.current === w) startWorker(fn); // it keeps serving until the replacement is ready
}

/** Stops a worker at a limit: its requests in flight are answered as hosted answers them (546). */
function end(fn: Fn, w: Worker, reason: LimitReason) {
  if (w.limit || w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.limit = reason;
  w.ready = false;
  const cut = w.flights.size;
  console.error(`[gateway] ${fn.name}: ${reason}; ending its worker (pid ${w.child.pid}, ${cut} request(s) in flight)`);
  w.child.kill("SIGKILL");
  if (fn.current === w) fn.current = undefined;
  if (!fn.current) startWorker(fn);
}

/** Requests that arrived while no worker of their function was ready wait for one (a cold start). */
const readyWaiters: Array<() => void> = [];

/** The worker a new request goes to: the newest ready one, else an older one still taking requests,
 * else (a replacement booting) the first to be ready; undefined while a crashed function waits to restart. */
async function workerFor(fn: Fn, waitMs = 60_000): Promise<Worker | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const ready = [...fn.workers].filter((w) => w.ready && !w.limit);
    const pick = ready.find((w) => w === fn.current) ?? ready.find((w) => !w.retired) ?? ready[0];
    if (pick) return pick;
    // a crashed function waits out its restart backoff (503); one ended at a limit is being replaced
    const replacing = fn.current || [...fn.workers].some((w) => w.limit);
    if (!replacing || Date.now() >= deadline) return undefined;
    await new Promise<void>((r) => {
      readyWaiters.push(r);
      setTimeout(r, 250).unref();
    });
  }
}

/** Every 100 ms: each worker's CPU since the last sample, charged to its requests, and its memory. */
function sample() {
  for (const fn of fns.values()) {
    for (const w of fn.workers) {
      if (!w.ready || w.limit || w.cpuMs === undefined) continue;
      const pid = w.child.pid!;
      const cpu = processCpuMs(pid);
      if (cpu === undefined) continue;
      const over = chargeCpu(cpu - w.cpuMs, w.flights, w.lastAnswered, limits.cpuMs);
      w.cpuMs = cpu;
      for (const f of [...w.flights, w.lastAnswered]) {
        // hosted's soft limit: worth a line before the hard one ends the worker
        if (f && !f.warned && limits.cpuMs && f.cpuMs >= limits.cpuMs / 2) {
          f.warned = true;
          console.error(
            `[gateway] ${fn.name}: a request has used ${Math.round(f.cpuMs)} ms of CPU (limit ${limits.cpuMs})`,
          );
        }
      }
      if (over) {
        end(fn, w, "CPU Time exceeded");
        continue;
      }
      const rss = processRssMb(pid);
      if (limits.memoryMb && rss !== undefined && w.bootRssMb !== undefined && rss - w.bootRssMb > limits.memoryMb) {
        end(fn, w, "Memory limit exceeded");
      }
    }
  }
}
if (limits.cpuMs || limits.memoryMb) setInterval(sample, 100);

function reply(res: http.ServerResponse, status: number, body: Record<string, unknown>) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** X-Forwarded-For with the connecting address appended, as every proxy does: what the client wrote
 * stays to its left, where no function trusts it. */
function forwardedFor(req: http.IncomingMessage): string {
  const from = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  const sent = [req.headers["x-forwarded-for"]].flat().filter(Boolean).join(", ");
  return sent ? `${sent}, ${from}` : from;
}

async function authorized(req: http.IncomingMessage): Promise<string | null> {
  const header = req.headers.authorization ?? "";
  const token = /^Bearer\s+(.+)$/i.exec(header)?.[1];
  if (!token) return "Missing authorization header";
  try {
    await jwtVerify(token, jwtKey, { algorithms: ["HS256"] });
    return null;
  } catch {
    return "Invalid JWT";
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", config.apiUrl);
  if (url.pathname === "/health") {
    const down = [...fns.values()].filter((f) => ![...f.workers].some((w) => w.ready)).map((f) => f.name);
    // each function's current worker: spawn -> port open, and spawn -> end of its first answer
    const boot = Object.fromEntries([...fns.values()].map((f) => [f.name, f.current?.boot ?? null]));
    return reply(res, down.length ? 503 : 200, { ok: down.length === 0, functions: names, down, boot });
  }
  const m = /^\/functions\/v1\/([a-z0-9-]+)(\/.*)?$/.exec(url.pathname);
  const fn = m ? fns.get(m[1]) : undefined;
  if (!fn) return reply(res, 404, { code: 404, message: "Function not found" });
  if (fn.verifyJwt) {
    const problem = await authorized(req);
    if (problem) return reply(res, 401, { code: 401, message: problem });
  }
  const waited = ![...fn.workers].some((w) => w.ready && !w.limit);
  const w = await workerFor(fn);
  if (!w) return reply(res, 503, { code: 503, message: `function ${fn.name} is starting` });
  if (w.boot.firstWaited === undefined) w.boot.firstWaited = waited;
  proxy(req, res, fn, w, `/${fn.name}${m![2] ?? ""}${url.search}`);
});

function proxy(req: http.IncomingMessage, res: http.ServerResponse, fn: Fn, w: Worker, path: string) {
  let idle: NodeJS.Timeout | undefined;
  const done = () => {
    clearTimeout(idle);
    if (!w.flights.delete(flight)) return;
    w.lastAnswered = flight;
    w.boot.firstAnswerMs ??= Math.round(performance.now() - w.spawnedAt);
  };
  // no answer (or no byte of it) for the idle timeout: 504 as hosted, or the answer is cut; the worker
  // runs on (a job it was running keeps its lease)
  const touch = () => {
    if (!limits.idleTimeoutMs) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      console.error(`[gateway] ${fn.name}: no answer for ${limits.idleTimeoutMs} ms (request idle timeout)`);
      done();
      if (!res.headersSent) send(res, idleTimeoutAnswer());
      else res.destroy();
      upstream.destroy();
    }, limits.idleTimeoutMs);
  };
  const flight: Flight = { cpuMs: 0, warned: false };
  w.flights.add(flight);
  res.once("close", done);
  const upstream = http.request(
    {
      host: "127.0.0.1",
      port: w.port,
      method: req.method,
      path,
      headers: {
        ...req.headers,
        host: `127.0.0.1:${w.port}`,
        "x-forwarded-host": req.headers.host ?? "",
        // as hosted Supabase's API gateway: append the address that connected (TRUSTED_PROXY_HOPS = 1)
        "x-forwarded-for": forwardedFor(req),
      },
      agent: upstreamAgent,
    },
    (up) => {
      touch();
      const headers = { ...up.headers };
      const type = servedContentType(req.method, up.headers["content-type"], limits);
      if (type !== undefined) headers["content-type"] = type;
      res.writeHead(up.statusCode ?? 502, headers);
      up.on("data", touch);
      up.once("end", done);
      // the worker ended mid-answer (a limit): the answer is cut, as hosted cuts it
      up.once("aborted", () => res.destroy());
      up.once("error", () => res.destroy());
      up.pipe(res);
      if (!req.complete) {
        // answered before reading the whole body (413, 405): drop the rest, and the upstream
        // socket with it, so a half-sent body never leaks into the next pooled request
        req.unpipe(upstream);
        req.resume();
        up.once("end", () => upstream.destroy());
      }
    },
  );
  upstream.on("error", async () => {
    if (!w.flights.has(flight)) return; // answered already (the idle timeout)
    // a worker ended at a limit, or killed by its V8 heap limit, answers as hosted does: wait for its exit
    // (its socket may close first) to know which
    await Promise.race([w.exited, new Promise((r) => setTimeout(r, 1000))]);
    done();
    if (res.headersSent) return void res.destroy();
    if (w.limit) send(res, workerLimitAnswer());
    else reply(res, 502, { code: 502, message: `function ${fn.name} did not answer` });
  });
  touch();
  req.pipe(upstream);
}

function send(res: http.ServerResponse, answer: { status: number; headers: Record<string, string>; body: unknown }) {
  res.writeHead(answer.status, answer.headers);
  res.end(JSON.stringify(answer.body));
}

const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
server.keepAliveTimeout = 65_000;

function shutdown() {
  stopping = true;
  for (const fn of fns.values()) for (const w of fn.workers) w.child.kill("SIGTERM");
  server.close();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

for (const fn of fns.values()) startWorker(fn);
server.listen(config.apiPort, "127.0.0.1", () => {
  console.log(`[gateway] listening on ${config.apiUrl}/functions/v1/{${names.join(",")}}`);
});
