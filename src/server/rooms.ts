/**
 * The sync server's documents ("rooms"). A room IS an eventual replica: an `EventualStore` with
 * replica id `server`, persisted in the server's storage, syncing over a {@link RoomTransport} whose
 * peers are the room's client connections. The store does the protocol (sync steps, updates,
 * presence, acks), forwards every update at once and acknowledges it once it is durable; this
 * module only decides when a room is open and who is in it.
 *
 * Lifecycle of a room:
 * - opened lazily by its first connection; connections arriving while it opens share that one open;
 * - unloaded after `idleUnloadMs` with no connection: the store is closed (which flushes storage)
 *   and only once that resolved is the room forgotten; a connection arriving meanwhile waits for
 *   the unload to finish, then opens the room again (never two stores on one document);
 * - unloaded at once if its store stopped by itself (storage failure: fail-stop), after closing its
 *   connections with 1011, so that the next connection reopens it from what is durable;
 * - unloaded by {@link Rooms.close} at shutdown.
 */
import type { CancelTimer, Clock } from "../clock.js";
import { assertNever, ConcordError, isConcordError } from "../errors.js";
import { asDocId, asPeerId, type PeerId } from "../ids.js";
import type { EventualStore } from "../eventual/eventual-store.js";
import { SERVER_PEER } from "../eventual/sync-options.js";
import { openStore } from "../open-store.js";
import type { DocStorage, Persistence } from "../storage/storage.js";
import type { Access } from "../ops/auth.js";
import type { ServerLog } from "../ops/log.js";
import type { RejectReason, ServerMetrics } from "./metrics.js";
import { RoomTransport, type RoomConnection } from "./room-transport.js";
import type { RoomLinker } from "./scale-out.js";
import { WriteGate } from "./write-gate.js";

/** WebSocket close codes the server uses. 4400-4499 tell stock y-websocket clients not to reconnect. */
export const CloseCode = {
  /** The server is shutting down; clients reconnect later. */
  goingAway: 1001,
  /** The document could not be opened or stopped (storage failure); clients may retry. */
  internalError: 1011,
  /** The auth file was reloaded and gives this connection another access; clients reconnect to get it. */
  serviceRestart: 1012,
  /** The server is at `maxConnections`; clients retry later (a transient refusal, like 503). */
  tryAgainLater: 1013,
  /** The client sent something the protocol does not allow; reconnecting would not help. */
  protocolError: 4400,
  /** No token, or an unknown one (`--auth`). */
  unauthorized: 4401,
  /** The token is not allowed this document. */
  forbidden: 4403,
  /** The client's change would take the document past `maxDocBytes`; it was not applied. */
  documentTooLarge: 4413,
} as const;

/** A client connection, as a room needs it. Implemented over a WebSocket by `server.ts`. */
export interface ClientConnection extends RoomConnection {
  /**
   * Refuses a message the room's store or its gate rejected (`error` says why): counts it, logs it,
   * closes the connection (4413 for `doc_too_large`, else 4400) and leaves the room (after the current call stack, since this is called
   * from inside the store's delivery). Frames that follow are dropped. MUST NOT throw.
   */
  refuse(reason: RejectReason, error: unknown): void;
  /**
   * Answers a change a read-only connection sent with the y-websocket "permission denied" auth
   * message (`reason`), counts it (`read_only`) and logs it; the connection stays open. MUST NOT throw.
   */
  denyWrite(reason: string): void;
  /**
   * Closes the socket with `code` and `reason`. After 1001 (going away), frames already on their
   * way are still delivered (so a write sent just before a shutdown is persisted); after any other
   * code they are dropped. Idempotent; MUST NOT throw.
   */
  close(code: number, reason: string): void;
}

/** A connection's place in a room, returned by {@link Rooms.join}. */
export interface RoomMember {
  readonly doc: string;
  /** One binary frame from the client, for the room's store. Dropped after {@link leave}. */
  receive(bytes: Uint8Array): void;
  /** The connection closed: it goes down in the store (its presence is removed). Idempotent. */
  leave(): void;
}

/** One loaded room, for `stats()`. */
export interface RoomInfo {
  readonly doc: string;
  readonly state: "open" | "unloading";
  readonly connections: number;
  /** Updates the room's store has not yet made durable. */
  readonly pendingWrites: number;
}

/** What {@link Rooms} needs. */
export interface RoomsOptions {
  readonly persistence: Persistence;
  /** Milliseconds a room stays loaded with no connection. */
  readonly idleUnloadMs: number;
  /** Passed to each store's sync core: larger incoming messages are refused with `TooLarge`. */
  readonly maxMessageBytes: number;
  /** A client change that would take a document past this many bytes is refused (4413). */
  readonly maxDocBytes: number;
  readonly clock: Clock;
  readonly log: ServerLog;
  readonly metrics: ServerMetrics;
  readonly hooks?: RoomHooks;
  /** Scale-out: joins each room to the other instances serving its document (see `hub/room-hub.ts`). */
  readonly linker?: RoomLinker;
}

/** A client's change to a document, durable on the server (what {@link RoomHooks.onChange} hears). */
export interface DocumentChange {
  readonly doc: string;
  /** The Yjs update (v1 encoding), as `Y.applyUpdate` takes it. */
  readonly update: Uint8Array;
  /** The connection it came from (its id in the server's logs, `c<n>`). */
  readonly connection: string;
}

/**
 * What an app hears of its documents. Each hook runs detached from the data path: whatever it
 * does or throws (logged as `hook.failed`), updates are stored, acknowledged and forwarded as
 * without it, and a slow hook holds nothing up.
 */
export interface RoomHooks {
  /** A client's change, once durable on the server (webhooks, indexing, server-side validation). */
  readonly onChange?: (change: DocumentChange) => unknown;
  /** A document was loaded (opened from storage for its first connection). */
  readonly onLoad?: (doc: string) => unknown;
  /** A document was unloaded (idle or at shutdown), everything it held flushed to storage. */
  readonly onUnload?: (doc: string) => unknown;
}

interface Member {
  readonly connection: ClientConnection;
  leave(): void;
}

class Room {
  readonly members = new Map<PeerId, Member>();
  idleTimer: CancelTimer | undefined;
  unloading: Promise<void> | undefined;
  /** Why unloading failed (the store's close rejected), reported by `Rooms.close`. */
  unloadError: unknown;
  /** Detaches the room from the other instances (scale-out). */
  detach: (() => void) | undefined;

  constructor(
    readonly doc: string,
    readonly store: EventualStore,
    readonly transport: RoomTransport,
  ) {}
}

/** A document that failed to open, as `/healthz` reports it. */
export interface FailedDocument {
  readonly doc: string;
  /** `Io` (the storage refused an operation) or `Corrupt` (stored bytes failed their checks). */
  readonly code: "Io" | "Corrupt";
  readonly message: string;
}

/** Most failed documents remembered (the latest ones): health stays small whatever clients ask for. */
const MAX_FAILED_DOCUMENTS = 100;

/** Every room of one server. */
export class Rooms {
  readonly #options: RoomsOptions;
  readonly #persistence: Persistence;
  /** Rooms opening, open or unloading, by document. At most one per document at any time. */
  readonly #slots = new Map<string, Promise<Room>>();
  /** Rooms whose store is open (unloading ones included), by document. */
  readonly #loaded = new Map<string, Room>();
  /** Documents whose last open failed with `Io` or `Corrupt`, oldest first; cleared by an open that works. */
  readonly #failed = new Map<string, FailedDocument>();
  #closing: Promise<void> | undefined;

  constructor(options: RoomsOptions) {
    this.#options = options;
    this.#persistence = countingPersistence(options.persistence, options.clock, (seconds) => options.metrics.persisted(seconds));
  }

  /**
   * Adds `connection` to the room of `doc` with `access` (default read-write; a read-only
   * connection's changes are refused, see `write-gate.ts`), opening the room if needed (or waiting for an open or
   * an unload in progress). Once this resolves the connection is an up peer of the room's store
   * (which greeted it with sync step 1); hand it the client's frames with `receive`.
   *
   * Rejects with `Closed` once {@link close} was called, or with what opening the document failed
   * with (`Corrupt`, `Io`, `InvalidArgument` for a name the storage refuses); the room is then not
   * kept, so the next connection tries again.
   */
  async join(doc: string, connection: ClientConnection, access: Access = "read-write"): Promise<RoomMember> {
    for (;;) {
      if (this.#closing) throw new ConcordError("Closed", "the server is shutting down", { doc });
      let slot = this.#slots.get(doc);
      if (slot === undefined) {
        slot = this.#open(doc);
        this.#slots.set(doc, slot);
      }
      const room = await slot;
      if (room.unloading || room.transport.isClosed) {
        // Unloading, or its store stopped by itself a moment ago: wait for it to be gone, reopen.
        await this.#unload(room, "stopped");
        continue;
      }
      if (this.#closing) throw new ConcordError("Closed", "the server is shutting down", { doc });
      return this.#add(room, connection, access);
    }
  }

  /** Loaded rooms, sorted by document. */
  rooms(): RoomInfo[] {
    return [...this.#loaded.values()]
      .map((room) => ({
        doc: room.doc,
        state: room.unloading ? ("unloading" as const) : ("open" as const),
        connections: room.members.size,
        pendingWrites: room.store.status().pendingWrites,
      }))
      .sort((a, b) => (a.doc < b.doc ? -1 : a.doc > b.doc ? 1 : 0));
  }

  /** Documents whose last open failed for their storage (`Io`) or data (`Corrupt`), oldest first. */
  failures(): FailedDocument[] {
    return [...this.#failed.values()];
  }

  /** Rooms whose store is open, unloading ones included. */
  get loaded(): number {
    return this.#loaded.size;
  }

  /**
   * Refuses new joins, waits for opens in progress, then unloads every room (closing its store,
   * which flushes its storage). Connections still in a room are closed with 1001; the server closes
   * them before calling this. Rejects with the first store that failed to close, after trying all.
   * Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const opened = await Promise.allSettled([...this.#slots.values()]);
      const rooms = opened.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      await Promise.all(rooms.map((room) => this.#unload(room, "shutdown")));
      const failed = rooms.find((room) => room.unloadError !== undefined);
      if (failed) throw failed.unloadError;
    })();
    return this.#closing;
  }

  #open(doc: string): Promise<Room> {
    const { log, metrics, clock, maxMessageBytes } = this.#options;
    let room: Room | undefined;
    const transport = new RoomTransport(SERVER_PEER, {
      sent: (bytes) => metrics.sent(bytes),
      closed: () => {
        if (room) this.#onStoreStopped(room);
      },
    });
    const started = clock.now();
    log.debug("room.opening", { doc });
    const slot = openStore({
      mode: "eventual",
      doc,
      persistence: this.#persistence,
      replicaId: "server",
      clock,
      onError: (error) => this.#onStoreError(doc, room, error),
      sync: {
        transport,
        // A WebSocket loses nothing while it is up and every (re)connection starts with a step-1
        // exchange, so periodic anti-entropy would only cost bandwidth (stock servers don't do it).
        resyncEveryTicks: 0,
        maxMessageBytes,
        // Acks only peers that greet us (Concord clients); stock clients never see an extension.
        acks: "reply",
        // Forward before fsync; acks still wait for it (see `eventual/sync-driver.ts`).
        forward: "at-once",
      },
    }).then((store) => {
      const opened = new Room(doc, store, transport);
      room = opened;
      opened.detach = this.#options.linker?.attach({ doc, transport, applyStored: (update) => store.applyStored(update) });
      this.#loaded.set(doc, opened);
      this.#failed.delete(doc);
      const { onChange, onLoad } = this.#options.hooks ?? {};
      if (onChange !== undefined) {
        store.subscribeDurable(({ update, origin }) => {
          if (origin !== "local") this.#runHook("onChange", doc, () => onChange({ doc, update, connection: origin.peer }));
        });
      }
      if (onLoad !== undefined) this.#runHook("onLoad", doc, () => onLoad(doc));
      log.info("room.opened", { doc, ms: Math.round(clock.now() - started) });
      // Its first connection joins right after; if none does (it left meanwhile), it unloads later.
      this.#armIdle(opened);
      return opened;
    });
    slot.catch((error: unknown) => {
      if (this.#slots.get(doc) === slot) this.#slots.delete(doc);
      log.error("room.open_failed", { doc, error });
      const code = isConcordError(error, "Io") ? "Io" : isConcordError(error, "Corrupt") ? "Corrupt" : undefined;
      if (code !== undefined) {
        this.#failed.delete(doc);
        this.#failed.set(doc, { doc, code, message: (error as Error).message });
        if (this.#failed.size > MAX_FAILED_DOCUMENTS) this.#failed.delete(this.#failed.keys().next().value!);
      }
    });
    return slot;
  }

  #add(room: Room, connection: ClientConnection, access: Access): RoomMember {
    room.idleTimer?.();
    room.idleTimer = undefined;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      room.members.delete(connection.peer);
      room.transport.disconnect(connection.peer);
      if (room.members.size === 0) this.#armIdle(room);
    };
    room.members.set(connection.peer, { connection, leave });
    room.transport.connect(connection);
    // Frames pass the gate BEFORE the store: what it refuses never reaches the document.
    const gate = new WriteGate(access, this.#options.maxDocBytes, {
      doc: room.store.ydoc,
      docBytes: () => {
        const { snapshotBytes, recordBytes } = room.store.status().storage;
        return snapshotBytes + recordBytes;
      },
    });
    return {
      doc: room.doc,
      receive: (bytes) => {
        if (left) return;
        const verdict = gate.check(bytes);
        switch (verdict.kind) {
          case "deliver":
            room.transport.deliver(connection.peer, bytes);
            return;
          case "drop":
            return;
          case "read-only":
            connection.denyWrite("this connection is read-only: the change was refused and not applied");
            return;
          case "doc-too-large":
            connection.refuse(
              "doc_too_large",
              new ConcordError(
                "TooLarge",
                `the change (${verdict.updateBytes} bytes) would take the document past ${this.#options.maxDocBytes} bytes (it holds about ${verdict.docBytes})`,
                { doc: room.doc, ...verdict },
              ),
            );
            return;
          case "malformed":
            connection.refuse("protocol", new ConcordError("Protocol", verdict.message, { doc: room.doc }));
            return;
          default:
            assertNever(verdict, "gate verdict");
        }
      },
      leave,
    };
  }

  #armIdle(room: Room): void {
    if (room.unloading || this.#closing || room.members.size > 0) return;
    room.idleTimer?.();
    room.idleTimer = this.#options.clock.setTimer(this.#options.idleUnloadMs, () => {
      room.idleTimer = undefined;
      if (room.members.size === 0) void this.#unload(room, "idle");
    });
  }

  /** Closes the room's store (flushing its storage), then forgets the room. Never rejects. */
  #unload(room: Room, why: "idle" | "shutdown" | "stopped"): Promise<void> {
    room.unloading ??= (async () => {
      const { log } = this.#options;
      room.idleTimer?.();
      room.idleTimer = undefined;
      log.info("room.unloading", { doc: room.doc, why });
      room.detach?.();
      try {
        await room.store.close();
        log.info("room.unloaded", { doc: room.doc, why });
        const onUnload = this.#options.hooks?.onUnload;
        if (onUnload !== undefined) this.#runHook("onUnload", room.doc, () => onUnload(room.doc));
      } catch (error) {
        room.unloadError = error;
        log.error("room.unload_failed", { doc: room.doc, why, error });
      } finally {
        if (this.#loaded.get(room.doc) === room) {
          this.#loaded.delete(room.doc);
          this.#slots.delete(room.doc);
        }
      }
    })();
    return room.unloading;
  }

  /** Runs an app's hook detached: a throw or a rejection is logged, and nothing waits for it. */
  #runHook(hook: keyof RoomHooks, doc: string, call: () => unknown): void {
    const failed = (error: unknown): void => this.#options.log.error("hook.failed", { hook, doc, error });
    try {
      const result = call();
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /**
   * The store reported a failure nobody awaits. A message it refused (the error names the peer)
   * closes that connection and only it; anything else is logged.
   */
  #onStoreError(doc: string, room: Room | undefined, error: unknown): void {
    const peer = isConcordError(error) ? error.details["peer"] : undefined;
    const member = room !== undefined && typeof peer === "string" ? room.members.get(asPeerId(peer)) : undefined;
    if (member !== undefined && isConcordError(error)) {
      switch (error.code) {
        case "Protocol":
        case "Unauthorized": // a client has no business denying the server anything
          member.connection.refuse("protocol", error);
          return;
        case "TooLarge":
          member.connection.refuse("too_large", error);
          return;
        default:
          break;
      }
    }
    this.#options.log.error("doc.error", { doc, error });
  }

  /**
   * The store closed its transport. When the room is not unloading, the store stopped by itself
   * (its storage failed): drop the connections so clients reconnect, and unload so that they find
   * the document reopened from what is durable.
   */
  #onStoreStopped(room: Room): void {
    const shuttingDown = this.#closing !== undefined;
    for (const { connection } of [...room.members.values()]) {
      connection.close(
        shuttingDown ? CloseCode.goingAway : CloseCode.internalError,
        shuttingDown ? "server shutting down" : "document stopped; reconnect",
      );
    }
    if (room.unloading) return;
    this.#options.log.error("room.stopped", { doc: room.doc, failure: room.store.status().failure });
    // Not from inside the store's own stop: let it finish first.
    queueMicrotask(() => void this.#unload(room, "stopped"));
  }
}

/** `persistence`, calling `persisted` once for every append that became durable. */
function countingPersistence(persistence: Persistence, clock: Clock, persisted: (seconds: number) => void): Persistence {
  return {
    name: persistence.name,
    async open(doc) {
      const storage = await persistence.open(asDocId(doc));
      const counted: DocStorage = {
        get maxRecordBytes() {
          return storage.maxRecordBytes;
        },
        load: () => storage.load(),
        append(record) {
          const started = clock.now();
          const durable = storage.append(record);
          durable.then(
            () => persisted((clock.now() - started) / 1000),
            () => undefined, // the store reports failures
          );
          return durable;
        },
        compact: (snapshot) => storage.compact(snapshot),
        shouldCompact: () => storage.shouldCompact(),
        stats: () => storage.stats(),
        flush: () => storage.flush(),
        close: () => storage.close(),
      };
      return counted;
    },
  };
}
