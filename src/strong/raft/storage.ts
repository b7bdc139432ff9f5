/**
 * The core's read-only view of its durable log (etcd-raft's `Storage`). The driver owns writing:
 * it persists what a {@link Ready} hands out, then calls `advance`. The core only reads, and
 * only what has been persisted (entries still in a Ready are the core's own "unstable" tail).
 *
 * Errors are values, not exceptions: asking below the compaction point answers `"compacted"`,
 * asking past the last index answers `"unavailable"`.
 */
import type { ConfState, Entry, HardState, LogIndex, Snapshot, Term } from "./types.js";

/** What a restarting server recovers: its hard state and the membership its log starts from. */
export interface InitialState {
  readonly hardState: HardState;
  /**
   * The membership as of `firstIndex() - 1` (the snapshot's `meta.conf`; empty for a log that
   * starts at 1). The core replays the log's `conf-change` entries on top of it to find the
   * membership in force (see membership.ts).
   */
  readonly confState: ConfState;
}

export interface RaftStorage {
  /** Hard state as of the last persisted Ready, and the membership the log starts from. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at least one (when lo < hi) and then as many as fit in `maxBytes` of
   * payload. Requires firstIndex() <= lo <= hi <= lastIndex() + 1, else "compacted"/"unavailable".
   */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[] | "compacted" | "unavailable";
  /** Term of the entry at `index`; the snapshot's term at `firstIndex() - 1`. */
  term(index: LogIndex): Term | "compacted" | "unavailable";
  /** Index of the first entry still held (snapshot index + 1). */
  firstIndex(): LogIndex;
  /** Index of the last entry held (the snapshot index when the log is empty). */
  lastIndex(): LogIndex;
  /** The latest snapshot (index 0 and empty data when there is none). */
  snapshot(): Snapshot;
}
