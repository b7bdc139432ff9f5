/**
 * Counts writes whose durability promise has not settled, and how old the oldest is, for
 * `status().pendingWrites` / `oldestPendingMs`. Storage settles appends in order, so a FIFO of
 * start times is exact.
 */
import type { Clock } from "../clock.js";

export class WriteTracker {
  private readonly started: number[] = [];
  private head = 0;

  constructor(private readonly clock: Clock) {}

  /** Tracks `promise`; returns it unchanged. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.started.push(this.clock.now());
    const done = (): void => {
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.started.length) {
        this.started.splice(0, this.head);
        this.head = 0;
      }
    };
    promise.then(done, done);
    return promise;
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
