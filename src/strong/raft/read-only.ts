/**
 * Pending ReadIndex requests on a leader (thesis 6.4; etcd-raft's `readOnly`). Each request records
 * the commit index when it arrived; it becomes safe once a quorum of voters has answered a
 * heartbeat sent AFTER it arrived, proving this server was still the leader then.
 *
 * Requests are matched to heartbeats by a leader-local sequence number carried as the heartbeat
 * `context` (8 bytes), never by the caller's context: two callers may use the same bytes.
 */
import type { LogIndex, NodeId } from "./types.js";

/** One read waiting for leadership confirmation. */
export interface PendingRead {
  readonly seq: number;
  /** The leader's commit index when the request arrived: the read is served at or after it. */
  readonly index: LogIndex;
  /** Who asked: this server (a ReadState) or a follower (a `read-index-resp`). */
  readonly requester: NodeId;
  readonly context: Uint8Array;
  /** Voters (and possibly others) that answered a heartbeat sent after the request arrived. */
  readonly acks: Set<NodeId>;
}

/** FIFO of pending reads, ordered by `seq`. */
export class ReadOnlyQueue {
  private queue: PendingRead[] = [];

  /** Number of reads waiting. */
  get size(): number {
    return this.queue.length;
  }

  /** Registers a read; `seq` MUST exceed every seq added before. */
  add(read: Omit<PendingRead, "acks">): void {
    this.queue.push({ ...read, acks: new Set() });
  }

  /** `from` answered a heartbeat carrying `seq`: that confirms every read with seq <= `seq`. */
  ack(from: NodeId, seq: number): void {
    for (const r of this.queue) {
      if (r.seq > seq) break;
      r.acks.add(from);
    }
  }

  /** Seq of the newest pending read, to piggyback on ordinary heartbeats; null when none. */
  lastSeq(): number | null {
    return this.queue[this.queue.length - 1]?.seq ?? null;
  }

  /**
   * Removes and returns the longest prefix of reads up to the newest one `confirmed` accepts:
   * once a later read is confirmed, every earlier one is too (its round started later).
   */
  release(confirmed: (read: PendingRead) => boolean): PendingRead[] {
    let last = -1;
    this.queue.forEach((r, i) => {
      if (confirmed(r)) last = i;
    });
    return this.queue.splice(0, last + 1);
  }
}

/** Encodes a read sequence number as a heartbeat context (8 bytes, big-endian). */
export function encodeReadContext(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(seq / 0x1_0000_0000));
  view.setUint32(4, seq >>> 0);
  return out;
}

/** Decodes {@link encodeReadContext}; null for anything else a peer might send. */
export function decodeReadContext(context: Uint8Array | null): number | null {
  if (context === null || context.byteLength !== 8) return null;
  const view = new DataView(context.buffer, context.byteOffset, 8);
  return view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
}
