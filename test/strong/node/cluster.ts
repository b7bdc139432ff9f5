/**
 * A strong-mode cluster for tests: real `startNodeServer({ mode: "strong" })` servers in this
 * process, on loopback (ports picked up front, so every node knows every other's URL), real files
 * with fsync, fast Raft timing (elections within a second). Stopped by
 * `runCleanups`.
 */
import { startNodeServer, type StrongNodeServerOptions } from "../../../src/node-servers.js";
import { openStore } from "../../../src/open-store.js";
import type { LogEntry } from "../../../src/ops/log.js";
import type { NodeServer } from "../../../src/service/node-server.js";
import type { StrongEngine } from "../../../src/strong/strong-engine.js";
import type { StrongOptions, StrongStore } from "../../../src/strong/strong-client.js";
import { freePort, onCleanup, tempDir, waitFor } from "../../reliability/harness.js";

/**
 * Raft timing of test clusters: heartbeats every 25 ms, elections after 500 to 1000 ms of silence
 * (several nodes share this process's event loop and fsync on it: heartbeats must be able to wait).
 */
export const FAST_RAFT = { tickMs: 25, electionTicks: 20, heartbeatTicks: 1 } as const;

export interface ClusterNode {
  readonly id: string;
  readonly url: string;
  readonly dataDir: string;
  server: NodeServer<StrongEngine> | null;
  readonly logs: LogEntry[];
}

export class TestCluster {
  readonly nodes: ClusterNode[];
  readonly #peers: Map<string, string>;
  readonly #options: Partial<StrongNodeServerOptions>;
  /** Woken by every log entry of every node (a leader change is logged). */
  readonly #wakes = new Set<() => void>();

  private constructor(nodes: ClusterNode[], options: Partial<StrongNodeServerOptions>) {
    this.nodes = nodes;
    this.#peers = new Map(nodes.map((n) => [n.id, n.url]));
    this.#options = options;
  }

  /** Starts `size` founding members n1..n<size> (serving `wss://` when `options.tls` is given). */
  static async start(size: number, options: Partial<StrongNodeServerOptions> = {}): Promise<TestCluster> {
    const nodes: ClusterNode[] = [];
    const scheme = options.tls === undefined ? "ws" : "wss";
    for (let i = 1; i <= size; i++) {
      const port = await freePort();
      nodes.push({ id: `n${i}`, url: `${scheme}://127.0.0.1:${port}`, dataDir: tempDir(`concord-strong-n${i}-`), server: null, logs: [] });
    }
    const cluster = new TestCluster(nodes, options);
    onCleanup(() => cluster.stopAll());
    await Promise.all(nodes.map((n) => cluster.restart(n.id)));
    return cluster;
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  node(id: string): ClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** (Re)starts node `id` from its data folder, on its port. */
  async restart(id: string, extra: Partial<StrongNodeServerOptions> = {}): Promise<NodeServer<StrongEngine>> {
    const n = this.node(id);
    const port = Number(new URL(n.url).port);
    const server = await startNodeServer({
      mode: "strong",
      id,
      port,
      dataDir: n.dataDir,
      peers: this.#peers,
      log: (e) => {
        n.logs.push(e);
        for (const wake of [...this.#wakes]) wake();
      },
      raft: FAST_RAFT,
      ...this.#options,
      ...extra,
    });
    n.server = server;
    return server;
  }

  /** Stops node `id` gracefully. */
  async stop(id: string): Promise<void> {
    const n = this.node(id);
    const server = n.server;
    n.server = null;
    await server?.close();
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stop(n.id)));
  }

  /** The id of the node every running node agrees leads, once there is one. */
  leader(): Promise<string> {
    return this.until("a leader every running node knows", () => {
      const leaders = new Set(this.nodes.filter((n) => n.server !== null).map((n) => n.server!.engine.node.status().leader));
      const [only] = leaders;
      return leaders.size === 1 && only !== null && only !== undefined ? only : undefined;
    });
  }

  /** Resolves with `check()` once it is truthy, checked again after every log entry of every node. */
  until<T>(what: string, check: () => T | undefined | false): Promise<T> {
    return waitFor(what, check, (wake) => {
      this.#wakes.add(wake);
      return () => this.#wakes.delete(wake);
    });
  }

  /** A strong-mode store of this cluster; closed by `runCleanups`. */
  async open(o: Partial<StrongOptions> = {}): Promise<StrongStore> {
    const store = await openStore({ mode: "strong", doc: "d", nodes: this.urls, timeoutMs: 5_000, backoff: { initialMs: 20, maxMs: 200 }, ...o });
    onCleanup(() => store.close());
    return store;
  }
}
