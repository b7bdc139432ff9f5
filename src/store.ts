/**
 * The Store contract all three modes implement (DESIGN.md section 1): one replicated document of
 * JSON values under string keys. Modes differ in what a write's ack means and in what a read may
 * return under partition; the shape of the API does not.
 */
import type { DocId } from "./ids.js";
import type { Json } from "./json.js";
import type { LogStats } from "./storage/storage.js";

/** The consistency model a store was opened with. */
export type Mode = "eventual" | "primary" | "strong";

/**
 * How far a write got before its promise resolved.
 * - `local`: durable in this replica's persistence adapter (fsynced file, committed IndexedDB
 *   transaction; for memory storage: held in memory).
 * - `server`: durable on the sync server (eventual mode with a server).
 * - `replicas`: durable on `n` read replicas (primary mode).
 * - `committed`: committed by a Raft quorum (strong mode).
 */
export type AckLevel = "local" | "server" | "replicas" | "committed";

/** What a resolved write reached. */
export interface WriteAck {
  readonly level: AckLevel;
}

/** Options of a single write. */
export interface WriteOptions {
  /** The level the write must reach before its promise resolves. Default: the mode's natural level. */
  readonly ack?: AckLevel;
}

/** Which keys a read or a subscription covers. */
export interface RangeOptions {
  /** Only keys starting with this prefix. Default: every key. */
  readonly prefix?: string;
}

/** One key that changed; `value` is `undefined` when the key was deleted. */
export interface Change {
  readonly key: string;
  readonly value: Json | undefined;
}

/** What a subscriber hears after a change (one transaction, local or remote). */
export interface ChangeEvent {
  /** Changed keys matching the subscription, in no particular order. Never empty. */
  readonly changes: readonly Change[];
  /** `local`: made through this store or its document in this process; `remote`: from a peer. */
  readonly origin: "local" | "remote";
}

/** A subscriber. It MUST NOT throw (a throw is reported to `onError` and the others still run). */
export type ChangeListener = (event: ChangeEvent) => void;

/** The writes of one {@link Store.transact} call. Applied together, atomically, or not at all. */
export interface Transaction {
  /** Reads through this transaction's own writes. */
  get(key: string): Json | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

/** What a store can say about itself; the mode-specific fields come with each mode. */
export interface StoreStatus {
  readonly mode: Mode;
  readonly doc: DocId;
  /** This replica's stable name (logs, peers). */
  readonly replicaId: string;
  readonly closed: boolean;
  /** Writes whose promise has not settled yet. */
  readonly pendingWrites: number;
  /** Age in ms of the oldest pending write, 0 when none. */
  readonly oldestPendingMs: number;
  /** Peers this replica is connected to right now. */
  readonly peers: readonly string[];
  readonly storage: LogStats;
}

/** A replicated document of JSON values: the API every mode implements (DESIGN.md section 1). */
export interface Store {
  readonly mode: Mode;
  readonly doc: DocId;
  /** The value under `key`, or `undefined`. Values are deep-frozen. */
  get(key: string): Promise<Json | undefined>;
  /**
   * Writes `value` (JSON; anything else rejects with `InvalidValue` and writes nothing).
   * Resolves with the level reached; rejects with `Closed` when made after `close()`.
   */
  set(key: string, value: unknown, options?: WriteOptions): Promise<WriteAck>;
  /** Deletes `key` (a no-op write if it is absent). */
  delete(key: string, options?: WriteOptions): Promise<WriteAck>;
  /** Every `[key, value]` (matching `prefix`), sorted by key (UTF-16 code unit order). */
  entries(options?: RangeOptions): Promise<Array<[string, Json]>>;
  /**
   * Runs `fn` against a buffered {@link Transaction}, then applies its writes atomically as one
   * write with one ack. If `fn` throws, nothing is written and the promise rejects with that error.
   */
  transact(fn: (tx: Transaction) => void, options?: WriteOptions): Promise<WriteAck>;
  /** Calls `listener` after every change to keys matching `prefix`. Returns the unsubscribe function. */
  subscribe(options: RangeOptions, listener: ChangeListener): () => void;
  status(): StoreStatus;
  /**
   * Stops accepting writes, settles every write made before the call (resolve once durable, or
   * reject), disconnects from peers and releases storage. Idempotent.
   */
  close(): Promise<void>;
}
