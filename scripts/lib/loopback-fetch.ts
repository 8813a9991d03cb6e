// fetch from a loopback address of our choosing: 127.0.0.0/8 is all this host's on Linux, so tests and
// the bench can be many clients to the local gateway, which appends the connecting address to
// X-Forwarded-For as hosted Supabase's does. A forged X-Forwarded-For cannot do that, by design.
import http from "node:http";
import { randomInt } from "node:crypto";

/** A loopback address other than 127.0.0.1 (the stack's own), new for each call. */
export function randomLoopback(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** A fetch whose connections leave from `localAddress` (e.g. for createClient's global.fetch). */
export function fetchFrom(localAddress: string): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    const body = req.body === null ? undefined : Buffer.from(await req.arrayBuffer());
    const url = new URL(req.url);
    return await new Promise<Response>((resolve, reject) => {
      const out = http.request({
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: req.method,
        headers: Object.fromEntries(req.headers),
        localAddress,
        signal: req.signal,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            for (const one of [v ?? []].flat()) headers.append(k, one);
          }
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 304 || req.method === "HEAD";
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers }));
        });
      });
      out.on("error", reject);
      out.end(body);
    });
  };
}
