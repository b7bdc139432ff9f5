import * as encoding from "lib0/encoding";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { ConcordError, InvariantError, isConcordError } from "../../../src/errors.js";
import {
  CONCORD_EXTENSION_MIN_TYPE,
  decodeAwarenessUpdate,
  decodeMessage,
  encodeAwarenessUpdate,
  encodeMessage,
  validateUpdate,
  type Message,
} from "../../../src/eventual/sync/protocol.js";

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

/** Decodes `input` and returns the ConcordError code and message it threw. */
function rejection(input: Uint8Array, maxBytes?: number): { code: string; message: string } {
  try {
    decodeMessage(input, maxBytes === undefined ? {} : { maxBytes });
  } catch (e) {
    if (isConcordError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("decodeMessage accepted the input");
}

/** Runs `f` and returns what it threw (fails the test if it threw nothing). */
function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

/** A hand-written update v1 with one struct of client 7 at clock 0, then an empty delete set. */
function oneStructUpdate(writeStruct: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1); // one client
  encoding.writeVarUint(e, 1); // one struct
  encoding.writeVarUint(e, 7); // client
  encoding.writeVarUint(e, 0); // clock
  writeStruct(e);
  encoding.writeVarUint(e, 0); // delete set: no clients
  return encoding.toUint8Array(e);
}

/** Struct header of an item without origins, under the root type `name`. */
function rootItem(e: encoding.Encoder, contentRef: number, name = "a"): void {
  encoding.writeUint8(e, contentRef);
  encoding.writeVarUint(e, 1); // parent is a named root type
  encoding.writeVarString(e, name);
}

describe("encodeMessage / decodeMessage", () => {
  const golden: Array<[string, Message, Uint8Array]> = [
    ["sync step 1", { type: "sync-step1", stateVector: bytes(0) }, bytes(0, 0, 1, 0)],
    ["sync step 2", { type: "sync-step2", update: bytes(0, 0) }, bytes(0, 1, 2, 0, 0)],
    ["sync update", { type: "sync-update", update: bytes(0, 0) }, bytes(0, 2, 2, 0, 0)],
    [
      "awareness",
      { type: "awareness", entries: [{ clientId: 5, clock: 300, state: { a: 1 } }] },
      bytes(1, 12, 1, 5, 0xac, 0x02, 7, ...new TextEncoder().encode('{"a":1}')),
    ],
    ["auth denied", { type: "auth-denied", reason: "no" }, bytes(2, 0, 2, 0x6e, 0x6f)],
    ["query awareness", { type: "query-awareness" }, bytes(3)],
    ["an extension", { type: "unknown", messageType: 103, payload: bytes(9, 8) }, bytes(103, 9, 8)],
    ["a concord-auth token", { type: "concord-auth", token: "no" }, bytes(102, 2, 0x6e, 0x6f)],
    ["an unknown type above 127", { type: "unknown", messageType: 200, payload: bytes() }, bytes(0xc8, 0x01)],
  ];

  it.each(golden)("encodes %s in the y-websocket layout and decodes it back", (_name, message, wire) => {
    expect(encodeMessage(message)).toEqual(wire);
    expect(decodeMessage(wire)).toEqual(message);
  });

  it("encodes Concord's own extensions as type, then one varUint", () => {
    expect(encodeMessage({ type: "concord-hello", version: 1 })).toEqual(bytes(100, 1));
    expect(encodeMessage({ type: "concord-ack", received: 300 })).toEqual(bytes(101, 0xac, 0x02));
    expect(decodeMessage(bytes(101, 0xac, 0x02))).toEqual({ type: "concord-ack", received: 300 });
    expect(() => decodeMessage(bytes(100, 0))).toThrow(/concord-hello with version 0/);
    expect(() => decodeMessage(bytes(101))).toThrow(ConcordError);
    expect(() => decodeMessage(bytes(101, 1, 7))).toThrow(ConcordError); // trailing bytes
  });

  it("reserves message types from 100 up for Concord", () => {
    expect(CONCORD_EXTENSION_MIN_TYPE).toBe(100);
  });

  it("refuses to encode an unknown message that would decode as something else", () => {
    for (const messageType of [0, 1, 2, 3, -1, 2 ** 60]) {
      expect(() => encodeMessage({ type: "unknown", messageType, payload: bytes() })).toThrow(InvariantError);
    }
  });

  it("decodes real Yjs payloads without copying them", () => {
    const doc = new Y.Doc();
    doc.getText("t").insert(0, "hello");
    const update = Y.encodeStateAsUpdate(doc);
    const wire = encodeMessage({ type: "sync-step2", update });
    const decoded = decodeMessage(wire);
    expect(decoded).toEqual({ type: "sync-step2", update });
    expect((decoded as { update: Uint8Array }).update.buffer).toBe(wire.buffer);
  });

  const malformed: Array<[string, Uint8Array, RegExp]> = [
    ["an empty message", bytes(), /unexpected end/i],
    ["a truncated outer type", bytes(0x80), /unexpected end/i],
    ["a truncated payload length", bytes(0, 2, 0x85), /unexpected end/i],
    ["a payload shorter than its length", bytes(0, 2, 5, 0, 0), /unexpected end/i],
    ["an unknown sync sub-type", bytes(0, 3, 2, 0, 0), /sync message sub-type 3/],
    ["an unknown auth sub-type", bytes(2, 1, 0), /auth message sub-type 1/],
    ["trailing bytes after a sync message", bytes(0, 2, 2, 0, 0, 9), /1 trailing bytes/],
    ["trailing bytes after query-awareness", bytes(3, 0), /1 trailing bytes/],
    ["an outer type beyond the safe integer range", bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), /safe range/],
    ["invalid UTF-8 in a reason", bytes(2, 0, 1, 0xff), /malformed message/],
    ["an update that is noise", bytes(0, 2, 3, 9, 9, 9), /malformed update/],
    ["a state vector that is cut short", bytes(0, 0, 2, 2, 1), /malformed state vector/],
    ["awareness JSON that does not parse", bytes(1, 5, 1, 1, 1, 1, 0x7b), /malformed awareness update/],
    ["awareness with trailing bytes", bytes(1, 2, 0, 0), /awareness update: 1 trailing bytes/],
  ];

  it.each(malformed)("refuses %s with Protocol", (_name, input, message) => {
    const { code, message: text } = rejection(input);
    expect(code).toBe("Protocol");
    expect(text).toMatch(message);
  });

  it("refuses a message above maxBytes with TooLarge before parsing it", () => {
    expect(rejection(bytes(0, 0, 1, 0), 3)).toEqual({ code: "TooLarge", message: "message of 4 bytes exceeds the limit of 3 bytes" });
    expect(decodeMessage(bytes(0, 0, 1, 0), { maxBytes: 4 })).toEqual({ type: "sync-step1", stateVector: bytes(0) });
  });
});

describe("awareness update format", () => {
  it("round-trips entries, null meaning removed", () => {
    const entries = [
      { clientId: 1, clock: 2, state: { user: { name: "ann" } } },
      { clientId: 2 ** 40, clock: 0, state: null },
      { clientId: 3, clock: 9, state: [1, "two"] },
    ];
    expect(decodeAwarenessUpdate(encodeAwarenessUpdate(entries))).toEqual(entries);
  });

  it("refuses ids and clocks a decoder could not read back", () => {
    expect(() => encodeAwarenessUpdate([{ clientId: -1, clock: 0, state: null }])).toThrow(InvariantError);
    expect(() => encodeAwarenessUpdate([{ clientId: 1, clock: 1.5, state: null }])).toThrow(InvariantError);
  });
});

describe("validateUpdate", () => {
  it("accepts Skip structs from merging updates with a gap", () => {
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on("update", (u: Uint8Array) => updates.push(u));
    for (const s of ["a", "b", "c"]) doc.getText("t").insert(0, s);
    const withGap = Y.mergeUpdates([updates[0]!, updates[2]!]);
    expect(Y.decodeUpdate(withGap).structs.some((s) => s instanceof Y.Skip)).toBe(true);
    expect(() => validateUpdate(withGap)).not.toThrow();
  });

  it("accepts legacy JSON content, which current Yjs reads but no longer writes", () => {
    const update = oneStructUpdate((e) => {
      rootItem(e, 2);
      encoding.writeVarUint(e, 2);
      encoding.writeVarString(e, '{"x":1}');
      encoding.writeVarString(e, "undefined");
    });
    expect(() => validateUpdate(update)).not.toThrow();
    const doc = new Y.Doc();
    Y.applyUpdate(doc, update);
    expect(doc.getArray("a").toArray()).toEqual([{ x: 1 }, undefined]);
  });

  it("accepts subdocuments, XML and formatting", () => {
    const doc = new Y.Doc();
    doc.getMap("m").set("sub", new Y.Doc({ guid: "child" }));
    doc.getXmlFragment("x").insert(0, [new Y.XmlElement("p"), new Y.XmlText("t")]);
    doc.getArray("hooks").insert(0, [new Y.XmlHook("hook")]);
    doc.getText("t").insert(0, "bold", { bold: true });
    doc.getText("t").insertEmbed(0, { image: "x.png" });
    expect(() => validateUpdate(Y.encodeStateAsUpdate(doc))).not.toThrow();
  });

  it("refuses a struct that refers forward to its own client, which crashes Yjs half-way", () => {
    const update = oneStructUpdate((e) => {
      encoding.writeUint8(e, 4 | 0b1000_0000); // string content, has origin
      encoding.writeVarUint(e, 7); // origin client: the same
      encoding.writeVarUint(e, 5); // origin clock: after this struct
      encoding.writeVarString(e, "x");
    });
    expect(() => Y.applyUpdate(new Y.Doc(), update)).toThrow();
    expect(() => validateUpdate(update)).toThrow(/origin at \(7, 5\), not before it/);
  });

  it("refuses empty structs and empty delete ranges, which Yjs never writes", () => {
    const emptyString = oneStructUpdate((e) => {
      rootItem(e, 4);
      encoding.writeVarString(e, "");
    });
    expect(() => validateUpdate(emptyString)).toThrow(/struct \(7, 0\) is empty/);
    expect(() => validateUpdate(bytes(0, 1, 7, 1, 3, 0))).toThrow(/empty delete range at \(7, 3\)/);
  });

  it("refuses content and type refs Yjs does not know, and a subdocument without options", () => {
    const unknownContent = oneStructUpdate((e) => rootItem(e, 11));
    expect(() => validateUpdate(unknownContent)).toThrow(/content ref 11/);
    const unknownType = oneStructUpdate((e) => {
      rootItem(e, 7);
      encoding.writeVarUint(e, 7);
    });
    expect(() => validateUpdate(unknownType)).toThrow(/type ref 7/);
    const bareSubdoc = oneStructUpdate((e) => {
      rootItem(e, 9);
      encoding.writeVarString(e, "guid");
      encoding.writeAny(e, null);
    });
    expect(() => Y.decodeUpdate(bareSubdoc)).toThrow();
    expect(() => validateUpdate(bareSubdoc)).toThrow(/subdocument without options/);
  });

  it("refuses a Skip struct with flag bits set, which Y.decodeUpdate refuses (found by a property run)", () => {
    // Counterexample of "validateUpdate accepts only what Y.decodeUpdate accepts" (PROP_SEED=1204643827).
    // Info 42 = content ref 10 (Skip) + the parentSub bit. Yjs's update reader (decodeUpdate,
    // mergeUpdates, diffUpdate) takes a Skip only for info exactly 10 and reads any other info with
    // ref 10 as an item whose content ref 10 has no reader; applyUpdate's reader would take it as a Skip.
    const update = Uint8Array.from([1, 1, 1, 0, 42, 1, 1, 109, 1, 97, 1, 117, 0, 0]);
    expect(() => Y.decodeUpdate(update)).toThrow();
    expect(() => validateUpdate(update)).toThrow(/Skip struct \(1, 0\) with info 42/);
    for (const flags of [0b0010_0000, 0b0100_0000, 0b1000_0000, 0b1110_0000]) {
      const flagged = oneStructUpdate((e) => {
        encoding.writeUint8(e, 10 | flags);
        encoding.writeVarUint(e, 3); // length
      });
      expect(() => Y.decodeUpdate(flagged)).toThrow();
      expect(isConcordError(catchError(() => validateUpdate(flagged)), "Protocol")).toBe(true);
    }
    // The plain Skip (info exactly 10) stays accepted, as by Yjs.
    const plain = oneStructUpdate((e) => {
      encoding.writeUint8(e, 10);
      encoding.writeVarUint(e, 3);
    });
    expect(() => Y.decodeUpdate(plain)).not.toThrow();
    expect(() => validateUpdate(plain)).not.toThrow();
  });

  it("throws only Protocol ConcordErrors", () => {
    try {
      validateUpdate(bytes(1, 1, 7, 0, 4));
      expect.unreachable();
    } catch (e) {
      expect(isConcordError(e, "Protocol")).toBe(true);
    }
  });
});
