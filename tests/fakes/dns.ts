// A DNS server fake (#19: the doctor's email and endpoints checks): dns2 over UDP on 127.0.0.1, answering A,
// AAAA, TXT, MX and CNAME from the records a test sets (names case-insensitive); an unknown name is NXDOMAIN,
// a known name without the asked type answers no records (NODATA), as real servers do. Point a resolver at
// `server` (host:port).
import dns2 from "dns2";

export type FakeRecords = Record<
  string,
  { A?: string[]; AAAA?: string[]; TXT?: string[]; MX?: Array<{ exchange: string; priority: number }>; CNAME?: string }
>;

export interface FakeDns {
  readonly server: string;
  /** Replaces every record. */
  setRecords(records: FakeRecords): void;
  readonly questions: Array<{ name: string; type: number }>;
  close(): Promise<void>;
}

export async function startFakeDns(records: FakeRecords = {}): Promise<FakeDns> {
  const { Packet } = dns2;
  let zone = new Map<string, FakeRecords[string]>();
  const set = (r: FakeRecords) => {
    zone = new Map(Object.entries(r).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ""), v]));
  };
  set(records);
  const questions: FakeDns["questions"] = [];
  const server = dns2.createServer({
    udp: true,
    handle(request, send) {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      questions.push({ name: q.name, type: q.type });
      const rr = zone.get(q.name.toLowerCase());
      const base = { name: q.name, class: Packet.CLASS.IN, ttl: 60 };
      // dns2 encodes plain objects; its types ask for Resource instances
      const answers = response.answers as unknown as Array<Record<string, unknown>>;
      if (!rr) response.header.rcode = 3; // NXDOMAIN
      else if (q.type === Packet.TYPE.A) {
        for (const address of rr.A ?? []) answers.push({ ...base, type: Packet.TYPE.A, address });
      } else if (q.type === Packet.TYPE.AAAA) {
        for (const address of rr.AAAA ?? []) answers.push({ ...base, type: Packet.TYPE.AAAA, address });
      } else if (q.type === Packet.TYPE.TXT) {
        // long TXT values are split into 255-octet strings, as zone files store them
        for (const t of rr.TXT ?? []) {
          answers.push({ ...base, type: Packet.TYPE.TXT, data: t.match(/.{1,255}/g) ?? [""] });
        }
      } else if (q.type === Packet.TYPE.MX) {
        for (const m of rr.MX ?? []) answers.push({ ...base, type: Packet.TYPE.MX, ...m });
      } else if (q.type === Packet.TYPE.CNAME && rr.CNAME) {
        answers.push({ ...base, type: Packet.TYPE.CNAME, domain: rr.CNAME });
      }
      send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  return {
    server: `127.0.0.1:${addresses.udp!.port}`,
    setRecords: set,
    questions,
    close: () => server.close(),
  };
}
