/**
 * Recovery of a `primary`-mode node from its stored log (src/primary/wal.ts): what an empty log, a
 * snapshot and the records after it, and epoch entries rebuild; and the logs it refuses with
 * `Corrupt` (gaps, histories going back, undecodable entries, ops and snapshot states) rather than
 * serve a state that skipped a write.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConcordError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { encodeOp, type KvOp } from "../../../src/kv/ops.js";
import { KvState } from "../../../src/kv/kv-state.js";
import { asEpoch, asLsn, type EpochHistory, type ReplRecord } from "../../../src/primary/replication/types.js";
import { encodeWalEntry, encodeWalSnapshot } from "../../../src/primary/wal-codec.js";
import { recover } from "../../../src/primary/wal.js";
import type { StoredLog } from "../../../src/storage/storage.js";
import { checkProperty } from "../../property/prop.js";
import { expectCorrupt } from "./expect-corrupt.js";

const e = asEpoch;
const l = asLsn;
const p = asPeerId;

const H1: EpochHistory = [{ epoch: e(1), primary: p("p1"), startLsn: l(1) }];
const H2: EpochHistory = [...H1, { epoch: e(2), primary: p("p2"), startLsn: l(3) }];

const set = (key: string, value: number): KvOp => ({ kind: "set", key, value });
const record = (epoch: number, lsn: number, op: KvOp): ReplRecord => ({ epoch: e(epoch), lsn: l(lsn), data: encodeOp(op) });
const rec = (epoch: number, lsn: number, op: KvOp): Uint8Array => encodeWalEntry({ kind: "record", record: record(epoch, lsn, op) });
const epochEntry = (epoch: number, history: EpochHistory, primary: string): Uint8Array =>
  encodeWalEntry({ kind: "epoch", epoch: e(epoch), history, primary: p(primary) });
const log = (records: Uint8Array[], snapshot?: Uint8Array): StoredLog => ({ snapshot, records });

function stateOf(...ops: KvOp[]): KvState {
  const s = new KvState();
  for (const op of ops) s.apply(op);
  return s;
}

/** Asserts `run` throws a Corrupt ConcordError whose message matches; returns it. */

describe("recover() rebuilds a node's state", () => {
  it("gives epoch 0, no history, no primary and an empty state for an empty log", () => {
    const r = recover(log([]));
    expect(r).toMatchObject({ epoch: 0, history: [], primary: null, lastLsn: 0, records: [] });
    expect(r.state.size).toBe(0);
  });

  it("takes epoch, history and primary from the newest epoch entry", () => {
    const r = recover(log([epochEntry(1, H1, "p1"), rec(1, 1, set("a", 1)), rec(1, 2, set("b", 2)), epochEntry(2, H2, "p2")]));
    expect(r).toMatchObject({ epoch: 2, history: H2, primary: "p2", lastLsn: 2 });
  });

  it("keeps a replica's higher epoch while its history still ends in the older one", () => {
    // A replica told of epoch 2 logs it before its log follows p2's history.
    const r = recover(log([epochEntry(1, H1, "p1"), rec(1, 1, set("a", 1)), epochEntry(2, H1, "p2")]));
    expect(r).toMatchObject({ epoch: 2, history: H1, primary: "p2", lastLsn: 1 });
  });

  it("starts from the snapshot and applies only the records after it", () => {
    const base = stateOf(set("a", 1), set("b", 2));
    const snapshot = encodeWalSnapshot({ epoch: e(2), history: H2, primary: p("p2"), lsn: l(2), state: base.encode() });
    const r = recover(log([rec(2, 3, set("c", 3)), rec(2, 4, { kind: "delete", key: "a" })], snapshot));
    expect(r).toMatchObject({ epoch: 2, history: H2, primary: "p2", lastLsn: 4 });
    expect(r.records).toStrictEqual([record(2, 3, set("c", 3)), record(2, 4, { kind: "delete", key: "a" })]);
    expect(r.state.entries()).toStrictEqual([
      ["b", 2],
      ["c", 3],
    ]);
  });

  it("returns the state of applying its records in order", async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key: fc.constantFrom("a", "b", "c"), value: fc.integer() }),
      fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c") }),
    );
    const batch = fc.array(op, { maxLength: 3 }).map((ops): KvOp => ({ kind: "batch", ops }));
    await checkProperty(
      fc.property(fc.array(fc.oneof(op, batch), { maxLength: 30 }), fc.nat({ max: 30 }), (ops, snapAt) => {
        // Records 1..cut live in a snapshot, the rest as records after it.
        const cut = Math.min(snapAt, ops.length);
        const snapState = stateOf(...ops.slice(0, cut));
        const snapshot = cut === 0 ? undefined : encodeWalSnapshot({ epoch: e(1), history: H1, primary: p("p1"), lsn: l(cut), state: snapState.encode() });
        const records = ops.slice(cut).map((o, i) => rec(1, cut + i + 1, o));
        const r = recover(log(cut === 0 ? [epochEntry(1, H1, "p1"), ...records] : records, snapshot));
        expect(r.lastLsn).toBe(ops.length);
        expect(r.records.map((x) => x.lsn)).toStrictEqual(ops.slice(cut).map((_, i) => cut + i + 1));
        expect(r.state.entries()).toStrictEqual(stateOf(...ops).entries());
      }),
    );
  });
});

describe("recover() refuses a log it cannot trust with Corrupt", () => {
  it("names the record after a gap in LSNs", () => {
    const error = expectCorrupt(
      () => recover(log([epochEntry(1, H1, "p1"), rec(1, 1, set("a", 1)), rec(1, 3, set("b", 2))])),
      /write-ahead log: record 2 has LSN 3 after LSN 1/,
    );
    expect(error.details).toMatchObject({ record: 2, lsn: 3, after: 1 });
  });

  it("refuses records that do not continue the snapshot", () => {
    const snapshot = encodeWalSnapshot({ epoch: e(1), history: H1, primary: p("p1"), lsn: l(5), state: new KvState().encode() });
    expectCorrupt(() => recover(log([rec(1, 5, set("a", 1))], snapshot)), /record 0 has LSN 5 after LSN 5/);
    expectCorrupt(() => recover(log([rec(1, 7, set("a", 1))], snapshot)), /record 0 has LSN 7 after LSN 5/);
  });

  it("refuses an epoch entry that goes back to an older epoch", () => {
    const error = expectCorrupt(
      () => recover(log([epochEntry(2, H2, "p2"), epochEntry(1, H1, "p1")])),
      /record 1 goes back from epoch 2 to 1/,
    );
    expect(error.details).toMatchObject({ record: 1 });
  });

  it("refuses an epoch entry holding an invalid history", () => {
    const backwards: EpochHistory = [H2[1]!, H2[0]!];
    expectCorrupt(() => recover(log([epochEntry(2, backwards, "p2")])), /record 0 holds an invalid epoch history/);
    expectCorrupt(() => recover(log([epochEntry(1, [], "p1")])), /record 0 holds an invalid epoch history: an epoch history has at least one entry/);
  });

  it("refuses a history that reaches beyond the logged epoch", () => {
    expectCorrupt(() => recover(log([epochEntry(1, H2, "p2")])), /the history reaches epoch 2 beyond the logged epoch 1/);
  });

  it("names the record and LSN of an op that does not decode", () => {
    const garbage = encodeWalEntry({ kind: "record", record: { epoch: e(1), lsn: l(2), data: Uint8Array.of(1, 9) } });
    const error = expectCorrupt(
      () => recover(log([epochEntry(1, H1, "p1"), rec(1, 1, set("a", 1)), garbage])),
      /record 2 \(LSN 2\) holds no valid operation: malformed kv op: kind has the unknown tag 9/,
    );
    expect(error.details).toMatchObject({ record: 2, lsn: 2 });
  });

  it("names the record that does not decode as a WAL entry", () => {
    const error = expectCorrupt(
      () => recover(log([epochEntry(1, H1, "p1"), rec(1, 1, set("a", 1)), Uint8Array.of(1, 7)])),
      /kind has the unknown tag 7 .*\(record 2 of the stored log\)/,
    );
    expect(error.details).toMatchObject({ record: 2 });
  });

  it("refuses a snapshot that does not decode", () => {
    expectCorrupt(() => recover(log([], Uint8Array.of(1, 1))), /snapshot on disk does not decode/);
  });

  it("refuses a snapshot whose key-value state does not decode", () => {
    const snapshot = encodeWalSnapshot({ epoch: e(1), history: H1, primary: p("p1"), lsn: l(3), state: Uint8Array.of(1, 5) });
    expectCorrupt(() => recover(log([], snapshot)), /snapshot.*(state|kv snapshot)/);
  });

  it("refuses a snapshot holding an invalid epoch history", () => {
    const snapshot = encodeWalSnapshot({ epoch: e(1), history: [], primary: p("p1"), lsn: l(0), state: new KvState().encode() });
    expectCorrupt(() => recover(log([], snapshot)), /snapshot holds an invalid epoch history/);
  });
});
