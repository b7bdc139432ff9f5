/**
 * The lab's workload: clients reading and writing a shared keyspace, the same for every mode.
 * Each client picks, per operation, a read or a write (`readRatio`), and a key: one of the `keys`
 * shared keys with probability `conflict` (where clients' writes meet), else one of its own. Every
 * value written is unique in the run (`<client>.<n>`, padded to `valueBytes`), so a value read
 * names the write it came from.
 */
import { ConcordError } from "../errors.js";
import type { Rng } from "../rng.js";

export interface WorkloadSpec {
  /** Clients talking to each node. Default 2. */
  readonly clientsPerNode: number;
  /** Share of operations that are reads, 0 to 1. Default 0.5. */
  readonly readRatio: number;
  /** Shared keys. Default 8. */
  readonly keys: number;
  /** Share of operations on the shared keys, 0 to 1 (the rest on the client's own keys). Default 0.5. */
  readonly conflict: number;
  /** Bytes per value written (at least the length of its name). Default 16. */
  readonly valueBytes: number;
  /** Pause between a client's operations, up to this many ms (uniform). Default 20. */
  readonly thinkMs: number;
}

export const DEFAULT_WORKLOAD: WorkloadSpec = { clientsPerNode: 2, readRatio: 0.5, keys: 8, conflict: 0.5, valueBytes: 16, thinkMs: 20 };

/** Own keys per client. */
const OWN_KEYS = 2;

/** One operation to run. */
export type PlannedOp = { readonly kind: "get"; readonly key: string } | { readonly kind: "set"; readonly key: string; readonly value: string };

/**
 * `spec` with defaults filled and every field checked.
 * @throws ConcordError `InvalidArgument` naming the field and what it must be.
 */
export function resolveWorkload(spec: Partial<WorkloadSpec> = {}): WorkloadSpec {
  const w = { ...DEFAULT_WORKLOAD, ...spec };
  const check = (field: keyof WorkloadSpec, ok: boolean, what: string): void => {
    if (!ok) throw new ConcordError("InvalidArgument", `workload ${field} must be ${what}, got ${String(w[field])}`, { [field]: w[field] });
  };
  const int = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max;
  check("clientsPerNode", int(w.clientsPerNode, 1, 50), "an integer from 1 to 50");
  check("readRatio", w.readRatio >= 0 && w.readRatio <= 1, "a number from 0 to 1");
  check("keys", int(w.keys, 1, 10_000), "an integer from 1 to 10000");
  check("conflict", w.conflict >= 0 && w.conflict <= 1, "a number from 0 to 1");
  check("valueBytes", int(w.valueBytes, 1, 65_536), "an integer from 1 to 65536");
  check("thinkMs", int(w.thinkMs, 0, 60_000), "an integer of ms from 0 to 60000");
  return w;
}

/** The `n`th operation of `client` (its `n`th value if it writes), drawn from `rng`. */
export function planOp(spec: WorkloadSpec, rng: Rng, client: string, n: number): PlannedOp {
  const read = rng.next() < spec.readRatio;
  const shared = rng.next() < spec.conflict;
  const key = shared ? `k${rng.int(0, spec.keys - 1)}` : `${client}/k${rng.int(0, OWN_KEYS - 1)}`;
  if (read) return { kind: "get", key };
  const name = `${client}.${n}`;
  return { kind: "set", key, value: name.length >= spec.valueBytes ? name : name + ".".repeat(spec.valueBytes - name.length) };
}
