/**
 * The `eventual` (multi-master CRDT) mode: a Store over a `Y.Doc`, persisted through any
 * {@link Persistence} and, optionally, synced with peers over a {@link Transport}.
 *
 * Every update of the document (a store write, a direct `Y.Doc` edit by the app, an update from a
 * peer) is appended to storage as one record; a store write resolves with `{ level: "local" }`
 * once its record is durable there (group commit: many writes share one fsync).
 *
 * Each open gets a FRESH Yjs client id: a write that was sent to a peer but lost locally in a crash
 * comes back through sync instead of colliding with a new write that reused its id.
 */
import * as Y from "yjs";
import { systemClock, type Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import { asDocId, type DocId } from "../ids.js";
import { checkKey, toFrozenJson, type Json, type SizeBound } from "../json.js";
import type { Rng } from "../rng.js";
import type { DocStorage, Persistence } from "../storage/storage.js";
import type {
  ChangeListener,
  RangeOptions,
  Store,
  StoreStatus,
  Transaction,
  WriteAck,
  WriteOptions,
} from "../store.js";
import { changeEventFor, checkStorable, KEYSPACE, prefixOf, readEntries, readValue } from "./keyspace.js";
import type { Transport } from "../net/transport.js";
import type { WebSocketClientTransport } from "../net/websocket-client.js";
import { ServerAcks, type ServerStatus } from "./server-acks.js";
import { SyncDriver } from "./sync-driver.js";
import { checkAnySyncOptions, resolveSync, type SyncOptions } from "./sync-options.js";
import { isRemoteOrigin } from "./sync/sync-core.js";
import { UPDATE_BYTES_PER_OP, updateBytesUpperBound, type WriteOp } from "./write-size.js";
import { WriteTracker, type WriteBatch } from "./write-tracker.js";

/** Options of `openStore({ mode: "eventual" })`. */
export interface EventualOptions {
  readonly mode: "eventual";
  /** The document (keyspace) to open: non-empty, at most 255 characters. */
  readonly doc: string;
  /** Where the document's log lives: `fileStorage(dir)`, `indexedDbStorage()`, `memoryStorage()`. */
  readonly persistence: Persistence;
  /** This replica's stable name, for status and peers. Default: the transport's own id, else random. */
  readonly replicaId?: string;
  /**
   * Sync with a server at a URL (`{ url, token }`: `concord serve` or any y-websocket server), or
   * with peers over a transport (in-memory, simulated, your own). Without it the store is local
   * only. The store owns the transport once `openStore` resolves (and closes it on close); if
   * `openStore` rejects, a given transport was not used and is still the caller's.
   */
  readonly sync?: SyncOptions;
  /** Time source for timers and status ages. Default: the platform clock. */
  readonly clock?: Clock;
  /** Randomness for the Yjs client id and replica id (tests and simulation). Default: platform crypto. */
  readonly rng?: Rng;
  /**
   * Where failures nobody awaits are reported: a failed persist of a remote or direct-`Y.Doc`
   * update, a throwing subscriber, a failed compaction. Default: `console.error`.
   */
  readonly onError?: (error: unknown) => void;
}

/** Status of an eventual store. */
export interface EventualStatus extends StoreStatus {
  readonly mode: "eventual";
  /** The Yjs client id of this session (fresh on every open). */
  readonly clientId: number;
  /**
   * Why the store stopped, when storage failed under it: it then refuses writes, stops syncing
   * (nothing it could not persist may reach a peer) and keeps serving reads. Reopen to recover.
   */
  readonly failure: string | undefined;
  /** What the sync server holds of our writes; present when `sync.server` (or a URL) names one. */
  readonly server?: ServerStatus;
}

/** An update of the document once it is durable in storage (see {@link EventualStore.subscribeDurable}). */
export interface DurableUpdate {
  /** The Yjs update (v1 encoding), as `Y.applyUpdate` takes it. */
  readonly update: Uint8Array;
  /** `local`: made here (a store write, a direct `Y.Doc` edit); else the peer it came from. */
  readonly origin: "local" | { readonly peer: string };
}

/** An eventual store also reads synchronously and exposes its `Y.Doc` for rich types. */
export interface EventualStore extends Store {
  readonly mode: "eventual";
  /**
   * The underlying document. Rich types (`ydoc.getText("notes")`, arrays, nested maps) live beside
   * the keyspace map (`ydoc.getMap("concord")`); edits made on it are persisted and synced like
   * store writes. Edits made while `close()` runs are persisted like any other; edits made after
   * it resolved are reported to `onError` as `Closed`, and neither persisted nor sent.
   */
  readonly ydoc: Y.Doc;
  /** Synchronous `get`: the local replica's value. */
  getLocal(key: string): Json | undefined;
  /** Synchronous `entries`: the local replica's entries, sorted by key. */
  entriesLocal(options?: RangeOptions): Array<[string, Json]>;
  /**
   * Sets this replica's presence (y-protocols awareness: a cursor, a user name...), or clears it
   * with `null`; peers see it until we clear it, disconnect or stop renewing it. Needs `sync`
   * (`InvalidArgument` otherwise); `InvalidValue` for non-JSON.
   */
  setPresence(state: Json | null): void;
  /** Presence of every replica known here (ours included), by Yjs client id. Empty without `sync`. */
  presence(): ReadonlyMap<number, Json>;
  /**
   * Calls `listener` with {@link presence} whenever a replica's presence appears, changes or goes
   * (ours included; not on mere renewals), like y-protocols' awareness `change` event. Returns the
   * unsubscribe function. Without `sync` it never fires. The listener MUST NOT throw (a throw is
   * reported to `onError`).
   */
  subscribePresence(listener: (presence: ReadonlyMap<number, Json>) => void): () => void;
  /**
   * Calls `listener` with each update of the document once it is durable in storage, in the order
   * they were made (webhooks, indexing, an audit log). Returns the unsubscribe function. An update
   * whose storage failed is never heard. The listener MUST NOT throw (a throw goes to `onError`).
   */
  subscribeDurable(listener: (event: DurableUpdate) => void): () => void;
  /**
   * Applies an update that is ALREADY durable in this store's storage, appended there by another
   * writer of a shared log (a scaled-out sync server's other instances, see `hub/`): it is applied
   * and synced to peers like any update, and not appended again. Throws `Corrupt` if it is not a
   * valid Yjs update (nothing applied), `Closed` once closing.
   */
  applyStored(update: Uint8Array): void;
  /**
   * Resolves once the sync server durably holds every write made here before the call (and what
   * earlier sessions left unsynced), waiting through disconnections. Against a stock y-websocket
   * server, which can't say what it stored: once the handshake with it is done. Needs a server
   * (`InvalidArgument` otherwise); rejects with `Closed` if the store closes first.
   */
  whenSynced(): Promise<void>;
  /**
   * Goes offline, like y-websocket's `provider.disconnect()`: closes the connection to the sync
   * server and stops reconnecting until {@link connect}. Writes go on, durable locally; the server
   * gets them on `connect()`, and peers stop seeing our presence meanwhile. Needs URL sync
   * (`InvalidArgument` otherwise); no effect when already offline or closed.
   */
  disconnect(): void;
  /** Back online after {@link disconnect}: connects at once. No effect unless offline. */
  connect(): void;
  status(): EventualStatus;
}

const LOAD_ORIGIN = Symbol("concord:load");
/** The origin of updates applied by `applyStored`: durable already, so not appended. */
const STORED_ORIGIN = Symbol("concord:stored");

const LOCAL_ACK: WriteAck = Object.freeze({ level: "local" });
const SERVER_ACK: WriteAck = Object.freeze({ level: "server" });
const serverAck = (): WriteAck => SERVER_ACK;
/** Key in `Y.Transaction#meta` of the update's "stored at the server" promise. */
const AT_SERVER = Symbol("concord:at-server");
const localAck = (): WriteAck => LOCAL_ACK;
/** Key in `Y.Transaction#meta` (Yjs's slot for per-transaction data) of the update's append. */
const APPEND = Symbol("concord:append");
const appendOf = (tr: Y.Transaction): Promise<void> | undefined => tr.meta.get(APPEND) as Promise<void> | undefined;

/** Opens (creating if needed) an eventual store, restoring its document from `persistence`. */
export async function openEventualStore(options: EventualOptions): Promise<EventualStore> {
  const doc = checkDocName(options.doc);
  if (options.sync !== undefined) checkAnySyncOptions(options.sync);
  if (!options.persistence || typeof options.persistence.open !== "function") {
    throw new ConcordError(
      "InvalidArgument",
      "persistence must be a storage such as fileStorage(dir), indexedDbStorage() or memoryStorage()",
    );
  }
  const storage = await options.persistence.open(doc);
  const ydoc = new Y.Doc();
  if (options.rng) ydoc.clientID = options.rng.uint32();
  try {
    const { snapshot, records } = await storage.load();
    ydoc.transact(() => {
      if (snapshot) applyStored(ydoc, snapshot, "snapshot", doc);
      records.forEach((r, i) => applyStored(ydoc, r, `record ${i}`, doc));
    }, LOAD_ORIGIN);
    return new EventualStoreImpl(doc, ydoc, storage, options);
  } catch (e) {
    await storage.close().catch(() => undefined);
    ydoc.destroy();
    throw e;
  }
}

function applyStored(ydoc: Y.Doc, update: Uint8Array, what: string, doc: DocId): void {
  try {
    Y.applyUpdate(ydoc, update, LOAD_ORIGIN);
  } catch (cause) {
    throw new ConcordError(
      "Corrupt",
      `document "${doc}": stored ${what} is not a valid Yjs update; the storage passed its checksum, so it was written corrupt. Restore from a replica or a backup.`,
      { doc, what },
      { cause },
    );
  }
}

function checkDocName(doc: unknown): DocId {
  if (typeof doc !== "string" || doc.length === 0 || doc.length > 255) {
    throw new ConcordError("InvalidArgument", `doc must be a non-empty string of at most 255 characters, got ${JSON.stringify(doc)}`);
  }
  return asDocId(doc);
}

class EventualStoreImpl implements EventualStore {
  readonly mode = "eventual" as const;
  readonly replicaId: string;
  private readonly map: Y.Map<unknown>;
  private readonly clock: Clock;
  private readonly writes: WriteTracker;
  private readonly report: (error: unknown) => void;
  private readonly localOrigin = Symbol("concord:local-write");
  private readonly listeners = new Set<{ prefix: string; listener: ChangeListener }>();
  /** The most recent append; appends settle in order, so this settles after every earlier one. */
  private latestAppend: Promise<void> = Promise.resolve();
  private readonly durableListeners = new Set<(event: DurableUpdate) => void>();
  /** The writes sharing `latestAppend`. */
  private batch: WriteBatch | undefined;
  /** Storage failed: the store refuses writes and no longer syncs (fail-stop). */
  private failure: ConcordError | undefined;
  /** False once `storage.close()` was called: updates can no longer be persisted. */
  private storageOpen = true;
  /** A snapshot did not fit `maxRecordBytes`: compaction is off for this session (reported once). */
  private compactionTooLarge = false;
  /** The ack promise of `latestAppend`, shared by the writes of its batch. */
  private latestAck: { readonly append: Promise<void>; readonly ack: Promise<WriteAck> } | undefined;
  private compacting = false;
  private closing: Promise<void> | undefined;
  private readonly sync: SyncDriver | undefined;
  private readonly serverAcks: ServerAcks | undefined;
  private readonly syncTransport: Transport | undefined;

  constructor(
    readonly doc: DocId,
    readonly ydoc: Y.Doc,
    private readonly storage: DocStorage,
    options: EventualOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.writes = new WriteTracker(this.clock);
    this.report = options.onError ?? ((e) => console.error(`[concord] doc "${doc}":`, e));
    const sync = options.sync ? resolveSync(options.sync, doc, this.clock, options.rng) : undefined;
    this.replicaId = options.replicaId ?? sync?.transport.self ?? randomReplicaId(options.rng);
    this.map = ydoc.getMap(KEYSPACE);
    ydoc.on("update", this.onUpdate);
    // After the persistence listener: an update is queued for storage before it is sent.
    this.sync = sync ? new SyncDriver(ydoc, { ...sync, onParked: this.persistParked }, this.clock, this.report, this.durable) : undefined;
    this.syncTransport = sync?.transport;
    this.serverAcks = this.sync && sync?.server !== undefined ? new ServerAcks(this.sync.core, sync.server, this.clock) : undefined;
  }

  // --- reads -------------------------------------------------------------------------------

  getLocal(key: string): Json | undefined {
    checkKey(key);
    return readValue(this.map, key);
  }

  entriesLocal(options?: RangeOptions): Array<[string, Json]> {
    return readEntries(this.map, options);
  }

  setPresence(state: Json | null): void {
    if (this.closing) throw this.closedError("setPresence");
    if (!this.sync) throw new ConcordError("InvalidArgument", "setPresence needs a store opened with sync; this one is local only");
    this.sync.setPresence(state);
  }

  subscribePresence(listener: (presence: ReadonlyMap<number, Json>) => void): () => void {
    if (typeof listener !== "function") throw new ConcordError("InvalidArgument", "subscribePresence needs a listener function");
    if (!this.sync || this.closing) return () => undefined;
    return this.sync.core.onAwarenessChange(() => {
      try {
        listener(this.presence());
      } catch (e) {
        this.report(e);
      }
    });
  }

  subscribeDurable(listener: (event: DurableUpdate) => void): () => void {
    if (typeof listener !== "function") throw new ConcordError("InvalidArgument", "subscribeDurable needs a listener function");
    this.durableListeners.add(listener);
    return () => this.durableListeners.delete(listener);
  }

  applyStored(update: Uint8Array): void {
    if (this.closing) throw this.closedError("applyStored");
    try {
      Y.applyUpdate(this.ydoc, update, STORED_ORIGIN);
    } catch (cause) {
      throw new ConcordError("Corrupt", `document "${this.doc}": a stored update is not a valid Yjs update`, { doc: this.doc }, { cause });
    }
  }

  disconnect(): void {
    this.urlTransport("disconnect")?.disconnect();
  }

  connect(): void {
    this.urlTransport("connect")?.connect();
  }

  /** The WebSocket transport of URL sync (undefined once closing); `InvalidArgument` for any other sync. */
  private urlTransport(method: string): WebSocketClientTransport | undefined {
    const transport = this.syncTransport as Partial<WebSocketClientTransport> | undefined;
    if (typeof transport?.disconnect !== "function" || typeof transport.connect !== "function") {
      throw new ConcordError("InvalidArgument", `${method} needs a store opened with sync: { url }; this one ${this.sync ? "syncs over a transport of the app's" : "is local only"}`);
    }
    return this.closing ? undefined : (transport as WebSocketClientTransport);
  }

  presence(): ReadonlyMap<number, Json> {
    if (this.closing || this.failure) return new Map();
    return this.sync?.core.awareness.states() ?? new Map();
  }

  get(key: string): Promise<Json | undefined> {
    return attempt(() => this.getLocal(key));
  }

  entries(options?: RangeOptions): Promise<Array<[string, Json]>> {
    return attempt(() => this.entriesLocal(options));
  }

  // --- writes ------------------------------------------------------------------------------

  set(key: string, value: unknown, options?: WriteOptions): Promise<WriteAck> {
    return this.write(options, (size) => {
      checkKey(key);
      return [[key, toFrozenJson(value, "value", size)]];
    });
  }

  delete(key: string, options?: WriteOptions): Promise<WriteAck> {
    return this.write(options, () => {
      checkKey(key);
      return [[key, undefined]];
    });
  }

  transact(fn: (tx: Transaction) => void, options?: WriteOptions): Promise<WriteAck> {
    return this.write(options, (size) => {
      if (typeof fn !== "function") throw new ConcordError("InvalidArgument", "transact needs a function: store.transact((tx) => { tx.set(...) })");
      const buffer = new Map<string, Json | undefined>();
      let open = true;
      const usable = (key: string): void => {
        if (!open) {
          throw new ConcordError("InvalidArgument", "this transaction is over: use tx only inside transact's function, synchronously");
        }
        checkKey(key);
      };
      const tx: Transaction = {
        get: (key) => {
          usable(key);
          return buffer.has(key) ? buffer.get(key) : readValue(this.map, key);
        },
        set: (key, value) => {
          usable(key);
          buffer.set(key, toFrozenJson(value, "value", size));
        },
        delete: (key) => {
          usable(key);
          buffer.set(key, undefined);
        },
      };
      let result: unknown;
      try {
        result = fn(tx);
      } finally {
        open = false;
      }
      if (typeof (result as { then?: unknown } | undefined)?.then === "function") {
        (result as Promise<unknown>).then(undefined, () => undefined); // moot: the transaction is refused below
        throw new ConcordError(
          "InvalidArgument",
          "transact's function returned a promise: it must be synchronous (nothing was written); await before transact, not inside",
        );
      }
      return [...buffer];
    });
  }

  /**
   * The one write path. `prepare` validates and returns the keys to write (so invalid input writes
   * nothing); a write too large for storage is refused before it touches the document; the writes
   * run in one Yjs transaction whose update's append is the ack.
   */
  private write(options: WriteOptions | undefined, prepare: (size: SizeBound) => WriteOp[]): Promise<WriteAck> {
    try {
      if (this.closing) throw this.closedError("write");
      if (this.failure) throw this.failedError();
      const level = this.ackLevel(options);
      const size: SizeBound = { bytes: 0 };
      const ops = prepare(size);
      for (const [key, value] of ops) {
        if (value !== undefined) checkStorable(key, value);
        size.bytes += key.length * 3 + UPDATE_BYTES_PER_OP;
      }
      if (size.bytes > this.storage.maxRecordBytes) this.checkSize(ops);
      let transaction: Y.Transaction | undefined;
      this.ydoc.transact((tr) => {
        transaction = tr;
        for (const [key, value] of ops) {
          if (value === undefined) this.map.delete(key);
          else this.map.set(key, value);
        }
      }, this.localOrigin);
      if (level === "server") return this.serverAckOf(transaction!);
      const append = appendOf(transaction!);
      if (append) return this.ackOf(append);
      // Either the write changed nothing (deleting an absent key), or its transaction ended nested
      // in another (an app's ydoc.transact, a subscriber writing) whose update is emitted when the
      // outermost transaction ends: synchronously, so before the next microtask.
      // A write that changed nothing still acks only once the state it saw is durable: deleting a
      // key that is absent because of an earlier, unsynced delete must not ack before that delete.
      return Promise.resolve()
        .then(() => appendOf(transaction!) ?? this.latestAppend)
        .then(localAck);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private ackLevel(options: WriteOptions | undefined): "local" | "server" {
    const ack = options?.ack;
    if (ack === undefined || ack === "local") return "local";
    if (ack === "server") {
      if (this.serverAcks) return "server";
      throw new ConcordError(
        "InvalidArgument",
        'ack "server" needs a sync server (sync.server, or sync over a URL), and this store has none; ask for "local"',
      );
    }
    throw new ConcordError("InvalidArgument", `ack ${JSON.stringify(ack)} does not exist in eventual mode; use "local" or "server"`);
  }

  /**
   * The ack at level `server` of the write that made `transaction`: its update stored at the server
   * (which implies durable here). A write that changed nothing waits for everything before it.
   */
  private serverAckOf(transaction: Y.Transaction): Promise<WriteAck> {
    return Promise.resolve()
      .then(async (): Promise<void> => {
        const atServer = transaction.meta.get(AT_SERVER) as Promise<void> | undefined;
        const append = appendOf(transaction);
        if (atServer && append) {
          await append; // rejects with the local failure, which the server wait would never report
          await atServer;
          return;
        }
        await this.latestAppend;
        await this.serverAcks!.whenSynced();
      })
      .then(serverAck);
  }

  private serverStatus(acks: ServerAcks): ServerStatus {
    const status = acks.status();
    const transport = this.syncTransport as Partial<WebSocketClientTransport> | undefined;
    return typeof transport?.status === "function" ? { ...status, connection: transport.status() } : status;
  }

  whenSynced(): Promise<void> {
    if (!this.serverAcks) {
      return Promise.reject(new ConcordError("InvalidArgument", "whenSynced needs a sync server (sync.server, or sync over a URL); this store has none"));
    }
    if (this.closing) return Promise.reject(this.closedError("whenSynced"));
    return this.serverAcks.whenSynced();
  }

  /** Refuses, with `TooLarge`, a write whose update can't fit one storage record. */
  private checkSize(ops: readonly WriteOp[]): void {
    const bytes = updateBytesUpperBound(ops);
    const max = this.storage.maxRecordBytes;
    if (bytes <= max) return;
    throw new ConcordError(
      "TooLarge",
      `a write of about ${bytes} bytes can't fit the storage's maxRecordBytes (${max}); nothing was written. Split it, or raise maxRecordBytes`,
      { bytes, max },
    );
  }

  private readonly onUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, tr: Y.Transaction): void => {
    if (origin === LOAD_ORIGIN || origin === STORED_ORIGIN) return;
    if (!this.storageOpen || this.failure) {
      // Not persisted, so never sent either: the sync driver is stopped by now.
      const why = this.failure ? this.failedError() : this.closedError("edit of the Y.Doc");
      this.report(new ConcordError(why.code, `${why.message}; this update was not persisted`, why.details, { cause: why }));
      return;
    }
    // A store write's failure reaches its caller; nobody else awaits a remote or direct-Y.Doc update.
    const append = this.appendTracked(update, origin !== this.localOrigin);
    tr.meta.set(APPEND, append);
    if (this.durableListeners.size > 0) {
      const event: DurableUpdate = { update, origin: isRemoteOrigin(origin) ? { peer: origin.peer } : "local" };
      append.then(() => this.tellDurable(event), () => undefined);
    }
    if (this.serverAcks && !isRemoteOrigin(origin)) {
      const atServer = this.serverAcks.track(append);
      atServer.catch(() => undefined); // a writer at level "server" awaits it; nobody else has to
      tr.meta.set(AT_SERVER, atServer);
    }
  };

  private tellDurable(event: DurableUpdate): void {
    for (const listener of [...this.durableListeners]) {
      try {
        listener(event);
      } catch (e) {
        this.report(e);
      }
    }
  }

  /**
   * Appends `update` to storage, tracked as a pending write until it settles. `unawaited`: no
   * caller awaits it (a remote or direct-Y.Doc update), so its failure goes to `onError`.
   */
  private appendTracked(update: Uint8Array, unawaited: boolean): Promise<void> {
    const append = this.storage.append(update);
    // Appends made together share one promise: watch each promise once, for the whole batch.
    if (append !== this.latestAppend || this.batch === undefined) {
      this.latestAppend = append;
      const batch = (this.batch = this.writes.open());
      append.then(
        () => this.onDurable(batch),
        (error: unknown) => this.onFailed(batch, error),
      );
    }
    this.writes.add(this.batch);
    if (unawaited) this.batch.unawaited = true;
    return append;
  }

  /** The ack of a write whose update went out with `append`: one promise per batch, not per write. */
  private ackOf(append: Promise<void>): Promise<WriteAck> {
    if (this.latestAck?.append !== append) this.latestAck = { append, ack: append.then(localAck) };
    return this.latestAck.ack;
  }

  /**
   * Persists an update from a peer that Yjs parked (missing dependencies): it emitted no `update`
   * event, yet the peer will be told it is stored (acks) and it must survive a restart.
   */
  private readonly persistParked = (update: Uint8Array): void => {
    if (this.storageOpen && !this.failure) void this.appendTracked(update, true);
  };

  /** The sync driver's barrier: the latest append, while any append is still pending. */
  private readonly durable = (): Promise<void> | undefined => (this.writes.pending > 0 ? this.latestAppend : undefined);

  /**
   * Fail-stop: once storage failed, the document holds updates that are not durable. Stop syncing
   * at once so none of them reaches a peer, refuse writes, keep serving reads.
   */
  private onFailed(batch: WriteBatch, error: unknown): void {
    this.writes.settle(batch);
    if (this.failure) return;
    this.failure = isConcordError(error) ? error : new ConcordError("Io", String(error), {}, { cause: error });
    this.sync?.stop();
    this.report(this.failedError());
  }

  private onDurable(batch: WriteBatch): void {
    this.writes.settle(batch);
    if (this.compacting || this.compactionTooLarge || this.closing || this.failure || !this.storage.shouldCompact()) return;
    const snapshot = Y.encodeStateAsUpdate(this.ydoc);
    if (snapshot.length > this.storage.maxRecordBytes) {
      this.compactionTooLarge = true;
      this.report(
        new ConcordError(
          "TooLarge",
          `document "${this.doc}" (${snapshot.length} bytes) no longer fits one snapshot record (maxRecordBytes ${this.storage.maxRecordBytes}); its log will grow uncompacted until you reopen it with a larger maxRecordBytes`,
          { bytes: snapshot.length, max: this.storage.maxRecordBytes },
        ),
      );
      return;
    }
    this.compacting = true;
    this.storage
      .compact(snapshot)
      .catch((e) => {
        if (!isConcordError(e, "Closed")) this.report(e);
      })
      .finally(() => {
        this.compacting = false;
      });
  }

  // --- subscriptions -------------------------------------------------------------------------

  subscribe(options: RangeOptions, listener: ChangeListener): () => void {
    if (typeof listener !== "function") throw new ConcordError("InvalidArgument", "subscribe needs a listener function");
    const entry = { prefix: prefixOf(options), listener };
    // Observed only while someone listens: Yjs builds an event per transaction for observers.
    if (this.listeners.size === 0) this.map.observe(this.onMapEvent);
    this.listeners.add(entry);
    return () => {
      if (this.listeners.delete(entry) && this.listeners.size === 0) this.map.unobserve(this.onMapEvent);
    };
  }

  private readonly onMapEvent = (event: Y.YMapEvent<unknown>): void => {
    for (const { prefix, listener } of this.listeners) {
      try {
        const change = changeEventFor(this.map, event, prefix);
        if (change) listener(change);
      } catch (e) {
        this.report(e);
      }
    }
  };

  // --- lifecycle -----------------------------------------------------------------------------

  status(): EventualStatus {
    return {
      mode: "eventual",
      doc: this.doc,
      replicaId: this.replicaId,
      clientId: this.ydoc.clientID,
      closed: this.closing !== undefined,
      failure: this.failure?.message,
      pendingWrites: this.writes.pending,
      oldestPendingMs: this.writes.oldestAgeMs(),
      peers: this.sync ? [...this.sync.peers()] : [],
      ...(this.serverAcks ? { server: this.serverStatus(this.serverAcks) } : {}),
      storage: this.storage.stats(),
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // A transaction in progress (close() called from a subscriber, or inside ydoc.transact around
      // a write) emits its update when it ends; let it reach storage like any write made before.
      await undefined;
      try {
        if (this.sync) {
          // Let peers have what became durable, then leave. Updates arriving meanwhile are persisted
          // (storage is still open) and not sent.
          try {
            await this.storage.flush().catch(() => undefined);
            await this.sync.drain();
          } finally {
            this.sync.stop();
            this.serverAcks?.close(this.closedError("waiting for the sync server"));
          }
        }
        this.storageOpen = false;
        await this.storage.close();
      } finally {
        if (this.listeners.size > 0) this.map.unobserve(this.onMapEvent);
        this.listeners.clear();
      }
    })();
    return this.closing;
  }

  private closedError(what: string): ConcordError {
    return new ConcordError("Closed", `${what} after close() of document "${this.doc}"`, { doc: this.doc });
  }

  private failedError(): ConcordError {
    const cause = this.failure!;
    return new ConcordError(
      "Closed",
      `document "${this.doc}" stopped after its storage failed (${cause.message}): it refuses writes and no longer syncs; reopen it`,
      { doc: this.doc },
      { cause },
    );
  }
}


function attempt<T>(read: () => T): Promise<T> {
  try {
    return Promise.resolve(read());
  } catch (e) {
    return Promise.reject(e);
  }
}

function randomReplicaId(rng: Rng | undefined): string {
  const n = rng ? rng.uint32() : crypto.getRandomValues(new Uint32Array(1))[0]!;
  return `r-${n.toString(16).padStart(8, "0")}`;
}
