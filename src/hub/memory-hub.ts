/**
 * In-memory twins of the hub's ports (shared log, snapshot store, presence bus), for tests and the
 * simulator: several "instances" in one process share one {@link MemoryHub}. `down()` makes the
 * engines unreachable (calls reject `Unavailable`, followers hear `error`, presence is lost) until
 * `up()`, which is how tests play an outage of Redis or PostgreSQL.
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import type { PresenceBus, PresenceListener, PresenceMessage } from "./presence-bus.js";
import { compareEntryIds, type EntryId, type FollowListener, type LogEntry, type SharedLog } from "./shared-log.js";
import type { Snapshot, SnapshotStore } from "./snapshot-store.js";

interface Follower {
  readonly doc: DocId;
  after: EntryId | null;
  readonly listener: FollowListener;
  failed: boolean;
}

/** Options of a {@link MemoryHub}. */
export interface MemoryHubOptions {
  /** With a clock, an append reaches the log `appendMs` after the call (in call order), as over a network. */
  readonly clock?: Clock;
  readonly appendMs?: number;
  /** With a clock, followers hear of an entry `followMs` after it was appended (so they can lag behind a trim). */
  readonly followMs?: number;
}

/** One deployment's engines, in memory. */
export class MemoryHub {
  readonly #options: MemoryHubOptions;
  readonly #logs = new Map<DocId, LogEntry[]>();
  readonly #snapshots = new Map<DocId, Snapshot>();
  readonly #followers = new Set<Follower>();
  /** Per document, the newest id a trim removed. */
  readonly #maxDeleted = new Map<DocId, EntryId>();
  /** Documents whose followers hear nothing until {@link release} (a lagging instance). */
  readonly #held = new Set<DocId>();
  readonly #buses = new Set<MemoryBus>();
  #seq = 0;
  #reachable = { log: true, snapshots: true };

  constructor(options: MemoryHubOptions = {}) {
    this.#options = options;
  }

  /** The engines stop answering (`which`: the log and bus, the snapshot store, or both). */
  down(which: "log" | "snapshots" | "both" = "both"): void {
    if (which !== "snapshots") this.#reachable.log = false;
    if (which !== "log") this.#reachable.snapshots = false;
    if (!this.#reachable.log) for (const f of this.#followers) this.#fail(f);
  }

  /** The engines answer again; followers resume where they stopped. */
  up(): void {
    this.#reachable = { log: true, snapshots: true };
    for (const f of this.#followers) {
      f.failed = false;
      this.#deliver(f);
    }
  }

  /** Followers of `doc` hear nothing until {@link release}: an instance lagging behind the log. */
  hold(doc: DocId): void {
    this.#held.add(doc);
  }

  /** Ends {@link hold}: held followers get what they missed. */
  release(doc: DocId): void {
    this.#held.delete(doc);
    for (const f of this.#followers) if (f.doc === doc) this.#deliver(f);
  }

  /** Everything `doc`'s log holds now (tests). */
  entries(doc: DocId): readonly LogEntry[] {
    return this.#logs.get(doc) ?? [];
  }

  /** A {@link SharedLog} over this hub. */
  log(): SharedLog {
    return {
      name: "memory",
      append: async (doc, update, origin) => {
        this.#check("log");
        const { clock, appendMs } = this.#options;
        if (clock !== undefined && appendMs !== undefined) await new Promise<void>((resolve) => clock.setTimer(appendMs, resolve));
        const entry: LogEntry = { id: `0-${++this.#seq}` as EntryId, origin, update: update.slice() };
        let log = this.#logs.get(doc);
        if (log === undefined) this.#logs.set(doc, (log = []));
        log.push(entry);
        const { followMs } = this.#options;
        for (const f of this.#followers) {
          if (f.doc !== doc) continue;
          if (clock !== undefined && followMs !== undefined) clock.setTimer(followMs, () => this.#deliver(f));
          else queueMicrotask(() => this.#deliver(f));
        }
        return entry.id;
      },
      range: async (doc, after, count) => {
        this.#check("log");
        return (this.#logs.get(doc) ?? []).filter((e) => compareEntryIds(e.id, after) > 0).slice(0, count);
      },
      follow: (doc, after, listener) => {
        const f: Follower = { doc, after, listener, failed: false };
        this.#followers.add(f);
        queueMicrotask(() => (this.#reachable.log ? this.#deliver(f) : this.#fail(f)));
        return () => void this.#followers.delete(f);
      },
      trim: async (doc, upTo) => {
        this.#check("log");
        const log = this.#logs.get(doc);
        if (log === undefined) return;
        const kept = log.filter((e) => compareEntryIds(e.id, upTo) > 0);
        const removed = log[log.length - kept.length - 1];
        if (removed !== undefined && compareEntryIds(removed.id, this.#maxDeleted.get(doc) ?? null) > 0) this.#maxDeleted.set(doc, removed.id);
        if (kept.length === 0) this.#logs.delete(doc);
        else this.#logs.set(doc, kept);
      },
      documents: async () => {
        this.#check("log");
        return [...this.#logs].map(([doc, log]) => ({ doc, entries: log.length }));
      },
      ping: async () => this.#check("log"),
      close: async () => undefined,
    };
  }

  /** A {@link SnapshotStore} over this hub. */
  snapshots(): SnapshotStore {
    return {
      name: "memory",
      get: async (doc) => {
        this.#check("snapshots");
        return this.#snapshots.get(doc);
      },
      put: async (doc, snapshot) => {
        this.#check("snapshots");
        const stored = this.#snapshots.get(doc);
        if (stored !== undefined && compareEntryIds(stored.upTo, snapshot.upTo) >= 0) return false;
        this.#snapshots.set(doc, { update: snapshot.update.slice(), upTo: snapshot.upTo });
        return true;
      },
      ping: async () => this.#check("snapshots"),
      close: async () => undefined,
    };
  }

  /** A {@link PresenceBus} over this hub (one per instance). */
  bus(): PresenceBus {
    const bus = new MemoryBus(this);
    this.#buses.add(bus);
    return bus;
  }

  /** Delivers a bus message to every other bus watching `doc` (or every bus for heartbeats). */
  broadcast(from: MemoryBus, deliver: (bus: MemoryBus) => void): void {
    if (!this.#reachable.log) return;
    for (const bus of this.#buses) if (bus !== from) queueMicrotask(() => deliver(bus));
  }

  forget(bus: MemoryBus): void {
    this.#buses.delete(bus);
  }

  #check(which: "log" | "snapshots"): void {
    if (!this.#reachable[which]) throw new ConcordError("Unavailable", `the memory hub's ${which === "log" ? "log" : "snapshot store"} is down`);
  }

  #fail(f: Follower): void {
    if (f.failed || !this.#followers.has(f)) return;
    f.failed = true;
    f.listener.error(new ConcordError("Unavailable", "the memory hub's log is down"));
  }

  #deliver(f: Follower): void {
    if (!this.#followers.has(f) || !this.#reachable.log || this.#held.has(f.doc)) return;
    const deleted = this.#maxDeleted.get(f.doc);
    if (deleted !== undefined && compareEntryIds(deleted, f.after) > 0) {
      f.after = deleted;
      f.listener.gap();
    }
    const fresh = (this.#logs.get(f.doc) ?? []).filter((e) => compareEntryIds(e.id, f.after) > 0);
    if (fresh.length === 0) return;
    f.after = fresh[fresh.length - 1]!.id;
    f.listener.entries(fresh);
  }
}

class MemoryBus implements PresenceBus {
  readonly #hub: MemoryHub;
  readonly #watched = new Set<DocId>();
  #listener: PresenceListener | undefined;

  constructor(hub: MemoryHub) {
    this.#hub = hub;
  }

  publish(doc: DocId, message: PresenceMessage): void {
    const copy: PresenceMessage = message.kind === "awareness" ? { ...message, bytes: message.bytes.slice() } : message;
    this.#hub.broadcast(this, (bus) => bus.#hear(doc, copy));
  }

  announce(origin: string, alive: boolean): void {
    this.#hub.broadcast(this, (bus) => bus.#listener?.instance(origin, alive));
  }

  watch(doc: DocId): void {
    this.#watched.add(doc);
  }

  unwatch(doc: DocId): void {
    this.#watched.delete(doc);
  }

  listen(listener: PresenceListener): void {
    this.#listener = listener;
  }

  async close(): Promise<void> {
    this.#hub.forget(this);
    this.#listener = undefined;
  }

  #hear(doc: DocId, message: PresenceMessage): void {
    if (this.#watched.has(doc)) this.#listener?.message(doc, message);
  }
}
