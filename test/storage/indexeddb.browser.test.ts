/**
 * The storage contract suite against `indexedDbStorage()` inside real Chromium (vitest's browser
 * mode, Debian's chromium), beside the fake-indexeddb run in Node (indexeddb-storage.test.ts).
 */
import { describe, expect, it } from "vitest";
import { indexedDbStorage } from "../../src/storage/indexeddb-storage.js";
import { CONTRACT_LIMITS, describeStorageContract } from "./contract.js";

let dbCount = 0;

describeStorageContract("indexedDbStorage (Chromium)", async () => {
  const dbName = `concord-contract-${Date.now()}-${++dbCount}`;
  return {
    persistence: indexedDbStorage({ dbName, ...CONTRACT_LIMITS }),
    reopen: async () => indexedDbStorage({ dbName, ...CONTRACT_LIMITS }),
  };
});

describe("the browser under this suite", () => {
  it("is Chromium with its own IndexedDB (not a Node stand-in)", () => {
    expect(navigator.userAgent).toMatch(/Chrome\/\d+/);
    expect(typeof process === "undefined" || !("versions" in process && process.versions?.node)).toBe(true);
    expect(indexedDB.constructor.name).toBe("IDBFactory");
  });
});
