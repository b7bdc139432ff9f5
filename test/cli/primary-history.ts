/**
 * A client history recorded against a `primary`-mode group of real processes, and the checks of
 * issue 5 on it against what the nodes' write-ahead logs hold ON DISK (read with the node's own
 * recovery, `primary/wal.ts`):
 *
 * - a node that never logged a newer epoch keeps every write it acknowledged as primary across a
 *   SIGKILL; a replica keeps every write it acknowledged while no promotion happened;
 * - a promoted node holds every write acknowledged at `{ replicas: n }` with it among the n;
 * - after the final heal all logs are the same, every epoch's primary is the node promoted to it,
 *   and an acknowledged write is in the final state exactly when its position is on the final
 *   history: off it only if a newer epoch exists (`local`) or a node outside its n was promoted
 *   (`{ replicas: n }`), never when every node holds it; a refused write never applies; the nodes
 *   reported at least as many discarded records as acknowledged writes were lost; nothing in the
 *   final state was never written.
 *
 * Every key is written once (`w/<id>` = id), so a key's presence tells whether its write applied.
 */
import { epochAt, lastEpoch } from "../../src/primary/replication/history.js";
import { asLsn } from "../../src/primary/replication/types.js";
import type { Recovered } from "../../src/primary/wal.js";
import type { WirePosition } from "../../src/service/protocol.js";
import { docView } from "../../src/kv/doc-keys.js";
import type { KvState } from "../../src/kv/kv-state.js";

/** The document every write of the history goes to. */
export const HISTORY_DOC = "d";

/** 0: `local`; n: `{ replicas: n }`. */
export type Level = 0 | 1 | 2;

export interface WriteRecord {
  readonly id: number;
  readonly key: string;
  readonly value: number;
  readonly level: Level;
  /** The node it was sent to. */
  readonly node: string;
  outcome: "pending" | "acked" | "refused" | "unknown";
  position?: WirePosition;
  replicas?: readonly string[];
  /** Promotions done when the answer came. */
  promotionsAtAnswer?: number;
  code?: string;
}

export interface Promotion {
  readonly node: string;
  readonly epoch: number;
}

function fail(message: string, w?: WriteRecord): never {
  throw new Error(w === undefined ? message : `${message}: ${JSON.stringify(w)}`);
}

/** True when `rec` holds the record at `pos`. */
export function holds(rec: Recovered, pos: WirePosition): boolean {
  return pos.lsn <= rec.lastLsn && rec.history.length > 0 && epochAt(rec.history, asLsn(pos.lsn)) === pos.epoch;
}

/** The document the writes go to, as `state` holds it. */
function docOf(state: KvState) {
  return docView(() => state, HISTORY_DOC);
}

function holdsWrite(rec: Recovered, w: WriteRecord): boolean {
  return holds(rec, w.position!) && docOf(rec.state).get(w.key) === w.value;
}

const acked = (writes: readonly WriteRecord[]): WriteRecord[] => writes.filter((w) => w.outcome === "acked");

/** `node` was SIGKILLed and its log recovered as `rec`; `promotions` were done by then. */
export function checkKilled(node: string, rec: Recovered, writes: readonly WriteRecord[], promotions: number): void {
  for (const w of acked(writes)) {
    if (w.node === node && rec.epoch === w.position!.epoch && !holdsWrite(rec, w)) {
      fail(`${node} lost a write it acknowledged as primary of epoch ${rec.epoch}, the newest it logged`, w);
    }
    if (w.replicas!.includes(node) && w.promotionsAtAnswer === promotions && !holdsWrite(rec, w)) {
      fail(`replica ${node} lost a write it acknowledged, with no promotion since`, w);
    }
  }
}

/** `node` was just promoted; `value` reads a key from its state. */
export function checkPromoted(node: string, value: (key: string) => unknown, writes: readonly WriteRecord[]): void {
  for (const w of acked(writes)) {
    if (w.replicas!.includes(node) && value(w.key) !== w.value) fail(`promoted ${node} lacks a write acknowledged at { replicas: ${w.level} } by it`, w);
  }
}

export interface FinalFacts {
  /** Each node's log after the final heal and a graceful stop. */
  readonly logs: ReadonlyMap<string, Recovered>;
  readonly writes: readonly WriteRecord[];
  readonly promotions: readonly Promotion[];
  /** The node that led epoch 1. */
  readonly first: string;
  /** Records the nodes reported discarding, in all (`replica.snapshot_installed`). */
  readonly discarded: number;
  /** Keys written outside `writes` (markers), with their values. */
  readonly extra: ReadonlyMap<string, unknown>;
  /** Every node holds every record (a 3-node group: `{ replicas: 2 }`). */
  readonly allNodesLevel: Level;
}

/** Checks the final state; returns how many acknowledged writes were lost (for the report). */
export function checkFinal(f: FinalFacts): number {
  const [head, ...rest] = [...f.logs];
  if (head === undefined) return fail("no logs");
  const [firstNode, final] = head;
  for (const [node, rec] of rest) {
    if (rec.lastLsn !== final.lastLsn || JSON.stringify(rec.history) !== JSON.stringify(final.history) || !rec.state.equals(final.state)) {
      fail(`after the heal ${node} (LSN ${rec.lastLsn}, ${JSON.stringify(rec.history)}) differs from ${firstNode} (LSN ${final.lastLsn}, ${JSON.stringify(final.history)})`);
    }
  }
  const leaders = new Map([[1, f.first], ...f.promotions.map((p): [number, string] => [p.epoch, p.node])]);
  for (const h of final.history) {
    if (leaders.get(h.epoch) !== h.primary) fail(`epoch ${h.epoch} is led by ${h.primary} in the final history, but ${leaders.get(h.epoch) ?? "no one"} was made its primary`);
  }
  const newest = lastEpoch(final.history);
  let lost = 0;
  for (const w of f.writes) {
    if (w.outcome === "pending") fail("a write is still pending after the heal", w);
    const value = docOf(final.state).get(w.key);
    if (w.outcome === "refused" && value !== undefined) fail("a refused write applied", w);
    if (w.outcome === "unknown" && value !== undefined && value !== w.value) fail("a write applied with another value", w);
    if (w.outcome !== "acked") continue;
    if (holds(final, w.position!)) {
      if (value !== w.value) fail("an acknowledged write's position is on the final history but its key is not in the final state", w);
      continue;
    }
    if (value !== undefined) fail("an acknowledged write is off the final history, yet applied", w);
    lost++;
    if (w.position!.epoch >= newest) fail("an acknowledged write of the newest epoch is lost", w);
    if (w.level === f.allNodesLevel) fail("a write every node acknowledged is lost", w);
    if (w.level > 0 && !f.promotions.some((p) => p.epoch > w.position!.epoch && !w.replicas!.includes(p.node))) {
      fail(`a write acknowledged at { replicas: ${w.level} } is lost though every later promotion chose one of its replicas`, w);
    }
  }
  if (lost > f.discarded) fail(`${lost} acknowledged writes were lost but the nodes reported discarding only ${f.discarded} records`);
  const written = new Map(f.writes.map((w) => [w.key, w.value]));
  if (final.state.entries().length !== docOf(final.state).entries("").length) fail("the final state holds keys outside the writes' document");
  for (const [key, value] of docOf(final.state).entries("")) {
    if (written.get(key) !== value && f.extra.get(key) !== value) fail(`the final state holds ${key} = ${JSON.stringify(value)}, which no write wrote`);
  }
  return lost;
}
