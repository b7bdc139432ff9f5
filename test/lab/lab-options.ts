/** What the lab's end-to-end tests share: a short run's options (seed 7, 3 nodes, one client each) and lookups into its report. */
import type { LabOptions, LabReport, WorldFactory } from "../../src/lab/lab.js";
import type { ModeMetrics } from "../../src/lab/metrics.js";
import { namedScenario } from "../../src/lab/scenario.js";
import { resolveWorkload } from "../../src/lab/workload.js";

/** Options of a run of `scenario` for `durationMs` on `worlds`, every mode, unless `more` says otherwise. */
export function labOptions(worlds: WorldFactory, durationMs: number, scenario: string, more: Partial<LabOptions> = {}): LabOptions {
  return {
    worlds,
    scenario: namedScenario(scenario, { durationMs, nodes: 3 }),
    seed: 7,
    modes: ["eventual", "primary", "strong"],
    nodes: 3,
    durationMs,
    workload: resolveWorkload({ clientsPerNode: 1 }),
    ...more,
  };
}

export const metricsOf = (r: LabReport, mode: string): ModeMetrics => r.modes.find((m) => m.metrics.mode === mode)!.metrics;
export const side = (m: ModeMetrics, name: string) => m.availability.bySide.find((s) => s.side === name)!;
