/**
 * The embedded client of `strong` mode: a {@link Store} whose data lives on a Raft cluster of
 * `concord node --mode strong` servers, reached over the client protocol at `<url>/client`. This
 * module is the store's face over the mode-neutral client (`client/node-client.ts`);
 * `client-policy.ts` says how the leader is found and when a request is sent again.
 *
 * - Writes go to the leader and resolve with `{ level: "committed" }` once a quorum holds them and
 *   the leader applied them. Each carries the store's client session, so a write sent again after
 *   a lost answer, a leader change or a partition applies once (Raft thesis 6.3): the client retries
 *   until `timeoutMs`. A write that still has no answer then fails with `details.outcome:
 *   "unknown"`; one refused before ordering with `"not-applied"`.
 * - `transact(fn, { when })` applies the writes of `fn` atomically, and only when every condition
 *   of `when` holds (etcd's Txn); the acknowledgement says which (`succeeded`).
 * - Reads are linearizable (`read: "linearizable"`, the default): the serving node confirms with a
 *   quorum that the leader still leads (ReadIndex), then answers once it applied that far; a read
 *   reflects every write acknowledged before it was sent. `read: "local"` answers from the serving
 *   node's state (possibly stale, like etcd's serializable reads; `maxStalenessMs` bounds it).
 *   `readFrom: "followers"` spreads reads over the other nodes (followers serve linearizable reads
 *   too, with one more round trip).
 * - The minority side of a partition answers `Unavailable` rather than an old value: the client
 *   then tries the other nodes, until `timeoutMs`.
 * - Subscriptions hear every committed change of their prefix once and in order, and catch up after
 *   a reconnect by replay from the position they had heard up to (an etcd watch from a revision).
 */
import { invalidOption, nodeUrl, nodeUrls, resolveNodeStoreOptions, type NodeStoreOptions } from "../client/client-options.js";
import { NodeClient, transactionOps, type LinkFactory, type NodeReadInfo } from "../client/node-client.js";
import type { LinkState } from "../client/node-link.js";
import { webSocketLink } from "../client/websocket-link.js";
import type { DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";
import type { WriteCondition, WriteOp } from "../service/protocol.js";
import type { ChangeListener, RangeOptions, Store, StoreStatus, Transaction, WriteAck, WriteOptions } from "../store.js";
import { strongPolicy } from "./client-policy.js";

/** Options of `openStore({ mode: "strong" })`. */
export interface StrongOptions extends NodeStoreOptions {
  readonly mode: "strong";
  /** Base URLs of the cluster's nodes, `ws://host:port`: writes go to whichever leads. List every node. */
  readonly nodes: readonly string[];
  /** What reads are: `"linearizable"` (default) or `"local"` (the serving node's state, possibly stale). */
  readonly read?: "linearizable" | "local";
  /** Where reads go: `"leader"` (default) or `"followers"` (the other nodes in turn). */
  readonly readFrom?: "leader" | "followers";
}

/** Where a write is in the cluster's log. */
export interface LogPosition {
  readonly term: number;
  readonly index: number;
}

/** What a write reached: committed by a quorum, at `position`; `succeeded` false when its conditions did not hold (nothing written). */
export interface StrongWriteAck extends WriteAck {
  readonly level: "committed";
  readonly position: LogPosition;
  readonly succeeded: boolean;
}

/**
 * A condition of {@link StrongStore.transact}: the key has no value (`absent`), has one
 * (`present`), or has one JSON-equal to `value` (`equals`) when the writes apply.
 */
export type Condition = WriteCondition;

/** Options of a strong-mode transaction: `when`, the conditions under which its writes apply. */
export interface StrongTransactOptions extends WriteOptions {
  readonly when?: readonly Condition[];
}

/** One node as `status()` shows it. */
export interface StrongNodeStatus {
  readonly url: string;
  /** The client's view: the node writes go to is the `"leader"`. */
  readonly role: "leader" | "follower";
  readonly state: LinkState;
}

/** Status of a strong-mode client (`replicaId` is `"client"`; `storage` is all zeros: the data lives on the nodes). */
export interface StrongStatus extends StoreStatus {
  readonly mode: "strong";
  /** Where writes go now, and the term that node leads (undefined until told). */
  readonly leader: { readonly url: string; readonly term: number | undefined };
  readonly nodes: readonly StrongNodeStatus[];
  /** Position of this client's newest acknowledged write. */
  readonly lastWrite: LogPosition | undefined;
}

/** A {@link Store} served by a Raft cluster: linearizable reads and writes, exactly-once retries. */
export interface StrongStore extends Store {
  readonly mode: "strong";
  set(key: string, value: unknown, options?: WriteOptions): Promise<StrongWriteAck>;
  delete(key: string, options?: WriteOptions): Promise<StrongWriteAck>;
  /**
   * Applies the writes of `fn` as one atomic write, when every condition of `options.when` holds.
   * `tx.get` sees only this transaction's own writes (read with `get` first; test what you read
   * with `when`, as a compare-and-set).
   */
  transact(fn: (tx: Transaction) => void, options?: StrongTransactOptions): Promise<StrongWriteAck>;
  /** Resolves once the connection to `node` (default: every node) is open, or was at some point since the call. */
  whenConnected(node?: string): Promise<void>;
  /** The last read's node and freshness, `undefined` before the first. */
  readInfo(): NodeReadInfo | undefined;
  status(): StrongStatus;
}

const MODE = "strong";
const NO_STORAGE = Object.freeze({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });

/**
 * Opens a strong-mode store. Resolves once the nodes said who leads and the leader said where its
 * state is, or they could not be reached, or `timeoutMs` passed (requests made while no node is
 * reachable fail with `Unavailable`); connects in the background.
 * @throws ConcordError `InvalidArgument` naming the option that makes no sense.
 */
export async function openStrongStore(options: StrongOptions): Promise<StrongStore> {
  const store = new StrongStoreImpl(options);
  await store.ready();
  return store;
}

/**
 * Checks and defaults `options`, connecting nowhere.
 * @throws ConcordError `InvalidArgument` naming the first option that makes no sense.
 */
export function resolveStrongOptions(options: StrongOptions) {
  if (typeof options !== "object" || options === null) throw invalidOption(MODE, "options", options, `an object { mode: "strong", doc, nodes }`);
  const o = resolveNodeStoreOptions(MODE, options);
  if (!Array.isArray(options.nodes) || options.nodes.length === 0) throw invalidOption(MODE, "nodes", options.nodes, "a non-empty array of node URLs (ws://host:port)");
  const nodes = nodeUrls(MODE, options.nodes, "nodes");
  const read = options.read ?? "linearizable";
  if (read !== "linearizable" && read !== "local") throw invalidOption(MODE, "read", read, `"linearizable" or "local"`);
  const readFrom = options.readFrom ?? "leader";
  if (readFrom !== "leader" && readFrom !== "followers") throw invalidOption(MODE, "readFrom", readFrom, `"leader" or "followers"`);
  if (readFrom === "followers" && nodes.length < 2) throw invalidOption(MODE, "nodes", options.nodes, `at least two URLs when readFrom is "followers"`);
  return { o, nodes, read, readFrom };
}

function checkConditions(when: unknown): readonly Condition[] {
  if (when === undefined) return [];
  if (!Array.isArray(when)) throw invalidOption(MODE, "when", when, "an array of conditions { key, test: \"absent\" | \"present\" } or { key, test: \"equals\", value }");
  return when.map((c: unknown, i): Condition => {
    const cond = c as { key?: unknown; test?: unknown; value?: unknown } | null;
    if (typeof cond !== "object" || cond === null) throw invalidOption(MODE, `when[${i}]`, c, "a condition object");
    checkKey(cond.key);
    if (cond.test === "absent" || cond.test === "present") return { test: cond.test, key: cond.key };
    if (cond.test === "equals") return { test: "equals", key: cond.key, value: toFrozenJson(cond.value, `when[${i}].value`) };
    throw invalidOption(MODE, `when[${i}].test`, cond.test, `"absent", "present" or "equals"`);
  });
}

function checkWriteOptions(options: WriteOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null) throw invalidOption(MODE, "write options", options, "an object");
  if (options.ack !== undefined && options.ack !== "committed") throw invalidOption(MODE, "ack", options.ack, `"committed": a strong-mode write is acknowledged once a quorum committed it`);
}

class StrongStoreImpl implements StrongStore {
  readonly mode = "strong" as const;
  readonly doc: DocId;
  readonly #client: NodeClient;

  constructor(options: StrongOptions) {
    const { o, nodes, read, readFrom } = resolveStrongOptions(options);
    this.doc = o.doc;
    this.#client = new NodeClient({
      doc: o.doc,
      urls: nodes,
      policy: strongPolicy,
      link: o.links ?? ((url, events) => webSocketLink(url, o, events)),
      read: readFrom === "leader" ? "writer" : "others",
      consistency: read,
      subscribeAt: "writer",
      session: o.session,
      maxStalenessMs: o.maxStalenessMs,
      timeoutMs: o.timeoutMs,
      clock: o.clock,
      onError: o.onError,
    });
  }

  /** Finds the leader (so that `readFrom: "followers"` reads skip it from the start), then waits as NodeClient.ready does. */
  async ready(): Promise<void> {
    await this.#client.discover();
    await this.#client.ready();
  }

  get(key: string): Promise<Json | undefined> {
    return this.#client.get(key);
  }

  async entries(options: RangeOptions = {}): Promise<Array<[string, Json]>> {
    const prefix = options.prefix ?? "";
    if (typeof prefix !== "string") throw invalidOption(MODE, "prefix", prefix, "a string");
    return this.#client.entries(prefix);
  }

  set(key: string, value: unknown, options?: WriteOptions): Promise<StrongWriteAck> {
    return this.#write(() => {
      checkKey(key);
      return [{ kind: "set", key, value: toFrozenJson(value) }];
    }, [], options);
  }

  delete(key: string, options?: WriteOptions): Promise<StrongWriteAck> {
    return this.#write(() => {
      checkKey(key);
      return [{ kind: "delete", key }];
    }, [], options);
  }

  transact(fn: (tx: Transaction) => void, options?: StrongTransactOptions): Promise<StrongWriteAck> {
    let when: readonly Condition[];
    try {
      when = checkConditions(options?.when);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#write(() => transactionOps(fn, MODE), when, options);
  }

  subscribe(options: RangeOptions, listener: ChangeListener): () => void {
    const prefix = options?.prefix ?? "";
    if (typeof prefix !== "string") throw invalidOption(MODE, "prefix", prefix, "a string");
    if (typeof listener !== "function") throw invalidOption(MODE, "listener", listener, "a function");
    return this.#client.subscribe(prefix, listener);
  }

  readInfo(): NodeReadInfo | undefined {
    return this.#client.readInfo();
  }

  async whenConnected(node?: string): Promise<void> {
    await this.#client.whenConnected(node === undefined ? undefined : nodeUrl(MODE, node, "node"));
  }

  status(): StrongStatus {
    const st = this.#client.status();
    return {
      mode: "strong",
      doc: this.doc,
      replicaId: "client",
      closed: st.closed,
      pendingWrites: st.pendingWrites,
      oldestPendingMs: st.oldestPendingMs,
      peers: st.peers,
      storage: NO_STORAGE,
      leader: { url: st.writer.url, term: st.writer.term },
      nodes: st.nodes.map((n) => ({ url: n.url, role: n.writer ? "leader" : "follower", state: n.state })),
      lastWrite: st.lastWrite === undefined ? undefined : { term: st.lastWrite.epoch, index: st.lastWrite.lsn },
    };
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  #write(ops: () => readonly WriteOp[], conditions: readonly Condition[], options: WriteOptions | undefined): Promise<StrongWriteAck> {
    return this.#client
      .write(() => {
        checkWriteOptions(options);
        return { durability: { level: "committed" }, conditions, ops: ops() };
      })
      .then((r) => Object.freeze({ level: "committed" as const, position: Object.freeze({ term: r.position.epoch, index: r.position.lsn }), succeeded: r.succeeded }));
  }
}
