/**
 * The tail of the log not yet known to be durable (etcd-raft's `unstable`): entries and at most one
 * incoming snapshot that the core has accepted but the driver has not yet persisted. They leave
 * through `Ready` and become stable when the driver `advance`s that Ready.
 */
import { invariant } from "../../errors.js";
import { asIndex, type Entry, type LogIndex, type Snapshot, type Term } from "./types.js";

/**
 * Entries `[offset, offset + entries.length)` and an optional snapshot at `offset - 1`.
 * `offsetInProgress` separates entries already handed out in a Ready (being persisted) from those
 * not handed out yet. Invariant: `offset <= offsetInProgress <= offset + entries.length`.
 */
export class Unstable {
  snapshot: Snapshot | null = null;
  snapshotInProgress = false;
  entries: Entry[] = [];
  offset: LogIndex;
  offsetInProgress: LogIndex;

  /** @param offset the index after the last stable entry. */
  constructor(offset: LogIndex) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** First index of the log when a snapshot is pending (its index + 1), else null. */
  maybeFirstIndex(): LogIndex | null {
    return this.snapshot === null ? null : asIndex(this.snapshot.meta.index + 1);
  }

  /** Last index held here (last entry, else the pending snapshot's index), else null. */
  maybeLastIndex(): LogIndex | null {
    if (this.entries.length > 0) return asIndex(this.offset + this.entries.length - 1);
    return this.snapshot === null ? null : this.snapshot.meta.index;
  }

  /** Term of `index` if held here (including the pending snapshot's index), else null. */
  maybeTerm(index: LogIndex): Term | null {
    if (index < this.offset) {
      return this.snapshot !== null && this.snapshot.meta.index === index ? this.snapshot.meta.term : null;
    }
    const e = this.entries[index - this.offset];
    return e === undefined ? null : e.term;
  }

  /** Entries not yet handed out in a Ready. */
  nextEntries(): readonly Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  /** The pending snapshot if not yet handed out in a Ready. */
  nextSnapshot(): Snapshot | null {
    return this.snapshot !== null && !this.snapshotInProgress ? this.snapshot : null;
  }

  /** Marks everything held as handed out (called when a Ready is built). */
  acceptInProgress(): void {
    this.offsetInProgress = asIndex(this.offset + this.entries.length);
    if (this.snapshot !== null) this.snapshotInProgress = true;
  }

  /**
   * The driver persisted entries up to (`index`, `term`). Ignored when that entry is no longer
   * here with that term (replaced by a conflicting append or a snapshot meanwhile).
   */
  stableTo(index: LogIndex, term: Term): void {
    if (index < this.offset) return;
    const t = this.maybeTerm(index);
    if (t === null || t !== term) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = asIndex(index + 1);
    this.offsetInProgress = asIndex(Math.max(this.offsetInProgress, this.offset));
  }

  /** The driver persisted the snapshot at `index`. Ignored if another snapshot replaced it. */
  stableSnapTo(index: LogIndex): void {
    if (this.snapshot !== null && this.snapshot.meta.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with `snapshot` (the log restarts after it). */
  restore(snapshot: Snapshot): void {
    this.offset = asIndex(snapshot.meta.index + 1);
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /**
   * Appends `entries` (contiguous), first dropping every held entry at or after `entries[0].index`.
   * When they start before `offset`, the stable suffix from there is superseded too: `offset`
   * moves back and the driver will overwrite storage from there.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      for (const e of entries) this.entries.push(e);
    } else if (after <= this.offset) {
      this.offset = after;
      this.offsetInProgress = after;
      this.entries = [...entries];
    } else {
      this.entries = [...this.entries.slice(0, after - this.offset), ...entries];
      this.offsetInProgress = asIndex(Math.min(this.offsetInProgress, after));
    }
  }

  /** Entries `[lo, hi)`; requires `offset <= lo <= hi <= offset + entries.length`. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    invariant(
      this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
