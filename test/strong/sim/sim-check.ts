/**
 * How the Raft simulation runs its fast-check properties (mirrors test/property/prop.ts, with its
 * own variables so a long hunt does not change every other property's run count):
 *
 * - `SIM_RUNS`: total simulated schedules per property file split evenly between its properties
 *   (default 200). Large counts are split into chunks of {@link CHUNK_RUNS}, each its own test
 *   with its own seed (base seed + chunk number), so a hunt of 100 000 runs reports progress and
 *   its failures replay quickly.
 * - `SIM_SEED` (and `SIM_PATH`): replay one failure exactly; the failure message prints the
 *   command, including the chunk's test name. `SIM_SEED` alone sets the base seed of a hunt.
 */
import fc from "fast-check";
import { expect } from "vitest";

/** Runs per chunk (one test each). */
export const CHUNK_RUNS = 500;

/** `SIM_RUNS`, or `fallback`. */
export function simRuns(fallback = 200): number {
  const env = process.env["SIM_RUNS"];
  if (env === undefined || env === "") return fallback;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SIM_RUNS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

/** `runs` split into chunks of at most {@link CHUNK_RUNS}: [chunk number, runs in it]. */
export function chunks(runs: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0, left = runs; left > 0; i++, left -= CHUNK_RUNS) out.push([i, Math.min(CHUNK_RUNS, left)]);
  return out;
}

const baseSeed = ((): number => {
  const env = process.env["SIM_SEED"];
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`SIM_SEED must be an integer, got ${JSON.stringify(env)}`);
    return n;
  }
  return (Date.now() ^ (process.pid << 16)) | 0;
})();

function replayCommand(seed: number, path: string | undefined): string {
  const state = expect.getState();
  const file = state.testPath ? state.testPath.replace(`${process.cwd()}/`, "") : "<test file>";
  // `vitest -t` takes a regular expression.
  const name = ((state.currentTestName ?? "").split(" > ").pop() ?? "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const runs = process.env["SIM_RUNS"] ? `SIM_RUNS=${process.env["SIM_RUNS"]} ` : "";
  return `${runs}SIM_SEED=${seed}${path ? ` SIM_PATH=${path}` : ""} npx vitest run ${file} -t ${JSON.stringify(name)}`;
}

/** What a chunk did: its seed, runs and wall time. */
export interface ChunkResult {
  readonly seed: number;
  readonly runs: number;
  readonly ms: number;
}

/**
 * Checks `property` for `runs` runs with the seed of chunk `chunk` (of the property `salt`). Throws on the first
 * counterexample, after shrinking, with fast-check's report and the command that replays it.
 */
export async function simCheck<T>(property: fc.IAsyncProperty<T>, runs: number, chunk: number, salt = 0): Promise<ChunkResult> {
  const path = process.env["SIM_PATH"] || undefined;
  // A replay (SIM_PATH) uses the printed seed as is; otherwise each chunk (and each property,
  // by `salt`) gets its own.
  const seed = path ? baseSeed : (baseSeed + chunk + salt * 1_000_003) | 0;
  const params: fc.Parameters<T> = { seed, numRuns: runs, endOnFailure: false };
  if (path) params.path = path;
  const started = performance.now();
  const details = await fc.check(property, params);
  if (details.failed) {
    const report = fc.defaultReportMessage(details) ?? "property failed";
    const replay = replayCommand(details.seed, details.counterexamplePath ?? undefined);
    throw new Error(`${report}\n\nReplay this failure with:\n  ${replay}\n`, { cause: details.errorInstance });
  }
  return { seed, runs, ms: performance.now() - started };
}
