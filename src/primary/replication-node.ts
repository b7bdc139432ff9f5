/**
 * A `primary`-mode node: one replicated key-value log on one storage, serving either as THE
 * primary (it orders every write) or as a read replica (it follows the primary and serves
 * possibly stale reads), and switching role on promotion and on fencing. The node owns its
 * transport and hands replication messages to the driver of its current role.
 *
 * The role survives restarts through the write-ahead log: a node leads when the newest epoch it
 * logged is its own; otherwise it follows the primary of that epoch. `role` in the options only
 * matters on the very first start, on an empty log.
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { KvOp } from "../kv/ops.js";
import type { KvState } from "../kv/kv-state.js";
import type { Transport } from "../net/transport.js";
import type { Change } from "../store.js";
import type { DocStorage } from "../storage/storage.js";
import { PrimaryDriver, type PrimaryRoleOptions, type WriteReceipt } from "./primary-driver.js";
import { ReplicaDriver, type ReplicaRoleOptions } from "./replica-driver.js";
import { decodeReplMessage } from "./replication/codec.js";
import type { PrimaryCoreStatus, ReplicaCoreStatus, SnapshotInstall } from "./replication/core.js";
import { promotionShown } from "./replication/fence.js";
import { epochAt, lastEpoch } from "./replication/history.js";
import type { ReplicaToPrimary, ReplMessage } from "./replication/messages.js";
import { asEpoch, asLsn, type PrimaryDurability, type Epoch, type EpochHistory, type Lsn, type Position, type ReplRecord } from "./replication/types.js";
import { recover } from "./wal.js";
import { encodeWalEntry } from "./wal-codec.js";

export interface ReplicationNodeOptions {
  readonly id: PeerId;
  readonly storage: DocStorage;
  /** Owned by the node from now on (closed by `close`). */
  readonly transport: Transport;
  readonly clock: Clock;
  /** First start only (empty log): lead, or follow this primary. */
  readonly role: "primary" | { readonly replicaOf: PeerId };
  /** Other nodes of the group, told of a new epoch when this node is promoted. */
  readonly peers?: readonly PeerId[];
  readonly primary?: PrimaryRoleOptions;
  readonly replica?: ReplicaRoleOptions;
  /**
   * Hears every record this node applies, in LSN order (a primary once it is durable, a replica
   * once durable), and every snapshot that replaces its state: change-data capture, and what the
   * simulation checks logs with. Must not throw.
   */
  readonly observe?: {
    readonly record: (r: ReplRecord) => void;
    readonly install: (i: SnapshotInstall) => void;
    /** An install was handed to storage (a crash before `install` may or may not keep it). */
    readonly installing?: (i: SnapshotInstall) => void;
  };
  /** Structured events (role changes, fencing, discarded writes, dropped messages). */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

export type NodeRole = "primary" | "replica";

/** Where a read was served from and how fresh it is. */
export interface ReadInfo {
  readonly role: NodeRole;
  /** The newest epoch this node knows. */
  readonly epoch: Epoch;
  /** The LSN the state is at. */
  readonly lsn: Lsn;
  /**
   * The record the state is at: its LSN and the epoch that wrote it (not always `epoch`: a replica
   * catching up holds records of older epochs). What a session sends back as `after`.
   */
  readonly position: Position;
  /** Records behind the primary as last heard (0 on the primary). */
  readonly lagLsn: number;
  /** ms since the primary was last heard (0 on the primary, Infinity when never). */
  readonly silentMs: number;
}

export interface NodeStatus extends ReadInfo {
  readonly id: PeerId;
  /** The primary this node follows (itself when it leads). */
  readonly primary: PeerId;
  /** A newer epoch fenced this primary (it refuses writes until it follows the new one). */
  readonly fenced: boolean;
  /** Records this node discarded in all, as divergent from a newer primary's history. */
  readonly discarded: number;
  /**
   * Replication messages this node dropped since it started: frames that do not decode, and
   * messages no correct peer sends (see `dropped` of the cores' status), in every role it had.
   */
  readonly dropped: number;
  readonly replicas: readonly { readonly id: PeerId; readonly received: Lsn; readonly applied: Lsn; readonly fresh: boolean }[];
}

/** Messages a replica sends to its primary (the rest go the other way). */
const isForPrimary = (m: ReplMessage): m is ReplicaToPrimary => m.type === "hello" || m.type === "ack" || m.type === "snapshot-ack";

type Active = { readonly role: "primary"; readonly driver: PrimaryDriver } | { readonly role: "replica"; readonly driver: ReplicaDriver };

/**
 * Hears the keys one record (or one snapshot install) changed, and the position it brought the
 * state to; `bytes` is the record's size (0 for an install), `replaced` true for an install (the
 * state was replaced whole, divergent records possibly discarded).
 */
export type NodeChangeListener = (changes: readonly Change[], position: Position, how: { readonly bytes: number; readonly replaced: boolean }) => void;

/** The position of record `lsn` under `history` (epoch 0 for LSN 0, before any record). */
function positionAt(history: EpochHistory, lsn: Lsn): Position {
  return { epoch: lsn === 0 || history.length === 0 ? asEpoch(0) : epochAt(history, lsn), lsn };
}

export class ReplicationNode {
  readonly #o: ReplicationNodeOptions;
  #active!: Active;
  #closed = false;
  #failure: ConcordError | null = null;
  #discarded = 0;
  /** Messages dropped: undecodable ones, and those of the cores this node ran before its current one. */
  #dropped = 0;
  #switching: Promise<void> | null = null;
  readonly #listeners = new Set<NodeChangeListener>();
  readonly #progress = new Set<() => void>();

  private constructor(o: ReplicationNodeOptions) {
    this.#o = o;
  }

  /** Recovers the node from its storage and starts it in the role its log says. */
  static async open(o: ReplicationNodeOptions): Promise<ReplicationNode> {
    const node = new ReplicationNode(o);
    const rec = recover(await o.storage.load());
    let { epoch, history, primary } = rec;
    // Only an empty log: a replica's records under a history never logged are another primary's.
    if (history.length === 0 && rec.lastLsn === 0 && o.role === "primary") {
      epoch = asEpoch(1);
      history = [{ epoch, primary: o.id, startLsn: asLsn(1) }];
      primary = o.id;
      await o.storage.append(encodeWalEntry({ kind: "epoch", epoch, history, primary }));
    }
    const leads = primary === o.id && history.length > 0 && lastEpoch(history) === epoch;
    if (leads) node.#startPrimary(epoch, history, rec.lastLsn, rec.state, rec.records);
    else {
      const follow = primary ?? (o.role === "primary" ? null : o.role.replicaOf);
      if (follow === null) throw new ConcordError("InvalidArgument", `node ${o.id}: its log names no primary to follow; start it with a primary to follow`);
      if (history.length === 0) {
        // An empty log: any history that holds no record agrees with every primary's. Logged, so
        // that a restart follows this primary whatever `role` then says.
        epoch = asEpoch(1);
        history = [{ epoch, primary: follow, startLsn: asLsn(1) }];
        await o.storage.append(encodeWalEntry({ kind: "epoch", epoch, history, primary: follow }));
      }
      node.#startReplica(follow, epoch, history, rec.lastLsn, rec.state, rec.records);
    }
    o.transport.listen({
      message: (from, bytes) => node.#onMessage(from, bytes),
      up: (peer) => node.#active.driver.peerUp(peer),
      down: (peer) => node.#active.driver.peerDown(peer),
    });
    return node;
  }

  get id(): PeerId {
    return this.#o.id;
  }

  get role(): NodeRole {
    return this.#active.role;
  }

  /**
   * What stopped this node for good, or null: its storage failed (an append or fsync refused with
   * `Io`, say), or a promotion or demotion failed half-way. From then on writes, waits and
   * promotions are refused with it and replication messages are ignored; reads are still served
   * from the last state. Only a restart (which recovers from the log) clears it.
   */
  get failure(): ConcordError | null {
    return this.#failure;
  }

  /** The state as of the last durable (primary) or applied (replica) record. Do not mutate. */
  get state(): KvState {
    return this.#active.driver.state;
  }

  /**
   * Writes `op` at the primary; resolves once it reached `durability`. On a replica rejects with
   * `ReadOnlyReplica` naming the primary (details.primary). See PrimaryDriver.write for the rest.
   */
  write(op: KvOp, durability: PrimaryDurability = "local"): Promise<WriteReceipt> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    const a = this.#active;
    if (a.role === "replica") {
      const primary = a.driver.status().primary;
      return Promise.reject(new ConcordError("ReadOnlyReplica", `node ${this.id} is a read replica; send writes to the primary ${primary}`, { primary }));
    }
    return a.driver.write(op, durability);
  }

  /** How fresh this node's state is. */
  readInfo(): ReadInfo {
    const a = this.#active;
    if (a.role === "primary") {
      const st = a.driver.status();
      return { role: "primary", epoch: st.epoch, lsn: st.durableLsn, position: positionAt(st.history, st.durableLsn), lagLsn: 0, silentMs: 0 };
    }
    const st = a.driver.status();
    const lsn = st.appliedLsn;
    return { role: "replica", epoch: st.epoch, lsn, position: positionAt(st.history, lsn), lagLsn: st.lagLsn, silentMs: st.silentMs };
  }

  /** True when this node's state includes the record at `pos` (same LSN, same epoch). */
  holds(pos: Position): boolean {
    if (pos.lsn === 0) return true;
    const a = this.#active;
    const st = a.driver.status();
    if (a.role === "replica" && (st as ReplicaCoreStatus).installing !== null) return false;
    const at = a.role === "primary" ? (st as PrimaryCoreStatus).durableLsn : (st as ReplicaCoreStatus).appliedLsn;
    return at >= pos.lsn && st.history.length > 0 && epochAt(st.history, pos.lsn) === pos.epoch;
  }

  /**
   * Resolves once this node's state includes the record at `pos` (read-your-writes: the position
   * of the session's last write; monotonic reads: of the newest state it read). Rejects with
   * `Timeout` after `timeoutMs` (any length: the clock's timers never fire early): the node is behind, or its history holds another record there (the write was lost in a failover,
   * or this node still holds a divergent log).
   */
  waitFor(pos: Position, timeoutMs: number): Promise<void> {
    if (this.holds(pos)) return Promise.resolve();
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const refusal = this.#refusal();
        if (!this.holds(pos) && refusal === null) return;
        this.#progress.delete(check);
        cancel();
        if (this.holds(pos)) resolve();
        else reject(refusal);
      };
      const cancel = this.#o.clock.setTimer(timeoutMs, () => {
        this.#progress.delete(check);
        const info = this.readInfo();
        reject(
          new ConcordError(
            "Timeout",
            `node ${this.id} does not hold LSN ${pos.lsn} of epoch ${pos.epoch} after ${timeoutMs} ms (it is at LSN ${info.lsn}, epoch ${info.epoch}); if it is past that LSN, the write was lost in a failover or this node still holds a divergent log`,
            { pos, at: info.lsn, epoch: info.epoch },
          ),
        );
      });
      this.#progress.add(check);
    });
  }

  /** Hears every change this node applies, with its LSN. Returns the unsubscribe function. */
  subscribe(listener: NodeChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Makes this replica the primary of a new epoch (one above the highest it has seen), starting
   * from everything it holds durably. The peers are told; the old primary is fenced when it hears.
   */
  async promote(): Promise<{ readonly epoch: Epoch; readonly lsn: Lsn }> {
    const refused = this.#refusal();
    if (refused !== null) throw refused;
    if (this.#switching !== null) throw new ConcordError("InvalidArgument", `node ${this.id} is already changing role`);
    const a = this.#active;
    if (a.role === "primary") throw new ConcordError("InvalidArgument", `node ${this.id} is already the primary`);
    a.driver.promotion(); // throws, changing nothing, when the replica cannot be promoted now
    let done!: () => void;
    this.#switching = new Promise((r) => (done = r));
    try {
      a.driver.stop();
      await a.driver.settled();
      const p = a.driver.promotion();
      await this.#o.storage.append(encodeWalEntry({ kind: "epoch", epoch: p.epoch, history: p.history, primary: this.id }));
      if (this.#closed) throw new ConcordError("Closed", `node ${this.id} was closed during its promotion`);
      this.#log("node.promoted", { epoch: p.epoch, lsn: p.lastLsn });
      this.#startPrimary(p.epoch, p.history, p.lastLsn, a.driver.state, a.driver.backlog);
      return { epoch: p.epoch, lsn: p.lastLsn };
    } catch (e) {
      // The replica stopped: the node can't go on half-switched.
      const error = e instanceof ConcordError ? e : new ConcordError("Io", `promotion failed: ${String(e)}`);
      this.#fail(error);
      throw error;
    } finally {
      this.#switching = null;
      done();
    }
  }

  status(): NodeStatus {
    const info = this.readInfo();
    const a = this.#active;
    if (a.role === "primary") {
      const st = a.driver.status();
      return {
        ...info,
        id: this.id,
        primary: this.id,
        // #switching on a primary: it heard of a newer epoch and is demoting itself.
        fenced: st.fencedBy !== null || this.#switching !== null,
        discarded: this.#discarded,
        dropped: this.#dropped + st.dropped,
        replicas: st.replicas.map((r) => ({ id: r.id, received: r.received, applied: r.applied, fresh: r.fresh })),
      };
    }
    const st = a.driver.status();
    return { ...info, id: this.id, primary: st.primary, fenced: false, discarded: this.#discarded, dropped: this.#dropped + st.dropped, replicas: [] };
  }

  /** Stops serving: pending writes reject with `Closed`; storage is flushed and closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new ConcordError("Closed", `node ${this.id} was closed`);
    this.#stopActive(closed);
    this.#o.transport.close();
    for (const check of [...this.#progress]) check();
    await this.#o.storage.close();
  }

  #refusal(): ConcordError | null {
    if (this.#closed) return new ConcordError("Closed", `node ${this.id} was closed`);
    return this.#failure;
  }

  #stopActive(error: ConcordError): void {
    const a = this.#active;
    if (a.role === "primary") a.driver.stop(error);
    else a.driver.stop();
  }

  /** What both drivers are started with: the log's state, this node's storage, clock and transport, and its callbacks. */
  #driverBase(epoch: Epoch, history: EpochHistory, lastLsn: Lsn, state: KvState, records: readonly ReplRecord[]) {
    return {
      id: this.id,
      epoch,
      history,
      lastLsn,
      state,
      records,
      storage: this.#o.storage,
      clock: this.#o.clock,
      send: (to: PeerId, bytes: Uint8Array) => this.#o.transport.send(to, bytes),
      onApplied: (record: ReplRecord, changes: readonly Change[]) => this.#applied(record, changes),
      onProgress: () => this.#progressed(),
      onFailure: (e: ConcordError) => this.#fail(e),
    };
  }

  #startPrimary(epoch: Epoch, history: EpochHistory, lastLsn: Lsn, state: KvState, records: readonly ReplRecord[]): void {
    const peers = (this.#o.peers ?? []).filter((p) => p !== this.id);
    this.#become({
      role: "primary",
      driver: new PrimaryDriver({
        ...this.#driverBase(epoch, history, lastLsn, state, records),
        followers: peers,
        ...(this.#o.primary === undefined ? {} : { options: this.#o.primary }),
      }),
    });
    for (const peer of this.#o.transport.peers()) this.#active.driver.peerUp(peer);
  }

  #startReplica(primary: PeerId, epoch: Epoch, history: EpochHistory, lastLsn: Lsn, state: KvState, records: readonly ReplRecord[]): void {
    const driver = new ReplicaDriver({
      ...this.#driverBase(epoch, history, lastLsn, state, records),
      primary,
      ...(this.#o.replica === undefined ? {} : { options: this.#o.replica }),
      onInstalling: (install) => this.#o.observe?.installing?.(install),
      onInstalled: (install, changes) => this.#installed(install, changes),
    });
    this.#become({ role: "replica", driver });
    for (const peer of this.#o.transport.peers()) driver.peerUp(peer);
  }

  /** Makes `next` the active role, keeping the count of messages the previous core dropped. */
  #become(next: Active): void {
    const previous = this.#active as Active | undefined;
    if (previous !== undefined) this.#dropped += previous.driver.status().dropped;
    this.#active = next;
  }

  #onMessage(from: PeerId, bytes: Uint8Array): void {
    if (this.#closed || this.#failure !== null) return;
    let msg: ReplMessage;
    try {
      msg = decodeReplMessage(bytes);
    } catch (e) {
      this.#dropped++;
      this.#log("replication.bad_message", { from, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    const a = this.#active;
    if (a.role === "replica") {
      if (!isForPrimary(msg)) a.driver.step(from, msg);
      return;
    }
    if (!isForPrimary(msg) && msg.type !== "epoch") return;
    // A primary hears of a newer epoch: from a notice, or from a replica that already follows it.
    // Anything else of a higher epoch is the core's to drop and count (see fence.ts).
    const newer = promotionShown(msg, a.driver.epoch, this.id);
    if (newer !== null) {
      if (msg.type === "hello") a.driver.step(from, msg);
      void this.#demote(msg.epoch, newer);
      return;
    }
    a.driver.step(from, msg);
  }

  /**
   * Fenced: a newer epoch exists. Logs it (so a restart does not lead again), stops ordering
   * writes (pending ones reject with `Fenced`: they may be lost), and follows the new primary.
   */
  async #demote(epoch: Epoch, newer: EpochHistory): Promise<void> {
    if (this.#switching !== null || this.#active.role !== "primary") return;
    const a = this.#active;
    let done!: () => void;
    this.#switching = new Promise((r) => (done = r));
    try {
      const primary = newer[newer.length - 1]!.primary;
      a.driver.stop(new ConcordError("Fenced", `node ${this.id} is no longer the primary: ${primary} leads epoch ${epoch}`, { primary, epoch }));
      this.#log("node.fenced", { epoch, primary });
      await a.driver.settled();
      const own = a.driver.status();
      await this.#o.storage.append(encodeWalEntry({ kind: "epoch", epoch, history: own.history, primary }));
      if (this.#closed) return;
      this.#startReplica(primary, epoch, own.history, own.durableLsn, a.driver.state, []);
    } catch (e) {
      this.#fail(e instanceof ConcordError ? e : new ConcordError("Io", String(e)));
    } finally {
      this.#switching = null;
      done();
    }
  }

  #installed(install: SnapshotInstall, changes: readonly Change[]): void {
    this.#discarded += install.discarded;
    this.#o.observe?.install(install);
    this.#log("replica.snapshot_installed", { epoch: install.epoch, lsn: install.lsn, discarded: install.discarded });
    this.#tell(changes, positionAt(install.history, install.lsn), { bytes: 0, replaced: true });
  }

  #applied(record: ReplRecord, changes: readonly Change[]): void {
    this.#o.observe?.record(record);
    this.#tell(changes, { epoch: record.epoch, lsn: record.lsn }, { bytes: record.data.length, replaced: false });
  }

  /** Hands `changes` (if any) to every subscriber; a throwing subscriber is logged, the rest still hear. */
  #tell(changes: readonly Change[], position: Position, how: { readonly bytes: number; readonly replaced: boolean }): void {
    if (changes.length === 0 && !how.replaced) return;
    for (const l of [...this.#listeners]) {
      try {
        l(changes, position, how);
      } catch (e) {
        this.#log("node.listener_error", { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  #progressed(): void {
    for (const check of [...this.#progress]) check();
  }

  #fail(error: ConcordError): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    this.#log("node.failed", { error: error.message, code: error.code });
    this.#stopActive(error);
    this.#progressed();
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#o.log?.(event, { node: this.id, ...fields });
  }
}
