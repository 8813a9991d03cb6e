// The doctor's HTTP(S) requests (#19): node:http(s) so that the deployment's CAs and DNS_SERVERS apply, no
// redirects followed, a timeout, the first 64 KiB of the body, and how long the whole answer took.
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { Lookup } from "./resolve.ts";

export type HttpAnswer = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
};

export function fetchOnce(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    ca?: string[];
    lookup?: Lookup;
    timeoutMs?: number;
  } = {},
): Promise<HttpAnswer> {
  const u = new URL(url);
  const started = performance.now();
  const options: RequestOptions = {
    method: opts.method ?? "GET",
    headers: { "user-agent": "stripe-supabase-backbone-doctor", ...opts.headers },
    ca: opts.ca,
    lookup: opts.lookup as RequestOptions["lookup"],
    servername: u.hostname,
    agent: false,
  };
  return new Promise((resolve, reject) => {
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        if (size < 65_536) chunks.push(c);
        size += c.length;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8").slice(0, 65_536),
          ms: performance.now() - started,
        }));
      res.on("error", reject);
    });
    req.setTimeout(
      opts.timeoutMs ?? 10_000,
      () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms`)),
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
