/**
 * The in-memory twin of the transport port (STYLE.md section 3): reliable, in order, no timers, for
 * unit tests and benchmarks. For faults and virtual time use `sim/sim-network.ts`.
 */
import { invariant } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Transport, TransportEvents } from "./transport.js";

/** One joined transport (one incarnation of a peer id). */
interface Member {
  readonly id: PeerId;
  events: TransportEvents | undefined;
  closed: boolean;
  /** Peers this member was told are `up`, with the incarnation that was announced. */
  readonly announced: Map<PeerId, Member>;
}

/**
 * A reliable in-process network; {@link join} gives each peer its {@link Transport}.
 *
 * Contracts (beyond the port's):
 * - Every message between two live, listening peers is delivered exactly once, on a later
 *   microtask, in send order per sender-receiver pair (all messages share one FIFO microtask
 *   queue). Bytes are copied at send. A message is dropped if the sender or receiver has left by
 *   delivery time, even if the same id has joined again.
 * - `up`/`down` notices come on a microtask after the change (join, leave, `listen`); a peer is up
 *   for you from your `up` until your `down`, and sends to any other peer are dropped.
 * - An id may join again after its transport was closed; joining a live id is a bug
 *   (InvariantError).
 */
export class MemoryNetwork {
  /** Live members in join order. */
  readonly #members = new Map<PeerId, Member>();
  #reconcileQueued = false;

  /** Adds a peer; every live peer and this one see each other `up` (after `listen`). */
  join(id: PeerId): Transport {
    invariant(!this.#members.has(id), `MemoryNetwork.join: peer ${id} already joined; close its transport first`);
    const member: Member = { id, events: undefined, closed: false, announced: new Map() };
    this.#members.set(id, member);
    this.#queueReconcile();
    return {
      self: id,
      listen: (events) => {
        invariant(member.events === undefined, `transport of ${id}: listen called twice`);
        if (member.closed) return;
        member.events = events;
        this.#queueReconcile();
      },
      send: (to, bytes) => {
        const receiver = member.closed ? undefined : member.announced.get(to);
        if (receiver === undefined) return;
        const payload = bytes.slice();
        queueMicrotask(() => {
          if (member.closed || receiver.closed) return;
          receiver.events?.message(member.id, payload);
        });
      },
      peers: () => [...member.announced.keys()],
      close: () => {
        if (member.closed) return;
        member.closed = true;
        member.announced.clear();
        this.#members.delete(id);
        this.#queueReconcile();
      },
    };
  }

  #queueReconcile(): void {
    if (this.#reconcileQueued) return;
    this.#reconcileQueued = true;
    queueMicrotask(() => this.#reconcile());
  }

  /** `down` for announced peers that left (before `up` for a rejoin), then `up` for new ones. */
  #reconcile(): void {
    this.#reconcileQueued = false;
    for (const member of [...this.#members.values()]) {
      for (const [peer, announced] of [...member.announced]) {
        if (member.closed || member.events === undefined) break;
        if (!announced.closed) continue;
        member.announced.delete(peer);
        member.events.down(peer);
      }
      for (const other of [...this.#members.values()]) {
        if (member.closed || member.events === undefined) break;
        // A connection exists once both ends listen: an `up` for a peer that can't hear yet would
        // let the first messages fall into the void.
        if (other === member || other.closed || other.events === undefined || member.announced.has(other.id)) continue;
        member.announced.set(other.id, other);
        member.events.up(other.id);
      }
    }
  }
}
