/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (LOW): `indexedDbStorage({ storeName })` only works for the FIRST object store ever
 * created in a database.
 *
 * Where: src/storage/indexeddb-storage.ts `durableStore` (lines 110-127) opens the database
 * without a version (`indexedDB.open(dbName)`), so `onupgradeneeded` runs only when the database is
 * created. Opening the same `dbName` with another `storeName` (a second Concord store in the app, the
 * documented option) never creates that object store, and every `open` rejects with `Io` ("No
 * objectStore named ..."), forever. The adapter must bump the version and create the missing store.
 */
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { asDocId } from "../../src/ids.js";
import { indexedDbStorage } from "../../src/storage/indexeddb-storage.js";

describe("indexedDbStorage storeName", () => {
  it("a second storeName in an existing database opens and stores", async () => {
    const dbName = `concord-review-${process.pid}`;
    const first = await indexedDbStorage({ dbName }).open(asDocId("d"));
    await first.append(new Uint8Array([1]));
    await first.close();

    const second = await indexedDbStorage({ dbName, storeName: "other" }).open(asDocId("d"));
    await second.append(new Uint8Array([2]));
    expect((await second.load()).records).toEqual([new Uint8Array([2])]);
    await second.close();
  });
});
