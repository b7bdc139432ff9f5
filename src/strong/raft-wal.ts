/**
 * The durable Raft log of a `strong` node on a {@link DocStorage} (files in the node's data folder):
 * what each record and the snapshot hold, and recovery into the in-memory
 * {@link MemoryRaftStorage} the core reads.
 *
 * - A record is what one Ready persisted: its entries (which may overwrite a conflicting suffix:
 *   recovery drops every entry at or after the first one's index, as the core requires) and its
 *   hard state, if it had one.
 * - The storage's snapshot (written by `compact`, which replaces every record before it) holds a
 *   Raft snapshot (the state machine at an index, with the membership then), the hard state, and
 *   the entries the log still held after that index, so it holds everything the records it replaces
 *   did.
 *
 * Layout: `u8 version (1)`, then a record: `list<entry> entries`, `opt<hardState> hardState`; a
 * snapshot: `hardState hardState`, `snapshotMeta meta`, `bytes data`, `list<entry> entries`
 * (`entry`, `hardState`, `snapshotMeta` as the Raft codec lays them out, `raft/codec-entries.ts`).
 *
 * Recovery refuses (`Corrupt`) a log whose entries leave a gap or go back in term, or whose hard
 * state commits past its last entry: a node never starts from a log that lost what it acknowledged.
 */
import { decodeVersioned, encodeVersioned, type BinaryFormat, type Reader, type Writer } from "../codec/primitives.js";
import { ConcordError } from "../errors.js";
import type { StoredLog } from "../storage/storage.js";
import { readEntry, readSnapshotMeta, writeEntry, writeSnapshotMeta } from "./raft/codec-entries.js";
import { MemoryRaftStorage } from "./raft/memory-storage.js";
import { asIndex, asNodeId, asTerm, type Entry, type HardState, type Snapshot } from "./raft/types.js";

const FORMAT: BinaryFormat = { name: "raft log", version: 1, idName: "node id" };

/** What one Ready persisted. */
export interface ReadyRecord {
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
}

/** What the storage's snapshot holds (see the module comment). */
export interface LogSnapshot {
  readonly hardState: HardState;
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

export function encodeReadyRecord(r: ReadyRecord): Uint8Array {
  return encodeVersioned(FORMAT, (w) => {
    writeEntries(w, r.entries);
    w.bool(r.hardState !== null);
    if (r.hardState !== null) writeHardState(w, r.hardState);
  });
}

export function decodeReadyRecord(bytes: Uint8Array): ReadyRecord {
  return decodeVersioned(FORMAT, "raft log record", bytes, undefined, (r) => ({
    entries: readEntries(r),
    hardState: r.bool("hardState present") ? readHardState(r) : null,
  }));
}

export function encodeLogSnapshot(s: LogSnapshot): Uint8Array {
  return encodeVersioned(FORMAT, (w) => {
    writeHardState(w, s.hardState);
    writeSnapshotMeta(w, s.snapshot.meta, "meta");
    w.bytes(s.snapshot.data);
    writeEntries(w, s.entries);
  });
}

export function decodeLogSnapshot(bytes: Uint8Array): LogSnapshot {
  return decodeVersioned(FORMAT, "raft log snapshot", bytes, undefined, (r) => {
    const hardState = readHardState(r);
    const meta = readSnapshotMeta(r, "meta");
    const data = r.bytes("data");
    return { hardState, snapshot: { meta, data }, entries: readEntries(r) };
  });
}

function writeEntries(w: Writer, entries: readonly Entry[]): void {
  w.count(entries.length, "entries");
  entries.forEach((e, i) => writeEntry(w, e, `entries[${i}]`));
}

function readEntries(r: Reader): Entry[] {
  const count = r.count("entries");
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) out.push(readEntry(r, `entries[${i}]`));
  return out;
}

function writeHardState(w: Writer, hs: HardState): void {
  w.uint(hs.term, "hardState.term");
  w.bool(hs.vote !== null);
  if (hs.vote !== null) w.id(hs.vote, "hardState.vote");
  w.uint(hs.commit, "hardState.commit");
}

function readHardState(r: Reader): HardState {
  return {
    term: asTerm(r.uint("hardState.term")),
    vote: r.bool("hardState.vote present") ? asNodeId(r.id("hardState.vote")) : null,
    commit: asIndex(r.uint("hardState.commit")),
  };
}

/**
 * The Raft storage a stored log holds. An empty log gives an empty storage (a node that never
 * joined, or a founding member the caller then bootstraps).
 * @throws ConcordError `Corrupt` naming the record and what is wrong with it.
 */
export function recoverRaftLog(stored: StoredLog): MemoryRaftStorage {
  const storage = new MemoryRaftStorage();
  const fail = (where: string, why: string, cause?: unknown): never => {
    throw new ConcordError("Corrupt", `raft log: ${where} ${why}`, { where }, cause === undefined ? undefined : { cause });
  };
  if (stored.snapshot !== undefined) {
    let s: LogSnapshot;
    try {
      s = decodeLogSnapshot(stored.snapshot);
    } catch (e) {
      return fail("the snapshot", `does not decode: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    if (s.snapshot.meta.index > 0) storage.applySnapshot(s.snapshot);
    appendChecked(storage, s.entries, "the snapshot", fail);
    storage.setHardState(s.hardState);
  }
  stored.records.forEach((bytes, i) => {
    let r: ReadyRecord;
    try {
      r = decodeReadyRecord(bytes);
    } catch (e) {
      return fail(`record ${i}`, `does not decode: ${e instanceof Error ? e.message : String(e)}`, e);
    }
    appendChecked(storage, r.entries, `record ${i}`, fail);
    if (r.hardState !== null) storage.setHardState(r.hardState);
  });
  const hs = storage.hardState();
  if (hs.commit > storage.lastIndex()) fail("the hard state", `commits index ${hs.commit}, past the last entry ${storage.lastIndex()}`);
  return storage;
}

function appendChecked(storage: MemoryRaftStorage, entries: readonly Entry[], where: string, fail: (where: string, why: string) => never): void {
  const first = entries[0];
  if (first === undefined) return;
  if (first.index > storage.lastIndex() + 1) fail(where, `starts at index ${first.index}, leaving a gap after ${storage.lastIndex()}`);
  for (let i = 1; i < entries.length; i++) {
    const e = entries[i]!;
    const before = entries[i - 1]!;
    if (e.index !== before.index + 1 || e.term < before.term) fail(where, `holds entry ${e.index}@${e.term} after ${before.index}@${before.term}`);
  }
  const previousTerm = storage.term(asIndex(first.index - 1));
  if (typeof previousTerm === "number" && first.index > 1 && first.term < previousTerm) {
    // A conflicting suffix may go back in term only where it overwrites: not below the entry before it.
    fail(where, `holds entry ${first.index}@${first.term} after ${first.index - 1}@${previousTerm}`);
  }
  storage.append(entries);
}
