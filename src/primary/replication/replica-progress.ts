/**
 * What the primary knows about one replica, and how it sends to it (like etcd-raft's Progress):
 *
 * - `probe`: the primary does not know where the replica's log stands (new, or reported down); it
 *   sends nothing but heartbeats until a `hello` or an `ack` in its epoch says so;
 * - `stream`: the replica's log is a prefix of the primary's up to `match`; records from `next`
 *   are pipelined, at most `maxInflightRecords` beyond `match`;
 * - `snapshot`: the replica is behind the backlog or diverged; `transfer` sends it a snapshot.
 *
 * Freshness is by time only: `lastHeard` is the last message in the primary's epoch.
 */
import type { PeerId } from "../../ids.js";
import type { ReplicaProgress } from "./core.js";
import type { OutgoingSnapshot } from "./snapshot-transfer.js";
import { asLsn, type Lsn } from "./types.js";

export type ProgressState = ReplicaProgress["state"];

export class Progress {
  state: ProgressState = "probe";
  /** Highest LSN the replica holds durably and that matches the primary's log. */
  match: Lsn = asLsn(0);
  /** Next LSN to send (stream). Records in (match, next) are in flight. */
  next: Lsn = asLsn(1);
  /** Highest LSN the replica reported applied. */
  applied: Lsn = asLsn(0);
  /** Time (ms) of the last hello/ack/snapshot-ack in the primary's epoch; null when never. */
  lastHeard: number | null = null;
  /** Stream: time of the last ack progress, or of the first send into an empty window. */
  stalledSince = 0;
  /** Stream: the last rewind asked by a gap ack (resend from `from`), to ignore repeats of it. */
  lastRewind: { readonly from: Lsn; readonly at: number } | null = null;
  transfer: OutgoingSnapshot | null = null;

  constructor(readonly id: PeerId) {}

  /** Records sent and not yet acknowledged. */
  get inflight(): number {
    return this.next - 1 - this.match;
  }

  /** Waits for the replica to say where it is; `match` is kept (it holds those records durably). */
  becomeProbe(): void {
    this.state = "probe";
    this.transfer = null;
    this.next = asLsn(this.match + 1);
  }

  /** Streams from `match + 1`: the replica's log is known to be a prefix of ours up to `match`. */
  becomeStream(match: Lsn, now: number): void {
    this.state = "stream";
    this.transfer = null;
    this.match = match;
    this.next = asLsn(match + 1);
    this.stalledSince = now;
    this.lastRewind = null;
  }

  becomeSnapshot(transfer: OutgoingSnapshot): void {
    this.state = "snapshot";
    this.transfer = transfer;
  }

  /** The replica holds `received` (an ack in stream state). Returns true when `match` advanced. */
  onReceived(received: Lsn, now: number): boolean {
    if (received <= this.match) return false;
    this.match = received;
    if (this.next <= received) this.next = asLsn(received + 1);
    this.stalledSince = now;
    return true;
  }

  /**
   * A gap ack: resend from `from` (> match). Returns false when nothing is in flight from there,
   * or the same rewind was done less than `throttleMs` ago (the replica acks every record
   * message that lands after a lost one).
   */
  rewind(from: Lsn, now: number, throttleMs: number): boolean {
    if (this.next <= from) return false;
    if (this.lastRewind !== null && this.lastRewind.from === from && now - this.lastRewind.at < throttleMs) return false;
    this.lastRewind = { from, at: now };
    this.next = from;
    this.stalledSince = now;
    return true;
  }

  isFresh(now: number, maxLagMs: number): boolean {
    return this.lastHeard !== null && now - this.lastHeard <= maxLagMs;
  }

  view(now: number, maxLagMs: number): ReplicaProgress {
    return {
      id: this.id,
      state: this.state,
      received: this.match,
      applied: this.applied,
      silentMs: this.lastHeard === null ? Number.POSITIVE_INFINITY : now - this.lastHeard,
      fresh: this.isFresh(now, maxLagMs),
    };
  }
}
