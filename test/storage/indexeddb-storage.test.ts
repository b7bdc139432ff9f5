import "fake-indexeddb/auto";
import { createStore, set } from "idb-keyval";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { asDocId } from "../../src/ids.js";
import { indexedDbStorage } from "../../src/storage/indexeddb-storage.js";
import { CONTRACT_LIMITS, describeStorageContract } from "./contract.js";

let dbCount = 0;
const freshDbName = (): string => `concord-test-${process.pid}-${++dbCount}`;

describeStorageContract("indexedDbStorage (fake-indexeddb)", async () => {
  const dbName = freshDbName();
  return {
    persistence: indexedDbStorage({ dbName, ...CONTRACT_LIMITS }),
    reopen: async () => indexedDbStorage({ dbName, ...CONTRACT_LIMITS }),
  };
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("indexedDbStorage", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("writes appends made in the same tick in one transaction", async () => {
    const persistence = indexedDbStorage({ dbName: freshDbName() });
    const s = await persistence.open(asDocId("d"));
    const spy = vi.spyOn(IDBDatabase.prototype, "transaction");
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.append(new Uint8Array([i]))));
    const readwrite = spy.mock.calls.filter(([, mode]) => mode === "readwrite");
    expect(readwrite).toHaveLength(1);
    await s.close();
  });

  it("asks for strict durability on every transaction, so an ack survives a power cut", async () => {
    const persistence = indexedDbStorage({ dbName: freshDbName() });
    const spy = vi.spyOn(IDBDatabase.prototype, "transaction");
    const s = await persistence.open(asDocId("d"));
    await s.append(new Uint8Array([1]));
    await s.compact(new Uint8Array([2]));
    const ours = spy.mock.calls.filter(([, mode]) => mode === "readonly" || mode === "readwrite"); // not the upgrade
    expect(ours.map(([, mode]) => mode)).toEqual(["readonly", "readwrite", "readwrite"]);
    for (const [, , options] of ours) expect(options).toEqual({ durability: "strict" });
    await s.close();
  });

  it("compacts in one transaction that also deletes the old log keys", async () => {
    const dbName = freshDbName();
    const s = await indexedDbStorage({ dbName }).open(asDocId("d"));
    await Promise.all([s.append(new Uint8Array([1])), s.append(new Uint8Array([2]))]);
    const spy = vi.spyOn(IDBDatabase.prototype, "transaction");
    await s.compact(new Uint8Array([9]));
    expect(spy.mock.calls.filter(([, mode]) => mode === "readwrite")).toHaveLength(1);
    await s.close();
    const keys = await new Promise<IDBValidKey[]>((resolve, reject) => {
      const req = indexedDB.open(dbName);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const r = req.result.transaction("docs").objectStore("docs").getAllKeys();
        r.onsuccess = () => {
          resolve(r.result);
          req.result.close();
        };
      };
    });
    expect(keys).toEqual([["d", "snap"]]);
  });

  it("rejects a stored value that is not bytes with Corrupt naming the key", async () => {
    const dbName = freshDbName();
    const s = await indexedDbStorage({ dbName }).open(asDocId("d"));
    await s.append(new Uint8Array([1]));
    await s.close();
    await set(["d", "log", 7], "not bytes", createStore(dbName, "docs"));
    const e = await rejection(indexedDbStorage({ dbName }).open(asDocId("d")));
    expect(isConcordError(e, "Corrupt")).toBe(true);
    expect((e as Error).message).toContain('["d","log",7]');
    expect((e as { details: unknown }).details).toEqual({ key: ["d", "log", 7] });
  });

  it("rejects a key of an unknown shape under a document with Corrupt", async () => {
    const dbName = freshDbName();
    await set(["d", "log", "x"], new Uint8Array([1]), createStore(dbName, "docs"));
    const e = await rejection(indexedDbStorage({ dbName }).open(asDocId("d")));
    expect(isConcordError(e, "Corrupt")).toBe(true);
    expect((e as Error).message).toContain('["d","log","x"]');
  });

  it("accepts ArrayBuffer values (written by other code) as bytes", async () => {
    const dbName = freshDbName();
    await set(["d", "snap"], new Uint8Array([5, 6]).buffer, createStore(dbName, "docs"));
    const s = await indexedDbStorage({ dbName }).open(asDocId("d"));
    expect(await s.load()).toEqual({ snapshot: new Uint8Array([5, 6]), records: [] });
  });

  it("rejects pending appends with Io and closes when a transaction fails", async () => {
    const s = await indexedDbStorage({ dbName: freshDbName() }).open(asDocId("d"));
    await s.append(new Uint8Array([1]));
    vi.spyOn(IDBObjectStore.prototype, "put").mockImplementation(function (this: IDBObjectStore) {
      this.transaction.abort();
      throw new DOMException("quota exceeded", "QuotaExceededError");
    });
    const results = await Promise.allSettled([s.append(new Uint8Array([2])), s.append(new Uint8Array([3]))]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect(isConcordError((r as PromiseRejectedResult).reason, "Io")).toBe(true);
    }
    const later = await rejection(s.append(new Uint8Array([4])));
    expect(isConcordError(later, "Closed")).toBe(true);
    expect((later as Error).message).toContain("quota exceeded");
  });
});
