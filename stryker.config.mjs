// @ts-check
/**
 * Mutation testing of the pure cores (`npm run mutate`; never part of `npm test`).
 *
 * Only the deterministic cores are mutated: they carry the safety arguments, and their tests run
 * without processes, sockets or browsers (the test set is vitest.mutate.config.ts). Reruns are
 * incremental: only mutants in changed code, or covered by changed tests, are run again; pass
 * `--force` to rebuild reports/stryker-incremental.json from scratch.
 *
 *   STRYKER_CONCURRENCY=2 npm run mutate                          # all cores (hours)
 *   npx stryker run --mutate src/strong/raft/quorum.ts            # one file
 *
 * Reports: reports/mutation/mutation.html and mutation.json. A low score never fails the run.
 */

const concurrency = Number.parseInt(process.env["STRYKER_CONCURRENCY"] ?? "", 10);

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
const config = {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutate.config.ts" },
  mutate: [
    "src/strong/raft/**/*.ts",
    "src/primary/replication/**/*.ts",
    "src/storage/record.ts",
    "src/eventual/sync/**/*.ts",
  ],
  coverageAnalysis: "perTest",
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  concurrency: Number.isInteger(concurrency) && concurrency > 0 ? concurrency : 1,
  // Report only: no `break`, so the exit code never depends on the score.
  thresholds: { high: 80, low: 60, break: null },
  // Beyond the test's own time (x1.5): a mutant that loops forever costs this much, once.
  timeoutMS: 15_000,
  // The initial run instruments every core and runs the simulations once.
  dryRunTimeoutMinutes: 30,
  // Not needed in the sandbox: build output and local data.
  ignorePatterns: ["dist", ".vitest", "concord-data", "bench/results"],
  tempDirName: ".stryker-tmp",
};

export default config;
