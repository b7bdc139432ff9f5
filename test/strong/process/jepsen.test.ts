/**
 * Strong mode as real processes under faults, Jepsen-style: three `concord node --mode strong`
 * processes (the BUILT CLI) on loopback with real files, every link between two of them through a
 * loopback proxy that can cut it (`link-proxy.ts`), while clients (real stores over WebSockets)
 * run random gets, sets, deletes and compare-and-sets. A seeded schedule SIGKILLs and restarts
 * nodes, SIGSTOPs and SIGCONTs them, and cuts links (closed, or silently hung); then everything
 * heals, the nodes must converge and take a write, and the linearizability checker (`src/lab/`)
 * must accept every client's history. The same harness catches each planted bug
 * (`src/strong/planted-bugs.ts`) on real processes: reads served from local state, acks before commit.
 *
 * `REL_SEED` replays a schedule (timing is real: the same faults at the same moments, not the same
 * interleaving); `JEPSEN_SECONDS` (default 8) and `JEPSEN_RUNS` (default 1) run longer,
 * `JEPSEN_NODES` (default 3) runs a bigger cluster.
 */
import { afterEach, describe, expect, it } from "vitest";
import { checkLinearizable } from "../../../src/lab/linearizability.js";
import type { Operation } from "../../../src/lab/history.js";
import { openStore } from "../../../src/open-store.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import type { StrongStore } from "../../../src/strong/strong-client.js";
import { onCleanup, runCleanups, withSeed } from "../../reliability/harness.js";
import type { PlantedBug } from "../../../src/strong/planted-bugs.js";
import { newStats, runOperation, type WorkloadStats } from "../shared/workload.js";
import { ProcessCluster, type CutKind } from "./process-cluster.js";

afterEach(runCleanups);

const FILE = "test/strong/process/jepsen.test.ts";
const SECONDS = Number(process.env["JEPSEN_SECONDS"] ?? 8);
const RUNS = Number(process.env["JEPSEN_RUNS"] ?? 1);
const KEYS = ["a", "b", "c", "d"];
const SIZE = Number(process.env["JEPSEN_NODES"] ?? 3);

/** One fault: done at `atMs` of the run, undone `forMs` later. */
type Fault =
  | { readonly kind: "kill" | "pause"; readonly atMs: number; readonly node: number; readonly forMs: number }
  | { readonly kind: "isolate"; readonly atMs: number; readonly node: number; readonly forMs: number; readonly how: CutKind }
  | { readonly kind: "cut"; readonly atMs: number; readonly node: number; readonly other: number; readonly forMs: number; readonly how: CutKind };

/** A fault every 300 to 1 000 ms, each lasting 200 to 1 500 ms (they overlap: two nodes may be down at once). */
function drawSchedule(rng: Rng, durationMs: number): Fault[] {
  const faults: Fault[] = [];
  for (let at = rng.int(100, 500); at < durationMs - 500; at += rng.int(300, 1_000)) {
    const node = rng.int(0, SIZE - 1);
    const forMs = rng.int(200, 1_500);
    const how: CutKind = rng.int(0, 1) === 0 ? "drop" : "hang";
    switch (rng.int(0, 3)) {
      case 0:
        faults.push({ kind: "kill", atMs: at, node, forMs });
        break;
      case 1:
        faults.push({ kind: "pause", atMs: at, node, forMs });
        break;
      case 2:
        faults.push({ kind: "isolate", atMs: at, node, forMs, how });
        break;
      default:
        faults.push({ kind: "cut", atMs: at, node, other: (node + rng.int(1, SIZE - 1)) % SIZE, forMs, how });
    }
  }
  return faults;
}

/** Does `f` now and undoes it `f.forMs` later; resolves once undone. */
async function inflict(cluster: ProcessCluster, f: Fault): Promise<void> {
  switch (f.kind) {
    case "kill":
      await cluster.kill(f.node);
      await sleepMs(f.forMs);
      await cluster.restart(f.node);
      return;
    case "pause":
      cluster.pause(f.node);
      await sleepMs(f.forMs);
      cluster.resume(f.node);
      return;
    case "isolate":
      cluster.isolate(f.node, f.how);
      await sleepMs(f.forMs);
      cluster.heal(f.node);
      return;
    case "cut":
      cluster.cut(f.node, f.other, f.how);
      await sleepMs(f.forMs);
      cluster.heal(f.node);
      return;
  }
}

/** The schedule's own clock: a fault happens at its time (this is what is replayed, not a wait for an event). */
const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface RunResult {
  readonly history: Operation[];
  readonly stats: WorkloadStats;
}

/**
 * Runs `clients` stores on random operations (every other one reading from followers, the third
 * impatient) plus one reader pinned to each node (only gets, sent to that node alone: a node cut
 * off answers them itself, where a client that moves between nodes would carry a newer position
 * and make it wait) while `chaos` runs, then heals everything, stops the clients, waits for the
 * nodes to converge and for a write to commit, and returns what the clients saw.
 */
async function workload(cluster: ProcessCluster, seed: number, clients: number, chaos: () => Promise<void>): Promise<RunResult> {
  const rng = seededRng(seed);
  const options = { mode: "strong", doc: "jepsen", backoff: { initialMs: 20, maxMs: 200 } } as const;
  const actors: Array<{ name: string; store: StrongStore; readsOnly: boolean }> = [];
  for (let i = 0; i < clients; i++) {
    // One impatient client: more writes whose outcome it never learns (recorded as unknown).
    const store = await openStore({ ...options, nodes: cluster.urls, timeoutMs: i === 2 ? 300 : 2_000, readFrom: i % 2 === 1 ? "followers" : "leader" });
    actors.push({ name: `c${i + 1}`, store, readsOnly: false });
  }
  for (const [j, url] of cluster.urls.entries()) {
    const store = await openStore({ ...options, nodes: [url], timeoutMs: 1_000 });
    actors.push({ name: `r${j + 1}`, store, readsOnly: true });
  }
  for (const a of actors) onCleanup(() => a.store.close());
  const history: Operation[] = [];
  const stats = newStats();
  let stopping = false;
  const running = actors.map(async ({ name, store, readsOnly }) => {
    const own = rng.fork();
    while (!stopping) {
      await runOperation(name, store, own, KEYS, history, stats, () => performance.now(), readsOnly);
      await sleepMs(own.int(2, 15)); // a client's think time
    }
  });
  await chaos();
  await cluster.healAll();
  await sleepMs(500); // clients run on a healed cluster for a moment too
  stopping = true;
  await Promise.all(running);
  await cluster.converged();
  // Liveness: a write commits once everything healed.
  await actors[0]!.store.set("after-heal", true);
  return { history, stats };
}

/** The checker's verdict on `history`, as a message naming the counterexample, or null when linearizable. */
function violation(history: readonly Operation[]): string | null {
  const verdict = checkLinearizable({ operations: history });
  if (verdict.verdict === "ok") return null;
  return `not linearizable (${verdict.verdict}): ${JSON.stringify(verdict.keys.filter((k) => k.verdict !== "ok"))}\ncounterexample:\n${(verdict.counterexample ?? []).map((o) => JSON.stringify(o)).join("\n")}`;
}

describe("strong mode, real processes under kills, pauses and cut links", { timeout: 120_000 + SECONDS * 1_000 * RUNS * 2 }, () => {
  it(`every client history is linearizable; after healing, the nodes converge and take a write (${RUNS} x ${SECONDS} s)`, async () => {
    for (let run = 0; run < RUNS; run++) {
      await withSeed(FILE, "every client history", async (seed) => {
        const rng = seededRng(seed);
        const faults = drawSchedule(rng, SECONDS * 1_000);
        const cluster = await ProcessCluster.start({ size: SIZE });
        onCleanup(() => cluster.close());
        try {
          const { history, stats } = await workload(cluster, seed, 3, async () => {
            await Promise.all(faults.map(async (f) => (await sleepMs(f.atMs), await inflict(cluster, f))));
          }).catch((e: unknown) => {
            throw new Error(`${e instanceof Error ? e.message : String(e)}\nfaults: ${JSON.stringify(faults)}\n--- events ---\n${cluster.events.join("\n")}`, { cause: e });
          });
          const found = violation(history);
          if (found !== null) throw new Error(`${found}\nfaults: ${JSON.stringify(faults)}\n--- events ---\n${cluster.events.join("\n")}`);
          // Not a vacuous pass: the clients got answers, through the faults.
          expect(history.filter((o) => o.output.kind !== "unknown").length, JSON.stringify(stats)).toBeGreaterThan(100);
          console.log(`jepsen seed ${seed}: ${history.length} operations recorded (${stats.unknown} of unknown outcome, ${stats.failed} failed or refused), ${faults.length} faults: linearizable`);
        } finally {
          await runCleanups();
        }
      });
    }
  });

  /** Runs the planted `bug` up to `attempts` times under `chaos`; the checker's report, or null if it never caught it. */
  async function catches(bug: PlantedBug, attempts: number, chaos: (cluster: ProcessCluster) => Promise<void>): Promise<string | null> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const cluster = await ProcessCluster.start({ size: SIZE, bug });
      onCleanup(() => cluster.close());
      try {
        const { history } = await workload(cluster, attempt, 3, () => chaos(cluster));
        const found = violation(history);
        if (found !== null) return `attempt ${attempt}: ${found}`;
      } finally {
        await runCleanups();
      }
    }
    return null;
  }

  it("catches a planted bug on real processes: reads served from local state (a follower cut off keeps answering from its old state)", async () => {
    const report = await catches("local-reads", 3, async (cluster) => {
      for (let round = 0; round < 3; round++) {
        const leader = await cluster.leader();
        const follower = (leader + 1 + (round % 2)) % SIZE;
        cluster.isolate(follower, "hang");
        await sleepMs(1_500);
        cluster.heal(follower);
        await sleepMs(300);
      }
    });
    expect(report).toMatch(/not linearizable \(violation\)[\s\S]*counterexample:\n\{/);
    console.log(`planted local reads caught: ${report}`);
  });

  it("catches a planted bug on real processes: writes acknowledged before they commit (a leader cut off acknowledges what is then lost)", async () => {
    const report = await catches("early-acks", 3, async (cluster) => {
      for (let round = 0; round < 3; round++) {
        const leader = await cluster.leader();
        cluster.isolate(leader, "hang");
        await sleepMs(1_500);
        cluster.heal(leader);
        await sleepMs(500);
      }
    });
    expect(report).toMatch(/not linearizable \(violation\)[\s\S]*counterexample:\n\{/);
    console.log(`planted early acks caught: ${report}`);
  });
});
