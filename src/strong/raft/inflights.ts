/**
 * The window of append messages a leader has in flight to one follower (etcd-raft's `Inflights`):
 * flow control by message count and by payload bytes. Pure bookkeeping, no I/O.
 */
import { invariant } from "../../errors.js";
import type { LogIndex } from "./types.js";

/**
 * A FIFO ring of in-flight appends, each remembered by the last index it carried and its payload
 * bytes. Indexes MUST be added in increasing order; an ack for index `i` frees every message whose
 * last index is <= `i`.
 *
 * Not guaranteed: that the messages were delivered. A lost message stays "in flight" until a later
 * ack frees it or the progress resets the window (probe after a rejection, `reset`).
 */
export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private length = 0;
  private totalBytes = 0;

  /**
   * @param maxMessages the window size in messages (>= 1).
   * @param maxBytes the window size in payload bytes; 0 means no byte limit.
   */
  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    invariant(Number.isSafeInteger(maxMessages) && maxMessages >= 1, `inflights window must be >= 1, got ${maxMessages}`);
    this.indexes = new Array<number>(maxMessages).fill(0);
    this.sizes = new Array<number>(maxMessages).fill(0);
  }

  /** Number of messages in flight. */
  get count(): number {
    return this.length;
  }

  /** Payload bytes in flight. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** True when no further message may be sent: the count or the byte budget is exhausted. */
  full(): boolean {
    return this.length === this.maxMessages || (this.maxBytes > 0 && this.totalBytes >= this.maxBytes);
  }

  /** Records a sent message whose last entry is `index`. MUST NOT be called when {@link full}. */
  add(index: LogIndex, bytes: number): void {
    invariant(!this.full(), "cannot add to a full inflights window");
    if (this.length > 0) {
      const last = this.indexes[(this.start + this.length - 1) % this.maxMessages] ?? 0;
      invariant(index > last, `inflight indexes must increase: ${index} after ${last}`);
    }
    const slot = (this.start + this.length) % this.maxMessages;
    this.indexes[slot] = index;
    this.sizes[slot] = bytes;
    this.length++;
    this.totalBytes += bytes;
  }

  /** Frees every in-flight message whose last index is <= `to` (an ack covers them all). */
  freeLE(to: LogIndex): void {
    while (this.length > 0) {
      const index = this.indexes[this.start] ?? 0;
      if (index > to) break;
      this.totalBytes -= this.sizes[this.start] ?? 0;
      this.start = (this.start + 1) % this.maxMessages;
      this.length--;
    }
    if (this.length === 0) {
      this.start = 0;
      this.totalBytes = 0;
    }
  }

  /** Forgets everything in flight. */
  reset(): void {
    this.start = 0;
    this.length = 0;
    this.totalBytes = 0;
  }
}
