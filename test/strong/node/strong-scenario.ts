/**
 * One schedule of the strong-mode simulation (src/strong/lab-world.ts), as fast-check draws it: clients
 * reading and writing while faults come and go, then a heal, then checks:
 *
 * - every client history is linearizable (src/lab/linearizability.ts), with a minimal
 *   counterexample when it is not;
 * - liveness: after the heal (every node up, resumed, connected), a write commits within a
 *   bounded virtual time;
 * - convergence: then every node holds the same key-value state.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { checkLinearizable } from "../../../src/lab/linearizability.js";
import type { PlantedBug } from "../../../src/strong/planted-bugs.js";
import type { Operation } from "../../../src/lab/history.js";
import { StrongWorld } from "../../../src/strong/lab-world.js";
import type { StrongStore } from "../../../src/strong/strong-client.js";
import { newStats, runOperation, type WorkloadStats } from "../shared/workload.js";

/** One fault of a schedule, at `atMs` after the start. */
export type StrongFault =
  | { readonly kind: "partition"; readonly atMs: number; readonly minority: readonly number[] }
  | { readonly kind: "heal"; readonly atMs: number }
  | { readonly kind: "crash"; readonly atMs: number; readonly node: number; readonly downMs: number }
  | { readonly kind: "pause"; readonly atMs: number; readonly node: number; readonly forMs: number }
  | { readonly kind: "lossy"; readonly atMs: number; readonly loss: number; readonly duplicate: number };

export interface StrongSchedule {
  readonly size: 3 | 5;
  readonly clients: number;
  readonly faults: readonly StrongFault[];
  /** Virtual ms the clients run under faults before the heal. */
  readonly durationMs: number;
  /** Some clients read from followers. */
  readonly followerReads: boolean;
}

export function scheduleArb(size: 3 | 5): fc.Arbitrary<StrongSchedule> {
  const node = fc.nat(size - 1);
  const at = fc.nat(1_500);
  const fault: fc.Arbitrary<StrongFault> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("partition" as const), atMs: at, minority: fc.uniqueArray(node, { minLength: 1, maxLength: Math.floor((size - 1) / 2) }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("heal" as const), atMs: at }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("crash" as const), atMs: at, node, downMs: fc.integer({ min: 10, max: 600 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("pause" as const), atMs: at, node, forMs: fc.integer({ min: 50, max: 800 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("lossy" as const), atMs: at, loss: fc.constantFrom(0, 0.05, 0.2), duplicate: fc.constantFrom(0, 0.05, 0.2) }) },
  );
  return fc.record({
    size: fc.constant(size),
    clients: fc.integer({ min: 2, max: 4 }),
    faults: fc.array(fault, { maxLength: 6 }),
    durationMs: fc.integer({ min: 500, max: 1_500 }),
    followerReads: fc.boolean(),
  });
}

export interface ScenarioResult {
  readonly world: StrongWorld;
  readonly operations: number;
  readonly stats: WorkloadStats;
}

/**
 * Clients on a loop of random operations on `keys` (gets, sets, deletes, compare-and-sets), each
 * recorded in `history` as its client saw it, until `stop()` resolves once each finished the
 * operation it was in.
 */
function runClients(world: StrongWorld, clients: readonly { name: string; store: StrongStore }[], keys: readonly string[], history: Operation[], stats: WorkloadStats): () => Promise<void> {
  let stopping = false;
  const running = clients.map((c) => {
    const rng = world.rng.fork();
    return (async () => {
      while (!stopping) {
        await runOperation(c.name, c.store, rng, keys, history, stats, () => world.clock.now());
        await new Promise<void>((r) => world.clock.setTimer(rng.int(0, 20), r));
      }
    })();
  });
  return async () => {
    stopping = true;
    await world.drive(Promise.all(running));
  };
}

/** Runs `schedule` with `seed` and checks it (throws on a violation, naming what and the last events). */
export async function checkStrongScenario(seed: number, schedule: StrongSchedule, bug?: PlantedBug): Promise<ScenarioResult> {
  const world = new StrongWorld({ seed, size: schedule.size, ...(bug === undefined ? {} : { bug }) });
  try {
    await world.start();
    const clients: { name: string; store: StrongStore }[] = [];
    for (let i = 0; i < schedule.clients; i++) {
      const name = `c${i + 1}`;
      clients.push({ name, store: await world.client(name, { home: null, timeoutMs: 1_000, readFrom: schedule.followerReads && i % 2 === 1 ? "followers" : "leader" }) });
    }
    const history: Operation[] = [];
    const stats = newStats();
    const stopClients = runClients(world, clients, ["x", "y", "z"], history, stats);
    const faults = [...schedule.faults].sort((a, b) => a.atMs - b.atMs).filter((f) => f.atMs < schedule.durationMs);
    let now = 0;
    for (const f of faults) {
      await world.advance(f.atMs - now);
      now = f.atMs;
      apply(world, f);
    }
    await world.advance(schedule.durationMs - now);
    // Heal: every node up, running and connected; the network reliable again.
    world.heal();
    for (let i = 0; i < world.nodes.length; i++) {
      world.resume(i);
      await world.drive(world.restart(i));
    }
    await world.advance(500);
    await stopClients();
    // Liveness: a write commits within bounded virtual time after the heal.
    const probe = await world.client("probe", { home: null, timeoutMs: 5_000, readFrom: "leader" });
    await world.drive(probe.set("liveness", true), 10_000);
    // Every node converges on the committed state.
    await world.drive(
      new Promise<void>((resolve) => {
        const check = (): void => {
          const states = [...world.states().values()].map((s) => JSON.stringify(s));
          if (states.length === world.nodes.length && states.every((s) => s === states[0])) resolve();
          else world.clock.setTimer(20, check);
        };
        check();
      }),
      10_000,
    );
    const verdict = checkLinearizable({ operations: history });
    if (verdict.verdict !== "ok") {
      throw new Error(
        `not linearizable (${verdict.verdict}): ${JSON.stringify(verdict.keys.filter((k) => k.verdict !== "ok"))}\ncounterexample:\n${(verdict.counterexample ?? []).map((o) => JSON.stringify(o)).join("\n")}\n--- last events ---\n${world.events.slice(-60).join("\n")}`,
      );
    }
    expect(world.clock.failures()).toStrictEqual([]);
    return { world, operations: history.length, stats };
  } finally {
    await world.close().catch(() => undefined);
  }
}

function apply(world: StrongWorld, f: StrongFault): void {
  switch (f.kind) {
    case "partition": {
      const minority = new Set(f.minority);
      world.partition([[...minority], world.nodes.map((_, i) => i).filter((i) => !minority.has(i))]);
      return;
    }
    case "heal":
      world.heal();
      return;
    case "crash": {
      world.crash(f.node);
      world.clock.setTimer(f.downMs, () => void world.restart(f.node).catch((e: unknown) => world.note(`${world.nodes[f.node]} restart failed: ${String(e)}`)));
      return;
    }
    case "pause": {
      world.pause(f.node);
      world.clock.setTimer(f.forMs, () => world.resume(f.node));
      return;
    }
    case "lossy":
      world.net.setFaults({ loss: f.loss, duplicate: f.duplicate });
      return;
  }
}
