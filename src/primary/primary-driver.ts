/**
 * Runs a {@link PrimaryCore} against real time, a storage and a transport: writes go through the
 * core (which orders them), into the write-ahead log, into the key-value state once durable, and
 * out to the replicas. The node (replication-node.ts) owns the transport and hands this driver the
 * replication messages meant for a primary.
 *
 * Reads on the primary see only durable writes: a write shows up once it is in the WAL, so a crash
 * never takes back a value a reader saw.
 */
import type { Clock } from "../clock.js";
import { CoreLoop } from "../core-loop.js";
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import { decodeOp, encodeOp, type KvOp } from "../kv/ops.js";
import type { KvState } from "../kv/kv-state.js";
import type { Change } from "../store.js";
import type { DocStorage } from "../storage/storage.js";
import type { PrimaryCore, PrimaryLog, PrimaryCoreStatus } from "./replication/core.js";
import { encodeReplMessage } from "./replication/codec.js";
import type { ToPrimary } from "./replication/messages.js";
import { createPrimary } from "./replication/primary-core.js";
import { asLsn, type PrimaryDurability, type Epoch, type EpochHistory, type Lsn, type ReplRecord } from "./replication/types.js";
import { encodeWalEntry, encodeWalSnapshot } from "./wal-codec.js";
import { WriteQueue } from "../storage/write-queue.js";

/** What a write reached when its promise resolved. */
export interface WriteReceipt {
  readonly epoch: Epoch;
  readonly lsn: Lsn;
  /** Replicas that held it durably (empty for `local`). */
  readonly replicas: readonly PeerId[];
}

/** Replication options of a primary (see PrimaryConfig for their meaning and defaults). */
export interface PrimaryRoleOptions {
  readonly minReplicas?: number;
  readonly maxLagMs?: number;
  readonly heartbeatMs?: number;
  readonly maxMessageBytes?: number;
  /**
   * Records kept in memory for replicas that reconnect (Redis's repl-backlog): at least the newest
   * this many, at most a quarter more (the backlog is trimmed in steps, not on every write). Default 100 000.
   */
  readonly backlogRecords?: number;
}

export interface PrimaryDriverConfig {
  readonly id: PeerId;
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  readonly lastLsn: Lsn;
  readonly state: KvState;
  /** Durable records after the stored snapshot (the initial backlog). */
  readonly records: readonly ReplRecord[];
  readonly storage: DocStorage;
  readonly clock: Clock;
  readonly send: (to: PeerId, bytes: Uint8Array) => void;
  readonly followers?: readonly PeerId[];
  readonly options?: PrimaryRoleOptions;
  /** Keys a durable write changed. */
  /** A record was applied to the state (in LSN order), with the keys it changed. */
  readonly onApplied?: (record: ReplRecord, changes: readonly Change[]) => void;
  /** The durable LSN moved: once per batch of records, AFTER `status()` reports it (`onApplied` runs before, per record). */
  readonly onProgress?: () => void;
  /** The storage failed: the driver stopped; the node must stop too. */
  readonly onFailure: (error: ConcordError) => void;
}

interface Waiter {
  readonly resolve: (r: WriteReceipt) => void;
  readonly reject: (e: ConcordError) => void;
  readonly epoch: Epoch;
}

const DEFAULT_BACKLOG = 100_000;

export class PrimaryDriver {
  readonly #cfg: PrimaryDriverConfig;
  readonly #loop: CoreLoop<PrimaryCore>;
  readonly #kv: KvState;
  readonly #wal: WriteQueue<ReplRecord>;
  readonly #backlogMax: number;
  #backlog: ReplRecord[];
  #durable: Lsn;
  readonly #waiters = new Map<number, Waiter>();
  /** Why the driver stopped: what later writes reject with. */
  #stoppedBy: ConcordError | null = null;

  constructor(cfg: PrimaryDriverConfig) {
    this.#cfg = cfg;
    this.#kv = cfg.state;
    this.#durable = cfg.lastLsn;
    this.#backlogMax = cfg.options?.backlogRecords ?? DEFAULT_BACKLOG;
    this.#backlog = cfg.records.slice(-this.#backlogMax);
    this.#wal = new WriteQueue(cfg.storage, (records) => this.#onDurable(records), (e) => this.#fail(e));
    const log: PrimaryLog = {
      firstLsn: () => asLsn(this.#backlog[0]?.lsn ?? this.#durable + 1),
      lastLsn: () => this.#durable,
      records: (from, to, maxBytes) => {
        const first = this.#backlog[0]?.lsn ?? this.#durable + 1;
        const out: ReplRecord[] = [];
        let bytes = 0;
        for (let lsn = from; lsn <= to; lsn++) {
          const r = this.#backlog[lsn - first];
          if (r === undefined) break;
          if (out.length > 0 && bytes + r.data.length > maxBytes) break;
          out.push(r);
          bytes += r.data.length;
        }
        return out;
      },
      snapshot: () => ({ lsn: this.#durable, data: this.#kv.encode() }),
    };
    const o = cfg.options ?? {};
    const core = createPrimary({
      id: cfg.id,
      epoch: cfg.epoch,
      history: cfg.history,
      log,
      ...(cfg.followers === undefined ? {} : { followers: cfg.followers }),
      ...(o.minReplicas === undefined ? {} : { minReplicas: o.minReplicas }),
      ...(o.maxLagMs === undefined ? {} : { maxLagMs: o.maxLagMs }),
      ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }),
      ...(o.maxMessageBytes === undefined ? {} : { maxMessageBytes: o.maxMessageBytes }),
    });
    this.#loop = new CoreLoop(core, cfg.clock, cfg.options?.heartbeatMs ?? 100, () => this.#pump());
    this.#pump();
  }

  get epoch(): Epoch {
    return this.#cfg.epoch;
  }

  /** The key-value state as of the last durable write. */
  get state(): KvState {
    return this.#kv;
  }

  status(): PrimaryCoreStatus {
    return this.#loop.core.status(this.#loop.now());
  }

  /**
   * Orders `op` and resolves once it reached `durability`. Rejects with `Unavailable` (too few fresh
   * replicas), `Fenced` (a newer primary exists), `TooLarge`, `InvalidArgument`, `Closed`, or the
   * storage's error. A write that was ordered and then fenced may still be in the log: the error says so.
   */
  write(op: KvOp, durability: PrimaryDurability): Promise<WriteReceipt> {
    if (this.#loop.stopped) return Promise.reject(this.#wal.failure ?? this.#stoppedBy ?? new ConcordError("Closed", "this primary was stopped"));
    const data = encodeOp(op);
    if (data.length + 64 > this.#cfg.storage.maxRecordBytes) {
      return Promise.reject(
        new ConcordError("TooLarge", `the write takes ${data.length} bytes; the log takes records up to ${this.#cfg.storage.maxRecordBytes - 64}`, {
          bytes: data.length,
        }),
      );
    }
    const r = this.#loop.core.write(data, durability, this.#loop.now());
    if (!r.ok) {
      const code = r.reason === "fenced" ? "Fenced" : r.reason === "unavailable" ? "Unavailable" : "InvalidArgument";
      return Promise.reject(new ConcordError(code, r.detail, { reason: r.reason }));
    }
    const promise = new Promise<WriteReceipt>((resolve, reject) => this.#waiters.set(r.lsn, { resolve, reject, epoch: r.epoch }));
    this.#pump();
    return promise;
  }

  step(from: PeerId, msg: ToPrimary): void {
    this.#loop.input((c, now) => c.step(from, msg, now));
  }

  peerUp(peer: PeerId): void {
    this.#loop.input((c, now) => c.peerUp(peer, now));
  }

  peerDown(peer: PeerId): void {
    this.#loop.input((c, now) => c.peerDown(peer, now));
  }

  /** Resolves once every record handed to storage is durable and applied to the state (or storage failed). */
  settled(): Promise<void> {
    return this.#wal.settled();
  }

  /**
   * Stops: no more ticks, inputs, sends or writes; pending and later writes reject with `error`. Records
   * already handed to storage are still applied as they become durable (see {@link settled}), so
   * the state always matches the log.
   */
  stop(error: ConcordError): void {
    if (this.#loop.stopped) return;
    this.#loop.stop();
    this.#stoppedBy = error;
    for (const [lsn, w] of this.#waiters) {
      w.reject(new ConcordError(error.code, `${error.message} (the write at LSN ${lsn} may or may not survive)`, { ...error.details, lsn }));
    }
    this.#waiters.clear();
  }



  #pump(): void {
    if (this.#loop.stopped) return;
    const out = this.#loop.core.output();
    for (const record of out.persist) this.#wal.append(encodeWalEntry({ kind: "record", record }), record);
    for (const { to, msg } of out.send) this.#cfg.send(to, encodeReplMessage(msg));
    for (const d of out.done) {
      const w = this.#waiters.get(d.lsn);
      if (w === undefined) continue;
      this.#waiters.delete(d.lsn);
      w.resolve({ epoch: w.epoch, lsn: d.lsn, replicas: d.replicas });
    }
    for (const a of out.abandoned) {
      const w = this.#waiters.get(a.lsn);
      if (w === undefined) continue;
      this.#waiters.delete(a.lsn);
      w.reject(
        new ConcordError("Fenced", `${a.detail}; the write at LSN ${a.lsn} is durable here but a newer primary may discard it`, { lsn: a.lsn }),
      );
    }
  }

  #onDurable(records: ReplRecord[]): void {
    for (const r of records) {
      const changes = this.#kv.apply(decodeOp(r.data));
      this.#durable = r.lsn;
      this.#backlog.push(r);
      this.#cfg.onApplied?.(r, changes);
    }
    // Trimming copies the backlog: in steps of a quarter of it, or a full backlog would cost a copy of it per batch.
    if (this.#backlog.length > this.#backlogMax + (this.#backlogMax >> 2)) this.#backlog = this.#backlog.slice(-this.#backlogMax);
    this.#loop.core.persisted(this.#durable, this.#loop.now());
    this.#cfg.onProgress?.();
    if (this.#loop.stopped) return;
    this.#pump();
    this.#wal.compactWhenIdle(() => {
      const status = this.#loop.core.status(this.#loop.now());
      return encodeWalSnapshot({ epoch: this.#cfg.epoch, history: status.history, primary: this.#cfg.id, lsn: this.#durable, state: this.#kv.encode() });
    });
  }

  /** Compacts the WAL into a snapshot of the state when the storage asks and nothing is in flight. */


  #fail(error: ConcordError): void {
    if (this.#loop.stopped) return;
    this.stop(error);
    this.#cfg.onFailure(error);
  }
}
