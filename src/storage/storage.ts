/**
 * The storage contract shared by every adapter (memory, file, IndexedDB, simulated disk) and every
 * mode: one durable, ordered log of opaque records per document, plus at most one snapshot that
 * replaces every record before it. The eventual mode stores Yjs updates; the primary mode its WAL;
 * Raft its entries and hard state. The shared contract suite is `test/storage/contract.ts`.
 */
import type { DocId } from "../ids.js";

/** What a log holds: the latest snapshot (if any) and the records appended after it, in order. */
export interface StoredLog {
  readonly snapshot: Uint8Array | undefined;
  readonly records: readonly Uint8Array[];
}

/** Sizes of what a log holds, for compaction decisions and `status()`. */
export interface LogStats {
  /** Records appended since the last snapshot (durable or not). */
  readonly records: number;
  /** Bytes of those records, framing excluded. */
  readonly recordBytes: number;
  /** Bytes of the current snapshot, 0 if none. */
  readonly snapshotBytes: number;
  /** Appends accepted but not yet durable. */
  readonly pending: number;
}

/**
 * One document's log. Not safe to open twice at once (the file adapter takes no OS lock; the
 * caller owns exclusivity).
 *
 * Ordering: records become durable in append order; if record k survives a crash then every
 * record before k survives too. A resolved `append`/`compact`/`flush` is durable at the adapter's
 * promise (fsync for files, a committed transaction for IndexedDB).
 */
export interface DocStorage {
  /**
   * The largest record or snapshot, in bytes, that `append` and `compact` accept; larger ones
   * reject with `TooLarge` (and change nothing). Fixed for the life of the storage, so a caller can
   * refuse an oversized write BEFORE applying it anywhere else.
   */
  readonly maxRecordBytes: number;
  /**
   * Everything the log holds, durable or pending, as one snapshot plus the records after it.
   * Rejects with `Corrupt` if stored bytes fail their checksum before the tail.
   */
  load(): Promise<StoredLog>;
  /**
   * Appends one record. Resolves once the record is durable; many appends may share one sync
   * (group commit), and appends that become durable together may return the SAME promise. Rejects with `TooLarge` for a record over the adapter's limit, `Closed` after
   * `close()`, `Io` if the device fails (after which the storage is closed: nothing after a failed
   * write may become durable out of order).
   */
  append(record: Uint8Array): Promise<void>;
  /**
   * Replaces the snapshot and every record appended BEFORE this call with `snapshot`, which MUST
   * contain everything those records did. Records appended after the call stay after the new
   * snapshot. Crash-safe: after a crash at any point, `load` returns either the old or the new
   * snapshot with a record list that still holds everything that was durable.
   */
  compact(snapshot: Uint8Array): Promise<void>;
  /** True when the records since the last snapshot pass the adapter's compaction threshold. */
  shouldCompact(): boolean;
  stats(): LogStats;
  /** Resolves once every append made before the call is durable. */
  flush(): Promise<void>;
  /** Flushes, then releases the log. Further calls reject with `Closed`. Idempotent. */
  close(): Promise<void>;
}

/**
 * Where documents live: a folder, an IndexedDB database, memory, a simulated disk.
 * This is what `openStore({ persistence })` takes.
 */
export interface Persistence {
  /** A short name for logs and errors, e.g. `file:./data`. */
  readonly name: string;
  /**
   * Opens (creating if needed) the log of `doc`, recovering it first: a torn tail is truncated,
   * a checksum failure before the tail rejects with `Corrupt` naming the file and offset.
   */
  open(doc: DocId): Promise<DocStorage>;
}
