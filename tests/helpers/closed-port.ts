// A loopback port nothing listens on (one the kernel just gave out and took back): a "network down" for
// pg_net, real or stand-in. Not a well-known one such as 9, which Node's fetch (the stand-in) refuses to
// dial at all ("bad port") where curl (the real pg_net) gets its connection refused.
import { createServer } from "node:net";

export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  await new Promise((ok) => server.close(ok));
  return port;
}
