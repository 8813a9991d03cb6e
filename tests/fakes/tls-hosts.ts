// HTTPS hosts for the doctor's endpoints checks (#19): a local CA (@peculiar/x509, ECDSA P-256) that issues
// leaf certificates for chosen names and validity (valid, expiring in 5 days, wrong name), and a host that
// answers https and plain http on one port (the first byte tells a TLS handshake from an http request), so a
// URL's http twin on the same port reaches it. TLS options (maxVersion...) pass through.
import { webcrypto } from "node:crypto";
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import type { TlsOptions } from "node:tls";
import "reflect-metadata"; // @peculiar/x509 (tsyringe) needs it loaded first
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY = 86_400_000;

export type Ca = { cert: x509.X509Certificate; keys: CryptoKeyPair; pem: string };
export type Leaf = { cert: string; key: string };

const serial = () => Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString("hex").replace(/^[89a-f]/, "1");
const pemKey = async (k: CryptoKey) =>
  `-----BEGIN PRIVATE KEY-----\n${
    Buffer.from(await webcrypto.subtle.exportKey("pkcs8", k)).toString("base64").match(/.{1,64}/g)!.join("\n")
  }\n-----END PRIVATE KEY-----\n`;

export async function makeCa(): Promise<Ca> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=Doctor Test CA",
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, pem: cert.toString("pem") };
}

/** A server certificate for `names`, issued by `ca`, valid until `days` from now. */
export async function makeLeaf(ca: Ca, names: string[], days = 90): Promise<Leaf> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0]}`,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + days * DAY),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: "dns" as const, value }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert: `${cert.toString("pem")}\n${ca.pem}`, key: await pemKey(keys.privateKey) };
}

export type Host = { port: number; close(): Promise<void> };

/** One port answering https (with `leaf`) and plain http: `https` and `http` handle each. */
export async function startHost(
  leaf: Leaf,
  handlers: { https: RequestListener; http?: RequestListener },
  tls: TlsOptions = {},
): Promise<Host> {
  const https = createHttpsServer({ ...tls, cert: leaf.cert, key: leaf.key }, handlers.https);
  const http = createHttpServer(handlers.http ?? ((_req, res) => res.writeHead(404).end()));
  const sockets = new Set<Socket>();
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("readable", () => {
      const first = socket.read(1) as Buffer | null;
      if (!first) return socket.destroy();
      socket.unshift(first);
      (first[0] === 0x16 ? https : http).emit("connection", socket);
    });
  });
  https.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (front.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => front.close(() => resolve()));
    },
  };
}
