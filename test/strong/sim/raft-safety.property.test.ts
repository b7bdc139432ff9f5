/**
 * Deterministic simulation of the Raft core (DESIGN.md section 5, `strong`): fast-check drives the
 * workload and the fault schedule (loss, duplication, reordering, long delays, partitions of every
 * kind including one-way cuts, majority rings and bridges, crashes at any point with torn disk
 * writes, restarts, pauses, membership changes and leadership transfers during faults) and
 * shrinks failures; the seed is printed with the command that replays it (sim-check.ts).
 *
 * Checked after EVERY simulated event (raft-invariants.ts): election safety, leader append-only,
 * log matching, leader completeness, state machine safety, term/commit monotonic across restarts
 * and one vote per term, ReadIndex freshness. After the schedule: heal, then liveness (a leader
 * commits a fresh proposal and every member applies it within LIVENESS_TICKS).
 *
 * `npm test` runs 200 schedules (100 with 3 voters, 100 with 5); `SIM_RUNS=100000` hunts longer.
 * `SIM_VERBOSE=1` prints runs/s and what the runs exercised.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CheckerStats } from "./raft-invariants.js";
import { runScenario, type RunReport } from "./raft-scenario.js";
import { scenarioArb } from "./raft-schedule.js";
import { chunks, simCheck, simRuns } from "./sim-check.js";

const SIZES = [3, 5] as const;
const perSize = Math.ceil(simRuns() / SIZES.length);
const verbose = Boolean(process.env["SIM_VERBOSE"]);

/** Sums what the runs exercised, so the suite can fail when the simulation stops reaching a path. */
class Coverage {
  runs = 0;
  totals: Partial<Record<keyof CheckerStats, number>> = {};
  outcomes = new Map<string, number>();
  maxLiveness = 0;
  livenessSum = 0;

  add(r: RunReport): void {
    this.runs++;
    for (const [k, v] of Object.entries(r.stats) as [keyof CheckerStats, number][]) this.totals[k] = (this.totals[k] ?? 0) + v;
    for (const [k, v] of r.outcomes) this.outcomes.set(k, (this.outcomes.get(k) ?? 0) + v);
    this.maxLiveness = Math.max(this.maxLiveness, r.livenessTicks);
    this.livenessSum += r.livenessTicks;
  }

  count(prefix: string): number {
    let n = 0;
    for (const [k, v] of this.outcomes) if (k.startsWith(prefix)) n += v;
    return n;
  }
}

describe("Raft core under deterministic simulation", () => {
  for (const size of SIZES) {
    const coverage = new Coverage();
    const parts = chunks(perSize);
    for (const [chunk, runs] of parts) {
      // No regex metacharacters: the replay command passes the name to `vitest -t`.
      const name =
        parts.length === 1
          ? `${size} voters: safety after every event, liveness after heal, ${runs} schedules`
          : `${size} voters: safety after every event, liveness after heal, chunk ${chunk + 1} of ${parts.length}`;
      it(
        name,
        async () => {
          const result = await simCheck(
            fc.asyncProperty(scenarioArb(size), async (scenario) => {
              coverage.add(await runScenario(scenario));
            }),
            runs,
            chunk,
            size,
          );
          if (verbose) {
            const rate = (result.runs / result.ms) * 1000;
            console.log(`${name}: seed ${result.seed}, ${result.runs} runs in ${(result.ms / 1000).toFixed(1)} s (${rate.toFixed(1)} runs/s)`);
          }
        },
        Math.max(120_000, runs * 3_000),
      );
    }

    // The schedules reach every fault and request kind, and the checks actually ran on them.
    it(`${size} voters: the simulation exercised every check, over the runs above`, () => {
      if (coverage.runs < Math.min(perSize, 50)) return; // a replay or a filtered run
      const t = coverage.totals;
      if (verbose) {
        console.log(`${size} voters coverage`, { runs: coverage.runs, ...t, maxLiveness: coverage.maxLiveness, meanLiveness: coverage.livenessSum / coverage.runs });
        console.log(Object.fromEntries([...coverage.outcomes].sort()));
      }
      const stats = ["leaderships", "completenessChecks", "applies", "readsChecked", "durableWrites", "snapshotsInstalled", "snapshotsCreated", "restarts"] as const;
      for (const k of stats) expect(t[k] ?? 0, `${k} over ${coverage.runs} runs`).toBeGreaterThan(0);
      // Each of these happened at least 5 times per 100 runs in every batch measured.
      const outcomes = ["propose ok", "read ok", "storm read ok", "conf remove ok", "join promote ok", "transfer ok", "storm ambush", "storm crash mid-write", "pause", "split", "isolate", "ring", "bridge", "one-way"];
      for (const prefix of outcomes) expect(coverage.count(prefix), `"${prefix}" over ${coverage.runs} runs`).toBeGreaterThan(0);
    });
  }
});

describe("determinism", () => {
  it("the same scenario gives the same run, event for event", async () => {
    const [scenario] = fc.sample(scenarioArb(5), { seed: 20_240_611, numRuns: 1 });
    const first = await runScenario(scenario!);
    const second = await runScenario(scenario!);
    expect(second.eventHash).toBe(first.eventHash);
    expect(second.stats).toEqual(first.stats);
    expect(first.stats.events).toBeGreaterThan(1_000);
  });
});
