/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review findings: values and keys that `json.ts` accepts but that Yjs/lib0 can't carry faithfully,
 * so the author's replica, its own disk and its peers disagree (lost acknowledged data, divergent
 * replicas), and values a stock Yjs peer can put in the keyspace that break every read.
 *
 * 1. (HIGH) `__proto__` keys. src/json.ts:93-94 deliberately keeps a `"__proto__"` own property
 *    as data, but lib0's `decoding.readAny` (used by Yjs for ContentAny when loading from storage and
 *    when applying a peer's update) rebuilds objects with `obj[key] = value`, which sets the
 *    prototype instead. After a reopen (or on any peer) the key is gone and the object's prototype is
 *    the stored value. The gate must refuse `__proto__` keys with `InvalidValue` (or the read path
 *    must rebuild objects safely); today the ack is a lie.
 *
 * 2. (HIGH) Lone UTF-16 surrogates. src/json.ts (`copy`, case "string") and `checkKey` accept any
 *    string, but lib0 writes strings with `TextEncoder`, which replaces a lone surrogate by U+FFFD.
 *    The local replica reads "a\uD800b", the disk and every peer "a\uFFFDb"; two distinct keys
 *    "\uD800" and "\uD801" become the SAME key "\uFFFD" everywhere but on the author. The gate must
 *    refuse non-well-formed strings (`String.prototype.isWellFormed`) with `InvalidValue`, as
 *    file-layout.ts already does for document names.
 *
 * 3. (MEDIUM) Non-JSON values from a stock Yjs peer. README: "stock Yjs code reads the same data with
 *    doc.getMap("concord")". A stock client may put a `Uint8Array` there (lib0 `writeAny` supports
 *    it). src/eventual/keyspace.ts:13-16 `readValue` passes it to `freezeJson`, whose
 *    `Object.freeze` throws `TypeError: Cannot freeze array buffer views with elements`, so
 *    `getLocal` of that key AND `entriesLocal()` / `entries()` of the whole keyspace throw a
 *    non-ConcordError, and `onMapEvent` (eventual-store.ts:346-348, `changeEventFor` outside the
 *    try) throws out of the Yjs observer, so no subscriber hears about that remote transaction.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { ChangeEvent } from "../../src/store.js";

/** Either the write is refused with InvalidValue, or what was acked reads back the same after a reopen. */
async function expectRefusedOrFaithful(write: (s: Awaited<ReturnType<typeof openStore>>) => Promise<unknown>, check: (s: Awaited<ReturnType<typeof openStore>>) => void): Promise<void> {
  const persistence = memoryStorage();
  const store = await openStore({ mode: "eventual", doc: "d", persistence });
  let refused = false;
  try {
    await write(store);
  } catch (e) {
    expect(isConcordError(e, "InvalidValue"), `rejected with something other than InvalidValue: ${String(e)}`).toBe(true);
    refused = true;
  }
  await store.close();
  if (refused) return;
  const reopened = await openStore({ mode: "eventual", doc: "d", persistence });
  try {
    check(reopened);
  } finally {
    await reopened.close();
  }
}

describe("what the JSON gate accepts survives storage and sync unchanged", () => {
  it("a value with a __proto__ key is refused, or reads back with that key after a reopen", async () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "y": 2}') as unknown;
    await expectRefusedOrFaithful(
      (s) => s.set("k", value),
      (s) => {
        const got = s.getLocal("k") as Record<string, unknown>;
        expect(Object.keys(got)).toEqual(["__proto__", "y"]);
        expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
      },
    );
  });

  it("a value with a lone surrogate is refused, or reads back unchanged after a reopen", async () => {
    await expectRefusedOrFaithful(
      (s) => s.set("k", "a\uD800b"),
      (s) => expect(s.getLocal("k")).toBe("a\uD800b"),
    );
  });

  it("keys with lone surrogates are refused, or stay distinct keys after a reopen", async () => {
    await expectRefusedOrFaithful(
      async (s) => {
        await s.set("\uD800", 1);
        await s.set("\uD801", 2);
      },
      (s) => expect(s.entriesLocal()).toEqual([["\uD800", 1], ["\uD801", 2]]),
    );
  });

  it("the author and a peer read the same value for the same update (lone surrogate)", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    try {
      await store.set("k", "x\uDFFF");
    } catch (e) {
      expect(isConcordError(e, "InvalidValue")).toBe(true);
      await store.close();
      return;
    }
    const peer = new Y.Doc();
    Y.applyUpdate(peer, Y.encodeStateAsUpdate(store.ydoc));
    expect(peer.getMap("concord").get("k")).toBe(store.getLocal("k"));
    await store.close();
  });
});

describe("values a stock Yjs peer writes into the keyspace never break reads", () => {
  it("a Uint8Array under one key leaves the other keys readable and never throws a non-ConcordError", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), onError: () => undefined });
    await store.set("ok", 1);
    const events: ChangeEvent[] = [];
    store.subscribe({}, (e) => events.push(e));
    const stock = new Y.Doc();
    stock.transact(() => {
      stock.getMap("concord").set("bin", new Uint8Array([1, 2, 3]));
      stock.getMap("concord").set("also", "plain");
    });
    let applyError: unknown;
    try {
      Y.applyUpdate(store.ydoc, Y.encodeStateAsUpdate(stock)); // what SyncCore does with a peer's update
    } catch (e) {
      applyError = e; // thrown by the store's own map observer (keyspace.ts readValue)
    }
    expect(applyError, `applying the stock peer's update threw ${String(applyError)}`).toBeUndefined();
    expect(() => store.entriesLocal()).not.toThrow();
    const entries = store.entriesLocal();
    expect(entries).toContainEqual(["ok", 1]);
    expect(entries).toContainEqual(["also", "plain"]);
    try {
      store.getLocal("bin");
    } catch (e) {
      expect(isConcordError(e), `getLocal threw ${String(e)}`).toBe(true);
    }
    // The subscriber hears about the remote transaction (at least the plain key).
    expect(events.flatMap((e) => e.changes.map((c) => c.key))).toContain("also");
    await store.close();
  });
});
