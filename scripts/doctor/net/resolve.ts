// How the doctor's network checks find hosts (#19): the system resolver (dns.lookup: /etc/hosts too), or the
// servers of DNS_SERVERS (host:port, comma-separated) when set, for DNS records and for connecting alike.
import type { LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { Resolver } from "node:dns/promises";
import type { DoctorContext } from "../types.ts";

export function resolver(ctx: Pick<DoctorContext, "dnsServers">): Resolver {
  const r = new Resolver({ timeout: 3_000, tries: 2 });
  if (ctx.dnsServers.length) r.setServers(ctx.dnsServers);
  return r;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
export type Lookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => void;

/** A `lookup` for net/tls/http connections through DNS_SERVERS; undefined (the system's) when not set. */
export function lookupFor(ctx: Pick<DoctorContext, "dnsServers">): Lookup | undefined {
  if (!ctx.dnsServers.length) return undefined;
  const r = resolver(ctx);
  return (hostname, options, callback) => {
    const find = async (): Promise<LookupAddress[]> => {
      if (isIP(hostname)) return [{ address: hostname, family: isIP(hostname) }];
      if (hostname === "localhost") return [{ address: "127.0.0.1", family: 4 }];
      const v4 = await r.resolve4(hostname).catch(() => [] as string[]);
      if (v4.length) return v4.map((address) => ({ address, family: 4 }));
      const v6 = await r.resolve6(hostname).catch(() => [] as string[]);
      return v6.map((address) => ({ address, family: 6 }));
    };
    find().then((list) => {
      if (!list.length) {
        const err: NodeJS.ErrnoException = new Error(`${hostname} has no A or AAAA record`);
        err.code = "ENOTFOUND";
        return callback(err, "", 0);
      }
      if (options.all) callback(null, list);
      else callback(null, list[0].address, list[0].family);
    }, (e) => callback(e, "", 0));
  };
}
