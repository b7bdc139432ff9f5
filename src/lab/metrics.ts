/**
 * The figures of one mode's run, from what the lab recorded (`lab-history.ts`): availability in and
 * out of the fault and per side of a partition, latency, stale reads, acknowledged writes lost,
 * writes an earlier write won over in a merge, the linearizability verdict, convergence and
 * divergence. Pure: the same run gives the same figures.
 *
 * Definitions (every write writes a value no other write uses, so a value names its write):
 *
 * - A write `a` *precedes* a write `b` when `a` was answered before `b` was called (real-time order,
 *   on the one clock of the run).
 * - A read is *stale* when the value it returned had been overwritten before the read began: some
 *   successful write of the key preceded by the write it read (or any, when it read "absent")
 *   was answered before the read was called. Its age: from the earliest such answer to the call.
 * - A successful write is *lost* when the state of its key holds a value whose write preceded it
 *   (or holds nothing), and (in a mode that merges) the write never reached that state at all. In
 *   a mode that merges, a write that reached it but lost to a value written before it is counted
 *   as *overwritten by a merge* instead: the data is there, the order is not. The state is the one
 *   the nodes first agreed on after the fault (the sides' merge) for writes answered before the
 *   fault ended, the final one for the others.
 */
import { checkLinearizable, type Verdict } from "./linearizability.js";
import { toHistory, type LabOp, type LabRun } from "./lab-history.js";
import type { Operation } from "./history.js";

/** Successes out of operations. */
export interface Share {
  readonly ok: number;
  readonly of: number;
}

/** Latency percentiles in virtual ms (nearest rank), over `count` operations. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** One bin of the run's time line: operations called in [at, at + binMs). */
export interface SeriesBin {
  readonly at: number;
  readonly ok: number;
  readonly failed: number;
  readonly unknown: number;
  readonly stale: number;
}

export interface ModeMetrics {
  readonly mode: string;
  readonly ops: { readonly total: number; readonly ok: number; readonly failed: number; readonly unknown: number };
  readonly availability: {
    /** Before the fault and after the heal. */
    readonly outside: Share;
    readonly during: Share;
    /** During the fault, per side of the partition (one entry, side "", without one). */
    readonly bySide: readonly { readonly side: string; readonly during: Share; readonly reads: Share; readonly writes: Share }[];
  };
  readonly latencyMs: { readonly reads: Percentiles; readonly writes: Percentiles };
  readonly staleReads: { readonly count: number; readonly reads: number; readonly maxAgeMs: number; readonly p50AgeMs: number };
  /** Acknowledged writes lost, and up to 5 of their values. */
  readonly lostWrites: { readonly count: number; readonly examples: readonly string[] };
  /** Acknowledged writes that reached every replica but lost to a value written before them (merging modes). */
  readonly mergedOver: number;
  readonly linearizable: { readonly verdict: Verdict["verdict"]; readonly counterexample: readonly Operation[] | null };
  readonly convergeMs: number | null;
  readonly maxDivergentKeys: number;
  /** The largest lag a node reported (ms), null for modes whose nodes report none. */
  readonly maxLagMs: number | null;
  readonly series: { readonly binMs: number; readonly bins: readonly SeriesBin[] };
}

export interface MetricsOptions {
  /** Bound on the linearizability search per key (see `CheckOptions.maxSteps`). */
  readonly maxCheckSteps?: number;
}

const share = (ops: readonly LabOp[]): Share => ({ ok: ops.filter((o) => o.outcome === "ok").length, of: ops.length });

/** Nearest-rank percentiles of `values` (all zero when empty). */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
  return { count: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! };
}

/** The ok write of each value, per key; and every write (any outcome) by value. */
function writesByKey(ops: readonly LabOp[]): Map<string, LabOp[]> {
  const out = new Map<string, LabOp[]>();
  for (const op of ops) {
    if (op.kind !== "set") continue;
    let list = out.get(op.key);
    if (list === undefined) out.set(op.key, (list = []));
    list.push(op);
  }
  return out;
}

/** True when write `a` was answered before write `b` was called. */
const precedes = (a: LabOp, b: LabOp): boolean => a.return !== null && a.return < b.call;

/** Age of a stale read (see the module comment), or null when it is not stale. */
function staleAge(read: LabOp, writes: readonly LabOp[], byValue: ReadonlyMap<string, LabOp>): number | null {
  const source = read.value === null || read.value === undefined ? null : (byValue.get(read.value) ?? null);
  let earliest = Number.POSITIVE_INFINITY;
  for (const w of writes) {
    if (w.outcome !== "ok" || w === source || w.return === null || w.return >= read.call) continue;
    if (source === null || precedes(source, w)) earliest = Math.min(earliest, w.return);
  }
  return Number.isFinite(earliest) ? read.call - earliest : null;
}

function binMsFor(end: number): number {
  const raw = Math.max(1, end / 60);
  const step = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * step).find((s) => s >= raw) ?? raw;
}

/** The figures of `run` (see the module comment). */
export function measure(run: LabRun, options: MetricsOptions = {}): ModeMetrics {
  const ops = run.ops;
  const writes = writesByKey(ops);
  const byValue = new Map<string, LabOp>();
  for (const op of ops) if (op.kind === "set" && typeof op.value === "string") byValue.set(op.value, op);

  const stale = new Map<LabOp, number>();
  for (const op of ops) {
    if (op.kind !== "get" || op.outcome !== "ok") continue;
    const age = staleAge(op, writes.get(op.key) ?? [], byValue);
    if (age !== null) stale.set(op, age);
  }
  const ages = [...stale.values()];

  const lost: string[] = [];
  let mergedOver = 0;
  const faultEnd = run.fault?.end ?? Number.NEGATIVE_INFINITY;
  for (const [key, list] of writes) {
    for (const w of list) {
      if (w.outcome !== "ok") continue;
      // A write answered before the fault ended is judged against the state the sides merged into.
      const early = run.checkpoint !== null && w.return !== null && w.return < faultEnd;
      const state = early ? run.checkpoint!.state : run.final;
      const delivered = early ? run.checkpoint!.delivered : run.delivered;
      const value = state.get(key) ?? null;
      const winner = value === null ? null : (byValue.get(value) ?? null);
      if (w === winner || (winner !== null && !precedes(winner, w))) continue;
      if (delivered !== undefined && delivered.has(w.value ?? "")) mergedOver++;
      else lost.push(w.value ?? "");
    }
  }

  const during = ops.filter((o) => o.duringFault);
  const sides = [...new Set(during.map((o) => o.side))].sort();
  const verdict = checkLinearizable({ operations: toHistory(ops) }, options.maxCheckSteps === undefined ? {} : { maxSteps: options.maxCheckSteps });

  const binMs = binMsFor(run.end);
  const bins: { at: number; ok: number; failed: number; unknown: number; stale: number }[] = [];
  for (let at = 0; at < run.end; at += binMs) bins.push({ at, ok: 0, failed: 0, unknown: 0, stale: 0 });
  for (const op of ops) {
    const bin = bins[Math.min(bins.length - 1, Math.floor(op.call / binMs))];
    if (bin === undefined) continue;
    bin[op.outcome]++;
    if (stale.has(op)) bin.stale++;
  }

  const latency = (kind: LabOp["kind"]): Percentiles =>
    percentiles(ops.filter((o) => o.kind === kind && o.outcome === "ok" && o.return !== null).map((o) => (o.return as number) - o.call));
  return {
    mode: run.mode,
    ops: {
      total: ops.length,
      ok: ops.filter((o) => o.outcome === "ok").length,
      failed: ops.filter((o) => o.outcome === "failed").length,
      unknown: ops.filter((o) => o.outcome === "unknown").length,
    },
    availability: {
      outside: share(ops.filter((o) => !o.duringFault)),
      during: share(during),
      bySide: sides.map((side) => {
        const here = during.filter((o) => o.side === side);
        return { side, during: share(here), reads: share(here.filter((o) => o.kind === "get")), writes: share(here.filter((o) => o.kind === "set")) };
      }),
    },
    latencyMs: { reads: latency("get"), writes: latency("set") },
    staleReads: {
      count: ages.length,
      reads: ops.filter((o) => o.kind === "get" && o.outcome === "ok").length,
      maxAgeMs: ages.length === 0 ? 0 : Math.max(...ages),
      p50AgeMs: percentiles(ages).p50,
    },
    lostWrites: { count: lost.length, examples: lost.slice(0, 5) },
    mergedOver,
    linearizable: { verdict: verdict.verdict, counterexample: verdict.counterexample },
    convergeMs: run.convergeMs,
    maxDivergentKeys: run.samples.reduce((m, s) => Math.max(m, s.divergentKeys), 0),
    maxLagMs: run.samples.some((s) => s.lagMs !== undefined)
      ? run.samples.reduce((m, s) => Math.max(m, ...(s.lagMs ?? []).map((l) => l ?? 0)), 0)
      : null,
    series: { binMs, bins },
  };
}
