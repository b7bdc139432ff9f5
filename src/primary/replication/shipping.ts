/**
 * What the primary sends one replica, by its {@link Progress} state: pipelined `records` while it
 * streams, a chunked snapshot while it is behind the backlog or diverged, and the resends that
 * recover lost messages without waiting for the replica (a transfer that stalled for two
 * heartbeats starts again from the last acknowledged point).
 *
 * Only durable records leave: `durable` is passed in by the primary, which learns it from its
 * driver's `persisted`.
 */
import { invariant } from "../../errors.js";
import type { PeerId } from "../../ids.js";
import type { PrimaryToReplica } from "./messages.js";
import type { Progress } from "./replica-progress.js";
import type { ResolvedPrimaryConfig } from "./replication-config.js";
import { OutgoingSnapshot } from "./snapshot-transfer.js";
import { asLsn, type Lsn } from "./types.js";

export class Shipper {
  constructor(
    private readonly cfg: ResolvedPrimaryConfig,
    private readonly emit: (to: PeerId, msg: PrimaryToReplica) => void,
  ) {}

  /** Pipelines durable records from `p.next`, up to the in-flight window (stream state only). */
  records(p: Progress, durable: Lsn, now: number): void {
    const { log, maxInflightRecords, maxMessageBytes, epoch } = this.cfg;
    while (p.state === "stream" && p.next <= durable && p.inflight < maxInflightRecords) {
      if (p.next < log.firstLsn()) {
        this.snapshot(p, p.match, now); // compacted while the replica lagged
        return;
      }
      const to = Math.min(durable, p.match + maxInflightRecords);
      const records = log.records(p.next, asLsn(to), maxMessageBytes);
      const first = records[0];
      const last = records[records.length - 1];
      invariant(
        first !== undefined && last !== undefined && first.lsn === p.next && last.lsn === p.next + records.length - 1 && last.lsn <= to,
        `log.records(${p.next}, ${to}) returned LSNs ${first?.lsn}..${last?.lsn}: expected a contiguous run from ${p.next}`,
      );
      if (p.inflight === 0) p.stalledSince = now;
      this.emit(p.id, { type: "records", epoch, prev: asLsn(p.next - 1), records, last: durable });
      p.next = asLsn(last.lsn + 1);
    }
  }

  /**
   * Sends `p` a snapshot: continues the transfer under way (its replica's log agreed with ours up
   * to `common`), or starts one from the log's state.
   */
  snapshot(p: Progress, common: Lsn, now: number): void {
    if (p.transfer !== null) {
      p.transfer.common = common;
    } else {
      const { log } = this.cfg;
      const snap = log.snapshot();
      const firstLsn = log.firstLsn();
      const lastLsn = log.lastLsn();
      invariant(snap.lsn + 1 >= firstLsn && snap.lsn <= lastLsn, `log.snapshot() is at LSN ${snap.lsn}, outside [firstLsn - 1, lastLsn] = [${firstLsn - 1}, ${lastLsn}]`);
      p.becomeSnapshot(new OutgoingSnapshot(snap.lsn, snap.data, common, this.cfg.snapshotChunkBytes, now));
    }
    this.chunk(p, now);
  }

  /** Sends the chunk the replica needs next (snapshot state only). */
  chunk(p: Progress, now: number): void {
    const t = p.transfer;
    if (t === null) return;
    const c = t.chunk();
    t.stalledSince = now;
    const { epoch, history } = this.cfg;
    this.emit(p.id, { type: "snapshot", epoch, history, lsn: t.lsn, common: t.common, offset: c.offset, data: c.data, done: c.done, total: t.total });
  }

  /** Time passed: resends what was sent to `p` and not acknowledged for two heartbeats. */
  resendStalled(p: Progress, durable: Lsn, now: number): void {
    const stallMs = 2 * this.cfg.heartbeatMs;
    if (p.state === "stream" && p.inflight > 0 && now - p.stalledSince >= stallMs) {
      p.next = asLsn(p.match + 1); // the records or the acks were lost
      this.records(p, durable, now);
    } else if (p.transfer !== null && now - p.transfer.stalledSince >= stallMs) {
      this.chunk(p, now);
    }
  }
}
