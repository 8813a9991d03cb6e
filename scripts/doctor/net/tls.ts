// The doctor's TLS probe (#19): one handshake with a host as browsers and Stripe make it (SNI, TLS 1.2 or
// newer), answering what it saw without refusing: the certificate's names and expiry, whether it verifies,
// the protocol. A server that only speaks older TLS is told apart by a second, permissive handshake.
import { readFileSync } from "node:fs";
import { checkServerIdentity, connect, type ConnectionOptions, rootCertificates } from "node:tls";
import type { Lookup } from "./resolve.ts";

export type TlsProbe =
  | {
    ok: true;
    authorized: boolean;
    /** why it does not verify (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, UNABLE_TO_VERIFY_LEAF_SIGNATURE...) */
    authorizationError: string | null;
    protocol: string | null;
    validTo: Date;
    names: string;
  }
  | { ok: false; error: string; protocol?: string | null };

/** The trusted CAs: Node's, plus the file NODE_EXTRA_CA_CERTS names in the deployment's env or the process's
 * (read here, as Node reads the variable only at start). */
export function trustedCas(env: Record<string, string>): string[] | undefined {
  const file = env.NODE_EXTRA_CA_CERTS || process.env.NODE_EXTRA_CA_CERTS;
  return file ? [...rootCertificates, readFileSync(file, "utf8")] : undefined;
}

function handshake(opts: ConnectionOptions, timeoutMs: number): Promise<TlsProbe> {
  return new Promise((resolve) => {
    const socket = connect({ ...opts, rejectUnauthorized: false });
    const done = (r: TlsProbe) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, error: `no TLS handshake within ${timeoutMs} ms` }));
    socket.once("error", (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      const identity = checkServerIdentity(opts.servername!, cert);
      done({
        ok: true,
        authorized: socket.authorized && !identity,
        authorizationError: socket.authorizationError
          ? String(socket.authorizationError)
          : identity
          ? (identity as NodeJS.ErrnoException).code ?? identity.message
          : null,
        protocol: socket.getProtocol(),
        validTo: new Date(cert.valid_to),
        names: cert.subjectaltname ?? `CN=${cert.subject?.CN ?? "?"}`,
      });
    });
  });
}

export async function probeTls(
  host: string,
  port: number,
  opts: { ca?: string[]; lookup?: Lookup; timeoutMs?: number } = {},
): Promise<TlsProbe> {
  const base: ConnectionOptions = {
    host,
    port,
    servername: host,
    ca: opts.ca,
    lookup: opts.lookup as ConnectionOptions["lookup"],
  };
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const first = await handshake({ ...base, minVersion: "TLSv1.2" }, timeoutMs);
  if (first.ok || !/PROTOCOL|VERSION|unsupported/i.test(first.error)) return first;
  const old = await handshake({ ...base, minVersion: "TLSv1", ciphers: "DEFAULT:@SECLEVEL=0" }, timeoutMs);
  return old.ok ? { ok: false, error: first.error, protocol: old.protocol } : first;
}
