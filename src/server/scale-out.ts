/**
 * The port through which `concord serve` scales out over shared engines (implemented in `hub/`):
 * where documents live (a {@link Persistence} over the shared log and snapshot store), how each room
 * reaches the other instances serving its document, and what `/healthz` says of the engines. The
 * server knows nothing of Redis or PostgreSQL; the CLI composes them.
 */
import type { PeerId } from "../ids.js";
import type { Persistence } from "../storage/storage.js";
import type { RoomConnection } from "./room-transport.js";

/** What a linker does with a room's peers (a `RoomTransport`): adds, feeds and removes its own. */
export interface RoomPeers {
  connect(connection: RoomConnection): void;
  deliver(peer: PeerId, bytes: Uint8Array): void;
  disconnect(peer: PeerId): void;
}

/** A room as scale-out sees it. */
export interface LinkedRoom {
  readonly doc: string;
  /** The room's transport: the linker adds peers of its own that stand for other instances. */
  readonly transport: RoomPeers;
  /** Applies an update already durable in the room's storage (see `EventualStore.applyStored`). */
  applyStored(update: Uint8Array): void;
}

/** Joins each room to other instances serving the same documents. */
export interface RoomLinker {
  /**
   * Called once a room opened, before its first connection joins; the function it returns is
   * called when the room unloads, before its store closes. MUST NOT throw.
   */
  attach(room: LinkedRoom): () => void;
}

/** One shared engine's answer to its last health check. */
export interface EngineHealth {
  readonly name: string;
  readonly up: boolean;
  readonly error?: string;
}

/** What `/healthz` says of scale-out. */
export interface SharedHealth {
  /** This instance's name. */
  readonly instance: string;
  /** The shared log (Redis): down means no update can be acknowledged. */
  readonly log: EngineHealth;
  /** The snapshot store (PostgreSQL): down means documents can't load. */
  readonly snapshots: EngineHealth;
  /** The other instances heard from lately. */
  readonly instances: readonly string[];
}

/** Scale-out, as the server takes it. */
export interface ScaleOut {
  readonly persistence: Persistence;
  readonly linker: RoomLinker;
  health(): SharedHealth;
  /** Called once the rooms closed: says goodbye to the other instances, releases the engines. */
  close(): Promise<void>;
}
