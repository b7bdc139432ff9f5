/**
 * One way to run every fast-check property in this repo (STYLE.md section 11, lib0-style seeds).
 *
 * - `PROP_RUNS` sets the number of cases (default 100; CI runs the default).
 * - `PROP_SEED` (and `PROP_PATH`) replay one run exactly.
 * - A failure throws with fast-check's counterexample report AND the shell command that replays it.
 */
import fc from "fast-check";
import { expect } from "vitest";

/** Cases per property: `PROP_RUNS` or `fallback` (at least 100 unless a test has a good reason). */
export function propRuns(fallback = 100): number {
  const env = process.env["PROP_RUNS"];
  if (env === undefined || env === "") return fallback;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`PROP_RUNS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

function propSeed(): number {
  const env = process.env["PROP_SEED"];
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`PROP_SEED must be an integer, got ${JSON.stringify(env)}`);
    return n;
  }
  return (Date.now() ^ (process.pid << 16)) | 0;
}

function replayCommand(seed: number, path: string | undefined): string {
  const state = expect.getState();
  const file = state.testPath ? state.testPath.replace(`${process.cwd()}/`, "") : "<test file>";
  const name = (state.currentTestName ?? "").split(" > ").pop() ?? "";
  const pathPart = path ? ` PROP_PATH=${path}` : "";
  return `PROP_SEED=${seed}${pathPart} npx vitest run ${file} -t ${JSON.stringify(name)}`;
}

export interface CheckOptions {
  /** Overrides `propRuns()`. */
  numRuns?: number;
}

/**
 * Checks a property (sync or async). Throws on the first counterexample, after shrinking, with the
 * replay command. Returns the seed used so a test may log it.
 */
export async function checkProperty<Ts>(
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  options: CheckOptions = {},
): Promise<number> {
  const seed = propSeed();
  const path = process.env["PROP_PATH"] || undefined;
  const params: fc.Parameters<Ts> = { seed, numRuns: options.numRuns ?? propRuns(), endOnFailure: false };
  if (path) params.path = path;
  const details = await fc.check(property as fc.IAsyncProperty<Ts>, params);
  if (details.failed) {
    const report = fc.defaultReportMessage(details) ?? "property failed";
    const replay = replayCommand(details.seed, details.counterexamplePath ?? undefined);
    throw new Error(`${report}\n\nReplay this failure with:\n  ${replay}\n`, { cause: details.errorInstance });
  }
  return seed;
}
