/**
 * Write coalescing for `ws` sockets: the frames sent on one socket during one event-loop turn
 * leave in one write to the TCP socket (one syscall) instead of one each. A server acknowledging a
 * group commit of 64 writes, or a client sending 64 requests, pays one `writev`, not 64; the
 * bytes and their order are unchanged.
 *
 * The first send of a turn corks the underlying `net.Socket`; a `setImmediate` (after every
 * microtask and I/O callback of the turn) uncorks it. Node streams count corks, so `ws`'s own
 * cork around a frame nests inside. Sockets without a corkable transport (browsers, fakes) are
 * left alone.
 */

interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Sockets corked this turn: one `later` uncorks them all. */
const corked = new Set<Corkable>();
let flushQueued = false;

/** The `net.Socket` under a `ws` WebSocket (its `_socket`), when it has one that can be corked. */
function transportOf(ws: unknown): Corkable | null {
  const socket = (ws as { _socket?: Partial<Corkable> | null } | null)?._socket;
  return socket && typeof socket.cork === "function" && typeof socket.uncork === "function" ? (socket as Corkable) : null;
}

const later: (f: () => void) => void = typeof setImmediate === "function" ? (f) => void setImmediate(f) : (f) => void setTimeout(f, 0);

/** Call before each send on `ws`: holds this turn's frames for one write at the end of the turn. */
export function corkForTurn(ws: unknown): void {
  const socket = transportOf(ws);
  if (socket === null || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  if (flushQueued) return;
  flushQueued = true;
  later(() => {
    flushQueued = false;
    flushCorked();
  });
}

/**
 * Writes what this turn's sends hold back NOW, before the turn ends: for a caller about to block
 * the thread (a synchronous fsync) whose frames should travel meanwhile. Later sends of the turn
 * cork again and leave at its end.
 */
export function flushCorked(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}
