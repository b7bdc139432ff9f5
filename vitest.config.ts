import { defineConfig } from "vitest/config";

// A large PROP_RUNS (a bug hunt) may take hours; the default run must stay fast.
const hunting = Number(process.env["PROP_RUNS"] ?? 0) > 1_000;

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: hunting ? 24 * 3_600_000 : 120_000,
    hookTimeout: 60_000,
    reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
  },
});
