/**
 * The {@link Transport} of one room: its peers are the client connections of that room. The room's
 * `EventualStore` (replica id `server`) syncs over it exactly as any replica syncs over any
 * transport, so the server reuses the store's whole sync path: the y-websocket protocol, updates
 * forwarded at once and acknowledged once durable, presence removed when a connection goes `down`,
 * typed protocol errors.
 *
 * The room (not the store) decides who connects: it calls {@link RoomTransport.connect} when a
 * client joins, {@link RoomTransport.deliver} for each of its binary frames, and
 * {@link RoomTransport.disconnect} when its socket closed. No socket code here: a connection is
 * anything that can send a frame, so the transport is testable without sockets.
 */
import { invariant } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Transport, TransportEvents } from "../net/transport.js";

/** One client connection, as the transport needs it. */
export interface RoomConnection {
  /** Unique for the life of the server (a closed connection's id is never reused). */
  readonly peer: PeerId;
  /** Sends one binary frame, best-effort (dropped once the socket is closing). MUST NOT throw. */
  send(bytes: Uint8Array): void;
}

/** What the transport tells its room. Both MUST NOT throw. */
export interface RoomTransportHooks {
  /** A frame of `bytes` bytes was handed to a connection (for metrics). */
  sent(bytes: number): void;
  /**
   * The store closed the transport: on `close()` (the room unloads or the server stops), or by
   * itself when its storage failed (fail-stop). The room should then drop its connections.
   */
  closed(): void;
}

/**
 * A transport whose peers are a room's connections. A peer is up from `connect` until `disconnect`
 * (or `close`); events are delivered synchronously, in the order the room calls these methods,
 * which keeps each connection's messages in order (the store's acks rely on it).
 */
export class RoomTransport implements Transport {
  readonly self: PeerId;
  readonly #hooks: RoomTransportHooks;
  readonly #connections = new Map<PeerId, RoomConnection>();
  #events: TransportEvents | undefined;
  #closed = false;

  constructor(self: PeerId, hooks: RoomTransportHooks) {
    this.self = self;
    this.#hooks = hooks;
  }

  /** Installs the store's handlers and announces connections already there. */
  listen(events: TransportEvents): void {
    invariant(this.#events === undefined, "RoomTransport: listen called twice");
    if (this.#closed) return;
    this.#events = events;
    for (const peer of this.#connections.keys()) events.up(peer);
  }

  send(to: PeerId, bytes: Uint8Array): void {
    if (this.#closed) return;
    const connection = this.#connections.get(to);
    if (connection === undefined) return;
    connection.send(bytes);
    this.#hooks.sent(bytes.length);
  }

  peers(): readonly PeerId[] {
    return [...this.#connections.keys()];
  }

  /** Called by the store (it owns the transport). Forgets every connection; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connections.clear();
    this.#events = undefined;
    this.#hooks.closed();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** A client joined: it becomes an up peer (the store greets it with sync step 1 and presence). */
  connect(connection: RoomConnection): void {
    if (this.#closed) return;
    invariant(!this.#connections.has(connection.peer), `RoomTransport: connection ${connection.peer} connected twice`);
    this.#connections.set(connection.peer, connection);
    this.#events?.up(connection.peer);
  }

  /** One binary frame from `peer`; dropped unless `peer` is connected. */
  deliver(peer: PeerId, bytes: Uint8Array): void {
    if (this.#closed || !this.#connections.has(peer)) return;
    this.#events?.message(peer, bytes);
  }

  /** `peer`'s socket closed: it goes down (the store removes the presence it brought). Idempotent. */
  disconnect(peer: PeerId): void {
    if (this.#closed || !this.#connections.delete(peer)) return;
    this.#events?.down(peer);
  }
}
