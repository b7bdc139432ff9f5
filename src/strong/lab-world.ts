/**
 * A simulated strong-mode cluster (DESIGN.md sections 4 and 5): real RaftNodes, StrongEngines and
 * client sessions (the very code `concord node --mode strong` runs) on the file storage over
 * simulated disks, real strong-mode stores (`openStore({ mode: "strong" })`) as clients, one
 * simulated network carrying both, one virtual clock, one seed. Faults: partitions of the nodes,
 * one-way cuts, lossy, duplicating and slow links, crashes that lose what was not synced (tearing
 * the tail), restarts from disk, and pauses (a node frozen, timers and messages held, that wakes
 * up believing what it believed).
 *
 * A client opened with a home node sits with it in the network (all its links are on that node's
 * side of a partition: it reaches only the nodes its node reaches); one opened without a home
 * keeps each link with the node it leads to (it reaches every node that is up).
 */
import { asDocId, asPeerId, type PeerId } from "../ids.js";
import { NodeLink } from "../client/node-link.js";
import { docView } from "../kv/doc-keys.js";
import { openStore } from "../open-store.js";
import { seededRng, type Rng } from "../rng.js";
import { ChangeFeed } from "../service/change-feed.js";
import { serveOverTransport } from "../service/transport-sessions.js";
import { SimDisk } from "../sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../sim/sim-network.js";
import { PausableClock, PausableTransport, ProcessPause } from "../sim/pause.js";
import { VirtualClock } from "../sim/virtual-clock.js";
import { fileStorage } from "../storage/file-storage.js";
import type { StrongStore } from "./strong-client.js";
import { RaftNode } from "./raft-node.js";
import type { StrongEngine } from "./strong-engine.js";
import { engineWith, type PlantedBug } from "./planted-bugs.js";
import { isConcordError } from "../errors.js";
import { drive, labClient, type LabClient, type LabWorld, type NodeState } from "../lab/world.js";

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

/** How a client is placed and reads (see the module comment). */
export interface StrongClientOptions {
  /** Index of the node the client sits with; null: each link sits with the node it leads to. */
  readonly home: number | null;
  /** Client timeout per request, virtual ms. Default 1,000. */
  readonly timeoutMs?: number;
  readonly readFrom?: "leader" | "followers";
}

export class StrongWorld implements LabWorld {
  readonly mode = "strong" as const;
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly members: WorldNode[];
  readonly nodes: readonly string[];
  readonly events: string[] = [];
  readonly stats = { crashes: 0, restarts: 0, pauses: 0, partitions: 0 };
  readonly #o: StrongWorldOptions;
  readonly #rng: Rng;
  readonly #clients: { readonly name: string; readonly home: number | null; readonly store: StrongStore }[] = [];

  constructor(o: StrongWorldOptions) {
    this.#o = o;
    this.#rng = seededRng(o.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.#rng.fork(), faults: o.faults ?? {} });
    this.members = Array.from({ length: o.size }, (_, i) => {
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
    this.nodes = this.members.map((n) => n.id);
  }

  get rng(): Rng {
    return this.#rng;
  }

  note(line: string): void {
    this.events.push(`${this.clock.now().toFixed(1).padStart(8)} ${line}`);
    if (this.events.length > 300) this.events.splice(0, this.events.length - 300);
  }

  /** Runs the virtual clock until `promise` settles (bounded); the error names the last events. */
  async drive<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    try {
      return await drive(this.clock, promise, maxMs);
    } catch (e) {
      if (e instanceof Error && e.message.includes("did not settle")) throw new Error(`${e.message}\n${this.events.slice(-40).join("\n")}`);
      throw e;
    }
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  async start(): Promise<void> {
    await this.drive(Promise.all(this.members.map((n) => this.#openNode(n))));
  }

  async #openNode(n: WorldNode): Promise<void> {
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
        bootstrap: this.members.map((m) => m.id),
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
  crash(i: number): void {
    const n = this.members[i]!;
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

  /** Restarts a crashed node from its disk (not driven: the caller runs the clock, or is a timer). */
  async restart(i: number): Promise<void> {
    const n = this.members[i]!;
    if (n.raft !== null || n.opening) return;
    this.stats.restarts++;
    await this.#openNode(n);
  }

  pause(i: number): void {
    const n = this.members[i]!;
    if (n.raft === null || n.pause.paused) return;
    n.pause.pause();
    this.stats.pauses++;
    this.note(`${n.id} paused (as ${n.raft.status().role} of term ${n.raft.status().term})`);
  }

  resume(i: number): void {
    const n = this.members[i]!;
    if (!n.pause.paused) return;
    this.note(`${n.id} resumes`);
    n.pause.resume();
  }

  /** The network endpoints that sit with node `i`: the node, its client endpoint, and its clients' links. */
  #endpointsOf(i: number): PeerId[] {
    const id = this.members[i]!.id;
    const links = this.#clients.flatMap((c) => (c.home === i ? this.nodes.map((to) => linkEndpoint(c.name, to)) : c.home === null ? [linkEndpoint(c.name, id)] : []));
    return [id, clientEndpoint(id), ...links];
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.net.partition(groups.map((g) => g.flatMap((i) => this.#endpointsOf(i))));
    this.stats.partitions++;
    this.note(`partition ${groups.map((g) => `[${g.map((i) => this.nodes[i]).join(",")}]`).join(" ")}`);
  }

  cut(from: number, to: number): void {
    for (const a of this.#endpointsOf(from)) for (const b of this.#endpointsOf(to)) this.net.cut(a, b);
    this.note(`cut ${this.nodes[from]} -> ${this.nodes[to]}`);
  }

  heal(): void {
    this.net.heal();
    this.net.setFaults({ loss: 0, duplicate: 0 });
    this.note("heal");
  }

  setFaults(faults: Partial<NetworkFaults>): void {
    this.net.setFaults(faults);
    this.note(`faults ${JSON.stringify(faults)}`);
  }

  leader(): number | null {
    let best: { i: number; term: number } | null = null;
    this.members.forEach((n, i) => {
      if (n.raft === null || n.pause.paused) return;
      const st = n.raft.status();
      if (st.role === "leader" && (best === null || st.term > best.term)) best = { i, term: st.term };
    });
    return (best as { i: number } | null)?.i ?? null;
  }

  roles(): string[] {
    return this.members.map((n) => (n.raft === null ? "down" : n.pause.paused ? "paused" : n.raft.status().role));
  }

  /** A strong-mode store named `name` placed as `o` says (drives the clock until it is open). */
  async client(name: string, o: StrongClientOptions): Promise<StrongStore> {
    const home = o.home;
    const store = await this.drive(
      openStore({
        mode: "strong",
        doc: DOC,
        nodes: this.nodes.map(url),
        timeoutMs: o.timeoutMs ?? 1_000,
        readFrom: o.readFrom ?? "leader",
        clock: this.clock,
        rng: this.#rng.fork(),
        links: (at, events) => {
          const node = at.slice("ws://".length);
          return new NodeLink({ url: at, transport: this.net.join(linkEndpoint(name, node)), node: clientEndpoint(node), clock: this.clock, ...events });
        },
      }),
    );
    this.#clients.push({ name, home, store });
    return store;
  }

  async connect(name: string, home: number): Promise<LabClient> {
    const store = await this.client(name, { home });
    return labClient(store);
  }

  state(i: number): NodeState {
    const n = this.members[i]!;
    if (n.raft === null) return null;
    return new Map(docView(() => n.raft!.stateMachine.state, DOC).entries("").map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  }

  /** Every running node's key-value state of the clients' document, as sorted entries. */
  states(): Map<PeerId, Array<[string, unknown]>> {
    const out = new Map<PeerId, Array<[string, unknown]>>();
    for (const n of this.members) if (n.raft !== null) out.set(n.id, docView(() => n.raft!.stateMachine.state, DOC).entries(""));
    return out;
  }

  /** Closes every client and node (gracefully), for a test's end. */
  async close(): Promise<void> {
    for (const c of this.#clients) await this.drive(c.store.close()).catch((e: unknown) => {
      if (!isConcordError(e)) throw e;
    });
    for (const n of this.members) {
      if (n.pause.paused) n.pause.resume();
      n.service?.close();
      n.feed?.close();
      if (n.raft !== null) await this.drive(n.raft.close());
    }
  }
}

const linkEndpoint = (client: string, node: string): PeerId => asPeerId(`${client}@${node}`);
