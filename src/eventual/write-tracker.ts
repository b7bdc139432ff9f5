/**
 * Counts writes whose durability has not settled, and how old the oldest is, for
 * `status().pendingWrites` / `oldestPendingMs`. Storage settles appends in order, so a FIFO of
 * start times is exact. Allocation-free per write apart from the array slot: it sits on the hot path.
 */
import type { Clock } from "../clock.js";

/** Pending-write bookkeeping for `status()`; see the module documentation. */
export class WriteTracker {
  private started: number[] = [];
  private head = 0;

  constructor(private readonly clock: Clock) {}

  /** A write began; MUST be matched by exactly one {@link settled}, in the same order. */
  began(): void {
    this.started.push(this.clock.now());
  }

  /** The oldest `n` unsettled writes settled (resolved or failed). */
  settled(n = 1): void {
    this.head += n;
    if (this.head === this.started.length) {
      this.started = [];
      this.head = 0;
    }
  }

  get pending(): number {
    return this.started.length - this.head;
  }

  /** Age of the oldest unsettled write in ms; 0 when none. */
  oldestAgeMs(): number {
    const t = this.started[this.head];
    return t === undefined ? 0 : Math.max(0, this.clock.now() - t);
  }
}
