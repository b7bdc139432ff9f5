/**
 * The client workload of the strong-mode checks (the simulation's and the real processes'): random
 * gets, sets, deletes and compare-and-sets of small values on a few keys, each recorded as its
 * client saw it, for the linearizability checker (`src/lab/`).
 */
import { isConcordError } from "../../../src/errors.js";
import type { Json } from "../../../src/json.js";
import type { Operation, OperationInput, OperationOutput } from "../../../src/lab/history.js";
import type { Rng } from "../../../src/rng.js";
import type { StrongStore } from "../../../src/strong/strong-client.js";

/** What became of the operations a workload ran. */
export interface WorkloadStats {
  ops: number;
  /** Writes of unknown outcome (recorded as such). */
  unknown: number;
  /** Reads that failed and writes refused before ordering (not recorded: they did nothing). */
  failed: number;
}

export const newStats = (): WorkloadStats => ({ ops: 0, unknown: 0, failed: 0 });

/**
 * Runs one random operation on `store` (a key of `keys`, values 0..4; 40% gets, 30% sets, 10%
 * deletes, 20% compare-and-sets, a quarter of them "absent") and appends what its client saw to
 * `history`, times from `now` (`readsOnly`: gets only, a reader whose reads wait for no write of
 * its own). A read that failed read nothing and a write refused before it was
 * ordered did nothing: neither is recorded. A write that failed otherwise is recorded with an
 * unknown outcome. Rethrows anything but a ConcordError.
 */
export async function runOperation(
  client: string,
  store: StrongStore,
  rng: Rng,
  keys: readonly string[],
  history: Operation[],
  stats: WorkloadStats,
  now: () => number,
  readsOnly = false,
): Promise<void> {
  const key = keys[rng.int(0, keys.length - 1)]!;
  const value = rng.int(0, 4);
  const choice = readsOnly ? 0 : rng.int(0, 9);
  let input: OperationInput;
  let run: () => Promise<OperationOutput>;
  if (choice < 4) {
    input = { kind: "get", key };
    run = async () => ({ kind: "value", value: await store.get(key) });
  } else if (choice < 7) {
    input = { kind: "set", key, value };
    run = async () => (await store.set(key, value), { kind: "ok" });
  } else if (choice < 8) {
    input = { kind: "delete", key };
    run = async () => (await store.delete(key), { kind: "ok" });
  } else {
    const expect: Json | undefined = rng.int(0, 3) === 0 ? undefined : rng.int(0, 4);
    input = { kind: "cas", key, expect, value };
    const when = expect === undefined ? [{ key, test: "absent" as const }] : [{ key, test: "equals" as const, value: expect }];
    run = async () => ({ kind: "cas", succeeded: (await store.transact((tx) => tx.set(key, value), { when })).succeeded });
  }
  const call = now();
  stats.ops++;
  try {
    const output = await run();
    history.push({ client, input, output, call, return: now() });
  } catch (e) {
    if (!isConcordError(e)) throw e;
    if (input.kind === "get" || e.details["outcome"] === "not-applied" || e.details["outcome"] === "refused") {
      stats.failed++;
      return;
    }
    stats.unknown++;
    history.push({ client, input, output: { kind: "unknown" }, call, return: null });
  }
}
