/**
 * A simulated `primary`-mode group for the lab: real ReplicationNodes and PrimaryEngines (the code
 * `concord node --mode primary` runs) on the file storage over simulated disks, each serving the
 * client protocol over the simulated network, and real primary-mode stores
 * (`openStore({ mode: "primary" })`) as clients, reading from the replicas. n1 starts as primary.
 *
 * Failover is an operator's, as Redis Sentinel does it: a sentinel beside each node; when more
 * than half of them have not reached the primary for `failoverAfterMs`, the most advanced replica
 * among them that knows the newest epoch is promoted, and the group follows it. The old primary
 * is fenced when it hears of the new epoch (at the heal, if it was cut off).
 *
 * Planted bug `"unfenced"`: a primary that goes on acknowledging writes after it was fenced (its
 * engine answers success to writes the node refused), to show the lab catches lost writes.
 */
import { NodeLink } from "../client/node-link.js";
import { isConcordError } from "../errors.js";
import { asDocId, asPeerId, type PeerId } from "../ids.js";
import { docView } from "../kv/doc-keys.js";
import { openStore } from "../open-store.js";
import type { PrimaryStore } from "./primary-client.js";
import { PrimaryEngine } from "./primary-engine.js";
import type { PrimaryDurability } from "./replication/types.js";
import { ReplicationNode } from "./replication-node.js";
import { seededRng, type Rng } from "../rng.js";
import { ChangeFeed } from "../service/change-feed.js";
import { serveOverTransport } from "../service/transport-sessions.js";
import { PausableClock, PausableTransport, ProcessPause } from "../sim/pause.js";
import { SimDisk } from "../sim/sim-disk.js";
import { SimNetwork, type NetworkFaults } from "../sim/sim-network.js";
import { VirtualClock } from "../sim/virtual-clock.js";
import { fileStorage } from "../storage/file-storage.js";
import { drive, labClient, type LabClient, type LabWorld, type NodeState } from "../lab/world.js";

export interface PrimaryWorldOptions {
  readonly seed: number;
  readonly size: number;
  readonly faults?: Partial<NetworkFaults>;
  /** Durability of the clients' writes. Default `{ replicas: 1 }`. */
  readonly durability?: PrimaryDurability;
  /** How long a majority of sentinels must miss the primary before a promotion. Default 1,000 ms. */
  readonly failoverAfterMs?: number;
  readonly bug?: "unfenced";
}

interface Member {
  readonly id: PeerId;
  readonly disk: SimDisk;
  readonly pause: ProcessPause;
  readonly clock: PausableClock;
  node: ReplicationNode | null;
  service: { close(): void } | null;
  feed: ChangeFeed | null;
  opening: boolean;
}

const DOC = "d";
const SENTINEL_MS = 100;
const url = (id: string): string => `ws://${id}`;
const clientEndpoint = (id: string): PeerId => asPeerId(`${id}/client`);
const linkEndpoint = (client: string, node: string): PeerId => asPeerId(`${client}@${node}`);

/** An engine whose node ignores being fenced: a write it refused as fenced is answered as done. */
class UnfencedEngine extends PrimaryEngine {
  override async write(w: Parameters<PrimaryEngine["write"]>[0]): ReturnType<PrimaryEngine["write"]> {
    try {
      return await super.write(w);
    } catch (e) {
      if (!isConcordError(e, "Fenced") && !isConcordError(e, "ReadOnlyReplica")) throw e;
      const info = this.node.readInfo();
      return { position: { epoch: info.epoch, lsn: info.lsn + 1 }, replicas: [], succeeded: true };
    }
  }
}

export class PrimaryWorld implements LabWorld {
  readonly mode = "primary" as const;
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((r) => setImmediate(r)) });
  readonly net: SimNetwork;
  readonly nodes: readonly string[];
  readonly events: string[] = [];
  readonly #o: PrimaryWorldOptions;
  readonly #members: Member[];
  readonly #rng: Rng;
  readonly #clients: { readonly name: string; readonly home: number; readonly store: PrimaryStore }[] = [];
  /** Since when a majority of sentinels has missed the primary; null while it is seen. */
  #missedSince: number | null = null;
  #sentinel: (() => void) | null = null;

  constructor(o: PrimaryWorldOptions) {
    this.#o = o;
    this.#rng = seededRng(o.seed);
    this.net = new SimNetwork({ clock: this.clock, rng: this.#rng.fork(), faults: o.faults ?? {} });
    this.#members = Array.from({ length: o.size }, (_, i) => {
      const pause = new ProcessPause();
      const clock = new PausableClock(this.clock, pause);
      return { id: asPeerId(`n${i + 1}`), disk: new SimDisk({ rng: this.#rng.fork(), clock, latencyMs: { min: 0.05, max: 1.5 } }), pause, clock, node: null, service: null, feed: null, opening: false };
    });
    this.nodes = this.#members.map((m) => m.id);
  }

  #note(line: string): void {
    this.events.push(`${this.clock.now().toFixed(1).padStart(8)} ${line}`);
    if (this.events.length > 300) this.events.splice(0, this.events.length - 300);
  }

  async start(): Promise<void> {
    for (const m of this.#members) await drive(this.clock, this.#open(m), 60_000, `opening ${m.id}`);
    const tick = (): void => {
      this.#watch();
      this.#sentinel = this.clock.setTimer(SENTINEL_MS, tick);
    };
    this.#sentinel = this.clock.setTimer(SENTINEL_MS, tick);
  }

  async #open(m: Member): Promise<void> {
    if (m.node !== null || m.opening) return;
    m.opening = true;
    try {
      const storage = await fileStorage("/data", { fs: m.disk.mount(), clock: m.clock, fsync: "always" }).open(asDocId("node"));
      const node = await ReplicationNode.open({
        id: m.id,
        storage,
        transport: new PausableTransport(this.net.join(m.id), m.pause),
        clock: m.clock,
        role: m === this.#members[0] ? "primary" : { replicaOf: this.#members[0]!.id },
        peers: this.nodes.map(asPeerId),
        primary: { heartbeatMs: 20, maxLagMs: 2_000 },
        replica: { ackMs: 20, helloMs: 100 },
        log: (event, fields) => this.#note(`${m.id} ${event} ${JSON.stringify(fields)}`),
      });
      const engine = this.#o.bug === "unfenced" ? new UnfencedEngine(node) : new PrimaryEngine(node);
      m.node = node;
      m.feed = new ChangeFeed(engine);
      m.service = serveOverTransport(engine, m.feed, new PausableTransport(this.net.join(clientEndpoint(m.id)), m.pause));
    } finally {
      m.opening = false;
    }
  }

  /** Index of the unfenced primary of the newest epoch among running nodes, or null. */
  #primary(): number | null {
    let best: { i: number; epoch: number } | null = null;
    this.#members.forEach((m, i) => {
      if (m.node === null || m.node.role !== "primary") return;
      const st = m.node.status();
      if (!st.fenced && (best === null || st.epoch > best.epoch)) best = { i, epoch: st.epoch };
    });
    return (best as { i: number } | null)?.i ?? null;
  }

  #alive(i: number): boolean {
    const m = this.#members[i]!;
    return m.node !== null && !m.pause.paused;
  }

  /** The sentinels' round: promote when a majority has missed the primary long enough. */
  #watch(): void {
    const p = this.#primary();
    const n = this.#members.length;
    const sees = (i: number): boolean => p !== null && this.#alive(p) && (i === p || (this.net.canReach(this.#members[i]!.id, this.#members[p]!.id) && this.net.canReach(this.#members[p]!.id, this.#members[i]!.id)));
    const missing = this.#members.map((_, i) => i).filter((i) => this.#alive(i) && !sees(i));
    if (missing.length <= n / 2) {
      this.#missedSince = null;
      return;
    }
    this.#missedSince ??= this.clock.now();
    if (this.clock.now() - this.#missedSince < (this.#o.failoverAfterMs ?? 1_000)) return;
    // The sentinels that agree must reach each other; the most advanced replica among them that knows the newest epoch.
    const newest = Math.max(...this.#members.filter((m) => m.node !== null).map((m) => m.node!.status().epoch));
    const candidates = missing
      .filter((i) => missing.filter((j) => this.net.canReach(this.#members[i]!.id, this.#members[j]!.id)).length > n / 2)
      .map((i) => ({ i, st: this.#members[i]!.node!.status() }))
      .filter((c) => c.st.role === "replica" && c.st.epoch === newest)
      .sort((a, b) => b.st.lsn - a.st.lsn || a.i - b.i);
    const chosen = candidates[0];
    if (chosen === undefined) return;
    this.#missedSince = null;
    const m = this.#members[chosen.i]!;
    this.#note(`sentinels promote ${m.id} (at LSN ${chosen.st.lsn})`);
    m.node!.promote().then(
      (r) => this.#note(`${m.id} promoted to epoch ${r.epoch}`),
      (e: unknown) => this.#note(`${m.id} promotion refused: ${String(e)}`),
    );
  }

  async connect(name: string, home: number): Promise<LabClient> {
    const store = await drive(
      this.clock,
      openStore({
        mode: "primary",
        doc: DOC,
        nodes: { primary: url(this.nodes[0]!), replicas: this.nodes.slice(1).map(url) },
        read: "replica",
        durability: this.#o.durability ?? { replicas: 1 },
        timeoutMs: 1_000,
        clock: this.clock,
        rng: this.#rng.fork(),
        links: (at, events) => {
          const node = at.slice("ws://".length);
          return new NodeLink({ url: at, transport: this.net.join(linkEndpoint(name, node)), node: clientEndpoint(node), clock: this.clock, ...events });
        },
      }),
      60_000,
      `opening client ${name}`,
    );
    this.#clients.push({ name, home, store });
    return labClient(store);
  }

  leader(): number | null {
    return this.#primary();
  }

  roles(): string[] {
    return this.#members.map((m) => {
      if (m.node === null) return "down";
      if (m.pause.paused) return "paused";
      const st = m.node.status();
      return st.role === "primary" && st.fenced ? "fenced" : st.role;
    });
  }

  #endpointsOf(i: number): PeerId[] {
    const id = this.#members[i]!.id;
    return [id, clientEndpoint(id), ...this.#clients.filter((c) => c.home === i).flatMap((c) => this.nodes.map((to) => linkEndpoint(c.name, to)))];
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.net.partition(groups.map((g) => g.flatMap((i) => this.#endpointsOf(i))));
  }

  cut(from: number, to: number): void {
    for (const a of this.#endpointsOf(from)) for (const b of this.#endpointsOf(to)) this.net.cut(a, b);
  }

  heal(): void {
    this.net.heal();
    this.net.setFaults({ loss: 0, duplicate: 0 });
  }

  setFaults(faults: Partial<NetworkFaults>): void {
    this.net.setFaults(faults);
  }

  crash(i: number): void {
    const m = this.#members[i]!;
    if (m.node === null) return;
    m.disk.crash();
    m.service!.close();
    m.feed!.close();
    void m.node.close().catch(() => undefined); // its disk is gone: this only stops its timers and links
    m.node = null;
    m.service = null;
    m.feed = null;
    if (m.pause.paused) m.pause.resume();
    this.#note(`${m.id} crash`);
  }

  async restart(i: number): Promise<void> {
    await this.#open(this.#members[i]!);
  }

  pause(i: number): void {
    const m = this.#members[i]!;
    if (m.node !== null) m.pause.pause();
  }

  resume(i: number): void {
    this.#members[i]!.pause.resume();
  }

  lagMs(i: number): number | null {
    const m = this.#members[i]!;
    if (m.node === null || m.pause.paused) return null;
    const info = m.node.readInfo();
    return info.role === "primary" ? 0 : info.silentMs;
  }

  state(i: number): NodeState {
    const node = this.#members[i]!.node;
    if (node === null) return null;
    return new Map(docView(() => node.state, DOC).entries("").map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  }

  async close(): Promise<void> {
    this.#sentinel?.();
    for (const c of this.#clients) {
      await drive(this.clock, c.store.close(), 60_000, `closing ${c.name}`).catch((e: unknown) => {
        if (!isConcordError(e)) throw e;
      });
    }
    for (const m of this.#members) {
      if (m.pause.paused) m.pause.resume();
      m.service?.close();
      m.feed?.close();
      if (m.node !== null) await drive(this.clock, m.node.close(), 60_000, `closing ${m.id}`);
    }
  }
}

