/**
 * A simulated `eventual`-mode group for the lab: N replicas, each a real eventual store
 * (`openStore({ mode: "eventual" })`, the Yjs document, the file storage on a simulated disk, the
 * sync core over the simulated network), syncing with each other as peers. A client of a replica
 * is the app that embeds it: it reads and writes the replica's store in process, so it reads and
 * writes whatever the network does, and a crashed replica's client is down with it. Faults:
 * partitions, one-way cuts, lossy and slow links, crashes (unsynced writes lost), restarts, pauses.
 *
 * Every write's Yjs item id (the replica's client id and clock before it) is remembered, so that
 * after a run the lab can tell a write that never reached the final state (lost) from one that
 * reached it and lost a merge ({@link EventualWorld.delivered}).
 */
import * as Y from "yjs";
import { ConcordError } from "../errors.js";
import type { EventualStore } from "./eventual-store.js";
import { asPeerId, type PeerId } from "../ids.js";
import type { Transport } from "../net/transport.js";
import { openStore } from "../open-store.js";
import { seededRng, type Rng } from "../rng.js";
import { PausableClock, PausableTransport, ProcessPause } from "../sim/pause.js";
import { SimDisk } from "../sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../sim/sim-network.js";
import { VirtualClock } from "../sim/virtual-clock.js";
import { fileStorage } from "../storage/file-storage.js";
import { drive, type LabClient, type LabWorld, type NodeState } from "../lab/world.js";

/** Virtual ms per sync tick, and ticks between anti-entropy resyncs. */
const TICK_MS = 20;
const RESYNC_EVERY_TICKS = 5;

export interface EventualWorldOptions {
  readonly seed: number;
  readonly size: number;
  readonly faults?: Partial<NetworkFaults>;
}

interface Replica {
  readonly id: PeerId;
  readonly disk: SimDisk;
  readonly pause: ProcessPause;
  readonly clock: PausableClock;
  store: EventualStore | null;
  transport: Transport | null;
  opening: boolean;
  /** Rejects the operations in flight in this incarnation when it crashes (its app dies with it). */
  crashed: Set<(e: Error) => void>;
}

export class EventualWorld implements LabWorld {
  readonly mode = "eventual" as const;
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly nodes: readonly string[];
  readonly #replicas: Replica[];
  readonly #rng: Rng;
  /** Item id of each value written: the writing replica's Yjs client id and its clock before the write. */
  readonly #written = new Map<string, { readonly client: number; readonly clock: number }>();

  constructor(o: EventualWorldOptions) {
    this.#rng = seededRng(o.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.#rng.fork(), faults: o.faults ?? {} });
    this.#replicas = Array.from({ length: o.size }, (_, i) => {
      const pause = new ProcessPause();
      const clock = new PausableClock(this.clock, pause);
      return { id: asPeerId(`n${i + 1}`), disk: new SimDisk({ rng: this.#rng.fork(), clock, latencyMs: { min: 0.05, max: 1.5 } }), pause, clock, store: null, transport: null, opening: false, crashed: new Set() };
    });
    this.nodes = this.#replicas.map((r) => r.id);
  }

  async start(): Promise<void> {
    for (const r of this.#replicas) await drive(this.clock, this.#open(r), 60_000, `opening ${r.id}`);
  }

  async #open(r: Replica): Promise<void> {
    if (r.store !== null || r.opening) return;
    r.opening = true;
    try {
      const transport = new PausableTransport(this.net.join(r.id), r.pause);
      r.transport = transport;
      r.store = await openStore({
        mode: "eventual",
        doc: "lab",
        replicaId: r.id,
        persistence: fileStorage("/data", { fs: r.disk.mount(), clock: r.clock, fsync: { maxDelayMs: 2 } }),
        sync: { transport, tickMs: TICK_MS, resyncEveryTicks: RESYNC_EVERY_TICKS },
        clock: r.clock,
        rng: this.#rng.fork(),
      });
    } finally {
      r.opening = false;
    }
  }

  /** The store of replica `i` when it can serve its app now (up, not frozen). */
  #serving(i: number): Promise<EventualStore> {
    const r = this.#replicas[i]!;
    return new Promise((resolve, reject) => {
      r.pause.run(() => {
        if (r.store === null) reject(new ConcordError("Unavailable", `replica ${r.id} is down`, { node: r.id, outcome: "not-applied" }));
        else resolve(r.store);
      });
    });
  }

  /** `op` on `store`, replica `i`'s, failed with an unknown outcome if the replica crashes first. */
  #inFlight<T>(i: number, store: EventualStore, op: () => Promise<T>): Promise<T> {
    const r = this.#replicas[i]!;
    if (r.store !== store) return Promise.reject(new ConcordError("Unavailable", `replica ${r.id} is down`, { node: r.id, outcome: "not-applied" }));
    const crashed = r.crashed;
    return new Promise<T>((resolve, reject) => {
      const fail = (e: Error): void => reject(e);
      crashed.add(fail);
      op().then(resolve, reject).finally(() => crashed.delete(fail));
    });
  }

  async connect(_name: string, home: number): Promise<LabClient> {
    return {
      get: async (key) => {
        const v = (await this.#serving(home)).getLocal(key);
        return typeof v === "string" ? v : null;
      },
      set: async (key, value) => {
        const store = await this.#serving(home);
        await this.#inFlight(home, store, () => {
          const doc = store.ydoc;
          this.#written.set(value, { client: doc.clientID, clock: Y.getState(doc.store, doc.clientID) });
          return store.set(key, value);
        });
      },
    };
  }

  leader(): number | null {
    const i = this.#replicas.findIndex((r) => r.store !== null && !r.pause.paused);
    return i < 0 ? null : i;
  }

  roles(): string[] {
    return this.#replicas.map((r) => (r.store === null ? "down" : r.pause.paused ? "paused" : "replica"));
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.net.partition(groups.map((g) => g.map((i) => this.#replicas[i]!.id)));
  }

  cut(from: number, to: number): void {
    this.net.cut(this.#replicas[from]!.id, this.#replicas[to]!.id);
  }

  heal(): void {
    this.net.heal();
    this.net.setFaults({ loss: 0, duplicate: 0 });
  }

  setFaults(faults: Partial<NetworkFaults>): void {
    this.net.setFaults(faults);
  }

  /** Power cut: unsynced disk writes are lost (tails may tear), connections drop, the store is gone. */
  crash(i: number): void {
    const r = this.#replicas[i]!;
    if (r.store === null) return;
    r.disk.crash();
    r.transport!.close();
    r.store = null;
    r.transport = null;
    const lost = new ConcordError("Unavailable", `replica ${r.id} crashed before the write was acknowledged`, { node: r.id, outcome: "unknown" });
    for (const fail of r.crashed) fail(lost);
    r.crashed = new Set();
    if (r.pause.paused) r.pause.resume();
  }

  async restart(i: number): Promise<void> {
    await this.#open(this.#replicas[i]!);
  }

  pause(i: number): void {
    const r = this.#replicas[i]!;
    if (r.store !== null) r.pause.pause();
  }

  resume(i: number): void {
    this.#replicas[i]!.pause.resume();
  }

  state(i: number): NodeState {
    const store = this.#replicas[i]!.store;
    if (store === null) return null;
    return new Map(store.entriesLocal().map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  }

  /** Values whose write reached the state of the first replica that is up (after convergence: every one). */
  delivered(): ReadonlySet<string> {
    const store = this.#replicas.find((r) => r.store !== null)?.store;
    const out = new Set<string>();
    if (store === undefined || store === null) return out;
    for (const [value, id] of this.#written) if (Y.getState(store.ydoc.store, id.client) > id.clock) out.add(value);
    return out;
  }

  async close(): Promise<void> {
    for (const r of this.#replicas) {
      if (r.pause.paused) r.pause.resume();
      if (r.store !== null) await drive(this.clock, r.store.close(), 60_000, `closing ${r.id}`);
    }
  }
}
