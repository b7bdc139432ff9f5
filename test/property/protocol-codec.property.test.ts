/**
 * The client protocol codec (src/service/protocol-codec.ts) is symmetric, canonical and total, for
 * requests and responses alike: decode(encode(m)) equals m for every message type, and keeps
 * equalling it after the encoded bytes are overwritten (nothing aliases the input); any bytes
 * decode to a message that re-encodes to those very bytes, or throw a Protocol/TooLarge
 * ConcordError, nothing else; prefixes and mutations of valid encodings are refused or decode
 * canonically; a version byte other than 1 is refused by name.
 *
 * A variant added to protocol.ts fails `tsc` here (the arbitraries are keyed by `RequestType` and
 * `ResponseType`) and in the codec (its tag tables are too).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.js";
import type {
  AdminAction,
  WireSession,
  WriteCondition,
  ReadOptions,
  Request,
  RequestType,
  Response,
  ResponseType,
  WireDurability,
  WirePosition,
  WireReadInfo,
  WriteOp,
} from "../../src/service/protocol.js";
import {
  PROTOCOL_CODEC_VERSION,
  REQUEST_TAGS,
  RESPONSE_TAGS,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "../../src/service/protocol-codec.js";
import { codecContract, type Codec } from "./codec-contract.js";
import { checkProperty } from "./prop.js";
import { jsonArb as jsonArbOf } from "./json-arb.js";

const MAX = Number.MAX_SAFE_INTEGER;

/** Small numbers, varint length boundaries and the whole safe range. */
const uintArb = fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 49, MAX), fc.maxSafeNat());

/** Any well-formed string (`binary`: every code point, pairs included), and a few edges. */
const stringArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 6 }) },
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom("", "\uFEFF", "\u0000", "😀", "__proto__"),
);
const keyArb = stringArb.filter((k) => k.length > 0);

/** Peer ids at the edges: ASCII, any code points, the longest, a BOM, NUL. */
const peerIdArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 6 }) },
  fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
  fc.constantFrom("p".repeat(255), `${"😀".repeat(127)}a`, "\uFEFFbom", "\u0000"),
);

const jsonArb = jsonArbOf(3, 3);

const positionArb: fc.Arbitrary<WirePosition> = fc.record({ epoch: uintArb, lsn: uintArb });
const readOptionsArb: fc.Arbitrary<ReadOptions> = fc.record({
  consistency: fc.constantFrom("linearizable" as const, "local" as const),
  maxStalenessMs: fc.option(uintArb, { nil: null }),
  after: fc.option(positionArb, { nil: null }),
  timeoutMs: uintArb,
});
const readInfoArb: fc.Arbitrary<WireReadInfo> = fc.record({
  role: fc.constantFrom("primary", "replica", "leader", "follower"),
  position: positionArb,
  lagLsn: uintArb,
  silentMs: fc.oneof(fc.constant(-1), uintArb),
});
const durabilityArb: fc.Arbitrary<WireDurability> = fc.oneof(
  fc.constant({ level: "local" as const }),
  fc.record({ level: fc.constant("replicas" as const), n: uintArb }),
  fc.constant({ level: "committed" as const }),
);
const writeOpArb: fc.Arbitrary<WriteOp> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key: keyArb, value: jsonArb }),
  fc.record({ kind: fc.constant("delete" as const), key: keyArb }),
);
const optionalJsonArb = fc.option(jsonArb, { nil: undefined });
const conditionArb: fc.Arbitrary<WriteCondition> = fc.oneof(
  fc.record({ test: fc.constant("absent" as const), key: keyArb }),
  fc.record({ test: fc.constant("present" as const), key: keyArb }),
  fc.record({ test: fc.constant("equals" as const), key: keyArb, value: jsonArb }),
);
const sessionArb: fc.Arbitrary<WireSession> = fc.record({ id: uintArb, seq: uintArb, firstUnacked: uintArb });
const actionArb: fc.Arbitrary<AdminAction> = fc.oneof(
  fc.constant({ type: "promote" as const }),
  fc.record({ type: fc.constant("add-learner" as const), node: peerIdArb, url: stringArb }),
  fc.record({ type: fc.constantFrom("promote-learner" as const, "remove" as const, "transfer" as const), node: peerIdArb }),
);

type RequestVariant<T extends RequestType> = Request & { readonly type: T };
type ResponseVariant<T extends ResponseType> = Response & { readonly type: T };

/** One arbitrary per request type; keyed by `RequestType`, so a new variant fails `tsc` here. */
const requestArbs: { readonly [T in RequestType]: fc.Arbitrary<RequestVariant<T>> } = {
  get: fc.record({ type: fc.constant("get"), id: uintArb, doc: peerIdArb, key: keyArb, read: readOptionsArb }),
  entries: fc.record({ type: fc.constant("entries"), id: uintArb, doc: peerIdArb, prefix: stringArb, read: readOptionsArb }),
  write: fc.record({
    type: fc.constant("write"),
    id: uintArb,
    doc: peerIdArb,
    conditions: fc.array(conditionArb, { maxLength: 3 }),
    ops: fc.array(writeOpArb, { maxLength: 4 }),
    durability: durabilityArb,
    session: fc.option(sessionArb, { nil: null }),
  }),
  subscribe: fc.record({ type: fc.constant("subscribe"), id: uintArb, doc: peerIdArb, prefix: stringArb, from: fc.option(positionArb, { nil: null }) }),
  unsubscribe: fc.record({ type: fc.constant("unsubscribe"), id: uintArb, subscription: uintArb }),
  status: fc.record({ type: fc.constant("status"), id: uintArb }),
  hello: fc.record({ type: fc.constant("hello"), id: uintArb }),
  "open-session": fc.record({ type: fc.constant("open-session"), id: uintArb }),
  admin: fc.record({ type: fc.constant("admin"), id: uintArb, action: actionArb }),
};

/** One arbitrary per response type; keyed by `ResponseType`, so a new variant fails `tsc` here. */
const responseArbs: { readonly [T in ResponseType]: fc.Arbitrary<ResponseVariant<T>> } = {
  value: fc.record({ type: fc.constant("value"), id: uintArb, value: optionalJsonArb, info: readInfoArb }),
  entries: fc.record({
    type: fc.constant("entries"),
    id: uintArb,
    entries: fc.array(fc.tuple(keyArb, jsonArb), { maxLength: 4 }),
    info: readInfoArb,
  }),
  written: fc.record({ type: fc.constant("written"), id: uintArb, position: positionArb, replicas: fc.array(peerIdArb, { maxLength: 4 }), succeeded: fc.boolean() }),
  subscribed: fc.record({ type: fc.constant("subscribed"), id: uintArb, subscription: uintArb, position: positionArb, replayed: fc.boolean() }),
  unsubscribed: fc.record({ type: fc.constant("unsubscribed"), id: uintArb }),
  status: fc.record({ type: fc.constant("status"), id: uintArb, status: jsonArb }),
  error: fc.record({
    type: fc.constant("error"),
    id: uintArb,
    code: fc.constantFrom(...ERROR_CODES),
    message: stringArb,
    redirect: fc.option(peerIdArb, { nil: null }),
  }),
  changes: fc.record({
    type: fc.constant("changes"),
    subscription: uintArb,
    position: positionArb,
    changes: fc.array(fc.record({ key: keyArb, value: optionalJsonArb }), { maxLength: 4 }),
  }),
  welcome: fc.record({ type: fc.constant("welcome"), id: uintArb, node: peerIdArb, position: positionArb }),
  "session-opened": fc.record({ type: fc.constant("session-opened"), id: uintArb, session: uintArb }),
  "admin-done": fc.record({ type: fc.constant("admin-done"), id: uintArb, position: positionArb }),
};

const requestArb: fc.Arbitrary<Request> = fc.oneof(...Object.values<fc.Arbitrary<Request>>(requestArbs));
const responseArb: fc.Arbitrary<Response> = fc.oneof(...Object.values<fc.Arbitrary<Response>>(responseArbs));

/** `v` with plain prototypes (fast-check records have none), for `toStrictEqual`. */
const plain = <T>(v: T): T => structuredClone(v);

/** decode(encode(m)) deep-equals m, and still does once the encoded bytes are overwritten. */
function expectRoundTrip<M>(m: M, encode: (m: M) => Uint8Array, decode: (bytes: Uint8Array) => M): void {
  const bytes = encode(m);
  const decoded = decode(bytes);
  expect(decoded).toStrictEqual(plain(m));
  bytes.fill(0xff);
  expect(decoded).toStrictEqual(plain(m));
}

const requestCodec: Codec<Request> = {
  name: "client request",
  arb: requestArb,
  encode: encodeRequest,
  decode: decodeRequest,
  version: PROTOCOL_CODEC_VERSION,
  maxTag: Object.keys(REQUEST_TAGS).length,
};

const responseCodec: Codec<Response> = {
  name: "client response",
  arb: responseArb,
  encode: encodeResponse,
  decode: decodeResponse,
  version: PROTOCOL_CODEC_VERSION,
  maxTag: Object.keys(RESPONSE_TAGS).length,
};

describe("client protocol codec properties: requests", () => {
  it("the arbitraries cover every request type the codec declares", () => {
    expect(Object.keys(requestArbs).sort()).toEqual(Object.keys(REQUEST_TAGS).sort());
    const seen = new Set(fc.sample(requestArb, { numRuns: 500, seed: 1 }).map((m) => m.type));
    expect([...seen].sort()).toEqual(Object.keys(REQUEST_TAGS).sort());
  });

  for (const type of Object.keys(REQUEST_TAGS) as RequestType[]) {
    it(`decode(encode(m)) deep-equals m and aliases nothing, for every ${type} request`, async () => {
      const arb: fc.Arbitrary<Request> | undefined = requestArbs[type];
      expect(arb, `no arbitrary for request type ${type}`).toBeDefined();
      await checkProperty(
        fc.property(arb!, (m) => {
          expect(m.type).toBe(type);
          expectRoundTrip(m, encodeRequest, decodeRequest);
        }),
      );
    });
  }

  codecContract(requestCodec);
});

describe("client protocol codec properties: responses", () => {
  it("the arbitraries cover every response type the codec declares", () => {
    expect(Object.keys(responseArbs).sort()).toEqual(Object.keys(RESPONSE_TAGS).sort());
    const seen = new Set(fc.sample(responseArb, { numRuns: 500, seed: 1 }).map((m) => m.type));
    expect([...seen].sort()).toEqual(Object.keys(RESPONSE_TAGS).sort());
  });

  for (const type of Object.keys(RESPONSE_TAGS) as ResponseType[]) {
    it(`decode(encode(m)) deep-equals m and aliases nothing, for every ${type} response`, async () => {
      const arb: fc.Arbitrary<Response> | undefined = responseArbs[type];
      expect(arb, `no arbitrary for response type ${type}`).toBeDefined();
      await checkProperty(
        fc.property(arb!, (m) => {
          expect(m.type).toBe(type);
          expectRoundTrip(m, encodeResponse, decodeResponse);
        }),
      );
    });
  }

  codecContract(responseCodec);
});
