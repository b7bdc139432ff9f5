/**
 * Updates Yjs parks (src/eventual/sync/sync-core.ts `onParked`): an update that depends on one not
 * received yet is held by Yjs in memory, outside the document's `update` event, so the store
 * persists it through `onParked` before it may acknowledge it. The core must report exactly the
 * updates that added parked content: none for one that integrates, one for one that parks, none
 * again once the missing update arrives and everything integrates.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import { encodeMessage } from "../../../src/eventual/sync/protocol.js";
import { SyncCore } from "../../../src/eventual/sync/sync-core.js";

const A = asPeerId("A");

/** Two successive updates of one writer: the second depends on the first. */
function twoUpdates(): [Uint8Array, Uint8Array] {
  const doc = new Y.Doc();
  doc.clientID = 7;
  const updates: Uint8Array[] = [];
  doc.on("update", (u: Uint8Array) => updates.push(u));
  doc.getText("t").insert(0, "ab");
  doc.getText("t").insert(2, "cd");
  return [updates[0]!, updates[1]!];
}

describe("parked updates", () => {
  it("are reported once, with their sender, and only when they add parked content", () => {
    const parked: Array<[number, PeerId]> = [];
    const [first, second] = twoUpdates();
    const core = new SyncCore(new Y.Doc(), { onParked: (u, peer) => parked.push([u.byteLength, peer]) });
    core.peerUp(A);
    expect(core.receive(A, encodeMessage({ type: "sync-update", update: second }))).toBeUndefined();
    expect(parked).toEqual([[second.byteLength, A]]);
    expect(core.doc.getText("t").toString()).toBe("");
    // Another writer's update integrates while that one stays parked: nothing new is parked.
    const other = new Y.Doc();
    other.clientID = 9;
    other.getMap("m").set("k", 1);
    core.receive(A, encodeMessage({ type: "sync-update", update: Y.encodeStateAsUpdate(other) }));
    expect(parked).toHaveLength(1);
    expect(core.receive(A, encodeMessage({ type: "sync-update", update: first }))).toBeUndefined();
    expect(parked).toHaveLength(1);
    expect(core.doc.getText("t").toString()).toBe("abcd");
    // A second copy of what is already integrated parks nothing.
    core.receive(A, encodeMessage({ type: "sync-update", update: second }));
    expect(parked).toHaveLength(1);
  });

  it("an update that integrates at once parks nothing", () => {
    const parked: Uint8Array[] = [];
    const [first] = twoUpdates();
    const core = new SyncCore(new Y.Doc(), { onParked: (u) => parked.push(u) });
    core.peerUp(A);
    core.receive(A, encodeMessage({ type: "sync-update", update: first }));
    expect([parked.length, core.doc.getText("t").toString()]).toEqual([0, "ab"]);
  });
});
