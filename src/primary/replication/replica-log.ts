/**
 * What a replica holds, as its core sees it: the epoch history covering its records and three
 * positions in its log, `applied <= received <= queued`:
 * - `queued`: the last LSN handed out to persist (records are accepted after it, so the driver may
 *   persist asynchronously);
 * - `received`: the last LSN the driver reported durable (what `hello` and `ack` report);
 * - `applied`: the last LSN the driver reported applied.
 * While a snapshot install is outstanding (`installing`), reports about earlier records are
 * ignored: the install supersedes them.
 */
import { ConcordError, invariant } from "../../errors.js";
import type { PeerId } from "../../ids.js";
import { commonPrefix, epochAt, lastEpoch, promotedHistory } from "./history.js";
import { asEpoch, asLsn, type Epoch, type EpochHistory, type Lsn, type Position, type ReplRecord } from "./types.js";

/** What {@link ReplicaLog.accept} made of a `records` message. */
export type Accepted =
  /** The records to hand out to persist (none: all were held already). */
  | { readonly kind: "new"; readonly records: readonly ReplRecord[] }
  /** They start past what is held. */
  | { readonly kind: "gap" }
  /** A record's epoch contradicts the history: the log is not what the primary thinks. */
  | { readonly kind: "conflict" };

export class ReplicaLog {
  queued: Lsn;
  received: Lsn;
  applied: Lsn;
  /** The LSN of the snapshot handed out to install and not yet reported installed. */
  installing: Lsn | null = null;
  /**
   * The history of that snapshot: the log's once it is installed. Until then the log's history
   * stays the one of the records it still holds (and serves reads from), or a read there would
   * be labelled with the new history's epoch for a record of the old one.
   */
  #installingHistory: EpochHistory | null = null;

  constructor(
    public history: EpochHistory,
    lastLsn: Lsn,
    appliedLsn: Lsn,
  ) {
    this.queued = lastLsn;
    this.received = lastLsn;
    this.applied = appliedLsn;
  }

  /** The last durable record, for a `hello`. */
  last(): Position {
    const lsn = this.received;
    return { epoch: lsn === 0 ? asEpoch(0) : epochAt(this.history, lsn), lsn };
  }

  /**
   * True when every record handed out (durable or not) is, per `primaryHistory`, the primary's:
   * the same epoch of the same primary at each LSN.
   */
  agreesWith(primaryHistory: EpochHistory): boolean {
    return commonPrefix(this.history, this.queued, primaryHistory, this.queued) === this.queued;
  }

  /** Takes the records after `prev` that are not held yet (the history MUST be the primary's). */
  accept(prev: Lsn, records: readonly ReplRecord[]): Accepted {
    if (prev > this.queued) return { kind: "gap" };
    if (records.some((r) => r.epoch !== epochAt(this.history, r.lsn))) return { kind: "conflict" };
    const fresh = records.filter((r) => r.lsn > this.queued);
    const last = fresh[fresh.length - 1];
    if (last !== undefined) this.queued = last.lsn;
    return { kind: "new", records: fresh };
  }

  /** Returns true when `received` advanced. */
  persisted(lsn: Lsn): boolean {
    if (this.installing !== null) return false; // records of an earlier output, superseded by the install
    invariant(Number.isSafeInteger(lsn) && lsn <= this.queued, `persisted(${lsn}) beyond the last LSN handed out (${this.queued})`);
    if (lsn <= this.received) return false;
    this.received = lsn;
    return true;
  }

  /** Returns true when `applied` advanced. */
  markApplied(lsn: Lsn): boolean {
    if (this.installing !== null) return false;
    invariant(Number.isSafeInteger(lsn) && lsn <= this.received, `applied(${lsn}) beyond the last persisted LSN (${this.received})`);
    if (lsn <= this.applied) return false;
    this.applied = lsn;
    return true;
  }

  /** A snapshot at `lsn` under `history` replaces the log; returns how many held records it discards. */
  beginInstall(lsn: Lsn, history: EpochHistory, common: Lsn): number {
    // Divergent records only: those the primary's history does not hold. The primary's `common`
    // may come from a stale hello (a reordered one from before this log grew); the snapshot's
    // history (the primary's, whose last epoch is still being written) is current.
    const agreed = Math.max(common, commonPrefix(history, asLsn(Number.MAX_SAFE_INTEGER), this.history, this.queued));
    const discarded = Math.max(0, this.queued - agreed);
    this.installing = lsn;
    this.#installingHistory = history;
    return discarded;
  }

  installed(lsn: Lsn): void {
    invariant(this.installing === lsn, `installed(${lsn}) but the snapshot handed out is ${String(this.installing)}`);
    this.installing = null;
    this.history = this.#installingHistory ?? this.history;
    this.#installingHistory = null;
    this.queued = lsn;
    this.received = lsn;
    this.applied = lsn;
  }

  /** The epoch, history and last LSN of the primary this replica becomes (see ReplicaCore.promotion). */
  promotion(self: PeerId, highestSeen: Epoch): { readonly epoch: Epoch; readonly history: EpochHistory; readonly lastLsn: Lsn } {
    if (this.installing !== null) {
      throw new ConcordError("InvalidArgument", `cannot promote replica "${self}" while the snapshot at LSN ${this.installing} is being installed: report installed() first`, { installing: this.installing });
    }
    if (this.queued > this.received) {
      throw new ConcordError("InvalidArgument", `cannot promote replica "${self}": records up to LSN ${this.queued} were handed out but only ${this.received} reported persisted; report persisted() first`, {
        queued: this.queued,
        received: this.received,
      });
    }
    const history = promotedHistory(this.history, this.received, highestSeen, self);
    return { epoch: lastEpoch(history), history, lastLsn: this.received };
  }
}
