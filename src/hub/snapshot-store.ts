/**
 * The snapshot store port: per document, the latest compacted state (one Yjs update holding every
 * log entry up to an id). PostgreSQL implements it (`postgres-snapshots.ts`); `memory-hub.ts` is
 * its in-memory twin. A document is its snapshot plus the log's entries after `upTo`.
 */
import type { DocId } from "../ids.js";
import type { EntryId } from "./shared-log.js";

export interface Snapshot {
  /** A Yjs update (v1) holding every entry of the document's log up to and including `upTo`. */
  readonly update: Uint8Array;
  readonly upTo: EntryId;
}

export interface SnapshotStore {
  /** Names the engine in logs and health. */
  readonly name: string;
  /** The document's snapshot, or undefined when it has none. Rejects `Unavailable` when unreachable. */
  get(doc: DocId): Promise<Snapshot | undefined>;
  /**
   * Stores `snapshot` durably (a committed transaction) unless the stored one already reaches as
   * far: resolves true when stored, false when a snapshot up to `snapshot.upTo` or later was
   * there (two workers raced; the later one wins whatever the order they commit in).
   */
  put(doc: DocId, snapshot: Snapshot): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
