/**
 * The lab's saga scenario (src/lab/saga-lab.ts) on each mode: sagas across reserve, charge and ship,
 * a deterministic share refused by the carrier, the coordinator losing power mid-way and resuming
 * from its disk. Every saga must end, completed with all its steps in the store or compensated
 * with none left, and the crash must have cut some of them under way (or the test shows nothing).
 */
import { describe, expect, it } from "vitest";
import { labWorlds } from "../../src/cli/lab-worlds.js";
import { runSagaLab } from "../../src/lab/saga-lab.js";
import type { LabMode } from "../../src/lab/world.js";

describe("sagas with a coordinator crash, on every mode", { timeout: 120_000 }, () => {
  for (const mode of ["eventual", "primary", "strong"] as const satisfies readonly LabMode[]) {
    it(`${mode}: every saga ends completed or fully compensated`, async () => {
      const world = labWorlds(mode, { seed: 3, size: 3 });
      try {
        const r = await runSagaLab(world, { seed: 3, sagas: 12, spacingMs: 15, crashAtMs: 60, downMs: 200, refuseShare: 0.3 });
        expect(r.inconsistent).toEqual([]);
        expect(r.unfinished).toBe(0);
        expect(r.completed + r.compensated).toBe(12);
        expect(r.compensated).toBeGreaterThan(0);
        expect(r.completed).toBeGreaterThan(0);
        expect(r.cutByCrash).toBeGreaterThan(0);
      } finally {
        await world.close().catch(() => undefined);
      }
    });
  }
});
