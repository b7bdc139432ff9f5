/**
 * Issue property 3: applying updates is order-independent and idempotent. Every update emitted in a
 * random 2-4 replica history, delivered to fresh replicas through SyncCore's receive path in any
 * order and with duplicates, yields one state (equal to merging them all), with nothing pending;
 * and an update delivered again changes nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { asPeerId } from "../../src/ids.js";
import { seededRng } from "../../src/rng.js";
import { encodeMessage } from "../../src/eventual/sync/protocol.js";
import { SyncCore } from "../../src/eventual/sync/sync-core.js";
import { docContent, historyStepArb, runHistory } from "../eventual/sync/doc-edits.js";
import { checkProperty } from "./prop.js";

const sender = asPeerId("sender");

/** `updates` shuffled, with about a third of them delivered twice (at random places). */
function deliveryOrder(updates: readonly Uint8Array[], seed: number): Uint8Array[] {
  const rng = seededRng(seed);
  const order = [...updates, ...updates.filter(() => rng.chance(1 / 3))];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Delivers `update` through the core's receive path, as a live update or a step 2. */
function deliver(core: SyncCore, update: Uint8Array, asStep2: boolean): void {
  const error = core.receive(sender, encodeMessage({ type: asStep2 ? "sync-step2" : "sync-update", update }));
  expect(error).toBeUndefined();
}

describe("update application properties", () => {
  it("any delivery order with duplicates converges to the merged state, with nothing pending, and re-delivery changes nothing", async () => {
    await checkProperty(
      fc.property(
        fc.integer({ min: 2, max: 4 }),
        fc.array(historyStepArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.integer(), { minLength: 2, maxLength: 3 }),
        (docCount, steps, seeds) => {
          const { updates } = runHistory(docCount, steps);
          const reference = new Y.Doc();
          Y.applyUpdate(reference, Y.mergeUpdates([...updates]));
          expect(reference.store.pendingStructs).toBeNull();

          seeds.forEach((seed, replica) => {
            const doc = new Y.Doc();
            const core = new SyncCore(doc);
            deliveryOrder(updates, seed).forEach((update, i) => deliver(core, update, (i + replica) % 2 === 0));

            expect(doc.store.pendingStructs).toBeNull();
            expect(doc.store.pendingDs).toBeNull();
            expect(Y.encodeStateVector(doc)).toEqual(Y.encodeStateVector(reference));
            expect(docContent(doc)).toEqual(docContent(reference));

            let changes = 0;
            doc.on("update", () => changes++);
            for (const update of updates) deliver(core, update, false);
            expect(changes).toBe(0);
            expect(docContent(doc)).toEqual(docContent(reference));
            core.destroy();
          });
        },
      ),
    );
  });
});
