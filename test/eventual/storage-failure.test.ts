/**
 * What an eventual store does when its disk fails: writes waiting on the failed fsync reject with
 * `Io`, later writes reject with `Closed` naming the failure, reads keep answering, updates nobody
 * awaits (remote, direct Y.Doc edits) are reported to onError, and nothing unacknowledged is
 * claimed durable.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { ConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { fileStorage } from "../../src/storage/file-storage.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConcordError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "resolved";
}

describe("eventual store on a failing disk", () => {
  it("rejects writes waiting on a failed fsync with Io, later ones with Closed, and keeps reading", async () => {
    const disk = new SimDisk({ rng: seededRng(1) });
    const errors: unknown[] = [];
    const store = await openStore({
      mode: "eventual",
      doc: "d",
      persistence: fileStorage("/data", { fs: disk.mount(), fsync: "always" }),
      onError: (e) => errors.push(e),
    });
    await store.set("durable", 1);
    disk.failWhen((op) => op === "sync");
    const failed = store.set("lost", 2);
    expect(await codeOf(failed)).toMatch(/^Io: .*EIO/);
    disk.failWhen(undefined);
    expect(await codeOf(store.set("after", 3))).toMatch(/^Closed: document "d" stopped after its storage failed .*EIO.*reopen it/);
    expect(store.status().failure).toMatch(/EIO/);
    expect(store.getLocal("durable")).toBe(1);
    expect(store.status().pendingWrites).toBe(0);
    // A remote update can't be persisted either: the failure goes to onError, not into the void.
    const peer = new Y.Doc();
    peer.getMap("concord").set("remote", 4);
    Y.applyUpdate(store.ydoc, Y.encodeStateAsUpdate(peer));
    await store.close().catch(() => undefined);
    expect(errors.map((e) => (e as ConcordError).code)).toContain("Closed");

    disk.crash();
    const reopened = await openStore({ mode: "eventual", doc: "d", persistence: fileStorage("/data", { fs: disk.mount() }) });
    expect(reopened.getLocal("durable")).toBe(1);
    expect(reopened.getLocal("after")).toBeUndefined();
    await reopened.close();
  });
});
