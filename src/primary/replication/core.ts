/**
 * The two pure replication cores of `primary` mode and what they hand their drivers. A core does
 * no I/O and reads no clock: the driver passes `now` (ms, monotonic, from its Clock) with every
 * input, hands it messages and the results of its writes, and carries out the {@link
 * PrimaryOutput} / {@link ReplicaOutput} it drains after each input.
 *
 * Order of effects, which makes "persist before send" hold by construction:
 * - the primary ships and acknowledges only records its driver reported durable (`persisted`);
 * - a replica acknowledges only records its driver reported durable and applied.
 *
 * Refusals of a caller's request are values ({@link WriteResult}); a broken invariant throws
 * InvariantError; a message no correct peer sends is dropped and counted (`status().dropped`).
 */
import type { PeerId } from "../../ids.js";
import type { PrimaryToReplica, ReplicaToPrimary, ToPrimary } from "./messages.js";
import type { PrimaryDurability, Epoch, EpochHistory, Lsn, ReplRecord } from "./types.js";

/** A message to send. */
export interface Outgoing<M> {
  readonly to: PeerId;
  readonly msg: M;
}

/** Why the primary refuses a write now. */
export type WriteRefusal =
  /** Fewer fresh replicas than `minReplicas` or than the write's `{ replicas: n }`. */
  | "unavailable"
  /** A newer epoch exists: this node is no longer the primary. */
  | "fenced"
  /** The write's durability asks for something impossible (e.g. replicas: -1). */
  | "invalid";

export type WriteResult =
  | { readonly ok: true; readonly epoch: Epoch; readonly lsn: Lsn }
  | { readonly ok: false; readonly reason: WriteRefusal; readonly detail: string };

/** A write whose durability was reached (`local` ones once `persisted`, others once enough replicas acked). */
export interface WriteDone {
  readonly lsn: Lsn;
  /** Replicas that held it durably when it resolved (empty for `local`). */
  readonly replicas: readonly PeerId[];
}

/** A write that can no longer reach its durability here (the primary was fenced); it may be lost. */
export interface WriteAbandoned {
  readonly lsn: Lsn;
  readonly reason: "fenced";
  readonly detail: string;
}

export interface PrimaryOutput {
  /** New records to append to the local log, in LSN order. The driver reports them with `persisted`. */
  readonly persist: readonly ReplRecord[];
  readonly send: readonly Outgoing<PrimaryToReplica>[];
  readonly done: readonly WriteDone[];
  readonly abandoned: readonly WriteAbandoned[];
}

/** The primary's read view of its durable log (the backlog) and state; the driver keeps it. */
export interface PrimaryLog {
  /** Oldest LSN still in the backlog (records before it were compacted into the state). */
  firstLsn(): Lsn;
  /** Last durable LSN. */
  lastLsn(): Lsn;
  /** Records [from, to] (inclusive, within the backlog): at least one, then up to `maxBytes` of payload. */
  records(from: Lsn, to: Lsn, maxBytes: number): readonly ReplRecord[];
  /**
   * The applied state as bytes and the LSN it is at (the driver applies durable records in order).
   * MUST satisfy `firstLsn() - 1 <= lsn <= lastLsn()` (compaction only covers applied records),
   * and the bytes MUST NOT change afterwards (a transfer sends them chunk by chunk).
   */
  snapshot(): { readonly lsn: Lsn; readonly data: Uint8Array };
}

export interface PrimaryConfig {
  readonly id: PeerId;
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  readonly log: PrimaryLog;
  /**
   * Peers told about this epoch (an `epoch` notice) at start and whenever they come up, until they
   * answer with this epoch: after a promotion, the other replicas (which then follow this node)
   * and the old primary (which is then fenced). Default none.
   */
  readonly followers?: readonly PeerId[];
  /** Refuse every write while fewer fresh replicas are connected (Redis's min-replicas-to-write). Default 0. */
  readonly minReplicas?: number;
  /** A replica is fresh when it was heard within this many ms. Default 10 000. */
  readonly maxLagMs?: number;
  /** Heartbeat interval in ms. Default 100. */
  readonly heartbeatMs?: number;
  /** Max record payload bytes per `records` message. Default 1 MiB. */
  readonly maxMessageBytes?: number;
  /** Max records sent to one replica and not yet acknowledged. Default 4 096. */
  readonly maxInflightRecords?: number;
  /** Snapshot chunk size. Default 1 MiB. */
  readonly snapshotChunkBytes?: number;
}

/** What the primary knows of one replica. */
export interface ReplicaProgress {
  readonly id: PeerId;
  /** "probe": waiting for a hello/ack to know where it is; "stream": sending records; "snapshot": sending a snapshot. */
  readonly state: "probe" | "stream" | "snapshot";
  readonly received: Lsn;
  readonly applied: Lsn;
  /** ms since the replica was last heard. */
  readonly silentMs: number;
  readonly fresh: boolean;
}

export interface PrimaryCoreStatus {
  readonly id: PeerId;
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  /** Highest LSN assigned. */
  readonly lastLsn: Lsn;
  /** Highest LSN durable locally. */
  readonly durableLsn: Lsn;
  /** A newer epoch exists (its number); this node refuses writes. */
  readonly fencedBy: Epoch | null;
  readonly replicas: readonly ReplicaProgress[];
  /** Messages dropped as implausible. */
  readonly dropped: number;
}

export interface PrimaryCore {
  /** Orders a write: assigns the next LSN, or refuses. The record is in the next output's `persist`. */
  write(data: Uint8Array, durability: PrimaryDurability, now: number): WriteResult;
  /** The driver made records up to `lsn` durable. */
  persisted(lsn: Lsn, now: number): void;
  /** A message from a replica, or an `epoch` notice from a newer primary (which fences this one). */
  step(from: PeerId, msg: ToPrimary, now: number): void;
  /** The transport reports `peer` reachable / unreachable. */
  peerUp(peer: PeerId, now: number): void;
  peerDown(peer: PeerId, now: number): void;
  /** Time passed: heartbeats, freshness. Call every `heartbeatMs` or so. */
  tick(now: number): void;
  /** Drains what the driver must do now. */
  output(): PrimaryOutput;
  status(now: number): PrimaryCoreStatus;
}

/** A snapshot the replica must install: replace its state and log with it. */
export interface SnapshotInstall {
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  /** The state after record `lsn`; the log restarts empty after it. */
  readonly lsn: Lsn;
  readonly data: Uint8Array;
  /** Records the replica held after the common prefix with the primary, now discarded. */
  readonly discarded: number;
}

export interface ReplicaOutput {
  /** Records to append to the local log and apply, in LSN order. Report with `persisted` then `applied`. */
  readonly persist: readonly ReplRecord[];
  /**
   * A snapshot to install (before any `persist` of the same output). Report with `installed`.
   * Its `history` replaces the stored one. Records handed out earlier and not yet reported
   * `persisted` are superseded: the core ignores `persisted`/`applied` until `installed`.
   */
  readonly install: SnapshotInstall | null;
  /**
   * The epoch history changed: persist it BEFORE or atomically with this output's `persist`
   * records (they may belong to an epoch only this history covers), after its install if any.
   */
  readonly history: EpochHistory | null;
  readonly send: readonly Outgoing<ReplicaToPrimary>[];
}

export interface ReplicaConfig {
  readonly id: PeerId;
  /** The primary to follow (until an `epoch` notice names another). */
  readonly primary: PeerId;
  /** From storage: the history, the last durable record and what is applied. */
  readonly history: EpochHistory;
  readonly epoch: Epoch;
  readonly lastLsn: Lsn;
  readonly appliedLsn: Lsn;
  /** Keepalive ack interval in ms. Default 100. */
  readonly ackMs?: number;
  /**
   * Send `hello` again after this many ms without progress from the primary. Default 1 000. The
   * first `hello` goes out on the first `tick` or `peerUp` of the primary.
   */
  readonly helloMs?: number;
  /**
   * Whether bytes from the primary are what the driver can apply: a record's data (`record`) and
   * an assembled snapshot (`snapshot`). A `records` message holding a new record that fails is
   * dropped whole, and so is a snapshot that fails once assembled (both counted in `dropped`): no
   * correct primary sends them, and a replica must not persist what it cannot apply. Pure
   * functions of the bytes. Default: any bytes pass.
   */
  readonly checkData?: DataChecks;
}

/** See {@link ReplicaConfig.checkData}. */
export interface DataChecks {
  readonly record: (data: Uint8Array) => boolean;
  readonly snapshot: (data: Uint8Array) => boolean;
}

export interface ReplicaCoreStatus {
  readonly id: PeerId;
  readonly primary: PeerId;
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  readonly receivedLsn: Lsn;
  readonly appliedLsn: Lsn;
  /**
   * The LSN of a snapshot handed out for installing and not yet reported `installed`, or null.
   * Meanwhile `history` is already the snapshot's while the state is still the old one.
   */
  readonly installing: Lsn | null;
  /** Last durable LSN the primary reported (0 when never heard). */
  readonly primaryLsn: Lsn;
  /** Records behind the primary as last heard: primaryLsn - appliedLsn (>= 0). */
  readonly lagLsn: number;
  /** ms since the primary was last heard (Infinity when never). */
  readonly silentMs: number;
  /** Messages dropped as implausible or because they came from a peer this replica does not follow. */
  readonly dropped: number;
}

export interface ReplicaCore {
  step(from: PeerId, msg: PrimaryToReplica, now: number): void;
  peerUp(peer: PeerId, now: number): void;
  peerDown(peer: PeerId, now: number): void;
  persisted(lsn: Lsn, now: number): void;
  applied(lsn: Lsn, now: number): void;
  installed(lsn: Lsn, now: number): void;
  tick(now: number): void;
  output(): ReplicaOutput;
  status(now: number): ReplicaCoreStatus;
  /**
   * Promotion: the config of the primary this replica becomes (epoch one above the highest seen,
   * history from {@link promotedHistory}). The driver stops this core and starts the primary.
   * Throws ConcordError "InvalidArgument" while a snapshot install is outstanding or records
   * handed out in `persist` are not yet reported `persisted` (the new epoch starts after them).
   */
  promotion(): { readonly epoch: Epoch; readonly history: EpochHistory; readonly lastLsn: Lsn };
}
