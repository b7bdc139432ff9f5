/**
 * What a leader knows about one follower's log (thesis 3.5; etcd-raft's `tracker.Progress`), and
 * the flow-control state machine that decides how to send to it:
 *
 * - `probe`: the leader does not know where the follower's log matches; it sends one append at a
 *   time (per heartbeat interval) and walks `next` back on rejections;
 * - `replicate`: the follower is known to match up to `match`; the leader streams appends
 *   optimistically, bounded by the {@link Inflights} window;
 * - `snapshot`: the follower is behind the compaction point and is being sent a snapshot in
 *   chunks; appends are paused until the follower reports it installed it.
 */
import { assertNever } from "../../errors.js";
import { Inflights } from "./inflights.js";
import type { OutgoingSnapshot } from "./snapshot-transfer.js";
import { asIndex, type LogIndex } from "./types.js";

/** The flow-control state of a {@link Progress}. */
export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * One follower's replication progress. Invariant: `0 <= match < next`.
 * Owned by the leader role; discarded when leadership ends.
 */
export class Progress {
  /** Highest index known to match the leader's log on this follower. */
  match: LogIndex;
  /** Index of the next entry to send. Entries in (match, next) are in flight (replicate state). */
  next: LogIndex;
  state: ProgressState = "probe";
  /** In `snapshot` state: index of the snapshot being sent; 0 otherwise. */
  pendingSnapshot: LogIndex = asIndex(0);
  /** True when the follower was heard from since the last check-quorum round (thesis 6.2). */
  recentActive: boolean;
  /**
   * In `probe`: a probe is in flight, wait for an answer or a heartbeat response.
   * In `replicate`: the in-flight window was full at the last send.
   */
  paused = false;
  readonly inflights: Inflights;
  /** In `snapshot` state: the chunked transfer under way. */
  outgoing: OutgoingSnapshot | null = null;

  constructor(init: {
    match: LogIndex;
    next: LogIndex;
    recentActive: boolean;
    maxInflightMessages: number;
    maxInflightBytes: number;
  }) {
    this.match = init.match;
    this.next = init.next;
    this.recentActive = init.recentActive;
    this.inflights = new Inflights(init.maxInflightMessages, init.maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.paused = false;
    this.pendingSnapshot = asIndex(0);
    this.outgoing = null;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing from `match + 1` (or past the snapshot just sent, when leaving `snapshot`). */
  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.resetState("probe");
      this.next = asIndex(Math.max(this.match + 1, pending + 1));
    } else {
      this.resetState("probe");
      this.next = asIndex(this.match + 1);
    }
  }

  /** Streams appends from `match + 1`. */
  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = asIndex(this.match + 1);
  }

  /** Pauses appends while `transfer` (the snapshot at `index`) is sent in chunks. */
  becomeSnapshot(index: LogIndex, transfer: OutgoingSnapshot): void {
    this.resetState("snapshot");
    this.pendingSnapshot = index;
    this.outgoing = transfer;
  }

  /**
   * Records an acknowledgement that the follower's log matches up to `n`. Returns false when the
   * ack is stale (`n <= match`): acks may arrive late, duplicated or reordered.
   */
  maybeUpdate(n: LogIndex): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = asIndex(Math.max(this.next, n + 1));
    this.paused = false;
    return true;
  }

  /**
   * Handles a rejection of the append whose previous index was `rejected`; `matchHint` is the
   * highest index that may still match. Returns false when the rejection is stale and ignored.
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = asIndex(this.match + 1);
      return true;
    }
    // Probes go out one at a time, so any rejection not of the latest probe is stale.
    if (this.next - 1 !== rejected) return false;
    this.next = asIndex(Math.max(Math.min(rejected, matchHint + 1), this.match + 1));
    this.paused = false;
    return true;
  }

  /** True when no append may be sent now (a probe in flight, a full window, a snapshot). */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
      case "replicate":
        return this.paused;
      case "snapshot":
        return true;
      default:
        return assertNever(this.state, "progress state");
    }
  }

  /** Records an append of `entries` entries (`bytes` payload) sent from `next`. */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case "replicate":
        if (entries > 0) {
          this.next = asIndex(this.next + entries);
          this.inflights.add(asIndex(this.next - 1), bytes);
        }
        this.paused = this.inflights.full();
        break;
      case "probe":
        this.paused = true;
        break;
      case "snapshot":
        break;
      default:
        assertNever(this.state, "progress state");
    }
  }
}
