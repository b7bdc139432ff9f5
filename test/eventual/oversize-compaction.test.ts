/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (LOW): once the document's snapshot outgrows `maxRecordBytes`, every durable write
 * re-encodes the WHOLE document and reports the same TooLarge compaction error to `onError`.
 *
 * Where: src/eventual/eventual-store.ts `onDurable` (about line 319-331): `shouldCompact()` stays true
 * (the records only grow), `compact(Y.encodeStateAsUpdate(this.ydoc))` is rejected by doc-log.ts
 * `compact` (line 166-167, `sizeError`), `compacting` is reset, and the next durable batch starts over.
 * Result: O(document) CPU on the hot path of every write, an onError flood (one error per write), and
 * a log that grows without bound with no other signal. The store should stop trying (or back off)
 * after a compaction that can never fit, and say so once.
 */
import { expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";

it("a compaction that can't fit maxRecordBytes is reported once, not on every write", async () => {
  const errors: unknown[] = [];
  const store = await openStore({
    mode: "eventual",
    doc: "d",
    persistence: memoryStorage({ maxRecordBytes: 500, compactAfterBytes: 50 }),
    onError: (e) => errors.push(e),
  });
  for (let i = 0; i < 40; i++) await store.set(`k${i}`, "x".repeat(40));
  await new Promise((r) => setTimeout(r, 10));
  expect(errors.length, `${errors.length} identical compaction errors for 40 writes`).toBeLessThanOrEqual(1);
  await store.close();
});
