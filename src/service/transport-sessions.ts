/**
 * The client protocol over any {@link Transport} (the simulator's network, an in-memory one): one
 * {@link ClientSession} per peer that sends this endpoint a frame, each answer sent back to it as
 * one message, the session closed when the peer goes down. What `node-server.ts` does over
 * WebSockets, for the places that have no sockets, so a client and a node run unchanged in the
 * deterministic simulation.
 */
import type { PeerId } from "../ids.js";
import type { Transport } from "../net/transport.js";
import type { ChangeFeed } from "./change-feed.js";
import type { ServedEngine } from "./engine.js";
import { ClientSession, type ClientSessionOptions } from "./node-service.js";
import { encodeResponse } from "./protocol-codec.js";

/** Serves `engine` to the peers of `transport` (see the module comment). Owns the transport: `close` closes it. */
export function serveOverTransport(engine: ServedEngine, feed: ChangeFeed, transport: Transport, options: Omit<ClientSessionOptions, "feed"> = {}): { close(): void } {
  const sessions = new Map<PeerId, ClientSession>();
  const sessionOf = (peer: PeerId): ClientSession => {
    let s = sessions.get(peer);
    if (s === undefined) {
      s = new ClientSession(engine, (r) => transport.send(peer, encodeResponse(r)), { ...options, feed });
      sessions.set(peer, s);
    }
    return s;
  };
  transport.listen({
    message: (from, bytes) => sessionOf(from).handleBytes(bytes),
    up: () => undefined,
    down: (peer) => {
      sessions.get(peer)?.close();
      sessions.delete(peer);
    },
  });
  return {
    close: () => {
      for (const s of sessions.values()) s.close();
      sessions.clear();
      transport.close();
    },
  };
}
