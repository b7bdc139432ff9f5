/**
 * The eventual-mode simulation scenario: a random schedule of writes, rich-type edits, network
 * faults, crashes and restarts, and the checks of issue properties 1 and 2 after heal. Shared by
 * the property test and the named regression tests of seeds it once failed on.
 */
import fc from "fast-check";
import { expect } from "vitest";
import * as Y from "yjs";
import type { Json } from "../../src/json.js";
import type { DelayDistribution } from "../../src/sim/sim-network.js";
import { containsSnapshot, contentOf, EventualWorld, noPending } from "./eventual-world.js";

export const KEYS = ["a", "b", "c", "todo:1", "todo:2", "todo:3"];
export const key = fc.constantFrom(...KEYS);
export const value: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -5, max: 1000 }),
  fc.string({ maxLength: 6 }),
  fc.boolean(),
  fc.constant(null),
  fc.record({ title: fc.string({ maxLength: 6 }), done: fc.boolean() }),
);
const replica = fc.nat({ max: 5 });

export type Op =
  | { kind: "set"; r: number; key: string; value: Json }
  | { kind: "delete"; r: number; key: string }
  | { kind: "transact"; r: number; writes: Array<{ key: string; value: Json | null }> }
  | { kind: "text"; r: number; pos: number; insert: string; remove: number }
  | { kind: "array"; r: number; values: number[] }
  | { kind: "advance"; ms: number }
  | { kind: "partition"; groups: number[] }
  | { kind: "cut"; from: number; to: number }
  | { kind: "heal" }
  | { kind: "faults"; loss: number; duplicate: number }
  | { kind: "crash"; r: number }
  | { kind: "restart"; r: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("set" as const), r: replica, key, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), r: replica, key }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("transact" as const),
      r: replica,
      writes: fc.array(fc.record({ key, value: fc.option(value, { nil: null }) }), { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("text" as const),
      r: replica,
      pos: fc.nat({ max: 20 }),
      insert: fc.string({ maxLength: 4 }),
      remove: fc.nat({ max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("array" as const), r: replica, values: fc.array(fc.nat({ max: 99 }), { maxLength: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("partition" as const), groups: fc.array(fc.nat({ max: 2 }), { minLength: 6, maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), from: replica, to: replica }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("heal" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("faults" as const),
      loss: fc.constantFrom(0, 0.05, 0.2, 0.5),
      duplicate: fc.constantFrom(0, 0.1, 0.3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const), r: replica }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), r: replica }) },
);

export const scenario = fc.record({
  seed: fc.integer(),
  size: fc.integer({ min: 2, max: 6 }),
  delay: fc.constantFrom(
    { minMs: 0, medianMs: 1, tailMs: 5, maxMs: 20 },
    { minMs: 1, medianMs: 10, tailMs: 200, maxMs: 2_000 },
  ),
  ops: fc.array(op, { minLength: 1, maxLength: 60, size: "max" }),
});

/** Applies one op of the schedule to the world. */
async function apply(world: EventualWorld, o: Op): Promise<void> {
  const n = world.replicas.length;
  const at = (i: number) => world.replicas[i % n]!;
  const id = (i: number) => at(i).id;
  switch (o.kind) {
    case "set":
      return world.set(at(o.r), o.key, o.value);
    case "delete":
      return world.delete(at(o.r), o.key);
    case "transact":
      return world.transact(at(o.r), o.writes);
    case "text":
      return world.editText(at(o.r), o.pos, o.insert, o.remove);
    case "array":
      return world.pushArray(at(o.r), o.values);
    case "advance":
      return world.clock.advance(o.ms);
    case "partition": {
      const groups: ReturnType<typeof id>[][] = [[], [], []];
      world.replicas.forEach((r, i) => groups[o.groups[i]!]!.push(r.id));
      return world.net.partition(groups.filter((g) => g.length > 0));
    }
    case "cut":
      if (o.from % n !== o.to % n) world.net.cut(id(o.from), id(o.to));
      return;
    case "heal":
      return world.net.heal();
    case "faults":
      return world.net.setFaults({ loss: o.loss, duplicate: o.duplicate });
    case "crash":
      return world.crash(at(o.r));
    case "restart": {
      const r = at(o.r);
      if (!r.store) await world.open(r); // world.open checks property 2
      return;
    }
  }
}

export interface Scenario {
  readonly seed: number;
  readonly size: number;
  readonly delay: DelayDistribution;
  readonly ops: readonly Op[];
}

/**
 * Runs `scenario` and checks, after heal and quiescence: every replica equal, nothing pending, every
 * acknowledged write present (and present at every reopen after a crash), the state within the
 * merge of every update ever made (equal to it when nothing crashed), and the disks holding
 * exactly what memory holds.
 */
export async function checkScenario({ seed, size, delay, ops }: Scenario): Promise<void> {
  const world = new EventualWorld(seed, size, { delay });
  await world.start();
  for (const o of ops) await apply(world, o);

  expect(await world.healAndConverge(), "replicas did not converge within 120 s of virtual time after heal").toBe(true);
  // Property 2, checked at every reopen (in the schedule and at heal).
  expect(world.lost).toEqual([]);
  const docs = world.replicas.map((r) => r.store!.ydoc);
  const final = docs[0]!;
  for (const d of docs) {
    expect(noPending(d)).toBe(true);
    expect(contentOf(d)).toEqual(contentOf(final));
  }
  // Everything acknowledged by any incarnation of any replica is in the converged state.
  for (const r of world.replicas) {
    for (const snap of r.acked) expect(containsSnapshot(final, snap)).toBe(true);
  }
  // Nothing invented: the converged state is within the merge of every update ever made, and
  // equal to it when no crash could lose an unsynced write.
  const universe = world.universeDoc();
  expect(containsSnapshot(universe, Y.snapshot(final))).toBe(true);
  if (world.replicas.every((r) => r.crashes === 0)) {
    expect(Y.equalSnapshots(Y.snapshot(universe), Y.snapshot(final))).toBe(true);
    expect(contentOf(universe)).toEqual(contentOf(final));
  }
  // What is on every disk is what is in memory.
  await world.closeAll();
  for (const reloaded of await world.reloadAll()) {
    expect(Y.equalSnapshots(Y.snapshot(reloaded), Y.snapshot(final))).toBe(true);
  }
  expect(world.errors).toEqual([]);
}
