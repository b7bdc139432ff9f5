/**
 * Benchmark plumbing: repeat a measurement, take medians, print a table, write JSON to
 * bench/results/. Every bench compares Concord with a baseline measured in the same run and reports
 * the ratio; absolute numbers on these machines move by 10-30% between runs.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Sample {
  /** Wall time of one repetition, ms. */
  readonly ms: number;
  /** Heap growth attributable to the repetition, bytes (after a forced GC, when available). */
  readonly heapBytes?: number;
}

export interface Row {
  readonly name: string;
  readonly ops: number;
  readonly medianMs: number;
  readonly opsPerSec: number;
  /** This row's time over the baseline row's time (lower is better), when a baseline is named. */
  readonly ratio?: number;
  readonly baseline?: string;
  readonly heapMB?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Measures several variants fairly: one warm-up each, then `reps` rounds in which every variant
 * runs once, in turn, so drift (JIT, heap growth, a noisy neighbour) spreads over all of them
 * instead of landing on whichever ran last. Returns the samples per variant, in input order.
 */
export async function interleave<T = Sample>(reps: number, variants: ReadonlyArray<() => Promise<T>>): Promise<T[][]> {
  for (const once of variants) await once();
  const out: T[][] = variants.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let v = 0; v < variants.length; v++) out[v]!.push(await variants[v]!());
  }
  return out;
}

export function row(name: string, ops: number, samples: readonly Sample[], baseline?: Row): Row {
  const medianMs = median(samples.map((s) => s.ms));
  const heaps = samples.map((s) => s.heapBytes).filter((h): h is number => h !== undefined);
  return {
    name,
    ops,
    medianMs: round(medianMs, 1),
    opsPerSec: Math.round((ops / medianMs) * 1000),
    ...(baseline ? { ratio: round(medianMs / baseline.medianMs, 2), baseline: baseline.name } : {}),
    ...(heaps.length ? { heapMB: round(median(heaps) / 1e6, 1) } : {}),
  };
}

export function printTable(title: string, rows: readonly Row[]): void {
  console.log(`\n${title}`);
  console.table(
    rows.map((r) => ({
      workload: r.name,
      "median ms": r.medianMs,
      "ops/s": r.opsPerSec.toLocaleString("en-US"),
      "x baseline": r.ratio === undefined ? "(baseline)" : `${r.ratio}x ${r.baseline}`,
      "heap MB": r.heapMB ?? "",
    })),
  );
}

/** Writes `bench/results/<bench>-<ISO time>.json` and returns its path. */
export function writeResults(bench: string, data: unknown): string {
  const dir = join(process.cwd(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${bench}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    JSON.stringify({ bench, node: process.version, platform: `${process.platform}-${process.arch}`, at: new Date().toISOString(), ...(data as object) }, null, 2),
  );
  return file;
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Nearest-rank percentile of sorted `xs`. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** p50, p99 and max of latencies in ms (any order). */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function latencySummary(ms: readonly number[]): LatencySummary {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! };
}

export type Better = "lower" | "higher";

/** One metric of ours against the baseline measured in the same run, and the goal it has. */
export interface ComparisonRow {
  readonly metric: string;
  readonly baseline: number;
  readonly ours: number;
  /** ours / baseline. */
  readonly ratio: number;
  readonly better: Better;
  /** The ratio to reach: at most this when lower is better, at least this when higher is; null: shown for information. */
  readonly goal: number | null;
  readonly goalMet: boolean | null;
}

/** `ours` against `baseline`; the goal is a ratio (default 1: no worse than the baseline), null for none. */
export function compare(metric: string, baseline: number, ours: number, better: Better, digits: number, goal: number | null = 1): ComparisonRow {
  const ratio = ours / baseline;
  return {
    metric,
    baseline: round(baseline, digits),
    ours: round(ours, digits),
    ratio: round(ratio, 2),
    better,
    goal,
    goalMet: goal === null ? null : better === "lower" ? ratio <= goal : ratio >= goal,
  };
}

/** Prints comparison rows, the baseline's column named `baselineName`. */
export function printComparison(title: string, baselineName: string, rows: readonly ComparisonRow[]): void {
  console.log(`\n${title}`);
  console.table(
    rows.map((r) => ({
      metric: r.metric,
      [baselineName]: r.baseline,
      ours: r.ours,
      [`ours/${baselineName}`]: `${r.ratio}x`,
      goal: r.goal === null ? `none (${r.better} is better)` : r.better === "lower" ? `<= ${r.goal}x (lower is better)` : `>= ${r.goal}x (higher is better)`,
      met: r.goalMet === null ? "" : r.goalMet ? "yes" : "NO",
    })),
  );
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with `check()`'s first truthy value, calling it every `everyMs` ms (for state only a
 * query shows, such as a server's INFO); rejects after `timeoutMs` naming `what`.
 */
export async function pollUntil<T>(what: string | (() => string), check: () => Promise<T | undefined | false>, everyMs = 20, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise<void>((resolve) => setTimeout(resolve, everyMs));
  }
}
