/**
 * InstallSnapshot in chunks (paper section 7, figure 13), both ends.
 *
 * Protocol: the leader sends one chunk at a time (stop-and-wait), starting at offset 0. The
 * follower keeps chunks only in order and answers each with `snapshot-resp { offset }`, the number
 * of bytes it holds; `reject` when the chunk does not continue what it holds (a gap, or it holds
 * nothing: e.g. it restarted), telling the leader where to resume. On the `done` chunk it installs
 * the snapshot (handing it out in `Ready.snapshot`) and answers with an `append-resp` for its new
 * last index, which is what moves the leader out of `snapshot` state. A snapshot at or below the
 * follower's commit index is stale: acknowledged with an `append-resp` for the commit index.
 *
 * Loss: the leader resends the chunk at the acknowledged offset when a heartbeat response arrives
 * and no chunk was acknowledged since the previous one. Duplicates are answered with the current
 * offset and otherwise ignored. Not guaranteed: progress while messages to the follower are lost
 * (the transfer simply waits); the follower holds the partial snapshot in memory only.
 */
import type { NodeId, SnapshotMeta, Snapshot, Term } from "./types.js";

/** One chunk to send: bytes [offset, offset + data.length), `done` on the last. */
export interface SnapshotChunk {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

/** The leader's side of one transfer to one follower. */
export class OutgoingSnapshot {
  /** Bytes the follower confirmed it holds: the next chunk starts here. */
  private acked = 0;
  private progressed = true;

  /** @param chunkBytes bytes per chunk (>= 1). */
  constructor(
    readonly snapshot: Snapshot,
    readonly chunkBytes: number,
  ) {}

  /** The chunk at the acknowledged offset. */
  chunk(): SnapshotChunk {
    const total = this.snapshot.data.byteLength;
    const end = Math.min(total, this.acked + this.chunkBytes);
    return { offset: this.acked, data: this.snapshot.data.subarray(this.acked, end), done: end >= total };
  }

  /**
   * The follower answered `snapshot-resp { offset, reject }` for this snapshot. Returns true when
   * the chunk at the (new) acknowledged offset should be sent now.
   */
  onResponse(offset: number, reject: boolean): boolean {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.snapshot.data.byteLength) return false;
    if (reject || offset > this.acked) {
      this.acked = offset;
      this.progressed = true;
      return true;
    }
    return false;
  }

  /** A heartbeat response arrived; true when no chunk was acknowledged since the last one (resend). */
  onHeartbeatResponse(): boolean {
    const stalled = !this.progressed;
    this.progressed = false;
    return stalled;
  }
}

/** What a follower did with a chunk. */
export type ChunkOutcome = "appended" | "duplicate" | "gap";

/** The follower's side: chunks of one snapshot from one leader in one term, assembled in order. */
export class IncomingSnapshot {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes held so far (the offset of the next chunk wanted). */
  received = 0;

  constructor(
    readonly from: NodeId,
    readonly term: Term,
    readonly meta: SnapshotMeta,
  ) {}

  /** True when a chunk of (`from`, `term`, `meta`) continues this transfer. */
  matches(from: NodeId, term: Term, meta: SnapshotMeta): boolean {
    return this.from === from && this.term === term && this.meta.index === meta.index && this.meta.term === meta.term;
  }

  /** Takes the chunk at `offset` if it is the next one; copies the bytes (the message may be reused). */
  accept(offset: number, data: Uint8Array): ChunkOutcome {
    if (offset === this.received) {
      this.chunks.push(data.slice());
      this.received += data.byteLength;
      return "appended";
    }
    return offset < this.received ? "duplicate" : "gap";
  }

  /** The whole snapshot data, once the `done` chunk was appended. */
  assemble(): Uint8Array {
    const out = new Uint8Array(this.received);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}
