/**
 * The embedded client of `primary` mode: a {@link Store} whose data lives on a group of
 * `concord node` services (one primary, read replicas), reached over the client protocol
 * (`service/protocol.ts`) at `<url>/client`. This module is the store's face; the parts live in
 * `client-options.ts` (options), `client-node-group.ts` (the links and primary discovery),
 * `client-writes.ts` (a write and its fate), `client-session.ts` (session positions) and
 * `client-subscriptions.ts` (subscriptions that catch up).
 *
 * - Writes go to the group's primary: `nodes.primary` at first, then whichever of the `nodes`
 *   leads the newest epoch. A write refused because its node is no longer the primary
 *   (`ReadOnlyReplica`, `Fenced`), or not sent because the primary's link is down, makes the
 *   client ask every node's status and follow the unfenced primary of the newest epoch; it never
 *   goes back to an older epoch than one it has seen. {@link PrimaryStore.status} says where
 *   writes go (`primary`).
 * - A write resolves with a {@link PrimaryWriteAck} once durable at the level asked
 *   (`durability`). It is sent again, once, to a new primary only when it was certainly not
 *   applied: refused with `ReadOnlyReplica` (a replica never orders a write) or never sent. Every
 *   failure states the write's fate in `details.outcome`: `"not-applied"`, `"refused"` (by a node,
 *   before ordering it), or `"unknown"`: sent and unanswered (`Timeout`, the link dropping) or
 *   `Fenced` (the old primary gave up on a write that its replicas, one of them promoted since,
 *   may hold). A write of unknown outcome is NEVER sent again here: read it back before retrying.
 * - Reads travel: `get`/`entries` go to the primary (`read: "primary"`; one read is retried at a
 *   new primary when the old one's link is down) or to the other nodes in turn
 *   (`read: "replica"`), and {@link PrimaryStore.readInfo} tells where the last one was served and
 *   how far behind it was.
 * - Sessions (default on): every read carries `after` = the newest position this client wrote or
 *   read, so the node waits until it holds it: read-your-writes and monotonic reads across nodes
 *   and across a change of primary. A node that cannot catch up within `timeoutMs` answers
 *   `Timeout`; never older data.
 * - `maxStalenessMs`: a replica that last heard its primary longer ago answers `Stale`.
 * - Connections reconnect in the background (exponential backoff); a request made while its
 *   node's link is down rejects with `Unavailable` at once (requests made before the first
 *   connection opened wait for it); every request rejects with `Timeout` after `timeoutMs`.
 * - Subscribers hear every change as `origin: "remote"`, this client's own writes included: the
 *   node pushes them once they are applied there. Subscriptions are served by the node reads go
 *   to (the primary, following it, or the first of `nodes.replicas`), so they lag as reads do.
 *   After a disconnect (or a change of primary) a subscriber hears, in one event, what changed
 *   while it was away, then the pushes again: its view converges to the serving node's state,
 *   each change heard once. Each subscription keeps a copy of the entries under its prefix for
 *   that (see `client-subscriptions.ts`).
 *
 * NOT guaranteed: a subscriber hears only the last value of a key changed several times while its
 * link was down; a primary at a URL not in `nodes` is never found; a `local` write taken by an old
 * primary between a promotion and the moment it hears of it is lost when it rejoins.
 */
import { ConcordError, isConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";
import type { WirePosition, WireReadInfo, WriteOp } from "../service/protocol.js";
import type { ChangeListener, RangeOptions, Store, StoreStatus, Transaction, WriteAck } from "../store.js";
import { NodeGroup } from "./client-node-group.js";
import {
  durabilityOf,
  invalid,
  nodeUrl,
  resolvePrimaryOptions,
  wireDurability,
  type PrimaryOptions,
  type PrimaryWriteOptions,
  type ResolvedPrimaryOptions,
} from "./client-options.js";
import { SessionPositions } from "./client-session.js";
import type { PrimaryDurability } from "./replication/types.js";
import { Subscriptions } from "./client-subscriptions.js";
import { sendWrite, type WriteRequest } from "./client-writes.js";
import { NodeLink, type LinkState } from "./node-link.js";

export { type PrimaryNodes, type PrimaryOptions, type PrimaryWriteOptions } from "./client-options.js";
export type { PrimaryDurability } from "./replication/types.js";

/** What a write reached. */
export interface PrimaryWriteAck extends WriteAck {
  readonly level: "local" | "replicas";
  /** Where the primary put it: its epoch and LSN. */
  readonly position: WirePosition;
  /** Replicas that held it when the primary answered (at least n for `{ replicas: n }`). */
  readonly replicas: readonly string[];
}

/** Where the last read was served and how fresh it was. */
export interface PrimaryReadInfo extends WireReadInfo {
  /** Base URL of the node that answered. */
  readonly node: string;
}

/** One node link as `status()` shows it. `role` is the client's view: the node writes go to is the `"primary"`. */
export interface PrimaryNodeStatus {
  readonly url: string;
  readonly role: "primary" | "replica";
  readonly state: LinkState;
}

/**
 * Status of a primary-mode client. `replicaId` is `"client"` and `storage` is all zeros (the data
 * lives on the nodes); `peers` are the URLs of the nodes connected now.
 */
export interface PrimaryStatus extends StoreStatus {
  readonly mode: "primary";
  /** Where writes go now, and the epoch that node leads (undefined until a status or an acknowledgement told it). */
  readonly primary: { readonly url: string; readonly epoch: number | undefined };
  readonly nodes: readonly PrimaryNodeStatus[];
  /** Position of this client's newest acknowledged write, if any. */
  readonly lastWrite: WirePosition | undefined;
  /** The newest position this client has read (the floor of its next read when `session`). */
  readonly lastRead: WirePosition | undefined;
}

/** A {@link Store} served by a primary-mode node group: writes to the primary, reads that travel. */
export interface PrimaryStore extends Store {
  readonly mode: "primary";
  set(key: string, value: unknown, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck>;
  delete(key: string, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck>;
  /**
   * Applies the writes of `fn` as one atomic write. `tx.get` sees only this transaction's own
   * writes: reading a key it did not write throws `InvalidArgument` (read with `get` first: the
   * data lives on the nodes).
   */
  transact(fn: (tx: Transaction) => void, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck>;
  /**
   * Resolves once the connection to `node` (a URL of `nodes`; default: every node) is open, or
   * each of them was open at some point since the call; rejects with `Closed` on close and
   * `InvalidArgument` for a URL not in `nodes`. Requests need no such wait: this is for apps that
   * want to show "connected", and for tests.
   */
  whenConnected(node?: string): Promise<void>;
  /** The last read's node and freshness, `undefined` before the first. */
  readInfo(): PrimaryReadInfo | undefined;
  status(): PrimaryStatus;
}

/**
 * Opens a primary-mode store. Connects in the background: resolves at once, and requests made
 * before the first connections open wait for them.
 * @throws ConcordError `InvalidArgument` naming the option that makes no sense.
 */
export async function openPrimaryStore(options: PrimaryOptions): Promise<PrimaryStore> {
  return new PrimaryStoreImpl(resolvePrimaryOptions(options));
}

/** Checks `options` as {@link openPrimaryStore} does. */
export function checkPrimaryOptions(options: PrimaryOptions): void {
  resolvePrimaryOptions(options);
}

type ReadRequest = { readonly type: "get"; readonly key: string } | { readonly type: "entries"; readonly prefix: string };

const NO_STORAGE = Object.freeze({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });

class PrimaryStoreImpl implements PrimaryStore {
  readonly mode = "primary" as const;
  readonly doc: DocId;
  readonly #o: ResolvedPrimaryOptions;
  readonly #group: NodeGroup;
  readonly #subscriptions: Subscriptions;
  readonly #session = new SessionPositions();
  /** Start time of each pending write. */
  readonly #pendingWrites = new Map<Promise<unknown>, number>();
  #readInfo: PrimaryReadInfo | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(o: ResolvedPrimaryOptions) {
    this.#o = o;
    this.doc = o.doc;
    this.#group = new NodeGroup({
      primary: o.primary,
      replicas: o.replicas,
      link: (url) =>
        new NodeLink({
          url,
          clock: o.clock,
          ...(o.rng === undefined ? {} : { rng: o.rng }),
          ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
          ...(o.WebSocket === undefined ? {} : { WebSocket: o.WebSocket }),
          onChanges: (c) => this.#subscriptions.pushed(url, c),
          onUp: () => this.#subscriptions.connected(url),
        }),
      onPrimaryChange: (primary) => {
        if (o.read === "primary") this.#subscriptions.moveTo(primary);
      },
    });
    const served = o.read === "replica" ? this.#group.find(o.replicas[0]!)! : this.#group.primary;
    this.#subscriptions = new Subscriptions({ link: served, timeoutMs: o.timeoutMs, onError: o.onError });
  }

  async get(key: string): Promise<Json | undefined> {
    checkKey(key);
    const r = await this.#read({ type: "get", key });
    if (r.type !== "value") throw new ConcordError("Protocol", `expected a value answer to get, got ${r.type}`);
    return r.value;
  }

  async entries(options: RangeOptions = {}): Promise<Array<[string, Json]>> {
    const prefix = options.prefix ?? "";
    if (typeof prefix !== "string") throw invalid("prefix", prefix, "a string");
    const r = await this.#read({ type: "entries", prefix });
    if (r.type !== "entries") throw new ConcordError("Protocol", `expected an entries answer, got ${r.type}`);
    return r.entries.map(([k, v]) => [k, v]);
  }

  set(key: string, value: unknown, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck> {
    return this.#write(() => {
      checkKey(key);
      return [{ kind: "set", key, value: toFrozenJson(value) }];
    }, options);
  }

  delete(key: string, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck> {
    return this.#write(() => {
      checkKey(key);
      return [{ kind: "delete", key }];
    }, options);
  }

  transact(fn: (tx: Transaction) => void, options?: PrimaryWriteOptions): Promise<PrimaryWriteAck> {
    return this.#write(() => {
      const ops: WriteOp[] = [];
      const own = new Map<string, Json | undefined>();
      fn({
        get: (key) => {
          if (own.has(key)) return own.get(key);
          throw new ConcordError("InvalidArgument", `tx.get("${key}"): a primary-mode transaction sees only its own writes; read the key with get() before transact`);
        },
        set: (key, value) => {
          checkKey(key);
          const json = toFrozenJson(value);
          ops.push({ kind: "set", key, value: json });
          own.set(key, json);
        },
        delete: (key) => {
          checkKey(key);
          ops.push({ kind: "delete", key });
          own.set(key, undefined);
        },
      });
      return ops;
    }, options);
  }

  subscribe(options: RangeOptions, listener: ChangeListener): () => void {
    const prefix = options?.prefix ?? "";
    if (typeof prefix !== "string") throw invalid("prefix", prefix, "a string");
    if (typeof listener !== "function") throw invalid("listener", listener, "a function");
    if (this.#closed) throw new ConcordError("Closed", "subscribe after close()");
    return this.#subscriptions.add(prefix, listener);
  }

  readInfo(): PrimaryReadInfo | undefined {
    return this.#readInfo;
  }

  async whenConnected(node?: string): Promise<void> {
    const links = this.#group.links;
    if (node === undefined) {
      await Promise.all(links.map((l) => l.whenOpen()));
      return;
    }
    const link = this.#group.find(nodeUrl(node, "node"));
    if (link === undefined) throw invalid("node", node, `one of the URLs of nodes (${links.map((l) => l.url).join(", ")})`);
    await link.whenOpen();
  }

  status(): PrimaryStatus {
    const now = this.#o.clock.now();
    let oldest = now;
    for (const started of this.#pendingWrites.values()) oldest = Math.min(oldest, started);
    const { links, primary } = this.#group;
    return {
      mode: "primary",
      doc: this.doc,
      replicaId: "client",
      closed: this.#closed,
      pendingWrites: this.#pendingWrites.size,
      oldestPendingMs: now - oldest,
      peers: links.filter((l) => l.state === "open").map((l) => l.url),
      storage: NO_STORAGE,
      primary: { url: primary.url, epoch: this.#group.primaryEpoch },
      nodes: links.map((l) => ({ url: l.url, role: l === primary ? "primary" : "replica", state: l.state })),
      lastWrite: this.#session.lastWrite,
      lastRead: this.#session.lastRead,
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    // Writes made before close settle first (each is bounded by timeoutMs).
    await Promise.allSettled([...this.#pendingWrites.keys()]);
    this.#subscriptions.clear();
    this.#group.close();
  }

  #write(ops: () => WriteOp[], options: PrimaryWriteOptions | undefined): Promise<PrimaryWriteAck> {
    if (this.#closed) return Promise.reject(new ConcordError("Closed", "write after close(): nothing was sent", { outcome: "not-applied" }));
    let durability: PrimaryDurability;
    let request: WriteRequest;
    try {
      durability = durabilityOf(options, this.#o.durability);
      request = { type: "write", ops: ops(), durability: wireDurability(durability) };
    } catch (e) {
      return Promise.reject(e);
    }
    const written = sendWrite(this.#group, request, this.#o.timeoutMs, this.#o.clock).then((r): PrimaryWriteAck => {
      this.#session.wrote(r.position);
      return Object.freeze({ level: durability === "local" ? "local" : "replicas", position: r.position, replicas: r.replicas });
    });
    this.#pendingWrites.set(written, this.#o.clock.now());
    const untrack = (): void => void this.#pendingWrites.delete(written);
    written.then(untrack, untrack);
    return written;
  }

  async #read(req: ReadRequest) {
    if (this.#closed) throw new ConcordError("Closed", `${req.type} after close()`);
    const link = this.#group.readLink(this.#o.read);
    try {
      return await this.#readAt(link, req);
    } catch (e) {
      // The primary's link is down: it may have been replaced. A read is safe to send again.
      if (this.#o.read !== "primary" || !isConcordError(e, "Unavailable") || link.state === "open") throw e;
      await this.#group.discover(this.#o.timeoutMs);
      if (this.#group.primary === link) throw e;
      return this.#readAt(this.#group.primary, req);
    }
  }

  async #readAt(link: NodeLink, req: ReadRequest) {
    const read = { maxStalenessMs: this.#o.maxStalenessMs, after: this.#o.session ? this.#session.floor() : null, timeoutMs: this.#o.timeoutMs };
    const r = await link.request({ ...req, read }, this.#o.timeoutMs);
    if (r.type === "value" || r.type === "entries") {
      this.#session.read(r.info.position);
      this.#group.observeEpoch(r.info.position.epoch);
      this.#readInfo = Object.freeze({ ...r.info, node: link.url });
    }
    return r;
  }
}
