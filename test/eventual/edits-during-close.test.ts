/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (MEDIUM): an edit of the Y.Doc made while `close()` is in progress is reported to
 * `onError` as `Closed` ("edit of the Y.Doc (it was not persisted)") and NOT persisted, yet it is
 * sent to peers.
 *
 * Where: src/eventual/eventual-store.ts `onUpdate` (about line 287-290) returns early once
 * `this.closing` is set, without appending and without bumping the pending-write count; the
 * SyncDriver stays attached to the doc until `close()` reaches `this.sync.stop()` after awaiting
 * `storage.flush()` and `sync.drain()` (about line 377-385). Its `flush` listener asks the barrier
 * (`durable`, line 312), which says "nothing pending", and sends the update at once.
 *
 * Contracts broken: EventualStore.ydoc TSDoc "such edits are reported as Closed and dropped" (they
 * are not dropped: peers get them), and persist-before-send (README "Sync": "a peer never sees a
 * write that a crash of its author could still undo"). The same path forwards REMOTE updates that
 * arrive during close() without persisting them, while the comment at line 378-379 claims "updates
 * arriving meanwhile are still persisted by storage.close()".
 */
import { describe, expect, it, vi } from "vitest";
import { asPeerId } from "../../src/ids.js";
import { MemoryNetwork } from "../../src/net/memory-network.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";

describe("edits made during close()", () => {
  // Fixed: close() now persists what arrives while it runs (storage closes last, after sync has
  // stopped), and reports as "not persisted" only edits made after storage closed, which the stopped
  // sync can no longer send. Either way, nothing reaches a peer unless its author stored it.
  for (const when of ["while close() runs", "after close() resolved"] as const) {
    it(`an edit made ${when} is either persisted, or reported as not persisted and never sent`, async () => {
      const net = new MemoryNetwork();
      const errors: unknown[] = [];
      const persistence = memoryStorage();
      const a = await openStore({
        mode: "eventual",
        doc: "d",
        persistence,
        onError: (e) => errors.push(e),
        sync: { transport: net.join(asPeerId("a")) },
      });
      const b = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("b")) } });
      await vi.waitFor(() => expect(a.status().peers).toEqual(["b"]));

      const closing = a.close();
      if (when === "after close() resolved") await closing;
      a.ydoc.getMap("concord").set("ghost", 1);
      await closing;
      for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));

      const reopened = await openStore({ mode: "eventual", doc: "d", persistence });
      const stored = reopened.getLocal("ghost") === 1;
      await reopened.close();
      if (!stored) {
        expect(errors.map(String).join("\n")).toMatch(/not persisted/);
        expect(b.getLocal("ghost"), "the peer got an edit its author never stored").toBeUndefined();
      }
      if (when === "while close() runs") expect(stored, "an edit made while close() runs is persisted").toBe(true);
      else expect(stored, "an edit made after close() can't be persisted").toBe(false);
      await b.close();
    });
  }
});
