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
import { checkKey, toFrozenJson, type Json } from "../json.js";
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
import { changeEventFor, KEYSPACE, readEntries, readValue } from "./keyspace.js";
import { SyncDriver, type SyncOptions } from "./sync-driver.js";
import { WriteTracker } from "./write-tracker.js";

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
   * Sync with peers over a transport (in-memory, simulated; WebSocket in a later release). Without
   * it the store is local only.
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
}

/** An eventual store also reads synchronously and exposes its `Y.Doc` for rich types. */
export interface EventualStore extends Store {
  readonly mode: "eventual";
  /**
   * The underlying document. Rich types (`ydoc.getText("notes")`, arrays, nested maps) live beside
   * the keyspace map (`ydoc.getMap("concord")`); edits made on it are persisted and synced like
   * store writes. Do not edit it after `close()`; such edits are reported as `Closed` and dropped.
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
  status(): EventualStatus;
}

const LOAD_ORIGIN = Symbol("concord:load");

/** The writes whose updates share one append promise (one group commit). */
interface AppendBatch {
  writes: number;
  /** True when some update in it came from a peer or a direct Y.Doc edit: nobody awaits those. */
  unawaited: boolean;
}
const LOCAL_ACK: WriteAck = Object.freeze({ level: "local" });
const localAck = (): WriteAck => LOCAL_ACK;
/** Key in `Y.Transaction#meta` (Yjs's slot for per-transaction data) of the update's append. */
const APPEND = Symbol("concord:append");
const appendOf = (tr: Y.Transaction): Promise<void> | undefined => tr.meta.get(APPEND) as Promise<void> | undefined;
const DELETED = Symbol("deleted");

/** Opens (creating if needed) an eventual store, restoring its document from `persistence`. */
export async function openEventualStore(options: EventualOptions): Promise<EventualStore> {
  const doc = checkDocName(options.doc);
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
  /** The writes sharing `latestAppend`. */
  private batch: AppendBatch = { writes: 0, unawaited: false };
  /** The ack promise of `latestAppend`, shared by the writes of its batch. */
  private latestAck: { readonly append: Promise<void>; readonly ack: Promise<WriteAck> } | undefined;
  private compacting = false;
  private closing: Promise<void> | undefined;
  private readonly sync: SyncDriver | undefined;

  constructor(
    readonly doc: DocId,
    readonly ydoc: Y.Doc,
    private readonly storage: DocStorage,
    options: EventualOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.writes = new WriteTracker(this.clock);
    this.report = options.onError ?? ((e) => console.error(`[concord] doc "${doc}":`, e));
    this.replicaId = options.replicaId ?? options.sync?.transport.self ?? randomReplicaId(options.rng);
    this.map = ydoc.getMap(KEYSPACE);
    ydoc.on("update", this.onUpdate);
    // After the persistence listener: an update is queued for storage before it is sent.
    this.sync = options.sync ? new SyncDriver(ydoc, options.sync, this.clock, this.report, this.durable) : undefined;
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

  presence(): ReadonlyMap<number, Json> {
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
    return this.write(options, () => {
      checkKey(key);
      const json = toFrozenJson(value);
      return () => this.map.set(key, json);
    });
  }

  delete(key: string, options?: WriteOptions): Promise<WriteAck> {
    return this.write(options, () => {
      checkKey(key);
      return () => this.map.delete(key);
    });
  }

  transact(fn: (tx: Transaction) => void, options?: WriteOptions): Promise<WriteAck> {
    return this.write(options, () => {
      const buffer = new Map<string, Json | typeof DELETED>();
      const tx: Transaction = {
        get: (key) => {
          checkKey(key);
          const v = buffer.get(key);
          return v === DELETED ? undefined : v !== undefined ? v : readValue(this.map, key);
        },
        set: (key, value) => {
          checkKey(key);
          buffer.set(key, toFrozenJson(value));
        },
        delete: (key) => {
          checkKey(key);
          buffer.set(key, DELETED);
        },
      };
      fn(tx);
      return () => {
        for (const [key, v] of buffer) {
          if (v === DELETED) this.map.delete(key);
          else this.map.set(key, v);
        }
      };
    });
  }

  /**
   * The one write path: `prepare` validates and returns the mutation (so invalid input writes
   * nothing); the mutation runs in one Yjs transaction whose update's append is the ack.
   */
  private write(options: WriteOptions | undefined, prepare: () => () => void): Promise<WriteAck> {
    try {
      if (this.closing) throw this.closedError("write");
      checkAckLevel(options);
      const mutate = prepare();
      let transaction: Y.Transaction | undefined;
      this.ydoc.transact((tr) => {
        transaction = tr;
        mutate();
      }, this.localOrigin);
      const append = appendOf(transaction!);
      if (append) return this.ackOf(append);
      // Either the write changed nothing (deleting an absent key), or its transaction ended nested
      // in another (an app's ydoc.transact, a subscriber writing) whose update is emitted when the
      // outermost transaction ends: synchronously, so before the next microtask.
      return Promise.resolve()
        .then(() => appendOf(transaction!) ?? this.latestAppend)
        .then(localAck);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private readonly onUpdate = (update: Uint8Array, origin: unknown, _doc: Y.Doc, tr: Y.Transaction): void => {
    if (origin === LOAD_ORIGIN) return;
    if (this.closing) {
      this.report(this.closedError("edit of the Y.Doc (it was not persisted)"));
      return;
    }
    this.writes.began();
    const append = this.storage.append(update);
    tr.meta.set(APPEND, append);
    // Appends made together share one promise: watch each promise once, for the whole batch.
    if (append !== this.latestAppend) {
      this.latestAppend = append;
      this.batch = { writes: 0, unawaited: false };
      append.then(this.onDurable.bind(this, this.batch), this.onFailed.bind(this, this.batch));
    }
    this.batch.writes++;
    // A store write's failure reaches its caller; nobody else awaits a remote or direct-Y.Doc update.
    if (origin !== this.localOrigin) this.batch.unawaited = true;
  };

  /** The ack of a write whose update went out with `append`: one promise per batch, not per write. */
  private ackOf(append: Promise<void>): Promise<WriteAck> {
    if (this.latestAck?.append !== append) this.latestAck = { append, ack: append.then(localAck) };
    return this.latestAck.ack;
  }

  /** The sync driver's barrier: the latest append, while any append is still pending. */
  private readonly durable = (): Promise<void> | undefined => (this.writes.pending > 0 ? this.latestAppend : undefined);

  private onFailed(batch: AppendBatch, error: unknown): void {
    this.writes.settled(batch.writes);
    if (batch.unawaited) this.report(error);
  }

  private onDurable(batch: AppendBatch): void {
    this.writes.settled(batch.writes);
    if (this.compacting || this.closing || !this.storage.shouldCompact()) return;
    this.compacting = true;
    this.storage
      .compact(Y.encodeStateAsUpdate(this.ydoc))
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
    const entry = { prefix: options?.prefix ?? "", listener };
    // Observed only while someone listens: Yjs builds an event per transaction for observers.
    if (this.listeners.size === 0) this.map.observe(this.onMapEvent);
    this.listeners.add(entry);
    return () => {
      if (this.listeners.delete(entry) && this.listeners.size === 0) this.map.unobserve(this.onMapEvent);
    };
  }

  private readonly onMapEvent = (event: Y.YMapEvent<unknown>): void => {
    for (const { prefix, listener } of this.listeners) {
      const change = changeEventFor(this.map, event, prefix);
      if (!change) continue;
      try {
        listener(change);
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
      pendingWrites: this.writes.pending,
      oldestPendingMs: this.writes.oldestAgeMs(),
      peers: this.sync ? [...this.sync.peers()] : [],
      storage: this.storage.stats(),
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        if (this.sync) {
          // Let peers have what became durable, then leave; updates arriving meanwhile are still
          // persisted by storage.close().
          try {
            await this.storage.flush().catch(() => undefined);
            await this.sync.drain();
          } finally {
            this.sync.stop();
          }
        }
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
}

function checkAckLevel(options: WriteOptions | undefined): void {
  const ack = options?.ack;
  if (ack === undefined || ack === "local") return;
  if (ack === "server") {
    throw new ConcordError("InvalidArgument", "ack \"server\" needs a sync server, and this store has none; ask for \"local\"");
  }
  throw new ConcordError("InvalidArgument", `ack ${JSON.stringify(ack)} does not exist in eventual mode; use "local"`);
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
