/**
 * The write-ahead log format of `primary` mode (src/primary/wal-codec.ts): every entry kind and the
 * snapshot round-trip, golden bytes pin the layout, and stored bytes that do not decode are
 * `Corrupt` (never `Protocol`, never another error type) with a message naming the field and offset.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConcordError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { encodeOp } from "../../../src/kv/ops.js";
import { KvState } from "../../../src/kv/kv-state.js";
import { asEpoch, asLsn, type EpochHistory } from "../../../src/primary/replication/types.js";
import {
  decodeWalEntry,
  decodeWalSnapshot,
  encodeWalEntry,
  encodeWalSnapshot,
  type WalEntry,
  type WalSnapshot,
} from "../../../src/primary/wal-codec.js";
import { checkProperty } from "../../property/prop.js";
import { expectCorrupt } from "./expect-corrupt.js";

const e = asEpoch;
const l = asLsn;
const p = asPeerId;
/** Bytes from hex; spaces and `|` only separate fields for the reader. */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");

/** p1 wrote epoch 1 from LSN 1; p2 took over in epoch 3 at LSN 200. */
const HISTORY: EpochHistory = [
  { epoch: e(1), primary: p("p1"), startLsn: l(1) },
  { epoch: e(3), primary: p("p2"), startLsn: l(200) },
];
const HISTORY_HEX = "02 | 01 027031 01 | 03 027032 c801";

/**
 * GOLDEN BYTES: what nodes of this release wrote to disk. If one of these fails, a node upgraded to
 * the new code can no longer read its own log: bump WAL_FORMAT.version and keep a reader for 1.
 */
const GOLDEN_ENTRIES: { readonly [K in WalEntry["kind"]]: { readonly entry: WalEntry & { kind: K }; readonly hex: string } } = {
  record: {
    entry: { kind: "record", record: { epoch: e(3), lsn: l(300), data: Uint8Array.of(1, 2, 3) } },
    // version | tag | epoch | lsn | data
    hex: "01 | 01 | 03 | ac02 | 03 010203",
  },
  epoch: {
    entry: { kind: "epoch", epoch: e(3), history: HISTORY, primary: p("p2") },
    // version | tag | epoch | history | primary
    hex: `01 | 02 | 03 | ${HISTORY_HEX} | 027032`,
  },
};

const GOLDEN_SNAPSHOT: { readonly snapshot: WalSnapshot; readonly hex: string } = {
  snapshot: { epoch: e(3), history: HISTORY, primary: p("p2"), lsn: l(250), state: Uint8Array.of(1, 0) },
  // version | epoch | history | primary | lsn | state
  hex: `01 | 03 | ${HISTORY_HEX} | 027032 | fa01 | 02 0100`,
};

/** Asserts `decode` throws a Corrupt ConcordError (and nothing else) whose message matches. */

describe("WAL entries and snapshots round-trip", () => {
  it("decodes every entry kind to what was encoded", () => {
    const entries: WalEntry[] = [
      { kind: "record", record: { epoch: e(1), lsn: l(1), data: encodeOp({ kind: "set", key: "k", value: { a: [1, "x"] } }) } },
      { kind: "record", record: { epoch: e(7), lsn: l(Number.MAX_SAFE_INTEGER), data: new Uint8Array() } },
      { kind: "epoch", epoch: e(1), history: [{ epoch: e(1), primary: p("n1"), startLsn: l(1) }], primary: p("n1") },
      { kind: "epoch", epoch: e(9), history: HISTORY, primary: p("😀 node") },
    ];
    for (const entry of entries) expect(decodeWalEntry(encodeWalEntry(entry))).toStrictEqual(entry);
  });

  it("decodes a snapshot to what was encoded", () => {
    const state = new KvState();
    state.apply({ kind: "set", key: "a", value: 1 });
    const snapshot: WalSnapshot = { epoch: e(4), history: HISTORY, primary: p("p2"), lsn: l(1_000), state: state.encode() };
    expect(decodeWalSnapshot(encodeWalSnapshot(snapshot))).toStrictEqual(snapshot);
  });
});

describe("WAL golden bytes", () => {
  it("encodes a record entry as checked in", () => {
    expect(toHex(encodeWalEntry(GOLDEN_ENTRIES.record.entry))).toBe(toHex(hex(GOLDEN_ENTRIES.record.hex)));
    expect(decodeWalEntry(hex(GOLDEN_ENTRIES.record.hex))).toStrictEqual(GOLDEN_ENTRIES.record.entry);
  });

  it("encodes an epoch entry as checked in", () => {
    expect(toHex(encodeWalEntry(GOLDEN_ENTRIES.epoch.entry))).toBe(toHex(hex(GOLDEN_ENTRIES.epoch.hex)));
    expect(decodeWalEntry(hex(GOLDEN_ENTRIES.epoch.hex))).toStrictEqual(GOLDEN_ENTRIES.epoch.entry);
  });

  it("encodes a snapshot as checked in", () => {
    expect(toHex(encodeWalSnapshot(GOLDEN_SNAPSHOT.snapshot))).toBe(toHex(hex(GOLDEN_SNAPSHOT.hex)));
    expect(decodeWalSnapshot(hex(GOLDEN_SNAPSHOT.hex))).toStrictEqual(GOLDEN_SNAPSHOT.snapshot);
  });
});

describe("stored bytes that do not decode are Corrupt, naming the field and offset", () => {
  it("refuses an empty record", () => {
    const error = expectCorrupt(() => decodeWalEntry(new Uint8Array()), /write-ahead log record on disk does not decode: .*version is missing.*at byte 0 of 0/);
    expect(error.details).toMatchObject({ field: "version", offset: 0 });
  });

  it("refuses another version, saying which one it reads", () => {
    const bytes = hex(GOLDEN_ENTRIES.record.hex);
    bytes[0] = 2;
    expectCorrupt(() => decodeWalEntry(bytes), /version is 2, but this code reads only version 1/);
    const snap = hex(GOLDEN_SNAPSHOT.hex);
    snap[0] = 0;
    expectCorrupt(() => decodeWalSnapshot(snap), /snapshot on disk does not decode: .*version is 0, but this code reads only version 1/);
  });

  it("refuses an unknown entry tag, listing the known ones", () => {
    const error = expectCorrupt(() => decodeWalEntry(hex("01 03 01 01 00")), /kind has the unknown tag 3 \(known: 1, 2\) \(at byte 1 of 5\)/);
    expect(error.details).toMatchObject({ field: "kind", offset: 1 });
  });

  it("refuses a truncated record, naming the field cut off", () => {
    expectCorrupt(() => decodeWalEntry(hex("01 01 03 ac02 03 0102")), /record\.data declares 3 bytes, but only 2 remain/);
    expectCorrupt(() => decodeWalEntry(hex("01 01 03")), /record\.lsn is cut off: the input ends inside the number \(at byte 3 of 3\)/);
  });

  it("refuses trailing bytes after a record", () => {
    expectCorrupt(() => decodeWalEntry(hex(`${GOLDEN_ENTRIES.record.hex} 00`)), /followed by 1 trailing byte/);
  });

  it("refuses an epoch entry whose primary is not a valid peer id", () => {
    expectCorrupt(() => decodeWalEntry(hex(`01 02 03 ${HISTORY_HEX} 00`)), /primary/);
  });

  it("refuses every truncation of a valid entry or snapshot with Corrupt", () => {
    const whole = [hex(GOLDEN_ENTRIES.record.hex), hex(GOLDEN_ENTRIES.epoch.hex)];
    for (const bytes of whole) {
      for (let cut = 0; cut < bytes.length; cut++) expectCorrupt(() => decodeWalEntry(bytes.subarray(0, cut)), /does not decode/);
    }
    const snap = hex(GOLDEN_SNAPSHOT.hex);
    for (let cut = 0; cut < snap.length; cut++) expectCorrupt(() => decodeWalSnapshot(snap.subarray(0, cut)), /does not decode/);
  });

  it("refuses arbitrary garbage only with Corrupt, never another error", async () => {
    await checkProperty(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, snapshot) => {
        // A version byte of 1 gets the garbage past the version check most of the time.
        const input = bytes.length > 0 && bytes[0]! % 2 === 0 ? Uint8Array.of(1, ...bytes.subarray(1)) : bytes;
        try {
          if (snapshot) decodeWalSnapshot(input);
          else decodeWalEntry(input);
        } catch (err) {
          expect(err).toBeInstanceOf(ConcordError);
          expect((err as ConcordError).code).toBe("Corrupt");
        }
      }),
      { numRuns: 500 },
    );
  });
});
