/**
 * The transport port: datagrams of bytes between named peers, with peer up/down notices.
 * Implementations: in-memory (`net/memory-network.ts`), simulated (`sim/sim-network.ts`),
 * WebSocket client (`net/websocket-client.ts`) and the server's room transport. Every mode's driver
 * talks through this and nothing else.
 *
 * Guarantees are deliberately weak so that every implementation can meet them: a message may be
 * lost, duplicated, delayed or reordered (the in-memory one does none of that; the simulated one
 * does all of it). Protocols recover through their own acks and resyncs.
 */
import type { PeerId } from "../ids.js";

/** What a transport tells its owner. Called from the transport's delivery loop. */
export interface TransportEvents {
  /** A message from `from`. `bytes` is owned by the receiver. */
  message(from: PeerId, bytes: Uint8Array): void;
  /** `peer` became reachable: a connection opened and both ends listen. Also fired at `listen` for peers already there. */
  up(peer: PeerId): void;
  /** `peer` is no longer reachable (connection closed, peer crashed or left). */
  down(peer: PeerId): void;
}

/** One endpoint's connection to its peers: send bytes to a peer, hear messages and peers coming and going. */
export interface Transport {
  readonly self: PeerId;
  /**
   * Installs the event handlers and joins: peers see this endpoint `up` only from now on, so no
   * message is sent to it before it can hear. Handlers MUST NOT throw: they run inside the
   * transport's delivery loop.
   */
  listen(events: TransportEvents): void;
  /** Sends best-effort. A send to a peer that is down is dropped silently. Never throws. */
  send(to: PeerId, bytes: Uint8Array): void;
  /**
   * Optional: puts on the wire now what earlier sends hold back for coalescing (see `cork.ts`),
   * for a caller about to block its thread, whose messages should travel meanwhile.
   */
  flush?(): void;
  /** Peers currently up. */
  peers(): readonly PeerId[];
  /** Leaves the network: peers see `down`; further sends are dropped. Idempotent. */
  close(): void;
}
