/**
 * Random scenarios for the replication properties (convergence.test.ts): actions on a {@link World}
 * (writes, deliveries, losses, duplicates, time, disk flushes, compactions, peer-down reports,
 * crashes of replicas) and the arbitraries that generate them.
 */
import fc from "fast-check";
import { World, type PrimaryNode } from "./world.js";

export type Action =
  | { readonly kind: "write"; readonly replicas: number | null }
  | { readonly kind: "deliver"; readonly pick: number }
  | { readonly kind: "drop"; readonly pick: number }
  | { readonly kind: "duplicate"; readonly pick: number }
  | { readonly kind: "tick"; readonly ms: number }
  | { readonly kind: "flush"; readonly node: number }
  | { readonly kind: "compact"; readonly keep: number }
  | { readonly kind: "down"; readonly replica: number }
  | { readonly kind: "up"; readonly replica: number }
  | { readonly kind: "restart"; readonly replica: number };

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("write" as const), replicas: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("deliver" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 250 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("flush" as const), node: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), keep: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("down" as const), replica: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("up" as const), replica: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("restart" as const), replica: fc.nat(2) }) },
);
export const actionsArb = fc.array(actionArb, { minLength: 20, maxLength: 300, size: "max" });

export const worldArb = fc.record({
  replicas: fc.integer({ min: 1, max: 3 }),
  manualDisk: fc.boolean(),
  maxInflightRecords: fc.integer({ min: 1, max: 8 }),
  maxMessageBytes: fc.integer({ min: 1, max: 40 }),
  snapshotChunkBytes: fc.integer({ min: 1, max: 64 }),
});
export type WorldParams = typeof worldArb extends fc.Arbitrary<infer T> ? T : never;

const REPLICAS = ["r1", "r2", "r3"];

export function makeWorld(s: WorldParams): World {
  const w = new World({
    replicas: REPLICAS.slice(0, s.replicas),
    manualDisk: s.manualDisk,
    primaryConfig: { maxInflightRecords: s.maxInflightRecords, maxMessageBytes: s.maxMessageBytes, snapshotChunkBytes: s.snapshotChunkBytes, heartbeatMs: 100 },
    replicaConfig: { ackMs: 100, helloMs: 300 },
  });
  w.connectAll();
  return w;
}

export const isPrefix = (a: readonly string[], b: readonly string[]): boolean => a.length <= b.length && a.every((x, i) => x === b[i]);

/** Carries out `a` in `w`; writes go to `primary`. */
export function perform(w: World, a: Action, primary: PrimaryNode, nextWrite: () => string): void {
  const pick = (n: number): number | null => (w.queue.length === 0 ? null : n % w.queue.length);
  const replicas = w.replicas();
  switch (a.kind) {
    case "write":
      w.write(nextWrite(), a.replicas === null ? "local" : { replicas: a.replicas }, primary.id);
      return;
    case "deliver": {
      const i = pick(a.pick);
      if (i !== null) w.deliverAt(i);
      return;
    }
    case "drop": {
      const i = pick(a.pick);
      if (i !== null) w.queue.splice(i, 1);
      return;
    }
    case "duplicate": {
      const i = pick(a.pick);
      if (i !== null) w.queue.push(w.queue[i]!);
      return;
    }
    case "tick":
      w.tick(a.ms);
      return;
    case "flush": {
      const ids = [...w.nodes.keys()];
      w.flushDisk(ids[a.node % ids.length]!);
      return;
    }
    case "compact":
      primary.log.compact(primary.log.lastLsn() - a.keep);
      return;
    case "down":
    case "up": {
      if (replicas.length === 0) return;
      const r = replicas[a.replica % replicas.length]!;
      if (a.kind === "down") primary.core.peerDown(r.id, w.now);
      else {
        primary.core.peerUp(r.id, w.now);
        r.core.peerUp(primary.id, w.now);
        w.drain(r);
      }
      w.drain(primary);
      return;
    }
    case "restart": {
      // A crash: what the disk did not make durable is lost.
      if (replicas.length === 0) return;
      const r = replicas[a.replica % replicas.length]!;
      w.addReplica(r.id, r.core.status(w.now).primary, r.log, r.history, w.options.replicaConfig);
      return;
    }
  }
}

