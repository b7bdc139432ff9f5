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

/** The object store names (sorted) and version of `dbName`, through a connection of its own. */
async function storeNamesOf(dbName: string): Promise<{ names: string[]; version: number }> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(dbName);
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const db = req.result;
      resolve({ names: Array.from(db.objectStoreNames).sort(), version: db.version });
      db.close();
    };
  });
}

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

  it("creates another storeName in an existing database, and the first store keeps working", async () => {
    const dbName = freshDbName();
    const docs = await indexedDbStorage({ dbName }).open(asDocId("d"));
    await docs.append(new Uint8Array([1]));
    // Still open: its connection must step aside for the upgrade that creates "other" (versionchange).
    const other = await indexedDbStorage({ dbName, storeName: "other" }).open(asDocId("d"));
    await other.append(new Uint8Array([2]));
    await docs.append(new Uint8Array([3]));
    const third = await indexedDbStorage({ dbName, storeName: "third" }).open(asDocId("d"));
    await third.append(new Uint8Array([4]));
    await Promise.all([docs.close(), other.close(), third.close()]);

    expect(await storeNamesOf(dbName)).toEqual({ names: ["docs", "other", "third"], version: 3 });
    const load = async (storeName: string) => (await indexedDbStorage({ dbName, storeName }).open(asDocId("d"))).load();
    expect((await load("docs")).records).toEqual([new Uint8Array([1]), new Uint8Array([3])]);
    expect((await load("other")).records).toEqual([new Uint8Array([2])]);
    expect((await load("third")).records).toEqual([new Uint8Array([4])]);
  });

  it("creates several new stores opened at the same time in one database", async () => {
    const dbName = freshDbName();
    await (await indexedDbStorage({ dbName }).open(asDocId("d"))).close();
    const names = ["a", "b", "c", "d"];
    const storages = await Promise.all(names.map((storeName) => indexedDbStorage({ dbName, storeName }).open(asDocId("d"))));
    await Promise.all(storages.map((s, i) => s.append(new Uint8Array([i]))));
    for (const [i, s] of storages.entries()) expect((await s.load()).records).toEqual([new Uint8Array([i])]);
    expect((await storeNamesOf(dbName)).names).toEqual(["a", "b", "c", "d", "docs"]);
  });

  it("closes its connection when another one upgrades the database, and reconnects for the next call", async () => {
    const dbName = freshDbName();
    const s = await indexedDbStorage({ dbName }).open(asDocId("d"));
    await s.append(new Uint8Array([1]));
    const { version } = await storeNamesOf(dbName);
    // Without our close on versionchange, this upgrade would be blocked by our open connection.
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open(dbName, version + 1);
      req.onblocked = () => reject(new Error("the upgrade was blocked by the storage's connection"));
      req.onupgradeneeded = () => req.result.createObjectStore("someone-else");
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        req.result.close();
        resolve();
      };
    });
    await s.append(new Uint8Array([2]));
    expect((await s.load()).records).toEqual([new Uint8Array([1]), new Uint8Array([2])]);
    await s.close();
    const again = await indexedDbStorage({ dbName }).open(asDocId("d"));
    expect((await again.load()).records).toEqual([new Uint8Array([1]), new Uint8Array([2])]);
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
