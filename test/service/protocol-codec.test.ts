/**
 * Named examples of the client protocol codec (src/service/protocol-codec.ts): golden bytes for
 * every request and response type and for each form of the embedded fields, and the errors
 * malformed input and out-of-domain values get. The properties are in
 * test/property/protocol-codec.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import { InvariantError, type ErrorCode } from "../../src/errors.js";
import type { Json } from "../../src/json.js";
import type { Request, RequestType, Response, ResponseType, WireReadInfo } from "../../src/service/protocol.js";
import { REQUEST_TAGS, RESPONSE_TAGS, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "../../src/service/protocol-codec.js";

type RequestVariant<T extends RequestType> = Request & { readonly type: T };
type ResponseVariant<T extends ResponseType> = Response & { readonly type: T };

/** Bytes from hex; spaces and `|` only separate fields for the reader. */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");
const utf8Hex = (s: string): string => Buffer.from(s).toString("hex");
const protocol = (message: string | RegExp) => expect.objectContaining({ code: "Protocol", message: expect.stringMatching(message) });
const withCode = (code: ErrorCode, message: RegExp) => expect.objectContaining({ code, message: expect.stringMatching(message) });

const POSITION = { epoch: 3, lsn: 205 };
/** `POSITION` encoded: `uint epoch`, `uint lsn`. */
const POSITION_HEX = "03 cd01";

/**
 * GOLDEN BYTES: derived once from the codec and checked in. Each line is `version | type | body`.
 * If one of these fails, the wire format changed: clients of the previous release can no longer
 * talk to this one. Do not just update the hex: bump PROTOCOL_CODEC_VERSION in the same change.
 */
const GOLDEN_REQUESTS: { readonly [T in RequestType]: { readonly message: RequestVariant<T>; readonly hex: string } } = {
  get: {
    message: { type: "get", id: 7, doc: "d", key: "a", read: { consistency: "linearizable", maxStalenessMs: 5000, after: POSITION, timeoutMs: 1000 } },
    // doc "d" | key "a" | read: consistency linearizable, maxStalenessMs present 5000, after present, timeoutMs 1000
    hex: `02 | 01 | 07 | 0164 | 0161 | 01 01 8827 01 ${POSITION_HEX} e807`,
  },
  entries: {
    message: { type: "entries", id: 8, doc: "d", prefix: "", read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 0 } },
    hex: "02 | 02 | 08 | 0164 | 00 | 02 00 00 00",
  },
  write: {
    message: {
      type: "write",
      id: 9,
      doc: "d",
      conditions: [
        { test: "absent", key: "a" },
        { test: "equals", key: "b", value: "v" },
      ],
      ops: [
        { kind: "set", key: "x", value: { n: 1 } },
        { kind: "delete", key: "y" },
      ],
      durability: { level: "replicas", n: 2 },
      session: { id: 5, seq: 3, firstUnacked: 2 },
    },
    // doc | 2 conditions: absent "a", equals "b" "v" | 2 ops | durability replicas 2 | session present 5 3 2
    hex: "02 | 03 | 09 | 0164 | 02 | 01 0161 | 03 0162 060176 | 02 | 01 0178 08 01 016e 0301 | 02 0179 | 02 02 | 01 05 03 02",
  },
  subscribe: { message: { type: "subscribe", id: 10, doc: "d", prefix: "a/", from: POSITION }, hex: `02 | 04 | 0a | 0164 | 02612f | 01 ${POSITION_HEX}` },
  unsubscribe: { message: { type: "unsubscribe", id: 11, subscription: 4 }, hex: "02 | 05 | 0b | 04" },
  status: { message: { type: "status", id: 12 }, hex: "02 | 06 | 0c" },
  hello: { message: { type: "hello", id: 13 }, hex: "02 | 07 | 0d" },
  "open-session": { message: { type: "open-session", id: 14 }, hex: "02 | 08 | 0e" },
  admin: {
    message: { type: "admin", id: 15, action: { type: "add-learner", node: "n4", url: "ws://h:1" } },
    hex: `02 | 09 | 0f | 02 | 026e34 | 08${utf8Hex("ws://h:1")}`,
  },
};

/** Same rule as {@link GOLDEN_REQUESTS}. */
const GOLDEN_RESPONSES: { readonly [T in ResponseType]: { readonly message: ResponseVariant<T>; readonly hex: string } } = {
  value: {
    message: { type: "value", id: 7, value: "v", info: { role: "replica", position: POSITION, lagLsn: 2, silentMs: 150 } },
    // value present "v" | info: role replica, position, lagLsn 2, silentMs present 150
    hex: `02 | 01 | 07 | 01 06 0176 | 02 ${POSITION_HEX} 02 01 9601`,
  },
  entries: {
    message: {
      type: "entries",
      id: 8,
      entries: [
        ["a", 1],
        ["b", null],
      ],
      info: { role: "primary", position: { epoch: 3, lsn: 207 }, lagLsn: 0, silentMs: 0 },
    },
    hex: "02 | 02 | 08 | 02 | 0161 0301 | 0162 00 | 01 03 cf01 00 01 00",
  },
  written: {
    message: { type: "written", id: 9, position: { epoch: 3, lsn: 208 }, replicas: ["r1", "r2"], succeeded: false },
    hex: "02 | 03 | 09 | 03 d001 | 02 027231 027232 | 00",
  },
  subscribed: {
    message: { type: "subscribed", id: 10, subscription: 4, position: { epoch: 3, lsn: 208 }, replayed: true },
    hex: "02 | 04 | 0a | 04 | 03 d001 | 01",
  },
  unsubscribed: { message: { type: "unsubscribed", id: 11 }, hex: "02 | 05 | 0b" },
  status: {
    message: { type: "status", id: 12, status: { role: "primary" } },
    hex: `02 | 06 | 0c | 08 01 04${utf8Hex("role")} 06 07${utf8Hex("primary")}`,
  },
  error: {
    message: { type: "error", id: 13, code: "ReadOnlyReplica", message: "go to p1", redirect: "p1" },
    hex: `02 | 07 | 0d | 0f${utf8Hex("ReadOnlyReplica")} | 08${utf8Hex("go to p1")} | 01 027031`,
  },
  changes: {
    message: {
      type: "changes",
      subscription: 4,
      position: { epoch: 3, lsn: 209 },
      changes: [
        { key: "a", value: 2 },
        { key: "b", value: undefined },
      ],
    },
    hex: "02 | 08 | 04 | 03 d101 | 02 | 0161 01 0302 | 0162 00",
  },
  welcome: { message: { type: "welcome", id: 14, node: "n1", position: { epoch: 4, lsn: 209 } }, hex: "02 | 09 | 0e | 026e31 | 04 d101" },
  "session-opened": { message: { type: "session-opened", id: 15, session: 300 }, hex: "02 | 0a | 0f | ac02" },
  "admin-done": { message: { type: "admin-done", id: 16, position: { epoch: 4, lsn: 209 } }, hex: "02 | 0b | 10 | 04 d101" },
};

describe("client protocol golden bytes (a failure here means the format changed: bump the version)", () => {
  it("has a golden request and response for every type the codec declares", () => {
    expect(Object.keys(GOLDEN_REQUESTS).sort()).toEqual(Object.keys(REQUEST_TAGS).sort());
    expect(Object.keys(GOLDEN_RESPONSES).sort()).toEqual(Object.keys(RESPONSE_TAGS).sort());
  });

  for (const [type, { message, hex: golden }] of Object.entries(GOLDEN_REQUESTS)) {
    it(`request ${type} encodes to its golden bytes and back`, () => {
      expect(toHex(encodeRequest(message))).toBe(toHex(hex(golden)));
      expect(decodeRequest(hex(golden))).toStrictEqual(message);
    });
  }

  for (const [type, { message, hex: golden }] of Object.entries(GOLDEN_RESPONSES)) {
    it(`response ${type} encodes to its golden bytes and back`, () => {
      expect(toHex(encodeResponse(message))).toBe(toHex(hex(golden)));
      expect(decodeResponse(hex(golden))).toStrictEqual(message);
    });
  }

  it("encodes every role, durability level, absent value, silentMs -1 and a null redirect as the module table says", () => {
    const info = (role: WireReadInfo["role"], silentMs: number): WireReadInfo => ({ role, position: POSITION, lagLsn: 0, silentMs });
    const responses: Array<[Response, string]> = [
      [{ type: "value", id: 1, value: undefined, info: info("primary", -1) }, `02 01 01 | 00 | 01 ${POSITION_HEX} 00 | 00`],
      [{ type: "value", id: 1, value: null, info: info("leader", 0) }, `02 01 01 | 01 00 | 03 ${POSITION_HEX} 00 | 01 00`],
      [{ type: "unsubscribed", id: Number.MAX_SAFE_INTEGER }, "02 05 ffffffffffffff0f"],
      [{ type: "entries", id: 1, entries: [], info: info("follower", 128) }, `02 02 01 | 00 | 04 ${POSITION_HEX} 00 | 01 8001`],
      [{ type: "error", id: 1, code: "Timeout", message: "", redirect: null }, `02 07 01 | 07${utf8Hex("Timeout")} | 00 | 00`],
      [{ type: "written", id: 1, position: POSITION, replicas: [], succeeded: true }, `02 03 01 | ${POSITION_HEX} | 00 | 01`],
    ];
    for (const [message, golden] of responses) {
      expect(toHex(encodeResponse(message)), JSON.stringify(message)).toBe(toHex(hex(golden)));
      expect(decodeResponse(hex(golden))).toStrictEqual(message);
    }
    const write = { type: "write", id: 1, doc: "d", conditions: [], ops: [], session: null } as const;
    const requests: Array<[Request, string]> = [
      [{ ...write, durability: { level: "local" } }, "02 03 01 0164 | 00 | 00 | 01 | 00"],
      [{ ...write, durability: { level: "committed" } }, "02 03 01 0164 | 00 | 00 | 03 | 00"],
      [{ ...write, conditions: [{ test: "present", key: "k" }], durability: { level: "local" } }, "02 03 01 0164 | 01 02 016b | 00 | 01 | 00"],
      [{ type: "subscribe", id: 1, doc: "d", prefix: "", from: null }, "02 04 01 0164 | 00 | 00"],
      [{ type: "admin", id: 1, action: { type: "promote" } }, "02 09 01 | 01"],
      [{ type: "admin", id: 1, action: { type: "promote-learner", node: "n" } }, "02 09 01 | 03 016e"],
      [{ type: "admin", id: 1, action: { type: "remove", node: "n" } }, "02 09 01 | 04 016e"],
      [{ type: "admin", id: 1, action: { type: "transfer", node: "n" } }, "02 09 01 | 05 016e"],
    ];
    for (const [message, golden] of requests) {
      expect(toHex(encodeRequest(message)), JSON.stringify(message)).toBe(toHex(hex(golden)));
      expect(decodeRequest(hex(golden))).toStrictEqual(message);
    }
  });
});

describe("client protocol decoder refuses malformed input with Protocol, naming the field and offset", () => {
  it("names an unknown version and an unknown type", () => {
    expect(() => decodeRequest(hex("01 06 0c"))).toThrow(protocol(/^malformed client request: version is 1, but this code reads only version 2 .* \(at byte 0 of 3\)$/));
    expect(() => decodeResponse(hex("00 05 0b"))).toThrow(protocol(/^malformed client response: version is 0, but this code reads only version 2/));
    expect(() => decodeRequest(new Uint8Array())).toThrow(protocol(/version is missing: the input ends here \(at byte 0 of 0\)/));
    expect(() => decodeRequest(hex("02 0a 00"))).toThrow(protocol(/^malformed client request: type has the unknown tag 10 \(known: 1 to 9\) \(at byte 1 of 3\)$/));
    expect(() => decodeRequest(hex("02 00 00"))).toThrow(protocol(/type has the unknown tag 0 \(known: 1 to 9\)/));
    expect(() => decodeResponse(hex("02 0c 00"))).toThrow(protocol(/^malformed client response: type has the unknown tag 12 \(known: 1 to 11\)/));
  });

  it("names unknown tags of embedded fields", () => {
    expect(() => decodeRequest(hex("02 03 09 0164 00 01 03 0178 | 01 00"))).toThrow(protocol(/write\.ops\[0\]\.kind has the unknown tag 3 \(known: 1 to 2\) \(at byte 7 of 12\)/));
    expect(() => decodeRequest(hex("02 03 09 0164 00 00 | 04 00"))).toThrow(protocol(/write\.durability\.level has the unknown tag 4 \(known: 1 to 3\) \(at byte 7 of 9\)/));
    expect(() => decodeRequest(hex("02 03 09 0164 01 04 0161 00 01 00"))).toThrow(protocol(/write\.conditions\[0\]\.test has the unknown tag 4 \(known: 1 to 3\) \(at byte 6 of 12\)/));
    expect(() => decodeRequest(hex("02 01 07 0164 0161 | 03 00 00 00"))).toThrow(protocol(/get\.read\.consistency has the unknown tag 3 \(known: 1 to 2\) \(at byte 7 of 11\)/));
    expect(() => decodeRequest(hex("02 09 0f | 06"))).toThrow(protocol(/admin\.action\.type has the unknown tag 6 \(known: 1 to 5\) \(at byte 3 of 4\)/));
    expect(() => decodeResponse(hex(`02 01 07 00 | 05 ${POSITION_HEX} 00 00`))).toThrow(protocol(/value\.info\.role has the unknown tag 5 \(known: 1 to 4\) \(at byte 4 of 10\)/));
  });

  it("refuses truncation and trailing bytes", () => {
    expect(() => decodeRequest(hex("02 01 07 0164 0161 01 01 88"))).toThrow(protocol(/get\.read\.maxStalenessMs is cut off: the input ends inside the number \(at byte 9 of 10\)/));
    expect(() => decodeRequest(hex("02 01 07 0164 0161 01"))).toThrow(protocol(/get\.read\.maxStalenessMs present is missing: the input ends here \(at byte 8 of 8\)/));
    expect(() => decodeRequest(hex("02 04 0a 0164 05612f"))).toThrow(protocol(/subscribe\.prefix declares 5 bytes, but only 2 remain \(at byte 5 of 8\)/));
    expect(() => decodeRequest(hex("02 03 09 0164 00 00 01 01 05 03"))).toThrow(protocol(/write\.session\.firstUnacked is cut off: the input ends inside the number \(at byte 11 of 11\)/));
    expect(() => decodeResponse(hex("02 03 09 03 d001 7f 00"))).toThrow(protocol(/written\.replicas count is 127, but only 1 bytes remain/));
    expect(() => decodeResponse(hex("02 03 09 03 d001 00"))).toThrow(protocol(/written\.succeeded is missing: the input ends here \(at byte 7 of 7\)/));
    expect(() => decodeRequest(hex("02 06 0c 00"))).toThrow(protocol(/^malformed client request: its last field is followed by 1 trailing byte \(at byte 3 of 4\)$/));
    expect(() => decodeRequest(hex("02 07 0d 00"))).toThrow(protocol(/its last field is followed by 1 trailing byte \(at byte 3 of 4\)/));
    expect(() => decodeResponse(hex("02 0b 0e 04"))).toThrow(protocol(/admin-done\.position\.lsn is cut off: the input ends inside the number \(at byte 4 of 4\)/));
    expect(() => decodeResponse(hex("02 05 0b 0000"))).toThrow(protocol(/its last field is followed by 2 trailing bytes \(at byte 3 of 5\)/));
  });

  it("refuses an empty key wherever a key goes, and accepts an empty prefix", () => {
    expect(() => decodeRequest(hex("02 01 07 0164 00 | 01 00 00 00"))).toThrow(
      protocol(/^malformed client request: get\.key is empty, but a key is a non-empty string \(at byte 5 of 10\)$/),
    );
    expect(() => decodeRequest(hex("02 03 09 0164 00 01 02 00 | 01 00"))).toThrow(protocol(/write\.ops\[0\]\.key is empty, but a key is a non-empty string/));
    expect(() => decodeRequest(hex("02 03 09 0164 01 01 00 00 | 01 00"))).toThrow(protocol(/write\.conditions\[0\]\.key is empty, but a key is a non-empty string/));
    expect(() => decodeRequest(hex("02 01 07 00 0161 01 00 00 00"))).toThrow(protocol(/get\.doc is empty, but a peer id is a non-empty string/));
    expect(() => decodeResponse(hex("02 02 08 01 00 00 | 01 03 cf01 00 00"))).toThrow(protocol(/entries\.entries\[0\]\.key is empty/));
    expect(() => decodeResponse(hex("02 08 04 03 d101 01 00 00"))).toThrow(protocol(/changes\.changes\[0\]\.key is empty/));
    expect(decodeRequest(hex("02 04 0a 0164 00 00"))).toStrictEqual({ type: "subscribe", id: 10, doc: "d", prefix: "", from: null });
  });

  it("refuses an error code this release does not know, by name", () => {
    expect(() => decodeResponse(hex(`02 07 0d 04${utf8Hex("Nope")} 00 00`))).toThrow(
      protocol(/^malformed client response: error\.code is "Nope", not one of the 16 error codes this release knows \(at byte 3 of 10\)$/),
    );
    expect(() => decodeResponse(hex(`02 07 0d 08${utf8Hex("protocol")} 00 00`))).toThrow(protocol(/error\.code is "protocol", not one of/));
    expect(() => decodeResponse(hex(`02 07 0d 00 00 00`))).toThrow(protocol(/error\.code is "", not one of/));
  });

  it("refuses non-canonical varints and presence flags", () => {
    expect(() => decodeRequest(hex("02 06 8c00"))).toThrow(
      protocol(/^malformed client request: status\.id is an overlong varint \(its last byte is zero\), not the shortest encoding \(at byte 2 of 4\)$/),
    );
    expect(() => decodeResponse(hex("02 04 0a 8400 03 d001 00"))).toThrow(protocol(/subscribed\.subscription is an overlong varint/));
    expect(() => decodeRequest(hex("02 06 8080808080808010"))).toThrow(protocol(/status\.id is above 2\^53 - 1/));
    expect(() => decodeRequest(hex("02 02 08 0164 00 | 01 02 00 00"))).toThrow(protocol(/entries\.read\.maxStalenessMs present is the byte 2, but a boolean is 0 or 1 \(at byte 7 of 10\)/));
    expect(() => decodeResponse(hex("02 04 0a 04 03 d001 02"))).toThrow(protocol(/subscribed\.replayed is the byte 2, but a boolean is 0 or 1/));
    expect(() => decodeResponse(hex(`02 01 07 00 | 01 ${POSITION_HEX} 00 02`))).toThrow(protocol(/value\.info\.silentMs present is the byte 2/));
    expect(() => decodeResponse(hex(`02 01 07 00 | 01 ${POSITION_HEX} 00 01 8000`))).toThrow(protocol(/value\.info\.silentMs is an overlong varint/));
  });

  it("refuses a replica or redirect that is not a valid peer id, and non-canonical JSON", () => {
    expect(() => decodeResponse(hex("02 03 09 03 d001 01 00 01"))).toThrow(protocol(/written\.replicas\[0\] is empty, but a peer id is a non-empty string/));
    expect(() => decodeResponse(hex(`02 07 0d 07${utf8Hex("Timeout")} 00 01 02ff61`))).toThrow(protocol(/error\.redirect is not valid UTF-8/));
    expect(() => decodeResponse(hex("02 09 0e 00 04 d101"))).toThrow(protocol(/welcome\.node is empty, but a peer id is a non-empty string/));
    expect(() => decodeResponse(hex("02 06 0c 05 3ff0000000000000"))).toThrow(protocol(/status\.status is the integer 1 as a float/));
    expect(() => decodeResponse(hex("02 06 0c 08 02 0162 00 0161 00"))).toThrow(protocol(/status\.status\.members\[1\]\.key is "a", not after the previous key "b"/));
  });

  it("refuses input over maxBytes with TooLarge before parsing, and takes input at the limit", () => {
    const bytes = hex(GOLDEN_RESPONSES.error.hex);
    expect(() => decodeResponse(bytes, { maxBytes: bytes.length - 1 })).toThrow(
      expect.objectContaining({ code: "TooLarge", message: `client response of ${bytes.length} bytes exceeds the limit of ${bytes.length - 1} bytes` }),
    );
    expect(decodeResponse(bytes, { maxBytes: bytes.length })).toStrictEqual(GOLDEN_RESPONSES.error.message);
    expect(() => decodeRequest(hex("ffff"), { maxBytes: 1 })).toThrow(expect.objectContaining({ code: "TooLarge" }));
  });
});

describe("decoded messages", () => {
  it("hold deep-frozen JSON that does not alias the input", () => {
    const bytes = hex(GOLDEN_REQUESTS.write.hex);
    const m = decodeRequest(bytes);
    bytes.fill(0);
    expect(m).toStrictEqual(GOLDEN_REQUESTS.write.message);
    const value = (m as RequestVariant<"write">).ops[0] as { value: Json };
    expect(Object.isFrozen(value.value)).toBe(true);

    const status = hex(GOLDEN_RESPONSES.status.hex);
    const r = decodeResponse(status);
    status.fill(0xff);
    expect(r).toStrictEqual(GOLDEN_RESPONSES.status.message);
  });
});

describe("client protocol encoder", () => {
  const info: WireReadInfo = { role: "primary", position: POSITION, lagLsn: 0, silentMs: 0 };

  it("refuses invalid keys and non-JSON values with InvalidValue, as the kv ops do", () => {
    expect(() => encodeRequest({ type: "get", id: 1, doc: "d", key: "", read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 0 } })).toThrow(
      withCode("InvalidValue", /keys must not be empty/),
    );
    expect(() => encodeResponse({ type: "changes", subscription: 1, position: POSITION, changes: [{ key: "a\uD800", value: 1 }] })).toThrow(
      withCode("InvalidValue", /lone UTF-16 surrogates/),
    );
    const notJson = { when: new Date(0) } as unknown as Json;
    const write = { type: "write", id: 1, doc: "d", session: null, durability: { level: "local" } } as const;
    expect(() => encodeRequest({ ...write, conditions: [], ops: [{ kind: "set", key: "k", value: notJson }] })).toThrow(
      withCode("InvalidValue", /write\.ops\[0\]\.value\.when is not JSON/),
    );
    expect(() => encodeRequest({ ...write, conditions: [{ test: "equals", key: "k", value: notJson }], ops: [] })).toThrow(
      withCode("InvalidValue", /write\.conditions\[0\]\.value\.when is not JSON/),
    );
    expect(() => encodeResponse({ type: "status", id: 1, status: Number.NaN })).toThrow(withCode("InvalidValue", /status\.status is not JSON/));
  });

  it("refuses an invalid replica or redirect peer id with InvalidArgument", () => {
    expect(() => encodeResponse({ type: "error", id: 1, code: "NotLeader", message: "", redirect: "" })).toThrow(
      withCode("InvalidArgument", /error\.redirect is not a valid peer id: it is empty/),
    );
    expect(() => encodeResponse({ type: "written", id: 1, position: POSITION, replicas: ["r".repeat(256)], succeeded: true })).toThrow(
      withCode("InvalidArgument", /written\.replicas\[0\] is not a valid peer id/),
    );
    expect(() => encodeRequest({ type: "get", id: 1, doc: "", key: "k", read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 0 } })).toThrow(
      withCode("InvalidArgument", /get\.doc is not a valid peer id: it is empty/),
    );
  });

  it("refuses numbers out of their domain and unknown error codes with an InvariantError (a caller bug)", () => {
    expect(() => encodeResponse({ type: "value", id: 1, value: 1, info: { ...info, silentMs: -2 } })).toThrow(InvariantError);
    expect(() => encodeResponse({ type: "value", id: 1, value: 1, info: { ...info, silentMs: 1.5 } })).toThrow(
      /client protocol codec: value\.info\.silentMs must be -1 \(never heard\) or a non-negative safe integer, got 1.5/,
    );
    expect(() => encodeRequest({ type: "get", id: 1, doc: "d", key: "k", read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: -1 } })).toThrow(
      /client protocol codec: get\.read\.timeoutMs must be a non-negative safe integer, got -1/,
    );
    expect(() => encodeRequest({ type: "entries", id: 1, doc: "d", prefix: "", read: { consistency: "local", maxStalenessMs: 0.5, after: null, timeoutMs: 0 } })).toThrow(
      InvariantError,
    );
    expect(() => encodeRequest({ type: "status", id: -1 })).toThrow(/status\.id must be a non-negative safe integer/);
    const bogus = { type: "error", id: 1, code: "Nope", message: "", redirect: null } as unknown as Response;
    expect(() => encodeResponse(bogus)).toThrow(/client protocol codec: error\.code is "Nope", not an ErrorCode/);
  });
});
