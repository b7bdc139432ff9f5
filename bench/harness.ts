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
export async function interleave(reps: number, variants: ReadonlyArray<() => Promise<Sample>>): Promise<Sample[][]> {
  for (const once of variants) await once();
  const out: Sample[][] = variants.map(() => []);
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
