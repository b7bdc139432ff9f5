/**
 * Runs a {@link ReplicaCore} against real time, a storage and the node's transport: records from
 * the primary go into the write-ahead log, then into the key-value state, then get acknowledged;
 * a snapshot replaces the log and the state; epoch changes are logged before they are acted on.
 */
import type { Clock } from "../clock.js";
import { CoreLoop } from "../core-loop.js";
import { ConcordError, invariant } from "../errors.js";
import type { PeerId } from "../ids.js";
import { KvState } from "../kv/kv-state.js";
import { decodeOp, type KvOp } from "../kv/ops.js";
import type { Change } from "../store.js";
import type { DocStorage } from "../storage/storage.js";
import { encodeReplMessage } from "./replication/codec.js";
import type { ReplicaCore, ReplicaCoreStatus, SnapshotInstall } from "./replication/core.js";
import type { PrimaryToReplica } from "./replication/messages.js";
import { createReplica } from "./replication/replica-core.js";
import type { Epoch, EpochHistory, Lsn, ReplRecord } from "./replication/types.js";
import { encodeWalEntry, encodeWalSnapshot } from "./wal-codec.js";
import { WriteQueue } from "../storage/write-queue.js";

export interface ReplicaRoleOptions {
  /** Keepalive ack interval in ms. Default 100. */
  readonly ackMs?: number;
  /** Hello again after this many ms without progress. Default 1 000. */
  readonly helloMs?: number;
  /**
   * Recent records kept in memory for after a promotion: at least the newest this many, at most a
   * quarter more (trimmed in steps, not on every write). Default 100 000.
   */
  readonly backlogRecords?: number;
}

export interface ReplicaDriverConfig {
  readonly id: PeerId;
  readonly primary: PeerId;
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  readonly lastLsn: Lsn;
  readonly state: KvState;
  /** Durable records after the stored snapshot (the initial backlog). */
  readonly records: readonly ReplRecord[];
  readonly storage: DocStorage;
  readonly clock: Clock;
  readonly send: (to: PeerId, bytes: Uint8Array) => void;
  readonly options?: ReplicaRoleOptions;
  /** A record was applied to the state (in LSN order), with the keys it changed. */
  readonly onApplied?: (record: ReplRecord, changes: readonly Change[]) => void;
  /** A snapshot install was handed to storage: after a crash the node may come back with or without it. */
  readonly onInstalling?: (install: SnapshotInstall) => void;
  /**
   * A snapshot replaced the state (`changes`: what differs from the state before); `discarded`
   * records of this replica's log were dropped as divergent.
   */
  readonly onInstalled?: (install: SnapshotInstall, changes: readonly Change[]) => void;
  /** The applied LSN moved (records or a snapshot): once per batch, AFTER `status()` reports it. */
  readonly onProgress?: () => void;
  readonly onFailure: (error: ConcordError) => void;
}

/** True when `decode` returns; false when it throws a ConcordError (bytes it refuses). */
function decodes(decode: () => void): boolean {
  try {
    decode();
    return true;
  } catch (e) {
    if (e instanceof ConcordError) return false;
    throw e;
  }
}

type WalItem =
  | { readonly kind: "record"; readonly record: ReplRecord }
  | { readonly kind: "install"; readonly install: SnapshotInstall; readonly state: KvState }
  | { readonly kind: "epoch" };

export class ReplicaDriver {
  readonly #cfg: ReplicaDriverConfig;
  readonly #loop: CoreLoop<ReplicaCore>;
  #kv: KvState;
  readonly #wal: WriteQueue<WalItem>;
  /** Recent durable records, kept so that after a promotion the other replicas can resume from them. */
  #backlog: ReplRecord[];
  readonly #backlogMax: number;
  /** The epoch and primary last written to the WAL. */
  #logged: { epoch: Epoch; primary: PeerId };
  /** Epoch entries appended and not yet durable; sends wait for them (a restart must not forget an epoch it acted on). */
  #epochWrites = 0;
  #held: { to: PeerId; bytes: Uint8Array }[] = [];
  /** Records' ops as the core had them checked, by their data: applied without decoding again. */
  readonly #checkedOps = new WeakMap<Uint8Array, KvOp>();
  /** The last snapshot the core had checked, decoded: what its install hands out (decoded once). */
  #checkedSnapshot: { readonly data: Uint8Array; readonly state: KvState } | null = null;

  constructor(cfg: ReplicaDriverConfig) {
    this.#cfg = cfg;
    this.#kv = cfg.state;
    this.#backlogMax = cfg.options?.backlogRecords ?? 100_000;
    this.#backlog = cfg.records.slice(-this.#backlogMax);
    this.#logged = { epoch: cfg.epoch, primary: cfg.primary };
    this.#wal = new WriteQueue(cfg.storage, (items) => this.#onDurable(items), (e) => this.#fail(e));
    const o = cfg.options ?? {};
    const core = createReplica({
      id: cfg.id,
      primary: cfg.primary,
      epoch: cfg.epoch,
      history: cfg.history,
      lastLsn: cfg.lastLsn,
      appliedLsn: cfg.lastLsn,
      ...(o.ackMs === undefined ? {} : { ackMs: o.ackMs }),
      ...(o.helloMs === undefined ? {} : { helloMs: o.helloMs }),
      checkData: {
        record: (data) => decodes(() => this.#checkedOps.set(data, decodeOp(data))),
        snapshot: (data) =>
          decodes(() => {
            this.#checkedSnapshot = { data, state: KvState.decode(data) };
          }),
      },
    });
    this.#loop = new CoreLoop(core, cfg.clock, Math.min(cfg.options?.ackMs ?? 100, 100), () => this.#pump());
    this.#pump();
  }

  get state(): KvState {
    return this.#kv;
  }

  status(): ReplicaCoreStatus {
    return this.#loop.core.status(this.#loop.now());
  }

  /** What a promotion of this replica starts from (see ReplicaCore.promotion). */
  promotion(): ReturnType<ReplicaCore["promotion"]> {
    return this.#loop.core.promotion();
  }

  /** True while writes to the log are in flight (a promotion waits for them). */
  get busy(): boolean {
    return this.#wal.pending > 0;
  }

  step(from: PeerId, msg: PrimaryToReplica): void {
    this.#loop.input((c, now) => c.step(from, msg, now));
  }

  peerUp(peer: PeerId): void {
    this.#loop.input((c, now) => c.peerUp(peer, now));
  }

  peerDown(peer: PeerId): void {
    this.#loop.input((c, now) => c.peerDown(peer, now));
  }

  /** Resolves once every write handed to storage is durable and applied (or storage failed). */
  settled(): Promise<void> {
    return this.#wal.settled();
  }

  /** Stops ticks, inputs and sends; writes already handed to storage are still applied as they become durable. */
  stop(): void {
    this.#loop.stop();
  }



  /** Durable records kept for after a promotion (see PrimaryDriverConfig.records). */
  get backlog(): readonly ReplRecord[] {
    return this.#backlog;
  }

  #pump(): void {
    if (this.#loop.stopped) return;
    const out = this.#loop.core.output();
    if (out.install !== null) this.#install(out.install);
    const st = this.#loop.core.status(this.#loop.now());
    if (out.history !== null || st.epoch !== this.#logged.epoch || st.primary !== this.#logged.primary) {
      this.#logged = { epoch: st.epoch, primary: st.primary };
      this.#epochWrites++;
      this.#wal.append(encodeWalEntry({ kind: "epoch", epoch: st.epoch, history: out.history ?? st.history, primary: st.primary }), { kind: "epoch" });
    }
    for (const record of out.persist) this.#wal.append(encodeWalEntry({ kind: "record", record }), { kind: "record", record });
    for (const { to, msg } of out.send) {
      const bytes = encodeReplMessage(msg);
      if (this.#epochWrites > 0) this.#held.push({ to, bytes });
      else this.#cfg.send(to, bytes);
    }
  }

  /**
   * Replaces the log and the state with the snapshot. `compact` drops every record appended before
   * it; records queued after it (the stream that follows) are applied only after it is durable.
   */
  #install(install: SnapshotInstall): void {
    const checked = this.#checkedSnapshot;
    this.#checkedSnapshot = null;
    // The core hands out only snapshots that passed checkData.snapshot, which decoded them.
    invariant(checked !== null && checked.data === install.data, `the snapshot at LSN ${install.lsn} to install was not checked`);
    const state = checked.state;
    const primary = this.#loop.core.status(this.#loop.now()).primary;
    const bytes = encodeWalSnapshot({ epoch: install.epoch, history: install.history, primary, lsn: install.lsn, state: install.data });
    this.#cfg.onInstalling?.(install);
    this.#wal.enqueue(() => this.#cfg.storage.compact(bytes), { kind: "install", install, state });
  }

  #onDurable(items: WalItem[]): void {
    let last: Lsn | null = null;
    const now = this.#loop.now();
    for (const item of items) {
      if (item.kind === "epoch") {
        this.#epochWrites--;
        continue;
      }
      if (item.kind === "install") {
        const changes = this.#kv.diff(item.state);
        this.#kv = item.state;
        this.#backlog = [];
        last = null;
        this.#cfg.onInstalled?.(item.install, changes);
        this.#loop.core.installed(item.install.lsn, now);
        continue;
      }
      const changes = this.#kv.apply(this.#checkedOps.get(item.record.data) ?? decodeOp(item.record.data));
      this.#backlog.push(item.record);
      last = item.record.lsn;
      this.#cfg.onApplied?.(item.record, changes);
    }
    // Trimming copies the backlog: in steps of a quarter of it, or a full backlog would cost a copy of it per batch.
    if (this.#backlog.length > this.#backlogMax + (this.#backlogMax >> 2)) this.#backlog = this.#backlog.slice(-this.#backlogMax);
    if (this.#loop.stopped) {
      if (last !== null) this.#loop.core.persisted(last, now);
      if (last !== null) this.#loop.core.applied(last, now);
      this.#cfg.onProgress?.();
      return;
    }
    if (this.#epochWrites === 0 && this.#held.length > 0) {
      const held = this.#held;
      this.#held = [];
      for (const { to, bytes } of held) this.#cfg.send(to, bytes);
    }
    if (last !== null) {
      this.#loop.core.persisted(last, now);
      this.#loop.core.applied(last, now);
    }
    this.#cfg.onProgress?.();
    this.#pump();
    this.#wal.compactWhenIdle(() => {
      const st = this.#loop.core.status(this.#loop.now());
      return encodeWalSnapshot({ epoch: st.epoch, history: st.history, primary: st.primary, lsn: st.appliedLsn, state: this.#kv.encode() });
    });
  }



  #fail(error: ConcordError): void {
    if (this.#loop.stopped) return;
    this.stop();
    this.#cfg.onFailure(error);
  }
}
