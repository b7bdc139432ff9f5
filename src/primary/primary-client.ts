/**
 * The embedded client of `primary` mode: a {@link Store} whose data lives on a group of
 * `concord node` services (one primary, read replicas), reached over the client protocol
 * (`service/protocol.ts`) at `<url>/client`.
 *
 * - Writes always go to `nodes.primary`: a write cannot be sent to a replica. A write resolves
 *   with a {@link PrimaryWriteAck} once durable at the level asked (`durability`). A refusal
 *   (`ReadOnlyReplica`/`Fenced`: the node at `nodes.primary` is no longer the primary) carries
 *   `details.redirect`, the id of the primary the node knows; it is NEVER retried here. A write
 *   that fails with `Timeout`, `Unavailable` or `Closed` after it was sent may or may not have
 *   been applied: its error says so and has `details.outcome: "unknown"` (`"not-applied"` when it
 *   was never sent, `"refused"` for a node's refusal).
 * - Reads travel: `get`/`entries` go to the primary (`read: "primary"`) or to the replicas in
 *   turn (`read: "replica"`), and {@link PrimaryStore.readInfo} tells where the last one was
 *   served and how far behind it was.
 * - Sessions (default on): every read carries `after` = the newest position this client wrote or
 *   read, so the node waits until it holds it: read-your-writes and monotonic reads across
 *   nodes. A node that cannot catch up within `timeoutMs` answers `Timeout`; never older data.
 * - `maxStalenessMs`: a replica that last heard its primary longer ago answers `Stale`.
 * - Connections reconnect in the background (exponential backoff); a request made while its
 *   node's link is down rejects with `Unavailable` at once (requests made before the first
 *   connection opened wait for it); every request rejects with `Timeout` after `timeoutMs`.
 *
 * - Subscribers hear every change as `origin: "remote"`, this client's own writes included: the
 *   node pushes them once they are applied there.
 *
 * NOT guaranteed: subscriptions hear changes only while their link is up; changes made while it
 * was down are not replayed (re-read after `status()` shows the link up again). Subscriptions are
 * served by the node reads go to (the primary, or the first replica), so they lag as reads do.
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import { asDocId, type DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";
import type { WebSocketBackoffOptions, WebSocketConstructorLike } from "../net/websocket-client.js";
import type { Rng } from "../rng.js";
import type { WireDurability, WirePosition, WireReadInfo, WriteOp } from "../service/protocol.js";
import type { ChangeListener, RangeOptions, Store, StoreStatus, Transaction, WriteAck, WriteOptions } from "../store.js";
import { NodeLink, type Changes, type LinkState } from "./node-link.js";

/** Default bound of every request, in ms. */
export const DEFAULT_PRIMARY_TIMEOUT_MS = 10_000;

/** What a write must reach before it resolves: the primary's disk, or also `replicas` replicas' disks. */
export type PrimaryDurability = "local" | { readonly replicas: number };

/** The nodes of the group: base URLs `ws://host:port` (no path; the client adds `/client`). */
export interface PrimaryNodes {
  readonly primary: string;
  readonly replicas?: readonly string[];
}

/** Options of `openStore({ mode: "primary" })`. */
export interface PrimaryOptions {
  readonly mode: "primary";
  /** A name for this store (status, logs): non-empty, at most 255 characters. A node group serves one document. */
  readonly doc: string;
  readonly nodes: PrimaryNodes;
  /** Where reads go. `"replica"` needs `nodes.replicas`. Default `"primary"`. */
  readonly read?: "primary" | "replica";
  /** Read-your-writes and monotonic reads. Default true. */
  readonly session?: boolean;
  /** A replica read fails with `Stale` when the replica last heard its primary longer ago (ms). Default: no bound. */
  readonly maxStalenessMs?: number;
  /** Bound of every request, ms (> 0). Default {@link DEFAULT_PRIMARY_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Default durability of writes. Default `"local"`. */
  readonly durability?: PrimaryDurability;
  /** Time of timeouts and reconnects. Default the platform clock. */
  readonly clock?: Clock;
  /** Reconnect jitter. Default seeded from `Math.random`. */
  readonly rng?: Rng;
  /** Reconnect backoff of every link. Defaults of the WebSocket transport (100 ms to 10 s). */
  readonly backoff?: WebSocketBackoffOptions;
  /** WebSocket constructor. Default `globalThis.WebSocket`, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructorLike;
  /** Where a throwing subscriber is reported. Default `console.error`. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Options of one write. `durability` wins over `ack`; `ack: "local"` is `"local"`,
 * `ack: "replicas"` is `{ replicas: 1 }`; other levels are not primary mode's (`InvalidArgument`).
 */
export interface PrimaryWriteOptions extends WriteOptions {
  readonly durability?: PrimaryDurability;
}

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

/** One node link as `status()` shows it. */
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

interface Resolved {
  readonly doc: DocId;
  readonly primary: string;
  readonly replicas: readonly string[];
  readonly read: "primary" | "replica";
  readonly session: boolean;
  readonly maxStalenessMs: number | null;
  readonly timeoutMs: number;
  readonly durability: PrimaryDurability;
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
}

/**
 * Opens a primary-mode store. Connects in the background: resolves at once, and requests made
 * before the first connections open wait for them.
 * @throws ConcordError `InvalidArgument` naming the option that makes no sense.
 */
export async function openPrimaryStore(options: PrimaryOptions): Promise<PrimaryStore> {
  const o = resolveOptions(options);
  return new PrimaryStoreImpl(o, options);
}

/** Checks `options` as {@link openPrimaryStore} does. */
export function checkPrimaryOptions(options: PrimaryOptions): void {
  resolveOptions(options);
}

function invalid(option: string, value: unknown, expected: string): ConcordError {
  return new ConcordError("InvalidArgument", `openStore (primary): ${option} must be ${expected}, got ${show(value)}`, { option });
}

function show(v: unknown): string {
  if (typeof v === "function") return "a function";
  return JSON.stringify(v) ?? String(v);
}

function nodeUrl(value: unknown, option: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(value));
  } catch {
    throw invalid(option, value, "a node's base URL, ws://host:port");
  }
  if (typeof value !== "string" || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "" || parsed.hash !== "") {
    throw invalid(option, value, "a node's base URL, ws://host:port (or wss://), with no path or query");
  }
  return `${parsed.protocol}//${parsed.host}`;
}

function checkDurability(value: unknown, option: string): PrimaryDurability {
  if (value === "local") return "local";
  if (typeof value === "object" && value !== null) {
    const n: unknown = (value as { replicas?: unknown }).replicas;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 1) return { replicas: n };
  }
  throw invalid(option, value, `"local" or { replicas: n } with n an integer >= 1`);
}

function resolveOptions(options: PrimaryOptions): Resolved {
  if (typeof options !== "object" || options === null) throw invalid("options", options, "an object { mode: \"primary\", doc, nodes }");
  const { doc, nodes, read, session, maxStalenessMs, timeoutMs, durability, clock, onError } = options;
  if (typeof doc !== "string" || doc.length === 0 || doc.length > 255) throw invalid("doc", doc, "a non-empty string of at most 255 characters");
  if (typeof nodes !== "object" || nodes === null) throw invalid("nodes", nodes, "an object { primary: url, replicas?: [url...] }");
  const primary = nodeUrl(nodes.primary, "nodes.primary");
  const rawReplicas: unknown = nodes.replicas ?? [];
  if (!Array.isArray(rawReplicas)) throw invalid("nodes.replicas", rawReplicas, "an array of node URLs");
  const replicas = rawReplicas.map((u: unknown, i) => nodeUrl(u, `nodes.replicas[${i}]`));
  const seen = new Set([primary]);
  replicas.forEach((u, i) => {
    if (seen.has(u)) throw invalid(`nodes.replicas[${i}]`, rawReplicas[i], "a URL not listed before (each node once)");
    seen.add(u);
  });
  if (read !== undefined && read !== "primary" && read !== "replica") throw invalid("read", read, `"primary" or "replica"`);
  if (read === "replica" && replicas.length === 0) throw invalid("nodes.replicas", rawReplicas, `at least one URL when read is "replica"`);
  if (session !== undefined && typeof session !== "boolean") throw invalid("session", session, "a boolean");
  if (maxStalenessMs !== undefined && !(typeof maxStalenessMs === "number" && Number.isSafeInteger(maxStalenessMs) && maxStalenessMs >= 0)) {
    throw invalid("maxStalenessMs", maxStalenessMs, "an integer number of ms >= 0");
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
    throw invalid("timeoutMs", timeoutMs, "an integer number of ms > 0");
  }
  if (clock !== undefined && (typeof clock !== "object" || clock === null || typeof clock.now !== "function" || typeof clock.setTimer !== "function")) {
    throw invalid("clock", "(not a Clock)", "a Clock (now, setTimer)");
  }
  if (onError !== undefined && typeof onError !== "function") throw invalid("onError", onError, "a function");
  return {
    doc: asDocId(doc),
    primary,
    replicas,
    read: read ?? "primary",
    session: session ?? true,
    maxStalenessMs: maxStalenessMs ?? null,
    timeoutMs: timeoutMs ?? DEFAULT_PRIMARY_TIMEOUT_MS,
    durability: durability === undefined ? "local" : checkDurability(durability, "durability"),
    clock: clock ?? systemClock,
    onError: onError ?? ((e) => console.error("concord-store (primary):", e)),
  };
}

/** The newer of two positions (LSNs count across epochs). */
function newer(a: WirePosition | undefined, b: WirePosition): WirePosition {
  if (a === undefined) return b;
  if (b.lsn !== a.lsn) return b.lsn > a.lsn ? b : a;
  return b.epoch > a.epoch ? b : a;
}

interface Subscription {
  readonly prefix: string;
  readonly listener: ChangeListener;
  /** The node's id for it on the current connection, once subscribed. */
  serverId: number | undefined;
  active: boolean;
}

const NO_STORAGE = Object.freeze({ records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 });

class PrimaryStoreImpl implements PrimaryStore {
  readonly mode = "primary" as const;
  readonly doc: DocId;
  readonly #o: Resolved;
  readonly #primary: NodeLink;
  readonly #replicas: readonly NodeLink[];
  /** The link reads and subscriptions use (the primary, or the first replica). */
  readonly #subscriptionLink: NodeLink;
  readonly #subscriptions = new Set<Subscription>();
  readonly #byServerId = new Map<number, Subscription>();
  /** Start time of each pending write. */
  readonly #pendingWrites = new Map<Promise<unknown>, number>();
  #nextReplica = 0;
  #lastWrite: WirePosition | undefined;
  #lastRead: WirePosition | undefined;
  #readInfo: PrimaryReadInfo | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(o: Resolved, raw: PrimaryOptions) {
    this.#o = o;
    this.doc = o.doc;
    const link = (url: string, subscriptions: () => boolean): NodeLink =>
      new NodeLink({
        url,
        clock: o.clock,
        ...(raw.rng === undefined ? {} : { rng: raw.rng }),
        ...(raw.backoff === undefined ? {} : { backoff: raw.backoff }),
        ...(raw.WebSocket === undefined ? {} : { WebSocket: raw.WebSocket }),
        onChanges: (c) => this.#onChanges(c),
        onUp: () => {
          if (subscriptions()) this.#resubscribe();
        },
      });
    const readsOnReplicas = o.read === "replica";
    this.#primary = link(o.primary, () => !readsOnReplicas);
    this.#replicas = o.replicas.map((url, i) => link(url, () => readsOnReplicas && i === 0));
    this.#subscriptionLink = readsOnReplicas ? this.#replicas[0]! : this.#primary;
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
    const sub: Subscription = { prefix, listener, serverId: undefined, active: true };
    this.#subscriptions.add(sub);
    if (this.#subscriptionLink.state === "open") this.#serverSubscribe(sub);
    return () => {
      if (!sub.active) return;
      sub.active = false;
      this.#subscriptions.delete(sub);
      this.#serverUnsubscribe(sub);
    };
  }

  readInfo(): PrimaryReadInfo | undefined {
    return this.#readInfo;
  }

  async whenConnected(node?: string): Promise<void> {
    const links = [this.#primary, ...this.#replicas];
    if (node === undefined) {
      await Promise.all(links.map((l) => l.whenOpen()));
      return;
    }
    const url = nodeUrl(node, "node");
    const link = links.find((l) => l.url === url);
    if (link === undefined) throw invalid("node", node, `one of the URLs of nodes (${links.map((l) => l.url).join(", ")})`);
    await link.whenOpen();
  }

  status(): PrimaryStatus {
    const now = this.#o.clock.now();
    let oldest = now;
    for (const started of this.#pendingWrites.values()) oldest = Math.min(oldest, started);
    const links = [this.#primary, ...this.#replicas];
    return {
      mode: "primary",
      doc: this.doc,
      replicaId: "client",
      closed: this.#closed,
      pendingWrites: this.#pendingWrites.size,
      oldestPendingMs: now - oldest,
      peers: links.filter((l) => l.state === "open").map((l) => l.url),
      storage: NO_STORAGE,
      nodes: links.map((l) => ({ url: l.url, role: l === this.#primary ? "primary" : "replica", state: l.state })),
      lastWrite: this.#lastWrite,
      lastRead: this.#lastRead,
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
    this.#byServerId.clear();
    this.#primary.close();
    for (const l of this.#replicas) l.close();
  }

  #write(ops: () => WriteOp[], options: PrimaryWriteOptions | undefined): Promise<PrimaryWriteAck> {
    if (this.#closed) return Promise.reject(new ConcordError("Closed", "write after close(): nothing was sent", { outcome: "not-applied" }));
    let durability: PrimaryDurability;
    let request: { type: "write"; ops: WriteOp[]; durability: WireDurability };
    try {
      durability = this.#durabilityOf(options);
      request = { type: "write", ops: ops(), durability: durability === "local" ? { level: "local" } : { level: "replicas", n: durability.replicas } };
    } catch (e) {
      return Promise.reject(e);
    }
    const written = (async (): Promise<PrimaryWriteAck> => {
      const r = await this.#primary.request(request, this.#o.timeoutMs);
      if (r.type !== "written") throw new ConcordError("Protocol", `expected a written answer to a write, got ${r.type}`, { outcome: "unknown" });
      this.#lastWrite = newer(this.#lastWrite, r.position);
      return Object.freeze({ level: durability === "local" ? "local" : "replicas", position: r.position, replicas: r.replicas });
    })();
    this.#pendingWrites.set(written, this.#o.clock.now());
    const untrack = (): void => void this.#pendingWrites.delete(written);
    written.then(untrack, untrack);
    return written;
  }

  #durabilityOf(options: PrimaryWriteOptions | undefined): PrimaryDurability {
    if (options === undefined) return this.#o.durability;
    if (typeof options !== "object" || options === null) throw invalid("write options", options, "an object { durability? }");
    if (options.durability !== undefined) return checkDurability(options.durability, "durability");
    switch (options.ack) {
      case undefined:
        return this.#o.durability;
      case "local":
        return "local";
      case "replicas":
        return { replicas: 1 };
      default:
        throw invalid("ack", options.ack, `"local" or "replicas" in primary mode (or durability: "local" | { replicas: n })`);
    }
  }

  async #read(req: { type: "get"; key: string } | { type: "entries"; prefix: string }) {
    if (this.#closed) throw new ConcordError("Closed", `${req.type} after close()`);
    const link = this.#readLink();
    let after: WirePosition | undefined;
    if (this.#o.session) {
      for (const p of [this.#lastWrite, this.#lastRead]) if (p !== undefined) after = newer(after, p);
    }
    const read = { maxStalenessMs: this.#o.maxStalenessMs, after: after !== undefined && after.lsn > 0 ? after : null, timeoutMs: this.#o.timeoutMs };
    const r = await link.request({ ...req, read }, this.#o.timeoutMs);
    if (r.type === "value" || r.type === "entries") {
      this.#lastRead = newer(this.#lastRead, r.info.position);
      this.#readInfo = Object.freeze({ ...r.info, node: link.url });
    }
    return r;
  }

  /** The primary, or the next replica in turn (skipping those known down while another is not). */
  #readLink(): NodeLink {
    if (this.#o.read === "primary") return this.#primary;
    const n = this.#replicas.length;
    for (let i = 0; i < n; i++) {
      const link = this.#replicas[(this.#nextReplica + i) % n]!;
      if (link.state !== "down") {
        this.#nextReplica = (this.#nextReplica + i + 1) % n;
        return link;
      }
    }
    const link = this.#replicas[this.#nextReplica % n]!;
    this.#nextReplica = (this.#nextReplica + 1) % n;
    return link;
  }

  /** A new connection of the subscription link: its node knows none of our subscriptions. */
  #resubscribe(): void {
    this.#byServerId.clear();
    for (const sub of this.#subscriptions) {
      sub.serverId = undefined;
      this.#serverSubscribe(sub);
    }
  }

  #serverSubscribe(sub: Subscription): void {
    const link = this.#subscriptionLink;
    link.request({ type: "subscribe", prefix: sub.prefix }, this.#o.timeoutMs).then(
      (r) => {
        if (r.type !== "subscribed") return;
        if (!sub.active || !this.#subscriptions.has(sub)) {
          void link.request({ type: "unsubscribe", subscription: r.subscription }, this.#o.timeoutMs).catch(() => undefined);
          return;
        }
        sub.serverId = r.subscription;
        this.#byServerId.set(r.subscription, sub);
      },
      (e: unknown) => {
        // Down or closed: the next connection resubscribes. Anything else is worth reporting.
        if (!isConcordError(e, "Unavailable") && !isConcordError(e, "Closed")) this.#o.onError(e);
      },
    );
  }

  #serverUnsubscribe(sub: Subscription): void {
    const id = sub.serverId;
    if (id === undefined) return;
    this.#byServerId.delete(id);
    sub.serverId = undefined;
    void this.#subscriptionLink.request({ type: "unsubscribe", subscription: id }, this.#o.timeoutMs).catch(() => undefined);
  }

  #onChanges(c: Changes): void {
    const sub = this.#byServerId.get(c.subscription);
    if (sub === undefined || !sub.active) return;
    try {
      sub.listener({ changes: c.changes, origin: "remote" });
    } catch (e) {
      this.#o.onError(e);
    }
  }
}
