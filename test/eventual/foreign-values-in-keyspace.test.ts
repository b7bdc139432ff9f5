/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (HIGH): one update from a peer can brick a replica.
 *
 * Where: src/eventual/keyspace.ts:13-16 `readValue` treats anything under a key that is not a
 * `Y.AbstractType` as JSON and hands it to `freezeJson` (src/json.ts:101-107), which deep-freezes it
 * by walking `Object.values` recursively. A stock Yjs client (README: "stock Yjs code reads the same
 * data with doc.getMap("concord")"), or any peer over sync (protocol.ts `validateUpdate` accepts
 * content ref 9, subdocuments), can put a `Y.Doc` (subdocument) under a key. Reading that key walks
 * the subdocument's fields, its `_item`, the item's parent map, that map's `doc`... and freezes the
 * store's OWN `Y.Doc` and its struct store. From then on every transaction fails with
 * `TypeError: Cannot assign to read only property '_transaction'`: every write throws a non-
 * ConcordError, and no remote update can be applied, so the replica stops converging.
 *
 * With a subscriber, no read is even needed: `onMapEvent` (eventual-store.ts:346-348) reads every
 * changed key while Yjs is still cleaning up the remote transaction, so receiving the update bricks
 * the replica.
 *
 * Fix direction: `readValue` must only freeze real JSON (plain objects, arrays, primitives) and map
 * anything else (Y.Doc, Uint8Array, bigint, undefined...) to a defined result or a ConcordError,
 * never mutate foreign objects.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";

function stockUpdateWithSubdocument(): Uint8Array {
  const stock = new Y.Doc();
  stock.getMap("concord").set("sub", new Y.Doc());
  return Y.encodeStateAsUpdate(stock);
}

describe("a subdocument a peer puts in the keyspace never breaks the replica", () => {
  it("reading the key leaves the store writable", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), onError: () => undefined });
    Y.applyUpdate(store.ydoc, stockUpdateWithSubdocument()); // what SyncCore does with a peer's update
    try {
      store.getLocal("sub");
    } catch {
      // refusing to read a non-JSON value is acceptable; breaking the doc is not
    }
    expect(Object.isFrozen(store.ydoc), "reading one key froze the store's Y.Doc").toBe(false);
    await expect(store.set("after", 1)).resolves.toEqual({ level: "local" });
    expect(store.getLocal("after")).toBe(1);
    await store.close();
  });

  it("with a subscriber, receiving the update leaves the store writable and able to apply later updates", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), onError: () => undefined });
    store.subscribe({}, () => undefined);
    try {
      Y.applyUpdate(store.ydoc, stockUpdateWithSubdocument());
    } catch {
      // SyncCore would report this as Protocol; the point is what state it leaves behind
    }
    await expect(store.set("after", 1)).resolves.toEqual({ level: "local" });

    const peer = new Y.Doc();
    peer.getMap("concord").set("later", 2);
    expect(() => Y.applyUpdate(store.ydoc, Y.encodeStateAsUpdate(peer))).not.toThrow();
    expect(store.getLocal("later")).toBe(2);
    await store.close();
  });
});
