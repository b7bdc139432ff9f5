/**
 * Runs a parsed trace file against a fresh {@link InteractionEnv} and compares each block's
 * output with the expected text. Comparison is exact, line by line (trailing spaces included).
 */
import { runCommand } from "./commands.js";
import { InteractionEnv } from "./environment.js";
import type { TraceBlock, TraceFile } from "./trace-file.js";

/** A block whose actual output differs from the expected one. */
export interface Mismatch {
  readonly block: TraceBlock;
  readonly actual: readonly string[];
}

/** The outcome of running one trace file. */
export interface TraceRun {
  /** Actual output of every block, in order (what UPDATE_GOLDEN writes). */
  readonly outputs: readonly (readonly string[])[];
  readonly mismatches: readonly Mismatch[];
}

/**
 * Executes every block of `file` in order. A command that throws (unknown command, bad argument,
 * or an exception from the core) aborts the run with an error naming the file and line.
 */
export function runTrace(file: TraceFile): TraceRun {
  const env = new InteractionEnv();
  const outputs: string[][] = [];
  const mismatches: Mismatch[] = [];
  for (const block of file.blocks) {
    let actual: string[];
    try {
      actual = runCommand(env, block.command);
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      throw new Error(`${file.name}:${block.line}: "${block.command.text}" failed: ${msg}`, { cause: err });
    }
    outputs.push(actual);
    if (actual.join("\n") !== block.expected.join("\n")) mismatches.push({ block, actual });
  }
  return { outputs, mismatches };
}

/**
 * A readable report of a mismatch: where, which command, and a line diff (`-` expected only,
 * `+` actual only, ` ` both), followed by the line numbers of any later mismatching blocks.
 */
export function describeMismatches(fileName: string, mismatches: readonly Mismatch[]): string {
  const [first, ...others] = mismatches;
  if (first === undefined) return "";
  const lines = [
    `${fileName}:${first.block.line}: output of "${first.block.command.text}" differs from the golden file`,
    "--- expected",
    "+++ actual",
    ...withContext(lineDiff(first.block.expected, first.actual), 3),
  ];
  if (others.length > 0) {
    lines.push(`(${others.length} later block(s) differ too, at line(s) ${others.map((m) => m.block.line).join(", ")})`);
  }
  lines.push("Run with UPDATE_GOLDEN=1 to rewrite the file with the actual output, then review the diff.");
  return lines.join("\n");
}

/** A minimal line diff (longest common subsequence). */
export function lineDiff(expected: readonly string[], actual: readonly string[]): string[] {
  const n = expected.length;
  const m = actual.length;
  // lcs[i][j]: length of the LCS of expected[i..] and actual[j..].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const row = lcs[i] ?? [];
      row[j] = expected[i] === actual[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      out.push(`  ${expected[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      out.push(`- ${expected[i]}`);
      i++;
    } else {
      out.push(`+ ${actual[j]}`);
      j++;
    }
  }
  return out;
}

/** Keeps `context` unchanged lines around each change; longer unchanged runs become one `...` line. */
export function withContext(diff: readonly string[], context: number): string[] {
  const changed = diff.map((l) => !l.startsWith("  "));
  const keep = diff.map((_, i) => {
    for (let d = -context; d <= context; d++) if (changed[i + d] === true) return true;
    return false;
  });
  const out: string[] = [];
  for (let i = 0; i < diff.length; ) {
    if (keep[i] === true) {
      out.push(diff[i] ?? "");
      i++;
      continue;
    }
    let j = i;
    while (j < diff.length && keep[j] !== true) j++;
    out.push(`  ... (${j - i} unchanged line${j - i === 1 ? "" : "s"})`);
    i = j;
  }
  return out;
}
