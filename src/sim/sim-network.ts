/**
 * The simulated network (DESIGN.md section 4): a deterministic, faulty datagram network behind the
 * {@link Transport} port. Loss, duplication, long-tailed delay (hence reordering), partitions
 * (including one-way cuts) and reconnects all come from one injected {@link Rng} and one
 * {@link Clock}, so a seed replays a run exactly.
 */
import type { Clock } from "../clock.js";
import { ConcordError, invariant } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Transport, TransportEvents } from "../net/transport.js";
import type { Rng } from "../rng.js";

/**
 * One-way delay of a message copy, in ms. Log-normal with median `medianMs` and 99th percentile
 * `tailMs`, clamped to [`minMs`, `maxMs`] (so about 1% of copies land between `tailMs` and
 * `maxMs`, some exactly at `maxMs`). Requires 0 <= minMs <= medianMs <= tailMs <= maxMs.
 * `medianMs === tailMs` gives a constant delay; `medianMs === 0` gives 0 (then `minMs` is 0 too).
 */
export interface DelayDistribution {
  readonly minMs: number;
  readonly medianMs: number;
  readonly tailMs: number;
  readonly maxMs: number;
}

/** What the network does to traffic. */
export interface NetworkFaults {
  /** Probability in [0, 1] that a message is lost (decided once per send, before duplication). */
  readonly loss: number;
  /** Probability in [0, 1] that a message that was not lost is delivered twice. */
  readonly duplicate: number;
  /** Delay of every copy, drawn independently (which is what reorders messages). */
  readonly delay: DelayDistribution;
  /**
   * false (default): partitions are silent, like a stalled TCP connection: messages are dropped,
   * nobody sees `down`. true: a link cut in either direction is a closed connection: both sides
   * see `down`, and after heal both see `up` again on a new connection (in-flight messages of the
   * old one are dropped), like a reconnecting client.
   */
  readonly disconnectOnPartition: boolean;
}

/** No loss, no duplication, delay 1..5 ms (median 2, p99 4), silent partitions. */
export const RELIABLE_NETWORK: NetworkFaults = {
  loss: 0,
  duplicate: 0,
  delay: { minMs: 1, medianMs: 2, tailMs: 4, maxMs: 5 },
  disconnectOnPartition: false,
};

/** Why a message copy was not delivered. */
export type DropReason =
  /** The sender's transport was closed (before sending, or before delivery: it left). */
  | "closed"
  /** The sender had no `up` for the destination (unknown, not yet announced, or already down). */
  | "not-up"
  /** Random loss. */
  | "loss"
  /** The directed link was blocked by partition/cut/isolate at send or at delivery time. */
  | "partition"
  /** The connection it was sent on is gone: the receiver left (or restarted), or it reconnected. */
  | "disconnected"
  /** The receiver never called `listen`. */
  | "not-listening";

/**
 * One thing that happened, reported synchronously through `onEvent`. `at` is `clock.now()` in ms;
 * `msg` numbers sends from 1 in send order; `copy` is 0 for the original, 1 for the duplicate.
 */
export type NetworkEvent =
  | { readonly kind: "join"; readonly at: number; readonly peer: PeerId }
  | { readonly kind: "leave"; readonly at: number; readonly peer: PeerId }
  | { readonly kind: "up"; readonly at: number; readonly peer: PeerId; readonly remote: PeerId }
  | { readonly kind: "down"; readonly at: number; readonly peer: PeerId; readonly remote: PeerId }
  | { readonly kind: "send"; readonly at: number; readonly msg: number; readonly from: PeerId; readonly to: PeerId; readonly size: number }
  | { readonly kind: "duplicate"; readonly at: number; readonly msg: number }
  | {
      readonly kind: "deliver";
      readonly at: number;
      readonly msg: number;
      readonly copy: number;
      readonly from: PeerId;
      readonly to: PeerId;
    }
  | {
      readonly kind: "drop";
      readonly at: number;
      readonly msg: number;
      readonly copy: number;
      readonly from: PeerId;
      readonly to: PeerId;
      readonly reason: DropReason;
    }
  | { readonly kind: "links"; readonly at: number; readonly change: LinkChange }
  | { readonly kind: "faults"; readonly at: number; readonly faults: NetworkFaults };

/** A change of reachability, as reported in the trace. */
export type LinkChange =
  | { readonly op: "partition"; readonly groups: readonly (readonly PeerId[])[] }
  | { readonly op: "cut"; readonly from: PeerId; readonly to: PeerId }
  | { readonly op: "isolate"; readonly peer: PeerId }
  | { readonly op: "heal" };

/**
 * Counters since construction, in message copies. Always:
 * `sent + duplicated === delivered + dropped + inFlight()`.
 */
export interface NetworkStats {
  /** `send` calls, including ones dropped at once. */
  readonly sent: number;
  readonly delivered: number;
  readonly dropped: number;
  /** Extra copies created by duplication. */
  readonly duplicated: number;
}

/** Options of a {@link SimNetwork}. */
export interface SimNetworkOptions {
  /** Drives every delivery and up/down notice (a `VirtualClock` in simulations). */
  readonly clock: Clock;
  /** The only source of randomness; the network draws from it in send order. */
  readonly rng: Rng;
  /** Overrides of {@link RELIABLE_NETWORK}. */
  readonly faults?: Partial<NetworkFaults>;
  /** Called synchronously for every {@link NetworkEvent}; MUST NOT throw. */
  readonly onEvent?: (event: NetworkEvent) => void;
}

/** One joined transport (one incarnation of a peer id). */
interface Member {
  readonly id: PeerId;
  readonly incarnation: number;
  events: TransportEvents | undefined;
  closed: boolean;
  /** Peers this member was told are `up`, with the connection they were announced on. */
  readonly announced: Map<PeerId, Connection>;
}

/** A connection between two members; replaced on reconnect, removed on leave. */
interface Connection {
  readonly a: Member;
  readonly b: Member;
}

const Z_99 = 2.3263478740408408; // standard normal 99th percentile

/**
 * Draws one delay in ms from `delay` (see {@link DelayDistribution}). Always consumes exactly two
 * values from `rng`.
 */
export function sampleDelay(rng: Rng, delay: DelayDistribution): number {
  const u1 = 1 - rng.next(); // (0, 1]: log stays finite
  const u2 = rng.next();
  if (delay.medianMs === 0) return 0;
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  const sigma = Math.log(delay.tailMs / delay.medianMs) / Z_99;
  return Math.min(delay.maxMs, Math.max(delay.minMs, delay.medianMs * Math.exp(sigma * z)));
}

/**
 * A deterministic faulty network; {@link join} gives each peer its {@link Transport}.
 *
 * Contracts (beyond the port's):
 * - `up`/`down` notices are never synchronous: they fire from a clock timer at delay 0 scheduled
 *   by the change (join, leave, `listen`, a link change with `disconnectOnPartition`). A peer is up
 *   for you from your `up` until your `down`; sends to any other peer are dropped (`not-up`).
 * - Each send independently: dropped if the link is blocked, else lost with `loss`, else
 *   duplicated with `duplicate`; each copy gets its own delay, so copies and messages reorder. A
 *   copy is also dropped at delivery if the sender or receiver left, the connection was replaced,
 *   or the link is blocked at that moment. Bytes are copied at send; each copy is its own buffer.
 * - Reachability is by peer id and survives restarts: `partition` replaces the previous groups;
 *   `cut` and `isolate` add to them; `heal` clears all three.
 * - Same options, same seed, same calls in the same order: the same events at the same times.
 */
export class SimNetwork {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #onEvent: ((event: NetworkEvent) => void) | undefined;
  #faults: NetworkFaults;
  /** Live members in join order (a rejoin goes last). */
  readonly #members = new Map<PeerId, Member>();
  readonly #connections = new Set<Connection>();
  /** Partition groups by peer; undefined when no partition. Unlisted peers share group -1. */
  #groups: Map<PeerId, number> | undefined;
  /** Directed cuts, keyed by {@link linkKey}. */
  readonly #cuts = new Set<string>();
  readonly #isolated = new Set<PeerId>();
  #nextIncarnation = 0;
  #nextMsg = 0;
  #inFlight = 0;
  #reconcileScheduled = false;
  #stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  constructor(options: SimNetworkOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#onEvent = options.onEvent;
    this.#faults = validFaults({ ...RELIABLE_NETWORK, ...options.faults });
  }

  /**
   * Adds a peer and returns its transport. Every other live peer and this one see each other `up`
   * (after `listen`, asynchronously). An id may join again after its transport was closed (a
   * restart); joining an id that is live is a bug (InvariantError).
   */
  join(id: PeerId): Transport {
    invariant(!this.#members.has(id), `SimNetwork.join: peer ${id} already joined; close its transport first`);
    const member: Member = { id, incarnation: this.#nextIncarnation++, events: undefined, closed: false, announced: new Map() };
    this.#members.set(id, member);
    this.#emit({ kind: "join", at: this.#clock.now(), peer: id });
    this.#syncConnections();
    return {
      self: id,
      listen: (events) => {
        invariant(member.events === undefined, `transport of ${id}: listen called twice`);
        if (member.closed) return;
        member.events = events;
        this.#scheduleReconcile();
      },
      send: (to, bytes) => this.#send(member, to, bytes),
      peers: () => [...member.announced.keys()],
      close: () => this.#leave(member),
    };
  }

  /**
   * Splits the network: peers in different groups can't reach each other, in either direction.
   * Peers not listed (including ones that join later) form one more group together. Replaces the
   * previous partition; a peer listed twice is an InvalidArgument error.
   */
  partition(groups: readonly (readonly PeerId[])[]): void {
    const byPeer = new Map<PeerId, number>();
    groups.forEach((group, index) => {
      for (const peer of group) {
        if (byPeer.has(peer)) throw new ConcordError("InvalidArgument", `SimNetwork.partition: peer ${peer} is in two groups`, { peer });
        byPeer.set(peer, index);
      }
    });
    this.#groups = byPeer;
    this.#linksChanged({ op: "partition", groups: groups.map((g) => [...g]) });
  }

  /** Blocks messages from `from` to `to` only (an asymmetric fault); `to` → `from` still works. */
  cut(from: PeerId, to: PeerId): void {
    this.#cuts.add(linkKey(from, to));
    this.#linksChanged({ op: "cut", from, to });
  }

  /** Blocks every link to and from `peer`, including to peers that join later. */
  isolate(peer: PeerId): void {
    this.#isolated.add(peer);
    this.#linksChanged({ op: "isolate", peer });
  }

  /** Removes every partition, cut and isolation. */
  heal(): void {
    this.#groups = undefined;
    this.#cuts.clear();
    this.#isolated.clear();
    this.#linksChanged({ op: "heal" });
  }

  /** Whether messages can currently go from `from` to `to` (link faults only, not membership). */
  canReach(from: PeerId, to: PeerId): boolean {
    if (this.#isolated.has(from) || this.#isolated.has(to)) return false;
    if (this.#cuts.size > 0 && this.#cuts.has(linkKey(from, to))) return false;
    if (this.#groups === undefined) return true;
    return (this.#groups.get(from) ?? -1) === (this.#groups.get(to) ?? -1);
  }

  /** Changes faults from now on; copies already in flight keep their delay. */
  setFaults(faults: Partial<NetworkFaults>): void {
    this.#faults = validFaults({ ...this.#faults, ...faults });
    this.#emit({ kind: "faults", at: this.#clock.now(), faults: this.#faults });
    this.#syncConnections();
  }

  /** The faults in force. */
  faults(): NetworkFaults {
    return this.#faults;
  }

  /** Copies scheduled for delivery and not yet delivered or dropped (some will be dropped). */
  inFlight(): number {
    return this.#inFlight;
  }

  /** See {@link NetworkStats}. */
  stats(): NetworkStats {
    return { ...this.#stats };
  }

  #send(from: Member, to: PeerId, bytes: Uint8Array): void {
    const msg = ++this.#nextMsg;
    this.#stats.sent++;
    this.#emit({ kind: "send", at: this.#clock.now(), msg, from: from.id, to, size: bytes.byteLength });
    if (from.closed) return this.#drop(msg, 0, from.id, to, "closed");
    const connection = from.announced.get(to);
    if (connection === undefined) return this.#drop(msg, 0, from.id, to, "not-up");
    const refused = this.#undeliverable(from, to, connection);
    if (refused !== undefined) return this.#drop(msg, 0, from.id, to, refused);
    if (this.#rng.chance(this.#faults.loss)) return this.#drop(msg, 0, from.id, to, "loss");
    const copies = [bytes.slice()];
    if (this.#rng.chance(this.#faults.duplicate)) {
      copies.push(bytes.slice());
      this.#stats.duplicated++;
      this.#emit({ kind: "duplicate", at: this.#clock.now(), msg });
    }
    copies.forEach((payload, copy) => {
      this.#inFlight++;
      this.#clock.setTimer(sampleDelay(this.#rng, this.#faults.delay), () => {
        this.#inFlight--;
        this.#deliver(msg, copy, from, connection, payload);
      });
    });
  }

  #deliver(msg: number, copy: number, from: Member, connection: Connection, payload: Uint8Array): void {
    const receiver = connection.a === from ? connection.b : connection.a;
    const reason = this.#undeliverable(from, receiver.id, connection);
    if (reason !== undefined) return this.#drop(msg, copy, from.id, receiver.id, reason);
    if (receiver.events === undefined) return this.#drop(msg, copy, from.id, receiver.id, "not-listening");
    this.#stats.delivered++;
    this.#emit({ kind: "deliver", at: this.#clock.now(), msg, copy, from: from.id, to: receiver.id });
    receiver.events.message(from.id, payload);
  }

  /** Why a copy on `connection` can't go from `from` to `to` right now, if it can't. */
  #undeliverable(from: Member, to: PeerId, connection: Connection): DropReason | undefined {
    if (from.closed) return "closed";
    if (!this.#connections.has(connection)) return "disconnected";
    if (!this.canReach(from.id, to)) return "partition";
    return undefined;
  }

  #drop(msg: number, copy: number, from: PeerId, to: PeerId, reason: DropReason): void {
    this.#stats.dropped++;
    this.#emit({ kind: "drop", at: this.#clock.now(), msg, copy, from, to, reason });
  }

  #leave(member: Member): void {
    if (member.closed) return;
    member.closed = true;
    member.announced.clear();
    this.#members.delete(member.id);
    for (const connection of this.#connections) {
      if (connection.a === member || connection.b === member) this.#connections.delete(connection);
    }
    this.#emit({ kind: "leave", at: this.#clock.now(), peer: member.id });
    this.#scheduleReconcile();
  }

  #linksChanged(change: LinkChange): void {
    this.#emit({ kind: "links", at: this.#clock.now(), change });
    this.#syncConnections();
  }

  /**
   * Makes `#connections` match who should be connected now: every pair of live members, except,
   * with `disconnectOnPartition`, pairs with a blocked link in either direction.
   */
  #syncConnections(): void {
    const members = [...this.#members.values()];
    const current = new Map<string, Connection>();
    for (const c of this.#connections) current.set(pairKey(c.a, c.b), c);
    let changed = false;
    members.forEach((a, i) => {
      for (const b of members.slice(i + 1)) {
        const wanted = !this.#faults.disconnectOnPartition || (this.canReach(a.id, b.id) && this.canReach(b.id, a.id));
        const existing = current.get(pairKey(a, b));
        if (wanted && existing === undefined) this.#connections.add({ a, b });
        if (!wanted && existing !== undefined) this.#connections.delete(existing);
        changed ||= wanted !== (existing !== undefined);
      }
    });
    if (changed) this.#scheduleReconcile();
  }

  #scheduleReconcile(): void {
    if (this.#reconcileScheduled) return;
    this.#reconcileScheduled = true;
    this.#clock.setTimer(0, () => this.#reconcile());
  }

  /**
   * Tells every listening member what changed since its last notice: `down` for peers whose
   * connection is gone (before `up` for their replacement), then `up` for new connections. Re-reads
   * state before every notice because handlers may join, leave or send.
   */
  #reconcile(): void {
    this.#reconcileScheduled = false;
    for (const member of [...this.#members.values()]) {
      for (const [peer, connection] of [...member.announced]) {
        if (member.closed || member.events === undefined) break;
        if (this.#connections.has(connection)) continue;
        member.announced.delete(peer);
        this.#emit({ kind: "down", at: this.#clock.now(), peer: member.id, remote: peer });
        member.events.down(peer);
      }
      for (const connection of [...this.#connections]) {
        if (member.closed || member.events === undefined) break;
        if (connection.a !== member && connection.b !== member) continue;
        const other = connection.a === member ? connection.b : connection.a;
        // A connection is up once both ends listen: an `up` for a peer that can't hear yet would
        // let the first messages fall into the void.
        if (other.events === undefined || member.announced.has(other.id) || !this.#connections.has(connection)) continue;
        member.announced.set(other.id, connection);
        this.#emit({ kind: "up", at: this.#clock.now(), peer: member.id, remote: other.id });
        member.events.up(other.id);
      }
    }
  }

  #emit(event: NetworkEvent): void {
    this.#onEvent?.(event);
  }
}

function linkKey(from: PeerId, to: PeerId): string {
  return JSON.stringify([from, to]);
}

function pairKey(a: Member, b: Member): string {
  return a.incarnation < b.incarnation ? `${a.incarnation}:${b.incarnation}` : `${b.incarnation}:${a.incarnation}`;
}

function validFaults(faults: NetworkFaults): NetworkFaults {
  const { loss, duplicate, delay } = faults;
  const probability = (p: number): boolean => Number.isFinite(p) && p >= 0 && p <= 1;
  if (!probability(loss) || !probability(duplicate)) {
    const message = `network faults: loss and duplicate must be probabilities in [0, 1], got ${loss} and ${duplicate}`;
    throw new ConcordError("InvalidArgument", message, { loss, duplicate });
  }
  const { minMs, medianMs, tailMs, maxMs } = delay;
  const ordered =
    [minMs, medianMs, tailMs, maxMs].every(Number.isFinite) && 0 <= minMs && minMs <= medianMs && medianMs <= tailMs && tailMs <= maxMs;
  if (!ordered) {
    const message = `network faults: delay needs finite 0 <= minMs <= medianMs <= tailMs <= maxMs, got ${JSON.stringify(delay)}`;
    throw new ConcordError("InvalidArgument", message, { ...delay });
  }
  return { ...faults, delay: { minMs, medianMs, tailMs, maxMs } };
}
