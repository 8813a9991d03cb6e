// The per-address rate limit's address: only the hops the platform's proxies appended count.
import { describe, expect, test } from "vitest";
import { clientAddress, trustedProxyHops } from "../../supabase/functions/_shared/http/client-address.ts";

const req = (headers: Record<string, string>) => new Request("http://fn.test/", { headers });

describe("clientAddress", () => {
  test("the last hop is the one the platform appended; what the client wrote to its left is ignored", () => {
    expect(clientAddress(req({ "x-forwarded-for": "198.51.100.7" }), 1)).toBe("198.51.100.7");
    expect(clientAddress(req({ "x-forwarded-for": "10.0.0.1, 203.0.113.9, 198.51.100.7" }), 1)).toBe("198.51.100.7");
    expect(clientAddress(req({ "x-forwarded-for": "203.0.113.9, 198.51.100.7, 10.1.2.3" }), 2)).toBe("198.51.100.7");
  });

  test("headers a client sets alone name no address", () => {
    expect(clientAddress(req({ "cf-connecting-ip": "203.0.113.9", "x-real-ip": "203.0.113.9" }), 1)).toBeNull();
  });

  test("fewer hops than trusted, or no address in the trusted hop: unknown, never a shared bucket", () => {
    expect(clientAddress(req({}), 1)).toBeNull();
    expect(clientAddress(req({ "x-forwarded-for": "198.51.100.7" }), 2)).toBeNull();
    expect(clientAddress(req({ "x-forwarded-for": "unknown" }), 1)).toBeNull();
    expect(clientAddress(req({ "x-forwarded-for": "1.2.3.4, 999.1.1.1" }), 1)).toBeNull();
  });

  test("IPv6, and IPv4 mapped into IPv6, are addresses too", () => {
    expect(clientAddress(req({ "x-forwarded-for": "2001:DB8::1" }), 1)).toBe("2001:db8::1");
    expect(clientAddress(req({ "x-forwarded-for": "::ffff:198.51.100.7" }), 1)).toBe("198.51.100.7");
  });

  test("TRUSTED_PROXY_HOPS is 1 unless set, and refuses 0 (a function is never reached directly)", () => {
    expect(trustedProxyHops({})).toBe(1);
    expect(trustedProxyHops({ TRUSTED_PROXY_HOPS: "2" })).toBe(2);
    expect(() => trustedProxyHops({ TRUSTED_PROXY_HOPS: "0" })).toThrow(/TRUSTED_PROXY_HOPS/);
  });
});
