import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";

// A large PROP_RUNS (a bug hunt) may take hours; the default run must stay fast.
const hunting = Number(process.env["PROP_RUNS"] ?? 0) > 1_000;

export default defineConfig({
  test: {
    reporters: ["default", ["json", { outputFile: ".vitest/results.json" }]],
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.browser.test.ts"],
          testTimeout: hunting ? 24 * 3_600_000 : 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Tests that run inside real Chromium (Debian's package; .ci/run installs it).
        test: {
          name: "chromium",
          include: ["test/**/*.browser.test.ts"],
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: "/usr/bin/chromium",
                args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
              },
            }),
            instances: [{ browser: "chromium" }],
          },
        },
      },
    ],
  },
});
