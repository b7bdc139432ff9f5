/**
 * An `eventual`-mode group of real processes for the lab (`concord lab --real`), deployed as
 * eventual mode is: a sync server (the built `concord serve`, its files in a temp folder) and N
 * replicas, each an app process embedding an eventual store on files (`lab-replica.ts`) that
 * syncs with the server through its own loopback proxy. The lab's clients of a replica are its
 * app's users (requests over the process's stdin), so they live and die with it.
 *
 * The server is the hub every update goes through, so the network's faults fall on the replicas'
 * links to it: a partition leaves the server with the largest group (the first of equals) and cuts
 * the others' links; a one-way cut from a replica holds everything it sends (through the hub, a
 * replica's messages to one peer cannot be held without holding them to all); flaky links delay
 * (`lab/link-proxy.ts`). The server is never faulted: the scenarios name replicas.
 */
import { dirname, resolve } from "node:path";
import { ConcordError } from "../errors.js";
import { restartablePort, labFolder, LabProcess, removeLabFolder } from "../lab/lab-process.js";
import { LinkProxy } from "../lab/link-proxy.js";
import { OBSERVE_EVERY_MS } from "../lab/process-group.js";
import { WallClock } from "../lab/wall-clock.js";
import type { LabClient, LabWorld, NodeState } from "../lab/world.js";
import { seededRng, type Rng } from "../rng.js";
import type { NetworkFaults } from "../sim/sim-network.js";

export interface RealEventualWorldOptions {
  readonly seed: number;
  readonly size: number;
  /** Path of the built CLI's `main.js` (its folder's `../eventual/lab-replica.js` is a replica). */
  readonly cli: string;
}

const DOC = "d";

interface Answer {
  readonly ok: boolean;
  readonly [field: string]: unknown;
}

interface Replica {
  readonly id: string;
  readonly dataDir: string;
  readonly proxy: LinkProxy;
  proc: LabProcess | null;
  starting: Promise<void> | null;
  /** Requests sent and not answered, by number. */
  readonly pending: Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>;
  state: Map<string, string | null> | null;
  /** Its state vector when last observed: Yjs client id to the clock of its next item. */
  sv: Map<number, number>;
}

export class RealEventualWorld implements LabWorld {
  readonly mode = "eventual" as const;
  readonly clock = new WallClock();
  readonly nodes: readonly string[];
  readonly #o: RealEventualWorldOptions;
  readonly #rng: Rng;
  #server: LabProcess | null = null;
  #serverDir: string | null = null;
  readonly #replicas: Replica[] = [];
  #next = 1;
  #dropOnPartition = true;
  #observing: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Item id of each value written and acknowledged. */
  readonly #written = new Map<string, { readonly client: number; readonly clock: number }>();

  constructor(o: RealEventualWorldOptions) {
    this.#o = o;
    this.#rng = seededRng(o.seed);
    this.nodes = Array.from({ length: o.size }, (_, i) => `n${i + 1}`);
  }

  async start(): Promise<void> {
    const port = await restartablePort();
    this.#serverDir = labFolder("concord-lab-server-");
    this.#server = await LabProcess.start("sync server", [this.#o.cli, "serve", "--port", String(port), "--data", this.#serverDir, "--static", "none", "--log-level", "error"], /^concord serve: listening on /);
    for (const id of this.nodes) {
      this.#replicas.push({ id, dataDir: labFolder(`concord-lab-${id}-`), proxy: await LinkProxy.start(port), proc: null, starting: null, pending: new Map(), state: null, sv: new Map() });
    }
    await Promise.all(this.#replicas.map((_, i) => this.restart(i)));
    this.#observe();
  }

  restart(i: number): Promise<void> {
    const r = this.#replicas[i]!;
    if (r.proc !== null) return Promise.resolve();
    if (r.starting !== null) return r.starting;
    const script = resolve(dirname(this.#o.cli), "../eventual/lab-replica.js");
    const args = JSON.stringify({ id: r.id, url: `ws://127.0.0.1:${r.proxy.port}`, dataDir: r.dataDir, doc: DOC });
    r.starting = LabProcess.start(`replica ${r.id}`, [script, args], /^concord lab replica: \S+ ready/, (line) => this.#answered(r, line))
      .then((proc) => {
        if (this.#closed) return void proc.kill();
        r.proc = proc;
        void proc.exited.then(() => this.#fail(r, proc));
      })
      .finally(() => (r.starting = null));
    return r.starting;
  }

  #answered(r: Replica, line: string): void {
    let a: Answer & { n?: unknown };
    try {
      a = JSON.parse(line) as Answer & { n?: unknown };
    } catch {
      return;
    }
    const waiting = typeof a.n === "number" ? r.pending.get(a.n) : undefined;
    if (waiting === undefined) return;
    r.pending.delete(a.n as number);
    waiting.resolve(a);
  }

  /** The replica's process is gone: what it was asked and did not answer has an unknown outcome. */
  #fail(r: Replica, proc: LabProcess): void {
    if (r.proc === proc) r.proc = null;
    const lost = new ConcordError("Unavailable", `replica ${r.id} crashed before answering`, { node: r.id, outcome: "unknown" });
    for (const w of r.pending.values()) w.reject(lost);
    r.pending.clear();
    r.state = null;
  }

  /** Sends `request` to replica `i`'s app and resolves with its answer. */
  #ask(i: number, request: Record<string, unknown>): Promise<Answer> {
    const r = this.#replicas[i]!;
    if (r.proc === null) return Promise.reject(new ConcordError("Unavailable", `replica ${r.id} is down`, { node: r.id, outcome: "not-applied" }));
    const n = this.#next++;
    const proc = r.proc;
    return new Promise<Answer>((resolve, reject) => {
      r.pending.set(n, { resolve, reject });
      proc.send(JSON.stringify({ n, ...request }));
    });
  }

  async connect(_name: string, home: number): Promise<LabClient> {
    const failed = (a: Answer): ConcordError => new ConcordError("Unavailable", `replica ${this.nodes[home]} answered ${String(a["code"])}: ${String(a["message"])}`, { node: this.nodes[home]!, outcome: "unknown" });
    return {
      get: async (key) => {
        const a = await this.#ask(home, { op: "get", key });
        if (!a.ok) throw failed(a);
        return typeof a["value"] === "string" ? a["value"] : null;
      },
      set: async (key, value) => {
        const a = await this.#ask(home, { op: "set", key, value });
        if (!a.ok) throw failed(a);
        this.#written.set(value, { client: Number(a["client"]), clock: Number(a["clock"]) });
      },
    };
  }

  /** Asks every running, awake replica its state now; resolves once each answered or died. */
  async refresh(): Promise<void> {
    await Promise.all(
      this.#replicas.map(async (r, i) => {
        const proc = r.proc;
        if (proc === null || proc.paused) return;
        const a = await this.#ask(i, { op: "observe" }).catch(() => undefined);
        if (a?.ok !== true || r.proc !== proc) return;
        r.state = new Map(a["state"] as [string, string | null][]);
        r.sv = new Map(a["sv"] as [number, number][]);
      }),
    );
  }

  /** {@link refresh}, again {@link OBSERVE_EVERY_MS} after the last answers, until {@link close}. */
  #observe(): void {
    void this.refresh().then(() => {
      if (!this.#closed) this.#observing = setTimeout(() => this.#observe(), OBSERVE_EVERY_MS);
    });
  }

  leader(): number | null {
    const i = this.#replicas.findIndex((r) => r.proc !== null && !r.proc.paused);
    return i < 0 ? null : i;
  }

  roles(): string[] {
    return this.#replicas.map((r) => (r.proc === null ? "down" : r.proc.paused ? "paused" : "replica"));
  }

  partition(groups: readonly (readonly number[])[]): void {
    const hub = groups.reduce((best, g) => (g.length > best.length ? g : best), groups[0] ?? []);
    this.#replicas.forEach((r, i) => {
      if (hub.includes(i)) return;
      if (this.#dropOnPartition) r.proxy.drop();
      else r.proxy.hold("both");
    });
  }

  cut(from: number): void {
    this.#replicas[from]!.proxy.hold("forward");
  }

  heal(): void {
    for (const r of this.#replicas) r.proxy.heal();
  }

  setFaults(faults: Partial<NetworkFaults>): void {
    if (faults.disconnectOnPartition !== undefined) this.#dropOnPartition = faults.disconnectOnPartition;
    if ((faults.loss ?? 0) === 0 && faults.delay === undefined) return;
    const medianMs = faults.delay?.medianMs ?? 1;
    for (const r of this.#replicas) r.proxy.flaky({ loss: faults.loss ?? 0, medianMs, maxMs: faults.delay?.maxMs ?? medianMs, rng: this.#rng.fork() });
  }

  crash(i: number): void {
    const r = this.#replicas[i]!;
    const proc = r.proc;
    if (proc === null) return;
    this.#fail(r, proc);
    void proc.kill();
  }

  pause(i: number): void {
    this.#replicas[i]!.proc?.pause();
  }

  resume(i: number): void {
    this.#replicas[i]!.proc?.resume();
  }

  state(i: number): NodeState {
    const r = this.#replicas[i]!;
    return r.proc === null ? null : r.state;
  }

  /** Values whose write reached the state of the first replica that is up (after convergence: every one). */
  delivered(): ReadonlySet<string> {
    const r = this.#replicas.find((x) => x.proc !== null && x.state !== null);
    const out = new Set<string>();
    if (r === undefined) return out;
    for (const [value, id] of this.#written) if ((r.sv.get(id.client) ?? 0) > id.clock) out.add(value);
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#observing !== null) clearTimeout(this.#observing);
    for (const r of this.#replicas) {
      await r.starting?.catch(() => undefined);
      const proc = r.proc;
      r.proc = null;
      await proc?.kill();
      await r.proxy.close();
      removeLabFolder(r.dataDir);
    }
    await this.#server?.kill();
    if (this.#serverDir !== null) removeLabFolder(this.#serverDir);
  }
}
