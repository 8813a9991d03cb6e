// Local functions gateway: http://127.0.0.1:54321/functions/v1/<name>, as `supabase start` serves it.
// Runs each function in its own Deno process (restarted if it dies), injects the env Supabase
// injects, and verifies JWTs where supabase/config.toml says verify_jwt (the default is true).
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
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

type Fn = FunctionConfig & { port: number; child?: ChildProcess; ready: boolean; restarts: number };

const configs = functionConfigs();
const names = configs.map((f) => f.name);
const fns = new Map<string, Fn>(
  configs.map((f, i) => [f.name, { ...f, port: config.functionsPortBase + i, ready: false, restarts: 0 }]),
);
const keys = await apiKeys();
const jwtKey = new TextEncoder().encode(config.jwtSecret);
let stopping = false;

function functionEnv(fn: Fn): NodeJS.ProcessEnv {
  return {
    ...config.env,
    DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${fn.port}`,
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
    // where the local app sends buyers back after Checkout (checkout needs STRIPE_SECRET_KEY too: a test key,
    // or a Stripe fake's with STRIPE_API_BASE)
    CHECKOUT_SUCCESS_URLS: config.env.CHECKOUT_SUCCESS_URLS ??
      "http://localhost:3000/checkout/success?session_id={CHECKOUT_SESSION_ID}",
    CHECKOUT_CANCEL_URLS: config.env.CHECKOUT_CANCEL_URLS ?? "http://localhost:3000/checkout/canceled",
    // as `supabase secrets set WORKER_SECRET=...` gives it to every function
    WORKER_SECRET: config.workerSecret,
  };
}

function startFunction(fn: Fn) {
  const deno = join(ROOT, "node_modules/.bin/deno");
  // imports resolve as the CLI bundles them for deployment: the function's import map, nothing else
  const args = [
    "run",
    "--quiet",
    ...DENO_RUN_PERMISSIONS,
    ...denoResolutionArgs(fn),
    fn.entrypoint,
  ];
  // the function writes to the gateway's own stdout and stderr (the log file, or the terminal): relaying
  // its lines through this process cost a read, a split and a write per log line, a line per request
  // and per job; its JSON lines name the function ("fn"), and a crash's stack trace its file
  const child = spawn(deno, args, { cwd: ROOT, env: functionEnv(fn), stdio: ["ignore", "inherit", "inherit"] });
  fn.child = child;
  fn.ready = false;
  void waitListening(fn, child);
  child.on("exit", (code, signal) => {
    fn.ready = false;
    if (stopping) return;
    fn.restarts++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(fn.restarts, 7));
    console.error(`[gateway] ${fn.name} exited (${signal ?? code}); restarting in ${delay} ms`);
    // a stop signal reaches the functions with the gateway's group and may be handled after their exit:
    // a restart scheduled meanwhile must not outlive the gateway (an orphan would hold the port)
    setTimeout(() => {
      if (!stopping) startFunction(fn);
    }, delay);
  });
}

/** A function is ready once its port accepts connections. */
async function waitListening(fn: Fn, child: ChildProcess) {
  while (!stopping && fn.child === child && child.exitCode === null) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(fn.port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) {
      fn.ready = true;
      fn.restarts = 0;
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

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
    const down = [...fns.values()].filter((f) => !f.ready).map((f) => f.name);
    return reply(res, down.length ? 503 : 200, { ok: down.length === 0, functions: names, down });
  }
  const m = /^\/functions\/v1\/([a-z0-9-]+)(\/.*)?$/.exec(url.pathname);
  const fn = m ? fns.get(m[1]) : undefined;
  if (!fn) return reply(res, 404, { code: 404, message: "Function not found" });
  if (fn.verifyJwt) {
    const problem = await authorized(req);
    if (problem) return reply(res, 401, { code: 401, message: problem });
  }
  if (!fn.ready) return reply(res, 503, { code: 503, message: `function ${fn.name} is starting` });
  const upstream = http.request(
    {
      host: "127.0.0.1",
      port: fn.port,
      method: req.method,
      path: `/${fn.name}${m![2] ?? ""}${url.search}`,
      headers: {
        ...req.headers,
        host: `127.0.0.1:${fn.port}`,
        "x-forwarded-host": req.headers.host ?? "",
        // as hosted Supabase's API gateway: append the address that connected (TRUSTED_PROXY_HOPS = 1)
        "x-forwarded-for": forwardedFor(req),
      },
      agent: upstreamAgent,
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
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
  upstream.on("error", () => {
    if (!res.headersSent) reply(res, 502, { code: 502, message: `function ${fn.name} did not answer` });
    else res.destroy();
  });
  req.pipe(upstream);
});
const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
server.keepAliveTimeout = 65_000;

function shutdown() {
  stopping = true;
  for (const fn of fns.values()) fn.child?.kill("SIGTERM");
  server.close();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

for (const fn of fns.values()) startFunction(fn);
server.listen(config.apiPort, "127.0.0.1", () => {
  console.log(`[gateway] listening on ${config.apiUrl}/functions/v1/{${names.join(",")}}`);
});
