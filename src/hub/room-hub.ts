/**
 * Joins each room of a scaled-out `concord serve` instance to the other instances:
 *
 * - updates: the room's storage appends every update its clients send to the document's shared
 *   log (`shared-persistence.ts`); the hub follows the log from where the room loaded and applies
 *   the other instances' entries to the room's store as already stored, which forwards them to the
 *   room's clients. Only durable entries are followed, so an instance never holds, forwards or
 *   acknowledges anything of another instance's that the log could lose.
 * - presence: the room's store sees one peer `hub` that stands for every other instance (what the
 *   store sends it, the presence of this instance's clients, is published on the bus) and one peer
 *   `hub:<instance>` per other instance (what that instance's clients publish arrives from it). An
 *   instance whose heartbeat lapses, or that says goodbye, goes down in every room: the store
 *   removes its clients' presence and tells this instance's clients, as for a closed connection.
 */
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { asDocId, asPeerId, type DocId, type PeerId } from "../ids.js";
import { decodeMessage, encodeMessage } from "../eventual/sync/protocol.js";
import type { LinkedRoom, RoomLinker, SharedHealth } from "../server/scale-out.js";
import type { PresenceBus, PresenceMessage } from "./presence-bus.js";
import type { SharedLog } from "./shared-log.js";
import type { SharedPersistence } from "./shared-persistence.js";
import type { SnapshotStore } from "./snapshot-store.js";

/** The peer that stands for every other instance in a room's store. */
export const HUB_PEER: PeerId = asPeerId("hub");
const remotePeer = (instance: string): PeerId => asPeerId(`hub:${instance}`);

export interface RoomHubOptions {
  readonly instance: string;
  readonly log: SharedLog;
  readonly snapshots: SnapshotStore;
  readonly bus: PresenceBus;
  readonly persistence: SharedPersistence;
  readonly clock: Clock;
  /** Heartbeat period, ms (default 1,000); an instance silent for 3 periods is taken for dead. */
  readonly heartbeatMs?: number;
  /** A failure nobody awaits (a corrupt entry, a lost follow). MUST NOT throw. */
  readonly report: (event: string, fields: Record<string, unknown>) => void;
}

interface Remote {
  readonly peer: PeerId;
  /** Awareness client ids its clients brought (never republished as ours). */
  readonly clients: Set<number>;
}

interface Linked {
  readonly room: LinkedRoom;
  readonly remotes: Map<string, Remote>;
  readonly unfollow: () => void;
}

export class RoomHub implements RoomLinker {
  readonly #o: RoomHubOptions;
  readonly #heartbeatMs: number;
  readonly #docs = new Map<DocId, Linked>();
  readonly #lastSeen = new Map<string, number>();
  #health: { log: { up: boolean; error?: string }; snapshots: { up: boolean; error?: string } } = { log: { up: true }, snapshots: { up: true } };
  #timer: CancelTimer | undefined;
  #closed = false;

  constructor(options: RoomHubOptions) {
    this.#o = options;
    this.#heartbeatMs = options.heartbeatMs ?? 1_000;
    options.bus.listen({
      message: (doc, m) => this.#hear(doc, m),
      instance: (origin, alive) => {
        if (origin === this.#o.instance) return;
        if (alive) this.#lastSeen.set(origin, this.#o.clock.now());
        else this.#drop(origin);
      },
    });
    options.bus.announce(options.instance, true);
    this.#arm();
    void this.#check();
  }

  attach(room: LinkedRoom): () => void {
    const doc = asDocId(room.doc);
    const storage = this.#o.persistence.storageOf(doc);
    const linked: Linked = {
      room,
      remotes: new Map(),
      unfollow: this.#o.log.follow(doc, storage?.position ?? null, {
        entries: (entries) => {
          for (const e of entries) {
            if (e.origin === this.#o.instance) continue;
            try {
              room.applyStored(e.update);
            } catch (error) {
              this.#o.report("hub.entry_refused", { doc, id: e.id, origin: e.origin, error });
            }
          }
          this.#o.persistence.storageOf(doc)?.absorb(entries);
        },
        error: (error) => this.#o.report("hub.follow_failed", { doc, error }),
        gap: () => void this.#catchUp(doc, room),
      }),
    };
    this.#docs.set(doc, linked);
    this.#o.bus.watch(doc);
    room.transport.connect({ peer: HUB_PEER, send: (bytes) => this.#publishOurs(linked, bytes) });
    this.#o.bus.publish(doc, { kind: "query", origin: this.#o.instance });
    return () => {
      if (this.#docs.get(doc) !== linked) return;
      this.#docs.delete(doc);
      linked.unfollow();
      this.#o.bus.unwatch(doc);
    };
  }

  /**
   * The room lagged behind a compaction's trim: what the trimmed entries held is in the snapshot.
   * Applying it is a merge (idempotent), so entries that arrive meanwhile need no ordering.
   */
  async #catchUp(doc: DocId, room: LinkedRoom): Promise<void> {
    try {
      const snapshot = await this.#o.snapshots.get(doc);
      if (snapshot === undefined || this.#docs.get(doc)?.room !== room) return;
      room.applyStored(snapshot.update);
      this.#o.report("hub.caught_up", { doc, upTo: snapshot.upTo });
    } catch (error) {
      // The snapshot store is down: try again until it answers (or the room goes).
      this.#o.report("hub.catch_up_failed", { doc, error, action: `retrying in ${this.#heartbeatMs} ms` });
      if (!this.#closed) this.#o.clock.setTimer(this.#heartbeatMs, () => void this.#catchUp(doc, room));
    }
  }

  health(): SharedHealth {
    const now = this.#o.clock.now();
    return {
      instance: this.#o.instance,
      log: { name: this.#o.log.name, ...this.#health.log },
      snapshots: { name: this.#o.snapshots.name, ...this.#health.snapshots },
      instances: [...this.#lastSeen].filter(([, seen]) => now - seen <= 3 * this.#heartbeatMs).map(([i]) => i).sort(),
    };
  }

  /** Says goodbye (other instances drop this one's presence at once) and stops; the engines are the caller's. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.();
    for (const linked of this.#docs.values()) linked.unfollow();
    this.#docs.clear();
    this.#o.bus.announce(this.#o.instance, false);
  }

  /** What the room's store sends the `hub` peer: its clients' presence goes on the bus; the rest travels by the log. */
  #publishOurs(linked: Linked, bytes: Uint8Array): void {
    let m;
    try {
      m = decodeMessage(bytes);
    } catch {
      return;
    }
    if (m.type !== "awareness") return;
    const entries = m.entries.filter((e) => ![...linked.remotes.values()].some((r) => r.clients.has(e.clientId)));
    if (entries.length === 0) return;
    this.#o.bus.publish(asDocId(linked.room.doc), { kind: "awareness", origin: this.#o.instance, bytes: encodeMessage({ type: "awareness", entries }) });
  }

  #hear(doc: DocId, m: PresenceMessage): void {
    if (m.origin === this.#o.instance) return;
    this.#lastSeen.set(m.origin, this.#o.clock.now());
    const linked = this.#docs.get(doc);
    if (linked === undefined) return;
    if (m.kind === "query") {
      // The store answers the `hub` peer with every presence it knows; ours go out on the bus.
      linked.room.transport.deliver(HUB_PEER, encodeMessage({ type: "query-awareness" }));
      return;
    }
    let decoded;
    try {
      decoded = decodeMessage(m.bytes);
    } catch (error) {
      this.#o.report("hub.presence_refused", { doc, origin: m.origin, error });
      return;
    }
    if (decoded.type !== "awareness") return;
    let remote = linked.remotes.get(m.origin);
    if (remote === undefined) {
      remote = { peer: remotePeer(m.origin), clients: new Set() };
      linked.remotes.set(m.origin, remote);
      linked.room.transport.connect({ peer: remote.peer, send: () => undefined });
    }
    for (const e of decoded.entries) remote.clients.add(e.clientId);
    linked.room.transport.deliver(remote.peer, m.bytes);
  }

  /** `origin` is gone: its clients' presence goes in every room. */
  #drop(origin: string): void {
    this.#lastSeen.delete(origin);
    for (const linked of this.#docs.values()) {
      const remote = linked.remotes.get(origin);
      if (remote === undefined) continue;
      linked.remotes.delete(origin);
      linked.room.transport.disconnect(remote.peer);
    }
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimer(this.#heartbeatMs, () => {
      this.#o.bus.announce(this.#o.instance, true);
      const now = this.#o.clock.now();
      for (const [origin, seen] of [...this.#lastSeen]) if (now - seen > 3 * this.#heartbeatMs) this.#drop(origin);
      void this.#check();
      this.#arm();
    });
  }

  async #check(): Promise<void> {
    const probe = async (ping: () => Promise<void>): Promise<{ up: boolean; error?: string }> => {
      try {
        await ping();
        return { up: true };
      } catch (e) {
        return { up: false, error: e instanceof Error ? e.message : String(e) };
      }
    };
    const [log, snapshots] = await Promise.all([probe(() => this.#o.log.ping()), probe(() => this.#o.snapshots.ping())]);
    this.#health = { log, snapshots };
    // An instance that lost either engine acknowledges nothing until both answer again.
    this.#o.persistence.refuseAppends(
      snapshots.up ? undefined : new ConcordError("Unavailable", `${this.#o.snapshots.name} does not answer (${snapshots.error}): updates are refused until it does`),
    );
  }
}
