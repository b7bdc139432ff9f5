/**
 * Schedules on which the eventual-mode properties once failed, replayed exactly. Each names the bug
 * it caught; each fails again if that bug comes back.
 */
import { describe, it } from "vitest";
import { checkScenario } from "../property/eventual-scenario.js";

describe("eventual mode regressions", () => {
  // Found by PROP_RUNS=20000 (seed 1519886249). A replica sent a set and a delete of the same key
  // before either was durable, then crashed: the network had delivered the delete but dropped the
  // insert, so the peer held a delete for a struct that could never arrive, and "nothing pending"
  // never held again. Fixed by persist-before-send in the sync driver.
  it("a crash cannot leave peers with a delete whose insert died with the crashed replica", async () => {
    await checkScenario({
      seed: 0,
      size: 2,
      delay: { minMs: 0, medianMs: 1, tailMs: 5, maxMs: 20 },
      ops: [
        { kind: "transact", r: 0, writes: [{ key: "todo:2", value: "" }] },
        { kind: "delete", r: 0, key: "todo:2" },
        { kind: "advance", ms: 1 },
        { kind: "crash", r: 0 },
        { kind: "advance", ms: 0 },
      ],
    });
  });
});
