/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (HIGH): a write acknowledged `{ level: "local" }` that was never persisted.
 *
 * Where: src/eventual/eventual-store.ts, `write()` (the fallback at about line 277-279,
 * `appendOf(transaction!) ?? this.latestAppend`) together with `onUpdate` (about line 287-290),
 * which drops an update as soon as `this.closing` is set.
 *
 * Why: when `close()` is called after a write's mutation ran but before its Yjs transaction emitted
 * its update (from a subscriber, which Yjs runs before the `update` event, or inside an app's
 * `ydoc.transact` that wraps the write), `onUpdate` sees `closing` and drops the update without
 * appending it. `write()` then finds no append in the transaction's meta and falls back to
 * `latestAppend`, which is an older, already durable append: the write resolves with a local ack
 * although nothing of it reached storage. `Store.close()` promises to settle every write made before
 * the call by resolving "once durable, or reject"; here it resolves and the write is gone after a
 * reopen. A no-append fallback must only be taken for a transaction that really changed nothing.
 */
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { WriteAck } from "../../src/store.js";

async function outcome(p: Promise<WriteAck>): Promise<string> {
  return p.then(
    (ack) => `acked ${ack.level}`,
    () => "rejected",
  );
}

describe("a write made before close() is acked only if it is durable", () => {
  it("close() called from a subscriber: the write either rejects or survives a reopen", async () => {
    const persistence = memoryStorage();
    const store = await openStore({ mode: "eventual", doc: "d", persistence, onError: () => undefined });
    let closing: Promise<void> | undefined;
    store.subscribe({}, () => {
      closing ??= store.close(); // e.g. "log out when the session key changes"
    });
    const result = await outcome(store.set("k", 1));
    await closing;

    const reopened = await openStore({ mode: "eventual", doc: "d", persistence });
    const survived = reopened.getLocal("k") === 1;
    await reopened.close();
    // Acknowledged as durable => must be there after the reopen.
    if (result === "acked local") expect(survived, "acked { level: local } but lost after reopen").toBe(true);
    else expect(result).toBe("rejected");
  });

  it("close() called inside an app transaction that wraps the write: the write either rejects or survives a reopen", async () => {
    const persistence = memoryStorage();
    const store = await openStore({ mode: "eventual", doc: "d", persistence, onError: () => undefined });
    let write!: Promise<WriteAck>;
    let closing!: Promise<void>;
    store.ydoc.transact(() => {
      write = store.set("k", 1);
      closing = store.close();
    });
    const result = await outcome(write);
    await closing;

    const reopened = await openStore({ mode: "eventual", doc: "d", persistence });
    const survived = reopened.getLocal("k") === 1;
    await reopened.close();
    if (result === "acked local") expect(survived, "acked { level: local } but lost after reopen").toBe(true);
    else expect(result).toBe("rejected");
  });
});
