/**
 * Golden interaction traces of the Raft core: every `test/strong/testdata/*.txt` is one test.
 * Each file is a script of commands (see commands.ts) with the output each must print; the test
 * fails with a line diff at the first block that prints something else.
 *
 * To re-record after an intended change: `UPDATE_GOLDEN=1 npx vitest run test/strong/interaction`,
 * then READ the diff of the trace files: a golden file that records a bug is worse than none.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeMismatches, runTrace } from "./run-trace.js";
import { parseTrace, renderTrace } from "./trace-file.js";

const TESTDATA = fileURLToPath(new URL("../testdata/", import.meta.url));
const UPDATE = process.env["UPDATE_GOLDEN"] === "1";

const files = readdirSync(TESTDATA)
  .filter((f) => f.endsWith(".txt"))
  .sort();

describe("Raft interaction traces (test/strong/testdata)", () => {
  it("finds the trace files", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const name of files) {
    it(name, () => {
      const path = `${TESTDATA}${name}`;
      const source = readFileSync(path, "utf8");
      const file = parseTrace(name, source);
      const run = runTrace(file);
      if (UPDATE) {
        const updated = renderTrace(file, run.outputs);
        if (updated !== source) writeFileSync(path, updated);
        return;
      }
      if (run.mismatches.length > 0) expect.fail(describeMismatches(name, run.mismatches));
    });
  }
});
