/**
 * The compaction worker killed at every step of a compaction (before or after the snapshot's
 * commit, before or after the trim): a document then loads with every update, none from both the
 * snapshot and the log (nothing folded twice), and the next compaction finishes the job.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { compactDocument } from "../../src/hub/compactor.js";
import { MemoryHub } from "../../src/hub/memory-hub.js";
import { compareEntryIds, type SharedLog } from "../../src/hub/shared-log.js";
import { sharedPersistence } from "../../src/hub/shared-persistence.js";
import type { SnapshotStore } from "../../src/hub/snapshot-store.js";
import { asDocId } from "../../src/ids.js";

const DOC = asDocId("doc");

/** One update setting `key` in a fresh Y.Doc (each its own client, so updates are independent). */
function updateSetting(key: string): Uint8Array {
  const d = new Y.Doc();
  d.getMap("concord").set(key, true);
  return Y.encodeStateAsUpdate(d);
}

function keysOf(update: Uint8Array | undefined): string[] {
  const d = new Y.Doc();
  if (update !== undefined) Y.applyUpdate(d, update);
  return [...d.getMap("concord").keys()].sort();
}

class Crash extends Error {}

/** The engines, with the `n`-th call of a compaction (get, range, put, trim) crashing instead. */
function crashingAt(hub: MemoryHub, step: number): { log: SharedLog; snapshots: SnapshotStore } {
  let calls = 0;
  const gate = <T>(call: () => Promise<T>): Promise<T> => (++calls === step ? Promise.reject(new Crash(`crashed at step ${step}`)) : call());
  const log = hub.log();
  const snapshots = hub.snapshots();
  return {
    log: { ...log, range: (...a) => gate(() => log.range(...a)), trim: (...a) => gate(() => log.trim(...a)) },
    snapshots: { ...snapshots, get: (...a) => gate(() => snapshots.get(...a)), put: (...a) => gate(() => snapshots.put(...a)) },
  };
}

async function loadAll(hub: MemoryHub): Promise<{ snapshotKeys: string[]; tailKeys: string[]; all: string[] }> {
  const storage = await sharedPersistence({ log: hub.log(), snapshots: hub.snapshots(), instance: "reader" }).open(DOC);
  const { snapshot, records } = await storage.load();
  const tailKeys = records.flatMap((r) => keysOf(r)).sort();
  const snapshotKeys = keysOf(snapshot);
  return { snapshotKeys, tailKeys, all: [...snapshotKeys, ...tailKeys].sort() };
}

describe("compaction", () => {
  for (const step of [1, 2, 3, 4]) {
    it(`killed at step ${step} of 4 (${["reading the snapshot", "reading the log", "committing the snapshot", "trimming the log"][step - 1]}): loses nothing, folds nothing twice`, async () => {
      const hub = new MemoryHub();
      const log = hub.log();
      const keys = Array.from({ length: 12 }, (_, i) => `k${String(i).padStart(2, "0")}`);
      for (const k of keys.slice(0, 6)) await log.append(DOC, updateSetting(k), "a");
      await compactDocument(DOC, { log, snapshots: hub.snapshots() }); // a snapshot to start from
      for (const k of keys.slice(6)) await log.append(DOC, updateSetting(k), "a");

      await expect(compactDocument(DOC, crashingAt(hub, step))).rejects.toThrow(Crash);
      const after = await loadAll(hub);
      expect(after.all).toEqual(keys);
      expect(after.snapshotKeys.filter((k) => after.tailKeys.includes(k))).toEqual([]);
      // Committed but not trimmed: the tail is only what the snapshot lacks.
      if (step === 4) expect(after.tailKeys).toEqual([]);

      const done = await compactDocument(DOC, { log, snapshots: hub.snapshots() });
      expect(done?.folded ?? 0).toBe(step === 4 ? 0 : 6);
      const final = await loadAll(hub);
      expect(final.snapshotKeys).toEqual(keys);
      expect(final.tailKeys).toEqual([]);
      expect(hub.entries(DOC)).toEqual([]);
    });
  }

  it("a load that races a compaction's trim reads again rather than miss the trimmed entries", async () => {
    const hub = new MemoryHub();
    const log = hub.log();
    for (const k of ["a", "b", "c"]) await log.append(DOC, updateSetting(k), "x");
    const snapshots = hub.snapshots();
    let raced = false;
    // The first log read of the load happens right after a worker committed and trimmed.
    const racing: SharedLog = {
      ...log,
      range: async (...a) => {
        if (!raced) {
          raced = true;
          await compactDocument(DOC, { log, snapshots });
        }
        return log.range(...a);
      },
    };
    const storage = await sharedPersistence({ log: racing, snapshots, instance: "reader" }).open(DOC);
    const { snapshot, records } = await storage.load();
    expect([...keysOf(snapshot), ...records.flatMap(keysOf)].sort()).toEqual(["a", "b", "c"]);
  });

  it("two workers racing keep the snapshot that reaches furthest", async () => {
    const hub = new MemoryHub();
    const log = hub.log();
    const snapshots = hub.snapshots();
    const first = await log.append(DOC, updateSetting("a"), "x");
    const second = await log.append(DOC, updateSetting("b"), "x");
    expect(await snapshots.put(DOC, { update: updateSetting("a"), upTo: second })).toBe(true);
    expect(await snapshots.put(DOC, { update: updateSetting("a"), upTo: first })).toBe(false);
    expect(compareEntryIds((await snapshots.get(DOC))!.upTo, second)).toBe(0);
  });

  it("folds entries younger than the trim grace but leaves them in the log for instances still following it", async () => {
    const hub = new MemoryHub();
    const log = hub.log();
    for (const k of ["a", "b"]) await log.append(DOC, updateSetting(k), "x");
    // Memory ids carry millisecond 0: with the clock at 1 s and a 60 s grace, both are young.
    const done = await compactDocument(DOC, { log, snapshots: hub.snapshots(), now: () => 1_000, trimGraceMs: 60_000 });
    expect(done?.folded).toBe(2);
    expect(hub.entries(DOC)).toHaveLength(2);
    const loaded = await loadAll(hub);
    expect(loaded.snapshotKeys).toEqual(["a", "b"]);
    expect(loaded.tailKeys).toEqual([]);
    await compactDocument(DOC, { log, snapshots: hub.snapshots(), now: () => 120_000, trimGraceMs: 60_000 });
    expect(hub.entries(DOC)).toEqual([]);
  });
});
