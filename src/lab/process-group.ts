/**
 * A group of node processes on loopback for the lab's runs on real processes (`--real`): each node
 * a child process (the built `concord node`, started by the mode's world) with its own port and
 * data folder, every link between two nodes through a {@link LinkProxy}, and the clients that sit
 * with a node reaching every other node through one too, so that a partition separates clients as
 * it separates their nodes. What the lab's port asks of a world (partitions, one-way cuts, flaky
 * links, crashes, restarts, pauses) is done here to real processes and real sockets; what only the
 * nodes know (their roles, their state) is asked of them over HTTP (`/healthz`) and the client
 * protocol (a `local` read of the lab's document) every {@link OBSERVE_EVERY_MS}, and kept.
 *
 * Mode-neutral: a mode's world says how to start its node (`command`) and reads its health.
 */
import { requestOnce } from "../client/one-request.js";
import { seededRng, type Rng } from "../rng.js";
import type { NetworkFaults } from "../sim/sim-network.js";
import { restartablePort, labFolder, LabProcess, removeLabFolder } from "./lab-process.js";
import { LinkProxy } from "./link-proxy.js";
import type { NodeState } from "./world.js";

/** How often every node is asked its health and state, ms. */
export const OBSERVE_EVERY_MS = 50;
/** How long an observation waits for a node's answer, ms (a paused node never answers). */
export const OBSERVE_WITHIN_MS = 300;

/** Where node `i` is started: its port, data folder, and every node's URL as `i` reaches it. */
export interface NodePlace {
  readonly index: number;
  readonly id: string;
  readonly port: number;
  readonly dataDir: string;
  /** Node `j`'s base URL as node `i` dials it (through a proxy; its own direct). */
  readonly peers: readonly string[];
}

export interface ProcessGroupOptions {
  readonly size: number;
  readonly seed: number;
  /** The lab's document: the one observed. */
  readonly doc: string;
  /** Node arguments after `node` (e.g. the built CLI and its flags). */
  readonly command: (place: NodePlace) => readonly string[];
  /** The line a node prints once it serves. */
  readonly ready: RegExp;
}

/** What a node said when last asked. */
export interface Observation {
  /** Its `/healthz` body, or undefined when it did not answer. */
  readonly health: Readonly<Record<string, unknown>> | undefined;
  /** Its state of the lab's document, or undefined when it did not answer. */
  readonly state: ReadonlyMap<string, string | null> | undefined;
}

interface Member {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  proc: LabProcess | null;
  starting: Promise<void> | null;
  seen: Observation;
}

const NOTHING: Observation = { health: undefined, state: undefined };

export class ProcessGroup {
  readonly members: readonly Member[];
  readonly #o: ProcessGroupOptions;
  /** peer[i][j]: how node i reaches node j. */
  readonly #peer: (LinkProxy | undefined)[][];
  /** client[h][j]: how the clients of node h reach node j. */
  readonly #client: (LinkProxy | undefined)[][];
  readonly #rng: Rng;
  #observing: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  private constructor(o: ProcessGroupOptions, members: Member[], peer: (LinkProxy | undefined)[][], client: (LinkProxy | undefined)[][]) {
    this.#o = o;
    this.members = members;
    this.#peer = peer;
    this.#client = client;
    this.#rng = seededRng(o.seed);
  }

  /** Picks ports and folders and opens the proxies; {@link start} starts the nodes. */
  static async create(o: ProcessGroupOptions): Promise<ProcessGroup> {
    const members: Member[] = [];
    for (let i = 0; i < o.size; i++) {
      const port = await restartablePort();
      members.push({ id: `n${i + 1}`, port, url: `ws://127.0.0.1:${port}`, dataDir: labFolder(`concord-lab-n${i + 1}-`), proc: null, starting: null, seen: NOTHING });
    }
    const proxies = (): Promise<(LinkProxy | undefined)[][]> => Promise.all(members.map((from) => Promise.all(members.map((to) => (to === from ? undefined : LinkProxy.start(to.port))))));
    return new ProcessGroup(o, members, await proxies(), await proxies());
  }

  /** Node `j`'s base URL as the clients of node `home` reach it. */
  clientUrl(home: number, j: number): string {
    const p = this.#client[home]![j];
    return p === undefined ? this.members[j]!.url : `ws://127.0.0.1:${p.port}`;
  }

  /** Starts every node, then observes them until {@link close}. */
  async start(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.restart(i)));
    this.#observe();
  }

  /** Starts node `i` (again) on its port and folder; resolves once it serves. No-op while it runs or starts. */
  restart(i: number): Promise<void> {
    const m = this.members[i]!;
    if (m.proc !== null) return Promise.resolve();
    if (m.starting !== null) return m.starting;
    const peers = this.members.map((n, j) => (j === i ? n.url : `ws://127.0.0.1:${this.#peer[i]![j]!.port}`));
    m.starting = LabProcess.start(`node ${m.id}`, this.#o.command({ index: i, id: m.id, port: m.port, dataDir: m.dataDir, peers }), this.#o.ready)
      .then((proc) => {
        if (this.#closed) return void proc.kill();
        m.proc = proc;
      })
      .finally(() => (m.starting = null));
    return m.starting;
  }

  /** SIGKILL: node `i` dies with whatever it had not fsynced. */
  crash(i: number): void {
    const m = this.members[i]!;
    if (m.proc === null) return;
    void m.proc.kill();
    m.proc = null;
    m.seen = NOTHING;
  }

  pause(i: number): void {
    this.members[i]!.proc?.pause();
  }

  resume(i: number): void {
    this.members[i]!.proc?.resume();
  }

  /** `down`, `paused`, or null while it runs. */
  condition(i: number): "down" | "paused" | null {
    const p = this.members[i]!.proc;
    return p === null ? "down" : p.paused ? "paused" : null;
  }

  /** Node `i`'s answers when last asked (nothing while it is down). */
  seen(i: number): Observation {
    return this.members[i]!.seen;
  }

  /** Node `i`'s state when last asked; null while it is down or not yet asked since it started. */
  state(i: number): NodeState {
    const m = this.members[i]!;
    return m.proc === null ? null : (m.seen.state ?? null);
  }

  /** Nodes `i` and `j` reach each other (no proxy between them dropped or holding). */
  linked(i: number, j: number): boolean {
    return i === j || (this.#peer[i]![j]!.state === "open" && this.#peer[j]![i]!.state === "open");
  }

  /** Every link between the groups (nodes' and clients') closed, or held silent (`how`). */
  partition(groups: readonly (readonly number[])[], how: "drop" | "hold"): void {
    const side = (i: number): number => groups.findIndex((g) => g.includes(i));
    for (let i = 0; i < this.members.length; i++) {
      for (let j = 0; j < this.members.length; j++) {
        if (i === j || side(i) === side(j)) continue;
        for (const p of [this.#peer[i]![j]!, this.#client[i]![j]!]) {
          if (how === "drop") p.drop();
          else p.hold("both");
        }
      }
    }
  }

  /** Silently holds what node `from` (and its clients) sends to node `to` (and its clients). */
  cut(from: number, to: number): void {
    this.#peer[from]![to]!.hold("forward");
    this.#peer[to]![from]!.hold("back");
    this.#client[from]![to]!.hold("forward");
    this.#client[to]![from]!.hold("back");
  }

  heal(): void {
    for (const p of this.#proxies()) p.heal();
  }

  /** Every link delays as `faults` says (see `LinkProxy.flaky`: under TCP, loss is delay and duplicates never arrive). */
  flaky(faults: Partial<NetworkFaults>): void {
    const delay = faults.delay;
    if ((faults.loss ?? 0) === 0 && delay === undefined) return;
    const medianMs = delay?.medianMs ?? 1;
    const maxMs = delay?.maxMs ?? medianMs;
    for (const p of this.#proxies()) p.flaky({ loss: faults.loss ?? 0, medianMs, maxMs, rng: this.#rng.fork() });
  }

  /** Stops observing, kills every node, closes the proxies and removes the data folders. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#observing !== null) clearTimeout(this.#observing);
    await Promise.all(this.members.map(async (m) => {
      await m.starting?.catch(() => undefined);
      const proc = m.proc;
      m.proc = null;
      await proc?.kill();
    }));
    await Promise.all(this.#proxies().map((p) => p.close()));
    for (const m of this.members) removeLabFolder(m.dataDir);
  }

  #proxies(): LinkProxy[] {
    return [...this.#peer.flat(), ...this.#client.flat()].filter((p): p is LinkProxy => p !== undefined);
  }

  /** Asks every running, awake node its health and state now; resolves once each answered or gave up. */
  async refresh(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const proc = m.proc;
        if (proc === null || proc.paused) return;
        const [health, state] = await Promise.all([healthOf(m.url), stateOf(m.url, this.#o.doc)]);
        // Answers from a node killed meanwhile are not its state any more.
        if (m.proc === proc) m.seen = { health: health ?? m.seen.health, state: state ?? m.seen.state };
      }),
    );
  }

  /** {@link refresh}, again {@link OBSERVE_EVERY_MS} after the last answers, until {@link close}. */
  #observe(): void {
    void this.refresh().then(() => {
      if (!this.#closed) this.#observing = setTimeout(() => this.#observe(), OBSERVE_EVERY_MS);
    });
  }
}

async function healthOf(url: string): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(`${url.replace(/^ws/, "http")}/healthz`, { signal: AbortSignal.timeout(OBSERVE_WITHIN_MS) });
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function stateOf(url: string, doc: string): Promise<Map<string, string | null> | undefined> {
  try {
    const r = await requestOnce(`${url}/client`, { type: "entries", doc, prefix: "", read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: OBSERVE_WITHIN_MS } }, OBSERVE_WITHIN_MS);
    if (r.type !== "entries") return undefined;
    return new Map(r.entries.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  } catch {
    return undefined;
  }
}
