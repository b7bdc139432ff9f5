import { relative } from "node:path";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";
import base from "./vitest.config.js";

/**
 * Orders test files for a mutant run: files that failed on the previous mutant first (a mutant is
 * often killed by the test that killed its neighbour), then the fastest first. StrykerJS stops at
 * the first failure, so a mutant a unit test kills no longer waits for the simulations, which
 * vitest's default order (slowest first) runs before everything else.
 */
class KillFastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cache = this.ctx.cache;
    const stats = (spec: TestSpecification) => {
      const key = `${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`;
      const result = cache.getFileTestResults(key);
      return { failed: result?.failed ?? false, cost: result?.duration ?? cache.getFileStats(key)?.size ?? 0 };
    };
    return [...files]
      .map((spec) => ({ spec, ...stats(spec) }))
      .sort((a, b) => Number(b.failed) - Number(a.failed) || a.cost - b.cost)
      .map(({ spec }) => spec);
  }
}

/**
 * The tests StrykerJS runs against mutants of the pure cores (stryker.config.mjs): the unit,
 * interaction, property and simulation tests of raft/, primary/replication/, eventual/sync/ and
 * storage/record.ts. Nothing here spawns a process, opens a socket or starts a browser; the
 * drivers' and real-process suites (cli/, reliability/, strong/node/, net/, server/...) stay in
 * vitest.config.ts only.
 */
// The node project's settings (its own include list below; no browser project).
const { projects: _projects, ...baseTest } = base.test ?? {};

export default defineConfig({
  test: {
    ...baseTest,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    include: [
      "test/strong/raft/**/*.test.ts",
      "test/strong/sim/**/*.test.ts",
      "test/strong/interaction/**/*.test.ts",
      "test/strong/raft-codec.test.ts",
      "test/primary/replication/**/*.test.ts",
      "test/primary/sim/**/*.test.ts",
      "test/primary/node/**/*.test.ts",
      "test/storage/**/*.test.ts",
      "test/eventual/**/*.test.ts",
      "test/property/raft-codec.property.test.ts",
      "test/property/repl-codec.property.test.ts",
      "test/property/sync-codec.property.test.ts",
      "test/property/update-apply.property.test.ts",
      "test/property/file-recovery.property.test.ts",
      "test/property/eventual-convergence.property.test.ts",
    ],
    exclude: [
      // A child process killed mid-write: mutants are not active in it, and it spawns.
      "test/storage/file-storage-kill.test.ts",
      // A real WebSocket server on loopback.
      "test/eventual/held-batch-reconnect.test.ts",
    ],
    reporters: ["default"],
    env: {
      ...baseTest.env,
      // Fixed seeds: a mutant is killed or survives the same way on every run, so reports compare.
      PROP_SEED: "20261206",
      SIM_SEED: "20261206",
      // 60 Raft schedules instead of npm test's 200: a surviving mutant runs every test that covers
      // it, and the schedules were most of that time; unit tests kill most mutants before them.
      SIM_RUNS: "60",
    },
    sequence: { ...baseTest.sequence, sequencer: KillFastSequencer },
  },
});
