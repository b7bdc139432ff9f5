/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (LOW): `status().oldestPendingMs` forgets a pending write when a LATER write is
 * rejected at once.
 *
 * Where: src/eventual/write-tracker.ts assumes "Storage settles appends in order, so a FIFO of start
 * times is exact" and `settled(n)` pops the OLDEST start times. But the doc log rejects an oversized
 * record immediately (doc-log.ts:147-148 `append`: `sizeError` -> `Promise.reject`), so eventual-store.ts
 * `onFailed` (about line 314-316) settles the newest write first and pops the start time of an older
 * write that is still waiting for its fsync. StoreStatus says "Age in ms of the oldest pending
 * write"; here it reports 0 for a write pending 50 ms (and would then report the age of the wrong
 * write).
 */
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { fileStorage } from "../../src/storage/file-storage.js";

describe("status().oldestPendingMs", () => {
  it("still counts a pending write after a later write was rejected as TooLarge", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({ rng: seededRng(1) });
    const store = await openStore({
      mode: "eventual",
      doc: "d",
      clock,
      persistence: fileStorage("/data", { fs: disk.mount(), clock, fsync: { maxDelayMs: 100 }, maxRecordBytes: 200 }),
    });
    const first = store.set("a", 1); // waits for the 100 ms group commit
    await clock.advance(50);
    await store.set("big", "x".repeat(1000)).catch(() => undefined);
    expect(store.status().pendingWrites).toBe(1);
    expect(store.status().oldestPendingMs).toBeGreaterThanOrEqual(50);
    await clock.advance(100);
    await first;
    await store.close();
  });
});
