/**
 * The mode-neutral core of a store whose data lives on a node group (`primary` and `strong` mode):
 * reads with session positions that travel between nodes, writes that follow the group's writer
 * (`writes.ts`), subscriptions that catch up (`subscriptions.ts`), pending-write tracking and an
 * orderly close. Each mode's store is a thin face over it that checks its options, maps its
 * acknowledgements and says what its status means.
 *
 * - Reads go to the writer (`read: "writer"`; one read is retried at a new writer when the old
 *   one's link is down: a read is safe to send again) or to the other nodes in turn
 *   (`read: "others"`). {@link NodeClient.readInfo} tells where the last one was served and how
 *   fresh it was.
 * - Sessions (default on): every read carries `after` = the newest position this client wrote or
 *   read, so whichever node serves it waits until its state includes that position:
 *   read-your-writes and monotonic reads across nodes and across a change of writer. A node that
 *   cannot catch up within `timeoutMs` answers `Timeout`; never older data.
 * - Connections reconnect in the background; a request made while its node's link is down rejects
 *   with `Unavailable` at once (requests made before the first connection opened wait for it);
 *   every request rejects with `Timeout` after `timeoutMs`.
 */
import type { Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json } from "../json.js";
import type { ReadConsistency, ReadOptions, WireDurability, WirePosition, WireReadInfo, WriteCondition, WriteOp } from "../service/protocol.js";
import type { ChangeListener, Transaction } from "../store.js";
import { NodeGroup } from "./node-group.js";
import type { Answer, Changes, LinkState, NodeLink, Welcome } from "./node-link.js";
import type { NodeGroupPolicy } from "./policy.js";
import { withRetries } from "./retry.js";
import { SessionPositions, newer } from "./session.js";
import { Subscriptions } from "./subscriptions.js";
import { WriteSession } from "./write-session.js";
import { sendWrite, type WriteRequest, type Written } from "./writes.js";

/** Where the last read was served and how fresh it was. */
export interface NodeReadInfo extends WireReadInfo {
  /** Base URL of the node that answered. */
  readonly node: string;
}

/** What a client hands each link it opens: where its pushes, connections and welcomes go. */
export interface LinkEvents {
  readonly onChanges: (c: Changes) => void;
  readonly onUp: () => void;
  readonly onWelcome: (w: Welcome) => void;
}

/** Opens the link to the node at `url`. */
export type LinkFactory = (url: string, events: LinkEvents) => NodeLink;

/** One write of a node-backed store: what it changes, when, and how durably. */
export interface NodeWrite {
  readonly conditions: readonly WriteCondition[];
  readonly ops: readonly WriteOp[];
  readonly durability: WireDurability;
}

/** A {@link NodeClient}'s options, checked and defaulted by the mode's face. */
export interface NodeClientOptions {
  readonly doc: DocId;
  /** Every node's base URL; writes go to the first until a node says otherwise. */
  readonly urls: readonly string[];
  readonly policy: NodeGroupPolicy;
  readonly link: LinkFactory;
  /** Where reads go: the writer, or the other nodes in turn. */
  readonly read: "writer" | "others";
  /** What reads ask of the node (see `ReadConsistency`). */
  readonly consistency: ReadConsistency;
  /** The node subscriptions are served by: the writer (following it), or this URL of `urls`. */
  readonly subscribeAt: "writer" | string;
  /** Read-your-writes and monotonic reads. */
  readonly session: boolean;
  /** A node that last heard its writer longer ago answers `Stale` (ms); null: no bound. */
  readonly maxStalenessMs: number | null;
  /** Bound of every request, ms; a write's bound covers finding a new writer and its one retry. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** Hears a throwing subscriber and a subscription that could not be placed or caught up. */
  readonly onError: (error: unknown) => void;
}

/** One link as the client sees it now. */
export interface NodeLinkStatus {
  readonly url: string;
  /** The link writes go to now. */
  readonly writer: boolean;
  readonly state: LinkState;
}

/** What every node-backed store says of itself (see `StoreStatus`); the mode's face adds its words. */
export interface NodeClientStatus {
  readonly closed: boolean;
  readonly pendingWrites: number;
  readonly oldestPendingMs: number;
  /** URLs of the nodes connected now. */
  readonly peers: readonly string[];
  readonly writer: { readonly url: string; readonly term: number | undefined };
  readonly nodes: readonly NodeLinkStatus[];
  readonly lastWrite: WirePosition | undefined;
  readonly lastRead: WirePosition | undefined;
}

type ReadRequest = { readonly type: "get"; readonly key: string } | { readonly type: "entries"; readonly prefix: string };

/** The core of a node-backed store (see the module comment). Owns its links. */
export class NodeClient {
  readonly doc: DocId;
  readonly #o: NodeClientOptions;
  readonly #group: NodeGroup;
  readonly #subscriptions: Subscriptions;
  readonly #session = new SessionPositions();
  /** Exactly-once writes, when the mode's policy has them. */
  readonly #writes: WriteSession | null;
  /** Start time of each pending write. */
  readonly #pendingWrites = new Map<Promise<unknown>, number>();
  #readInfo: NodeReadInfo | undefined;
  /** The newest position seen from any node (welcomes, answers): where a new subscription starts. */
  #newestSeen: WirePosition | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(o: NodeClientOptions) {
    this.#o = o;
    this.doc = o.doc;
    this.#group = new NodeGroup({
      urls: o.urls,
      policy: o.policy,
      link: (url) =>
        o.link(url, {
          onChanges: (c) => this.#subscriptions.pushed(url, c),
          onUp: () => this.#subscriptions.connected(url),
          onWelcome: (w) => this.#saw(w.position),
        }),
      onWriterChange: (writer) => {
        if (o.subscribeAt === "writer") this.#subscriptions.moveTo(writer);
      },
    });
    this.#writes = o.policy.sessions ? new WriteSession(() => this.#openSession()) : null;
    const served = o.subscribeAt === "writer" ? this.#group.writer : this.#group.find(o.subscribeAt);
    if (served === undefined) throw new ConcordError("InvalidArgument", `subscriptions are served by ${o.subscribeAt}, which is not one of the nodes`);
    this.#subscriptions = new Subscriptions({ doc: o.doc, link: served, known: () => this.#newestSeen ?? null, timeoutMs: o.timeoutMs, onError: o.onError });
  }

  /**
   * Resolves once the node subscriptions are served by said where its state is (its first
   * connection's `hello`), or could not be reached, or `timeoutMs` passed; never rejects. A store
   * opens through this, so that a subscription made once it opened starts from a known position.
   */
  ready(): Promise<void> {
    return this.#subscriptions.link.whenWelcomed(this.#o.timeoutMs);
  }

  /** Asks every node where writes go (see NodeGroup.discover); never rejects. */
  async discover(): Promise<void> {
    await this.#group.discover(this.#o.timeoutMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  async get(key: string): Promise<Json | undefined> {
    checkKey(key);
    const r = await this.#read({ type: "get", key });
    if (r.type !== "value") throw new ConcordError("Protocol", `expected a value answer to get, got ${r.type}`);
    return r.value;
  }

  async entries(prefix: string): Promise<Array<[string, Json]>> {
    const r = await this.#read({ type: "entries", prefix });
    if (r.type !== "entries") throw new ConcordError("Protocol", `expected an entries answer, got ${r.type}`);
    return r.entries.map(([k, v]) => [k, v]);
  }

  /**
   * Sends the write `make()` builds (it runs now: a throw rejects, sending nothing) as one atomic
   * write. Rejects with `Closed` after {@link close}; see `writes.ts` for the rest.
   */
  write(make: () => NodeWrite): Promise<Written> {
    if (this.#closed) return Promise.reject(new ConcordError("Closed", "write after close(): nothing was sent", { outcome: "not-applied" }));
    let request: WriteRequest;
    try {
      request = { type: "write", doc: this.doc, session: null, ...make() };
    } catch (e) {
      return Promise.reject(e);
    }
    const written = this.#send(request).then((r) => {
      this.#session.wrote(r.position);
      this.#saw(r.position);
      return r;
    });
    this.#pendingWrites.set(written, this.#o.clock.now());
    const untrack = (): void => void this.#pendingWrites.delete(written);
    written.then(untrack, untrack);
    return written;
  }

  /** Adds a subscription (see `subscriptions.ts`). @throws ConcordError `Closed` after {@link close}. */
  subscribe(prefix: string, listener: ChangeListener): () => void {
    if (this.#closed) throw new ConcordError("Closed", "subscribe after close()");
    return this.#subscriptions.add(prefix, listener);
  }

  /** The last read's node and freshness, `undefined` before the first. */
  readInfo(): NodeReadInfo | undefined {
    return this.#readInfo;
  }

  /**
   * Resolves once the link to `url` (one of the nodes; default: every node) is open, or each was
   * open at some point since the call; rejects with `Closed` on close, `InvalidArgument` for a URL
   * not among the nodes.
   */
  async whenConnected(url?: string): Promise<void> {
    const links = this.#group.links;
    if (url === undefined) {
      await Promise.all(links.map((l) => l.whenOpen()));
      return;
    }
    const link = this.#group.find(url);
    if (link === undefined) throw new ConcordError("InvalidArgument", `whenConnected: ${url} is not one of the nodes (${links.map((l) => l.url).join(", ")})`);
    await link.whenOpen();
  }

  status(): NodeClientStatus {
    const now = this.#o.clock.now();
    let oldest = now;
    for (const started of this.#pendingWrites.values()) oldest = Math.min(oldest, started);
    const { links, writer } = this.#group;
    return {
      closed: this.#closed,
      pendingWrites: this.#pendingWrites.size,
      oldestPendingMs: now - oldest,
      peers: links.filter((l) => l.state === "open").map((l) => l.url),
      writer: { url: writer.url, term: this.#group.writerTerm },
      nodes: links.map((l) => ({ url: l.url, writer: l === writer, state: l.state })),
      lastWrite: this.#session.lastWrite,
      lastRead: this.#session.lastRead,
    };
  }

  /** Stops: writes made before settle first (each bounded by `timeoutMs`), then subscriptions and links are dropped. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pendingWrites.keys()]);
    this.#subscriptions.clear();
    this.#group.close();
  }

  /** Sends `request`, in the write session when there is one (see `write-session.ts`). */
  async #send(request: WriteRequest): Promise<Written> {
    const writes = this.#writes;
    if (writes === null) return sendWrite(this.#group, request, this.#o.timeoutMs, this.#o.clock);
    const { id, seq } = await writes.reserve();
    try {
      return await sendWrite(this.#group, { ...request, session: writes.stamp(id, seq) }, this.#o.timeoutMs, this.#o.clock);
    } catch (e) {
      if (isConcordError(e, "SessionExpired")) writes.expired(id);
      throw e;
    } finally {
      writes.answered(id, seq);
    }
  }

  /** Opens a write session at the group's writer, following it as a write would. */
  #openSession(): Promise<number> {
    return withRetries(
      this.#group,
      this.#o.clock,
      this.#o.timeoutMs,
      async (link, ms) => {
        const a = await link.request({ type: "open-session" }, ms);
        if (a.type !== "session-opened") throw new ConcordError("Protocol", `expected session-opened, got ${a.type}`);
        return a.session;
      },
      () => true,
    ).catch((e: unknown) => {
      throw isConcordError(e) ? new ConcordError(e.code, `could not open a write session: ${e.message}; the write was not sent`, { ...e.details, outcome: "not-applied" }, { cause: e }) : e;
    });
  }

  #saw(position: WirePosition): void {
    this.#newestSeen = newer(this.#newestSeen, position);
  }

  async #read(req: ReadRequest): Promise<Answer> {
    if (this.#closed) throw new ConcordError("Closed", `${req.type} after close()`);
    const link = this.#group.readLink(this.#o.read);
    // Reads follow the writer as writes do, or move on to the next node: a read is always safe to send again.
    const next = (): NodeLink => this.#group.readLink(this.#o.read);
    return withRetries(this.#group, this.#o.clock, this.#o.timeoutMs, (at, ms) => this.#readAt(at, req, ms), () => true, link, next);
  }

  async #readAt(link: NodeLink, req: ReadRequest, timeoutMs: number): Promise<Answer> {
    const read: ReadOptions = {
      consistency: this.#o.consistency,
      maxStalenessMs: this.#o.maxStalenessMs,
      after: this.#o.session ? this.#session.floor() : null,
      timeoutMs,
    };
    const r = await link.request({ ...req, doc: this.doc, read }, timeoutMs);
    if (r.type === "value" || r.type === "entries") {
      this.#session.read(r.info.position);
      this.#saw(r.info.position);
      this.#group.observeTerm(r.info.position.epoch);
      this.#readInfo = Object.freeze({ ...r.info, node: link.url });
    }
    return r;
  }
}

/**
 * The writes of `fn` run against a buffered transaction whose `get` sees only its own writes (the
 * data lives on the nodes: reading a key it did not write throws `InvalidArgument`, naming `mode`).
 * Keys and values are checked as they are written; a throw from `fn` propagates.
 */
export function transactionOps(fn: (tx: Transaction) => void, mode: string): WriteOp[] {
  const ops: WriteOp[] = [];
  const own = new Map<string, Json | undefined>();
  fn({
    get: (key) => {
      if (own.has(key)) return own.get(key);
      throw new ConcordError("InvalidArgument", `tx.get("${key}"): a ${mode}-mode transaction sees only its own writes; read the key with get() before transact`);
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
}
