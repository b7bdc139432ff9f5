/**
 * A client session's positions: the newest write it had acknowledged and the newest state it read,
 * each as a (term, index) position: primary mode's (epoch, LSN), Raft's (term, log index). With
 * sessions on, every read carries the newer of the two as `after`, so whichever node serves it
 * waits until its state includes that position: read-your-writes and monotonic reads, across
 * nodes and across a change of writer alike (positions are the group's, not a node's: a promoted
 * replica holds the records of the epochs before its own under the same positions, and a Raft
 * log's index names one entry on every node).
 *
 * Not guaranteed: a write acknowledged at `local` and lost in a failover leaves a position no node
 * will ever hold under that epoch; reads of this session then answer `Timeout`, never older data.
 */
import type { WirePosition } from "../service/protocol.js";

/** The newer of two positions: the higher index (indexes count across terms), then the higher term. */
export function newer(a: WirePosition | undefined, b: WirePosition): WirePosition {
  if (a === undefined) return b;
  if (b.lsn !== a.lsn) return b.lsn > a.lsn ? b : a;
  return b.epoch > a.epoch ? b : a;
}

/** The positions one client has written and read. Only ever move forward. */
export class SessionPositions {
  #lastWrite: WirePosition | undefined;
  #lastRead: WirePosition | undefined;

  /** Position of the newest acknowledged write, if any. */
  get lastWrite(): WirePosition | undefined {
    return this.#lastWrite;
  }

  /** The newest position read, if any. */
  get lastRead(): WirePosition | undefined {
    return this.#lastRead;
  }

  wrote(p: WirePosition): void {
    this.#lastWrite = newer(this.#lastWrite, p);
  }

  read(p: WirePosition): void {
    this.#lastRead = newer(this.#lastRead, p);
  }

  /** What the next read must include: the newer of both, or null before any record was seen. */
  floor(): WirePosition | null {
    let after: WirePosition | undefined;
    for (const p of [this.#lastWrite, this.#lastRead]) if (p !== undefined) after = newer(after, p);
    return after !== undefined && after.lsn > 0 ? after : null;
  }
}
