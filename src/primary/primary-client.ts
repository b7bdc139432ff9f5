/**
 * The embedded client of `primary` mode: a {@link Store} whose data lives on a group of
 * `concord node` services (one primary, read replicas), reached over the client protocol
 * (`service/protocol.ts`) at `<url>/client`. This module is the store's face over the mode-neutral
 * client of `client/node-client.ts` (links, discovery, sessions, subscriptions, writes that follow
 * the writer); `client-options.ts` checks the options and `client-policy.ts` says how a primary is
 * found and when a write may be sent again.
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
import type { NodeClientStatus, NodeReadInfo } from "../client/node-client.js";
import { NodeClient, transactionOps } from "../client/node-client.js";
import type { LinkState } from "../client/node-link.js";
import { webSocketLink } from "../client/websocket-link.js";
import type { DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";
import type { WirePosition, WriteOp } from "../service/protocol.js";
import type { ChangeListener, RangeOptions, Store, StoreStatus, Transaction, WriteAck } from "../store.js";
import { durabilityOf, invalid, nodeUrl, resolvePrimaryOptions, wireDurability, type PrimaryOptions, type PrimaryWriteOptions } from "./client-options.js";
import { primaryPolicy } from "./client-policy.js";
import type { PrimaryDurability } from "./replication/types.js";

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
export type PrimaryReadInfo = NodeReadInfo;

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
 * Opens a primary-mode store. Resolves once the node subscriptions are served by (the primary, or
 * with `read: "replica"` the first replica) said where its state is, or could not be reached, or
 * `timeoutMs` passed: the store works without its nodes (requests made while the links are down
 * fail with `Unavailable`; those made before a first connection wait for it) and connects in the
 * background. A subscription made once the store opened hears every change made after `subscribe`
 * returned.
 * @throws ConcordError `InvalidArgument` naming the option that makes no sense.
 */
export async function openPrimaryStore(options: PrimaryOptions): Promise<PrimaryStore> {
  const store = new PrimaryStoreImpl(options);
  await store.ready();
  return store;
}

/** Checks `options` as {@link openPrimaryStore} does. */
export function checkPrimaryOptions(options: PrimaryOptions): void {
  resolvePrimaryOptions(options);
}

const NO_STORAGE = Object.freeze({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });

class PrimaryStoreImpl implements PrimaryStore {
  readonly mode = "primary" as const;
  readonly doc: DocId;
  readonly #client: NodeClient;
  readonly #durability: PrimaryDurability;

  constructor(options: PrimaryOptions) {
    const o = resolvePrimaryOptions(options);
    this.doc = o.doc;
    this.#durability = o.durability;
    this.#client = new NodeClient({
      doc: o.doc,
      urls: [o.primary, ...o.replicas],
      policy: primaryPolicy,
      link: o.links ?? ((url, events) => webSocketLink(url, o, events)),
      read: o.read === "primary" ? "writer" : "others",
      consistency: "local",
      subscribeAt: o.read === "replica" ? o.replicas[0]! : "writer",
      session: o.session,
      maxStalenessMs: o.maxStalenessMs,
      timeoutMs: o.timeoutMs,
      clock: o.clock,
      onError: o.onError,
    });
  }

  /** See NodeClient.ready: a subscription made once it resolved starts from a known position. */
  ready(): Promise<void> {
    return this.#client.ready();
  }

  get(key: string): Promise<Json | undefined> {
    return this.#client.get(key);
  }

  async entries(options: RangeOptions = {}): Promise<Array<[string, Json]>> {
    const prefix = options.prefix ?? "";
    if (typeof prefix !== "string") throw invalid("prefix", prefix, "a string");
    return this.#client.entries(prefix);
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
    return this.#write(() => transactionOps(fn, "primary"), options);
  }

  subscribe(options: RangeOptions, listener: ChangeListener): () => void {
    const prefix = options?.prefix ?? "";
    if (typeof prefix !== "string") throw invalid("prefix", prefix, "a string");
    if (typeof listener !== "function") throw invalid("listener", listener, "a function");
    return this.#client.subscribe(prefix, listener);
  }

  readInfo(): PrimaryReadInfo | undefined {
    return this.#client.readInfo();
  }

  async whenConnected(node?: string): Promise<void> {
    await this.#client.whenConnected(node === undefined ? undefined : nodeUrl(node, "node"));
  }

  status(): PrimaryStatus {
    const st: NodeClientStatus = this.#client.status();
    return {
      mode: "primary",
      doc: this.doc,
      replicaId: "client",
      closed: st.closed,
      pendingWrites: st.pendingWrites,
      oldestPendingMs: st.oldestPendingMs,
      peers: st.peers,
      storage: NO_STORAGE,
      primary: { url: st.writer.url, epoch: st.writer.term },
      nodes: st.nodes.map((n) => ({ url: n.url, role: n.writer ? "primary" : "replica", state: n.state })),
      lastWrite: st.lastWrite,
      lastRead: st.lastRead,
    };
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  #write(ops: () => readonly WriteOp[], options: PrimaryWriteOptions | undefined): Promise<PrimaryWriteAck> {
    let level: PrimaryWriteAck["level"] = "local";
    return this.#client
      .write(() => {
        const durability = durabilityOf(options, this.#durability);
        level = durability === "local" ? "local" : "replicas";
        return { durability: wireDurability(durability), conditions: [], ops: ops() };
      })
      .then((r) => Object.freeze({ level, position: r.position, replicas: r.replicas }));
  }
}
