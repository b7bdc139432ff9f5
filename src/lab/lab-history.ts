/**
 * What the lab records of a run: every operation as its client saw it, with the client's place in
 * the fault (which side of a partition its node was on, whether the fault was under way), and
 * what the nodes looked like over time. Pure data, the same for every mode; `metrics.ts` turns it
 * into figures and `history.ts`'s checker reads the operations.
 *
 * The lab's workload reads and writes strings, each write a value no other write uses, so every
 * value read names the one write that wrote it (or `null`: the key never written).
 */
import type { Operation } from "./history.js";

/** One operation of the lab's workload as its client saw it. */
export interface LabOp {
  readonly client: string;
  /** The node the client talks to (its home: in the same place of the network). */
  readonly node: string;
  readonly kind: "get" | "set";
  readonly key: string;
  /** `set`: the value written (unique in the run). `get`: the value read, null when absent; undefined unless ok. */
  readonly value?: string | null;
  readonly call: number;
  /** When the answer came; null when it never did (outcome `unknown`). */
  readonly return: number | null;
  /**
   * `ok`: answered with success. `failed`: answered with an error that says nothing happened (a
   * read that failed, a write refused before it was ordered). `unknown`: a write whose fate the
   * client could not learn (it may or may not have taken effect).
   */
  readonly outcome: "ok" | "failed" | "unknown";
  /** The error code when not ok. */
  readonly error?: string;
  /** True when called while the fault was under way. */
  readonly duringFault: boolean;
  /** The client's side: the group of the partition its node was in when called, as a label ("n1,n2"); "" when none. */
  readonly side: string;
}

/** The nodes at one instant. */
export interface NodeSample {
  readonly at: number;
  /** Per node (in node order): its role ("leader", "follower", "primary", "replica", "replica*" when fenced...), "down" or "paused". */
  readonly roles: readonly string[];
  /** Partition groups as labels ("n1,n2"), empty when the network is whole. */
  readonly partition: readonly string[];
  /** Keys whose values differ between running nodes (0 when they agree). */
  readonly divergentKeys: number;
  /** Per node, the lag it reports (see `LabWorld.lagMs`); absent for modes that report none. */
  readonly lagMs?: readonly (number | null)[];
}

/** A fault as it happened, for the timeline. */
export interface FaultEvent {
  readonly at: number;
  readonly what: string;
}

/** Everything recorded of one mode's run. */
export interface LabRun {
  readonly mode: string;
  readonly nodes: readonly string[];
  readonly ops: readonly LabOp[];
  readonly samples: readonly NodeSample[];
  readonly events: readonly FaultEvent[];
  /** The fault window [start, end): from the first fault to the heal. */
  readonly fault: { readonly start: number; readonly end: number } | null;
  /** End of the workload (every client stopped). */
  readonly end: number;
  /** Virtual ms from the heal until every running node held the same state; null when they never did. */
  readonly convergeMs: number | null;
  /**
   * The nodes' state the first time they all agreed once the fault was over (the merge of what
   * each side did meanwhile), with the writes delivered by then (merging modes); null when they
   * never agreed. Writes answered before the fault ended are judged lost or merged against it.
   */
  readonly checkpoint: { readonly at: number; readonly state: ReadonlyMap<string, string | null>; readonly delivered?: ReadonlySet<string> } | null;
  /** The converged state at the end: key -> value (null: absent). Taken from the node the mode reads from after heal. */
  readonly final: ReadonlyMap<string, string | null>;
  /**
   * For modes that merge (`eventual`): whether a written value reached the final state at all
   * (present, possibly overwritten). Absent for modes that order writes: there, a write the final
   * state does not reflect is lost.
   */
  readonly delivered?: ReadonlySet<string>;
}

/**
 * The operations as a history for the linearizability checker: ok operations with their answers,
 * writes of unknown fate as unknown; failed operations did nothing and are left out.
 */
export function toHistory(ops: readonly LabOp[]): Operation[] {
  const out: Operation[] = [];
  for (const op of ops) {
    if (op.outcome === "failed") continue;
    if (op.kind === "get") {
      if (op.outcome !== "ok") continue;
      out.push({ client: op.client, input: { kind: "get", key: op.key }, output: { kind: "value", value: op.value ?? undefined }, call: op.call, return: op.return });
    } else {
      const input = { kind: "set" as const, key: op.key, value: op.value ?? "" };
      out.push(
        op.outcome === "ok"
          ? { client: op.client, input, output: { kind: "ok" }, call: op.call, return: op.return }
          : { client: op.client, input, output: { kind: "unknown" }, call: op.call, return: null },
      );
    }
  }
  return out;
}
