#!/usr/bin/env node
/**
 * Prints the closing line CI reads, `tests: N passed, N failed`, from vitest's JSON report.
 * A suite that did not run (type errors, an import check, a crash) counts as one failure.
 */
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2] ?? ".vitest/results.json";
if (!existsSync(file)) {
  console.log(`the test runner wrote no report (${file}): the run stopped before or during vitest; see above`);
  console.log("tests: 0 passed, 1 failed");
  process.exit(0);
}
const r = JSON.parse(readFileSync(file, "utf8"));
const failedSuites = (r.testResults ?? []).filter((s) => s.status === "failed" && (s.assertionResults ?? []).length === 0);
for (const s of failedSuites) console.log(`suite failed to run: ${s.name}: ${String(s.message ?? "").split("\n")[0]}`);
const passed = r.numPassedTests ?? 0;
const failed = (r.numFailedTests ?? 0) + failedSuites.length;
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
