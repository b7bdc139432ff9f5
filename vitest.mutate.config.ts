import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * The tests StrykerJS runs against mutants of the pure cores (stryker.config.mjs): the unit,
 * interaction, property and simulation tests of raft/, primary/replication/, eventual/sync/ and
 * storage/record.ts. Nothing here spawns a process, opens a socket or starts a browser; the
 * drivers' and real-process suites (cli/, reliability/, strong/node/, net/, server/...) stay in
 * vitest.config.ts only.
 */
export default defineConfig({
  test: {
    ...base.test,
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
  },
});
