/**
 * A simulated strong-mode cluster with its clients (DESIGN.md sections 4 and 5): real RaftNodes,
 * StrongEngines and client sessions (the very code `concord node --mode strong` runs) on the file
 * storage over simulated disks, real strong-mode stores (`openStore({ mode: "strong" })`) as
 * clients, one simulated network carrying both, one virtual clock, one seed. Faults: partitions of
 * the nodes (each client link stays with its node, so clients reach whichever nodes they reach),
 * lossy, duplicating and slow links, crashes that lose what was not synced (tearing the tail),
 * restarts from disk, and pauses (a node frozen, timers and messages held, that wakes up believing
 * what it believed).
 *
 * Every operation a client makes is recorded as the client saw it (call, return, answer; a write
 * whose fate the client could not learn has no return), for the linearizability checker.
 */
import { asDocId, asPeerId, type PeerId } from "../../../src/ids.js";
import type { Json } from "../../../src/json.js";
import type { Operation } from "../../../src/lab/history.js";
import { NodeLink } from "../../../src/client/node-link.js";
import { docView } from "../../../src/kv/doc-keys.js";
import { openStore } from "../../../src/open-store.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import { ChangeFeed } from "../../../src/service/change-feed.js";
import { serveOverTransport } from "../../../src/service/transport-sessions.js";
import { SimDisk } from "../../../src/sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../../../src/sim/sim-network.js";
import { PausableClock, PausableTransport, ProcessPause } from "../../../src/sim/pause.js";
import { VirtualClock } from "../../../src/sim/virtual-clock.js";
import { fileStorage } from "../../../src/storage/file-storage.js";
import type { StrongStore } from "../../../src/strong/strong-client.js";
import { RaftNode } from "../../../src/strong/raft-node.js";
import type { StrongEngine } from "../../../src/strong/strong-engine.js";
import { engineWith, type PlantedBug } from "../shared/planted-bugs.js";
import { runOperation } from "../shared/workload.js";

/** Virtual ms per Raft tick, and the election timeout in ticks. */
export const TICK_MS = 10;
export const ELECTION_TICKS = 10;

export interface StrongWorldOptions {
  readonly seed: number;
  /** Founding members, n1..n<size>. */
  readonly size: number;
  readonly faults?: Partial<NetworkFaults>;
  /** Applied entries between snapshots (small, so snapshots and installs get exercised). Default 40. */
  readonly snapshotEntries?: number;
  /**
   * A planted bug, to prove the checker catches it: `"local-reads"` serves linearizable reads from
   * the serving node's state without ReadIndex; `"early-acks"` acknowledges a write as soon as the
   * node proposed it, before it commits.
   */
  readonly bug?: PlantedBug;
}

export interface WorldNode {
  readonly id: PeerId;
  readonly disk: SimDisk;
  readonly pause: ProcessPause;
  readonly clock: PausableClock;
  raft: RaftNode | null;
  engine: StrongEngine | null;
  service: { close(): void } | null;
  feed: ChangeFeed | null;
  incarnation: number;
  /** A (re)start is under way. */
  opening: boolean;
}

const DOC = "d";

const url = (id: string): string => `ws://${id}`;
const clientEndpoint = (id: string): PeerId => asPeerId(`${id}/client`);

export class StrongWorld {
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly nodes: WorldNode[];
  readonly history: Operation[] = [];
  readonly events: string[] = [];
  readonly stats = { crashes: 0, restarts: 0, pauses: 0, partitions: 0, ops: 0, unknown: 0, failed: 0 };
  readonly #o: StrongWorldOptions;
  readonly #rng: Rng;
  readonly #clients: { readonly name: string; readonly store: StrongStore; running: Promise<void> | null }[] = [];
  #stopping = false;

  constructor(o: StrongWorldOptions) {
    this.#o = o;
    this.#rng = seededRng(o.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.#rng.fork(), faults: o.faults ?? {} });
    this.nodes = Array.from({ length: o.size }, (_, i) => {
      const pause = new ProcessPause();
      const clock = new PausableClock(this.clock, pause);
      return {
        id: asPeerId(`n${i + 1}`),
        disk: new SimDisk({ rng: this.#rng.fork(), clock, latencyMs: { min: 0.05, max: 1.5 } }),
        pause,
        clock,
        raft: null,
        engine: null,
        service: null,
        feed: null,
        incarnation: 0,
        opening: false,
      };
    });
  }

  get rng(): Rng {
    return this.#rng;
  }

  note(line: string): void {
    this.events.push(`${this.clock.now().toFixed(1).padStart(8)} ${line}`);
    if (this.events.length > 300) this.events.splice(0, this.events.length - 300);
  }

  /** Runs the virtual clock until `promise` settles (bounded). */
  async drive<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => (settled = true));
    tracked.catch(() => undefined);
    await this.clock.runUntil(() => settled, { maxMs });
    if (!settled) throw new Error(`an operation did not settle within ${maxMs} virtual ms\n${this.events.slice(-40).join("\n")}`);
    return tracked;
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  async start(): Promise<void> {
    await this.drive(Promise.all(this.nodes.map((n) => this.open(n))));
  }

  /** Opens (or reopens after a crash) `n` from its disk. Not driven: the caller runs the clock (or is a timer). */
  async open(n: WorldNode): Promise<void> {
    if (n.raft !== null || n.opening) return;
    n.opening = true;
    n.incarnation++;
    try {
      await this.#open(n);
    } finally {
      n.opening = false;
    }
  }

  async #open(n: WorldNode): Promise<void> {
    const storage = await fileStorage("/data", { fs: n.disk.mount(), clock: n.clock, fsync: "always", compactAfterBytes: 4_000 }).open(asDocId("raft"));
    const raft = await (
      RaftNode.open({
        id: n.id,
        storage,
        transport: new PausableTransport(this.net.join(n.id), n.pause),
        clock: n.clock,
        rng: this.#rng.fork(),
        bootstrap: this.nodes.map((m) => m.id),
        tickMs: TICK_MS,
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        snapshotEntries: this.#o.snapshotEntries ?? 40,
        keepEntries: 10,
        log: (event, fields) => {
          if (event !== "raft.snapshot") this.note(`${n.id} ${event} ${JSON.stringify(fields)}`);
        },
      })
    );
    n.raft = raft;
    n.engine = engineWith(raft, this.#o.bug);
    n.feed = new ChangeFeed(n.engine);
    n.service = serveOverTransport(n.engine, n.feed, new PausableTransport(this.net.join(clientEndpoint(n.id)), n.pause));
    this.note(`${n.id} open (incarnation ${n.incarnation}) at applied ${raft.stateMachine.index}`);
  }

  /** Power cut: what was not synced is lost (tails may tear); the node's connections drop. */
  crash(n: WorldNode): void {
    if (n.raft === null) return;
    n.disk.crash();
    n.raft.halt();
    n.service!.close();
    n.feed!.close();
    n.raft = null;
    n.engine = null;
    n.service = null;
    n.feed = null;
    if (n.pause.paused) n.pause.resume();
    this.stats.crashes++;
    this.note(`${n.id} crash`);
  }

  /** Restarts a crashed node from its disk (not driven, see {@link open}). */
  async restart(n: WorldNode): Promise<void> {
    if (n.raft !== null || n.opening) return;
    this.stats.restarts++;
    await this.open(n);
  }

  pause(n: WorldNode): void {
    if (n.raft === null || n.pause.paused) return;
    n.pause.pause();
    this.stats.pauses++;
    this.note(`${n.id} paused (as ${n.raft.status().role} of term ${n.raft.status().term})`);
  }

  resume(n: WorldNode): void {
    if (!n.pause.paused) return;
    this.note(`${n.id} resumes`);
    n.pause.resume();
  }

  /** Splits the nodes into `groups` (node indexes); each node's client endpoint and client links stay with it. */
  partition(groups: readonly (readonly number[])[]): void {
    const peers = groups.map((g) =>
      g.flatMap((i) => {
        const id = this.nodes[i]!.id;
        return [id, clientEndpoint(id), ...this.#clients.map((c) => linkEndpoint(c.name, id))];
      }),
    );
    this.net.partition(peers);
    this.stats.partitions++;
    this.note(`partition ${groups.map((g) => `[${g.map((i) => this.nodes[i]!.id).join(",")}]`).join(" ")}`);
  }

  heal(): void {
    this.net.heal();
    this.net.setFaults({ loss: 0, duplicate: 0 });
    this.note("heal");
  }

  /** Opens a client store named `name` (its links are sim endpoints `name@<node>`). */
  async client(name: string, timeoutMs = 1_000, readFrom: "leader" | "followers" = "leader"): Promise<StrongStore> {
    const store = await this.drive(
      openStore({
        mode: "strong",
        doc: DOC,
        nodes: this.nodes.map((n) => url(n.id)),
        timeoutMs,
        readFrom,
        clock: this.clock,
        rng: this.#rng.fork(),
        links: (at, events) => {
          const node = at.slice("ws://".length);
          return new NodeLink({ url: at, transport: this.net.join(linkEndpoint(name, node)), node: clientEndpoint(node), clock: this.clock, ...events });
        },
      }),
    );
    this.#clients.push({ name, store, running: null });
    return store;
  }

  /**
   * Starts every client on a loop of random operations on `keys` (gets, sets, deletes,
   * compare-and-sets), each recorded as its client saw it, until {@link stopClients}.
   */
  runClients(keys: readonly string[], thinkMs = 20): void {
    for (const c of this.#clients) {
      const rng = this.#rng.fork();
      c.running = (async () => {
        while (!this.#stopping) {
          await runOperation(c.name, c.store, rng, keys, this.history, this.stats, () => this.clock.now());
          await new Promise<void>((r) => this.clock.setTimer(rng.int(0, thinkMs), r));
        }
      })();
    }
  }

  /** Lets every client finish the operation it is in, and stops them. */
  async stopClients(): Promise<void> {
    this.#stopping = true;
    await this.drive(Promise.all(this.#clients.map((c) => c.running)));
  }

  /** Every running node's key-value state of the clients' document, as sorted entries. */
  states(): Map<PeerId, Array<[string, Json]>> {
    const out = new Map<PeerId, Array<[string, Json]>>();
    for (const n of this.nodes) if (n.raft !== null) out.set(n.id, docView(() => n.raft!.stateMachine.state, DOC).entries(""));
    return out;
  }

  /** Closes every client and node (gracefully), for a test's end. */
  async close(): Promise<void> {
    for (const c of this.#clients) await this.drive(c.store.close());
    for (const n of this.nodes) {
      if (n.pause.paused) n.pause.resume();
      n.service?.close();
      n.feed?.close();
      if (n.raft !== null) await this.drive(n.raft.close());
    }
  }
}

const linkEndpoint = (client: string, node: string): PeerId => asPeerId(`${client}@${node}`);
