/**
 * Binds the pure {@link SyncCore} to a {@link Transport} and a {@link Clock}: feeds it transport
 * events and ticks, and sends what it queues after every input. This is the only place where the
 * eventual mode's sync meets I/O; the WebSocket client and server reuse it over their transports.
 *
 * When messages go ({@link TransportSyncOptions.forward}):
 * - `when-durable` (a replica's default): a batch goes out only once everything the store appended
 *   before it was queued is durable, so nothing this replica could not store reaches a peer (a
 *   write whose persist failed was refused to the app: no peer may hold it).
 * - `at-once` (a sync server): updates and answers go at once, only acks wait for durability. In a
 *   CRDT nothing acknowledged is lost by forwarding first: the author keeps every update not yet
 *   acknowledged and sends it again on its next handshake, and every receiver keeps what it got and
 *   sends it back when it finds the server lacks it. A crash between forwarding and fsync loses the
 *   server's copy of updates its peers hold, until one of them sends them again.
 * Acks always wait: an ack says "stored here".
 */
import type * as Y from "yjs";
import type { Clock } from "../clock.js";
import { CoreLoop } from "../core-loop.js";
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Json } from "../json.js";
import type { Transport } from "../net/transport.js";
import { SyncCore, type OutboundMessage, type SyncCoreOptions } from "./sync/sync-core.js";

/** How an eventual store syncs with peers over a transport it is given. */
export interface TransportSyncOptions extends SyncCoreOptions {
  /** The transport to peers or to a server. The store owns it from now on and closes it on close(). */
  readonly transport: Transport;
  /** Milliseconds per core tick (resync and presence timers are counted in ticks). Default 100. */
  readonly tickMs?: number;
  /**
   * `"when-durable"` (default): every message waits until what the store appended before it was
   * queued is durable. `"at-once"`: only acks wait (see the module comment: for a sync server,
   * whose own latency is the fsync it would wait for).
   */
  readonly forward?: "when-durable" | "at-once";
  /**
   * The peer that is this store's sync server. Enables writes at ack level `server`,
   * `whenSynced()` and `status().server`, and makes the core greet it (`acks: "initiate"`).
   */
  readonly server?: PeerId;
}

/**
 * Throws `InvalidArgument`, naming the option, unless `sync` is a usable {@link TransportSyncOptions}
 * (the core's own options are checked by the core). Call before acquiring anything.
 */
export function checkSyncOptions(sync: unknown): asserts sync is TransportSyncOptions {
  if (typeof sync !== "object" || sync === null) {
    throw new ConcordError("InvalidArgument", "sync must be an object like { transport }");
  }
  const { transport, tickMs, server, forward } = sync as { transport?: Partial<Transport>; tickMs?: unknown; server?: unknown; forward?: unknown };
  if (forward !== undefined && forward !== "when-durable" && forward !== "at-once") {
    throw new ConcordError("InvalidArgument", `sync.forward must be "when-durable" or "at-once", got ${JSON.stringify(forward)}`);
  }
  if (server !== undefined && (typeof server !== "string" || server.length === 0)) {
    throw new ConcordError("InvalidArgument", `sync.server must be the server's peer id (a non-empty string), got ${String(server)}`);
  }
  if (
    typeof transport !== "object" ||
    transport === null ||
    typeof transport.send !== "function" ||
    typeof transport.listen !== "function" ||
    typeof transport.close !== "function" ||
    typeof transport.self !== "string"
  ) {
    throw new ConcordError("InvalidArgument", "sync.transport must be a Transport (self, send, listen, peers, close)");
  }
  if (tickMs !== undefined && !(typeof tickMs === "number" && tickMs > 0 && Number.isFinite(tickMs))) {
    throw new ConcordError("InvalidArgument", `sync.tickMs must be a positive number of milliseconds, got ${String(tickMs)}`);
  }
}

/**
 * Answers "is everything appended to storage so far durable?": `undefined` when it is, else a
 * promise that settles once it is (rejecting if storage failed, in which case nothing waiting on
 * it is ever sent).
 */
export type DurabilityBarrier = () => Promise<void> | undefined;

/** One store's sync: a {@link SyncCore} driven by a transport, a clock and a durability barrier. */
export class SyncDriver {
  readonly core: SyncCore;
  private readonly transport: Transport;
  /** Ticks the core and flushes its outbox after every input (the effect drain every mode's driver shares). */
  private readonly loop: CoreLoop<SyncCore>;
  /** Batches waiting for durability, sent strictly in the order they were queued. */
  private held = 0;
  /** Only acks wait for durability. */
  private readonly atOnce: boolean;
  private sendChain: Promise<void> = Promise.resolve();

  /**
   * Starts syncing `doc` right away: listens to the transport, greets peers already up, and ticks.
   * `report` receives protocol errors from peers (the offending message is dropped, nothing applied).
   */
  constructor(
    doc: Y.Doc,
    options: TransportSyncOptions,
    private readonly clock: Clock,
    private readonly report: (error: unknown) => void,
    private readonly durable: DurabilityBarrier,
  ) {
    checkSyncOptions(options);
    this.transport = options.transport;
    this.atOnce = options.forward === "at-once";
    this.core = new SyncCore(doc, { ...options, acks: options.acks ?? (options.server !== undefined ? "initiate" : "off") });
    this.loop = new CoreLoop(this.core, clock, options.tickMs ?? 100, this.flush);
    // Registered after the core's own update listener, so its queued update is flushed here.
    doc.on("update", this.flush);
    this.transport.listen({
      message: (from, bytes) => this.loop.input(() => this.receive(from, bytes)),
      up: (peer) => this.loop.input((core) => core.peerUp(peer)),
      down: (peer) => this.loop.input((core) => core.peerDown(peer)),
    });
  }

  peers(): readonly PeerId[] {
    return this.core.peers();
  }

  /** Sets (or with `null` clears) our presence and sends it to peers. Throws `InvalidValue` for non-JSON. */
  setPresence(state: Json | null): void {
    this.loop.input((core) => core.setLocalAwareness(state));
  }

  /** Resolves once every batch queued so far was sent (or dropped because storage failed). */
  drain(): Promise<void> {
    return this.sendChain;
  }

  /**
   * Tells peers our presence is gone (so they drop it now rather than at the timeout), then stops
   * ticking, detaches from the doc and closes the transport. Batches still waiting for durability
   * are dropped: call after {@link drain} to send them. Idempotent.
   */
  stop(): void {
    if (this.loop.stopped) return;
    this.loop.input((core) => core.setLocalAwareness(null));
    this.loop.stop();
    this.core.doc.off("update", this.flush);
    this.core.destroy();
    this.transport.close();
  }

  private receive(from: PeerId, bytes: Uint8Array): void {
    const error = this.core.receive(from, bytes);
    if (error) this.report(new ConcordError(error.code, `from peer ${from}: ${error.message}`, { ...error.details, peer: from }, { cause: error }));
  }

  private readonly flush = (): void => {
    if (this.loop.stopped) return;
    let batch = this.core.takeOutbox();
    if (batch.length === 0) return;
    const barrier = this.durable();
    if (barrier === undefined && this.held === 0) return this.send(batch);
    if (this.atOnce) {
      this.send(batch.filter((m) => m.ack !== true));
      batch = batch.filter((m) => m.ack === true);
      if (batch.length === 0) return;
    }
    this.held++;
    this.sendChain = this.sendChain
      .then(() => barrier)
      .then(
        () => this.send(batch),
        () => undefined, // storage failed (reported by the store): what it did not persist is never sent
      )
      .finally(() => this.held--);
  };

  /**
   * Sends `batch`, except messages whose connection is gone: a batch held for durability may
   * outlive the connection it was queued for, and the next connection's handshake resends
   * everything it carried (see {@link OutboundMessage.epoch}).
   */
  private send(batch: readonly OutboundMessage[]): void {
    if (this.loop.stopped) return;
    for (const { to, bytes, epoch } of batch) {
      if (epoch !== undefined && this.core.link(to)?.epoch !== epoch) continue;
      this.transport.send(to, bytes);
    }
  }
}
