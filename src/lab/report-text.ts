/**
 * The lab report for a terminal (a table, modes side by side, then a paragraph per mode) and as
 * JSON (every figure and the recorded runs; maps as sorted objects, times rounded to 0.001 ms).
 */
import type { LabReport } from "./lab.js";
import type { ModeMetrics, Share } from "./metrics.js";

const share = (s: Share): string => (s.of === 0 ? "-" : `${((s.ok / s.of) * 100).toFixed(1)}% of ${s.of}`);
const ms = (v: number): string => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;

/** Rows of the comparison table: a label and each mode's cell. */
export function rows(modes: readonly ModeMetrics[]): [string, ...string[]][] {
  const sides = [...new Set(modes.flatMap((m) => m.availability.bySide.map((s) => s.side)))].sort();
  const cell = (f: (m: ModeMetrics) => string): string[] => modes.map(f);
  return [
    ["operations", ...cell((m) => `${m.ops.total} (${m.ops.failed} failed, ${m.ops.unknown} unknown)`)],
    ["available outside the fault", ...cell((m) => share(m.availability.outside))],
    ["available during the fault", ...cell((m) => share(m.availability.during))],
    ...sides.map((side): [string, ...string[]] => [
      `  clients of ${side === "" ? "every node" : side}: reads / writes`,
      ...cell((m) => {
        const s = m.availability.bySide.find((x) => x.side === side);
        return s === undefined ? "-" : `${share(s.reads)} / ${share(s.writes)}`;
      }),
    ]),
    ["read latency p50 / p99", ...cell((m) => `${ms(m.latencyMs.reads.p50)} / ${ms(m.latencyMs.reads.p99)}`)],
    ["write latency p50 / p99", ...cell((m) => `${ms(m.latencyMs.writes.p50)} / ${ms(m.latencyMs.writes.p99)}`)],
    ["stale reads (oldest)", ...cell((m) => (m.staleReads.count === 0 ? "0" : `${m.staleReads.count} (${ms(m.staleReads.maxAgeMs)})`))],
    ["acknowledged writes lost", ...cell((m) => String(m.lostWrites.count))],
    ["writes lost to a merge", ...cell((m) => String(m.mergedOver))],
    ["linearizable", ...cell((m) => (m.linearizable.verdict === "ok" ? "yes" : m.linearizable.verdict === "violation" ? "no" : "unknown"))],
    ["converged after the fault", ...cell((m) => (m.convergeMs === null ? "never" : `in ${ms(m.convergeMs)}`))],
    ["most keys diverging", ...cell((m) => String(m.maxDivergentKeys))],
    ["worst lag a replica reported", ...cell((m) => (m.maxLagMs === null ? "-" : ms(m.maxLagMs)))],
  ];
}

/** The report as a terminal table and paragraphs. */
export function formatReport(report: LabReport): string {
  const modes = report.modes.map((m) => m.metrics);
  const head: string[] = ["", ...modes.map((m) => m.mode)];
  const table: string[][] = [head, ...rows(modes)];
  const widths = head.map((_, c) => Math.max(...table.map((r) => (r[c] ?? "").length)));
  const line = (r: readonly string[]): string => r.map((v, c) => v.padEnd(widths[c]!)).join("  ").trimEnd();
  const out = [
    `scenario ${report.scenario.name}: ${report.scenario.summary}`,
    `${report.nodes} nodes, ${report.durationMs / 1_000} s of ${report.real ? "real time on real processes" : "simulated time"}, seed ${report.seed}${report.bug === null ? "" : `, PLANTED BUG in ${report.bug.mode}: ${report.bug.bug}`}`,
    "",
    line(head),
    line(head.map((_, c) => "-".repeat(widths[c]!))),
    ...table.slice(1).map(line),
    "",
    ...report.modes.map((m) => `${m.metrics.mode}: ${m.summary}`),
  ];
  return out.join("\n");
}

/** `value` with maps and sets as sorted plain objects and arrays, numbers rounded to 0.001. */
function plain(value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? Math.round(value * 1_000) / 1_000 : String(value);
  if (value instanceof Map) return Object.fromEntries([...value.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)).map(([k, v]) => [String(k), plain(v)]));
  if (value instanceof Set) return [...value].map(plain).sort();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** The report as JSON (see the module comment). */
export function reportJson(report: LabReport): string {
  return `${JSON.stringify(plain(report), null, 2)}\n`;
}
