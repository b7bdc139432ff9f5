/**
 * Issue properties 1 and 2 for the eventual mode, in the deterministic simulation:
 * 1. convergence: after any schedule of writes (map, transactions, rich types), message loss,
 *    duplication, reordering, partitions (incl. asymmetric) and crash/restart from storage, a heal
 *    and quiescence leave every replica with the same state, nothing pending, equal to what their
 *    disks hold, contained in the merge of every update ever made (equal to it when nothing
 *    crashed), and holding every write acknowledged anywhere;
 * 2. durability: a replica restarted after a crash at any point holds every write it acknowledged
 *    at `local` before the crash.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Json } from "../../src/json.js";
import { checkProperty } from "./prop.js";
import { EventualWorld } from "./eventual-world.js";
import { checkScenario, key, scenario, value } from "./eventual-scenario.js";

describe("eventual mode under simulation", () => {
  it("property 1+2: replicas converge after heal to the merge of all updates, losing nothing acknowledged", async () => {
    await checkProperty(fc.asyncProperty(scenario, checkScenario));
  });
});

type CrashOp = { kind: "set"; key: string; value: Json } | { kind: "text"; insert: string } | { kind: "advance"; ms: number } | { kind: "crash" };
const crashOp: fc.Arbitrary<CrashOp> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("set" as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("text" as const), insert: fc.string({ minLength: 1, maxLength: 3 }) }) },
  // Small advances land crashes inside group-commit windows and in-flight fsyncs and renames.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.double({ min: 0, max: 6, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const) }) },
);

describe("eventual mode durability under simulated crashes", () => {
  it("property 2: a replica restarted after a crash at any point holds every write it acknowledged", async () => {
    await checkProperty(
      fc.asyncProperty(fc.integer(), fc.array(crashOp, { minLength: 1, maxLength: 80, size: "max" }), async (seed, ops) => {
        const world = new EventualWorld(seed, 1);
        await world.start();
        const r = world.replicas[0]!;
        for (const o of ops) {
          if (!r.store) await world.open(r);
          if (o.kind === "set") world.set(r, o.key, o.value);
          else if (o.kind === "text") world.editText(r, 0, o.insert, 0);
          else if (o.kind === "advance") await world.clock.advance(o.ms);
          else world.crash(r);
        }
        world.crash(r);
        await world.open(r);
        expect(world.lost).toEqual([]);
        expect(world.errors).toEqual([]);
      }),
    );
  });
});
