/**
 * `createPrimary`: the primary's side of `primary` mode replication behind the {@link PrimaryCore}
 * contract. It orders writes, hands them out to persist, ships only durable records to its
 * replicas and resolves each write once its durability holds. Per-replica flow control lives in
 * replica-progress.ts, what is sent in shipping.ts (chunks: snapshot-transfer.ts), the waits in
 * pending-writes.ts, the knowledge of newer epochs in fence.ts.
 *
 * Fencing: a message that shows a newer primary (an `epoch` notice, or a `hello` of a replica that
 * already follows it: a history of a higher epoch naming its primary, see `promotionShown` in
 * fence.ts) fences it for good: every waiting write is abandoned, writes are refused, nothing more
 * is shipped, and replicas still in an older epoch are pointed at the newer primary (an `epoch`
 * notice). Any other message of a higher epoch is dropped and counted.
 */
import { invariant } from "../../errors.js";
import type { PeerId } from "../../ids.js";
import type { Outgoing, PrimaryConfig, PrimaryCore, PrimaryOutput, PrimaryCoreStatus, WriteAbandoned, WriteDone, WriteRefusal, WriteResult } from "./core.js";
import { Fence, promotionShown } from "./fence.js";
import { commonPrefix } from "./history.js";
import { isPlausibleToPrimary } from "./message-checks.js";
import type { Ack, Hello, PrimaryToReplica, SnapshotAck, ToPrimary } from "./messages.js";
import { PendingWrites, type Need } from "./pending-writes.js";
import { Progress } from "./replica-progress.js";
import { resolvePrimaryConfig, type ResolvedPrimaryConfig } from "./replication-config.js";
import { Shipper } from "./shipping.js";
import { asLsn, type PrimaryDurability, type Epoch, type EpochHistory, type Lsn, type ReplRecord } from "./types.js";

/**
 * Creates the primary of `config.epoch` over `config.log` (its durable records). Validates the
 * whole config first: ConcordError "InvalidArgument" with an actionable message on bad input.
 * The first output holds an `epoch` notice for each of `config.followers`.
 */
export function createPrimary(config: PrimaryConfig): PrimaryCore {
  return new Primary(resolvePrimaryConfig(config));
}

const refuse = (reason: WriteRefusal, detail: string): WriteResult => ({ ok: false, reason, detail });

/** The replicas a write waits for, or null when `durability` asks for something impossible. */
function needOf(durability: PrimaryDurability): Need | null {
  if (durability === "local") return "local";
  if (typeof durability !== "object" || durability === null) return null;
  const n = durability.replicas;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

class Primary implements PrimaryCore {
  private readonly epoch: Epoch;
  private readonly history: EpochHistory;
  /** Highest LSN assigned. */
  private lastLsn: Lsn;
  /** Highest LSN the driver reported durable. */
  private durable: Lsn;
  private readonly fence: Fence;
  private readonly ship: Shipper;
  private readonly replicas = new Map<PeerId, Progress>();
  private readonly pending = new PendingWrites();
  /** Followers that have not yet answered in this epoch. */
  private readonly unconfirmed: Set<PeerId>;
  /** When the followers were last told; null: at creation, before any time was known. */
  private followerNoticeAt: number | null = null;
  private heartbeatAt = Number.NEGATIVE_INFINITY;
  private dropped = 0;
  private persist: ReplRecord[] = [];
  private send: Outgoing<PrimaryToReplica>[] = [];
  private done: WriteDone[] = [];
  private abandoned: WriteAbandoned[] = [];

  constructor(private readonly cfg: ResolvedPrimaryConfig) {
    this.epoch = cfg.epoch;
    this.history = cfg.history;
    this.durable = cfg.log.lastLsn();
    this.lastLsn = this.durable;
    this.fence = new Fence(cfg.epoch);
    this.ship = new Shipper(cfg, (to, msg) => this.send.push({ to, msg }));
    this.unconfirmed = new Set(cfg.followers);
    for (const f of cfg.followers) this.notice(f);
  }

  write(data: Uint8Array, durability: PrimaryDurability, now: number): WriteResult {
    const fencedBy = this.fence.fencedBy;
    if (fencedBy !== null) {
      return refuse("fenced", `epoch ${fencedBy} replaced epoch ${this.epoch}: this node is no longer the primary; write to the new one`);
    }
    const need = needOf(durability);
    if (need === null) {
      return refuse("invalid", `durability must be "local" or { replicas: n } with n a non-negative integer, got ${JSON.stringify(durability)}`);
    }
    const required = Math.max(this.cfg.minReplicas, need === "local" ? 0 : need);
    const fresh = this.freshCount(now);
    if (fresh < required) {
      const why = need !== "local" && need >= this.cfg.minReplicas ? `the write asks for ${need}` : `minReplicas is ${this.cfg.minReplicas}`;
      return refuse("unavailable", `${fresh} replica(s) heard within ${this.cfg.maxLagMs} ms and ${why}; retry when replicas reconnect`);
    }
    const lsn = asLsn(this.lastLsn + 1);
    this.lastLsn = lsn;
    this.persist.push({ epoch: this.epoch, lsn, data });
    this.pending.add(lsn, need);
    return { ok: true, epoch: this.epoch, lsn };
  }

  persisted(lsn: Lsn, now: number): void {
    invariant(Number.isSafeInteger(lsn) && lsn <= this.lastLsn, `persisted(${lsn}) beyond the last assigned LSN ${this.lastLsn}`);
    if (lsn <= this.durable) return;
    this.durable = lsn;
    if (this.fence.fencedBy !== null) return;
    this.resolveWaits();
    for (const p of this.replicas.values()) this.ship.records(p, this.durable, now);
  }

  step(from: PeerId, msg: ToPrimary, now: number): void {
    if (!isPlausibleToPrimary(msg)) {
      this.dropped++;
      return;
    }
    if (msg.epoch > this.epoch) {
      const newer = promotionShown(msg, this.epoch, this.cfg.id);
      if (newer === null) {
        this.dropped++; // a higher epoch that names no newer primary: see fence.ts
        return;
      }
      return this.fenced(newer);
    }
    if (msg.type === "epoch") return; // our own epoch or an older one: nothing new
    if (this.fence.fencedBy !== null) {
      // Point a replica still in an older epoch at the newer primary.
      const notice = this.fence.notice();
      if (notice !== null && msg.epoch < notice.epoch && this.fence.mayNotify(from, now, this.cfg.heartbeatMs, msg.type === "hello")) this.emit(from, notice);
      return;
    }
    switch (msg.type) {
      case "hello":
        return this.onHello(from, msg, now);
      case "ack":
        return this.onAck(from, msg, now);
      case "snapshot-ack":
        return this.onSnapshotAck(from, msg, now);
    }
  }

  peerUp(peer: PeerId, _now: number): void {
    if (this.fence.fencedBy === null && this.cfg.followers.includes(peer)) this.notice(peer);
  }

  peerDown(peer: PeerId, _now: number): void {
    this.replicas.get(peer)?.becomeProbe();
  }

  tick(now: number): void {
    if (this.fence.fencedBy !== null) return;
    const hb = this.cfg.heartbeatMs;
    if (this.followerNoticeAt === null) this.followerNoticeAt = now;
    else if (this.unconfirmed.size > 0 && now - this.followerNoticeAt >= hb) {
      this.followerNoticeAt = now;
      for (const f of this.unconfirmed) this.notice(f);
    }
    const heartbeat = now - this.heartbeatAt >= hb;
    if (heartbeat) this.heartbeatAt = now;
    for (const p of this.replicas.values()) {
      if (heartbeat) this.emit(p.id, { type: "heartbeat", epoch: this.epoch, last: this.durable });
      this.ship.resendStalled(p, this.durable, now);
    }
  }

  output(): PrimaryOutput {
    const out: PrimaryOutput = { persist: this.persist, send: this.send, done: this.done, abandoned: this.abandoned };
    this.persist = [];
    this.send = [];
    this.done = [];
    this.abandoned = [];
    return out;
  }

  status(now: number): PrimaryCoreStatus {
    return {
      id: this.cfg.id,
      epoch: this.epoch,
      history: this.history,
      lastLsn: this.lastLsn,
      durableLsn: this.durable,
      fencedBy: this.fence.fencedBy,
      replicas: [...this.replicas.values()].map((p) => p.view(now, this.cfg.maxLagMs)),
      dropped: this.dropped,
    };
  }

  private onHello(from: PeerId, msg: Hello, now: number): void {
    const p = this.track(from);
    if (msg.epoch === this.epoch) this.heard(p, now);
    this.emit(from, { type: "welcome", epoch: this.epoch, history: this.history, last: this.durable });
    const common = commonPrefix(this.history, this.durable, msg.history, msg.last.lsn);
    if (common === msg.last.lsn && common + 1 >= this.cfg.log.firstLsn()) {
      p.becomeStream(common, now);
      this.resolveWaits();
      this.ship.records(p, this.durable, now);
    } else {
      this.ship.snapshot(p, common, now);
    }
  }

  private onAck(from: PeerId, msg: Ack, now: number): void {
    if (msg.epoch < this.epoch) return this.noticeToOlder(from, now);
    if (msg.received > Math.max(this.durable, this.cfg.log.lastLsn())) {
      this.dropped++; // a replica in our epoch holds only records (or a snapshot) of our durable log
      return;
    }
    const p = this.track(from);
    this.heard(p, now);
    if (msg.applied > p.applied) p.applied = msg.applied;
    switch (p.state) {
      case "probe":
        // An ack in our epoch comes only from a replica whose log is a prefix of ours.
        p.becomeStream(asLsn(Math.max(p.match, msg.received)), now);
        this.resolveWaits();
        break;
      case "stream":
        if (p.onReceived(msg.received, now)) this.resolveWaits();
        if (msg.gap) p.rewind(asLsn(Math.max(p.match, msg.received) + 1), now, this.cfg.heartbeatMs);
        break;
      case "snapshot":
        if (p.transfer !== null && msg.received >= p.transfer.lsn) {
          p.becomeStream(msg.received, now);
          this.resolveWaits();
        }
        break;
    }
    this.ship.records(p, this.durable, now);
  }

  private onSnapshotAck(from: PeerId, msg: SnapshotAck, now: number): void {
    if (msg.epoch < this.epoch) return this.noticeToOlder(from, now);
    const p = this.track(from);
    this.heard(p, now);
    if (p.transfer !== null && p.transfer.lsn === msg.lsn && p.transfer.onAck(msg.offset, now)) this.ship.chunk(p, now);
  }

  /** A higher epoch exists: `history` names its primary. */
  private fenced(history: EpochHistory): void {
    const change = this.fence.observe(history);
    const epoch = this.fence.fencedBy;
    if (change.first) {
      const detail = `epoch ${epoch} replaced epoch ${this.epoch} before the write reached its durability; it may be lost`;
      this.abandoned.push(...this.pending.abandonAll(detail));
      for (const p of this.replicas.values()) p.becomeProbe();
    }
    const notice = this.fence.notice();
    if (change.learned && notice !== null) for (const id of this.replicas.keys()) this.emit(id, notice);
  }

  /** A replica talks to us from an older epoch: it missed our welcome; tell it our epoch (throttled). */
  private noticeToOlder(from: PeerId, now: number): void {
    if (this.fence.mayNotify(from, now, this.cfg.heartbeatMs, false)) this.notice(from);
  }

  private notice(to: PeerId): void {
    this.emit(to, { type: "epoch", epoch: this.epoch, history: this.history });
  }

  private track(id: PeerId): Progress {
    let p = this.replicas.get(id);
    if (p === undefined) {
      p = new Progress(id);
      this.replicas.set(id, p);
    }
    return p;
  }

  private heard(p: Progress, now: number): void {
    p.lastHeard = now;
    this.unconfirmed.delete(p.id);
  }

  private freshCount(now: number): number {
    let n = 0;
    for (const p of this.replicas.values()) if (p.isFresh(now, this.cfg.maxLagMs)) n++;
    return n;
  }

  private resolveWaits(): void {
    if (this.pending.size === 0) return;
    this.done.push(...this.pending.resolve(this.durable, [...this.replicas.values()]));
  }

  private emit(to: PeerId, msg: PrimaryToReplica): void {
    this.send.push({ to, msg });
  }
}
