/**
 * Named examples of the Raft codec: golden bytes for every message type and record, and the
 * errors malformed input and out-of-domain values get. The properties are in
 * test/property/raft-codec.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import { InvariantError } from "../../src/errors.js";
import {
  decodeConfState,
  decodeEntries,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  encodeConfState,
  encodeEntries,
  encodeEntry,
  encodeHardState,
  encodeSnapshotMeta,
} from "../../src/strong/raft/codec-entries.js";
import { invalidNodeIdReason } from "../../src/strong/raft/codec-primitives.js";
import { MESSAGE_TYPE_TAGS, decodeMessage, encodeMessage } from "../../src/strong/raft/codec.js";
import type { Message, MessageType } from "../../src/strong/raft/messages.js";
import { asIndex, asNodeId, asTerm, type ConfState, type Entry, type HardState, type SnapshotMeta } from "../../src/strong/raft/types.js";

/** The message of type `T` (see the property test for why not `MessageOf<T>`). */
type Variant<T extends MessageType> = Message & { readonly type: T };

const n = asNodeId;
const t = asTerm;
const i = asIndex;
const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
/** Bytes from hex; spaces and `|` only separate fields for the reader. */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");

/**
 * GOLDEN BYTES: derived once from the codec and checked in. Each line is `version | type | from |
 * to | term | body`. If one of these fails, the wire or storage format changed: peers and files of
 * the previous release can no longer be read. Do not just update the hex: bump
 * RAFT_CODEC_VERSION (and decide what reading the old version means) in the same change.
 */
const GOLDEN_MESSAGES: { readonly [T in MessageType]: { readonly message: Variant<T>; readonly hex: string } } = {
  vote: {
    message: { type: "vote", from: n("n1"), to: n("n2"), term: t(5), lastIndex: i(300), lastTerm: t(4), transfer: false },
    hex: "01 | 01 | 02 6e31 | 02 6e32 | 05 | ac02 04 00",
  },
  "pre-vote": {
    message: { type: "pre-vote", from: n("n1"), to: n("n2"), term: t(6), lastIndex: i(7), lastTerm: t(5), transfer: true },
    hex: "01 | 02 | 02 6e31 | 02 6e32 | 06 | 07 05 01",
  },
  "vote-resp": {
    message: { type: "vote-resp", from: n("n2"), to: n("n1"), term: t(5), reject: false },
    hex: "01 | 03 | 02 6e32 | 02 6e31 | 05 | 00",
  },
  "pre-vote-resp": {
    message: { type: "pre-vote-resp", from: n("n2"), to: n("n1"), term: t(6), reject: true },
    hex: "01 | 04 | 02 6e32 | 02 6e31 | 06 | 01",
  },
  append: {
    message: {
      type: "append",
      from: n("n1"),
      to: n("n2"),
      term: t(3),
      prevIndex: i(5),
      prevTerm: t(2),
      entries: [
        { kind: "normal", term: t(2), index: i(6), data: b(0xca, 0xfe) },
        { kind: "noop", term: t(3), index: i(7) },
        { kind: "conf-change", term: t(3), index: i(8), change: { type: "add-learner", node: n("n4") } },
      ],
      commit: i(5),
    },
    hex: "01 | 05 | 02 6e31 | 02 6e32 | 03 | 05 02 03 | 01 02 06 02cafe | 02 03 07 | 03 03 08 01 026e34 | 05",
  },
  "append-resp": {
    message: { type: "append-resp", from: n("n2"), to: n("n1"), term: t(3), reject: true, index: i(9), hintIndex: i(6), hintTerm: t(2) },
    hex: "01 | 06 | 02 6e32 | 02 6e31 | 03 | 01 09 06 02",
  },
  heartbeat: {
    message: { type: "heartbeat", from: n("n1"), to: n("n2"), term: t(3), commit: i(9), context: b(1, 2, 3) },
    hex: "01 | 07 | 02 6e31 | 02 6e32 | 03 | 09 01 03010203",
  },
  "heartbeat-resp": {
    message: { type: "heartbeat-resp", from: n("n2"), to: n("n1"), term: t(3), context: null },
    hex: "01 | 08 | 02 6e32 | 02 6e31 | 03 | 00",
  },
  snapshot: {
    message: {
      type: "snapshot",
      from: n("n1"),
      to: n("n4"),
      term: t(4),
      meta: { index: i(100), term: t(4), conf: { voters: [n("n1"), n("n2"), n("n3")], learners: [n("n4")] } },
      offset: 1_048_576,
      data: b(0xde, 0xad),
      done: false,
    },
    hex: "01 | 09 | 02 6e31 | 02 6e34 | 04 | 64 04 03 026e31 026e32 026e33 01 026e34 | 808040 02dead 00",
  },
  "snapshot-resp": {
    message: { type: "snapshot-resp", from: n("n4"), to: n("n1"), term: t(4), index: i(100), offset: 1_048_578, reject: false },
    hex: "01 | 0a | 02 6e34 | 02 6e31 | 04 | 64 828040 00",
  },
  "timeout-now": {
    message: { type: "timeout-now", from: n("n1"), to: n("n3"), term: t(5) },
    hex: "01 | 0b | 02 6e31 | 02 6e33 | 05",
  },
  propose: {
    message: {
      type: "propose",
      from: n("n2"),
      to: n("n1"),
      term: t(0),
      proposals: [
        { kind: "normal", data: b(0x68, 0x69) },
        { kind: "conf-change", change: { type: "promote", node: n("n4") } },
      ],
    },
    hex: "01 | 0c | 02 6e32 | 02 6e31 | 00 | 02 | 01 026869 | 03 02 026e34",
  },
  "read-index": {
    message: { type: "read-index", from: n("n2"), to: n("n1"), term: t(0), context: b(7) },
    hex: "01 | 0d | 02 6e32 | 02 6e31 | 00 | 0107",
  },
  "read-index-resp": {
    message: { type: "read-index-resp", from: n("n1"), to: n("n2"), term: t(5), index: i(12), context: b(7) },
    hex: "01 | 0e | 02 6e31 | 02 6e32 | 05 | 0c 0107",
  },
  "transfer-leader": {
    message: { type: "transfer-leader", from: n("n2"), to: n("n1"), term: t(0), target: n("n3") },
    hex: "01 | 0f | 02 6e32 | 02 6e31 | 00 | 026e33",
  },
};

/** Golden bytes of the standalone records (`version | fields`); same rule as above. */
const GOLDEN_RECORDS = [
  {
    name: "entry",
    value: { kind: "conf-change", term: t(7), index: i(128), change: { type: "remove", node: n("n2") } } satisfies Entry,
    encode: encodeEntry,
    decode: decodeEntry,
    hex: "01 | 03 07 8001 04 026e32",
  },
  {
    name: "entries",
    value: [
      { kind: "normal", term: t(1), index: i(1), data: b(0x61) },
      { kind: "noop", term: t(2), index: i(2) },
      { kind: "conf-change", term: t(2), index: i(3), change: { type: "add-voter", node: n("n3") } },
    ] satisfies Entry[],
    encode: encodeEntries,
    decode: decodeEntries,
    hex: "01 | 03 | 01 01 01 0161 | 02 02 02 | 03 02 03 03 026e33",
  },
  {
    name: "hard state",
    value: { term: t(5), vote: n("n1"), commit: i(9) } satisfies HardState,
    encode: encodeHardState,
    decode: decodeHardState,
    hex: "01 | 05 01 026e31 09",
  },
  {
    name: "empty hard state",
    value: { term: t(0), vote: null, commit: i(0) } satisfies HardState,
    encode: encodeHardState,
    decode: decodeHardState,
    hex: "01 | 00 00 00",
  },
  {
    name: "conf state",
    value: { voters: [n("n1"), n("n2")], learners: [n("n3")] } satisfies ConfState,
    encode: encodeConfState,
    decode: decodeConfState,
    hex: "01 | 02 026e31 026e32 | 01 026e33",
  },
  {
    name: "snapshot meta",
    value: { index: i(100), term: t(4), conf: { voters: [n("n1")], learners: [] } } satisfies SnapshotMeta,
    encode: encodeSnapshotMeta,
    decode: decodeSnapshotMeta,
    hex: "01 | 64 04 01 026e31 00",
  },
] as const;

const protocol = (message: string | RegExp) => expect.objectContaining({ code: "Protocol", message: expect.stringMatching(message) });
const invalidArgument = (message: string | RegExp) => expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(message) });
const envelope = { from: n("n1"), to: n("n2"), term: t(3) };

describe("raft codec golden bytes (a failure here means the format changed: bump the version)", () => {
  it("has a golden message for every type the codec declares", () => {
    expect(Object.keys(GOLDEN_MESSAGES).sort()).toEqual(Object.keys(MESSAGE_TYPE_TAGS).sort());
  });

  for (const [type, { message, hex: golden }] of Object.entries(GOLDEN_MESSAGES)) {
    it(`${type} encodes to its golden bytes and back`, () => {
      expect(toHex(encodeMessage(message))).toBe(toHex(hex(golden)));
      expect(decodeMessage(hex(golden))).toStrictEqual(message);
    });
  }

  for (const { name, value, encode, decode, hex: golden } of GOLDEN_RECORDS) {
    it(`${name} record encodes to its golden bytes and back`, () => {
      expect(toHex((encode as (v: unknown) => Uint8Array)(value))).toBe(toHex(hex(golden)));
      expect(decode(hex(golden))).toStrictEqual(value);
    });
  }
});

describe("raft codec refuses malformed input with Protocol, naming the field", () => {
  it("names an unknown version, on messages and records", () => {
    expect(() => decodeMessage(hex("02 0b 026e31 026e33 05"))).toThrow(protocol(/version is 2, but this code reads only version 1/));
    expect(() => decodeHardState(hex("00 000000"))).toThrow(protocol(/raft hard state: version is 0/));
  });

  it("refuses empty input, an unknown type tag and trailing bytes", () => {
    expect(() => decodeMessage(new Uint8Array())).toThrow(protocol(/version is missing/));
    expect(() => decodeMessage(hex("01 00 026e31 026e33 05"))).toThrow(protocol(/type has the unknown tag 0/));
    expect(() => decodeMessage(hex("01 10 026e31 026e33 05"))).toThrow(protocol(/type has the unknown tag 16/));
    expect(() => decodeMessage(hex("01 0b 026e31 026e33 05 00"))).toThrow(protocol(/followed by 1 trailing byte \(at byte 9 of 10\)/));
  });

  it("refuses truncation, naming the field it cut", () => {
    expect(() => decodeMessage(hex("01 01 026e31 026e32 05 ac"))).toThrow(protocol(/vote\.lastIndex is cut off/));
    expect(() => decodeMessage(hex("01 07 026e31 026e32 03 09 01 0501"))).toThrow(protocol(/heartbeat\.context declares 5 bytes, but only 1 remain/));
  });

  it("refuses overlong varints and integers above 2^53 - 1", () => {
    // term 0 as two bytes: decoding it would not re-encode to the same bytes.
    expect(() => decodeMessage(hex("01 0b 026e31 026e33 8000"))).toThrow(protocol(/term is an overlong varint/));
    // 2^53 = 8 bytes: 7 x 0x80 then 0x10.
    expect(() => decodeMessage(hex("01 0b 026e31 026e33 80808080808080 10"))).toThrow(protocol(/term is above 2\^53 - 1/));
    expect(() => decodeMessage(hex("01 0b 026e31 026e33 ffffffffffffffff 01"))).toThrow(protocol(/term is a varint longer than 8 bytes/));
    expect(decodeMessage(hex("01 0b 026e31 026e33 ffffffffffffff 0f")).term).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("refuses a boolean that is not 0 or 1", () => {
    expect(() => decodeMessage(hex("01 03 026e32 026e31 05 02"))).toThrow(protocol(/vote-resp\.reject is the byte 2, but a boolean is 0 or 1/));
  });

  it("refuses node ids that are empty, too long or not UTF-8", () => {
    expect(() => decodeMessage(hex("01 0b 00 026e33 05"))).toThrow(protocol(/from is empty/));
    const long = `8002${"61".repeat(256)}`; // 256 ASCII bytes = 256 UTF-16 units
    expect(() => decodeMessage(hex(`01 0b 026e31 ${long} 05`))).toThrow(protocol(/to is not a valid node id: it is 256 UTF-16 code units long/));
    expect(() => decodeMessage(hex("01 0b 02ff61 026e33 05"))).toThrow(protocol(/from is not valid UTF-8/));
    // CESU-style encoded lone surrogate U+D800: invalid UTF-8.
    expect(() => decodeMessage(hex("01 0b 03eda080 026e33 05"))).toThrow(protocol(/from is not valid UTF-8/));
  });

  it("refuses append entries that do not continue (prevIndex, prevTerm) in order", () => {
    // term 3, prevIndex 5, prevTerm 2; one noop entry (kind 02) of the given term and index; commit 0
    const append = (entries: string, count = 1) => hex(`01 05 026e31 026e32 03 05 02 0${count} ${entries} 00`);
    expect(decodeMessage(append("02 02 06"))).toMatchObject({ entries: [{ kind: "noop", term: 2, index: 6 }] });
    expect(() => decodeMessage(append("02 02 07"))).toThrow(protocol(/append\.entries\[0\] has index 7, expected 6 \(prevIndex \+ 1\)/));
    expect(() => decodeMessage(append("02 01 06"))).toThrow(protocol(/append\.entries\[0\] has term 1, lower than the term 2 of prevIndex/));
    expect(() => decodeMessage(append("02 04 06"))).toThrow(protocol(/append\.entries\[0\] has term 4, higher than the message's term 3/));
    expect(() => decodeMessage(append("02 03 06 | 02 02 07", 2))).toThrow(protocol(/append\.entries\[1\] has term 2, lower than the term 3 of entries\[0\]/));
    expect(() => decodeMessage(append("02 02 06 | 02 02 06", 2))).toThrow(protocol(/append\.entries\[1\] has index 6, expected 7/));
    expect(() => decodeMessage(append("09 02 06"))).toThrow(protocol(/append\.entries\[0\]\.kind has the unknown tag 9/));
    expect(() => decodeMessage(hex("01 05 026e31 026e32 03 05 02 7f 00"))).toThrow(protocol(/append\.entries count is 127, but only 1 bytes remain/));
  });

  it("refuses an entries record that is not a run of the log", () => {
    expect(() => decodeEntries(hex("01 02 | 02 01 01 | 02 01 03"))).toThrow(protocol(/entries\[1\] has index 3, expected 2/));
    expect(() => decodeEntries(hex("01 02 | 02 02 01 | 02 01 02"))).toThrow(protocol(/entries\[1\] has term 1, lower than the term 2/));
  });

  it("refuses a conf state that names a node twice", () => {
    expect(() => decodeConfState(hex("01 | 02 026e31 026e32 | 01 026e31"))).toThrow(protocol(/conf\.learners\[0\] names node "n1" a second time/));
    expect(() => decodeConfState(hex("01 | 02 026e31 026e31 | 00"))).toThrow(protocol(/conf\.voters\[1\] names node "n1" a second time/));
  });

  it("refuses a snapshot chunk that ends beyond 2^53 - 1, and a noop proposal", () => {
    // meta (index 0, term 0, empty conf), offset 2^53 - 1, 1 byte of data, done
    const chunk = hex("01 09 026e31 026e34 04 | 00 00 00 00 | ffffffffffffff0f 01aa 01");
    expect(() => decodeMessage(chunk)).toThrow(protocol(/snapshot\.data ends at offset 9007199254740991 \+ 1 bytes, beyond 2\^53 - 1/));
    expect(() => decodeMessage(hex("01 0c 026e32 026e31 00 01 02"))).toThrow(protocol(/propose\.proposals\[0\]\.kind has the tag 2, which is not a proposal kind/));
  });

  it("refuses input over maxBytes with TooLarge before parsing, and takes input at the limit", () => {
    const bytes = hex(GOLDEN_MESSAGES.vote.hex);
    expect(() => decodeMessage(bytes, { maxBytes: bytes.length - 1 })).toThrow(expect.objectContaining({ code: "TooLarge" }));
    expect(decodeMessage(bytes, { maxBytes: bytes.length })).toStrictEqual(GOLDEN_MESSAGES.vote.message);
    expect(() => decodeEntries(hex("02 00"), { maxBytes: 1 })).toThrow(expect.objectContaining({ code: "TooLarge" }));
  });
});

describe("raft codec encoders", () => {
  it("refuse numbers outside the domain with an InvariantError (a caller bug)", () => {
    const vote = GOLDEN_MESSAGES.vote.message;
    expect(() => encodeMessage({ ...vote, term: t(-1) })).toThrow(InvariantError);
    expect(() => encodeMessage({ ...vote, lastIndex: i(1.5) })).toThrow(/vote\.lastIndex must be a non-negative safe integer, got 1.5/);
    expect(() => encodeMessage({ ...vote, lastTerm: t(Number.NaN) })).toThrow(InvariantError);
    expect(() => encodeMessage({ ...vote, lastTerm: t(2 ** 53) })).toThrow(InvariantError);
    expect(() => encodeHardState({ term: t(1), vote: null, commit: i(-3) })).toThrow(/hardState\.commit/);
  });

  it("refuse invalid node ids with InvalidArgument", () => {
    const vote = GOLDEN_MESSAGES.vote.message;
    expect(() => encodeMessage({ ...vote, from: n("\uD800x") })).toThrow(invalidArgument(/from is not a valid node id: it contains a lone surrogate/));
    expect(() => encodeMessage({ ...vote, to: n("") })).toThrow(invalidArgument(/to is not a valid node id: it is empty/));
    expect(() => encodeConfState({ voters: [n("a".repeat(256))], learners: [] })).toThrow(invalidArgument(/conf\.voters\[0\]/));
    const longest = n(`${"😀".repeat(127)}a`); // 255 UTF-16 units, 509 UTF-8 bytes
    expect(decodeMessage(encodeMessage({ ...vote, from: longest })).from).toBe(longest);
  });

  it("refuse what the decoder would refuse, with an InvariantError", () => {
    const append = GOLDEN_MESSAGES.append.message;
    expect(() => encodeMessage({ ...append, prevIndex: i(4) })).toThrow(/append\.entries\[0\] has index 6, expected 5/);
    expect(() => encodeMessage({ ...append, term: t(2) })).toThrow(/append\.entries\[1\] has term 3, higher than the message's term 2/);
    expect(() => encodeConfState({ voters: [n("n1")], learners: [n("n1")] })).toThrow(InvariantError);
    expect(() => encodeEntries([...GOLDEN_RECORDS[1].value].reverse())).toThrow(InvariantError);
    const snapshot = GOLDEN_MESSAGES.snapshot.message;
    expect(() => encodeMessage({ ...snapshot, offset: Number.MAX_SAFE_INTEGER - 1 })).toThrow(/snapshot\.data ends at offset/);
    expect(encodeEntries([])).toStrictEqual(hex("01 00"));
  });

  it("decoded byte fields are copies that do not alias the input", () => {
    const bytes = hex(GOLDEN_MESSAGES.append.hex);
    const m = decodeMessage(bytes);
    bytes.fill(0);
    expect(m).toStrictEqual(GOLDEN_MESSAGES.append.message);
    const entry = decodeEntry(encodeEntry({ kind: "normal", term: t(1), index: i(1), data: b(1, 2) }));
    expect(entry.kind === "normal" && entry.data.byteOffset === 0 && entry.data.buffer.byteLength === 2).toBe(true);
  });

  it("invalidNodeIdReason accepts what round-trips and explains the rest", () => {
    expect(invalidNodeIdReason("node-1")).toBeNull();
    expect(invalidNodeIdReason("\uFEFF")).toBeNull();
    expect(invalidNodeIdReason("")).toBe("is empty");
    expect(invalidNodeIdReason("x\uDC00")).toMatch(/lone surrogate/);
    expect(invalidNodeIdReason("a".repeat(256))).toMatch(/256 UTF-16 code units/);
    expect(decodeMessage(encodeMessage({ type: "timeout-now", ...envelope, to: n("\uFEFF") })).to).toBe("\uFEFF");
  });
});
