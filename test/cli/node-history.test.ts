/**
 * `primary` mode as real processes under random kill schedules: three `concord node` processes
 * (p1 leads epoch 1; r1, r2 replicate) on loopback with real files and fsync. fast-check draws a
 * schedule of write bursts at every durability level, SIGKILLs (of the primary under load, or of a
 * replica), restarts with the same flags, and promotions (of a replica that has seen the newest
 * epoch, with the primary dead or alive); the test records every write's outcome and checks the
 * history against the logs on disk (primary-history.ts) after each kill, each promotion and a
 * final heal.
 *
 * `npm test` runs REL_RUNS schedules (default 2); REL_SEED replays one (a failure prints the
 * command and the schedule). Timing is real, so a replay draws the same schedule, not the same
 * interleaving.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { NODE_DOC } from "../../src/primary/primary-engine.js";
import { encodeRequest } from "../../src/service/protocol-codec.js";
import type { WireDurability } from "../../src/service/protocol.js";
import { recover, type Recovered } from "../../src/primary/wal.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { freePort, isEvent, runCleanups, tempDir, waitFor, within, withSeed } from "../reliability/harness.js";
import { expectAnswer, type NodeClient } from "../service/node-client.js";
import { client, health, startNode, type NodeProcess } from "./node-process.js";
import { checkFinal, checkKilled, checkPromoted, HISTORY_DOC, type Level, type Promotion, type WriteRecord } from "./primary-history.js";

const DOC = HISTORY_DOC;

afterEach(runCleanups);

const IDS = ["p1", "r1", "r2"] as const;
type Id = (typeof IDS)[number];

type Step =
  | { readonly kind: "write"; readonly count: number; readonly level: Level; readonly inFlight: number }
  | { readonly kind: "kill"; readonly node: number; readonly afterAcks: number }
  | { readonly kind: "restart"; readonly node: number }
  | { readonly kind: "promote"; readonly node: number };

const node = fc.nat({ max: IDS.length - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("write" as const), count: fc.integer({ min: 1, max: 40 }), level: fc.constantFrom<Level>(0, 1, 2), inFlight: fc.integer({ min: 1, max: 16 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("kill" as const), node, afterAcks: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("restart" as const), node }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("promote" as const), node }) },
);
const schedule = fc.array(step, { minLength: 6, maxLength: 16 });

const READ = { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 10_000 } as const;

function durability(level: Level): WireDurability {
  return level === 0 ? { level: "local" } : { level: "replicas", n: level };
}

async function readLog(dir: string): Promise<Recovered> {
  const storage = await fileStorage(dir, { fsync: "always" }).open(NODE_DOC);
  try {
    return recover(await storage.load());
  } finally {
    await storage.close();
  }
}

/** One group of three node processes and the history of the writes made to it. */
class Group {
  readonly args = new Map<Id, string[]>();
  readonly dirs = new Map<Id, string>();
  readonly live = new Map<Id, { proc: NodeProcess; client: NodeClient; pending: Map<number, WriteRecord> }>();
  /** Every process ever started (for the discard reports in their logs). */
  readonly procs: NodeProcess[] = [];
  readonly writes: WriteRecord[] = [];
  readonly promotions: Promotion[] = [];
  readonly stats = { acked: 0, kills: 0, promotions: 0, restarts: 0 };
  primary: Id = "p1";
  #nextId = 1;
  readonly #wakes = new Set<() => void>();

  static async start(): Promise<Group> {
    const g = new Group();
    const ports = new Map<Id, number>();
    for (const id of IDS) ports.set(id, await freePort());
    const peers = IDS.map((id) => `${id}=ws://127.0.0.1:${ports.get(id)}`).join(",");
    for (const id of IDS) {
      g.dirs.set(id, tempDir(`concord-history-${id}-`));
      const role = id === "p1" ? ["--mode", "primary"] : ["--mode", "replica", "--primary", `p1=ws://127.0.0.1:${ports.get("p1")}`];
      g.args.set(id, [...role, "--id", id, "--port", String(ports.get(id)), "--data", g.dirs.get(id)!, "--peers", peers]);
    }
    for (const id of IDS) await g.startNode(id);
    return g;
  }

  async startNode(id: Id): Promise<void> {
    const proc = await startNode(this.args.get(id)!);
    this.procs.push(proc);
    const c = await client(proc.url);
    const mine = new Map<number, WriteRecord>();
    this.live.set(id, { proc, client: c, pending: mine });
    c.onResponse((r) => {
      if (r.type === "changes") return;
      const w = mine.get(r.id);
      if (w === undefined) return;
      mine.delete(r.id);
      w.promotionsAtAnswer = this.promotions.length;
      if (r.type === "written") {
        w.outcome = "acked";
        w.position = r.position;
        w.replicas = r.replicas;
        this.stats.acked++;
      } else if (r.type === "error") {
        // Refused before it was logged: by a read replica, or by the primary's replica gate. Anything
        // else (Fenced included: a fenced primary abandons writes it logged) may have applied.
        w.outcome = r.code === "ReadOnlyReplica" || r.code === "Unavailable" ? "refused" : "unknown";
        w.code = r.code;
      }
      this.#wake();
    });
    void c.closed.then(() => {
      for (const w of mine.values()) w.outcome = "unknown";
      mine.clear();
      this.#wake();
    });
  }

  /** A request id no other request of this group used. */
  requestId(): number {
    return this.#nextId++;
  }

  #wake(): void {
    for (const wake of [...this.#wakes]) wake();
  }

  /** Resolves once `ready()` holds, re-checked after every answer. */
  until(what: string, ready: () => boolean): Promise<void> {
    return waitFor(what, () => ready() || undefined, (wake) => {
      this.#wakes.add(wake);
      return () => this.#wakes.delete(wake);
    }).then(() => undefined);
  }

  /** Sends one write to the primary (which must be up). */
  send(level: Level): WriteRecord {
    const { client: c, pending } = this.live.get(this.primary)!;
    const id = this.requestId();
    const w: WriteRecord = { id, key: `w/${id}`, value: id, level, node: this.primary, outcome: "pending" };
    this.writes.push(w);
    pending.set(id, w);
    c.sendRaw(encodeRequest({ type: "write", id, doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: w.key, value: w.value }], durability: durability(level) }));
    return w;
  }

  /** `count` writes at `level`, `inFlight` at a time, each sent when one before it settled. */
  async burst(count: number, level: Level, inFlight: number): Promise<void> {
    const mine: WriteRecord[] = [];
    const more = (): void => {
      while (mine.length < count && mine.filter((w) => w.outcome === "pending").length < inFlight && this.live.has(this.primary)) mine.push(this.send(level));
    };
    more();
    await this.until(`${count} writes at level ${level} to settle`, () => {
      more();
      return mine.length === count && mine.every((w) => w.outcome !== "pending");
    });
  }

  async kill(id: Id, afterAcks: number): Promise<void> {
    // Under load when the primary is up: local writes, 4 in flight, until the kill.
    const load: WriteRecord[] = [];
    let loading = this.live.has(this.primary);
    const refill = (): void => {
      while (loading && this.live.has(this.primary) && load.filter((w) => w.outcome === "pending").length < 4) load.push(this.send(0));
    };
    refill();
    if (loading) await this.until(`${afterAcks} load writes acked`, () => (refill(), load.filter((w) => w.outcome === "acked").length >= afterAcks));
    const { proc } = this.live.get(id)!;
    this.live.delete(id);
    expect(await proc.kill("SIGKILL")).toStrictEqual({ code: null, signal: "SIGKILL" });
    loading = false;
    this.stats.kills++;
    await this.until("the load writes to settle", () => load.every((w) => w.outcome !== "pending"));
    checkKilled(id, await readLog(this.dirs.get(id)!), this.writes, this.promotions.length);
  }

  async promote(id: Id): Promise<boolean> {
    const newest = Math.max(1, ...this.promotions.map((p) => p.epoch));
    const { client: c, proc } = this.live.get(id)!;
    if ((await health(proc.url))["epoch"] !== newest) return false; // it has not heard of the newest epoch yet
    const answer = await c.request({ type: "admin", id: this.requestId(), action: { type: "promote" } });
    if (answer.type === "error") return false; // e.g. installing a snapshot: cannot be promoted now
    const epoch = expectAnswer(answer, "admin-done").position.epoch;
    expect(epoch).toBe(newest + 1);
    this.promotions.push({ node: id, epoch });
    this.primary = id;
    this.stats.promotions++;
    const state = new Map(expectAnswer(await c.request({ type: "entries", id: this.requestId(), doc: DOC, prefix: "w/", read: READ }), "entries").entries);
    checkPromoted(id, (key) => state.get(key), this.writes);
    return true;
  }

  /**
   * Restarts every dead node, settles every write, waits until both replicas follow the primary
   * (they applied a write made now), and makes a write every node acknowledges.
   */
  async heal(): Promise<void> {
    for (const id of IDS) if (!this.live.has(id)) await this.startNode(id);
    await this.until("every write to settle after the heal", () => this.writes.every((w) => w.outcome !== "pending"));
    const { client: c } = this.live.get(this.primary)!;
    const replicas = IDS.filter((id) => id !== this.primary).map((id) => this.live.get(id)!.client);
    const subscriptions = await Promise.all(
      replicas.map(async (r) => expectAnswer(await r.request({ type: "subscribe", id: this.requestId(), doc: DOC, prefix: "heal", from: null }), "subscribed").subscription),
    );
    const healed = expectAnswer(await c.request({ type: "write", id: this.requestId(), doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "heal", value: true }], durability: durability(0) }), "written");
    await Promise.all(replicas.map((r, i) => r.pushedAt(subscriptions[i]!, healed.position)));
    const final = await c.request({ type: "write", id: this.requestId(), doc: DOC, conditions: [], session: null, ops: [{ kind: "set", key: "final", value: true }], durability: durability(2) });
    expect(expectAnswer(final, "written").replicas).toHaveLength(2);
  }

  async stopAll(): Promise<Map<Id, Recovered>> {
    const logs = new Map<Id, Recovered>();
    for (const id of IDS) {
      expect(await this.live.get(id)!.proc.kill("SIGTERM")).toStrictEqual({ code: 0, signal: null });
      this.live.delete(id);
      logs.set(id, await readLog(this.dirs.get(id)!));
    }
    return logs;
  }

  discardedReported(): number {
    return this.procs
      .flatMap((p) => p.stderrLines.filter(isEvent("replica.snapshot_installed")))
      .reduce((sum, line) => sum + Number((JSON.parse(line) as { discarded: number }).discarded), 0);
  }
}

async function runSchedule(steps: readonly Step[]): Promise<Group["stats"] & { lost: number }> {
  const g = await Group.start();
  for (const s of steps) {
    const id = s.kind === "write" ? g.primary : IDS[s.node]!;
    if (s.kind === "write") {
      if (!g.live.has(g.primary)) continue;
      const replicasUp = IDS.filter((r) => r !== g.primary && g.live.has(r)).length;
      await g.burst(s.count, Math.min(s.level, replicasUp) as Level, s.inFlight);
    } else if (s.kind === "kill") {
      if (g.live.has(id)) await g.kill(id, s.afterAcks);
    } else if (s.kind === "restart") {
      if (!g.live.has(id)) {
        await g.startNode(id);
        g.stats.restarts++;
      }
    } else if (g.live.has(id) && id !== g.primary) {
      await g.promote(id);
    }
  }
  await g.heal();
  const logs = await g.stopAll();
  const lost = checkFinal({
    logs,
    writes: g.writes,
    promotions: g.promotions,
    first: "p1",
    discarded: g.discardedReported(),
    extra: new Map([["final", true], ["heal", true]]),
    allNodesLevel: 2,
  });
  return { ...g.stats, lost };
}

const RUNS = Math.max(1, Number(process.env["REL_RUNS"] ?? 4));
const NAME = `acknowledged writes survive SIGKILLs and promotions as each durability level promises; all logs converge (${RUNS} random schedules)`;

describe("primary mode as real processes under random kill schedules", { timeout: 60_000 * RUNS }, () => {
  it(NAME, async () => {
    const total = { acked: 0, kills: 0, promotions: 0, restarts: 0, lost: 0 };
    await withSeed("test/cli/node-history.test.ts", NAME, async (seed) => {
      for (let run = 0; run < RUNS; run++) {
        const [steps] = fc.sample(schedule, { seed: seed + run, numRuns: 1 });
        try {
          const stats = await runSchedule(steps!);
          for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += stats[k];
        } catch (e) {
          throw new Error(`schedule ${run} (${JSON.stringify(steps)}): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        } finally {
          await runCleanups();
        }
      }
    });
    if (process.env["REL_VERBOSE"]) console.log(`node history, ${RUNS} schedules:`, total);
    expect(total.acked).toBeGreaterThan(0);
  });

  it("a local ack is lost when a replica that never received it is promoted, and the old primary reports discarding it", async () => {
    const stats = await runSchedule([
      { kind: "kill", node: 1, afterAcks: 0 },
      { kind: "kill", node: 2, afterAcks: 0 },
      { kind: "write", count: 20, level: 0, inFlight: 4 },
      { kind: "kill", node: 0, afterAcks: 5 },
      { kind: "restart", node: 1 },
      { kind: "promote", node: 1 },
      { kind: "write", count: 5, level: 1, inFlight: 1 },
    ]);
    // The 20 writes and at least the 5 load writes acked by p1 alone, all in epoch 1's suffix.
    expect(stats.lost).toBeGreaterThanOrEqual(25);
    expect(stats.promotions).toBe(1);
  });
});
