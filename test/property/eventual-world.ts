/**
 * A simulated world of eventual-mode replicas for property tests: N stores, each on its own
 * simulated disk (crashes lose unsynced writes and tear tails) and all on one simulated network
 * (loss, duplication, long-tailed delays, partitions), one virtual clock, one seed.
 *
 * It records what the checkers need: every update any incarnation emitted (the universe), and for
 * every acknowledged write the Yjs snapshot taken right after it (what must survive any crash).
 */
import * as Y from "yjs";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { asPeerId, type PeerId } from "../../src/ids.js";
import type { Transport } from "../../src/net/transport.js";
import type { Json } from "../../src/json.js";
import { openStore } from "../../src/open-store.js";
import { seededRng, type Rng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../../src/sim/sim-network.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { fileStorage } from "../../src/storage/file-storage.js";

/** Milliseconds per sync tick in the simulation, and ticks between anti-entropy resyncs. */
export const TICK_MS = 20;
export const RESYNC_EVERY_TICKS = 5;

export interface Replica {
  readonly id: PeerId;
  readonly disk: SimDisk;
  store: EventualStore | undefined;
  /** The live incarnation's connection to the network. */
  transport: Transport | undefined;
  incarnation: number;
  crashes: number;
  /** Snapshots taken right after each write that was later acknowledged at `local`. */
  readonly acked: Y.Snapshot[];
}

export class EventualWorld {
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly replicas: Replica[];
  /** Every update emitted by every incarnation of every replica (local and integrated remote). */
  readonly universe: Uint8Array[] = [];
  readonly errors: unknown[] = [];
  /** Durability violations: acknowledged writes missing from a replica reopened after a crash. */
  readonly lost: string[] = [];
  /** Acknowledged writes checked at reopen (to show the property is exercised). */
  checkedAtReopen = 0;
  private readonly rng: Rng;

  constructor(seed: number, size: number, faults: Partial<NetworkFaults> = {}) {
    this.rng = seededRng(seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.rng.fork(), faults });
    this.replicas = Array.from({ length: size }, (_, i) => ({
      id: asPeerId(`r${i}`),
      disk: new SimDisk({ rng: this.rng.fork(), clock: this.clock, latencyMs: { min: 0.05, max: 1.5 } }),
      store: undefined,
      transport: undefined,
      incarnation: 0,
      crashes: 0,
      acked: [],
    }));
  }

  /** Runs the virtual clock until `promise` settles (bounded), then returns its outcome. */
  async drive<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => (settled = true));
    tracked.catch(() => undefined);
    await this.clock.runUntil(() => settled, { maxMs });
    if (!settled) throw new Error(`simulation: operation did not settle within ${maxMs} virtual ms`);
    return tracked;
  }

  async start(): Promise<void> {
    for (const r of this.replicas) await this.open(r);
  }

  /**
   * Opens (or reopens after a crash) the replica's store from its disk, and checks durability right
   * away, before any sync could mask a loss: every write it acknowledged is back.
   */
  async open(r: Replica): Promise<EventualStore> {
    r.incarnation++;
    r.transport = this.net.join(r.id);
    const store = await this.drive(
      openStore({
        mode: "eventual",
        doc: "world",
        replicaId: r.id,
        persistence: fileStorage("/data", { fs: r.disk.mount(), clock: this.clock, fsync: { maxDelayMs: 2 }, compactAfterBytes: 300 }),
        sync: { transport: r.transport, tickMs: TICK_MS, resyncEveryTicks: RESYNC_EVERY_TICKS },
        clock: this.clock,
        rng: this.rng.fork(),
        onError: (e) => this.errors.push(e),
      }),
    );
    const missing = r.acked.filter((snap) => !containsSnapshot(store.ydoc, snap)).length;
    this.checkedAtReopen += r.acked.length;
    if (missing > 0) this.lost.push(`${r.id} incarnation ${r.incarnation} lost ${missing} of ${r.acked.length} acknowledged writes`);
    store.ydoc.on("update", (u: Uint8Array) => this.universe.push(u));
    r.store = store;
    return store;
  }

  /** Power cut: unsynced disk writes are lost (tails may tear), connections drop, the store is gone. */
  crash(r: Replica): void {
    if (!r.store) return;
    r.disk.crash();
    // The process is dead: its connections drop. Its timers still fire, into a dead disk and a
    // closed transport, so nothing it does after the crash reaches anyone.
    r.transport!.close();
    r.store = undefined;
    r.transport = undefined;
    r.crashes++;
  }

  /** Records a write: the snapshot right after it becomes a durability obligation once acked. */
  track(r: Replica, ack: Promise<unknown>): void {
    const snap = Y.snapshot(r.store!.ydoc);
    ack.then(
      () => r.acked.push(snap),
      (e) => this.errors.push(e),
    );
  }

  set(r: Replica, key: string, value: Json): void {
    if (r.store) this.track(r, r.store.set(key, value));
  }

  delete(r: Replica, key: string): void {
    if (r.store) this.track(r, r.store.delete(key));
  }

  transact(r: Replica, writes: ReadonlyArray<{ key: string; value: Json | null }>): void {
    if (!r.store) return;
    this.track(
      r,
      r.store.transact((tx) => {
        for (const w of writes) {
          if (w.value === null) tx.delete(w.key);
          else tx.set(w.key, w.value);
        }
      }),
    );
  }

  /** A rich-type edit made directly on the Y.Doc (persisted and synced like store writes). */
  editText(r: Replica, pos: number, insert: string, remove: number): void {
    const text = r.store?.ydoc.getText("notes");
    if (!text) return;
    const at = Math.min(pos, text.length);
    text.delete(at, Math.min(remove, text.length - at));
    text.insert(Math.min(at, text.length), insert);
  }

  pushArray(r: Replica, values: number[]): void {
    r.store?.ydoc.getArray<number>("list").push(values);
  }

  /** Heals the network, makes it reliable, restarts crashed replicas and runs until all converge. */
  async healAndConverge(maxMs = 120_000): Promise<boolean> {
    this.net.heal();
    this.net.setFaults({ loss: 0, duplicate: 0 });
    for (const r of this.replicas) if (!r.store) await this.open(r);
    return this.clock.runUntil(() => this.converged(), { maxMs });
  }

  converged(): boolean {
    const docs = this.replicas.map((r) => r.store!.ydoc);
    const first = Y.snapshot(docs[0]!);
    return docs.every((d) => noPending(d) && Y.equalSnapshots(Y.snapshot(d), first));
  }

  /** The doc rebuilt from every update emitted anywhere, merged. */
  universeDoc(): Y.Doc {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.mergeUpdates(this.universe));
    return doc;
  }

  async closeAll(): Promise<void> {
    for (const r of this.replicas) if (r.store) await this.drive(r.store.close());
  }

  /** Reopens every replica's storage from its disk (no crash) into a fresh doc, for comparison. */
  async reloadAll(): Promise<Y.Doc[]> {
    const docs: Y.Doc[] = [];
    for (const r of this.replicas) {
      const store = await this.drive(
        openStore({
          mode: "eventual",
          doc: "world",
          persistence: fileStorage("/data", { fs: r.disk.mount(), clock: this.clock }),
          clock: this.clock,
          rng: this.rng.fork(),
        }),
      );
      docs.push(store.ydoc);
      await this.drive(store.close());
    }
    return docs;
  }
}

export function noPending(doc: Y.Doc): boolean {
  return doc.store.pendingStructs === null && doc.store.pendingDs === null;
}

/** True when `doc` holds everything `snap` describes: every struct and every deletion. */
export function containsSnapshot(doc: Y.Doc, snap: Y.Snapshot): boolean {
  for (const [client, clock] of snap.sv) {
    if (Y.getState(doc.store, client) < clock) return false;
  }
  const ds = Y.createDeleteSetFromStructStore(doc.store);
  for (const [client, items] of snap.ds.clients) {
    for (const item of items) {
      for (let c = item.clock; c < item.clock + item.len; c++) {
        if (!Y.isDeleted(ds, Y.createID(client, c))) return false;
      }
    }
  }
  return true;
}

/** Everything a person would compare: the keyspace, the text and the list. */
export function contentOf(doc: Y.Doc): unknown {
  return {
    kv: doc.getMap("concord").toJSON(),
    notes: doc.getText("notes").toString(),
    list: doc.getArray("list").toJSON(),
  };
}
