/**
 * Edges of the sync core's life (src/eventual/sync/sync-core.ts) the mutation run found unpinned:
 * a link counts as synced only once the peer's step 2 arrived, not on any update; a resync period
 * of 0 never resyncs; a listener unregistered hears nothing; and after `destroy` every call is a
 * no-op that queues nothing, local edits included.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { asPeerId } from "../../../src/ids.js";
import { decodeMessage, encodeMessage } from "../../../src/eventual/sync/protocol.js";
import { SyncCore } from "../../../src/eventual/sync/sync-core.js";

const A = asPeerId("A");

function updateOf(edit: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc();
  doc.clientID = 5;
  edit(doc);
  return Y.encodeStateAsUpdate(doc);
}

describe("the sync core's edges", () => {
  it("a link is synced once the peer's step 2 arrived, not on a plain update", () => {
    const core = new SyncCore(new Y.Doc());
    core.peerUp(A);
    core.receive(A, encodeMessage({ type: "sync-update", update: updateOf((d) => d.getMap("m").set("a", 1)) }));
    expect(core.link(A)?.synced).toBe(false);
    core.receive(A, encodeMessage({ type: "sync-step2", update: updateOf((d) => d.getMap("m").set("b", 2)) }));
    expect(core.link(A)?.synced).toBe(true);
  });

  it("resyncs every resyncEveryTicks ticks, and never with 0", () => {
    const types = (core: SyncCore): string[] => core.takeOutbox().map((m) => decodeMessage(m.bytes).type);
    const every3 = new SyncCore(new Y.Doc(), { resyncEveryTicks: 3 });
    every3.peerUp(A);
    every3.takeOutbox();
    const seen: string[][] = [];
    for (let i = 0; i < 6; i++) {
      every3.tick();
      seen.push(types(every3).filter((t) => t === "sync-step1"));
    }
    expect(seen.map((s) => s.length)).toEqual([0, 0, 1, 0, 0, 1]);
    const never = new SyncCore(new Y.Doc(), { resyncEveryTicks: 0 });
    never.peerUp(A);
    never.takeOutbox();
    for (let i = 0; i < 10; i++) never.tick();
    expect(types(never).filter((t) => t === "sync-step1")).toEqual([]);
  });

  it("an unregistered link listener hears nothing more", () => {
    const core = new SyncCore(new Y.Doc());
    const heard: string[] = [];
    const off = core.onLinkChange((peer) => heard.push(peer));
    const step2 = encodeMessage({ type: "sync-step2", update: updateOf((d) => d.getMap("m").set("a", 1)) });
    core.peerUp(A);
    core.receive(A, step2);
    expect(heard).toEqual(["A"]);
    off();
    core.peerDown(A);
    core.peerUp(A);
    core.receive(A, step2);
    expect(core.link(A)?.synced).toBe(true);
    expect(heard).toEqual(["A"]);
  });

  it("after destroy every call is a no-op that queues nothing, local edits included", () => {
    const doc = new Y.Doc();
    const core = new SyncCore(doc);
    core.peerUp(A);
    core.destroy();
    core.destroy();
    core.peerUp(A);
    expect(core.receive(A, encodeMessage({ type: "sync-update", update: updateOf((d) => d.getMap("m").set("a", 1)) }))).toBeUndefined();
    core.tick();
    core.setLocalAwareness({ name: "x" });
    doc.getMap("m").set("local", 1);
    expect([core.takeOutbox(), core.peers(), core.link(A)]).toEqual([[], [], undefined]);
    expect(doc.getMap("m").get("a")).toBeUndefined();
  });
});
