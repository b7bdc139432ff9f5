/**
 * The port between the node service and a replication engine (STYLE.md section 12): all the
 * service (`node-service.ts`, `node-server.ts`) knows of `primary` or `strong` mode. A mode plugs
 * in by implementing {@link ServedEngine} (the primary's `PrimaryEngine`, the Raft node's engine)
 * and handing the node server an {@link EngineFactory}; the composition happens at the edge
 * (`src/node.ts`, `cli/`). Nothing here imports a mode folder.
 *
 * Positions are the engine's: (epoch, LSN) for `primary`, (term, index) for `strong`, both carried
 * as a {@link WirePosition}. Within one history they are ordered by their second number (`lsn`: LSNs
 * and Raft indexes count across epochs and terms); whether a position is on the engine's history
 * at all is the engine's to say ({@link ServedEngine.holds}).
 *
 * Every document is its own keyspace: reads, writes and changes name theirs.
 */
import type { Clock } from "../clock.js";
import type { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Json } from "../json.js";
import type { Transport } from "../net/transport.js";
import type { ServerLog } from "../ops/log.js";
import type { MetricFamily } from "../ops/prometheus.js";
import type { Change } from "../store.js";
import type { AdminAction, ReadOptions, WireDurability, WirePosition, WireReadInfo, WireSession, WriteCondition, WriteOp } from "./protocol.js";

/** The key-value state reads are served from. Values are deep-frozen and shared: do not mutate. */
export interface EngineView {
  get(key: string): Json | undefined;
  /** Every `[key, value]` whose key starts with `prefix`, sorted by key (UTF-16 code units). */
  entries(prefix: string): Array<[string, Json]>;
}

/** One write as a client asked for it (see the `write` request of `protocol.ts`). */
export interface EngineWrite {
  readonly doc: string;
  /** Tests that must all hold when the write applies, or it changes nothing (`succeeded: false`). */
  readonly conditions: readonly WriteCondition[];
  readonly ops: readonly WriteOp[];
  readonly durability: WireDurability;
  /** Its place in a client session (exactly-once delivery), or null. */
  readonly session: WireSession | null;
}

/** What a write reached when the engine acknowledged it. */
export interface EngineReceipt {
  /** Where the write is in the engine's history (for a retry in a session: where it first applied). */
  readonly position: WirePosition;
  /** Nodes that held it durably when acknowledged, besides the one that ordered it (primary mode's replicas; empty otherwise). */
  readonly replicas: readonly string[];
  /** Its conditions held and its ops applied. */
  readonly succeeded: boolean;
}

/** Keys of one document that one applied write (or a replaced state) changed. */
export interface EngineChange {
  /** The document, its own keys in `changes`; empty (with no changes) for a replacement that changed no document. */
  readonly doc: string;
  /** Never empty, but for a replacement that changed no document. */
  readonly changes: readonly Change[];
  /** The position the write brought the state to. */
  readonly position: WirePosition;
  /** Encoded size of the write that made them (what keeping them costs, roughly); 0 when unknown. */
  readonly bytes: number;
  /**
   * The state was replaced whole (a snapshot installed over it): `changes` are the difference, and
   * the history before `position` may not be the one the changes told before it were on.
   */
  readonly replaced: boolean;
}

/** Hears every {@link EngineChange}. MUST NOT throw. */
export type EngineListener = (change: EngineChange) => void;

/**
 * What `/healthz` says of the engine: `serving` false turns the answer into a 503 (the engine
 * failed, or cannot serve for a reason of its own); `fields` are the engine's own (role, term or
 * epoch, positions...), merged into the JSON after the service's `status` and `id`.
 */
export interface EngineHealth {
  readonly serving: boolean;
  readonly fields: Readonly<Record<string, unknown>>;
}

/**
 * A replication engine as the node service serves it. Every method may be called at any time
 * after the factory resolved and until {@link close} resolved; a closed or failed engine refuses
 * with `Closed` or its failure.
 */
export interface ServedEngine {
  /** This node's id among its peers. */
  readonly id: string;
  /** What stopped the engine for good (it refuses writes until restarted), or null. */
  readonly failure: ConcordError | null;
  /** Document `doc` of the state reads are served from, as it is at each call. */
  view(doc: string): EngineView;
  /** Where reads are served now and how fresh the state is. */
  freshness(): WireReadInfo;
  /**
   * Prepares a read with `read`'s demands (`after`, `maxStalenessMs`, and whatever the mode
   * requires, such as a Raft ReadIndex round): `undefined` when {@link view} may be read now;
   * otherwise a promise that resolves once it may be read, or rejects with the refusal
   * (`Stale`, `Timeout`, `NotLeader`, `Unavailable`, `Closed`...). MAY throw such a refusal too.
   * The caller reads {@link view} synchronously once it resolves.
   */
  readable(read: ReadOptions): Promise<void> | undefined;
  /**
   * Orders `write` as one atomic write and resolves once it reached its durability. Rejects with a
   * ConcordError: refusals before ordering (`ReadOnlyReplica`, `NotLeader`, `Unavailable`,
   * `InvalidArgument`, `InvalidValue`, `TooLarge`, `SessionExpired`), or failures after it (`Fenced`,
   * `Io`, `Closed`, `Timeout`: the write's fate is unknown). MAY throw such an error synchronously.
   */
  write(write: EngineWrite): Promise<EngineReceipt>;
  /** True when the engine's state includes the write at `position` (same term of office, same index). */
  holds(position: WirePosition): boolean;
  /**
   * Hears every change as it is applied, before anything else is served: a read served after a
   * change was told holds it, one served before does not. Returns the unsubscribe function.
   */
  subscribe(listener: EngineListener): () => void;
  /** Opens a client session (strong mode); resolves with its id. Rejects where sessions are not the mode's (`InvalidArgument`). */
  openSession(): Promise<number>;
  /** Carries out an operator's request; resolves with the position it names (see `admin-done`), or rejects with why not. */
  admin(action: AdminAction): Promise<WirePosition>;
  /** The engine's status as plain data (the answer to a client's `status`, shape per mode). */
  status(): Readonly<Record<string, unknown>>;
  health(): EngineHealth;
  /** The engine's own metrics (role, positions, failures...); the service adds its client metrics. */
  metrics(): readonly MetricFamily[];
  /** Stops: pending writes reject with `Closed`, storage is flushed and closed, the transport too. Idempotent. */
  close(): Promise<void>;
}

/** What a node server gives the engine it starts. */
export interface EngineContext {
  readonly id: PeerId;
  /** The node's data folder (one node per folder); the engine keeps its storage under it. */
  readonly dataDir: string;
  /** The links to the other nodes (`/peer`). Owned by the engine from now on: closed by its `close`. */
  readonly transport: Transport;
  readonly clock: Clock;
  readonly log: ServerLog;
}

/**
 * Opens an engine: recovers it from `ctx.dataDir` and starts it. Rejects with a ConcordError a
 * person can act on (`Corrupt` naming the damaged file and what to do, `Io`, `InvalidArgument`),
 * having released what it acquired.
 */
export type EngineFactory<E extends ServedEngine = ServedEngine> = (ctx: EngineContext) => Promise<E>;
