/**
 * A full snapshot sent in chunks, both ends, stop-and-wait.
 *
 * The primary sends one chunk at a time from offset 0. The replica keeps chunks only in order and
 * answers each with `snapshot-ack { lsn, offset }`, the bytes it holds: the primary then sends the
 * chunk at that offset, or goes back to it when the replica holds less than assumed (it lost a
 * chunk, or restarted and lost the partial snapshot). A chunk that starts past what the replica
 * holds is not kept. Loss of a chunk or of its ack: the primary resends the chunk at the acked
 * offset when the transfer stalls (see `stalledSince`) and on the replica's next `hello`.
 *
 * The transfer ends when the replica installed the snapshot and acks `received >= lsn`; the
 * `snapshot-ack` for the last byte only stops the chunks. Not guaranteed: the replica holds the
 * partial snapshot in memory only; a restart starts the transfer over.
 */
import type { PeerId } from "../../ids.js";
import type { Epoch, EpochHistory, Lsn } from "./types.js";

/** One chunk to send: bytes [offset, offset + data.length) of the snapshot, `done` on the last. */
export interface ChunkToSend {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

/** The primary's side of one transfer to one replica. */
export class OutgoingSnapshot {
  /** Bytes the replica confirmed it holds. */
  private acked = 0;
  /** Time (ms) of the last chunk sent or acknowledged progress; a stall is measured from here. */
  stalledSince: number;

  /**
   * @param lsn the state after this record of the primary's log.
   * @param common the replica's log agreed with the primary's up to here (updated on each hello).
   */
  constructor(
    readonly lsn: Lsn,
    readonly data: Uint8Array,
    public common: Lsn,
    private readonly chunkBytes: number,
    now: number,
  ) {
    this.stalledSince = now;
  }

  get total(): number {
    return this.data.byteLength;
  }

  /** The chunk the replica needs next; the last one again when it holds everything. */
  chunk(): ChunkToSend {
    const total = this.total;
    const start = this.acked < total ? this.acked : Math.max(0, Math.ceil(total / this.chunkBytes) - 1) * this.chunkBytes;
    const end = Math.min(total, start + this.chunkBytes);
    return { offset: start, data: this.data.subarray(start, end), done: end === total };
  }

  /**
   * The replica holds `offset` bytes. Returns true when a chunk should be sent now: the replica
   * asks for more, or holds less than assumed (then the transfer resumes from there).
   */
  onAck(offset: number, now: number): boolean {
    if (offset > this.total || offset === this.acked) return false;
    this.acked = offset;
    this.stalledSince = now;
    return offset < this.total;
  }

  /** True once the replica confirmed every byte (it installs; its `ack` ends the transfer). */
  get delivered(): boolean {
    return this.acked === this.total;
  }
}

/** What the replica did with a chunk. */
export type ChunkOutcome = "appended" | "duplicate" | "gap";

/** The replica's side: the chunks of one snapshot from one primary, assembled in order. */
export class IncomingSnapshot {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes held so far (the offset of the next chunk wanted). */
  held = 0;
  complete = false;

  constructor(
    readonly from: PeerId,
    readonly epoch: Epoch,
    readonly lsn: Lsn,
    readonly total: number,
    readonly history: EpochHistory,
  ) {}

  /** True when a chunk with these coordinates belongs to this transfer. */
  matches(from: PeerId, epoch: Epoch, lsn: Lsn, total: number): boolean {
    return this.from === from && this.epoch === epoch && this.lsn === lsn && this.total === total;
  }

  /** Takes the chunk at `offset` if it is the next one; copies the bytes (the message may be reused). */
  accept(offset: number, data: Uint8Array, done: boolean): ChunkOutcome {
    if (this.complete || offset < this.held) return "duplicate";
    if (offset > this.held) return "gap";
    this.chunks.push(data.slice());
    this.held += data.byteLength;
    this.complete = done;
    return "appended";
  }

  /** The whole snapshot, once complete. */
  assemble(): Uint8Array {
    const out = new Uint8Array(this.held);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    return out;
  }
}
