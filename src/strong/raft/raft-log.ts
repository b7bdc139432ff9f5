/**
 * The core's view of the replicated log (etcd-raft's `raftLog`): the durable part read through
 * {@link RaftStorage}, plus the {@link Unstable} tail not yet persisted, plus the commit and apply
 * cursors. Implements the log-matching rules of paper 5.3.
 */
import { invariant } from "../../errors.js";
import type { RaftStorage } from "./storage.js";
import { Unstable } from "./unstable.js";
import { asIndex, asTerm, entryPayloadSize, type Entry, type LogIndex, type Snapshot, type Term } from "./types.js";

/** What `term(i)` or a slice answers when the log can't: below the snapshot, or past the end. */
export type LogGap = "compacted" | "unavailable";

/**
 * The log of one server. Invariants: `applied <= applying <= committed <= lastIndex()`;
 * entries at or below `committed` are never truncated.
 */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed (paper figure 2, `commitIndex`). */
  committed: LogIndex;
  /** Highest index handed out for application in a Ready (applied once that Ready is advanced). */
  applying: LogIndex;
  /** Highest index the driver reported applied. */
  applied: LogIndex;

  constructor(
    readonly storage: RaftStorage,
    committed: LogIndex,
    applied: LogIndex,
  ) {
    this.unstable = new Unstable(asIndex(storage.lastIndex() + 1));
    this.committed = committed;
    this.applied = applied;
    this.applying = applied;
  }

  /** First index still held (after the latest snapshot, pending or stable). */
  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Index of the last entry (the snapshot's index when the log after it is empty). */
  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /**
   * Term of the entry at `index`. Valid for `[firstIndex() - 1, lastIndex()]` (the snapshot's
   * term at `firstIndex() - 1`); `"compacted"` below, `"unavailable"` above.
   */
  term(index: LogIndex): Term | LogGap {
    const t = this.unstable.maybeTerm(index);
    if (t !== null) return t;
    if (index + 1 < this.firstIndex()) return "compacted";
    if (index > this.lastIndex()) return "unavailable";
    if (index === 0) return asTerm(0);
    return this.storage.term(index);
  }

  /** Term of the last entry. */
  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    invariant(typeof t === "number", `term of the last index ${this.lastIndex()} is ${t}`);
    return t;
  }

  /** True when the entry at `index` exists here with term `term`. */
  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Election restriction (paper 5.4.1): is a log ending at (`lastIndex`, `lastTerm`) at least as up-to-date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Index of the first of `entries` that is not in our log with the same term (a conflict or a
   * new entry), or 0 when we hold all of them.
   */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return asIndex(0);
  }

  /**
   * Best guess of where our log stops matching a log whose entry at `index` has term `term`: the
   * highest index <= `index` whose term is <= `term` (paper 5.3, "skip a whole term"). An index we
   * can't read is returned with term 0 (unknown).
   */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    for (let i = index; i > 0; i--) {
      const t = this.term(asIndex(i));
      if (typeof t !== "number") return { index: asIndex(i), term: asTerm(0) };
      if (t <= term) return { index: asIndex(i), term: t };
    }
    return { index: asIndex(0), term: asTerm(0) };
  }

  /**
   * A follower's AppendEntries (paper 5.3): if our log has (`prevIndex`, `prevTerm`), keeps what
   * matches, truncates the first conflicting suffix, appends the rest, and advances the commit to
   * min(`leaderCommit`, last new index). Returns null on a mismatch; else the last new index and
   * the entries actually appended (a conflict point onwards), so the caller can track membership.
   * Requires `prevIndex >= committed`.
   */
  maybeAppend(
    prevIndex: LogIndex,
    prevTerm: Term,
    leaderCommit: LogIndex,
    entries: readonly Entry[],
  ): { lastNew: LogIndex; appended: readonly Entry[] } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = asIndex(prevIndex + entries.length);
    const conflict = this.findConflict(entries);
    let appended: readonly Entry[] = [];
    if (conflict !== 0) {
      invariant(conflict > this.committed, `entry ${conflict} conflicts with committed ${this.committed}`);
      appended = entries.slice(conflict - (prevIndex + 1));
      this.append(appended);
    }
    this.commitTo(asIndex(Math.min(leaderCommit, lastNew)));
    return { lastNew, appended };
  }

  /** Appends contiguous entries, truncating any suffix they replace. Never truncates committed entries. */
  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    invariant(first.index > this.committed, `append at ${first.index} would overwrite committed ${this.committed}`);
    invariant(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Raises the commit index to `index` (never lowers it). */
  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader commit (paper 5.4.2): only when the entry at `index` is of the current `term`. */
  maybeCommit(index: LogIndex, term: Term): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /**
   * Entries `[lo, hi)`: at least one when `lo < hi`, then as many as fit in `maxBytes` of payload.
   * `"compacted"` when `lo` is below the first index. Requires `hi <= lastIndex() + 1`.
   */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] | "compacted" {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return "compacted";
    invariant(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) is beyond the last index ${this.lastIndex()}`);
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      const stableHi = asIndex(Math.min(hi, offset));
      const stored = this.storage.entries(lo, stableHi, maxBytes);
      if (stored === "compacted") return "compacted";
      invariant(stored !== "unavailable", `storage has no entries [${lo}, ${stableHi}) below the unstable offset ${offset}`);
      out = [...stored];
      if (out.length < stableHi - lo || hi <= offset) return out;
    }
    let bytes = out.reduce((n, e) => n + entryPayloadSize(e), 0);
    for (const e of this.unstable.slice(asIndex(Math.max(lo, offset)), hi)) {
      const size = entryPayloadSize(e);
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(e);
      bytes += size;
    }
    return out;
  }

  /** Installs `snapshot` as the new base of the log: everything before is discarded, it is committed. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }

  /**
   * Last index known durable and part of this log (what a leader may count for itself, thesis
   * 10.2.1 aside): 0 while a received snapshot is not yet persisted.
   */
  durableLastIndex(): LogIndex {
    if (this.unstable.snapshot !== null) return asIndex(0);
    return asIndex(this.unstable.offset - 1);
  }

  /** True when committed entries wait to be handed out (never while a snapshot is pending). */
  hasNextCommitted(): boolean {
    return this.unstable.snapshot === null && this.committed > this.applying;
  }

  /**
   * Committed entries not yet handed out, from `applying + 1`: at least one when there are any,
   * then as many as fit in `maxBytes` of payload (0 = all up to the commit index).
   */
  nextCommitted(maxBytes: number): Entry[] {
    if (!this.hasNextCommitted()) return [];
    const limit = maxBytes === 0 ? Number.POSITIVE_INFINITY : maxBytes;
    const out = this.slice(asIndex(this.applying + 1), asIndex(this.committed + 1), limit);
    invariant(out !== "compacted", `committed entries after ${this.applying} were compacted before being applied`);
    return out;
  }

  /** The driver applied everything up to `index`. */
  appliedTo(index: LogIndex): void {
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }
}
