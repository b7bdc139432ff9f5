/**
 * `concord lab`: one workload, one fault scenario, every mode asked for, each in its own simulated
 * world seeded the same, recorded and measured. The report holds the figures of each mode and what
 * the time lines need; text, JSON and HTML renderings read it. Deterministic: the same options give
 * the same report, byte for byte, on any machine.
 */
import type { LabRun } from "./lab-history.js";
import { measure, type ModeMetrics } from "./metrics.js";
import { runScenario } from "./run.js";
import type { Scenario } from "./scenario.js";
import type { WorkloadSpec } from "./workload.js";
import type { LabMode, LabWorld } from "./world.js";

export const LAB_MODES: readonly LabMode[] = ["eventual", "primary", "strong"];

/** A bug planted in one mode, to show what the lab catches (never set for a real comparison). */
export interface LabBug {
  readonly mode: LabMode;
  /** The mode's name for it (see each mode's `lab-world.ts`). */
  readonly bug: string;
}

/** Makes one mode's world: how each mode plugs into the lab (the CLI wires the three). */
export type WorldFactory = (mode: LabMode, options: { readonly seed: number; readonly size: number; readonly bug?: string }) => LabWorld;

export interface LabOptions {
  readonly scenario: Scenario;
  readonly seed: number;
  readonly modes: readonly LabMode[];
  readonly nodes: number;
  readonly durationMs: number;
  readonly workload: WorkloadSpec;
  readonly bug?: LabBug;
  /** The worlds to run in. */
  readonly worlds: WorldFactory;
  /** The worlds are real processes on the wall clock (said in the report), not the simulator. */
  readonly real?: boolean;
  /** Called as each mode's run goes: the mode and the share of its run done. */
  readonly onProgress?: (mode: LabMode, done: number) => void;
}

/** One mode's part of the report. */
export interface ModeReport {
  readonly metrics: ModeMetrics;
  /** The run, for the time lines (samples, events) and the raw JSON. */
  readonly run: LabRun;
  /** What happened, in plain words. */
  readonly summary: string;
}

export interface LabReport {
  readonly scenario: { readonly name: string; readonly summary: string };
  readonly seed: number;
  readonly nodes: number;
  readonly durationMs: number;
  readonly workload: WorkloadSpec;
  readonly bug: LabBug | null;
  /** Run on real processes (timings vary from run to run), not in the simulator. */
  readonly real: boolean;
  readonly modes: readonly ModeReport[];
}

const pct = (ok: number, of: number): string => (of === 0 ? "no" : `${((ok / of) * 100).toFixed(ok === of || ok === 0 ? 0 : 1)}%`);
const secs = (ms: number): string => (ms >= 1_000 ? `${(ms / 1_000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** One paragraph saying what happened to `m`, in plain words. */
export function summarize(m: ModeMetrics): string {
  const parts: string[] = [];
  const sides = m.availability.bySide.filter((s) => s.during.of > 0);
  if (sides.length > 0) {
    parts.push(
      "During the fault " +
        sides
          .map((s) => `${s.side === "" ? "the clients" : `the clients of ${s.side}`} got answers to ${pct(s.reads.ok, s.reads.of)} of their reads and ${pct(s.writes.ok, s.writes.of)} of their writes`)
          .join("; ") +
        ".",
    );
  }
  parts.push(
    m.staleReads.count === 0
      ? "No read returned a value already overwritten."
      : `${m.staleReads.count} of ${m.staleReads.reads} reads returned a value already overwritten, up to ${secs(m.staleReads.maxAgeMs)} old.`,
  );
  if (m.maxLagMs !== null && m.maxLagMs >= 1_000) parts.push(`Replicas said how far behind they were: up to ${secs(m.maxLagMs)}.`);
  parts.push(m.lostWrites.count === 0 ? "Nothing acknowledged was lost." : `${m.lostWrites.count} acknowledged writes were lost.`);
  if (m.mergedOver > 0) parts.push(`${m.mergedOver} acknowledged writes lost a merge to a value written before them (kept in history, not in the state).`);
  parts.push(
    m.linearizable.verdict === "ok"
      ? "Every client's history is linearizable."
      : m.linearizable.verdict === "violation"
        ? "The history is not linearizable (a counterexample is in the report)."
        : "The linearizability check ran out of steps.",
  );
  parts.push(m.convergeMs === null ? "The nodes never agreed after the fault." : `After the fault the nodes agreed within ${secs(m.convergeMs)}.`);
  return parts.join(" ");
}

/** Runs the lab (see the module comment). */
export async function runLab(o: LabOptions): Promise<LabReport> {
  const modes: ModeReport[] = [];
  for (const mode of o.modes) {
    const world = o.worlds(mode, { seed: o.seed, size: o.nodes, ...(o.bug?.mode === mode ? { bug: o.bug.bug } : {}) });
    try {
      const run = await runScenario(world, o.scenario, {
        seed: o.seed,
        durationMs: o.durationMs,
        workload: o.workload,
        ...(o.onProgress === undefined ? {} : { onProgress: (done: number) => o.onProgress?.(mode, done) }),
      });
      const metrics = measure(run);
      modes.push({ metrics, run, summary: summarize(metrics) });
    } finally {
      await world.close().catch(() => undefined);
    }
  }
  return {
    scenario: { name: o.scenario.name, summary: o.scenario.summary },
    seed: o.seed,
    nodes: o.nodes,
    durationMs: o.durationMs,
    workload: o.workload,
    bug: o.bug ?? null,
    real: o.real ?? false,
    modes,
  };
}
