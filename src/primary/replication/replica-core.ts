/**
 * `createReplica`: a read replica of `primary` mode behind the {@link ReplicaCore} contract. It
 * follows one primary, appends its records, installs its snapshots and reports progress. What it
 * holds (history, queued/received/applied LSNs) lives in replica-log.ts.
 *
 * Alignment: the replica acknowledges (and accepts records) only while it knows its log is a
 * prefix of its primary's: after a `welcome` (or a snapshot chunk) whose history agrees with every
 * record it holds, or after installing the primary's snapshot. Until then it says `hello` (every
 * `helloMs`), so the primary decides between streaming and a snapshot; an `ack` is thus always
 * safe to count.
 *
 * Epochs: the replica moves to a higher epoch on an `epoch` notice, or when its primary (promoted
 * again since) shows it with a history that names it as that epoch's primary (a `welcome` or a
 * snapshot chunk). Records or a heartbeat of an epoch no history showed are dropped and a hello
 * asks for the welcome: taking their epoch on its word would make the replica ignore its primary's
 * real epoch as stale.
 *
 * Agreement is judged on histories alone: a record held in an epoch that the primary's history
 * assigns to the same epoch and primary at that LSN is the primary's record, because a primary
 * ships only records it made durable and never loses them (a primary that lost durable records
 * must start a new epoch). So a late `welcome` or snapshot chunk, whatever LSNs it carries, never
 * makes a replica discard records it acknowledged: it installs a snapshot only when the snapshot
 * is ahead of its log or its log disagrees with the primary's history.
 */
import type { PeerId } from "../../ids.js";
import type { Outgoing, ReplicaConfig, ReplicaCore, ReplicaOutput, ReplicaCoreStatus, SnapshotInstall } from "./core.js";
import { isPlausibleToReplica } from "./message-checks.js";
import type { EpochNotice, Heartbeat, PrimaryToReplica, Records, ReplicaToPrimary, SnapshotChunk, Welcome } from "./messages.js";
import { ReplicaLog } from "./replica-log.js";
import { resolveReplicaConfig, type ResolvedReplicaConfig } from "./replication-config.js";
import { IncomingSnapshot } from "./snapshot-transfer.js";
import { asEpoch, asLsn, type Epoch, type EpochHistory, type Lsn, type ReplRecord } from "./types.js";

/**
 * Creates a replica from its durable state (`config.history`, `lastLsn`, `appliedLsn`). Validates
 * the whole config first: ConcordError "InvalidArgument" with an actionable message on bad input.
 */
export function createReplica(config: ReplicaConfig): ReplicaCore {
  return new Replica(resolveReplicaConfig(config));
}

/** A welcome or snapshot chunk whose history names `from` as the primary of the message's epoch. */
function showsOwnEpoch(msg: PrimaryToReplica, from: PeerId): boolean {
  if (msg.type !== "welcome" && msg.type !== "snapshot") return false;
  const own = msg.history[msg.history.length - 1]!;
  return own.epoch === msg.epoch && own.primary === from;
}

const sameHistory = (a: EpochHistory, b: EpochHistory): boolean =>
  a.length === b.length && a.every((h, i) => h.epoch === b[i]!.epoch && h.primary === b[i]!.primary && h.startLsn === b[i]!.startLsn);

class Replica implements ReplicaCore {
  private primary: PeerId;
  /** The highest epoch seen. */
  private epoch: Epoch;
  private readonly log: ReplicaLog;
  /** The log is known to be a prefix of the followed primary's, in `epoch`. */
  private aligned = false;
  /** The primary's last durable LSN as last heard, and the epoch it was heard in. */
  private primaryLsn = asLsn(0);
  private primaryLsnEpoch = asEpoch(0);
  private lastContact: number | null = null;
  /** Last time the primary moved this replica forward (or showed it is caught up). */
  private lastProgressAt = Number.NEGATIVE_INFINITY;
  private lastHelloAt = Number.NEGATIVE_INFINITY;
  private lastAckAt = Number.NEGATIVE_INFINITY;
  /** The last gap ack: the `received` it carried and when, so repeats of a gap are throttled. */
  private lastGapAck: { readonly received: Lsn; readonly at: number } | null = null;
  private incoming: IncomingSnapshot | null = null;
  private dropped = 0;
  private wantAck = false;
  private wantGap = false;
  private persist: ReplRecord[] = [];
  private install: SnapshotInstall | null = null;
  private historyOut: EpochHistory | null = null;
  private send: Outgoing<ReplicaToPrimary>[] = [];

  constructor(private readonly cfg: ResolvedReplicaConfig) {
    this.primary = cfg.primary;
    this.epoch = cfg.epoch;
    this.log = new ReplicaLog(cfg.history, cfg.lastLsn, cfg.appliedLsn);
  }

  step(from: PeerId, msg: PrimaryToReplica, now: number): void {
    this.handle(from, msg, now);
    this.flushAck(now);
  }

  peerUp(peer: PeerId, now: number): void {
    if (peer === this.primary && this.log.installing === null) this.hello(now);
  }

  peerDown(_peer: PeerId, _now: number): void {
    // Nothing to do: without contact, `tick` says hello every helloMs.
  }

  persisted(lsn: Lsn, now: number): void {
    if (this.log.persisted(lsn)) this.wantAck = true;
    this.flushAck(now);
  }

  applied(lsn: Lsn, now: number): void {
    if (this.log.markApplied(lsn)) this.wantAck = true;
    this.flushAck(now);
  }

  installed(lsn: Lsn, now: number): void {
    this.log.installed(lsn);
    this.lastGapAck = null;
    this.wantAck = true;
    this.flushAck(now);
  }

  tick(now: number): void {
    if (this.log.installing === null) {
      if (now - Math.max(this.lastProgressAt, this.lastHelloAt) >= this.cfg.helloMs) this.hello(now);
      if (now - this.lastAckAt >= this.cfg.ackMs) this.wantAck = true;
    }
    this.flushAck(now);
  }

  output(): ReplicaOutput {
    const out: ReplicaOutput = { persist: this.persist, install: this.install, history: this.historyOut, send: this.send };
    this.persist = [];
    this.install = null;
    this.historyOut = null;
    this.send = [];
    return out;
  }

  status(now: number): ReplicaCoreStatus {
    return {
      id: this.cfg.id,
      primary: this.primary,
      epoch: this.epoch,
      history: this.log.history,
      receivedLsn: this.log.received,
      appliedLsn: this.log.applied,
      installing: this.log.installing,
      primaryLsn: this.primaryLsn,
      lagLsn: Math.max(0, this.primaryLsn - this.log.applied),
      silentMs: this.lastContact === null ? Number.POSITIVE_INFINITY : now - this.lastContact,
      dropped: this.dropped,
    };
  }

  promotion(): { readonly epoch: Epoch; readonly history: EpochHistory; readonly lastLsn: Lsn } {
    return this.log.promotion(this.cfg.id, this.epoch);
  }

  private handle(from: PeerId, msg: PrimaryToReplica, now: number): void {
    if (!isPlausibleToReplica(msg)) {
      this.dropped++;
      return;
    }
    if (msg.type === "epoch") return this.onNotice(msg, now);
    if (from !== this.primary) {
      this.dropped++;
      return;
    }
    if (msg.epoch < this.epoch) return; // from an epoch this replica has left: stale
    if (msg.epoch > this.epoch) {
      // Our primary leads a newer epoch: its history is needed (a welcome) before any record.
      if (!showsOwnEpoch(msg, from)) {
        this.dropped++;
        if (this.log.installing === null) this.helloSoon(now);
        return;
      }
      this.epoch = msg.epoch;
      this.aligned = false;
    }
    this.lastContact = now;
    switch (msg.type) {
      case "welcome":
        return this.onWelcome(msg, now);
      case "records":
        return this.onRecords(msg, now);
      case "snapshot":
        return this.onChunk(from, msg, now);
      case "heartbeat":
        return this.onHeartbeat(msg, now);
    }
  }

  /** A newer epoch: follow its primary (the last entry of its history) from a fresh hello. */
  private onNotice(msg: EpochNotice, now: number): void {
    if (msg.epoch <= this.epoch) return;
    const next = msg.history[msg.history.length - 1]!.primary;
    if (next === this.cfg.id) {
      this.dropped++; // this node leads that epoch: its driver runs a primary, not this core
      return;
    }
    this.epoch = msg.epoch;
    this.primary = next;
    this.aligned = false;
    this.incoming = null;
    this.lastContact = null;
    if (this.log.installing === null) this.hello(now);
  }

  private onWelcome(msg: Welcome, now: number): void {
    this.notePrimaryLsn(msg.epoch, msg.last);
    // When the log disagrees with the primary's history, the primary sends a snapshot.
    if (!this.aligned && this.log.installing === null && this.log.agreesWith(msg.history)) this.align(msg.history, now);
  }

  private align(primaryHistory: EpochHistory, now: number): void {
    this.aligned = true;
    this.lastProgressAt = now;
    if (!sameHistory(this.log.history, primaryHistory)) {
      this.log.history = primaryHistory;
      this.historyOut = primaryHistory;
    }
    this.wantAck = true;
  }

  private onRecords(msg: Records, now: number): void {
    this.notePrimaryLsn(msg.epoch, msg.last);
    if (this.log.installing !== null) return;
    if (!this.aligned) return this.helloSoon(now);
    if (!msg.records.every((r) => r.lsn <= this.log.queued || this.cfg.checkData.record(r.data))) {
      this.dropped++;
      return;
    }
    const accepted = this.log.accept(msg.prev, msg.records);
    switch (accepted.kind) {
      case "gap":
        return this.gap(now);
      case "conflict":
        // Cannot happen after the primary's common-prefix check: start over from a hello.
        this.aligned = false;
        return this.helloSoon(now);
      case "new":
        if (accepted.records.length === 0) {
          this.wantAck = true; // a duplicate: our acks may have been lost
          return;
        }
        this.persist.push(...accepted.records);
        this.lastProgressAt = now;
        return;
    }
  }

  private onChunk(from: PeerId, msg: SnapshotChunk, now: number): void {
    if (this.log.installing !== null) return;
    if (msg.lsn <= this.log.queued && (this.aligned || this.log.agreesWith(msg.history))) {
      // Our log already holds that state (a late chunk): never go back.
      if (this.aligned) this.wantAck = true;
      else this.align(msg.history, now);
      return;
    }
    let incoming = this.incoming;
    if (incoming === null || !incoming.matches(from, msg.epoch, msg.lsn, msg.total)) {
      if (msg.offset !== 0) return this.snapshotAck(msg.lsn, 0);
      incoming = new IncomingSnapshot(from, msg.epoch, msg.lsn, msg.total, msg.history);
      this.incoming = incoming;
    }
    if (incoming.accept(msg.offset, msg.data, msg.done) === "appended") this.lastProgressAt = now;
    this.snapshotAck(incoming.lsn, incoming.held);
    if (!incoming.complete) return;
    this.incoming = null;
    const data = incoming.assemble();
    if (this.cfg.checkData.snapshot(data)) this.startInstall(incoming, data, msg.common, now);
    else this.dropped++;
  }

  private startInstall(incoming: IncomingSnapshot, data: Uint8Array, common: Lsn, now: number): void {
    const discarded = this.log.beginInstall(incoming.lsn, incoming.history, common);
    // Records and a history change of this output not yet handed out are superseded.
    this.persist = [];
    this.historyOut = null;
    this.install = { epoch: incoming.epoch, history: incoming.history, lsn: incoming.lsn, data, discarded };
    this.aligned = true;
    this.lastProgressAt = now;
  }

  private onHeartbeat(msg: Heartbeat, now: number): void {
    this.notePrimaryLsn(msg.epoch, msg.last);
    if (this.aligned && this.log.installing === null && msg.last <= this.log.queued) this.lastProgressAt = now; // caught up
  }

  private notePrimaryLsn(epoch: Epoch, last: Lsn): void {
    if (epoch > this.primaryLsnEpoch) {
      this.primaryLsnEpoch = epoch;
      this.primaryLsn = last;
    } else if (last > this.primaryLsn) {
      this.primaryLsn = last;
    }
  }

  /** Records past what we hold: ask for a resend from `received + 1`, once per ackMs for the same gap. */
  private gap(now: number): void {
    const last = this.lastGapAck;
    if (last !== null && last.received === this.log.received && now - last.at < this.cfg.ackMs) return;
    this.lastGapAck = { received: this.log.received, at: now };
    this.wantGap = true;
  }

  private hello(now: number): void {
    this.lastHelloAt = now;
    this.emit({ type: "hello", epoch: this.epoch, history: this.log.history, last: this.log.last() });
  }

  /** A hello asked for by a message we cannot use yet; at most one per ackMs. */
  private helloSoon(now: number): void {
    if (now - this.lastHelloAt >= this.cfg.ackMs) this.hello(now);
  }

  private snapshotAck(lsn: Lsn, offset: number): void {
    this.emit({ type: "snapshot-ack", epoch: this.epoch, lsn, offset });
  }

  /** Sends the one ack this input asked for, if any (only while aligned: see the file comment). */
  private flushAck(now: number): void {
    if ((this.wantAck || this.wantGap) && this.aligned && this.log.installing === null) {
      const { received, applied } = this.log;
      this.emit({ type: "ack", epoch: this.epoch, received, applied, gap: this.wantGap });
      this.lastAckAt = now;
    }
    this.wantAck = false;
    this.wantGap = false;
  }

  private emit(msg: ReplicaToPrimary): void {
    this.send.push({ to: this.primary, msg });
  }
}
