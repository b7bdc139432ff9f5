/**
 * The primary's writes waiting for their durability (src/primary/replication/pending-writes.ts),
 * case by case: what a `local` write and a `{ replicas: n }` write each wait for, that neither kind
 * waits behind the other, LSN order within and across kinds, the queue's compaction over long runs,
 * and fencing abandoning everything in order.
 */
import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { PendingWrites } from "../../../src/primary/replication/pending-writes.js";
import { asLsn } from "../../../src/primary/replication/types.js";

const l = asLsn;
const holder = (id: string, match: number) => ({ id: asPeerId(id), match: l(match) });

describe("writes waiting for durability", () => {
  it("a local write resolves once the primary persisted it, naming no replica, whatever the replicas hold", () => {
    const p = new PendingWrites();
    p.add(l(1), "local");
    p.add(l(2), "local");
    expect(p.resolve(l(0), [holder("r1", 5)])).toEqual([]);
    expect(p.resolve(l(1), [holder("r1", 5)])).toEqual([{ lsn: 1, replicas: [] }]);
    expect(p.size).toBe(1);
    expect(p.resolve(l(2), [])).toEqual([{ lsn: 2, replicas: [] }]);
    expect(p.size).toBe(0);
  });

  it("a write for n replicas resolves once persisted here and held by n replicas, naming them", () => {
    const p = new PendingWrites();
    p.add(l(3), 2);
    expect(p.resolve(l(2), [holder("r1", 9), holder("r2", 9)])).toEqual([]);
    expect(p.resolve(l(3), [holder("r1", 3), holder("r2", 2)])).toEqual([]);
    expect(p.resolve(l(3), [holder("r1", 3), holder("r2", 4), holder("r3", 1)])).toEqual([{ lsn: 3, replicas: ["r1", "r2"] }]);
  });

  it("neither kind waits behind the other; each batch comes out in LSN order", () => {
    const p = new PendingWrites();
    p.add(l(1), 1);
    p.add(l(2), "local");
    p.add(l(3), 1);
    p.add(l(4), "local");
    expect(p.size).toBe(4);
    expect(p.resolve(l(4), [])).toEqual([
      { lsn: 2, replicas: [] },
      { lsn: 4, replicas: [] },
    ]);
    expect(p.resolve(l(4), [holder("r1", 4)])).toEqual([
      { lsn: 1, replicas: ["r1"] },
      { lsn: 3, replicas: ["r1"] },
    ]);
    // Mixed kinds resolving in one batch come out sorted by LSN.
    p.add(l(5), 1);
    p.add(l(6), "local");
    expect(p.resolve(l(6), [holder("r1", 6)]).map((d) => d.lsn)).toEqual([5, 6]);
  });

  it("stays correct over long runs, resolving a little at a time (its queue compacts as it goes)", () => {
    const p = new PendingWrites();
    for (let i = 1; i <= 5_000; i++) p.add(l(i), 1);
    let resolved = 0;
    for (let upTo = 7; upTo <= 5_007; upTo += 7) {
      const done = p.resolve(l(Math.min(upTo, 5_000)), [holder("r", upTo)]);
      expect(done.map((d) => d.lsn)).toEqual(Array.from({ length: done.length }, (_, i) => resolved + 1 + i));
      resolved += done.length;
      expect(p.size).toBe(5_000 - resolved);
    }
    expect(resolved).toBe(5_000);
  });

  it("fencing abandons every waiting write, of every kind, in LSN order, and leaves none", () => {
    const p = new PendingWrites();
    p.add(l(1), 2);
    p.add(l(2), "local");
    p.add(l(3), 2);
    p.resolve(l(1), [holder("a", 1), holder("b", 1)]);
    expect(p.abandonAll("n2 leads epoch 3")).toEqual([
      { lsn: 2, reason: "fenced", detail: "n2 leads epoch 3" },
      { lsn: 3, reason: "fenced", detail: "n2 leads epoch 3" },
    ]);
    expect(p.size).toBe(0);
    expect(p.resolve(l(9), [holder("a", 9), holder("b", 9)])).toEqual([]);
  });
});
