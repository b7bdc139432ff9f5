/**
 * The replication protocol between a primary and its replicas, as values (codec.ts puts them on
 * the wire). It runs over the datagram {@link Transport}: messages may be lost, duplicated or
 * reordered, so every message says where it belongs (epoch, LSNs) and both sides recover by
 * re-sending (a replica's `hello`, the primary's probe from the replica's last ack).
 *
 * Every message carries the sender's `epoch` (the highest it has seen). A primary that is shown a
 * higher epoch with the history naming its primary (an `epoch` notice, or a `hello` of that epoch)
 * is fenced: it knows a replica was promoted after it (fence.ts says what else it drops).
 *
 * A replica sends `ack` only while it knows its log is a prefix of its primary's (after a
 * `welcome` or snapshot chunk whose history agrees with every record it holds, or after
 * installing the primary's snapshot); until then it sends `hello` (and `snapshot-ack` for
 * chunks). So an `ack` in the primary's epoch always describes records the primary holds, and a
 * primary may count it towards `{ replicas: n }`.
 */
import type { Epoch, EpochHistory, Lsn, Position, ReplRecord } from "./types.js";

/** Replica to primary: "I hold this log; send me what follows." Sent on connect and when stuck. */
export interface Hello {
  readonly type: "hello";
  readonly epoch: Epoch;
  /** The replica's epoch history (covers its records). */
  readonly history: EpochHistory;
  /** The replica's last durable record. */
  readonly last: Position;
}

/** Replica to primary: progress. Also a keepalive (the primary measures freshness by it). */
export interface Ack {
  readonly type: "ack";
  readonly epoch: Epoch;
  /** Records up to here are durable on the replica. */
  readonly received: Lsn;
  /** Records up to here are applied (visible to reads on the replica). */
  readonly applied: Lsn;
  /** The replica got records past what it holds (some were lost): resend from `received + 1`. */
  readonly gap: boolean;
}

/**
 * Replica to primary: progress of a snapshot transfer (stop-and-wait). Sent for every chunk
 * received: the primary sends the chunk at `offset` next, or resends from `offset` when it is
 * behind what the primary assumed (a lost chunk, or the replica restarted and lost what it held).
 */
export interface SnapshotAck {
  readonly type: "snapshot-ack";
  readonly epoch: Epoch;
  /** The LSN of the snapshot being assembled (`SnapshotChunk.lsn`). */
  readonly lsn: Lsn;
  /** Bytes of it the replica holds, in order: the offset of the next chunk it wants. */
  readonly offset: number;
}

/** Primary to replica: the primary's epoch history, so the replica can follow it. Answers `hello`. */
export interface Welcome {
  readonly type: "welcome";
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  /** The primary's last durable LSN. */
  readonly last: Lsn;
}

/** Primary to replica: records `prev + 1 ..`, contiguous, durable on the primary. */
export interface Records {
  readonly type: "records";
  readonly epoch: Epoch;
  /** LSN just before the first record (the replica must hold it, from this history). */
  readonly prev: Lsn;
  readonly records: readonly ReplRecord[];
  /** The primary's last durable LSN (for the replica's lag). */
  readonly last: Lsn;
}

/**
 * Primary to replica: one chunk of a full snapshot: the state after record `lsn` of the primary's
 * history. Sent when the replica is behind the backlog or its log diverged from the primary's.
 */
export interface SnapshotChunk {
  readonly type: "snapshot";
  readonly epoch: Epoch;
  readonly history: EpochHistory;
  readonly lsn: Lsn;
  /** The replica's log agreed with the primary's up to here; its records after it are discarded. */
  readonly common: Lsn;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
  /** Total bytes of the snapshot. */
  readonly total: number;
}

/** Primary to replica: keepalive with the primary's last durable LSN. */
export interface Heartbeat {
  readonly type: "heartbeat";
  readonly epoch: Epoch;
  readonly last: Lsn;
}

/**
 * Either side: "your epoch is over" (a fenced primary hears it from a newer one, or a replica from
 * a newer primary). `epoch` is the last epoch of `history`, whose last entry names its primary.
 */
export interface EpochNotice {
  readonly type: "epoch";
  readonly epoch: Epoch;
  readonly history: EpochHistory;
}

export type ReplicaToPrimary = Hello | Ack | SnapshotAck;
/** What a primary core accepts: its replicas' messages, and the notice of a newer primary. */
export type ToPrimary = ReplicaToPrimary | EpochNotice;
export type PrimaryToReplica = Welcome | Records | SnapshotChunk | Heartbeat | EpochNotice;
export type ReplMessage = ReplicaToPrimary | PrimaryToReplica;
export type ReplMessageType = ReplMessage["type"];
