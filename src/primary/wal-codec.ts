/**
 * The bytes of the write-ahead log of `primary` mode (what wal.ts stores): versioned and canonical
 * like every Concord format (src/codec/primitives.ts), built from the replication codec's history
 * and record layouts.
 *
 * - entry: `u8 version (1)`, `tag`: 1 = record (`record`), 2 = epoch (`uint epoch`, `history`, `id primary`).
 * - snapshot: `u8 version (1)`, `uint epoch`, `history`, `id primary`, `uint lsn`, `bytes state`.
 *
 * Stored bytes that do not decode are `Corrupt` (naming the offset), never `Protocol`: they came
 * from this node's own disk.
 */
import { decodeVersioned, encodeVersioned, type BinaryFormat } from "../codec/primitives.js";
import { ConcordError, assertNever } from "../errors.js";
import { asPeerId } from "../ids.js";
import { readHistory, readRecord, writeHistory, writeRecord } from "./replication/codec.js";
import { asEpoch, asLsn } from "./replication/types.js";
import type { PeerId } from "../ids.js";
import type { Epoch, EpochHistory, Lsn, ReplRecord } from "./replication/types.js";

/** One stored record of the write-ahead log. */
export type WalEntry =
  | { readonly kind: "record"; readonly record: ReplRecord }
  | {
      readonly kind: "epoch";
      /** Highest epoch seen. */
      readonly epoch: Epoch;
      /** The history of this node's own records (NOT a newer primary's, until its log follows it). */
      readonly history: EpochHistory;
      /** The primary of `epoch` (this node's id when it leads). */
      readonly primary: PeerId;
    };

export interface WalSnapshot {
  /** Highest epoch this node has seen. */
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  /** The primary of `epoch`. */
  readonly primary: PeerId;
  /** The state is after this record. */
  readonly lsn: Lsn;
  readonly state: Uint8Array;
}

export const WAL_FORMAT: BinaryFormat = { name: "write-ahead log", version: 1, idName: "peer id" };

const RECORD = 1;
const EPOCH = 2;

export function encodeWalEntry(e: WalEntry): Uint8Array {
  return encodeVersioned(WAL_FORMAT, (w) => {
    switch (e.kind) {
      case "record":
        w.tag(RECORD);
        writeRecord(w, e.record, "record");
        return;
      case "epoch":
        w.tag(EPOCH);
        w.uint(e.epoch, "epoch");
        writeHistory(w, e.history, "history");
        w.id(e.primary, "primary");
        return;
      default:
        assertNever(e, "WAL entry");
    }
  });
}

/** Rethrows a decoder's `Protocol`/`TooLarge` as `Corrupt`: stored bytes are ours. */
function stored<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof ConcordError && (e.code === "Protocol" || e.code === "TooLarge")) {
      throw new ConcordError("Corrupt", `${what} on disk does not decode: ${e.message}`, e.details, { cause: e });
    }
    throw e;
  }
}

export function decodeWalEntry(bytes: Uint8Array): WalEntry {
  return stored("a write-ahead log record", () =>
    decodeVersioned(WAL_FORMAT, "WAL entry", bytes, undefined, (r): WalEntry => {
      const at = r.offset;
      const tag = r.u8("kind");
      if (tag === RECORD) return { kind: "record", record: readRecord(r, "record") };
      if (tag === EPOCH) {
        const epoch = asEpoch(r.uint("epoch"));
        const history = readHistory(r, "history");
        return { kind: "epoch", epoch, history, primary: asPeerId(r.id("primary")) };
      }
      return r.fail("kind", `has the unknown tag ${tag} (known: 1, 2)`, at);
    }),
  );
}

export function encodeWalSnapshot(s: WalSnapshot): Uint8Array {
  return encodeVersioned(WAL_FORMAT, (w) => {
    w.uint(s.epoch, "epoch");
    writeHistory(w, s.history, "history");
    w.id(s.primary, "primary");
    w.uint(s.lsn, "lsn");
    w.bytes(s.state);
  });
}

export function decodeWalSnapshot(bytes: Uint8Array): WalSnapshot {
  return stored("the write-ahead log's snapshot", () =>
    decodeVersioned(WAL_FORMAT, "WAL snapshot", bytes, undefined, (r): WalSnapshot => {
      const epoch = asEpoch(r.uint("epoch"));
      const history = readHistory(r, "history");
      const primary = asPeerId(r.id("primary"));
      const lsn = asLsn(r.uint("lsn"));
      return { epoch, history, primary, lsn, state: r.bytes("state") };
    }),
  );
}
