/**
 * Regression tests from a code review; the finding is fixed. File:line references below describe
 * the code as it was when the finding was written.
 *
 * Review finding (MEDIUM): a write whose promise REJECTED is still applied to the local Y.Doc, read
 * back by `get`, and replicated to peers.
 *
 * Where: src/eventual/eventual-store.ts `write()` (about line 262-273) runs the mutation in the
 * Y.Doc first and learns only afterwards, from `storage.append`, that it can't be stored (`TooLarge`
 * for a record over `maxRecordBytes`; `Io`, then `Closed` for every later write, after a disk
 * failure). Nothing undoes the mutation. Then the durability barrier `durable` (about line 312)
 * answers "everything is durable" as soon as no append is pending, including failed ones, so the
 * next sync step 2 / anti-entropy resync (src/eventual/sync/sync-core.ts `receive` "sync-step1" at line 174-175,
 * `Y.encodeStateAsUpdate(this.doc, ...)`) ships the rejected update to every peer.
 *
 * Contracts broken: `Store.set` "anything else rejects ... and writes nothing" and `transact` "all of
 * it or none" (a rejected write must not be visible); README/sync-driver.ts "Persist BEFORE send: a
 * peer never sees a write that a crash of its author could still undo" (the author never stored it;
 * a restart undoes it locally while peers keep it). An app that retries a rejected write applies it
 * twice (e.g. a Y.Array push).
 *
 * Also (LOW): a write that changed nothing (deleting an absent key) falls back to
 * `this.latestAppend` (about line 278) and so rejects with the error of an UNRELATED earlier write.
 */
import { describe, expect, it } from "vitest";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { isConcordError } from "../../src/errors.js";
import { asPeerId } from "../../src/ids.js";
import { MemoryNetwork } from "../../src/net/memory-network.js";
import { openStore } from "../../src/open-store.js";
import { seededRng } from "../../src/rng.js";
import { SimDisk } from "../../src/sim/sim-disk.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { fileStorage } from "../../src/storage/file-storage.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { Persistence } from "../../src/storage/storage.js";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected the write to reject");
}

async function meshOf(clock: VirtualClock, persistenceOfA: Persistence): Promise<{ a: EventualStore; b: EventualStore }> {
  const net = new MemoryNetwork();
  const open = (id: string, persistence: Persistence) =>
    openStore({
      mode: "eventual",
      doc: "d",
      persistence,
      clock,
      onError: () => undefined,
      sync: { transport: net.join(asPeerId(id)), tickMs: 10, resyncEveryTicks: 1 },
    });
  const a = await open("a", persistenceOfA);
  const b = await open("b", memoryStorage());
  await clock.runUntil(() => a.status().peers.length === 1 && b.status().peers.length === 1, { maxMs: 1000 });
  return { a, b };
}

describe("a rejected write writes nothing", () => {
  it("a set rejected with TooLarge is not visible locally", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage({ maxRecordBytes: 200 }) });
    const e = await rejection(store.set("big", "x".repeat(1000)));
    expect(isConcordError(e, "TooLarge")).toBe(true);
    expect(store.getLocal("big")).toBeUndefined();
    await store.close();
  });

  it("a set rejected with TooLarge never reaches a peer", async () => {
    const clock = new VirtualClock();
    const { a, b } = await meshOf(clock, memoryStorage({ maxRecordBytes: 200 }));
    const e = await rejection(a.set("big", "x".repeat(1000)));
    expect(isConcordError(e, "TooLarge")).toBe(true);
    await clock.advance(200); // many anti-entropy rounds
    expect(b.getLocal("big"), "the peer received a write its author rejected and never stored").toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it("a set that failed its fsync (Io) never reaches a peer", async () => {
    const clock = new VirtualClock();
    const disk = new SimDisk({ rng: seededRng(7) });
    const { a, b } = await meshOf(clock, fileStorage("/data", { fs: disk.mount(), fsync: "always" }));
    disk.failWhen((op) => op === "sync");
    const e = await rejection(a.set("lost", 1));
    expect(isConcordError(e, "Io")).toBe(true);
    await clock.advance(200);
    expect(b.getLocal("lost"), "persist-before-send: the peer has a write that is on no disk of its author").toBeUndefined();
    await Promise.all([a.close().catch(() => undefined), b.close()]);
  });

  it("a write that changes nothing does not reject with an unrelated earlier write's error", async () => {
    const store = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage({ maxRecordBytes: 200 }) });
    await rejection(store.set("big", "x".repeat(1000)));
    await expect(store.delete("absent")).resolves.toEqual({ level: "local" });
    await store.close();
  });
});
