/**
 * The port between the node service and a replication engine (STYLE.md section 12): all the
 * service (`node-service.ts`, `node-server.ts`) knows of `primary` or `strong` mode. A mode plugs
 * in by implementing {@link ServedEngine} (the primary's `PrimaryEngine`, the Raft node's engine)
 * and handing the node server an {@link EngineFactory}; the composition happens at the edge
 * (`src/node.ts`, `cli/`). Nothing here imports a mode folder.
 *
 * Positions are the engine's: (epoch, LSN) for `primary`, (term, index) for `strong`, both carried
 * as a {@link WirePosition}. The service never compares them; it hands them back to the engine
 * (`readable`'s `after`) and to clients.
 */
import type { Clock } from "../clock.js";
import type { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Json } from "../json.js";
import type { Transport } from "../net/transport.js";
import type { ServerLog } from "../ops/log.js";
import type { MetricFamily } from "../ops/prometheus.js";
import type { Change } from "../store.js";
import type { ReadOptions, WireDurability, WirePosition, WireReadInfo, WriteOp } from "./protocol.js";

/** The key-value state reads are served from. Values are deep-frozen and shared: do not mutate. */
export interface EngineView {
  get(key: string): Json | undefined;
  /** Every `[key, value]` whose key starts with `prefix`, sorted by key (UTF-16 code units). */
  entries(prefix: string): Array<[string, Json]>;
}

/** What a write reached when the engine acknowledged it. */
export interface EngineReceipt {
  /** Where the write is in the engine's history. */
  readonly position: WirePosition;
  /** Nodes that held it durably when acknowledged, besides the one that ordered it (primary mode's replicas; empty otherwise). */
  readonly replicas: readonly string[];
}

/** Hears the keys one applied write (or a replaced state) changed, and the position it brought the state to. MUST NOT throw. */
export type EngineListener = (changes: readonly Change[], position: WirePosition) => void;

/** An operator's request (admin): `promote` makes a primary-mode replica the primary of a new epoch. */
export type AdminRequest = { readonly type: "promote" };

/** What an {@link AdminRequest} did: `promoted` at the position the new epoch starts after. */
export type AdminAnswer = { readonly type: "promoted"; readonly position: WirePosition };

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
  /** The state reads are served from, as it is now. */
  readonly view: EngineView;
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
   * Orders `ops` as one atomic write and resolves once it reached `durability`. Rejects with a
   * ConcordError: refusals before ordering (`ReadOnlyReplica`, `NotLeader`, `Unavailable`,
   * `InvalidArgument`, `InvalidValue`, `TooLarge`), or failures after it (`Fenced`, `Io`, `Closed`:
   * the write's fate is unknown). MAY throw such an error synchronously.
   */
  write(ops: readonly WriteOp[], durability: WireDurability): Promise<EngineReceipt>;
  /**
   * Hears every change as it is applied, before anything else is served: a read served after a
   * change was told holds it, one served before does not. Returns the unsubscribe function.
   */
  subscribe(listener: EngineListener): () => void;
  /** Carries out an operator's request, or rejects with why not (`InvalidArgument`, `Closed`...). */
  admin(request: AdminRequest): Promise<AdminAnswer>;
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
