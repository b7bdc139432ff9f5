import { describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { ConcordError, isConcordError } from "../../src/errors.js";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { asDocId } from "../../src/ids.js";
import { openStore } from "../../src/open-store.js";
import { seededRng } from "../../src/rng.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { Persistence } from "../../src/storage/storage.js";
import type { ChangeEvent } from "../../src/store.js";
import { gatedStorage } from "./gated-storage.js";

async function open(persistence: Persistence = memoryStorage(), extra: { onError?: (e: unknown) => void } = {}): Promise<EventualStore> {
  return openStore({ mode: "eventual", doc: "todos", persistence, ...extra });
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof ConcordError) return e.code;
    throw e;
  }
  throw new Error("expected a ConcordError");
}

describe("eventual store: reads and writes", () => {
  it("sets, gets, deletes and lists entries by prefix, sorted", async () => {
    const store = await open();
    expect(await store.set("todo:2", { title: "bread" })).toEqual({ level: "local" });
    await store.set("todo:1", { title: "milk", done: false });
    await store.set("note:1", "hello");
    expect(await store.get("todo:1")).toEqual({ title: "milk", done: false });
    expect(store.getLocal("missing")).toBeUndefined();
    expect(await store.entries({ prefix: "todo:" })).toEqual([
      ["todo:1", { title: "milk", done: false }],
      ["todo:2", { title: "bread" }],
    ]);
    expect((await store.entries()).map(([k]) => k)).toEqual(["note:1", "todo:1", "todo:2"]);
    expect(await store.delete("todo:2")).toEqual({ level: "local" });
    expect(store.entriesLocal({ prefix: "todo:" })).toEqual([["todo:1", { title: "milk", done: false }]]);
    await store.close();
  });

  it("returns frozen values, and the caller's object can't change what was written", async () => {
    const store = await open();
    const value = { tags: ["a"] };
    await store.set("k", value);
    value.tags.push("b");
    const read = store.getLocal("k") as { tags: string[] };
    expect(read).toEqual({ tags: ["a"] });
    expect(Object.isFrozen(read) && Object.isFrozen(read.tags)).toBe(true);
    await store.close();
  });

  it("rejects non-JSON values and bad keys with InvalidValue, writing nothing", async () => {
    const store = await open();
    expect(await codeOf(store.set("k", undefined))).toBe("InvalidValue");
    expect(await codeOf(store.set("k", { when: new Date() }))).toBe("InvalidValue");
    expect(await codeOf(store.set("", 1))).toBe("InvalidValue");
    expect(await codeOf(store.set(42 as unknown as string, 1))).toBe("InvalidValue");
    expect(await codeOf(store.delete(""))).toBe("InvalidValue");
    expect(await codeOf(store.get(""))).toBe("InvalidValue");
    expect(await codeOf(store.transact((tx) => tx.set("a", NaN)))).toBe("InvalidValue");
    // Found by a review property: Y.Map#set throws on a top-level "constructor" key. Refused up
    // front, so a transaction is never half-applied.
    expect(
      await codeOf(
        store.transact((tx) => {
          tx.set("first", 1);
          tx.set("second", { constructor: "x" });
        }),
      ),
    ).toBe("InvalidValue");
    expect(store.status().storage.records).toBe(0);
    expect(store.entriesLocal()).toEqual([]);
    await store.close();
  });

  it("stores a \"constructor\" key one level down, where Yjs accepts it", async () => {
    const store = await open();
    expect(await store.set("nested", { inner: { constructor: "x" } })).toEqual({ level: "local" });
    expect(store.getLocal("nested")).toEqual({ inner: { constructor: "x" } });
    await store.close();
  });

  it("rejects ack levels eventual mode can't give", async () => {
    const store = await open();
    expect(await codeOf(store.set("k", 1, { ack: "server" }))).toBe("InvalidArgument");
    expect(await codeOf(store.set("k", 1, { ack: "committed" }))).toBe("InvalidArgument");
    expect(await store.set("k", 1, { ack: "local" })).toEqual({ level: "local" });
    await store.close();
  });

  it("a delete of an absent key is a write that changes nothing and still acks", async () => {
    const store = await open();
    expect(await store.delete("nothing")).toEqual({ level: "local" });
    expect(store.status().storage.records).toBe(0);
    await store.close();
  });
});

describe("eventual store: transactions", () => {
  it("applies all writes of a transaction as one update with one ack", async () => {
    const store = await open();
    await store.set("b", 0);
    await store.transact((tx) => {
      tx.set("a", 1);
      expect(tx.get("a")).toBe(1);
      tx.delete("b");
      expect(tx.get("b")).toBeUndefined();
      tx.set("c", { n: 3 });
    });
    expect(store.entriesLocal()).toEqual([
      ["a", 1],
      ["c", { n: 3 }],
    ]);
    expect(store.status().storage.records).toBe(2);
    await store.close();
  });

  it("writes nothing when the transaction function throws", async () => {
    const store = await open();
    const boom = new Error("boom");
    await expect(
      store.transact((tx) => {
        tx.set("a", 1);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(store.entriesLocal()).toEqual([]);
    expect(store.status().storage.records).toBe(0);
    await store.close();
  });
});

describe("eventual store: durability", () => {
  it("acks a write only once its update is durable in storage", async () => {
    const gate = gatedStorage(memoryStorage());
    const store = await open(gate.persistence);
    let acked = false;
    const ack = store.set("k", 1).then(() => (acked = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(acked).toBe(false);
    expect(store.status().pendingWrites).toBe(1);
    await gate.release();
    await ack;
    expect(acked).toBe(true);
    expect(store.status().pendingWrites).toBe(0);
    await store.close();
  });

  // Regression: Yjs emits a nested transaction's update only after the outer transaction ends, so a
  // write made inside a subscriber used to be acked before its own append was durable.
  it("acks a write made inside a subscriber only once that write is durable", async () => {
    const gate = gatedStorage(memoryStorage());
    const store = await open(gate.persistence);
    let inner: Promise<unknown> | undefined;
    let innerAcked = false;
    store.subscribe({ prefix: "trigger" }, () => {
      inner ??= store.set("echo", "from a subscriber").then(() => (innerAcked = true));
    });
    const outer = store.set("trigger", 1);
    await Promise.resolve();
    expect(gate.held).toHaveLength(2);
    await gate.release(1);
    await outer;
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(innerAcked).toBe(false);
    await gate.release();
    await inner;
    expect(innerAcked).toBe(true);
    await store.close();
  });

  it("acks a write nested in an app's own Y.Doc transaction once the whole transaction is durable", async () => {
    const gate = gatedStorage(memoryStorage());
    const store = await open(gate.persistence);
    let ack: Promise<unknown> | undefined;
    store.ydoc.transact(() => {
      store.ydoc.getText("notes").insert(0, "hi");
      ack = store.set("k", 1);
    });
    let acked = false;
    void ack!.then(() => (acked = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(gate.held).toHaveLength(1);
    expect(acked).toBe(false);
    await gate.release();
    await ack;
    expect(acked).toBe(true);
    await store.close();
  });

  it("reopens with every acknowledged write, direct Y.Doc edits included, under a fresh client id", async () => {
    const persistence = memoryStorage();
    const a = await open(persistence);
    await a.set("todo:1", { title: "milk" });
    a.ydoc.getText("notes").insert(0, "rich text");
    a.ydoc.getArray<number>("list").push([1, 2, 3]);
    await a.delete("todo:1");
    await a.set("todo:2", { title: "eggs" });
    const firstClient = a.status().clientId;
    await a.close();

    const b = await open(persistence);
    expect(b.entriesLocal()).toEqual([["todo:2", { title: "eggs" }]]);
    expect(b.ydoc.getText("notes").toString()).toBe("rich text");
    expect(b.ydoc.getArray("list").toJSON()).toEqual([1, 2, 3]);
    expect(b.status().clientId).not.toBe(firstClient);
    await b.close();
  });

  it("settles every write made before close, and rejects writes after it with Closed", async () => {
    const store = await open();
    const acks = Array.from({ length: 50 }, (_, i) => store.set(`k${i}`, i));
    const closed = store.close();
    expect(await codeOf(store.set("late", 1))).toBe("Closed");
    await closed;
    expect(await Promise.all(acks)).toHaveLength(50);
    expect(store.status().closed).toBe(true);
    await store.close(); // idempotent
  });

  it("reports a Y.Doc edit after close as Closed instead of dropping it silently", async () => {
    const errors: unknown[] = [];
    const store = await open(memoryStorage(), { onError: (e) => errors.push(e) });
    await store.close();
    store.ydoc.getText("t").insert(0, "late");
    expect(errors).toHaveLength(1);
    expect(isConcordError(errors[0], "Closed")).toBe(true);
  });

  it("compacts the log into a snapshot once it passes the threshold and reopens intact", async () => {
    const persistence = memoryStorage({ compactAfterBytes: 2_000 });
    const store = await open(persistence);
    for (let i = 0; i < 200; i++) await store.set(`k${i % 20}`, { i, pad: "x".repeat(20) });
    await store.set("last", true);
    await vi.waitFor(() => expect(store.status().storage.snapshotBytes).toBeGreaterThan(0));
    expect(store.status().storage.recordBytes).toBeLessThan(200 * 30);
    const expected = store.entriesLocal();
    await store.close();
    const again = await open(persistence);
    expect(again.entriesLocal()).toEqual(expected);
    await again.close();
  });

  it("refuses to open a document whose stored update is not Yjs, with Corrupt", async () => {
    const persistence = memoryStorage();
    const raw = await persistence.open(asDocId("todos"));
    await raw.append(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]));
    await raw.close();
    expect(await codeOf(open(persistence))).toBe("Corrupt");
  });
});

describe("eventual store: subscriptions", () => {
  it("tells local and remote changes apart, filters by prefix, and unsubscribes", async () => {
    const store = await open();
    const events: ChangeEvent[] = [];
    const off = store.subscribe({ prefix: "todo:" }, (e) => events.push(e));
    await store.set("todo:1", 1);
    await store.set("other", 2);
    const peer = new Y.Doc();
    peer.getMap("concord").set("todo:9", "from a peer");
    Y.applyUpdate(store.ydoc, Y.encodeStateAsUpdate(peer));
    await store.delete("todo:1");
    off();
    await store.set("todo:2", 2);
    expect(events).toEqual([
      { changes: [{ key: "todo:1", value: 1 }], origin: "local" },
      { changes: [{ key: "todo:9", value: "from a peer" }], origin: "remote" },
      { changes: [{ key: "todo:1", value: undefined }], origin: "local" },
    ]);
    await store.close();
  });

  it("persists remote updates too", async () => {
    const persistence = memoryStorage();
    const store = await open(persistence);
    const peer = new Y.Doc();
    peer.getMap("concord").set("remote", 1);
    Y.applyUpdate(store.ydoc, Y.encodeStateAsUpdate(peer));
    await store.close();
    const again = await open(persistence);
    expect(again.getLocal("remote")).toBe(1);
    await again.close();
  });

  it("reports a throwing listener to onError and still calls the others", async () => {
    const errors: unknown[] = [];
    const store = await open(memoryStorage(), { onError: (e) => errors.push(e) });
    const seen: string[] = [];
    store.subscribe({}, () => {
      throw new Error("listener bug");
    });
    store.subscribe({}, (e) => seen.push(e.changes[0]!.key));
    await store.set("k", 1);
    expect(seen).toEqual(["k"]);
    expect((errors[0] as Error).message).toBe("listener bug");
    await store.close();
  });
});

describe("openStore: bad options", () => {
  it("names the option that is wrong", async () => {
    const bad = (o: unknown) => codeOf(openStore(o as never));
    expect(await bad(undefined)).toBe("InvalidArgument");
    expect(await bad({ mode: "eventually", doc: "d", persistence: memoryStorage() })).toBe("InvalidArgument");
    expect(await bad({ mode: "eventual", doc: "", persistence: memoryStorage() })).toBe("InvalidArgument");
    expect(await bad({ mode: "eventual", doc: "x".repeat(256), persistence: memoryStorage() })).toBe("InvalidArgument");
    expect(await bad({ mode: "eventual", doc: "d" })).toBe("InvalidArgument");
    expect(await bad({ mode: "primary", doc: "d", persistence: memoryStorage() })).toBe("InvalidArgument");
    await expect(openStore({ mode: "eventual", doc: "d" } as never)).rejects.toThrow(/persistence must be a storage/);
  });

  it("status describes the store", async () => {
    const store = await openStore({ mode: "eventual", doc: "todos", persistence: memoryStorage(), replicaId: "laptop", rng: seededRng(7) });
    await store.set("k", 1);
    expect(store.status()).toMatchObject({
      mode: "eventual",
      doc: "todos",
      replicaId: "laptop",
      closed: false,
      pendingWrites: 0,
      oldestPendingMs: 0,
      peers: [],
      storage: { records: 1, pending: 0 },
    });
    expect(store.status().clientId).toBe(seededRng(7).uint32());
    await store.close();
  });
});
