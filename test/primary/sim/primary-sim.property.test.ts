/**
 * `primary` mode under deterministic simulation: fast-check drives client writes at every
 * durability level, session reads on replicas, crashes with loss of unsynced writes, partitions,
 * lossy and duplicating links, and promotions during faults, with session reads checked for
 * read-your-writes and monotonic reads; the world (primary-world.ts) checks
 * the replication properties after every event; after a final heal the group must converge.
 *
 * `npm test` runs 300 schedules (PROP_RUNS changes it); PROP_SEED / PROP_PATH replay one (the
 * failure prints the command).
 */
import fc from "fast-check";
import { describe, it, expect } from "vitest";
import { checkProperty, propRuns } from "../../property/prop.js";
import { runScenario, type Scenario, type Step } from "./primary-scenario.js";

const SIZE = 3;
const node = fc.nat({ max: SIZE - 1 });
const durability = fc.constantFrom<0 | 1 | 2>(0, 0, 1, 2);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ kind: fc.constant("write" as const), toNewest: fc.boolean(), at: node, durability }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("burst" as const), writes: fc.integer({ min: 2, max: 30 }), durability }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("run" as const), ms: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("crash" as const), node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("restart" as const), node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("isolate" as const), node }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), from: node, to: node }) },
  { weight: 2, arbitrary: fc.constant({ kind: "heal" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("promote" as const), node }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("session" as const), node, timeoutMs: fc.integer({ min: 10, max: 500 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("faults" as const), loss: fc.constantFrom(0, 0.05, 0.3), duplicate: fc.constantFrom(0, 0.1) }),
  },
);

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.noShrink(fc.integer()),
  size: fc.constant(SIZE),
  backlog: fc.constantFrom(5, 50, 100_000),
  steps: fc.array(step, { minLength: 3, maxLength: 60, size: "medium" }),
});

const RUNS = propRuns(300);

describe("primary mode under deterministic simulation", () => {
  it(`replicas are prefixes of their epoch's primary, acked writes survive, fencing holds, sessions read their writes and never go back, all converge after heal (${RUNS} schedules)`, async () => {
    const total: Record<string, number> = {};
    await checkProperty(
      fc.asyncProperty(scenario, async (s) => {
        const w = await runScenario(s);
        for (const [k, v] of Object.entries(w.stats)) total[k] = (total[k] ?? 0) + v;
      }),
      { numRuns: RUNS },
    );
    if (process.env["SIM_VERBOSE"]) console.log(`primary simulation, ${RUNS} schedules:`, total);
    // The runs must exercise what they claim to.
    for (const k of ["acked", "failed", "promotions", "crashes", "installs", "discarded", "sessionReads", "monotonicReads", "fencedWrites"]) {
      expect(total[k], `no run exercised ${k}`).toBeGreaterThan(0);
    }
  }, 600_000);
});
