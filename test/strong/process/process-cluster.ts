/**
 * A strong-mode cluster of real processes on loopback for the Jepsen-style checks: each node a
 * child process (`concord node --mode strong` of the BUILT CLI, or the built `planted-node.js` with
 * a bug planted), real files with fsync, and every link between two nodes through a {@link LinkProxy} so
 * that it can be cut. Clients reach the nodes directly (a cut isolates a node from its peers, not
 * from its clients: the situation in which a stale leader or follower could lie). Faults: SIGKILL
 * and restart, SIGSTOP and SIGCONT, links cut (dropped or hung) and healed.
 */
import { health } from "../../cli/node-process.js";
import { freePort, spawnChild, tempDir, type Child } from "../../reliability/harness.js";
import type { PlantedBug } from "../../../src/strong/planted-bugs.js";
import { LinkProxy } from "../../../src/lab/link-proxy.js";

/** How a link is cut: its connections closed (`drop`), or its bytes held both ways (`hang`, a silent partition). */
export type CutKind = "drop" | "hang";

export interface ProcessClusterOptions {
  readonly size: number;
  /** Run the built `planted-node.js` with this bug instead of the CLI. */
  readonly bug?: PlantedBug;
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
}

export interface ProcessNode {
  readonly id: string;
  readonly port: number;
  /** Where clients reach it (directly, not through a proxy). */
  readonly url: string;
  readonly dataDir: string;
  proc: Child | null;
  paused: boolean;
}

export class ProcessCluster {
  readonly nodes: ProcessNode[];
  readonly #o: ProcessClusterOptions;
  /** proxies[i][j]: how node i reaches node j (undefined for i === j). */
  readonly #proxies: (LinkProxy | undefined)[][];
  /** Every fault and heal, with its time, for a failure's report. */
  readonly events: string[] = [];
  readonly #t0 = performance.now();

  private constructor(nodes: ProcessNode[], proxies: (LinkProxy | undefined)[][], o: ProcessClusterOptions) {
    this.nodes = nodes;
    this.#proxies = proxies;
    this.#o = o;
  }

  /** Starts `size` founding members n1..n<size>; resolves once every one serves and one leads. Stopped by `runCleanups` (children) and {@link close} (proxies). */
  static async start(o: ProcessClusterOptions): Promise<ProcessCluster> {
    const nodes: ProcessNode[] = [];
    for (let i = 1; i <= o.size; i++) {
      const port = await freePort();
      nodes.push({ id: `n${i}`, port, url: `ws://127.0.0.1:${port}`, dataDir: tempDir(`concord-jepsen-n${i}-`), proc: null, paused: false });
    }
    const proxies: (LinkProxy | undefined)[][] = [];
    for (const from of nodes) proxies.push(await Promise.all(nodes.map((to) => (to === from ? undefined : LinkProxy.start(to.port)))));
    const cluster = new ProcessCluster(nodes, proxies, o);
    await Promise.all(nodes.map((_, i) => cluster.restart(i)));
    await cluster.leader();
    return cluster;
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  note(what: string): void {
    this.events.push(`${(performance.now() - this.#t0).toFixed(0).padStart(6)} ms ${what}`);
  }

  /** Starts node `i` (again) on its port and data folder; resolves once it serves. */
  async restart(i: number): Promise<void> {
    const n = this.nodes[i]!;
    if (n.proc !== null) return;
    const peers = Object.fromEntries(this.nodes.map((m, j) => [m.id, j === i ? m.url : `ws://127.0.0.1:${this.#proxies[i]![j]!.port}`]));
    const heartbeatMs = this.#o.heartbeatMs ?? 50;
    const electionMs = this.#o.electionMs ?? 500;
    const args =
      this.#o.bug === undefined
        ? [
            ...["dist/cli/main.js", "node", "--mode", "strong", "--id", n.id, "--port", String(n.port), "--data", n.dataDir],
            ...["--peers", Object.entries(peers).map(([id, url]) => `${id}=${url}`).join(","), "--heartbeat-ms", String(heartbeatMs), "--election-ms", String(electionMs), "--log-level", "warn"],
          ]
        : ["dist/strong/planted-node.js", JSON.stringify({ id: n.id, port: n.port, dataDir: n.dataDir, peers, heartbeatMs, electionMs, bug: this.#o.bug })];
    const proc = spawnChild(args, `node ${n.id}`);
    n.proc = proc;
    n.paused = false;
    try {
      await proc.line(/^concord node: \S+ listening on /, 0, "its ready line");
    } catch (e) {
      if (n.proc !== proc) return; // killed (by a fault) while it started: that is what the schedule asked for
      throw e;
    }
    this.note(`${n.id} started (pid ${proc.pid})`);
  }

  /** SIGKILL: the process dies at once, with whatever it had not fsynced. */
  async kill(i: number): Promise<void> {
    const n = this.nodes[i]!;
    if (n.proc === null) return;
    const proc = n.proc;
    n.proc = null;
    n.paused = false;
    await proc.kill("SIGKILL");
    this.note(`${n.id} killed`);
  }

  /** SIGSTOP: frozen, connections open, believing what it believed; SIGCONT wakes it. */
  pause(i: number): void {
    const n = this.nodes[i]!;
    if (n.proc === null || n.paused) return;
    n.proc.child.kill("SIGSTOP");
    n.paused = true;
    this.note(`${n.id} paused`);
  }

  resume(i: number): void {
    const n = this.nodes[i]!;
    if (n.proc === null || !n.paused) return;
    n.proc.child.kill("SIGCONT");
    n.paused = false;
    this.note(`${n.id} resumed`);
  }

  /** Cuts the link between nodes `i` and `j`, both ways. */
  cut(i: number, j: number, kind: CutKind): void {
    for (const p of [this.#proxies[i]![j]!, this.#proxies[j]![i]!]) {
      if (kind === "drop") p.drop();
      else p.hold("both");
    }
    this.note(`link ${this.nodes[i]!.id}-${this.nodes[j]!.id} cut (${kind})`);
  }

  /** Cuts every link of node `i`: it is alone, its clients still reach it. */
  isolate(i: number, kind: CutKind): void {
    for (let j = 0; j < this.nodes.length; j++) if (j !== i) this.cut(i, j, kind);
  }

  /** Heals every link of node `i`. */
  heal(i: number): void {
    for (let j = 0; j < this.nodes.length; j++) {
      if (j === i) continue;
      this.#proxies[i]![j]!.heal();
      this.#proxies[j]![i]!.heal();
    }
    this.note(`${this.nodes[i]!.id}'s links healed`);
  }

  /** Every link healed, every process running and awake. */
  async healAll(): Promise<void> {
    for (const row of this.#proxies) for (const p of row) p?.heal();
    this.note("every link healed");
    for (let i = 0; i < this.nodes.length; i++) {
      this.resume(i);
      await this.restart(i);
    }
  }

  /** `/healthz` of node `i`, or undefined when it does not answer. */
  async health(i: number): Promise<Record<string, unknown> | undefined> {
    const n = this.nodes[i]!;
    if (n.proc === null || n.paused) return undefined;
    try {
      return await health(n.url);
    } catch {
      return undefined;
    }
  }

  /** The index of the node every running node agrees leads, once there is one. */
  async leader(): Promise<number> {
    let last = "";
    return poll(
      () => `a leader every running node knows (last: ${last})`,
      async () => {
        const hs = await Promise.all(this.nodes.map((_, i) => this.health(i)));
        last = JSON.stringify(hs.map((h) => h && { role: h["role"], leader: h["leader"], term: h["term"] }));
        const leaders = new Set(hs.filter((h) => h !== undefined).map((h) => h["leader"]));
        const [only] = leaders;
        return leaders.size === 1 && typeof only === "string" ? this.nodes.findIndex((n) => n.id === only) : undefined;
      },
    );
  }

  /** Resolves once every node runs and applied the same index (after a heal). */
  async converged(): Promise<void> {
    let last = "";
    await poll(
      () => `every node to apply what the leader applied (last: ${last})`,
      async () => {
        const hs = await Promise.all(this.nodes.map((_, i) => this.health(i)));
        last = JSON.stringify(hs.map((h) => h && { role: h["role"], commit: h["commit"], applied: h["applied"] }));
        return hs.every((h) => h !== undefined) && new Set(hs.map((h) => h?.["applied"])).size === 1;
      },
    );
  }

  /** Stops the proxies (the children are killed by `runCleanups`). */
  async close(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) this.resume(i);
    await Promise.all(this.#proxies.flat().map((p) => p?.close()));
  }
}

/**
 * `check()`'s first truthy answer, asked every 25 ms: for what only a query shows (a process's
 * `/healthz`: nothing is pushed). Rejects naming `what` after `ms`.
 */
async function poll<T>(what: () => string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
