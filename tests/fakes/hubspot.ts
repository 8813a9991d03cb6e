// A HubSpot CRM API fake (node:http on 127.0.0.1) that models what bites: plain creates that duplicate (deals,
// notes) or conflict (contacts, 409), batch upserts that dedupe by idProperty, v4 associations, Bearer auth,
// HubSpot-shaped validation errors, forward-only lifecycle stages, a search index that lags writes, a
// per-10-second request limit, and injected faults (429 + Retry-After, 500, hangs, slow answers, dropped sockets).
//
// Records go away as in a portal: remove() is HubSpot's archive (DELETE /crm/v3/objects/:type/:id, or someone
// deleting it, or another portal connected): reads, writes and associations by its id answer 404 OBJECT_NOT_FOUND,
// and its unique values are free again, so an upsert by email or backbone_order_id creates a new record. merge()
// is POST /crm/v3/objects/:type/merge: the surviving record gets a new id (as HubSpot's merges do now), keeps
// the primary's values and both records' associations, lists the absorbed ids in hs_merged_object_ids, and
// keeps the merged-away email as hs_additional_emails (no new contact can take it). Reading a merged-away id
// (GET by id, batch read) answers the surviving record, with its own id; writing through it (an association
// PUT) answers 404, which HubSpot does not document either way: an adapter must cope with both.
// GDPR delete (POST /crm/v3/objects/contacts/gdpr-delete, 204) removes a contact by id (404 when there is none,
// a merged-away id included), or by email with idProperty "email": an email no contact has is BLOCKLISTED, as
// HubSpot documents, and no contact can be created or upserted with it again (400). GET by id also takes
// ?idProperty=email.
//
// Properties (#19, the doctor): GET /crm/v3/properties/:type lists the portal's properties of a type (name,
// label, type, fieldType, groupName, hasUniqueValue), the defaults below plus `properties`; removeProperty()
// deletes one (a portal where nobody created it yet). A token without the schema scope: see `scopes`.
//
// Faults are set at runtime with setFaults()/failNext() or POST /__fake/faults; state is read with the methods
// below or GET /__fake/state; POST /__fake/reset clears everything. idProperty values match exactly (the fake
// does not lower-case emails), so a caller that forgets to normalise sees the duplicate.
//
// Standalone: `tsx tests/fakes/hubspot.ts` listens on FAKE_HUBSPOT_PORT (default random) and accepts
// HUBSPOT_ACCESS_TOKEN (default a random pat-na1-fake-... token, printed).
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

export type ObjectType = "contacts" | "deals" | "notes";
export type FaultKind = "429" | "500" | "502" | "hang" | "drop" | "slow" | "drop-after";

export type Faults = {
  /** Probability (0..1) per API request of each fault; one draw per request. */
  rate429: number;
  rate500: number;
  /** a load balancer's 502 with an HTML body (not HubSpot's JSON); the request is NOT applied */
  rate502: number;
  /** no answer at all (the client's timeout fires); the request is NOT applied */
  rateHang: number;
  /** socket destroyed without an answer; the request is NOT applied */
  rateDrop: number;
  /** the request IS applied, the answer comes after slowMs (past the client's timeout) */
  rateSlow: number;
  /** the request IS applied, then the socket is destroyed without an answer */
  rateDropAfter: number;
  /** Retry-After sent with injected 429s: a number of seconds, a raw header value (an HTTP date), or null for none */
  retryAfter: number | string | null;
  slowMs: number;
  /** HubSpot's rolling burst limit: requests per 10 s over it answer 429 (no Retry-After, as HubSpot); null = off */
  limitPer10s: number | null;
  /** whether the rolling limit's 429 carries Retry-After (seconds until a request leaves the window) */
  limitRetryAfter: boolean;
};

export type FakeObject = {
  id: string;
  type: ObjectType;
  properties: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** when search starts to see it (HubSpot's index lags writes) */
  indexedAt: number;
};

export type LoggedRequest = {
  at: number;
  method: string;
  path: string;
  status: number | null;
  fault?: FaultKind | "rate-limit" | "unauthorized";
};

export type FakeHubSpotOptions = {
  port?: number;
  token?: string;
  faults?: Partial<Faults>;
  random?: () => number;
  searchLagMs?: number;
  /** unique (idProperty-capable) properties; default contacts: email, deals: backbone_order_id, notes: none */
  uniqueProperties?: Partial<Record<ObjectType, string[]>>;
  /** extra custom properties the portal defines, on top of the defaults below */
  properties?: Partial<Record<ObjectType, string[]>>;
  /** false: the token lacks crm.schemas.*.read, and GET /crm/v3/properties answers 403 MISSING_SCOPES */
  schemaScopes?: boolean;
  /** default properties the portal lacks (a new portal: the backbone_* custom ones, until npm run setup) */
  missingProperties?: Partial<Record<ObjectType, string[]>>;
};

export interface FakeHubSpot {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  setFaults(faults: Partial<Faults>): void;
  /** Deletes a property definition from the portal (#19: the doctor's broken fixture). */
  removeProperty(type: ObjectType, name: string): void;
  /** The next `count` API requests (whose "METHOD /path?query" matches `match`, if given) get this fault. */
  failNext(kind: FaultKind, opts?: { count?: number; match?: RegExp | string }): void;
  contacts(email?: string): FakeObject[];
  deals(orderKey?: string): FakeObject[];
  notes(): FakeObject[];
  /** ids of `toType` objects associated to (type, id) */
  associations(type: ObjectType, id: string, toType: ObjectType): string[];
  /** Deletes (archives) a record, as someone in the portal would: see the header. */
  remove(type: ObjectType, id: string): void;
  /** Merges `idToMerge` into `primaryId`, as HubSpot's merge does; returns the surviving record's new id. */
  merge(type: ObjectType, primaryId: string, idToMerge: string): string;
  /** Emails a GDPR delete by email blocklisted (it named no contact). */
  blocklist(): string[];
  /** The properties the portal defines for a type (#19: GET/POST /crm/v3/properties/:type), and those created
   * through the API, with what they were created with. */
  properties(type: ObjectType): string[];
  createdProperties(): Array<{ type: ObjectType; definition: Record<string, unknown> }>;
  readonly requests: LoggedRequest[];
  snapshot(): FakeSnapshot;
  reset(): void;
  close(): Promise<void>;
}

export type FakeSnapshot = {
  contactsByEmail: Record<string, { count: number; ids: string[] }>;
  dealsByOrderKey: Record<string, { count: number; ids: string[] }>;
  notes: Array<{ id: string; body: string; deals: string[]; contacts: string[] }>;
  requests: LoggedRequest[];
  faults: Faults;
};

const NO_FAULTS: Faults = {
  rate429: 0,
  rate500: 0,
  rate502: 0,
  rateHang: 0,
  rateDrop: 0,
  rateSlow: 0,
  rateDropAfter: 0,
  retryAfter: 2,
  slowMs: 15_000,
  limitPer10s: null,
  limitRetryAfter: false,
};

const KNOWN_PROPERTIES: Record<ObjectType, string[]> = {
  contacts: [
    "email",
    "firstname",
    "lastname",
    "phone",
    "lifecyclestage",
    "backbone_billing_status",
    "backbone_seller_status",
  ],
  deals: [
    "dealname",
    "amount",
    "deal_currency_code",
    "pipeline",
    "dealstage",
    "closedate",
    "backbone_order_id",
    "backbone_refunded_amount",
    "backbone_needs_review",
  ],
  notes: ["hs_note_body", "hs_timestamp", "hubspot_owner_id"],
};
const NUMBER_PROPERTIES = new Set(["amount", "backbone_refunded_amount"]);
const CHECKBOX_PROPERTIES = new Set(["backbone_needs_review"]);

function propertyDefinition(type: ObjectType, name: string, hasUniqueValue: boolean) {
  const kind = NUMBER_PROPERTIES.has(name)
    ? { type: "number", fieldType: "number" }
    : CHECKBOX_PROPERTIES.has(name)
    ? { type: "bool", fieldType: "booleancheckbox" }
    : { type: "string", fieldType: "text" };
  return {
    name,
    label: name,
    ...kind,
    groupName: type === "deals" ? "dealinformation" : type === "contacts" ? "contactinformation" : "note",
    hasUniqueValue,
    hidden: false,
    calculated: false,
    formField: true,
  };
}

const LIFECYCLE_ORDER = [
  "subscriber",
  "lead",
  "marketingqualifiedlead",
  "salesqualifiedlead",
  "opportunity",
  "customer",
  "evangelist",
  "other",
];
const DEFAULT_PIPELINE_STAGES = [
  "appointmentscheduled",
  "qualifiedtobuy",
  "presentationscheduled",
  "decisionmakerboughtin",
  "contractsent",
  "closedwon",
  "closedlost",
];
// HubSpot's default (HUBSPOT_DEFINED) association type ids, by "from->to"
const ASSOCIATION_TYPE: Record<string, number> = {
  "deals->contacts": 3,
  "contacts->deals": 4,
  "notes->contacts": 202,
  "contacts->notes": 201,
  "notes->deals": 214,
  "deals->notes": 213,
};
const TYPES: ObjectType[] = ["contacts", "deals", "notes"];
const EMAIL_RE = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };
type Invalid = { name: string; error: string; message: string };

const isType = (t: string | undefined): t is ObjectType => TYPES.includes(t as ObjectType);

function error(status: number, category: string, message: string, extra: Record<string, unknown> = {}): Reply {
  return { status, body: { status: "error", message, correlationId: randomUUID(), category, ...extra } };
}

function validationError(invalid: Invalid[]): Reply {
  const list = invalid.map((i) => ({ isValid: false, ...i, localizedErrorMessage: i.message }));
  return error(400, "VALIDATION_ERROR", `Property values were not valid: ${JSON.stringify(list)}`);
}

export async function startFakeHubSpot(options: FakeHubSpotOptions = {}): Promise<FakeHubSpot> {
  const token = options.token ?? `pat-na1-fake-${randomUUID()}`;
  const random = options.random ?? Math.random;
  const searchLagMs = options.searchLagMs ?? 2_000;
  const unique: Record<ObjectType, string[]> = {
    contacts: options.uniqueProperties?.contacts ?? ["email"],
    deals: options.uniqueProperties?.deals ?? ["backbone_order_id"],
    notes: options.uniqueProperties?.notes ?? [],
  };
  const known: Record<ObjectType, Set<string>> = {
    contacts: new Set([...KNOWN_PROPERTIES.contacts, ...(options.properties?.contacts ?? [])]),
    deals: new Set([...KNOWN_PROPERTIES.deals, ...(options.properties?.deals ?? [])]),
    notes: new Set([...KNOWN_PROPERTIES.notes, ...(options.properties?.notes ?? [])]),
  };
  for (const [type, names] of Object.entries(options.missingProperties ?? {})) {
    for (const name of names ?? []) known[type as ObjectType].delete(name);
  }
  const createdProperties: Array<{ type: ObjectType; definition: Record<string, unknown> }> = [];

  let faults: Faults = { ...NO_FAULTS, ...options.faults };
  let queued: Array<{ kind: FaultKind; match?: RegExp | string }> = [];
  let nextId = 1001;
  let objects = new Map<string, FakeObject>(); // by id (ids are unique across types, as HubSpot's are not, harmless)
  let links = new Map<string, Set<string>>(); // "type:id" -> Set of "type:id", both directions
  let mergedInto = new Map<string, string>(); // a merged-away id -> the id that absorbed it
  let blocklisted = new Set<string>(); // emails a GDPR delete by email found no contact for
  let window: number[] = [];
  const requests: LoggedRequest[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const all = (type: ObjectType) => [...objects.values()].filter((o) => o.type === type);
  const find = (type: ObjectType, id: string) => {
    const o = objects.get(id);
    return o?.type === type ? o : undefined;
  };
  /** What reading an id answers: the record, or the one a merge folded it into. */
  const resolve = (type: ObjectType, id: string): FakeObject | undefined => {
    let to = id;
    for (let hops = 0; mergedInto.has(to) && hops < 100; hops++) to = mergedInto.get(to)!;
    return find(type, to);
  };
  const linked = (type: ObjectType, id: string, toType: ObjectType) =>
    [...(links.get(`${type}:${id}`) ?? [])].filter((k) => k.startsWith(`${toType}:`)).map((k) =>
      k.slice(toType.length + 1)
    );
  const link = (a: [ObjectType, string], b: [ObjectType, string]) => {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const key = `${x[0]}:${x[1]}`;
      if (!links.has(key)) links.set(key, new Set());
      links.get(key)!.add(`${y[0]}:${y[1]}`);
    }
  };
  const unlink = (type: ObjectType, id: string): string[] => {
    const keys = [...(links.get(`${type}:${id}`) ?? [])];
    for (const k of keys) links.get(k)?.delete(`${type}:${id}`);
    links.delete(`${type}:${id}`);
    return keys;
  };
  function remove(type: ObjectType, id: string) {
    if (!find(type, id)) throw new Error(`fake HubSpot: no ${type} ${id} to remove`);
    objects.delete(id);
    unlink(type, id);
  }
  function merge(type: ObjectType, primaryId: string, idToMerge: string): string {
    const primary = find(type, primaryId);
    const other = find(type, idToMerge);
    if (!primary || !other || primaryId === idToMerge) {
      throw new Error(`fake HubSpot: cannot merge ${type} ${idToMerge} into ${primaryId}`);
    }
    const now = new Date().toISOString();
    const survivor: FakeObject = {
      id: String(nextId++),
      type,
      properties: { ...other.properties, ...primary.properties },
      createdAt: primary.createdAt,
      updatedAt: now,
      indexedAt: Date.now() + searchLagMs,
    };
    const absorbed = [primary, other].flatMap((o) => [o.id, ...(o.properties.hs_merged_object_ids?.split(";") ?? [])]);
    survivor.properties.hs_merged_object_ids = absorbed.join(";");
    const emails = [
      primary.properties.hs_additional_emails,
      other.properties.email,
      other.properties.hs_additional_emails,
    ]
      .filter((e): e is string => !!e && e !== primary.properties.email);
    if (type === "contacts" && emails.length) survivor.properties.hs_additional_emails = emails.join(";");
    objects.set(survivor.id, survivor);
    for (const o of [primary, other]) {
      objects.delete(o.id);
      mergedInto.set(o.id, survivor.id);
      for (const k of unlink(type, o.id)) {
        const [t, i] = k.split(":") as [ObjectType, string];
        link([type, survivor.id], [t, i]);
      }
    }
    return survivor.id;
  }
  const view = (o: FakeObject, extra: Record<string, unknown> = {}) => ({
    id: o.id,
    properties: {
      ...o.properties,
      hs_object_id: o.id,
      createdate: o.createdAt,
      hs_lastmodifieddate: o.updatedAt,
    } as Record<string, string>,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    archived: false,
    ...extra,
  });

  /** HubSpot's checks on property values; also applies forward-only lifecycle stages to `existing`. */
  function validate(type: ObjectType, props: Record<string, unknown>, creating: boolean): Invalid[] {
    const invalid: Invalid[] = [];
    for (const [name, value] of Object.entries(props)) {
      if (!known[type].has(name)) {
        invalid.push({ name, error: "PROPERTY_DOESNT_EXIST", message: `Property "${name}" does not exist` });
      } else if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        invalid.push({ name, error: "INVALID_TYPE", message: `${name} must be a string, number or boolean` });
      }
    }
    const v = (k: string) => (props[k] === undefined ? undefined : String(props[k]));
    if (type === "contacts" && v("email") !== undefined && !EMAIL_RE.test(v("email")!)) {
      invalid.push({ name: "email", error: "INVALID_EMAIL", message: `Email address ${v("email")} is invalid` });
    }
    if (type === "contacts" && v("email") !== undefined && blocklisted.has(v("email")!)) {
      invalid.push({ name: "email", error: "GDPR_BLOCKLISTED", message: "This email address was GDPR-deleted" });
    }
    if (type === "contacts" && v("lifecyclestage") && !LIFECYCLE_ORDER.includes(v("lifecyclestage")!)) {
      invalid.push({
        name: "lifecyclestage",
        error: "INVALID_OPTION",
        message: `${v("lifecyclestage")} was not one of the allowed options: [${LIFECYCLE_ORDER.join(", ")}]`,
      });
    }
    if (type === "deals") {
      for (const k of ["amount", "backbone_refunded_amount"]) {
        if (v(k) !== undefined && v(k) !== "" && !/^-?\d+(\.\d+)?$/.test(v(k)!)) {
          invalid.push({ name: k, error: "INVALID_FLOAT", message: `${v(k)} was not a valid number` });
        }
      }
      if (v("pipeline") !== undefined && v("pipeline") !== "default") {
        invalid.push({
          name: "pipeline",
          error: "INVALID_OPTION",
          message: `${v("pipeline")} is not a valid pipeline`,
        });
      }
      if (v("dealstage") !== undefined && !DEFAULT_PIPELINE_STAGES.includes(v("dealstage")!)) {
        invalid.push({
          name: "dealstage",
          error: "INVALID_OPTION",
          message: `${v("dealstage")} was not one of the allowed options: [${DEFAULT_PIPELINE_STAGES.join(", ")}]`,
        });
      }
    }
    if (type === "notes" && creating && !v("hs_timestamp")) {
      invalid.push({ name: "hs_timestamp", error: "REQUIRED_FIELD", message: "hs_timestamp is required" });
    }
    return invalid;
  }

  function write(type: ObjectType, props: Record<string, unknown>, existing?: FakeObject): FakeObject {
    const now = new Date().toISOString();
    const o = existing ?? {
      id: String(nextId++),
      type,
      properties: {},
      createdAt: now,
      updatedAt: now,
      indexedAt: Date.now() + searchLagMs,
    };
    for (const [k, raw] of Object.entries(props)) {
      const value = String(raw);
      // lifecyclestage only moves forward through the API: an earlier stage is silently ignored
      if (k === "lifecyclestage" && o.properties[k] && value !== "") {
        if (LIFECYCLE_ORDER.indexOf(value) < LIFECYCLE_ORDER.indexOf(o.properties[k])) continue;
      }
      o.properties[k] = value;
    }
    o.updatedAt = now;
    objects.set(o.id, o);
    return o;
  }

  /** The contact an email names: its own, or one a merge kept as an additional email. */
  const contactByEmail = (email: string) =>
    all("contacts").find((c) =>
      c.properties.email === email || (c.properties.hs_additional_emails ?? "").split(";").includes(email)
    );

  const props = (input: unknown): Record<string, unknown> => {
    const p = (input as { properties?: unknown } | null)?.properties;
    return p && typeof p === "object" && !Array.isArray(p) ? p as Record<string, unknown> : {};
  };

  function create(type: ObjectType, body: unknown): Reply {
    const p = props(body);
    const invalid = validate(type, p, true);
    if (invalid.length) return validationError(invalid);
    if (type === "contacts" && p.email !== undefined) {
      const dup = contactByEmail(String(p.email));
      if (dup) return error(409, "CONFLICT", `Contact already exists. Existing ID: ${dup.id}`);
    }
    for (const u of unique[type]) {
      if (type === "contacts" && u === "email") continue;
      const dup = p[u] !== undefined && all(type).find((o) => o.properties[u] === String(p[u]));
      if (dup) return error(409, "CONFLICT", `A ${type} record already has ${u} = ${p[u]}. Existing ID: ${dup.id}`);
    }
    const associations = (body as { associations?: unknown } | null)?.associations;
    const targets: Array<[ObjectType, string]> = [];
    for (const a of Array.isArray(associations) ? associations : []) {
      const toId = String(a?.to?.id ?? "");
      const typeId = Number(a?.types?.[0]?.associationTypeId);
      const toType = TYPES.find((t) => ASSOCIATION_TYPE[`${type}->${t}`] === typeId);
      if (!toType || !find(toType, toId)) {
        return error(400, "VALIDATION_ERROR", `association to ${toId} with type ${typeId} is not valid`);
      }
      targets.push([toType, toId]);
    }
    const o = write(type, p);
    for (const t of targets) link([type, o.id], t);
    return { status: 201, body: view(o) };
  }

  function batchUpsert(type: ObjectType, body: unknown): Reply {
    const inputs = (body as { inputs?: unknown } | null)?.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) {
      return error(400, "VALIDATION_ERROR", "inputs must not be empty");
    }
    const started = new Date().toISOString();
    // HubSpot validates the whole batch first: one bad input fails them all
    const plan: Array<{ idProperty: string; id: string; existing?: FakeObject; properties: Record<string, unknown> }> =
      [];
    for (const input of inputs) {
      const idProperty = String(input?.idProperty ?? "");
      if (!unique[type].includes(idProperty)) {
        return error(
          400,
          "VALIDATION_ERROR",
          `${idProperty || "idProperty"} is not a unique value property of ${type}`,
        );
      }
      if (typeof input?.id !== "string" || input.id === "") {
        return error(400, "VALIDATION_ERROR", "id is required for every input");
      }
      const properties: Record<string, unknown> = { ...props(input), [idProperty]: input.id };
      const existing = type === "contacts" && idProperty === "email"
        ? contactByEmail(input.id)
        : all(type).find((o) => o.properties[idProperty] === input.id);
      // an upsert through a merged-away email updates the survivor, whose primary email stays
      if (existing && properties[idProperty] !== existing.properties[idProperty]) delete properties[idProperty];
      const invalid = validate(type, properties, !existing);
      if (invalid.length) return validationError(invalid);
      plan.push({ idProperty, id: input.id, existing, properties });
    }
    const results = plan.map(({ existing, properties }) => view(write(type, properties, existing), { new: !existing }));
    return {
      status: 200,
      body: { status: "COMPLETE", results, startedAt: started, completedAt: new Date().toISOString() },
    };
  }

  function batchRead(type: ObjectType, body: unknown): Reply {
    const b = body as { inputs?: Array<{ id?: unknown }>; properties?: string[] } | null;
    const wanted = Array.isArray(b?.properties) ? b!.properties : undefined;
    const results = (b?.inputs ?? []).map((i) => resolve(type, String(i?.id))).filter((o): o is FakeObject => !!o)
      .map((o) => {
        const v = view(o);
        if (wanted) v.properties = Object.fromEntries(Object.entries(v.properties).filter(([k]) => wanted.includes(k)));
        return v;
      });
    return { status: 200, body: { status: "COMPLETE", results } };
  }

  function search(type: ObjectType, body: unknown): Reply {
    const filters: Array<{ propertyName?: string; operator?: string; value?: unknown }> =
      (body as { filterGroups?: Array<{ filters?: [] }> } | null)?.filterGroups?.[0]?.filters ?? [];
    const now = Date.now();
    const results = all(type).filter((o) =>
      o.indexedAt <= now &&
      filters.every((f) => f.operator === "EQ" && o.properties[String(f.propertyName)] === String(f.value))
    ).map((o) => view(o));
    return { status: 200, body: { total: results.length, results } };
  }

  // Properties (#19, npm run setup): GET /crm/v3/properties/:type/:name answers the definition (404 when the
  // portal has none), POST /crm/v3/properties/:type creates one (name, label, type, fieldType and groupName
  // required; 409 when it exists, as HubSpot answers). The list (GET /crm/v3/properties/:type) is in route().
  function propertiesRoute(method: string, p: string[], body: unknown): Reply | undefined {
    if (p[0] !== "crm" || p[1] !== "v3" || p[2] !== "properties" || !isType(p[3])) return undefined;
    const type = p[3];
    const definition = (name: string) => ({ name, label: name, type: "string", fieldType: "text", groupName: "x" });
    if (method === "GET" && p.length === 5) {
      const name = decodeURIComponent(p[4]);
      if (!known[type].has(name)) {
        return error(404, "OBJECT_NOT_FOUND", `Unable to find property with name: ${name} for object type: ${type}`);
      }
      const made = createdProperties.find((c) => c.type === type && c.definition.name === name);
      return { status: 200, body: made?.definition ?? definition(name) };
    }
    if (method === "POST" && p.length === 4) {
      const d = (body ?? {}) as Record<string, unknown>;
      const missing = ["name", "label", "type", "fieldType", "groupName"].filter((k) => typeof d[k] !== "string");
      if (missing.length) return error(400, "VALIDATION_ERROR", `Missing required fields: ${missing.join(", ")}`);
      if (known[type].has(d.name as string)) {
        return error(409, "OBJECT_ALREADY_EXISTS", `A property named '${d.name}' already exists.`);
      }
      known[type].add(d.name as string);
      createdProperties.push({ type, definition: d });
      return { status: 201, body: d };
    }
    return undefined;
  }

  function route(method: string, url: URL, body: unknown): Reply {
    const p = url.pathname.split("/").filter(Boolean);
    // /crm/v3/properties/:type (#19)
    if (method === "GET" && p[0] === "crm" && p[1] === "v3" && p[2] === "properties" && p.length === 4) {
      if (!isType(p[3])) return error(404, "OBJECT_NOT_FOUND", `Unable to infer object type from: ${p[3]}`);
      if (options.schemaScopes === false) {
        return error(
          403,
          "MISSING_SCOPES",
          "This app hasn't been granted all required scopes to make this call.",
          {
            errors: [{
              message: `One or more of the following scopes are required.`,
              context: { requiredGranularScopes: [`crm.schemas.${p[3]}.read`] },
            }],
          },
        );
      }
      return {
        status: 200,
        body: {
          results: [...known[p[3]]].map((name) =>
            propertyDefinition(p[3] as ObjectType, name, name !== "email" && unique[p[3] as ObjectType].includes(name))
          ),
        },
      };
    }
    const propertiesReply = propertiesRoute(method, p, body);
    if (propertiesReply) return propertiesReply;
    // /crm/v3/objects/:type[/...]
    if (p[0] === "crm" && p[1] === "v3" && p[2] === "objects" && isType(p[3])) {
      const type = p[3];
      if (method === "POST" && p.length === 4) return create(type, body);
      if (method === "POST" && p[4] === "batch" && p[5] === "upsert") return batchUpsert(type, body);
      if (method === "POST" && p[4] === "batch" && p[5] === "read") return batchRead(type, body);
      if (method === "POST" && p[4] === "search") return search(type, body);
      if (method === "GET" && p.length === 5) {
        const key = decodeURIComponent(p[4]);
        const idProperty = url.searchParams.get("idProperty");
        if (idProperty && !unique[type].includes(idProperty)) {
          return error(400, "VALIDATION_ERROR", `${idProperty} is not a unique value property of ${type}`);
        }
        const o = !idProperty
          ? resolve(type, key)
          : type === "contacts" && idProperty === "email"
          ? contactByEmail(key)
          : all(type).find((x) => x.properties[idProperty] === key);
        return o ? { status: 200, body: view(o) } : error(404, "OBJECT_NOT_FOUND", "resource not found");
      }
      if (method === "POST" && type === "contacts" && p[4] === "gdpr-delete" && p.length === 5) {
        const b = body as { objectId?: unknown; idProperty?: unknown } | null;
        const objectId = typeof b?.objectId === "string" ? b.objectId : "";
        if (!objectId) return error(400, "VALIDATION_ERROR", "objectId is required");
        if (b?.idProperty !== undefined && b.idProperty !== "email") {
          return error(400, "VALIDATION_ERROR", `${String(b.idProperty)} is not a unique value property of contacts`);
        }
        const o = b?.idProperty === "email" ? contactByEmail(objectId) : find("contacts", objectId);
        if (o) remove("contacts", o.id);
        else if (b?.idProperty === "email") blocklisted.add(objectId);
        else return error(404, "OBJECT_NOT_FOUND", `contacts ${objectId} not found`);
        return { status: 204 };
      }
      if (method === "DELETE" && p.length === 5) {
        if (find(type, decodeURIComponent(p[4]))) remove(type, decodeURIComponent(p[4]));
        return { status: 204 };
      }
      if (method === "POST" && p[4] === "merge" && p.length === 5) {
        const b = body as { primaryObjectId?: unknown; objectIdToMerge?: unknown } | null;
        const [a, c] = [String(b?.primaryObjectId ?? ""), String(b?.objectIdToMerge ?? "")];
        if (!find(type, a) || !find(type, c) || a === c) {
          return error(400, "VALIDATION_ERROR", "cannot merge these ids");
        }
        return { status: 200, body: view(find(type, merge(type, a, c))!) };
      }
    }
    // /crm/v4/objects/:from/:id/associations/default/:to/:toId and /crm/v4/objects/:from/:id/associations/:to
    if (p[0] === "crm" && p[1] === "v4" && p[2] === "objects" && isType(p[3]) && p[5] === "associations") {
      const from = p[3];
      const id = decodeURIComponent(p[4]);
      if (method === "PUT" && p[6] === "default" && isType(p[7]) && p.length === 9) {
        const to = p[7];
        const toId = decodeURIComponent(p[8]);
        if (!find(from, id) || !find(to, toId)) {
          return error(404, "OBJECT_NOT_FOUND", `${from} ${id} or ${to} ${toId} not found`);
        }
        link([from, id], [to, toId]);
        const spec = { associationCategory: "HUBSPOT_DEFINED", associationTypeId: ASSOCIATION_TYPE[`${from}->${to}`] };
        return {
          status: 200,
          body: {
            status: "COMPLETE",
            results: [{ from: { id }, to: { id: toId }, associationSpec: spec }],
            startedAt: new Date().toISOString(),
            completedAt: new Date().toISOString(),
          },
        };
      }
      if (method === "GET" && isType(p[6]) && p.length === 7) {
        const to = p[6];
        if (!find(from, id)) return error(404, "OBJECT_NOT_FOUND", `${from} ${id} not found`);
        const limit = Math.min(Number(url.searchParams.get("limit") ?? 500) || 500, 500);
        const offset = Number(url.searchParams.get("after") ?? 0) || 0;
        const ids = linked(from, id, to);
        const page = ids.slice(offset, offset + limit).map((toId) => ({
          toObjectId: Number(toId),
          associationTypes: [{ category: "HUBSPOT_DEFINED", typeId: ASSOCIATION_TYPE[`${from}->${to}`], label: null }],
        }));
        const more = offset + limit < ids.length;
        return {
          status: 200,
          body: { results: page, ...(more ? { paging: { next: { after: String(offset + limit) } } } : {}) },
        };
      }
    }
    return error(404, "OBJECT_NOT_FOUND", `no route for ${method} ${url.pathname}`);
  }

  function pickFault(request: string): FaultKind | undefined {
    const i = queued.findIndex((q) =>
      q.match === undefined || (typeof q.match === "string" ? request.includes(q.match) : q.match.test(request))
    );
    if (i >= 0) return queued.splice(i, 1)[0].kind;
    const draw = random();
    let edge = 0;
    const table: Array<[FaultKind, number]> = [
      ["429", faults.rate429],
      ["500", faults.rate500],
      ["502", faults.rate502],
      ["hang", faults.rateHang],
      ["drop", faults.rateDrop],
      ["slow", faults.rateSlow],
      ["drop-after", faults.rateDropAfter],
    ];
    for (const [kind, rate] of table) {
      edge += rate;
      if (draw < edge) return kind;
    }
    return undefined;
  }

  function queue(kind: FaultKind, opts: { count?: number; match?: RegExp | string } = {}) {
    for (let i = 0; i < (opts.count ?? 1); i++) queued.push({ kind, match: opts.match });
  }

  function snapshot(): FakeSnapshot {
    const group = (type: ObjectType, prop: string) => {
      const out: Record<string, { count: number; ids: string[] }> = {};
      for (const o of all(type)) {
        const k = o.properties[prop];
        if (k === undefined) continue;
        out[k] ??= { count: 0, ids: [] };
        out[k].count++;
        out[k].ids.push(o.id);
      }
      return out;
    };
    return {
      contactsByEmail: group("contacts", "email"),
      dealsByOrderKey: group("deals", "backbone_order_id"),
      notes: all("notes").map((n) => ({
        id: n.id,
        body: n.properties.hs_note_body ?? "",
        deals: linked("notes", n.id, "deals"),
        contacts: linked("notes", n.id, "contacts"),
      })),
      requests: [...requests],
      faults: { ...faults },
    };
  }

  function reset() {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    faults = { ...NO_FAULTS, ...options.faults };
    queued = [];
    objects = new Map();
    links = new Map();
    mergedInto = new Map();
    blocklisted = new Set();
    window = [];
    requests.length = 0;
  }

  function send(res: ServerResponse, reply: Reply, extraHeaders: Record<string, string> = {}) {
    if (res.destroyed || res.writableEnded) return;
    const payload = reply.body === undefined ? "" : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      "content-type": "application/json;charset=utf-8",
      "content-length": Buffer.byteLength(payload),
      ...extraHeaders,
      ...reply.headers,
    });
    res.end(payload);
  }

  function control(method: string, url: URL, body: unknown): Reply {
    if (method === "GET" && url.pathname === "/__fake/state") return { status: 200, body: snapshot() };
    if (method === "POST" && url.pathname === "/__fake/reset") {
      reset();
      return { status: 204 };
    }
    if (method === "POST" && url.pathname === "/__fake/faults") {
      // { "rate500": 0.1, ... } and/or { "next": { "kind": "drop", "count": 1, "match": "/batch/upsert" } }
      const { next, ...rest } = (body ?? {}) as Partial<Faults> & {
        next?: { kind: FaultKind; count?: number; match?: string };
      };
      faults = { ...faults, ...rest };
      if (next) queue(next.kind, next);
      return { status: 200, body: faults };
    }
    return error(404, "OBJECT_NOT_FOUND", "unknown fake control route");
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, error(400, "VALIDATION_ERROR", "Invalid input JSON: the body could not be parsed"));
      }
    }
    if (url.pathname.startsWith("/__fake/")) return send(res, control(method, url, body));

    const entry: LoggedRequest = { at: Date.now(), method, path: url.pathname + url.search, status: null };
    requests.push(entry);
    const reply = (r: Reply, headers: Record<string, string> = {}) => {
      entry.status = r.status;
      send(res, r, headers);
    };

    if (req.headers.authorization !== `Bearer ${token}`) {
      entry.fault = "unauthorized";
      return reply(error(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
      ));
    }

    const now = Date.now();
    const limit = faults.limitPer10s;
    const limitHeaders: Record<string, string> = {};
    if (limit !== null) {
      window = window.filter((t) => now - t < 10_000);
      limitHeaders["x-hubspot-ratelimit-interval-milliseconds"] = "10000";
      limitHeaders["x-hubspot-ratelimit-max"] = String(limit);
      if (window.length >= limit) {
        entry.fault = "rate-limit";
        limitHeaders["x-hubspot-ratelimit-remaining"] = "0";
        if (faults.limitRetryAfter) {
          limitHeaders["retry-after"] = String(Math.max(1, Math.ceil((window[0] + 10_000 - now) / 1000)));
        }
        return reply(
          error(429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit.", {
            errorType: "RATE_LIMIT",
            policyName: "TEN_SECONDLY_ROLLING",
          }),
          limitHeaders,
        );
      }
      window.push(now);
      limitHeaders["x-hubspot-ratelimit-remaining"] = String(limit - window.length);
    }

    const fault = pickFault(`${method} ${entry.path}`);
    if (fault) entry.fault = fault;
    if (fault === "429") {
      const headers: Record<string, string> = faults.retryAfter === null
        ? {}
        : { "retry-after": String(faults.retryAfter) };
      return reply(
        error(429, "RATE_LIMITS", "You have reached your secondly limit.", {
          errorType: "RATE_LIMIT",
          policyName: "SECONDLY",
        }),
        { ...limitHeaders, ...headers },
      );
    }
    if (fault === "500") return reply(error(500, "INTERNAL_ERROR", "internal error"), limitHeaders);
    if (fault === "502") {
      res.writeHead(502, { "content-type": "text/html" });
      return res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
    }
    if (fault === "hang") return; // never answered: the client's timeout (or close()) ends it
    if (fault === "drop") return req.socket.destroy();

    const result = route(method, url, body);
    if (fault === "drop-after") return req.socket.destroy();
    if (fault === "slow") {
      const t = setTimeout(() => {
        timers.delete(t);
        reply(result, limitHeaders);
      }, faults.slowMs);
      timers.add(t);
      return;
    }
    reply(result, limitHeaders);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, error(500, "INTERNAL_ERROR", "fake crashed"));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    token,
    removeProperty(type, name) {
      known[type].delete(name);
      unique[type] = unique[type].filter((u) => u !== name);
    },
    setFaults(f) {
      faults = { ...faults, ...f };
    },
    failNext: queue,
    contacts: (email) => all("contacts").filter((c) => email === undefined || c.properties.email === email),
    deals: (orderKey) =>
      all("deals").filter((d) => orderKey === undefined || d.properties.backbone_order_id === orderKey),
    notes: () => all("notes"),
    associations: linked,
    remove,
    merge,
    blocklist: () => [...blocklisted],
    requests,
    snapshot,
    reset,
    properties: (type) => [...known[type]].sort(),
    createdProperties: () => createdProperties.map((c) => ({ ...c })),
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const fake = await startFakeHubSpot({
    port: Number(process.env.FAKE_HUBSPOT_PORT) || undefined,
    token: process.env.HUBSPOT_ACCESS_TOKEN || undefined,
  });
  // print the token only when the fake made it up: one passed in may be a real one
  const token = process.env.HUBSPOT_ACCESS_TOKEN ? "(HUBSPOT_ACCESS_TOKEN)" : fake.token;
  console.log(JSON.stringify({ msg: "fake HubSpot listening", url: fake.url, token }));
}
