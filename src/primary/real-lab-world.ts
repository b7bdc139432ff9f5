/**
 * A `primary`-mode group of real processes for the lab (`concord lab --real`): each node the built
 * `concord node` on loopback with its write-ahead log in a temp folder (n1 starts as primary, the
 * others as its read replicas), linked through loopback proxies that the scenario cuts
 * (`lab/process-group.ts`), and real primary-mode stores as the clients, reading from the replicas.
 *
 * Failover is an operator's, as in the simulated world (`lab-world.ts`) and as Redis Sentinel does
 * it: a sentinel beside each node; when more than half of them have not reached the primary for
 * `failoverAfterMs`, the most advanced replica among them that knows the newest epoch is promoted
 * (the `promote` admin request `concord promote` sends). What a sentinel reaches is what its node
 * reaches through the proxies; what each node holds is what its `/healthz` said last.
 */
import { requestOnce } from "../client/one-request.js";
import { ProcessWorld } from "../lab/process-world.js";
import type { LabClient } from "../lab/world.js";
import { openStore } from "../open-store.js";

export interface RealPrimaryWorldOptions {
  readonly seed: number;
  readonly size: number;
  /** Path of the built CLI's `main.js`. */
  readonly cli: string;
  /** How long a majority of sentinels must miss the primary before a promotion, ms. Default 1,000. */
  readonly failoverAfterMs?: number;
}

const DOC = "d";
const CLIENT_TIMEOUT_MS = 1_000;
const SENTINEL_MS = 100;
const PROMOTE_WITHIN_MS = 5_000;

export class RealPrimaryWorld extends ProcessWorld {
  readonly mode = "primary" as const;
  readonly #o: RealPrimaryWorldOptions;
  #missedSince: number | null = null;
  #sentinel: (() => void) | null = null;
  #promoting = false;

  constructor(o: RealPrimaryWorldOptions) {
    super(o.size);
    this.#o = o;
  }

  async start(): Promise<void> {
    const cli = this.#o.cli;
    await this.startGroup({
      seed: this.#o.seed,
      doc: DOC,
      ready: /^concord node: \S+ listening on /,
      command: ({ index, id, port, dataDir, peers }) => [
        ...[cli, "node", "--id", id, "--port", String(port), "--data", dataDir, "--log-level", "error"],
        ...(index === 0 ? ["--mode", "primary"] : ["--mode", "replica", "--primary", `n1=${peers[0]}`]),
        ...["--peers", peers.map((url, j) => `${this.nodes[j]}=${url}`).join(",")],
      ],
    });
    await this.clock.runUntil(() => this.leader() !== null && this.nodes.every((_, i) => this.health(i) !== undefined), { maxMs: 20_000 });
    const tick = (): void => {
      this.#watch();
      this.#sentinel = this.clock.setTimer(SENTINEL_MS, tick);
    };
    this.#sentinel = this.clock.setTimer(SENTINEL_MS, tick);
  }

  leader(): number | null {
    let best: { i: number; epoch: number } | null = null;
    for (let i = 0; i < this.nodes.length; i++) {
      const h = this.health(i);
      if (h?.["role"] !== "primary" || h["fenced"] === true) continue;
      const epoch = Number(h["epoch"]);
      if (best === null || epoch > best.epoch) best = { i, epoch };
    }
    return best?.i ?? null;
  }

  /** The sentinels' round: promote when a majority has missed the primary long enough. */
  #watch(): void {
    if (this.#promoting) return;
    const g = this.group;
    const p = this.leader();
    const n = this.nodes.length;
    const missing = this.nodes.map((_, i) => i).filter((i) => g.condition(i) === null && (p === null || !g.linked(i, p)));
    if (missing.length <= n / 2) {
      this.#missedSince = null;
      return;
    }
    this.#missedSince ??= this.clock.now();
    if (this.clock.now() - this.#missedSince < (this.#o.failoverAfterMs ?? 1_000)) return;
    const newest = Math.max(...this.nodes.map((_, i) => Number(g.seen(i).health?.["epoch"] ?? 0)));
    const chosen = missing
      .filter((i) => missing.filter((j) => g.linked(i, j)).length > n / 2)
      .map((i) => ({ i, h: this.health(i) }))
      .filter((c) => c.h?.["role"] === "replica" && Number(c.h["epoch"]) === newest)
      .sort((a, b) => Number(b.h!["lsn"]) - Number(a.h!["lsn"]) || a.i - b.i)[0];
    if (chosen === undefined) return;
    this.#missedSince = null;
    this.#promoting = true;
    void requestOnce(`${g.members[chosen.i]!.url}/client`, { type: "admin", action: { type: "promote" } }, PROMOTE_WITHIN_MS)
      .catch(() => undefined)
      .finally(() => (this.#promoting = false));
  }

  async connect(_name: string, home: number): Promise<LabClient> {
    const urls = this.nodes.map((_, j) => this.group.clientUrl(home, j));
    const store = await openStore({
      mode: "primary",
      doc: DOC,
      nodes: { primary: urls[0]!, replicas: urls.slice(1) },
      read: "replica",
      durability: { replicas: 1 },
      timeoutMs: CLIENT_TIMEOUT_MS,
    });
    return this.client(store);
  }

  protected roleOf(h: Readonly<Record<string, unknown>>): string {
    return h["role"] === "primary" && h["fenced"] === true ? "fenced" : String(h["role"]);
  }

  lagMs(i: number): number | null {
    const h = this.health(i);
    if (h === undefined) return null;
    if (h["role"] === "primary") return 0;
    const silent = Number(h["silentMs"]);
    return silent < 0 ? null : silent;
  }

  override async close(): Promise<void> {
    this.#sentinel?.();
    await super.close();
  }
}
