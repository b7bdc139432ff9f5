/**
 * A `strong`-mode cluster of real processes for the lab (`concord lab --real`): each node the built
 * `concord node --mode strong` (or, with a bug planted, the built `planted-node.js`) on loopback with
 * its files in a temp folder, linked through loopback proxies that the scenario cuts
 * (`lab/process-group.ts`), and real strong-mode stores as the clients, each reaching its own node
 * directly and the others through its node's side of the network. Roles come from each node's
 * `/healthz`; the wall clock runs it. A run starts with n1 leading.
 */
import { dirname, resolve } from "node:path";
import { requestOnce } from "../client/one-request.js";
import { ProcessWorld } from "../lab/process-world.js";
import type { LabClient } from "../lab/world.js";
import { openStore } from "../open-store.js";
import type { PlantedBug } from "./planted-bugs.js";

export interface RealStrongWorldOptions {
  readonly seed: number;
  readonly size: number;
  /** Path of the built CLI's `main.js` (its folder's `../strong/planted-node.js` runs a planted bug). */
  readonly cli: string;
  readonly bug?: PlantedBug;
  /** Raft's heartbeat and election timeout, ms. Default 50 and 500. */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
}

const DOC = "d";
/** Client timeout per request, ms. */
const CLIENT_TIMEOUT_MS = 1_000;

export class RealStrongWorld extends ProcessWorld {
  readonly mode = "strong" as const;
  readonly #o: RealStrongWorldOptions;

  constructor(o: RealStrongWorldOptions) {
    super(o.size);
    this.#o = o;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const heartbeatMs = o.heartbeatMs ?? 50;
    const electionMs = o.electionMs ?? 500;
    await this.startGroup({
      seed: o.seed,
      doc: DOC,
      ready: /^concord node: \S+ listening on /,
      command: ({ id, port, dataDir, peers }) => {
        const byId = Object.fromEntries(peers.map((url, j) => [this.nodes[j]!, url]));
        if (o.bug !== undefined) {
          return [resolve(dirname(o.cli), "../strong/planted-node.js"), JSON.stringify({ id, port, dataDir, peers: byId, heartbeatMs, electionMs, bug: o.bug })];
        }
        return [
          ...[o.cli, "node", "--mode", "strong", "--id", id, "--port", String(port), "--data", dataDir],
          ...["--peers", Object.entries(byId).map(([p, url]) => `${p}=${url}`).join(","), "--heartbeat-ms", String(heartbeatMs), "--election-ms", String(electionMs), "--log-level", "error"],
        ];
      },
    });
    // The run starts once n1 leads, as every mode's world starts (the primary's is n1), so that a
    // scenario's fixed groups mean the same on every run: whoever won the first election hands
    // leadership to n1.
    await this.clock.runUntil(() => this.leader() !== null, { maxMs: 20_000 });
    for (let attempt = 0; attempt < 5 && this.leader() !== 0; attempt++) {
      const leader = this.leader();
      if (leader !== null) await requestOnce(`${this.group.members[leader]!.url}/client`, { type: "admin", action: { type: "transfer", node: "n1" } }, 5_000).catch(() => undefined);
      await this.clock.runUntil(() => this.leader() === 0, { maxMs: 2_000 });
    }
  }

  async connect(_name: string, home: number): Promise<LabClient> {
    const nodes = this.nodes.map((_, j) => this.group.clientUrl(home, j));
    return this.client(await openStore({ mode: "strong", doc: DOC, nodes, timeoutMs: CLIENT_TIMEOUT_MS }));
  }

  leader(): number | null {
    let best: { i: number; term: number } | null = null;
    for (let i = 0; i < this.nodes.length; i++) {
      const h = this.health(i);
      if (h?.["role"] !== "leader") continue;
      const term = Number(h["term"]);
      if (best === null || term > best.term) best = { i, term };
    }
    return best?.i ?? null;
  }

  protected roleOf(health: Readonly<Record<string, unknown>>): string {
    return String(health["role"]);
  }
}
