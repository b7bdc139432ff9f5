/**
 * Pending-write bookkeeping for `status().pendingWrites` / `oldestPendingMs`, per group commit:
 * the writes whose updates share one append promise form a {@link WriteBatch}. Batches usually
 * settle in order, but not always (storage may refuse a record at once while older ones wait), so
 * the oldest pending age is that of the oldest batch not yet settled, whatever settled after it.
 */
import type { Clock } from "../clock.js";

/** The writes whose updates became durable (or failed) together. */
export interface WriteBatch {
  writes: number;
  /** True when some update in it came from a peer or a direct Y.Doc edit: nobody awaits those. */
  unawaited: boolean;
  readonly startedAt: number;
  settled: boolean;
}

/** See the module documentation. */
export class WriteTracker {
  private batches: WriteBatch[] = [];
  private head = 0;
  private pendingWrites = 0;

  constructor(private readonly clock: Clock) {}

  /** Starts a batch; MUST be settled exactly once with {@link settle}. */
  open(): WriteBatch {
    const batch: WriteBatch = { writes: 0, unawaited: false, startedAt: this.clock.now(), settled: false };
    this.batches.push(batch);
    return batch;
  }

  /** Counts one more write in `batch`. */
  add(batch: WriteBatch): void {
    batch.writes++;
    this.pendingWrites++;
  }

  /** Every write of `batch` settled (resolved or failed). */
  settle(batch: WriteBatch): void {
    if (batch.settled) return;
    batch.settled = true;
    this.pendingWrites -= batch.writes;
    while (this.head < this.batches.length && this.batches[this.head]!.settled) this.head++;
    if (this.head === this.batches.length) {
      this.batches = [];
      this.head = 0;
    }
  }

  get pending(): number {
    return this.pendingWrites;
  }

  /** Age of the oldest unsettled write in ms; 0 when none. */
  oldestAgeMs(): number {
    const oldest = this.batches[this.head];
    return oldest === undefined ? 0 : Math.max(0, this.clock.now() - oldest.startedAt);
  }
}
